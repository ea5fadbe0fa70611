//! Folding what AWS answered back into the facts, so the next planning step of the same
//! reconcile sees the world as it now is without another read where the answer is certain.

use chrono::{DateTime, Utc};

use super::facts::{ActionKind, Failure, Observed, ObservedMember, OrganizationRole, Refusal, RegionFacts};
use super::ownership;

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
            refusal: Refusal::AlreadyMember,
            ..
        }) => {
            // The member exists after all: read it and carry on from what AWS reports.
            ownership::on_already_member(facts);
            facts.observed = Observed::NotRead;
        }
        Outcome::Failed(failure)
            if kind == ActionKind::Create && ownership::refused_create_owns_nothing(&facts.observed, &failure) =>
        {
            ownership::on_refused_create(facts);
            facts.failure = Some(failure);
        }
        Outcome::Failed(Failure::Unprocessed {
            kind: ActionKind::Invite,
            ..
        }) if invited_unread(facts) => {
            // The member was invited on the assumption that it is `Created` (see
            // `after_success`); AWS refusing the invitation may mean it is an organization
            // account after all. Read it, and let a refusal of a read-back `Created`
            // member count then.
            facts.attempted.pop();
            facts.observed = Observed::NotRead;
        }
        Outcome::Failed(failure) if kind == ActionKind::Get => facts.observed = Observed::Failed(failure),
        Outcome::Failed(failure) => facts.failure = Some(failure),
        Outcome::Done => facts.observed = after_success(facts, kind, now),
    }
}

/// Whether the invitation just recorded followed a create with no read in between.
fn invited_unread(facts: &RegionFacts) -> bool {
    let n = facts.attempted.len();
    n >= 2 && facts.attempted[n - 1] == ActionKind::Invite && facts.attempted[n - 2] == ActionKind::Create
}

/// What AWS will report after a successful call: certain for invite, disassociate and
/// delete, and for a create when the administrator is known not to manage organization
/// accounts here (the member is `Created`: it can be invited without reading it back);
/// any other create (organization account or not?) or an accept needs a fresh read.
fn after_success(facts: &RegionFacts, kind: ActionKind, now: DateTime<Utc>) -> Observed {
    let observed = &facts.observed;
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
        ActionKind::Create if facts.organization == OrganizationRole::NotAdministrator => with_status("Created", false),
        ActionKind::Get | ActionKind::Create | ActionKind::Accept => Observed::NotRead,
        ActionKind::Invite => with_status("Invited", true),
        ActionKind::Disassociate => with_status("Removed", false),
        ActionKind::Delete => Observed::Absent,
    }
}
