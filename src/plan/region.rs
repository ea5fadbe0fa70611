//! Decisions for one region, as code; each case is a row of the behaviour table in
//! `src/plan/tests.rs`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::facts::{ActionKind, ErrorClass, Failure, Observed, ObservedMember, Ownership, Policy, RegionFacts, Spec};
use super::ownership;
use crate::api::{AcceptInvitation, DeletionPolicy, Reason, RegionStatus, ReinvitePolicy};

/// How many reads one reconcile may make for one region (the first read plus re-reads
/// after a create or an accept).
const MAX_READS: usize = 3;

/// One AWS call for one account in one region.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    pub region: String,
    pub account_id: String,
    pub kind: ActionKind,
    /// CreateMembers: the email to send.
    pub email: Option<String>,
    /// Accept: the role to assume in the member account and our administrator id.
    pub accept: Option<AcceptInvitation>,
    pub administrator_id: Option<String>,
    /// A read that must reach AWS: never answered "absent" from an earlier ListMembers sweep.
    /// Only reads before this resource's first create may be; a read of a member this
    /// resource owns decides a clean-up or a re-create and must be fresh.
    pub fresh: bool,
}

/// What a region needs before the next look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// In its end state: the slow drift resync.
    Settled,
    /// Waiting on someone else; look again after at most this long.
    Pending(Duration),
    /// Failed in a way that may pass: retry with backoff.
    Retry,
}

/// The region's contribution to the Ready condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub ready: bool,
    pub reason: Reason,
    pub message: String,
    pub wait: Wait,
}

/// Everything decided for one region.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionDecision {
    pub region: String,
    pub action: Option<Action>,
    /// Record `managed: true` before acting (first create, or an adoption).
    pub claim: bool,
    /// A claim was withdrawn in this reconcile; make that durable before going on.
    pub withdraw: bool,
    /// The status entry to write; `None` drops the region from status.
    pub status: Option<RegionStatus>,
    pub verdict: Verdict,
    /// An AWS error (not a per-account refusal) happened in this reconcile.
    pub aws_error: Option<Failure>,
}

/// The member statuses AWS documents, compared case-insensitively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    Created,
    Invited,
    Enabled,
    Removed,
    Resigned,
    Deleted,
    AccountSuspended,
    Unknown,
}

impl MemberState {
    /// Parses AWS's free-text MemberStatus; `Associated` is the pre-2020 name of Enabled.
    pub fn parse(status: &str) -> Self {
        match status.to_ascii_lowercase().as_str() {
            "created" => Self::Created,
            "invited" => Self::Invited,
            "enabled" | "associated" => Self::Enabled,
            "removed" => Self::Removed,
            "resigned" => Self::Resigned,
            "deleted" => Self::Deleted,
            "accountsuspended" | "account_suspended" => Self::AccountSuspended,
            _ => Self::Unknown,
        }
    }
}

/// Decides one desired or removed region of a live resource.
pub fn decide(spec: &Spec, f: &RegionFacts, policy: &Policy, now: DateTime<Utc>) -> RegionDecision {
    let mut d = decide_region(spec, f, policy, now);
    if f.desired && f.kept {
        d.verdict.message.push_str(KEPT_NOTE);
    }
    d
}

/// Why a region the operator's default dropped is still managed, and what removes it.
pub const KEPT_NOTE: &str = " (kept: the operator's --regions no longer lists this region; a change of default never removes a member. List the regions in spec.regions: without this one to remove it, with it to keep it)";

