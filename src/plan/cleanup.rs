//! Decisions for one region being cleaned up (the resource deleted, or the region dropped
//! from its spec): disassociate, then delete, only what this resource owns, only with
//! deletionPolicy Delete.

use super::decision::{RegionDecision, Verdict, Wait, action, pending, reads_exhausted};
use super::entry::{base_status, conflict_status, member_status};
use super::facts::{ActionKind, Failure, MemberState, Observed, Policy, Refusal, RegionFacts, Spec};
use super::messages::failure_verdict;
use super::ownership;
use crate::api::{DeletionPolicy, Reason};

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
pub(super) fn decide_cleanup(
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
        let verdict = pending(
            Reason::Deleting,
            format!(
                "handing account {acct} in {region} over to SecurityHubMember {owner}, which is older and names it; letting go once its status records the member"
            ),
            policy,
        );
        return RegionDecision::wait(f, conflict_status(f), verdict);
    }
    if !ownership::cleans_up(f) || deletion == DeletionPolicy::Retain {
        return done(f, format!("left account {acct} in {region} as it is in AWS"));
    }
    if let Some(failure) = &f.failure {
        if let Failure::Unprocessed {
            kind: ActionKind::Delete,
            refusal: Refusal::OrganizationAccount,
            ..
        } = failure
        {
            // Organization accounts cannot be deleted; disassociated is as far as AWS goes.
            return done(
                f,
                format!("disassociated account {acct} in {region}; AWS keeps organization accounts"),
            );
        }
        let mut verdict = failure_verdict(spec, f, failure);
        verdict.message = format!("cannot clean up account {acct} in {region}: {}", verdict.message);
        return RegionDecision::wait(f, base_status(f, true), verdict);
    }
    let deleting = |m: String| Verdict {
        ready: false,
        reason: Reason::Deleting,
        message: m,
        wait: Wait::Pending(policy.resync_period_pending),
    };
    let what = match cause {
        CleanupCause::Deleted => "resource deleted",
        CleanupCause::RegionRemoved => "region removed from spec",
    };
    match &f.observed {
        Observed::NotRead => {
            if reads_exhausted(f) {
                return RegionDecision::wait(
                    f,
                    base_status(f, true),
                    deleting(format!("waiting for AWS to report account {acct} in {region}")),
                );
            }
            RegionDecision::act(
                f,
                action(spec, f, ActionKind::Get),
                base_status(f, true),
                deleting(format!("{what}: reading account {acct} in {region}")),
            )
        }
        Observed::Failed(failure) => {
            let verdict = failure_verdict(spec, f, failure);
            RegionDecision::wait(f, base_status(f, true), verdict)
        }
        Observed::Absent => done(f, format!("account {acct} is no longer a member in {region}")),
        Observed::Member(m) => {
            let next = match MemberState::parse(&m.status) {
                MemberState::Deleted => None,
                MemberState::Enabled | MemberState::Invited | MemberState::Unknown => Some(ActionKind::Disassociate),
                _ => Some(ActionKind::Delete),
            };
            match next {
                Some(kind) if !f.attempted.contains(&kind) => RegionDecision::act(
                    f,
                    action(spec, f, kind),
                    member_status(f, m, true),
                    deleting(format!("{what}: {} account {acct} in {region}", kind.operation())),
                ),
                Some(_) => RegionDecision::wait(
                    f,
                    member_status(f, m, true),
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
    RegionDecision::release(
        f,
        Verdict {
            ready: true,
            reason: Reason::Deleting,
            message,
            wait: Wait::Settled,
        },
    )
}
