//! The behaviour table: one row per case of a region's live and clean-up decisions
//! (the states are drawn in docs/architecture.md).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::api::{AcceptInvitation, DeletionPolicy, Reason, RegionStatus, ReinvitePolicy};

const ACCT: &str = "123456789012";
const ADMIN: &str = "111111111111";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .single()
        .expect("valid time")
}

fn spec() -> Spec {
    Spec {
        account_id: ACCT.into(),
        email: Some("sec@example.com".into()),
        invite: true,
        reinvite: ReinvitePolicy::Removed,
        adopt: false,
        deletion_policy: DeletionPolicy::Delete,
        accept: None,
    }
}

fn member(status: &str) -> Observed {
    Observed::Member(ObservedMember {
        status: status.into(),
        administrator_id: Some(ADMIN.into()),
        invited_at: Some(now() - chrono::Duration::hours(1)),
        updated_at: Some(now() - chrono::Duration::hours(1)),
    })
}

fn managed(reinvites: u32) -> Option<RegionStatus> {
    Some(RegionStatus {
        region: "us-east-1".into(),
        managed: true,
        reinvites,
        ..RegionStatus::default()
    })
}

fn facts(observed: Observed, previous: Option<RegionStatus>) -> RegionFacts {
    let mut f = RegionFacts::new("us-east-1", true, Ownership::Owner, previous);
    f.observed = observed;
    f
}

/// A desired region of a duplicate: another, older resource (`b/owner`) owns the account.
fn conflict(previous: Option<RegionStatus>) -> RegionFacts {
    RegionFacts::new(
        "us-east-1",
        true,
        Ownership::Conflict {
            owner: "b/owner".into(),
        },
        previous,
    )
}

fn aws(kind: ActionKind, class: ErrorClass, code: &str) -> Failure {
    Failure::Aws {
        kind,
        class,
        code: code.into(),
        message: "boom".into(),
    }
}

struct Row {
    name: &'static str,
    spec: Spec,
    facts: RegionFacts,
    action: Option<ActionKind>,
    ready: bool,
    reason: Reason,
    claim: bool,
}

fn row(
    name: &'static str,
    spec: Spec,
    facts: RegionFacts,
    action: Option<ActionKind>,
    ready: bool,
    reason: Reason,
) -> Row {
    Row {
        name,
        spec,
        facts,
        action,
        ready,
        reason,
        claim: false,
    }
}

fn with<F: FnOnce(&mut Spec)>(f: F) -> Spec {
    let mut s = spec();
    f(&mut s);
    s
}

fn attempted(mut f: RegionFacts, kinds: &[ActionKind]) -> RegionFacts {
    f.attempted = kinds.to_vec();
    f
}

fn failed(mut f: RegionFacts, failure: Failure) -> RegionFacts {
    f.failure = Some(failure);
    f
}

fn accept() -> AcceptInvitation {
    AcceptInvitation {
        role_arn: format!("arn:aws:iam::{ACCT}:role/Accept"),
        external_id: None,
        enable_security_hub: true,
    }
}

