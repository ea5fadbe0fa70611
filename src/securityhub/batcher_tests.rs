//! Batcher behaviour against a scripted in-memory API.

use std::sync::Mutex as StdMutex;

use async_trait::async_trait;

use super::*;
use crate::plan::ObservedMember;
use crate::securityhub::api::MemberRecord;

/// Records each call's account list; CreateMembers answers like AWS past 50 entries.
#[derive(Default)]
struct Fake {
    calls: StdMutex<Vec<(ActionKind, Vec<String>)>>,
    fail_with: Option<AwsError>,
    refuse: Vec<(String, String)>,
    /// Accounts answered "Maximum number of results exceeded" on their first call only.
    overflow_once: StdMutex<Vec<String>>,
    /// How many calls from now on are answered LimitExceededException.
    throttle: StdMutex<usize>,
    /// When set, ListMembers pages (50 each) of these members.
    listing: Option<Vec<MemberRecord>>,
    list_calls: StdMutex<usize>,
}

impl Fake {
    fn record(&self, kind: ActionKind, ids: &[String]) -> Result<(), AwsError> {
        self.calls.lock().expect("lock").push((kind, ids.to_vec()));
        let mut throttle = self.throttle.lock().expect("lock");
        if *throttle > 0 {
            *throttle -= 1;
            return Err(AwsError::new(
                ErrorClass::Throttled,
                "LimitExceededException",
                "Rate exceeded",
            ));
        }
        self.fail_with.clone().map_or(Ok(()), Err)
    }
    fn refused(&self, ids: &[String]) -> Vec<Unprocessed> {
        let mut out: Vec<Unprocessed> = ids
            .iter()
            .filter_map(|id| self.refuse.iter().find(|(a, _)| a == id))
            .map(|(a, r)| Unprocessed {
                account_id: Some(a.clone()),
                processing_result: Some(r.clone()),
            })
            .collect();
        let mut once = self.overflow_once.lock().expect("lock");
        let overflowed: Vec<String> = ids.iter().filter(|id| once.contains(id)).cloned().collect();
        once.retain(|id| !overflowed.contains(id));
        out.extend(overflowed.into_iter().map(|id| Unprocessed {
            account_id: Some(id),
            processing_result: Some("Maximum number of results exceeded".into()),
        }));
        out
    }
    fn calls(&self, kind: ActionKind) -> Vec<Vec<String>> {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, ids)| ids.clone())
            .collect()
    }
}

#[async_trait]
impl MembershipApi for Fake {
    async fn get_members(&self, _region: &str, ids: &[String]) -> Result<ReadResult, AwsError> {
        self.record(ActionKind::Get, ids)?;
        let members = ids
            .iter()
            .filter(|id| id.ends_with('1'))
            .map(|id| MemberRecord {
                account_id: id.clone(),
                email: None,
                member: ObservedMember {
                    status: "Enabled".into(),
                    ..ObservedMember::default()
                },
            })
            .collect();
        Ok(ReadResult {
            members,
            unprocessed: Vec::new(),
        })
    }
    async fn create_members(
        &self,
        _region: &str,
        accounts: &[(String, Option<String>)],
    ) -> Result<Vec<Unprocessed>, AwsError> {
        let ids: Vec<String> = accounts.iter().map(|(a, _)| a.clone()).collect();
        self.record(ActionKind::Create, &ids)?;
        Ok(self.refused(&ids))
    }
    async fn invite_members(&self, _region: &str, ids: &[String]) -> Result<Vec<Unprocessed>, AwsError> {
        self.record(ActionKind::Invite, ids)?;
        Ok(self.refused(ids))
    }
    async fn disassociate_members(&self, _region: &str, ids: &[String]) -> Result<Vec<Unprocessed>, AwsError> {
        self.record(ActionKind::Disassociate, ids)?;
        Ok(Vec::new())
    }
    async fn delete_members(&self, _region: &str, ids: &[String]) -> Result<Vec<Unprocessed>, AwsError> {
        self.record(ActionKind::Delete, ids)?;
        Ok(Vec::new())
    }
    async fn list_members(&self, _region: &str, _all: bool) -> Result<Vec<MemberRecord>, AwsError> {
        Ok(Vec::new())
    }
    fn can_list_member_pages(&self) -> bool {
        self.listing.is_some()
    }
    async fn list_members_page(
        &self,
        _region: &str,
        token: Option<String>,
    ) -> Result<(Vec<MemberRecord>, Option<String>), AwsError> {
        *self.list_calls.lock().expect("lock") += 1;
        let all = self.listing.clone().unwrap_or_default();
        let start: usize = token.map_or(0, |t| t.parse().unwrap_or(0));
        let end = (start + 50).min(all.len());
        let next = (end < all.len()).then(|| end.to_string());
        Ok((all[start..end].to_vec(), next))
    }
}