fn decide_region(spec: &Spec, f: &RegionFacts, policy: &Policy, now: DateTime<Utc>) -> RegionDecision {
    if !f.desired {
        return decide_cleanup(spec, f, spec.deletion_policy, policy, CleanupCause::RegionRemoved);
    }
    if let Ownership::Conflict { owner } = &f.ownership {
        let verdict = waiting(
            Reason::Conflict,
            format!(
                "account {} in {} is managed by SecurityHubMember {owner}, which is older; this resource changes nothing in AWS. Delete this duplicate, or delete {owner} to hand the account over",
                spec.account_id, f.region
            ),
            policy.resync_pending,
        );
        return decision(f, None, false, Some(conflict_status(f)), verdict);
    }
    if let Some(failure) = blocking_failure(f) {
        let verdict = failure_verdict(spec, f, failure);
        return decision(f, None, false, Some(base_status(f, f.managed())), verdict);
    }
    match &f.observed {
        Observed::NotRead => read(spec, f, policy),
        Observed::Failed(failure) => {
            let verdict = failure_verdict(spec, f, failure);
            decision(f, None, false, Some(base_status(f, f.managed())), verdict)
        }
        Observed::Absent => decide_absent(spec, f, policy),
        Observed::Member(m) => decide_member(spec, f, m, policy, now),
    }
}

/// The failure that stops this region for the rest of the reconcile, if any. An invitation
/// of a Removed member refused because it is an organization account is not one: such an
/// account comes back through CreateMembers (see `removed_step`).
fn blocking_failure(f: &RegionFacts) -> Option<&Failure> {
    let removed = matches!(&f.observed, Observed::Member(m) if MemberState::parse(&m.status) == MemberState::Removed);
    f.failure
        .as_ref()
        .filter(|failure| !(removed && refused_as_organization_account(failure)))
}

/// AWS refused an invitation because the account is an organization account.
fn refused_as_organization_account(failure: &Failure) -> bool {
    matches!(failure, Failure::Unprocessed { kind: ActionKind::Invite, result } if is_organization_refusal(result))
}

fn read(spec: &Spec, f: &RegionFacts, policy: &Policy) -> RegionDecision {
    let reads = f.attempted.iter().filter(|k| **k == ActionKind::Get).count();
    if reads >= MAX_READS {
        let verdict = waiting(
            Reason::Creating,
            format!("waiting for AWS to report account {} in {}", spec.account_id, f.region),
            policy.resync_pending.min(Duration::from_secs(30)),
        );
        return decision(f, None, false, Some(base_status(f, f.managed())), verdict);
    }
    let verdict = waiting(
        Reason::Creating,
        "reading the member from AWS".into(),
        policy.resync_pending,
    );
    let mut get = action(spec, f, ActionKind::Get);
    get.fresh = f.managed();
    decision(f, Some(get), false, Some(base_status(f, f.managed())), verdict)
}

fn decide_absent(spec: &Spec, f: &RegionFacts, policy: &Policy) -> RegionDecision {
    if f.attempted.contains(&ActionKind::Create) {
        let verdict = waiting(
            Reason::Creating,
            format!(
                "CreateMembers accepted account {} in {}; waiting for AWS to list it",
                spec.account_id, f.region
            ),
            policy.resync_pending.min(Duration::from_secs(30)),
        );
        return decision(f, None, false, Some(base_status(f, true)), verdict);
    }
    let claim = ownership::claims_on_create(f, policy);
    let mut create = action(spec, f, ActionKind::Create);
    create.email = spec.email.clone();
    let verdict = waiting(
        Reason::Creating,
        format!("creating the membership of account {} in {}", spec.account_id, f.region),
        policy.resync_pending,
    );
    let mut status = base_status(f, f.managed() || claim);
    status.member_status = None;
    decision(f, Some(create), claim, Some(status), verdict)
}

