//! One owner per (account, region): the oldest resource claiming it, so a duplicate can
//! never take over, disassociate or delete someone else's member.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::facts::Ownership;

/// A resource's claim on an account, as read from the cluster cache.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    pub namespace: String,
    pub name: String,
    pub created: Option<Time>,
    pub account_id: String,
    /// The regions the resource manages (its spec, or the operator default).
    pub regions: Vec<String>,
    /// The regions its status records as created or adopted by it (`managed`).
    pub managed: Vec<String>,
}

impl Claim {
    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Oldest first; a missing timestamp sorts last; then namespace/name breaks ties.
    fn seniority(&self) -> (bool, Option<&Time>, String) {
        (self.created.is_none(), self.created.as_ref(), self.key())
    }
}

/// Who owns `me`'s account in `region`, among every claim in the cluster (including `me`).
pub fn ownership(me: &Claim, region: &str, all: &[Claim]) -> Ownership {
    let owner = all
        .iter()
        .filter(|c| c.account_id == me.account_id && c.regions.iter().any(|r| r == region))
        .chain(std::iter::once(me))
        .min_by(|a, b| a.seniority().cmp(&b.seniority()));
    match owner {
        Some(o) if o.key() != me.key() => Ownership::Conflict { owner: o.key() },
        _ => Ownership::Owner,
    }
}

/// How a member created under one resource passes to another that became its owner (an
/// older resource that added the region to its spec): `(inherits, owner_holds)` for
/// [`super::RegionFacts`]. The owner inherits a member another claimant records as its own;
/// the claimant in Conflict keeps its record until the owner's status holds it, so the duty
/// to clean the member up is never dropped on the way.
pub fn handover(me: &Claim, region: &str, all: &[Claim], owner: &Ownership) -> (bool, bool) {
    let records = |c: &Claim| c.account_id == me.account_id && c.managed.iter().any(|r| r == region);
    match owner {
        Ownership::Owner => (all.iter().any(|c| c.key() != me.key() && records(c)), false),
        Ownership::Conflict { owner } => (false, all.iter().any(|c| &c.key() == owner && records(c))),
    }
}
