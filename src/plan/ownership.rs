//! The ownership protocol's decisions: one owner per (account, region) — the oldest
//! resource naming it, so a duplicate can never take over, disassociate or delete someone
//! else's member — and when a claim is made, withdrawn, handed over and released. The shell
//! records these decisions only through `controller::claims`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::facts::{Failure, MemberState, Observed, Ownership, Policy, RegionFacts, Spec};
use crate::api::RegionStatus;

/// A resource contending for an account: what ownership reads of it from the cluster cache.
/// (A *claim*, elsewhere, is the durable created-by-us mark in status or the journal.)
#[derive(Clone, Debug, PartialEq)]
pub struct Contender {
    pub namespace: String,
    pub name: String,
    pub created: Option<Time>,
    pub account_id: String,
    /// The regions the resource manages (its spec, or the operator default).
    pub regions: Vec<String>,
    /// The regions its status records as created or adopted by it (`managed`).
    pub managed: Vec<String>,
}

impl Contender {
    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Oldest first; a missing timestamp sorts last; then namespace/name breaks ties.
    fn seniority(&self) -> (bool, Option<&Time>, String) {
        (self.created.is_none(), self.created.as_ref(), self.key())
    }
}

/// Who owns `me`'s account in `region`, among every contender in the cluster (including `me`).
pub fn ownership(me: &Contender, region: &str, all: &[Contender]) -> Ownership {
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
pub fn handover(me: &Contender, region: &str, all: &[Contender], owner: &Ownership) -> (bool, bool) {
    let records = |c: &Contender| c.account_id == me.account_id && c.managed.iter().any(|r| r == region);
    match owner {
        Ownership::Owner => (all.iter().any(|c| c.key() != me.key() && records(c)), false),
        Ownership::Conflict { owner } => (false, all.iter().any(|c| &c.key() == owner && records(c))),
    }
}

// The claim's life, as pure decisions (drawn in docs/architecture.md, "Ownership"):
// claimed before the create or adoption that makes the member ours, made durable by the
// shell (status or the claim journal), withdrawn when AWS certainly did not add the member
// or it predates the claim, handed over to an older resource that takes the region, and
// released when its clean-up is done or its policy retains the member.

/// A first create claims the region, unless it is already ours or nothing is written.
pub fn claims_on_create(f: &RegionFacts, policy: &Policy) -> bool {
    !f.managed() && !policy.dry_run
}

/// Whether this resource takes an existing member as its own: `spec.adopt`, or a member
/// the previous owner created passing to this one.
pub fn adopts(spec: &Spec, f: &RegionFacts) -> bool {
    spec.adopt || f.inherits
}

/// An adoption claims the region when the member is not ours yet.
pub fn claims_on_adoption(spec: &Spec, f: &RegionFacts, policy: &Policy) -> bool {
    !f.managed() && adopts(spec, f) && !policy.dry_run
}

/// The older owner this resource must hand its member over to before letting go: it
/// created the member, and the owner's status does not record it yet.
pub fn handing_over(f: &RegionFacts) -> Option<&str> {
    match &f.ownership {
        Ownership::Conflict { owner } if f.managed() && !f.owner_holds => Some(owner),
        _ => None,
    }
}

/// What a resource in Conflict keeps recording: `managed` until the owner holds the member.
pub fn kept_in_conflict(f: &RegionFacts) -> bool {
    f.managed() && !f.owner_holds
}

/// Whether a clean-up removes the member: ours, and this resource is its owner. Anything
/// else is released without a call.
pub fn cleans_up(f: &RegionFacts) -> bool {
    f.managed() && f.ownership == Ownership::Owner
}

/// `previous` with the claim a journal entry holds (a crash between the create and the
/// status write that would have recorded it).
pub fn with_journal_claim(region: &str, previous: Option<RegionStatus>) -> RegionStatus {
    let mut claimed = previous.unwrap_or_else(|| RegionStatus {
        region: region.to_string(),
        ..RegionStatus::default()
    });
    claimed.managed = true;
    claimed
}

/// After CreateMembers answered "already a member": a claim made in this reconcile predates
/// nothing (the member was added by someone else after our last read; a create is never
/// sent twice, see `securityhub::sdk`), so it is withdrawn and the member treated as
/// existing (AlreadyExists, or adopted with spec.adopt).
pub fn on_already_member(facts: &mut RegionFacts) {
    if std::mem::take(&mut facts.claimed_now) {
        withdraw(facts);
    }
}

/// Whether a failed create leaves nothing in AWS that is ours: it was planned from a read
/// that found no member, and AWS certainly did not apply it. A create of unknown outcome
/// (5xx, timeout) may have added the member: its claim stands, and the next read decides.
pub fn refused_create_owns_nothing(observed: &Observed, failure: &Failure) -> bool {
    nothing_to_own(observed) && failure.certainly_not_applied()
}

/// After a create that owns nothing: the claim is withdrawn, since someone else may add the
/// account later and it must not look like ours.
pub fn on_refused_create(facts: &mut RegionFacts) {
    facts.claimed_now = false;
    withdraw(facts);
}

/// Whether AWS held no member before a create: absent, or deleted (re-added as new).
fn nothing_to_own(observed: &Observed) -> bool {
    match observed {
        Observed::Absent => true,
        Observed::Member(m) => MemberState::parse(&m.status) == MemberState::Deleted,
        _ => false,
    }
}

/// Takes back this resource's claim on the region (see [`RegionFacts::withdrawn`]).
fn withdraw(facts: &mut RegionFacts) {
    if let Some(previous) = facts.previous.as_mut()
        && previous.managed
    {
        previous.managed = false;
        facts.withdrawn = true;
    }
}