fn decide_member(
    spec: &Spec,
    f: &RegionFacts,
    m: &ObservedMember,
    policy: &Policy,
    now: DateTime<Utc>,
) -> RegionDecision {
    let deleted = MemberState::parse(&m.status) == MemberState::Deleted;
    let adopt = ownership::adopts(spec, f);
    if deleted && (f.managed() || adopt) {
        // AWS adds a deleted member again "as if it were a completely new member account":
        // ours (or ours to adopt), it is created again.
        return decide_absent(spec, f, policy);
    }
    if !f.managed() && !adopt {
        if deleted {
            let (_, verdict) = member_step(spec, f, m, policy, now);
            return decision(f, None, false, Some(member_status(f, m, false)), verdict);
        }
        let verdict = waiting(
            Reason::AlreadyExists,
            format!(
                "account {} is already a member in {} (status {}) and this resource did not create it; nothing was changed. Set spec.adopt: true to manage it",
                spec.account_id, f.region, m.status
            ),
            policy.resync_pending,
        );
        return decision(f, None, false, Some(member_status(f, m, false)), verdict);
    }
    let claim = ownership::claims_on_adoption(spec, f, policy);
    let status = member_status(f, m, true);
    let (action_kind, verdict) = member_step(spec, f, m, policy, now);
    let act = action_kind.map(|k| {
        let mut a = action(spec, f, k);
        if k == ActionKind::Accept {
            a.accept = spec.accept.clone();
            a.administrator_id = m.administrator_id.clone();
        }
        if k == ActionKind::Create {
            a.email = spec.email.clone();
        }
        a
    });
    let mut status = status;
    if act.as_ref().is_some_and(|a| a.kind == ActionKind::Invite)
        && MemberState::parse(&m.status) == MemberState::Resigned
    {
        status.reinvites = f.reinvites().saturating_add(1);
    }
    decision(f, act, claim, Some(status), verdict)
}

/// The next step for a managed member, by its AWS status.
fn member_step(
    spec: &Spec,
    f: &RegionFacts,
    m: &ObservedMember,
    policy: &Policy,
    now: DateTime<Utc>,
) -> (Option<ActionKind>, Verdict) {
    let acct = &spec.account_id;
    let region = &f.region;
    let tried = |k| f.attempted.contains(&k);
    match MemberState::parse(&m.status) {
        MemberState::Enabled => (
            None,
            settled(format!("account {acct} is an enabled member in {region}")),
        ),
        MemberState::Created if !spec.invite => (
            None,
            settled(format!(
                "account {acct} is a member in {region} (status Created; invite: false, so no invitation is sent)"
            )),
        ),
        MemberState::Created if tried(ActionKind::Invite) => (
            None,
            waiting(
                Reason::Inviting,
                format!("invitation to account {acct} in {region} sent; waiting for AWS to report it"),
                policy.resync_pending,
            ),
        ),
        MemberState::Created => (
            Some(ActionKind::Invite),
            waiting(
                Reason::Inviting,
                format!("inviting account {acct} in {region}"),
                policy.resync_pending,
            ),
        ),
        MemberState::Invited => invited_step(spec, f, policy),
        MemberState::Removed => removed_step(spec, f, policy),
        MemberState::Resigned => resigned_step(spec, f, m, policy, now),
        MemberState::AccountSuspended => (
            None,
            waiting(
                Reason::AccountSuspended,
                format!("account {acct} is suspended in AWS Organizations; nothing can be done until it is reinstated"),
                policy.resync_pending,
            ),
        ),
        MemberState::Deleted => (
            None,
            waiting(
                Reason::Deleted,
                format!(
                    "account {acct} was deleted as a member in {region} and this resource did not create it; set spec.adopt: true to add it again"
                ),
                policy.resync_pending,
            ),
        ),
        MemberState::Unknown => (
            None,
            waiting(
                Reason::UnknownMemberStatus,
                format!(
                    "AWS reports member status {:?} for account {acct} in {region}, which this operator does not know; nothing was changed",
                    m.status
                ),
                policy.resync_pending,
            ),
        ),
    }
}

fn invited_step(spec: &Spec, f: &RegionFacts, policy: &Policy) -> (Option<ActionKind>, Verdict) {
    let acct = &spec.account_id;
    match &spec.accept {
        Some(accept) if !f.attempted.contains(&ActionKind::Accept) => (
            Some(ActionKind::Accept),
            waiting(
                Reason::AwaitingAcceptance,
                format!("accepting the invitation in account {acct} through {}", accept.role_arn),
                policy.resync_pending,
            ),
        ),
        Some(_) => (
            None,
            waiting(
                Reason::AwaitingAcceptance,
                format!("invitation accepted in account {acct}; waiting for AWS to report it Enabled"),
                policy.resync_pending.min(Duration::from_secs(30)),
            ),
        ),
        None => (
            None,
            waiting(
                Reason::AwaitingAcceptance,
                format!(
                    "account {acct} is invited in {}; its owner must accept the invitation (or set spec.acceptInvitation)",
                    f.region
                ),
                policy.resync_pending,
            ),
        ),
    }
}

