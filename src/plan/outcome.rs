//! Folding what AWS answered back into the facts, so the next planning step of the same
//! reconcile sees the world as it now is without another read where the answer is certain.

use chrono::{DateTime, Utc};

use super::facts::{ActionKind, Failure, Observed, ObservedMember, RegionFacts};
use super::region::is_already_member;

/// How one action ended for one account.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The call succeeded for this account.
    Done,
    /// A read answered.
    Read(Observed),
    /// The call failed, or AWS left this account unprocessed.
    Failed(Failure),
}

/// Records `outcome` of `kind` in `facts`.
pub fn fold(facts: &mut RegionFacts, kind: ActionKind, outcome: Outcome, now: DateTime<Utc>) {
    facts.attempted.push(kind);
    match outcome {
        Outcome::Read(observed) => facts.observed = observed,
        Outcome::Failed(Failure::Unprocessed {
            kind: ActionKind::Create,
            result,
        }) if is_already_member(&result) => {
            // The member exists after all: read it and carry on from what AWS reports.
            facts.observed = Observed::NotRead;
        }
        Outcome::Failed(failure) if kind == ActionKind::Get => facts.observed = Observed::Failed(failure),
        Outcome::Failed(failure) => facts.failure = Some(failure),
        Outcome::Done => facts.observed = after_success(&facts.observed, kind, now),
    }
}

/// What AWS will report after a successful call: certain for invite, disassociate and
/// delete; a create (organization account or not?) or an accept needs a fresh read.
fn after_success(observed: &Observed, kind: ActionKind, now: DateTime<Utc>) -> Observed {
    let with_status = |status: &str, invited: bool| {
        let mut m = match observed {
            Observed::Member(m) => m.clone(),
            _ => ObservedMember::default(),
        };
        m.status = status.to_string();
        m.updated_at = Some(now);
        if invited {
            m.invited_at = Some(now);
        }
        Observed::Member(m)
    };
    match kind {
        ActionKind::Get | ActionKind::Create | ActionKind::Accept => Observed::NotRead,
        ActionKind::Invite => with_status("Invited", true),
        ActionKind::Disassociate => with_status("Removed", false),
        ActionKind::Delete => Observed::Absent,
    }
}
