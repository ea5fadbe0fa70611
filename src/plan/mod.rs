//! The functional core: every decision the operator makes, as pure functions of what
//! the resource asks for and what AWS and the cluster report. No I/O, no clocks: time
//! comes in as an argument so every row of the behaviour table is a unit test.
//!
//! One reconcile may call [`plan`] several times: observe, plan, act, fold the
//! outcomes back into the facts, plan again, until no action is left. The last plan's
//! status is written once.

mod cleanup;
mod decision;
mod entry;
mod facts;
mod live;
mod messages;
mod outcome;
mod ownership;
mod summary;

#[cfg(test)]
mod tests;

pub use decision::{Action, RegionDecision, Verdict, Wait};
pub use facts::{
    ActionKind, ErrorClass, Failure, MemberState, Observed, ObservedMember, OrganizationRole, Ownership, Policy,
    Refusal, RegionFacts, Spec,
};
pub use live::reinvite_backoff;
pub use messages::failure_verdict;
pub use outcome::{Outcome, fold};
pub use ownership::{Contender, handover, ownership, with_journal_claim};
pub use summary::{Requeue, TERMINAL_BACKOFF_CAP, TRANSIENT_BACKOFF_CAP, member_status_summary};

use chrono::{DateTime, Utc};

use crate::api::{DesiredCondition, RegionStatus};

/// What one planning step decided for a whole resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// AWS calls to make now (empty in dry-run mode, where they are only reported).
    pub actions: Vec<Action>,
    /// Regions whose status must record `managed: true` before the actions run, so a crash
    /// between the AWS call and the status write cannot turn our own member into a stranger.
    pub claims: Vec<String>,
    /// Regions whose claim this reconcile withdrew (the create certainly did not happen, or
    /// the member predates the claim): the shell takes them back from status and the journal
    /// before anything else, so a stranger's member is never recorded as ours.
    pub withdrawals: Vec<String>,
    /// The per-region status to write.
    pub regions: Vec<RegionStatus>,
    /// Ready and Synced.
    pub conditions: Vec<DesiredCondition>,
    /// The one-word summary for the Member Status column.
    pub member_status: Option<String>,
    /// When to look again.
    pub requeue: Requeue,
    /// True when every region reached its end state and nothing is left to do.
    pub ready: bool,
}

impl Plan {
    /// Every claim is followed by a CreateMembers for its region in this very plan: the only
    /// moment a claim must be durable is before that create, so a journal entry can stand in
    /// for the status write until the reconcile writes its final status. A claim with no create
    /// (an adoption) has nothing to protect in between and keeps its status write.
    pub fn claims_precede_creates(&self) -> bool {
        !self.claims.is_empty()
            && self.claims.iter().all(|region| {
                self.actions
                    .iter()
                    .any(|a| a.kind == ActionKind::Create && &a.region == region)
            })
    }
}

/// Plans a live resource: for each region, decide, then summarise.
pub fn plan(spec: &Spec, facts: &[RegionFacts], policy: &Policy, now: DateTime<Utc>) -> Plan {
    let decisions: Vec<RegionDecision> = facts.iter().map(|f| live::decide(spec, f, policy, now)).collect();
    summary::assemble(decisions, policy, false)
}

/// Plans the clean-up of a resource that is being deleted.
pub fn plan_deletion(spec: &Spec, facts: &[RegionFacts], policy: &Policy) -> Plan {
    let decisions: Vec<RegionDecision> = facts
        .iter()
        .map(|f| cleanup::decide_deletion(spec, f, policy))
        .collect();
    summary::assemble(decisions, policy, true)
}