fn removed_step(spec: &Spec, f: &RegionFacts, policy: &Policy) -> (Option<ActionKind>, Verdict) {
    let acct = &spec.account_id;
    if spec.reinvite == ReinvitePolicy::Never || !spec.invite {
        let verdict = waiting(
            Reason::Removed,
            format!(
                "account {acct} was removed (disassociated) in {}; reinvite: Never / invite: false, so it is not invited again. Set reinvite: Removed to invite it again",
                f.region
            ),
            policy.resync_pending,
        );
        return (None, verdict);
    }
    if f.attempted.contains(&ActionKind::Create) {
        return (
            None,
            waiting(
                Reason::Inviting,
                format!(
                    "added organization account {acct} in {} again; waiting for AWS to report it",
                    f.region
                ),
                policy.resync_pending.min(Duration::from_secs(30)),
            ),
        );
    }
    if f.failure.as_ref().is_some_and(refused_as_organization_account) {
        // Organization accounts are never invited: CreateMembers enables them again.
        return (
            Some(ActionKind::Create),
            waiting(
                Reason::Inviting,
                format!(
                    "account {acct} is an organization account removed in {}; adding it again",
                    f.region
                ),
                policy.resync_pending,
            ),
        );
    }
    if f.attempted.contains(&ActionKind::Invite) {
        return (
            None,
            waiting(
                Reason::Inviting,
                format!("invited account {acct} again; waiting for AWS to report it"),
                policy.resync_pending,
            ),
        );
    }
    (
        Some(ActionKind::Invite),
        waiting(
            Reason::Inviting,
            format!("account {acct} was removed in {}; inviting it again", f.region),
            policy.resync_pending,
        ),
    )
}

fn resigned_step(
    spec: &Spec,
    f: &RegionFacts,
    m: &ObservedMember,
    policy: &Policy,
    now: DateTime<Utc>,
) -> (Option<ActionKind>, Verdict) {
    let acct = &spec.account_id;
    let region = &f.region;
    if spec.reinvite != ReinvitePolicy::Always || !spec.invite {
        return (
            None,
            waiting(
                Reason::Resigned,
                format!(
                    "account {acct} declined the invitation or left in {region}; it is not invited again unless spec.reinvite is Always"
                ),
                policy.resync_pending,
            ),
        );
    }
    let wait = reinvite_backoff(policy, f.reinvites());
    // AWS may report no time at all: then the last invitation this resource recorded counts.
    let since = m
        .invited_at
        .or(m.updated_at)
        .or(f.previous.as_ref().and_then(|p| p.invited_at));
    let due = since.map(|t| t + chrono::Duration::from_std(wait).unwrap_or(chrono::TimeDelta::MAX));
    match due {
        Some(due) if due > now && !f.attempted.contains(&ActionKind::Invite) => {
            let left = (due - now).to_std().unwrap_or(Duration::ZERO);
            (
                None,
                waiting(
                    Reason::Resigned,
                    format!(
                        "account {acct} resigned in {region}; next invitation at {} (backoff {}s)",
                        due.to_rfc3339(),
                        wait.as_secs()
                    ),
                    left.min(policy.resync_pending).max(Duration::from_secs(1)),
                ),
            )
        }
        _ if f.attempted.contains(&ActionKind::Invite) => (
            None,
            waiting(
                Reason::Resigned,
                format!("account {acct} resigned in {region}; invited it again"),
                policy.resync_pending,
            ),
        ),
        _ => (
            Some(ActionKind::Invite),
            waiting(
                Reason::Inviting,
                format!("account {acct} resigned in {region}; inviting it again (reinvite: Always)"),
                policy.resync_pending,
            ),
        ),
    }
}