fn live_rows() -> Vec<Row> {
    use ActionKind::*;
    vec![
        row(
            "first sight reads",
            spec(),
            facts(Observed::NotRead, None),
            Some(Get),
            false,
            Reason::Creating,
        ),
        Row {
            claim: true,
            ..row(
                "absent and unclaimed: claim, then create",
                spec(),
                facts(Observed::Absent, None),
                Some(Create),
                false,
                Reason::Creating,
            )
        },
        row(
            "absent and managed: create without a new claim",
            spec(),
            facts(Observed::Absent, managed(0)),
            Some(Create),
            false,
            Reason::Creating,
        ),
        row(
            "created but not yet listed: wait",
            spec(),
            attempted(facts(Observed::Absent, managed(0)), &[Get, Create]),
            None,
            false,
            Reason::Creating,
        ),
        row(
            "after create: re-read",
            spec(),
            attempted(facts(Observed::NotRead, managed(0)), &[Get, Create]),
            Some(Get),
            false,
            Reason::Creating,
        ),
        row(
            "reads are bounded",
            spec(),
            attempted(facts(Observed::NotRead, managed(0)), &[Get, Get, Get]),
            None,
            false,
            Reason::Creating,
        ),
        row(
            "created + invite: invite",
            spec(),
            facts(member("Created"), managed(0)),
            Some(Invite),
            false,
            Reason::Inviting,
        ),
        row(
            "created, invite false: ready",
            with(|s| s.invite = false),
            facts(member("Created"), managed(0)),
            None,
            true,
            Reason::Enabled,
        ),
        row(
            "created, invite already sent: wait",
            spec(),
            attempted(facts(member("Created"), managed(0)), &[Invite]),
            None,
            false,
            Reason::Inviting,
        ),
        row(
            "organization account enabled at once",
            spec(),
            facts(member("Enabled"), managed(0)),
            None,
            true,
            Reason::Enabled,
        ),
        row(
            "status compared case-insensitively",
            spec(),
            facts(member("ENABLED"), managed(0)),
            None,
            true,
            Reason::Enabled,
        ),
        row(
            "pre-2020 Associated is Enabled",
            spec(),
            facts(member("Associated"), managed(0)),
            None,
            true,
            Reason::Enabled,
        ),
        row(
            "invited waits for acceptance",
            spec(),
            facts(member("Invited"), managed(0)),
            None,
            false,
            Reason::AwaitingAcceptance,
        ),
        row(
            "invited with acceptInvitation: accept",
            with(|s| s.accept = Some(accept())),
            facts(member("Invited"), managed(0)),
            Some(Accept),
            false,
            Reason::AwaitingAcceptance,
        ),
        row(
            "accept not repeated in one reconcile",
            with(|s| s.accept = Some(accept())),
            attempted(facts(member("Invited"), managed(0)), &[Accept]),
            None,
            false,
            Reason::AwaitingAcceptance,
        ),
        row(
            "removed: re-invite by default",
            spec(),
            facts(member("Removed"), managed(0)),
            Some(Invite),
            false,
            Reason::Inviting,
        ),
        row(
            "removed, reinvite Never: report",
            with(|s| s.reinvite = ReinvitePolicy::Never),
            facts(member("Removed"), managed(0)),
            None,
            false,
            Reason::Removed,
        ),
        row(
            "resigned, reinvite Removed: report, no invite",
            spec(),
            facts(member("Resigned"), managed(0)),
            None,
            false,
            Reason::Resigned,
        ),
        row(
            "resigned, Always, backoff elapsed: invite",
            with(|s| s.reinvite = ReinvitePolicy::Always),
            facts(member("Resigned"), managed(0)),
            Some(Invite),
            false,
            Reason::Inviting,
        ),
        row(
            "resigned, Always, within backoff: wait",
            with(|s| s.reinvite = ReinvitePolicy::Always),
            facts(member("Resigned"), managed(3)),
            None,
            false,
            Reason::Resigned,
        ),
        row(
            "suspended: report",
            spec(),
            facts(member("AccountSuspended"), managed(0)),
            None,
            false,
            Reason::AccountSuspended,
        ),
        row(
            "deleted out of band: add it again",
            spec(),
            facts(member("Deleted"), managed(0)),
            Some(Create),
            false,
            Reason::Creating,
        ),
        row(
            "deleted, never ours: report",
            spec(),
            facts(member("Deleted"), None),
            None,
            false,
            Reason::Deleted,
        ),
        Row {
            claim: true,
            ..row(
                "deleted, never ours, adopt: claim and add it as new",
                with(|s| s.adopt = true),
                facts(member("Deleted"), None),
                Some(Create),
                false,
                Reason::Creating,
            )
        },
        row(
            "suspended, as AWS spells it",
            spec(),
            facts(member("ACCOUNT_SUSPENDED"), managed(0)),
            None,
            false,
            Reason::AccountSuspended,
        ),
        row(
            "removed organization account refused an invitation: add it again",
            spec(),
            failed(
                attempted(facts(member("Removed"), managed(0)), &[Invite]),
                Failure::Unprocessed {
                    kind: Invite,
                    result: "The request is rejected because organization member accounts do not receive invitations."
                        .into(),
                    refusal: Refusal::OrganizationAccount,
                },
            ),
            Some(Create),
            false,
            Reason::Inviting,
        ),
        row(
            "removed organization account added again, still listed removed: wait",
            spec(),
            attempted(facts(member("Removed"), managed(0)), &[Invite, Create]),
            None,
            false,
            Reason::Inviting,
        ),
        row(
            "unknown status: report, no action",
            spec(),
            facts(member("Quarantined"), managed(0)),
            None,
            false,
            Reason::UnknownMemberStatus,
        ),
        row(
            "existing, not ours, no adopt: AlreadyExists",
            spec(),
            facts(member("Enabled"), None),
            None,
            false,
            Reason::AlreadyExists,
        ),
        Row {
            claim: true,
            ..row(
                "existing, adopt: claim, ready",
                with(|s| s.adopt = true),
                facts(member("Enabled"), None),
                None,
                true,
                Reason::Enabled,
            )
        },
        Row {
            claim: true,
            ..row(
                "adopted Created member gets invited",
                with(|s| s.adopt = true),
                facts(member("Created"), None),
                Some(Invite),
                false,
                Reason::Inviting,
            )
        },
        row(
            "conflict: never calls AWS",
            spec(),
            conflict(None),
            None,
            false,
            Reason::Conflict,
        ),
        row(
            "unprocessed: reported verbatim",
            spec(),
            failed(
                facts(Observed::Absent, managed(0)),
                Failure::Unprocessed {
                    kind: Create,
                    result: "member of another master".into(),
                    refusal: Refusal::OtherAdministrator,
                },
            ),
            None,
            false,
            Reason::Unprocessed,
        ),
        row(
            "access denied",
            spec(),
            facts(
                Observed::Failed(aws(Get, ErrorClass::AccessDenied, "AccessDeniedException")),
                None,
            ),
            None,
            false,
            Reason::AccessDenied,
        ),
        row(
            "hub not enabled",
            spec(),
            facts(
                Observed::Failed(aws(Get, ErrorClass::NotSubscribed, "InvalidAccessException")),
                None,
            ),
            None,
            false,
            Reason::SecurityHubNotEnabled,
        ),
        row(
            "throttled",
            spec(),
            failed(
                facts(member("Created"), managed(0)),
                aws(Invite, ErrorClass::Throttled, "LimitExceededException"),
            ),
            None,
            false,
            Reason::Throttled,
        ),
        row(
            "moto lacks InviteMembers",
            spec(),
            failed(
                facts(member("Created"), managed(0)),
                aws(Invite, ErrorClass::Unsupported, "404"),
            ),
            None,
            false,
            Reason::Unsupported,
        ),
        row(
            "no credentials",
            spec(),
            facts(
                Observed::Failed(aws(Get, ErrorClass::Credentials, "CredentialsError")),
                None,
            ),
            None,
            false,
            Reason::CredentialsError,
        ),
        row(
            "member hub off during accept",
            with(|s| s.accept = Some(accept())),
            failed(
                facts(member("Invited"), managed(0)),
                aws(Accept, ErrorClass::NotSubscribed, "InvalidAccessException"),
            ),
            None,
            false,
            Reason::SecurityHubNotEnabled,
        ),
    ]
}