fn enabled(id: String) -> MemberRecord {
    MemberRecord {
        account_id: id,
        email: None,
        member: ObservedMember {
            status: "Enabled".into(),
            ..ObservedMember::default()
        },
    }
}

struct Quiet;
impl CallObserver for Quiet {
    fn record(&self, _: &'static str, _: &str, _: usize, _: Duration) {}
}

fn batcher(fake: Arc<Fake>, max_batch: usize) -> Arc<Batcher> {
    let config = BatchConfig {
        max_batch,
        window: Duration::from_millis(50),
    };
    Arc::new(Batcher::new(
        fake,
        Arc::new(RateLimiter::new(0.0, 1)),
        Arc::new(Quiet),
        config,
    ))
}

fn account(i: usize) -> String {
    format!("{:012}", 100_000_000_000usize + i)
}

async fn submit_all(b: &Arc<Batcher>, kind: ActionKind, n: usize) -> Vec<Outcome> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let b = b.clone();
            tokio::spawn(async move { b.submit("us-east-1", kind, &account(i), None).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn concurrent_requests_share_calls_of_at_most_fifty() {
    let fake = Arc::new(Fake::default());
    let outcomes = submit_all(&batcher(fake.clone(), 50), ActionKind::Invite, 120).await;
    assert!(outcomes.iter().all(|o| *o == Outcome::Done));
    let calls = fake.calls(ActionKind::Invite);
    assert_eq!(
        calls.len(),
        3,
        "120 accounts in ceil(120/50) calls: {:?}",
        calls.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert!(calls.iter().all(|c| c.len() <= 50));
}

#[tokio::test]
async fn batch_size_one_is_the_per_member_pattern() {
    let fake = Arc::new(Fake::default());
    submit_all(&batcher(fake.clone(), 1), ActionKind::Invite, 20).await;
    assert_eq!(fake.calls(ActionKind::Invite).len(), 20);
}

#[tokio::test]
async fn reads_map_each_account_to_its_member_or_absent() {
    let fake = Arc::new(Fake::default());
    let b = batcher(fake.clone(), 50);
    let (a, c) = tokio::join!(
        b.submit("us-east-1", ActionKind::Get, "100000000001", None),
        b.submit("us-east-1", ActionKind::Get, "100000000002", None)
    );
    assert!(matches!(a, Outcome::Read(Observed::Member(ref m)) if m.status == "Enabled"));
    assert_eq!(c, Outcome::Read(Observed::Absent));
    assert_eq!(fake.calls(ActionKind::Get).len(), 1);
}

#[tokio::test]
async fn unprocessed_entries_go_back_to_their_own_caller() {
    let text = "The request is rejected because the given account ID is already a member of another master.";
    let fake = Arc::new(Fake {
        refuse: vec![(account(3), text.into())],
        ..Fake::default()
    });
    let outcomes = submit_all(&batcher(fake, 50), ActionKind::Create, 5).await;
    for (i, o) in outcomes.iter().enumerate() {
        if i == 3 {
            assert_eq!(
                *o,
                Outcome::Failed(Failure::Unprocessed {
                    kind: ActionKind::Create,
                    result: text.into(),
                    refusal: crate::plan::Refusal::AlreadyMember,
                })
            );
        } else {
            assert_eq!(*o, Outcome::Done, "account {i}");
        }
    }
}

#[tokio::test]
async fn a_failed_call_fails_every_caller_in_it() {
    let err = AwsError::new(ErrorClass::AccessDenied, "AccessDeniedException", "no");
    let fake = Arc::new(Fake {
        fail_with: Some(err),
        ..Fake::default()
    });
    let outcomes = submit_all(&batcher(fake, 50), ActionKind::Delete, 3).await;
    for o in outcomes {
        assert!(matches!(
            o,
            Outcome::Failed(Failure::Aws {
                class: ErrorClass::AccessDenied,
                ..
            })
        ));
    }
}

#[tokio::test]
async fn overflow_entries_are_retried_in_a_later_batch() {
    let fake = Arc::new(Fake {
        overflow_once: StdMutex::new(vec![account(1), account(4)]),
        ..Fake::default()
    });
    let outcomes = submit_all(&batcher(fake.clone(), 50), ActionKind::Create, 5).await;
    assert!(outcomes.iter().all(|o| *o == Outcome::Done), "{outcomes:?}");
    let calls = fake.calls(ActionKind::Create);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        calls[1],
        vec![account(1), account(4)],
        "only the overflowed accounts go again"
    );
}

#[tokio::test]
async fn batch_size_is_clamped_to_what_aws_takes() {
    let fake = Arc::new(Fake::default());
    submit_all(&batcher(fake.clone(), 500), ActionKind::Create, 60).await;
    let calls = fake.calls(ActionKind::Create);
    assert!(
        calls.iter().all(|c| c.len() <= 50),
        "{:?}",
        calls.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert_eq!(calls.iter().map(Vec::len).sum::<usize>(), 60);
}

#[tokio::test(start_paused = true)]
async fn requests_waiting_for_a_token_join_the_batch_instead_of_making_more_calls() {
    let fake = Arc::new(Fake::default());
    let config = BatchConfig {
        max_batch: 50,
        window: Duration::from_millis(50),
    };
    // One token, then one per second: the first call goes at once, the next waits ~1 s.
    let b = Arc::new(Batcher::new(
        fake.clone(),
        Arc::new(RateLimiter::new(1.0, 1)),
        Arc::new(Quiet),
        config,
    ));
    // 100 requests trickling in, one every 10 ms, much slower than the 50 ms window fills.
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let b = b.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(10 * i as u64)).await;
                b.submit("us-east-1", ActionKind::Invite, &account(i), None).await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task"), Outcome::Done);
    }
    let sizes: Vec<usize> = fake.calls(ActionKind::Invite).iter().map(Vec::len).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 100);
    // Without waiting for the token inside the batch this is ~20 calls of ~5 accounts.
    assert!(sizes.len() <= 4, "{sizes:?}");
}

#[tokio::test(start_paused = true)]
async fn a_steady_trickle_fills_batches_and_a_lone_request_waits_one_window() {
    let fake = Arc::new(Fake::default());
    let b = batcher(fake.clone(), 50);
    // One request every 20 ms (2.5 per 50 ms window) for 100 requests.
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let b = b.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20 * i as u64)).await;
                b.submit("us-east-1", ActionKind::Create, &account(i), None).await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task"), Outcome::Done);
    }
    let sizes: Vec<usize> = fake.calls(ActionKind::Create).iter().map(Vec::len).collect();
    // A fixed 50 ms window would make ~40 calls of 2-3; held open up to 250 ms: ~8 of 12-13.
    assert!(sizes.len() <= 9, "{sizes:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = tokio::time::Instant::now();
    b.submit("us-east-1", ActionKind::Invite, &account(500), None).await;
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(50),
        "a lone request waits one window"
    );
}