/// The wait before the next re-invitation of a Resigned member: base * 2^tries, capped.
pub fn reinvite_backoff(policy: &Policy, tries: u32) -> Duration {
    let factor = 2u32.saturating_pow(tries.min(20));
    policy
        .reinvite_backoff
        .saturating_mul(factor)
        .min(policy.reinvite_backoff_cap)
}

/// Why a cleanup runs: the resource is deleted, or a region left its spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CleanupCause {
    Deleted,
    RegionRemoved,
}

/// Decides one region of a resource that is being deleted.
pub fn decide_deletion(spec: &Spec, f: &RegionFacts, policy: &Policy) -> RegionDecision {
    decide_cleanup(spec, f, spec.deletion_policy, policy, CleanupCause::Deleted)
}

/// Disassociate, then delete; only what this resource owns, only with policy Delete.
fn decide_cleanup(
    spec: &Spec,
    f: &RegionFacts,
    deletion: DeletionPolicy,
    policy: &Policy,
    cause: CleanupCause,
) -> RegionDecision {
    let acct = &spec.account_id;
    let region = &f.region;
    if let Some(owner) = ownership::handing_over(f) {
        // This resource created the member, and an older one naming the account inherits
        // it: letting go before the owner's status holds it would leave nobody to clean up.
        let verdict = waiting(
            Reason::Deleting,
            format!(
                "handing account {acct} in {region} over to SecurityHubMember {owner}, which is older and names it; letting go once its status records the member"
            ),
            policy.resync_pending,
        );
        return decision(f, None, false, Some(conflict_status(f)), verdict);
    }
    if !ownership::cleans_up(f) || deletion == DeletionPolicy::Retain {
        return done(f, format!("left account {acct} in {region} as it is in AWS"));
    }
    if let Some(failure) = &f.failure {
        if let Failure::Unprocessed {
            kind: ActionKind::Delete,
            result,
        } = failure
            && is_organization_refusal(result)
        {
            // Organization accounts cannot be deleted; disassociated is as far as AWS goes.
            return done(
                f,
                format!("disassociated account {acct} in {region}; AWS keeps organization accounts"),
            );
        }
        let mut verdict = failure_verdict(spec, f, failure);
        verdict.message = format!("cannot clean up account {acct} in {region}: {}", verdict.message);
        return decision(f, None, false, Some(base_status(f, true)), verdict);
    }
    let deleting = |m: String| Verdict {
        ready: false,
        reason: Reason::Deleting,
        message: m,
        wait: Wait::Pending(policy.resync_pending),
    };
    let what = match cause {
        CleanupCause::Deleted => "resource deleted",
        CleanupCause::RegionRemoved => "region removed from spec",
    };
    match &f.observed {
        Observed::NotRead => {
            let reads = f.attempted.iter().filter(|k| **k == ActionKind::Get).count();
            if reads >= MAX_READS {
                return decision(
                    f,
                    None,
                    false,
                    Some(base_status(f, true)),
                    deleting(format!("waiting for AWS to report account {acct} in {region}")),
                );
            }
            decision(
                f,
                Some(action(spec, f, ActionKind::Get)),
                false,
                Some(base_status(f, true)),
                deleting(format!("{what}: reading account {acct} in {region}")),
            )
        }
        Observed::Failed(failure) => {
            let verdict = failure_verdict(spec, f, failure);
            decision(f, None, false, Some(base_status(f, true)), verdict)
        }
        Observed::Absent => done(f, format!("account {acct} is no longer a member in {region}")),
        Observed::Member(m) => {
            let next = match MemberState::parse(&m.status) {
                MemberState::Deleted => None,
                MemberState::Enabled | MemberState::Invited | MemberState::Unknown => Some(ActionKind::Disassociate),
                _ => Some(ActionKind::Delete),
            };
            match next {
                Some(kind) if !f.attempted.contains(&kind) => decision(
                    f,
                    Some(action(spec, f, kind)),
                    false,
                    Some(member_status(f, m, true)),
                    deleting(format!("{what}: {} account {acct} in {region}", kind.operation())),
                ),
                Some(_) => decision(
                    f,
                    None,
                    false,
                    Some(member_status(f, m, true)),
                    deleting(format!(
                        "{what}: waiting for AWS to finish with account {acct} in {region}"
                    )),
                ),
                None => done(f, format!("account {acct} is deleted in {region}")),
            }
        }
    }
}