#[test]
fn live_behaviour_table() {
    let policy = Policy::default();
    for r in live_rows() {
        let d = live::decide(&r.spec, &r.facts, &policy, now());
        assert_eq!(d.action.as_ref().map(|a| a.kind), r.action, "{}: action", r.name);
        assert_eq!(d.verdict.ready, r.ready, "{}: ready", r.name);
        assert_eq!(d.verdict.reason, r.reason, "{}: reason ({})", r.name, d.verdict.message);
        assert_eq!(d.claim, r.claim, "{}: claim", r.name);
        assert!(!d.verdict.message.is_empty(), "{}: message", r.name);
    }
}

fn cleanup_rows() -> Vec<Row> {
    use ActionKind::*;
    vec![
        row(
            "retain: nothing",
            with(|s| s.deletion_policy = DeletionPolicy::Retain),
            facts(member("Enabled"), managed(0)),
            None,
            true,
            Reason::Deleting,
        ),
        row(
            "not ours: nothing",
            spec(),
            facts(member("Enabled"), None),
            None,
            true,
            Reason::Deleting,
        ),
        row(
            "conflicting duplicate: nothing",
            spec(),
            conflict(None),
            None,
            true,
            Reason::Deleting,
        ),
        row(
            "conflicting creator, the owner does not hold it yet: waits",
            spec(),
            conflict(managed(0)),
            None,
            false,
            Reason::Deleting,
        ),
        row(
            "conflicting creator, the owner holds it: nothing",
            spec(),
            RegionFacts {
                owner_holds: true,
                ..conflict(managed(0))
            },
            None,
            true,
            Reason::Deleting,
        ),
        row(
            "unread: read first",
            spec(),
            facts(Observed::NotRead, managed(0)),
            Some(Get),
            false,
            Reason::Deleting,
        ),
        row(
            "enabled: disassociate",
            spec(),
            facts(member("Enabled"), managed(0)),
            Some(Disassociate),
            false,
            Reason::Deleting,
        ),
        row(
            "invited: disassociate",
            spec(),
            facts(member("Invited"), managed(0)),
            Some(Disassociate),
            false,
            Reason::Deleting,
        ),
        row(
            "removed: delete",
            spec(),
            facts(member("Removed"), managed(0)),
            Some(Delete),
            false,
            Reason::Deleting,
        ),
        row(
            "created: delete",
            spec(),
            facts(member("Created"), managed(0)),
            Some(Delete),
            false,
            Reason::Deleting,
        ),
        row(
            "gone: done",
            spec(),
            facts(Observed::Absent, managed(0)),
            None,
            true,
            Reason::Deleting,
        ),
        row(
            "organization account refuses delete: done after disassociate",
            spec(),
            failed(
                attempted(facts(member("Removed"), managed(0)), &[Disassociate, Delete]),
                Failure::Unprocessed {
                    kind: Delete,
                    result: "organization account".into(),
                    refusal: Refusal::OrganizationAccount,
                },
            ),
            None,
            true,
            Reason::Deleting,
        ),
        row(
            "delete refused for another cause: not done",
            spec(),
            failed(
                attempted(facts(member("Enabled"), managed(0)), &[Delete]),
                Failure::Unprocessed {
                    kind: Delete,
                    result: "The request is rejected because the member account must be disassociated first.".into(),
                    refusal: Refusal::Other,
                },
            ),
            None,
            false,
            Reason::Unprocessed,
        ),
        row(
            "throttled during clean-up: retry",
            spec(),
            failed(
                facts(member("Enabled"), managed(0)),
                aws(Disassociate, ErrorClass::Throttled, "LimitExceededException"),
            ),
            None,
            false,
            Reason::Throttled,
        ),
    ]
}

#[test]
fn deletion_behaviour_table() {
    let policy = Policy::default();
    for r in cleanup_rows() {
        let d = cleanup::decide_deletion(&r.spec, &r.facts, &policy);
        assert_eq!(d.action.as_ref().map(|a| a.kind), r.action, "{}: action", r.name);
        assert_eq!(d.verdict.ready, r.ready, "{}: done", r.name);
        assert_eq!(d.verdict.reason, r.reason, "{}: reason", r.name);
        if r.ready {
            assert!(d.status.is_none(), "{}: a finished region leaves status", r.name);
        }
    }
}

#[test]
fn removed_region_is_cleaned_up_like_a_deletion() {
    let mut f = facts(member("Enabled"), managed(0));
    f.desired = false;
    let d = live::decide(&spec(), &f, &Policy::default(), now());
    assert_eq!(d.action.map(|a| a.kind), Some(ActionKind::Disassociate));
    let mut retained = facts(member("Enabled"), managed(0));
    retained.desired = false;
    let d = live::decide(
        &with(|s| s.deletion_policy = DeletionPolicy::Retain),
        &retained,
        &Policy::default(),
        now(),
    );
    assert_eq!(d.action, None);
    assert_eq!(d.status, None, "a removed region leaves status");
}

#[test]
fn resigned_reinvite_backoff_doubles_and_caps() {
    let p = Policy {
        reinvite_backoff: Duration::from_secs(60),
        reinvite_backoff_cap: Duration::from_secs(3600),
        ..Policy::default()
    };
    let waits: Vec<u64> = (0..8).map(|n| reinvite_backoff(&p, n).as_secs()).collect();
    assert_eq!(waits, vec![60, 120, 240, 480, 960, 1920, 3600, 3600]);
    assert_eq!(
        reinvite_backoff(&Policy::default(), u32::MAX),
        Duration::from_secs(24 * 3600)
    );
}

