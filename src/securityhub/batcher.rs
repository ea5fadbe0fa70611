//! Coalesces the calls of many concurrent reconciles into few AWS requests: requests for
//! the same (region, operation) wait at most `window` and go out in batches of at most
//! `max_batch` accounts; every caller gets its own account's outcome back.
//!
//! A reconcile that must write to Kubernetes before its call (a claim before a create)
//! promises the call first: while promised calls are on their way a batch stays open
//! longer, so calls paced by API-server writes still leave in full batches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::api::{MemberRecord, MembershipApi, ReadResult, Unprocessed};
use super::error::AwsError;
use super::observe::{CallObserver, observe};
use super::ratelimit::RateLimiter;
use super::sweep::{Roster, list_region};
use super::window;
use super::words;
use crate::plan::{ActionKind, ErrorClass, Failure, Observed, Outcome, Refusal};

/// How often an overflowed account is put back into a later batch before giving up.
const MAX_REQUEUES: u8 = 5;

/// Batching settings.
#[derive(Clone, Copy, Debug)]
pub struct BatchConfig {
    /// Accounts per call, 1..=50; 1 reproduces the one-call-per-member pattern.
    pub max_batch: usize,
    /// How long a batch waits for the next request before it closes (at most
    /// five windows in all, fifteen while promised requests are on their way).
    pub window: Duration,
}

struct Request {
    account_id: String,
    email: Option<String>,
    requeues: u8,
    reply: oneshot::Sender<Outcome>,
}

type Key = (String, ActionKind);

/// One (region, operation) queue: its worker's inbox and the calls promised to it.
#[derive(Clone)]
struct Queue {
    sender: mpsc::UnboundedSender<Request>,
    promised: Arc<AtomicUsize>,
}

/// A call announced before it is submitted; dropping it (after the submit, or when the
/// call is not made after all) withdraws the announcement.
#[must_use = "a promise is withdrawn when dropped"]
pub struct Promise {
    promised: Arc<AtomicUsize>,
}