fn done(f: &RegionFacts, message: String) -> RegionDecision {
    decision(
        f,
        None,
        false,
        None,
        Verdict {
            ready: true,
            reason: Reason::Deleting,
            message,
            wait: Wait::Settled,
        },
    )
}

/// The verdict for a failed read or action: the reason names the cause, the message the next step.
pub fn failure_verdict(spec: &Spec, f: &RegionFacts, failure: &Failure) -> Verdict {
    let acct = &spec.account_id;
    let region = &f.region;
    match failure {
        Failure::Unprocessed { kind, result } => Verdict {
            ready: false,
            reason: Reason::Unprocessed,
            message: format!(
                "AWS did not process {} for account {acct} in {region}: {result}{}",
                kind.operation(),
                unprocessed_hint(result)
            ),
            wait: Wait::Retry,
        },
        Failure::Aws {
            kind,
            class,
            code,
            message,
        } => {
            let (reason, hint) = match (class, kind) {
                (ErrorClass::Throttled, _) => (Reason::Throttled, "AWS throttled the request; retrying with backoff".to_string()),
                (ErrorClass::Transient, _) => (Reason::AwsError, "a transient AWS or network error; retrying with backoff".to_string()),
                (ErrorClass::AccessDenied, ActionKind::Accept) => (
                    Reason::AccessDenied,
                    format!("the operator could not act in the member account: check that {} trusts the operator's role (and the externalId)", spec.accept.as_ref().map_or("the acceptInvitation role", |a| a.role_arn.as_str())),
                ),
                (ErrorClass::AccessDenied, _) => (Reason::AccessDenied, format!("the operator's AWS identity may not call securityhub:{}; grant it (see deploy/iam-policy.json)", kind.operation())),
                (ErrorClass::NotSubscribed, ActionKind::Accept) => (
                    Reason::SecurityHubNotEnabled,
                    "Security Hub is not enabled in the member account; enable it there or set spec.acceptInvitation.enableSecurityHub: true".to_string(),
                ),
                (ErrorClass::NotSubscribed, _) => (Reason::SecurityHubNotEnabled, format!("Security Hub is not enabled in the administrator account in {region}; enable it (EnableSecurityHub) and the operator recovers on its own")),
                (ErrorClass::InvalidInput, _) => (Reason::InvalidConfiguration, "AWS refused the request as invalid; check spec.accountId, spec.email and the operator's --regions".to_string()),
                (ErrorClass::Unsupported, _) => (Reason::Unsupported, format!("this AWS endpoint does not implement {}; the member cannot progress here", kind.operation())),
                (ErrorClass::Credentials, _) => (Reason::CredentialsError, "no usable AWS credentials: check the pod's IRSA / Pod Identity setup or the AWS_* environment".to_string()),
                (ErrorClass::Other, _) => (Reason::AwsError, "an unexpected AWS answer; retrying with backoff".to_string()),
            };
            Verdict {
                ready: false,
                reason,
                message: format!("{} failed in {region}: {code}: {message}. {hint}", kind.operation()),
                // Terminal errors are retried too, on the same backoff, so fixing IAM or enabling
                // Security Hub heals without a restart.
                wait: Wait::Retry,
            }
        }
    }
}

