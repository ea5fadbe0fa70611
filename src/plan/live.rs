//! Decisions for one region of a live resource, by what AWS reports of the member; each
//! case is a row of the behaviour table in `src/plan/tests.rs`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::cleanup::{CleanupCause, decide_cleanup};
use super::decision::{RegionDecision, Verdict, action, pending, reads_exhausted, reread, settled, waiting};
use super::entry::{base_status, conflict_status, member_status};
use super::facts::{
    ActionKind, Failure, MemberState, Observed, ObservedMember, Ownership, Policy, Refusal, RegionFacts, Spec,
};
use super::messages::{KEPT_NOTE, failure_verdict};
use super::ownership;
use crate::api::{Reason, ReinvitePolicy};

/// Decides one desired or removed region of a live resource.
pub fn decide(spec: &Spec, f: &RegionFacts, policy: &Policy, now: DateTime<Utc>) -> RegionDecision {
    let mut d = decide_region(spec, f, policy, now);
    if f.desired && f.kept {
        d.verdict.message.push_str(KEPT_NOTE);
    }
    d
}

fn decide_region(spec: &Spec, f: &RegionFacts, policy: &Policy, now: DateTime<Utc>) -> RegionDecision {
    if !f.desired {
        return decide_cleanup(spec, f, spec.deletion_policy, policy, CleanupCause::RegionRemoved);
    }
    if let Ownership::Conflict { owner } = &f.ownership {
        let verdict = pending(
            Reason::Conflict,
            format!(
                "account {} in {} is managed by SecurityHubMember {owner}, which is older; this resource changes nothing in AWS. Delete this duplicate, or delete {owner} to hand the account over",
                spec.account_id, f.region
            ),
            policy,
        );
        return RegionDecision::wait(f, conflict_status(f), verdict);
    }
    if let Some(failure) = blocking_failure(f) {
        let verdict = failure_verdict(spec, f, failure);
        return RegionDecision::wait(f, base_status(f, f.managed()), verdict);
    }
    match &f.observed {
        Observed::NotRead => read(spec, f, policy),
        Observed::Failed(failure) => {
            let verdict = failure_verdict(spec, f, failure);
            RegionDecision::wait(f, base_status(f, f.managed()), verdict)
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
    matches!(
        failure,
        Failure::Unprocessed {
            kind: ActionKind::Invite,
            refusal: Refusal::OrganizationAccount,
            ..
        }
    )
}

fn read(spec: &Spec, f: &RegionFacts, policy: &Policy) -> RegionDecision {
    if reads_exhausted(f) {
        let verdict = waiting(
            Reason::Creating,
            format!("waiting for AWS to report account {} in {}", spec.account_id, f.region),
            reread(policy),
        );
        return RegionDecision::wait(f, base_status(f, f.managed()), verdict);
    }
    let verdict = pending(Reason::Creating, "reading the member from AWS".into(), policy);
    let mut get = action(spec, f, ActionKind::Get);
    get.fresh = f.managed();
    RegionDecision::act(f, get, base_status(f, f.managed()), verdict)
}

fn decide_absent(spec: &Spec, f: &RegionFacts, policy: &Policy) -> RegionDecision {
    if f.attempted.contains(&ActionKind::Create) {
        let verdict = waiting(
            Reason::Creating,
            format!(
                "CreateMembers accepted account {} in {}; waiting for AWS to list it",
                spec.account_id, f.region
            ),
            reread(policy),
        );
        return RegionDecision::wait(f, base_status(f, true), verdict);
    }
    let claim = ownership::claims_on_create(f, policy);
    let mut create = action(spec, f, ActionKind::Create);
    create.email = spec.email.clone();
    let verdict = pending(
        Reason::Creating,
        format!("creating the membership of account {} in {}", spec.account_id, f.region),
        policy,
    );
    let mut status = base_status(f, f.managed() || claim);
    status.member_status = None;
    RegionDecision::act(f, create, status, verdict).claiming(claim)
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
            return RegionDecision::wait(f, member_status(f, m, false), verdict);
        }
        let verdict = pending(
            Reason::AlreadyExists,
            format!(
                "account {} is already a member in {} (status {}) and this resource did not create it; nothing was changed. Set spec.adopt: true to manage it",
                spec.account_id, f.region, m.status
            ),
            policy,
        );
        return RegionDecision::wait(f, member_status(f, m, false), verdict);
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
    RegionDecision::step(f, act, status, verdict).claiming(claim)
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
            pending(
                Reason::Inviting,
                format!("invitation to account {acct} in {region} sent; waiting for AWS to report it"),
                policy,
            ),
        ),
        MemberState::Created => (
            Some(ActionKind::Invite),
            pending(Reason::Inviting, format!("inviting account {acct} in {region}"), policy),
        ),
        MemberState::Invited => invited_step(spec, f, policy),
        MemberState::Removed => removed_step(spec, f, policy),
        MemberState::Resigned => resigned_step(spec, f, m, policy, now),
        MemberState::AccountSuspended => (
            None,
            pending(
                Reason::AccountSuspended,
                format!("account {acct} is suspended in AWS Organizations; nothing can be done until it is reinstated"),
                policy,
            ),
        ),
        MemberState::Deleted => (
            None,
            pending(
                Reason::Deleted,
                format!(
                    "account {acct} was deleted as a member in {region} and this resource did not create it; set spec.adopt: true to add it again"
                ),
                policy,
            ),
        ),
        MemberState::Unknown => (
            None,
            pending(
                Reason::UnknownMemberStatus,
                format!(
                    "AWS reports member status {:?} for account {acct} in {region}, which this operator does not know; nothing was changed",
                    m.status
                ),
                policy,
            ),
        ),
    }
}