#[test]
fn reinvite_of_resigned_counts_tries() {
    let s = with(|s| s.reinvite = ReinvitePolicy::Always);
    let d = live::decide(
        &s,
        &facts(member("Resigned"), managed(2)),
        &Policy {
            reinvite_backoff: Duration::from_secs(60),
            ..Policy::default()
        },
        now(),
    );
    assert_eq!(d.action.map(|a| a.kind), Some(ActionKind::Invite));
    assert_eq!(d.status.map(|s| s.reinvites), Some(3));
}

#[test]
fn accept_action_carries_role_and_administrator() {
    let s = with(|s| s.accept = Some(accept()));
    let d = live::decide(&s, &facts(member("Invited"), managed(0)), &Policy::default(), now());
    let a = d.action.expect("accept action");
    assert_eq!(a.administrator_id.as_deref(), Some(ADMIN));
    assert_eq!(a.accept, Some(accept()));
}

#[test]
fn create_sends_the_email() {
    let d = live::decide(&spec(), &facts(Observed::Absent, None), &Policy::default(), now());
    assert_eq!(d.action.and_then(|a| a.email).as_deref(), Some("sec@example.com"));
}

#[test]
fn processing_result_is_kept_verbatim_and_cleared_on_success() {
    let text = "The request is rejected because the given account ID is already a member of another master.";
    let f = failed(
        facts(Observed::Absent, managed(0)),
        Failure::Unprocessed {
            kind: ActionKind::Create,
            result: text.into(),
            refusal: Refusal::Other,
        },
    );
    let d = live::decide(&spec(), &f, &Policy::default(), now());
    let status = d.status.expect("status");
    assert_eq!(status.processing_result.as_deref(), Some(text));
    assert!(d.verdict.message.contains(text));
    // A later reconcile whose create succeeds clears it.
    let mut previous = status.clone();
    previous.managed = true;
    let f = attempted(
        facts(member("Created"), Some(previous)),
        &[ActionKind::Get, ActionKind::Create, ActionKind::Get],
    );
    let d = live::decide(&spec(), &f, &Policy::default(), now());
    assert_eq!(d.status.and_then(|s| s.processing_result), None);
}

#[test]
fn fold_turns_already_member_into_a_reread_and_invite_into_invited() {
    let mut f = facts(Observed::Absent, managed(0));
    fold(
        &mut f,
        ActionKind::Create,
        Outcome::Failed(Failure::Unprocessed { kind: ActionKind::Create, result: "The request is rejected because the given account ID is already a member or associated member of the current account.".into(), refusal: Refusal::AlreadyMember }),
        now(),
    );
    assert_eq!(f.observed, Observed::NotRead);
    assert_eq!(f.failure, None);
    let mut f = facts(member("Created"), managed(0));
    fold(&mut f, ActionKind::Invite, Outcome::Done, now());
    match &f.observed {
        Observed::Member(m) => {
            assert_eq!(m.status, "Invited");
            assert_eq!(m.invited_at, Some(now()));
        }
        other => panic!("unexpected {other:?}"),
    }
    fold(&mut f, ActionKind::Disassociate, Outcome::Done, now());
    assert!(matches!(&f.observed, Observed::Member(m) if m.status == "Removed"));
    fold(&mut f, ActionKind::Delete, Outcome::Done, now());
    assert_eq!(f.observed, Observed::Absent);
    let mut f = facts(member("Created"), managed(0));
    fold(
        &mut f,
        ActionKind::Invite,
        Outcome::Failed(aws(ActionKind::Invite, ErrorClass::Throttled, "LimitExceededException")),
        now(),
    );
    assert!(f.failure.is_some());
    assert_eq!(f.attempted, vec![ActionKind::Invite]);
}

/// A create refused as "already a member" right after this reconcile's claim means the
/// member predates the claim: the claim is withdrawn and the member left alone (unless
/// adopt); after an earlier reconcile's claim it is ours (AWS listed our create late).
#[test]
fn already_member_after_a_fresh_claim_withdraws_the_claim() {
    let refused = || {
        Outcome::Failed(Failure::Unprocessed {
            kind: ActionKind::Create,
            result: "The request is rejected because the given account ID is already a member or associated member of the current account.".into(),
            refusal: Refusal::AlreadyMember,
        })
    };
    let read_back = |mut f: RegionFacts, spec: &Spec| {
        fold(&mut f, ActionKind::Create, refused(), now());
        fold(&mut f, ActionKind::Get, Outcome::Read(member("Enabled")), now());
        live::decide(spec, &f, &Policy::default(), now())
    };
    let mut fresh = attempted(facts(Observed::Absent, managed(0)), &[ActionKind::Get]);
    fresh.claimed_now = true;
    let d = read_back(fresh.clone(), &spec());
    assert_eq!(d.verdict.reason, Reason::AlreadyExists);
    assert_eq!(d.action, None);
    assert!(!d.status.expect("status").managed, "the claim is withdrawn");
    let d = read_back(fresh, &with(|s| s.adopt = true));
    assert!(d.claim, "adopted instead");
    assert!(d.status.expect("status").managed);
    let earlier = attempted(facts(Observed::Absent, managed(0)), &[ActionKind::Get]);
    let d = read_back(earlier, &spec());
    assert_ne!(d.verdict.reason, Reason::AlreadyExists);
    assert!(d.status.expect("status").managed, "an earlier claim stands");
}

/// Create, as the reconcile sees it, under each organization role: invite at once only
/// when no created member can be an organization account.
#[test]
fn create_is_read_back_unless_the_administrator_has_no_organization() {
    let cases = [
        (OrganizationRole::NotAdministrator, Some(ActionKind::Invite)),
        (OrganizationRole::Administrator, Some(ActionKind::Get)),
        (OrganizationRole::Unknown, Some(ActionKind::Get)),
    ];
    for (role, next) in cases {
        let mut f = attempted(facts(Observed::Absent, managed(0)), &[ActionKind::Get]);
        f.organization = role;
        fold(&mut f, ActionKind::Create, Outcome::Done, now());
        let d = live::decide(&spec(), &f, &Policy::default(), now());
        assert_eq!(d.action.map(|a| a.kind), next, "{role:?}");
    }
}