/// A next step for the ProcessingResults AWS is known to return.
fn unprocessed_hint(result: &str) -> &'static str {
    let lower = result.to_ascii_lowercase();
    if lower.contains("master") || lower.contains("another administrator") || lower.contains("other administrator") {
        ". The account belongs to another administrator: it must leave that administrator first"
    } else if lower.contains("itself") {
        ". An account cannot be a member of itself: this is the administrator's own account"
    } else if lower.contains("maximum number of allowed members") || lower.contains("cannot create anymore members") {
        ". The administrator reached its member limit in this region"
    } else {
        ". Retrying with backoff"
    }
}

/// True for the ProcessingResult AWS returns when CreateMembers names an existing member.
pub fn is_already_member(result: &str) -> bool {
    result.to_ascii_lowercase().contains("already a member")
}

/// True for a ProcessingResult that refuses an invitation or a deletion because the account
/// belongs to the administrator's organization (such members are added and removed, never
/// invited or deleted).
pub fn is_organization_refusal(result: &str) -> bool {
    result.to_ascii_lowercase().contains("organization")
}

fn waiting(reason: Reason, message: String, after: Duration) -> Verdict {
    Verdict {
        ready: false,
        reason,
        message,
        wait: Wait::Pending(after),
    }
}

fn settled(message: String) -> Verdict {
    Verdict {
        ready: true,
        reason: Reason::Enabled,
        message,
        wait: Wait::Settled,
    }
}

fn action(spec: &Spec, f: &RegionFacts, kind: ActionKind) -> Action {
    Action {
        region: f.region.clone(),
        account_id: spec.account_id.clone(),
        kind,
        email: None,
        accept: None,
        administrator_id: None,
        fresh: true,
    }
}

fn decision(
    f: &RegionFacts,
    action: Option<Action>,
    claim: bool,
    status: Option<RegionStatus>,
    verdict: Verdict,
) -> RegionDecision {
    let aws_error = f.failure.clone().or_else(|| match &f.observed {
        Observed::Failed(failure) => Some(failure.clone()),
        _ => None,
    });
    // A region in its end state shows no refusal from an earlier try.
    let status = status.map(|mut s| {
        if verdict.ready {
            s.processing_result = None;
        }
        s
    });
    RegionDecision {
        region: f.region.clone(),
        action,
        claim,
        withdraw: f.withdrawn,
        status,
        verdict,
        aws_error,
    }
}

/// The status entry from what is known, keeping earlier AWS values when this reconcile
/// could not read them.
fn base_status(f: &RegionFacts, managed: bool) -> RegionStatus {
    let mut status = f.previous.clone().unwrap_or_default();
    status.region = f.region.clone();
    status.managed = managed;
    status.processing_result = processing_result(f);
    if f.observed == Observed::Absent {
        status.member_status = None;
        status.administrator_id = None;
        status.invited_at = None;
        status.updated_at = None;
    }
    status
}

/// A duplicate records nothing of the member, except that it created it (or adopted it)
/// while it owned the account, until the new owner's status holds it.
fn conflict_status(f: &RegionFacts) -> RegionStatus {
    RegionStatus {
        region: f.region.clone(),
        managed: ownership::kept_in_conflict(f),
        ..RegionStatus::default()
    }
}

fn member_status(f: &RegionFacts, m: &ObservedMember, managed: bool) -> RegionStatus {
    let mut status = base_status(f, managed);
    status.member_status = Some(m.status.clone());
    status.administrator_id = m.administrator_id.clone();
    // An answer without InvitedAt keeps the time of the last invitation known.
    status.invited_at = m.invited_at.or(status.invited_at);
    status.updated_at = m.updated_at;
    status
}

/// The last ProcessingResult: this reconcile's if it had one; kept while nothing succeeded
/// since; cleared once an action succeeded.
fn processing_result(f: &RegionFacts) -> Option<String> {
    match &f.failure {
        Some(Failure::Unprocessed { result, .. }) => Some(result.clone()),
        _ if f.attempted.iter().any(|k| *k != ActionKind::Get) => None,
        _ => f.previous.as_ref().and_then(|p| p.processing_result.clone()),
    }
}