impl Drop for Promise {
    fn drop(&mut self) {
        self.promised.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The batcher; cheap to share behind an `Arc`.
pub struct Batcher {
    inner: Arc<Inner>,
    queues: Mutex<HashMap<Key, Queue>>,
}

struct Inner {
    api: Arc<dyn MembershipApi>,
    limiter: Arc<RateLimiter>,
    observer: Arc<dyn CallObserver>,
    config: BatchConfig,
    roster: Mutex<Roster>,
}

impl Batcher {
    pub fn new(
        api: Arc<dyn MembershipApi>,
        limiter: Arc<RateLimiter>,
        observer: Arc<dyn CallObserver>,
        config: BatchConfig,
    ) -> Self {
        let config = BatchConfig {
            max_batch: config.max_batch.clamp(1, 50),
            ..config
        };
        Self {
            inner: Arc::new(Inner {
                api,
                limiter,
                observer,
                config,
                roster: Mutex::new(Roster::default()),
            }),
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `kind` for one account in `region` as part of a batch and returns its outcome.
    /// Every call reaches AWS (or a sweep that started after it was queued).
    ///
    /// The request is queued when this is called, not when the future is first polled,
    /// so a caller may withdraw its [`Promise`] right after.
    pub fn submit(
        &self,
        region: &str,
        kind: ActionKind,
        account_id: &str,
        email: Option<String>,
    ) -> impl Future<Output = Outcome> + Send + use<> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            account_id: account_id.to_string(),
            email,
            requeues: 0,
            reply,
        };
        let sent = self.queue(region, kind).sender.send(request).is_ok();
        Self::answer(kind, sent, answer)
    }

    /// Reads a member that no resource has claimed yet (the read before a first create):
    /// answered "absent" without a call when a recent sweep did not list it. Stale only if
    /// someone else added the member since; then AWS refuses the create as "already a
    /// member" and the claim is withdrawn. A read that decides a clean-up or a re-create
    /// must use [`Batcher::submit`].
    pub fn read_unclaimed(&self, region: &str, account_id: &str) -> impl Future<Output = Outcome> + Send + use<> {
        let (reply, answer) = oneshot::channel();
        let sent = if self.known_absent(region, account_id) {
            reply.send(Outcome::Read(Observed::Absent)).is_ok()
        } else {
            let request = Request {
                account_id: account_id.to_string(),
                email: None,
                requeues: 0,
                reply,
            };
            self.queue(region, ActionKind::Get).sender.send(request).is_ok()
        };
        Self::answer(ActionKind::Get, sent, answer)
    }

    /// The reply to one queued request.
    async fn answer(kind: ActionKind, sent: bool, answer: oneshot::Receiver<Outcome>) -> Outcome {
        if !sent {
            return Outcome::Failed(internal(kind, "the batcher stopped"));
        }
        answer
            .await
            .unwrap_or_else(|_| Outcome::Failed(internal(kind, "the batch was dropped")))
    }

    /// Whether a recent sweep shows `account_id` absent (answered without a call).
    fn known_absent(&self, region: &str, account_id: &str) -> bool {
        crate::sync::lock(&self.inner.roster).known_absent(region, account_id)
    }

    /// Announces a `kind` call in `region` that will be submitted soon (after a
    /// Kubernetes write): batches of that kind wait longer for it.
    pub fn promise(&self, region: &str, kind: ActionKind) -> Promise {
        let promised = self.queue(region, kind).promised;
        promised.fetch_add(1, Ordering::SeqCst);
        Promise { promised }
    }

    /// The queue for (region, kind), starting its worker on first use.
    fn queue(&self, region: &str, kind: ActionKind) -> Queue {
        let mut queues = crate::sync::lock(&self.queues);
        queues
            .entry((region.to_string(), kind))
            .or_insert_with(|| {
                let (sender, rx) = mpsc::unbounded_channel();
                let queue = Queue {
                    sender,
                    promised: Arc::new(AtomicUsize::new(0)),
                };
                tokio::spawn(worker(self.inner.clone(), region.to_string(), kind, rx, queue.clone()));
                queue
            })
            .clone()
    }
}

fn internal(kind: ActionKind, message: &str) -> Failure {
    Failure::Aws {
        kind,
        class: ErrorClass::Transient,
        code: "Internal".into(),
        message: message.into(),
    }
}

/// Collects one batch after another (until full, or no request came for a window, and the
/// rate limiter gives a token) and sends each off without waiting for the last.
async fn worker(
    inner: Arc<Inner>,
    region: String,
    kind: ActionKind,
    mut rx: mpsc::UnboundedReceiver<Request>,
    queue: Queue,
) {
    let Queue { sender: tx, promised } = queue;
    let max = inner.config.max_batch;
    let window = inner.config.window;
    while let Some(first) = rx.recv().await {
        // Reads in a region one ListMembers page long are not limited to 50 a batch: a
        // sweep answers any number of them with that one page.
        let limit = if kind == ActionKind::Get && one_page_sweep(&inner, &region) {
            usize::MAX
        } else {
            max
        };
        let token = inner.limiter.acquire(&region);
        let mut batch = window::collect(first, &mut rx, limit, window, &promised, token).await;
        if kind == ActionKind::Get
            && let Some(pages) = sweep_budget(&inner, &region, batch.len() + rx.len())
        {
            // Every read queued now is answered by one sweep.
            while let Ok(r) = rx.try_recv() {
                batch.push(r);
            }
            let (inner, region, tx) = (inner.clone(), region.clone(), tx.clone());
            tokio::spawn(async move { sweep(&inner, &region, batch, pages, &tx).await });
            continue;
        }
        // No sweep after all: GetMembers takes 50; the rest waits for the next batch.
        for extra in batch.split_off(batch.len().min(max)) {
            requeue_or_fail(&tx, extra, internal(kind, STOPPED));
        }
        let inner = inner.clone();
        let region = region.clone();
        let tx = tx.clone();
        tokio::spawn(async move { execute(&inner, &region, kind, batch, &tx).await });
    }
}

/// Why a request put back into its queue fails when the queue's worker is gone.
const STOPPED: &str = "the batcher stopped";

/// Puts `request` back into its queue; if the worker is gone, answers it with `failure`.
fn requeue_or_fail(queue: &mpsc::UnboundedSender<Request>, request: Request, failure: Failure) {
    if let Err(mpsc::error::SendError(r)) = queue.send(request) {
        let _ = r.reply.send(Outcome::Failed(failure));
    }
}

/// Whether a sweep of `region` is expected to take one page.
fn one_page_sweep(inner: &Inner, region: &str) -> bool {
    sweep_budget(inner, region, PAGE_READS) == Some(1)
}

/// Reads that make a one-page sweep worth it (two GetMembers calls' worth).
const PAGE_READS: usize = 2 * super::sweep::PAGE;

fn sweep_budget(inner: &Inner, region: &str, reads: usize) -> Option<usize> {
    if !inner.api.can_list_member_pages() {
        return None;
    }
    crate::sync::lock(&inner.roster).sweep_budget(region, reads, inner.config.max_batch)
}

/// Answers `batch` (reads) from ListMembers of at most `pages` pages; when the list is
/// longer, or a page fails, the reads go back to the queue as GetMembers.
async fn sweep(
    inner: &Inner,
    region: &str,
    batch: Vec<Request>,
    pages: usize,
    requeue: &mpsc::UnboundedSender<Request>,
) {
    let listed = list_region(
        &*inner.api,
        &inner.limiter,
        &*inner.observer,
        &inner.roster,
        region,
        pages,
    )
    .await;
    let Some(listed) = listed else {
        for request in batch {
            requeue_or_fail(requeue, request, internal(ActionKind::Get, STOPPED));
        }
        return;
    };
    tracing::debug!(
        region,
        reads = batch.len(),
        members = listed.len(),
        "reads answered by a ListMembers sweep"
    );
    let by_account: HashMap<&str, &MemberRecord> = listed.iter().map(|m| (m.account_id.as_str(), m)).collect();
    for request in batch {
        let observed = match by_account.get(request.account_id.as_str()) {
            Some(m) => Observed::Member(m.member.clone()),
            None => Observed::Absent,
        };
        let _ = request.reply.send(Outcome::Read(observed));
    }
}

/// One AWS call for a batch, then each caller's outcome.
async fn execute(
    inner: &Inner,
    region: &str,
    kind: ActionKind,
    batch: Vec<Request>,
    requeue: &mpsc::UnboundedSender<Request>,
) {
    let ids: Vec<String> = batch.iter().map(|r| r.account_id.clone()).collect();
    // The worker already took this call's token.
    let result = observe(
        &*inner.observer,
        kind.operation(),
        ids.len(),
        call(inner, region, kind, &batch, &ids),
    )
    .await;
    match result {
        Err(e) if kind == ActionKind::Get && ids.len() > 1 && words::is_missing_member_error(&e.code) => {
            // Real AWS fails a whole GetMembers when one account was deleted: ask one by one.
            for request in batch {
                let single = vec![request.account_id.clone()];
                inner.limiter.acquire(region).await;
                let answer = inner.api.get_members(region, &single).await;
                let _ = request.reply.send(read_outcome(&request.account_id, answer));
            }
        }
        Err(e) if e.class == ErrorClass::Throttled => {
            // Still throttled after the SDK's retries: our bucket runs ahead of AWS's.
            // Owe AWS a second and send the accounts again through the limiter, so a
            // throttle reaches a resource's status only when it persists.
            inner.limiter.back_off(region).await;
            for mut request in batch {
                if request.requeues < MAX_REQUEUES {
                    request.requeues += 1;
                    requeue_or_fail(requeue, request, internal(kind, STOPPED));
                } else {
                    let _ = request.reply.send(Outcome::Failed(e.clone().into_failure(kind)));
                }
            }
        }
        Err(e) => {
            for request in batch {
                let _ = request.reply.send(Outcome::Failed(e.clone().into_failure(kind)));
            }
        }
        Ok(Answer::Read(read)) => {
            let mut roster = crate::sync::lock(&inner.roster);
            for m in &read.members {
                roster.exists(region, &m.account_id);
            }
            drop(roster);
            for request in batch {
                let _ = request.reply.send(read_outcome(&request.account_id, Ok(read.clone())));
            }
        }
        Ok(Answer::Write(unprocessed)) => {
            if kind == ActionKind::Create {
                remember_creates(inner, region, &ids, &unprocessed);
            }
            reply_writes(kind, batch, &unprocessed, requeue)
        }
    }
}

/// Tells the roster which accounts exist now: created, or refused as already members.
fn remember_creates(inner: &Inner, region: &str, ids: &[String], unprocessed: &[Unprocessed]) {
    let mut roster = crate::sync::lock(&inner.roster);
    let mut created = Vec::new();
    for id in ids {
        let refusal = unprocessed.iter().find(|u| u.account_id.as_ref() == Some(id));
        match refusal.map(|u| words::refusal(u.processing_result.as_deref().unwrap_or_default())) {
            None => created.push(id.as_str()),
            Some(Refusal::AlreadyMember) => roster.exists(region, id),
            Some(_) => {}
        }
    }
    roster.created(region, created);
}

enum Answer {
    Read(ReadResult),
    Write(Vec<Unprocessed>),
}

async fn call(
    inner: &Inner,
    region: &str,
    kind: ActionKind,
    batch: &[Request],
    ids: &[String],
) -> Result<Answer, AwsError> {
    let api = &inner.api;
    match kind {
        ActionKind::Get => api.get_members(region, ids).await.map(Answer::Read),
        ActionKind::Create => {
            let accounts: Vec<_> = batch.iter().map(|r| (r.account_id.clone(), r.email.clone())).collect();
            api.create_members(region, &accounts).await.map(Answer::Write)
        }
        ActionKind::Invite => api.invite_members(region, ids).await.map(Answer::Write),
        ActionKind::Disassociate => api.disassociate_members(region, ids).await.map(Answer::Write),
        ActionKind::Delete => api.delete_members(region, ids).await.map(Answer::Write),
        ActionKind::Accept => Err(AwsError::new(
            ErrorClass::Other,
            "NotBatched",
            "accept is not a batched call",
        )),
    }
}

/// What a GetMembers answer says about one account: listed, unprocessed (not a member), or absent.
fn read_outcome(account_id: &str, answer: Result<ReadResult, AwsError>) -> Outcome {
    match answer {
        Err(e) if words::is_missing_member_error(&e.code) => Outcome::Read(Observed::Absent),
        Err(e) => Outcome::Failed(e.into_failure(ActionKind::Get)),
        Ok(read) => match read.members.iter().find(|m| m.account_id == account_id) {
            Some(m) => Outcome::Read(Observed::Member(m.member.clone())),
            None => Outcome::Read(Observed::Absent),
        },
    }
}

/// Maps UnprocessedAccounts back to callers; overflowed accounts go into a later batch.
fn reply_writes(
    kind: ActionKind,
    batch: Vec<Request>,
    unprocessed: &[Unprocessed],
    requeue: &mpsc::UnboundedSender<Request>,
) {
    for mut request in batch {
        let entry = unprocessed
            .iter()
            .find(|u| u.account_id.as_deref() == Some(request.account_id.as_str()));
        let Some(entry) = entry else {
            let _ = request.reply.send(Outcome::Done);
            continue;
        };
        let result = entry
            .processing_result
            .clone()
            .unwrap_or_else(|| "AWS gave no ProcessingResult".into());
        let refusal = words::refusal(&result);
        let failure = Failure::Unprocessed { kind, result, refusal };
        if refusal == Refusal::Overflow && request.requeues < MAX_REQUEUES {
            request.requeues += 1;
            requeue_or_fail(requeue, request, failure);
            continue;
        }
        let _ = request.reply.send(Outcome::Failed(failure));
    }
}

#[cfg(test)]
#[path = "batcher_tests.rs"]
mod tests;