/// An invitation refused right after an unread create is read back first: an
/// organization account is then simply Enabled; a refusal of a read-back `Created`
/// member is reported with AWS's words.
#[test]
fn refused_invitation_after_an_unread_create_reads_the_member() {
    let refusal = || {
        Outcome::Failed(Failure::Unprocessed {
            kind: ActionKind::Invite,
            result: "already a member of an organization".into(),
            refusal: Refusal::OrganizationAccount,
        })
    };
    let mut f = facts(Observed::Absent, managed(0));
    f.organization = OrganizationRole::NotAdministrator;
    fold(&mut f, ActionKind::Create, Outcome::Done, now());
    fold(&mut f, ActionKind::Invite, refusal(), now());
    assert_eq!(f.observed, Observed::NotRead);
    assert_eq!(f.failure, None);
    assert_eq!(f.attempted, vec![ActionKind::Create]);
    let d = live::decide(&spec(), &f, &Policy::default(), now());
    assert_eq!(d.action.map(|a| a.kind), Some(ActionKind::Get));

    let mut org = f.clone();
    fold(&mut org, ActionKind::Get, Outcome::Read(member("Enabled")), now());
    let d = live::decide(&spec(), &org, &Policy::default(), now());
    assert!(d.verdict.ready && d.action.is_none());

    fold(&mut f, ActionKind::Get, Outcome::Read(member("Created")), now());
    let d = live::decide(&spec(), &f, &Policy::default(), now());
    assert_eq!(d.action.map(|a| a.kind), Some(ActionKind::Invite));
    fold(&mut f, ActionKind::Invite, refusal(), now());
    let d = live::decide(&spec(), &f, &Policy::default(), now());
    assert_eq!(d.verdict.reason, Reason::Unprocessed);
    assert_eq!(
        d.status.and_then(|s| s.processing_result).as_deref(),
        Some("already a member of an organization")
    );
}

fn contender(ns: &str, name: &str, secs: i64, regions: &[&str]) -> Contender {
    Contender {
        namespace: ns.into(),
        name: name.into(),
        created: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::from_second(secs).expect("time"),
        )),
        account_id: ACCT.into(),
        regions: regions.iter().map(|r| r.to_string()).collect(),
        managed: Vec::new(),
    }
}

#[test]
fn oldest_claim_owns_each_region() {
    let old = contender("team-a", "payments", 10, &["us-east-1"]);
    let young = contender("team-b", "payments", 20, &["us-east-1", "eu-west-1"]);
    let all = vec![old.clone(), young.clone()];
    assert_eq!(ownership(&old, "us-east-1", &all), Ownership::Owner);
    assert_eq!(
        ownership(&young, "us-east-1", &all),
        Ownership::Conflict {
            owner: "team-a/payments".into()
        }
    );
    assert_eq!(ownership(&young, "eu-west-1", &all), Ownership::Owner, "per region");
    // Same timestamp: namespace/name decides, stably.
    let twin = contender("team-0", "x", 10, &["us-east-1"]);
    let all = vec![old.clone(), twin.clone()];
    assert_eq!(
        ownership(&old, "us-east-1", &all),
        Ownership::Conflict {
            owner: "team-0/x".into()
        }
    );
    // Another account never conflicts.
    let mut other = contender("team-c", "y", 1, &["us-east-1"]);
    other.account_id = "999999999999".into();
    assert_eq!(ownership(&old, "us-east-1", &[other, old.clone()]), Ownership::Owner);
}

#[test]
fn plan_summarises_regions() {
    let mut east = facts(member("Enabled"), managed(0));
    east.region = "us-east-1".into();
    let mut west = facts(member("Invited"), managed(0));
    west.region = "eu-west-1".into();
    let p = plan(&spec(), &[east.clone(), west], &Policy::default(), now());
    assert!(!p.ready);
    assert_eq!(p.member_status.as_deref(), Some("Enabled 1/2, Invited 1/2"));
    let ready = p.conditions.iter().find(|c| c.type_ == "Ready").expect("ready");
    assert_eq!(ready.reason, Reason::AwaitingAcceptance);
    assert!(ready.message.contains("eu-west-1"));
    assert_eq!(p.requeue, Requeue::After(Policy::default().resync_period_pending));
    let p = plan(&spec(), &[east], &Policy::default(), now());
    assert!(p.ready);
    assert_eq!(p.member_status.as_deref(), Some("Enabled"));
    assert_eq!(p.requeue, Requeue::After(Policy::default().resync_period_enabled));
}

#[test]
fn plan_is_deterministic_so_a_steady_state_writes_nothing() {
    let f = facts(member("Enabled"), managed(0));
    let a = plan(&spec(), std::slice::from_ref(&f), &Policy::default(), now());
    let b = plan(&spec(), &[f], &Policy::default(), now() + chrono::Duration::hours(3));
    assert_eq!(a, b);
}

#[test]
fn errors_set_synced_false_and_back_off() {
    let f = facts(
        Observed::Failed(aws(ActionKind::Get, ErrorClass::AccessDenied, "AccessDeniedException")),
        None,
    );
    let p = plan(&spec(), &[f], &Policy::default(), now());
    let synced = p.conditions.iter().find(|c| c.type_ == "Synced").expect("synced");
    assert_eq!(synced.status, crate::api::ConditionStatus::False);
    assert_eq!(synced.reason, Reason::AccessDenied);
    assert!(synced.message.contains("AccessDeniedException"));
    assert_eq!(
        p.requeue,
        Requeue::Backoff {
            cap: TERMINAL_BACKOFF_CAP
        }
    );
    let f = facts(
        Observed::Failed(aws(ActionKind::Get, ErrorClass::Throttled, "LimitExceededException")),
        None,
    );
    let p = plan(&spec(), &[f], &Policy::default(), now());
    assert_eq!(
        p.requeue,
        Requeue::Backoff {
            cap: TRANSIENT_BACKOFF_CAP
        },
        "throttling retries stay frequent"
    );
}