#[tokio::test]
async fn a_wave_of_reads_in_a_small_region_is_answered_by_one_sweep() {
    let fake = Arc::new(Fake {
        listing: Some(vec![enabled(account(1))]),
        ..Fake::default()
    });
    let outcomes = submit_all(&batcher(fake.clone(), 50), ActionKind::Get, 120).await;
    assert_eq!(*fake.list_calls.lock().expect("lock"), 1);
    assert!(
        fake.calls(ActionKind::Get).is_empty(),
        "no GetMembers: {:?}",
        fake.calls(ActionKind::Get)
    );
    assert!(matches!(&outcomes[1], Outcome::Read(Observed::Member(m)) if m.status == "Enabled"));
    assert!(
        outcomes
            .iter()
            .enumerate()
            .all(|(i, o)| i == 1 || *o == Outcome::Read(Observed::Absent))
    );
}

#[tokio::test]
async fn a_region_longer_than_the_sweep_budget_is_read_by_get_members() {
    let fake = Arc::new(Fake {
        listing: Some(
            (1000..1200)
                .map(account)
                .collect::<Vec<_>>()
                .into_iter()
                .map(enabled)
                .collect(),
        ),
        ..Fake::default()
    });
    let outcomes = submit_all(&batcher(fake.clone(), 50), ActionKind::Get, 120).await;
    assert_eq!(
        *fake.list_calls.lock().expect("lock"),
        1,
        "a probe of one page, then no more sweeps"
    );
    let gets = fake.calls(ActionKind::Get);
    assert_eq!(gets.iter().map(Vec::len).sum::<usize>(), 120, "{gets:?}");
    assert!(gets.len() <= 4, "{:?}", gets.iter().map(Vec::len).collect::<Vec<_>>());
    // The fake's GetMembers lists accounts ending in 1.
    assert!(matches!(&outcomes[1], Outcome::Read(Observed::Member(_))));
    assert_eq!(outcomes[2], Outcome::Read(Observed::Absent));
}

