//! The status entry of one region (`status.regions[]`): what AWS last said, kept where this
//! reconcile could not read it, and whether this resource created or adopted the member.

use super::facts::{ActionKind, Failure, Observed, ObservedMember, RegionFacts};
use super::ownership;
use crate::api::RegionStatus;

/// The status entry from what is known, keeping earlier AWS values when this reconcile
/// could not read them.
pub(super) fn base_status(f: &RegionFacts, managed: bool) -> RegionStatus {
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
pub(super) fn conflict_status(f: &RegionFacts) -> RegionStatus {
    RegionStatus {
        region: f.region.clone(),
        managed: ownership::kept_in_conflict(f),
        ..RegionStatus::default()
    }
}

pub(super) fn member_status(f: &RegionFacts, m: &ObservedMember, managed: bool) -> RegionStatus {
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