#[test]
fn dry_run_reports_and_acts_never() {
    let policy = Policy {
        dry_run: true,
        ..Policy::default()
    };
    let p = plan(&spec(), &[facts(Observed::Absent, None)], &policy, now());
    assert!(p.actions.is_empty());
    assert!(p.claims.is_empty());
    let ready = p.conditions.iter().find(|c| c.type_ == "Ready").expect("ready");
    assert_eq!(ready.reason, Reason::DryRun);
    assert!(ready.message.contains("CreateMembers"));
    // Reads still happen in dry-run mode: they change nothing.
    let p = plan(&spec(), &[facts(Observed::NotRead, None)], &policy, now());
    assert_eq!(p.actions.len(), 1);
}

#[test]
fn deletion_plan_is_ready_only_when_every_region_is_done() {
    let p = plan_deletion(
        &spec(),
        &[
            facts(member("Enabled"), managed(0)),
            facts(Observed::Absent, managed(0)),
        ],
        &Policy::default(),
    );
    assert!(!p.ready);
    assert_eq!(p.actions.len(), 1);
    let p = plan_deletion(&spec(), &[facts(Observed::Absent, managed(0))], &Policy::default());
    assert!(p.ready);
}

#[test]
fn member_status_summary_cases() {
    assert_eq!(member_status_summary([].into_iter()), None);
    assert_eq!(
        member_status_summary(["Enabled", "Enabled"].into_iter()).as_deref(),
        Some("Enabled")
    );
    assert_eq!(
        member_status_summary(["Invited", "Enabled", "Enabled"].into_iter()).as_deref(),
        Some("Enabled 2/3, Invited 1/3")
    );
}

/// The claims a journal entry may stand in for: those followed by their region's create.
#[test]
fn claims_precede_creates_only_when_each_claimed_region_is_created() {
    let two = |first: RegionFacts, second: RegionFacts| {
        let mut second = second;
        second.region = "eu-west-1".into();
        if let Some(p) = second.previous.as_mut() {
            p.region = "eu-west-1".into();
        }
        plan(&spec(), &[first, second], &Policy::default(), now())
    };
    let absent = || attempted(facts(Observed::Absent, None), &[ActionKind::Get]);
    let fresh = plan(&spec(), &[absent()], &Policy::default(), now());
    assert_eq!(fresh.claims, vec!["us-east-1".to_string()]);
    assert!(fresh.claims_precede_creates(), "{fresh:?}");
    assert!(two(absent(), absent()).claims_precede_creates());
    let adopting = plan(
        &with(|s| s.adopt = true),
        &[facts(member("Enabled"), None)],
        &Policy::default(),
        now(),
    );
    assert!(!adopting.claims.is_empty(), "adoption claims: {adopting:?}");
    assert!(!adopting.claims_precede_creates(), "an adoption has no create");
    let mixed = plan(
        &with(|s| s.adopt = true),
        &[absent(), {
            let mut f = facts(member("Enabled"), None);
            f.region = "eu-west-1".into();
            f
        }],
        &Policy::default(),
        now(),
    );
    assert_eq!(mixed.claims.len(), 2, "{mixed:?}");
    assert!(!mixed.claims_precede_creates(), "one claim has no create");
    let unread = plan(&spec(), &[facts(Observed::NotRead, None)], &Policy::default(), now());
    assert!(
        unread.claims.is_empty() && !unread.claims_precede_creates(),
        "reads first: {unread:?}"
    );
}

/// A create AWS certainly did not carry out takes the claim back (someone else may add the
/// account later); a create of unknown outcome keeps it, and the member is read again.
#[test]
fn a_certainly_failed_create_withdraws_the_claim_and_an_unknown_one_keeps_it() {
    let cases = [
        (
            aws(ActionKind::Create, ErrorClass::AccessDenied, "AccessDeniedException"),
            true,
        ),
        (
            aws(ActionKind::Create, ErrorClass::InvalidInput, "InvalidInputException"),
            true,
        ),
        (
            aws(ActionKind::Create, ErrorClass::Throttled, "TooManyRequestsException"),
            true,
        ),
        (
            Failure::Unprocessed {
                kind: ActionKind::Create,
                result: "The request is rejected because the email address is invalid.".into(),
                refusal: Refusal::Other,
            },
            true,
        ),
        (
            aws(ActionKind::Create, ErrorClass::Transient, "InternalException"),
            false,
        ),
        (aws(ActionKind::Create, ErrorClass::Other, "dispatch failure"), false),
    ];
    for (failure, withdrawn) in cases {
        let mut f = attempted(facts(Observed::Absent, managed(0)), &[ActionKind::Get]);
        f.claimed_now = true;
        fold(&mut f, ActionKind::Create, Outcome::Failed(failure.clone()), now());
        let d = live::decide(&spec(), &f, &Policy::default(), now());
        assert_eq!(d.withdraw, withdrawn, "{failure:?}: withdrawal");
        assert_eq!(d.status.expect("status").managed, !withdrawn, "{failure:?}: managed");
        assert_eq!(d.action, None, "{failure:?}: no retry within the reconcile");
        let planned = plan(&spec(), std::slice::from_ref(&f), &Policy::default(), now());
        assert_eq!(planned.withdrawals.len(), usize::from(withdrawn), "{failure:?}: plan");
    }
    // A re-create of a member AWS still holds (a removed organization account) keeps it.
    let mut f = attempted(facts(member("Removed"), managed(0)), &[ActionKind::Invite]);
    fold(
        &mut f,
        ActionKind::Create,
        Outcome::Failed(aws(
            ActionKind::Create,
            ErrorClass::AccessDenied,
            "AccessDeniedException",
        )),
        now(),
    );
    assert!(!f.withdrawn && f.managed(), "a member AWS holds stays ours");
}