#[tokio::test]
async fn the_per_member_baseline_never_sweeps() {
    let fake = Arc::new(Fake {
        listing: Some(Vec::new()),
        ..Fake::default()
    });
    submit_all(&batcher(fake.clone(), 1), ActionKind::Get, 20).await;
    assert_eq!(*fake.list_calls.lock().expect("lock"), 0);
    assert_eq!(fake.calls(ActionKind::Get).len(), 20);
}

/// Ten creates: five now, five after `late` (each withdrawing a promise, when `promised`).
async fn creates_in_two_groups(promised: bool, late: Duration) -> Vec<usize> {
    let fake = Arc::new(Fake::default());
    let b = batcher(fake.clone(), 50);
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let b = b.clone();
            let promise = promised.then(|| b.promise("us-east-1", ActionKind::Create));
            tokio::spawn(async move {
                if i >= 5 {
                    tokio::time::sleep(late).await;
                }
                let reply = b.submit("us-east-1", ActionKind::Create, &account(i), None);
                drop(promise);
                reply.await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task"), Outcome::Done);
    }
    fake.calls(ActionKind::Create).iter().map(Vec::len).collect()
}

#[tokio::test(start_paused = true)]
async fn promised_requests_hold_a_batch_open_past_its_usual_close() {
    // 400 ms is past the usual close (5 windows of 50 ms) and within 15 windows.
    let late = Duration::from_millis(400);
    assert_eq!(creates_in_two_groups(false, late).await, vec![5, 5]);
    assert_eq!(creates_in_two_groups(true, late).await, vec![10]);
}

#[tokio::test(start_paused = true)]
async fn a_batch_waits_for_promises_at_most_fifteen_windows() {
    assert_eq!(
        creates_in_two_groups(true, Duration::from_millis(900)).await,
        vec![5, 5]
    );
}

#[tokio::test(start_paused = true)]
async fn a_withdrawn_promise_does_not_hold_the_batch() {
    let fake = Arc::new(Fake::default());
    let b = batcher(fake.clone(), 50);
    drop(b.promise("us-east-1", ActionKind::Create));
    let _kept = b.promise("us-east-1", ActionKind::Invite);
    let started = tokio::time::Instant::now();
    b.submit("us-east-1", ActionKind::Create, &account(1), None).await;
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(50),
        "one window, as without promises"
    );
}

