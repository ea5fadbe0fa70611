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