/// Ready shows no refusal left over from an earlier try.
#[test]
fn ready_clears_an_old_processing_result() {
    let mut previous = managed(0).expect("status");
    previous.processing_result = Some("The request is rejected because the account is suspended.".into());
    let d = live::decide(
        &spec(),
        &facts(member("Enabled"), Some(previous)),
        &Policy::default(),
        now(),
    );
    assert!(d.verdict.ready);
    assert_eq!(d.status.expect("status").processing_result, None);
}

/// With no time from AWS, the last invitation this resource recorded starts the backoff, so
/// `reinvite: Always` does not invite at every resync.
#[test]
fn resigned_without_timestamps_backs_off_from_the_recorded_invitation() {
    let s = with(|s| s.reinvite = ReinvitePolicy::Always);
    let mut previous = managed(1).expect("status");
    previous.invited_at = Some(now() - chrono::Duration::minutes(1));
    let bare = Observed::Member(ObservedMember {
        status: "Resigned".into(),
        administrator_id: None,
        invited_at: None,
        updated_at: None,
    });
    let policy = Policy {
        reinvite_backoff: Duration::from_secs(3600),
        ..Policy::default()
    };
    let d = live::decide(&s, &facts(bare.clone(), Some(previous.clone())), &policy, now());
    assert_eq!(d.action, None, "within the backoff of the recorded invitation");
    assert_eq!(d.status.expect("status").invited_at, previous.invited_at, "kept");
    previous.invited_at = Some(now() - chrono::Duration::hours(5));
    let d = live::decide(&s, &facts(bare, Some(previous)), &policy, now());
    assert_eq!(d.action.map(|a| a.kind), Some(ActionKind::Invite), "backoff elapsed");
}

/// An older resource that adds a region another resource created the member in becomes its
/// owner and takes the member over; the one in Conflict keeps its record until the owner's
/// status holds it, so exactly one resource (the owner) ever has the duty to clean it up.
#[test]
fn a_new_owner_inherits_the_member_and_the_duty_to_clean_it_up() {
    let older = contender("a", "older", 100, &["us-east-1"]);
    let mut creator = contender("b", "creator", 200, &["us-east-1"]);
    creator.managed = vec!["us-east-1".into()];
    let all = vec![older.clone(), creator.clone()];
    let owner = ownership(&older, "us-east-1", &all);
    assert_eq!(owner, Ownership::Owner);
    assert_eq!(handover(&older, "us-east-1", &all, &owner), (true, false));
    let theirs = ownership(&creator, "us-east-1", &all);
    assert_eq!(
        handover(&creator, "us-east-1", &all, &theirs),
        (false, false),
        "not held yet"
    );

    // The owner reads the member: claimed as if adopted, not AlreadyExists.
    let mut f = facts(member("Enabled"), None);
    f.inherits = true;
    let d = live::decide(&spec(), &f, &Policy::default(), now());
    assert!(d.claim, "taken over");
    assert!(d.verdict.ready && d.status.expect("status").managed);

    // The creator in Conflict keeps `managed` until then, and drops it after.
    let mut f = RegionFacts::new("us-east-1", true, theirs.clone(), managed(0));
    let d = live::decide(&spec(), &f, &Policy::default(), now());
    assert_eq!(d.verdict.reason, Reason::Conflict);
    assert!(d.status.expect("status").managed, "kept until the owner holds it");
    // Deleted (or the region dropped from its spec) before then, it waits rather than let go.
    let d = cleanup::decide_deletion(&spec(), &f, &Policy::default());
    assert!(d.action.is_none() && !d.verdict.ready, "waits for the owner");
    assert!(d.status.expect("status").managed, "still holds the duty");
    let mut removed = f.clone();
    removed.desired = false;
    let d = live::decide(&spec(), &removed, &Policy::default(), now());
    assert!(d.action.is_none() && !d.verdict.ready && d.status.expect("status").managed);
    let mut held = older.clone();
    held.managed = vec!["us-east-1".into()];
    f.owner_holds = handover(&creator, "us-east-1", &[held, creator.clone()], &theirs).1;
    assert!(f.owner_holds);
    let d = live::decide(&spec(), &f, &Policy::default(), now());
    assert!(!d.status.expect("status").managed, "handed over");
    // Either way a duplicate removes nothing when it is deleted.
    let d = cleanup::decide_deletion(&spec(), &f, &Policy::default());
    assert!(d.action.is_none() && d.verdict.ready);
}

/// A region kept although the operator's default dropped it is managed as before (never
/// removed) and its verdict says why it is still there and how to remove it.
#[test]
fn a_region_the_default_dropped_is_kept_and_reported() {
    let mut f = facts(member("Enabled"), managed(0));
    f.kept = true;
    let d = live::decide(&spec(), &f, &Policy::default(), now());
    assert!(d.action.is_none() && d.verdict.ready);
    assert!(d.status.expect("status").managed);
    assert!(
        d.verdict.message.ends_with(messages::KEPT_NOTE),
        "{}",
        d.verdict.message
    );
    f.kept = false;
    let d = live::decide(&spec(), &f, &Policy::default(), now());
    assert!(!d.verdict.message.contains("kept"), "{}", d.verdict.message);
}