#[tokio::test]
async fn after_a_sweep_unlisted_accounts_read_absent_without_a_call_until_created() {
    let fake = Arc::new(Fake {
        listing: Some(vec![enabled(account(1))]),
        ..Fake::default()
    });
    let b = batcher(fake.clone(), 50);
    submit_all(&b, ActionKind::Get, 120).await;
    assert_eq!(*fake.list_calls.lock().expect("lock"), 1);
    // A later read of an unclaimed account the sweep did not list: no call at all.
    assert_eq!(
        b.read_unclaimed("us-east-1", &account(500)).await,
        Outcome::Read(Observed::Absent)
    );
    assert!(fake.calls(ActionKind::Get).is_empty());
    // A listed account, or one created since, is read from AWS.
    b.read_unclaimed("us-east-1", &account(1)).await;
    b.submit("us-east-1", ActionKind::Create, &account(500), None).await;
    b.read_unclaimed("us-east-1", &account(500)).await;
    assert_eq!(fake.calls(ActionKind::Get), vec![vec![account(1)], vec![account(500)]]);
    // A read that must be fresh (a member some resource owns) always reaches AWS.
    b.submit("us-east-1", ActionKind::Get, &account(501), None).await;
    assert_eq!(fake.calls(ActionKind::Get).len(), 3, "never inferred absent");
    assert_eq!(*fake.list_calls.lock().expect("lock"), 1);
}

#[tokio::test]
async fn a_create_refused_as_already_a_member_makes_the_account_known() {
    let fake = Arc::new(Fake {
        listing: Some(Vec::new()),
        refuse: vec![(
            account(7),
            "The request is rejected because the given account ID is already a member or associated member of the current account.".into(),
        )],
        ..Fake::default()
    });
    let b = batcher(fake.clone(), 50);
    submit_all(&b, ActionKind::Get, 120).await;
    assert_eq!(
        b.read_unclaimed("us-east-1", &account(7)).await,
        Outcome::Read(Observed::Absent),
        "not listed by the sweep"
    );
    b.submit("us-east-1", ActionKind::Create, &account(7), None).await;
    b.read_unclaimed("us-east-1", &account(7)).await;
    assert_eq!(fake.calls(ActionKind::Get), vec![vec![account(7)]], "read from AWS now");
}

#[tokio::test(start_paused = true)]
async fn a_throttled_batch_is_sent_again_after_a_second_instead_of_failing() {
    let fake = Arc::new(Fake {
        throttle: StdMutex::new(2),
        ..Fake::default()
    });
    let b = Arc::new(Batcher::new(
        fake.clone(),
        Arc::new(RateLimiter::new(10.0, 30)),
        Arc::new(Quiet),
        BatchConfig {
            max_batch: 50,
            window: Duration::from_millis(50),
        },
    ));
    let started = tokio::time::Instant::now();
    let outcomes = submit_all(&b, ActionKind::Invite, 3).await;
    assert!(outcomes.iter().all(|o| *o == Outcome::Done), "{outcomes:?}");
    assert_eq!(
        fake.calls(ActionKind::Invite).len(),
        3,
        "two throttled calls, then success"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "a second owed per throttle"
    );
}

#[tokio::test(start_paused = true)]
async fn a_throttle_that_persists_reaches_the_caller() {
    let fake = Arc::new(Fake {
        throttle: StdMutex::new(usize::MAX),
        ..Fake::default()
    });
    let outcomes = submit_all(&batcher(fake.clone(), 50), ActionKind::Invite, 2).await;
    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            Outcome::Failed(Failure::Aws {
                class: ErrorClass::Throttled,
                ..
            })
        )),
        "{outcomes:?}"
    );
    assert_eq!(fake.calls(ActionKind::Invite).len(), 1 + MAX_REQUEUES as usize);
}