fn invited_step(spec: &Spec, f: &RegionFacts, policy: &Policy) -> (Option<ActionKind>, Verdict) {
    let acct = &spec.account_id;
    match &spec.accept {
        Some(accept) if !f.attempted.contains(&ActionKind::Accept) => (
            Some(ActionKind::Accept),
            pending(
                Reason::AwaitingAcceptance,
                format!("accepting the invitation in account {acct} through {}", accept.role_arn),
                policy,
            ),
        ),
        Some(_) => (
            None,
            waiting(
                Reason::AwaitingAcceptance,
                format!("invitation accepted in account {acct}; waiting for AWS to report it Enabled"),
                reread(policy),
            ),
        ),
        None => (
            None,
            pending(
                Reason::AwaitingAcceptance,
                format!(
                    "account {acct} is invited in {}; its owner must accept the invitation (or set spec.acceptInvitation)",
                    f.region
                ),
                policy,
            ),
        ),
    }
}

fn removed_step(spec: &Spec, f: &RegionFacts, policy: &Policy) -> (Option<ActionKind>, Verdict) {
    let acct = &spec.account_id;
    if spec.reinvite == ReinvitePolicy::Never || !spec.invite {
        let verdict = pending(
            Reason::Removed,
            format!(
                "account {acct} was removed (disassociated) in {}; reinvite: Never / invite: false, so it is not invited again. Set reinvite: Removed to invite it again",
                f.region
            ),
            policy,
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
                reread(policy),
            ),
        );
    }
    if f.failure.as_ref().is_some_and(refused_as_organization_account) {
        // Organization accounts are never invited: CreateMembers enables them again.
        return (
            Some(ActionKind::Create),
            pending(
                Reason::Inviting,
                format!(
                    "account {acct} is an organization account removed in {}; adding it again",
                    f.region
                ),
                policy,
            ),
        );
    }
    if f.attempted.contains(&ActionKind::Invite) {
        return (
            None,
            pending(
                Reason::Inviting,
                format!("invited account {acct} again; waiting for AWS to report it"),
                policy,
            ),
        );
    }
    (
        Some(ActionKind::Invite),
        pending(
            Reason::Inviting,
            format!("account {acct} was removed in {}; inviting it again", f.region),
            policy,
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
            pending(
                Reason::Resigned,
                format!(
                    "account {acct} declined the invitation or left in {region}; it is not invited again unless spec.reinvite is Always"
                ),
                policy,
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
                    left.min(policy.resync_period_pending).max(Duration::from_secs(1)),
                ),
            )
        }
        _ if f.attempted.contains(&ActionKind::Invite) => (
            None,
            pending(
                Reason::Resigned,
                format!("account {acct} resigned in {region}; invited it again"),
                policy,
            ),
        ),
        _ => (
            Some(ActionKind::Invite),
            pending(
                Reason::Inviting,
                format!("account {acct} resigned in {region}; inviting it again (reinvite: Always)"),
                policy,
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