/// The claim's life in one place (`plan::ownership`): when a create or an adoption claims,
/// when a failed create withdraws, when a duplicate hands over, and when a clean-up acts.
#[test]
fn ownership_protocol_table() {
    use ActionKind::Create;
    let policy = Policy::default();
    let dry = Policy {
        dry_run: true,
        ..Policy::default()
    };
    let absent = facts(Observed::Absent, None);
    assert!(ownership::claims_on_create(&absent, &policy), "a first create claims");
    let ours = facts(Observed::Absent, managed(0));
    assert!(!ownership::claims_on_create(&ours, &policy), "already ours");
    assert!(!ownership::claims_on_create(&absent, &dry), "a dry run records nothing");
    let existing = facts(member("Enabled"), None);
    let adopt = with(|s| s.adopt = true);
    assert!(ownership::claims_on_adoption(&adopt, &existing, &policy));
    assert!(
        !ownership::claims_on_adoption(&spec(), &existing, &policy),
        "adopt is off"
    );
    assert!(!ownership::claims_on_adoption(&adopt, &existing, &dry));
    let inherited = RegionFacts {
        inherits: true,
        ..existing.clone()
    };
    assert!(
        ownership::claims_on_adoption(&spec(), &inherited, &policy),
        "taken over"
    );

    let denied = aws(Create, ErrorClass::AccessDenied, "AccessDeniedException");
    let lost = aws(Create, ErrorClass::Transient, "ServiceUnavailableException");
    assert!(ownership::refused_create_owns_nothing(&Observed::Absent, &denied));
    assert!(ownership::refused_create_owns_nothing(&member("Deleted"), &denied));
    assert!(
        !ownership::refused_create_owns_nothing(&Observed::Absent, &lost),
        "an unknown outcome keeps the claim"
    );
    assert!(
        !ownership::refused_create_owns_nothing(&member("Removed"), &denied),
        "a member was there before the create"
    );
    let mut f = facts(Observed::Absent, managed(0));
    f.claimed_now = true;
    ownership::on_refused_create(&mut f);
    assert!(f.withdrawn && !f.managed() && !f.claimed_now);
    let mut f = facts(Observed::Absent, managed(0));
    ownership::on_already_member(&mut f);
    assert!(!f.withdrawn && f.managed(), "a claim from an earlier reconcile stands");
    f.claimed_now = true;
    ownership::on_already_member(&mut f);
    assert!(f.withdrawn && !f.managed(), "a claim made just now predates nothing");

    let creator = conflict(managed(0));
    let held = RegionFacts {
        owner_holds: true,
        ..creator.clone()
    };
    assert_eq!(ownership::handing_over(&creator), Some("b/owner"));
    assert_eq!(ownership::handing_over(&held), None, "the owner holds it");
    assert_eq!(ownership::handing_over(&conflict(None)), None, "nothing to hand over");
    assert!(ownership::kept_in_conflict(&creator) && !ownership::kept_in_conflict(&held));

    assert!(ownership::cleans_up(&facts(member("Enabled"), managed(0))));
    assert!(!ownership::cleans_up(&existing), "not ours");
    assert!(!ownership::cleans_up(&creator), "not the owner");

    let journaled = ownership::with_journal_claim("eu-west-1", None);
    assert!(journaled.managed && journaled.region == "eu-west-1");
    let journaled = ownership::with_journal_claim("us-east-1", managed(2));
    assert_eq!(journaled.reinvites, 2, "the rest of the record is kept");
}

/// Transient or terminal is decided once, by the error class: throttling, a 5xx and an
/// answer not understood back off briefly; everything that needs a fix, and every refusal
/// of an account, backs off longer (and is still retried).
#[test]
fn each_failure_backs_off_by_whether_it_passes_on_its_own() {
    let policy = Policy::default();
    let cases = [
        (ErrorClass::Throttled, TRANSIENT_BACKOFF_CAP),
        (ErrorClass::Transient, TRANSIENT_BACKOFF_CAP),
        (ErrorClass::Other, TRANSIENT_BACKOFF_CAP),
        (ErrorClass::AccessDenied, TERMINAL_BACKOFF_CAP),
        (ErrorClass::NotSubscribed, TERMINAL_BACKOFF_CAP),
        (ErrorClass::InvalidInput, TERMINAL_BACKOFF_CAP),
        (ErrorClass::Unsupported, TERMINAL_BACKOFF_CAP),
        (ErrorClass::Credentials, TERMINAL_BACKOFF_CAP),
    ];
    for (class, cap) in cases {
        let f = failed(facts(Observed::Absent, None), aws(ActionKind::Create, class, "Code"));
        let p = plan(&spec(), &[f], &policy, now());
        assert_eq!(p.requeue, Requeue::Backoff { cap }, "{class:?}");
    }
    let refused = Failure::Unprocessed {
        kind: ActionKind::Create,
        result: "member of another master".into(),
        refusal: Refusal::OtherAdministrator,
    };
    let p = plan(
        &spec(),
        &[failed(facts(Observed::Absent, None), refused)],
        &policy,
        now(),
    );
    assert_eq!(
        p.requeue,
        Requeue::Backoff {
            cap: TERMINAL_BACKOFF_CAP
        }
    );
    // One transient region and one terminal one: the longer backoff.
    let mut east = failed(
        facts(Observed::Absent, None),
        aws(ActionKind::Create, ErrorClass::Throttled, "T"),
    );
    east.region = "us-east-2".into();
    let west = failed(
        facts(Observed::Absent, None),
        aws(ActionKind::Create, ErrorClass::AccessDenied, "A"),
    );
    let p = plan(&spec(), &[east, west], &policy, now());
    assert_eq!(
        p.requeue,
        Requeue::Backoff {
            cap: TERMINAL_BACKOFF_CAP
        }
    );
}
