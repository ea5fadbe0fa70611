//! The ownership protocol's imperative half: where a claim is read, made durable, withdrawn
//! and released. The plan decides (`plan::ownership`, and `plan::RegionDecision::{claim,
//! withdraw}`); this module is the only place the shell reads or records those decisions,
//! in status or the claim journal. The
//! states and their transitions are drawn in docs/architecture.md ("Ownership").

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::context::Context;
use super::error::Error;
use super::journal::Entry;
use super::status::{Written, write_status};
use crate::api::{RegionStatus, SecurityHubMember, SecurityHubMemberStatus};
use crate::plan::{Contender, Plan, RegionFacts, handover, ownership, with_journal_claim};

/// A region's facts with what ownership decides: its owner among every resource naming the
/// account (`contenders`: this resource, and all), this resource's record there (status,
/// or a journal entry that status does not show yet) and the hand-over state.
pub fn region_facts(
    ctx: &Context,
    obj: &SecurityHubMember,
    (me, all): (&Contender, &[Contender]),
    region: &str,
    desired: bool,
    mut previous: Option<RegionStatus>,
) -> RegionFacts {
    let here = Contender {
        regions: vec![region.to_string()],
        ..me.clone()
    };
    let owner = ownership(&here, region, all);
    if journaled(ctx, obj, region) {
        previous = Some(with_journal_claim(region, previous));
    }
    let (inherits, owner_holds) = handover(&here, region, all, &owner);
    let mut f = RegionFacts::new(region, desired, owner, previous);
    f.inherits = inherits;
    f.owner_holds = owner_holds;
    f
}

/// After the plan's claims were made durable: the facts see them as this reconcile's own
/// (`claimed` holds the status entries that recorded them).
pub fn mark_claimed(facts: &mut [RegionFacts], planned: &Plan, claimed: &[RegionStatus]) {
    for f in facts.iter_mut().filter(|f| planned.claims.contains(&f.region)) {
        f.previous = claimed.iter().find(|r| r.region == f.region).cloned();
        f.claimed_now = true;
    }
}

/// Whether the journal holds a claim of this resource on `region` that status does not
/// record yet (a crash between CreateMembers and the status write).
fn journaled(ctx: &Context, obj: &SecurityHubMember, region: &str) -> bool {
    let (Some(journal), Some(uid)) = (&ctx.journal, obj.uid()) else {
        return false;
    };
    journal.claimed(&uid, region)
}

/// Makes the plan's claims durable before its calls run: in the journal when each precedes
/// its region's create (the final status write records them later), else by writing
/// `status`, which records them. Returns the status before that write, when there was one.
pub async fn make_durable(
    ctx: &Context,
    obj: &SecurityHubMember,
    written: &mut Written,
    planned: &Plan,
    status: &SecurityHubMemberStatus,
) -> Result<Option<SecurityHubMemberStatus>, Error> {
    if journal(ctx, obj, planned).await {
        return Ok(None);
    }
    let before = written.status.clone();
    write_status(ctx, obj, written, status).await?;
    Ok(Some(before))
}

/// Records the plan's claims in the journal when each precedes its region's create; false
/// (the caller writes them to status) when there is no journal, no create, or it failed.
async fn journal(ctx: &Context, obj: &SecurityHubMember, planned: &Plan) -> bool {
    let (Some(journal), Some(uid)) = (&ctx.journal, obj.uid()) else {
        return false;
    };
    if !planned.claims_precede_creates() {
        return false;
    }
    let entries = planned
        .claims
        .iter()
        .map(|region| Entry {
            uid: uid.clone(),
            region: region.clone(),
            resource_version: obj.resource_version().unwrap_or_default(),
            object: object_key(obj),
            account_id: obj.spec.account_id.clone(),
        })
        .collect();
    match journal.record(entries).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(object = %object_key(obj), error = %e, "claim journal unavailable; writing the claim to status");
            false
        }
    }
}

/// Makes the plan's withdrawals durable before anything else happens: out of the journal,
/// and out of status when status still records the claim. A crash afterwards can then never
/// leave a stranger's member recorded as ours.
pub async fn withdraw(
    ctx: &Context,
    obj: &SecurityHubMember,
    written: &mut Written,
    planned: &Plan,
    facts: &mut [RegionFacts],
) -> Result<(), Error> {
    if planned.withdrawals.is_empty() {
        return Ok(());
    }
    if let (Some(journal), Some(uid)) = (&ctx.journal, obj.uid()) {
        journal.withdraw(&uid, &planned.withdrawals).await?;
    }
    let recorded =
        |s: &SecurityHubMemberStatus, region: &str| s.regions.iter().any(|r| r.region == region && r.managed);
    if planned
        .withdrawals
        .iter()
        .any(|region| recorded(&written.status, region))
    {
        let mut status = written.status.clone();
        for r in status
            .regions
            .iter_mut()
            .filter(|r| planned.withdrawals.contains(&r.region))
        {
            r.managed = false;
        }
        write_status(ctx, obj, written, &status).await?;
    }
    for f in facts.iter_mut() {
        f.withdrawn = false;
    }
    Ok(())
}

/// Before a status write: takes out of the journal every entry of this resource for a region
/// that `status` does not record as ours (withdrawn, cleaned up or dropped), so the entry
/// cannot claim that region again after a restart.
pub async fn release_unrecorded(
    ctx: &Context,
    obj: &SecurityHubMember,
    status: &SecurityHubMemberStatus,
) -> Result<(), Error> {
    let (Some(journal), Some(uid)) = (&ctx.journal, obj.uid()) else {
        return Ok(());
    };
    let unrecorded: Vec<String> = journal
        .held(&uid)
        .into_iter()
        .filter(|region| !status.regions.iter().any(|r| &r.region == region && r.managed))
        .collect();
    Ok(journal.withdraw(&uid, &unrecorded).await?)
}

/// After a status write that records every claim this resource holds: its journal entries
/// are closed (status holds them now).
pub fn close_recorded(ctx: &Context, obj: &SecurityHubMember) {
    if let (Some(journal), Some(uid)) = (&ctx.journal, obj.uid()) {
        journal.close(&uid);
    }
}

/// Once this deleted resource has let go of its account (its finalizer is gone), the other
/// resources naming the account (in Conflict) are woken, so the next in line takes over in
/// seconds rather than at its next resync.
pub fn wake_others_when_gone(ctx: &Context, obj: &SecurityHubMember) {
    let (stores, wake, account, uid) = (
        ctx.stores.clone(),
        ctx.wake.clone(),
        obj.spec.account_id.clone(),
        obj.uid(),
    );
    let me = ObjectRef::from_obj(obj);
    tokio::spawn(async move {
        // The cache drops the resource when the API server deletes it, right after the
        // finalizer goes; give up after a minute (the others' resync still comes).
        for _ in 0..600 {
            let gone = stores.iter().all(|s| s.get(&me).is_none_or(|o| o.uid() != uid));
            if gone {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        for store in &stores {
            for other in store.state_filter(|o| o.spec.account_id == account && o.uid() != uid) {
                let _ = wake.send(ObjectRef::from_obj(&*other));
            }
        }
    });
}

/// After a status write that records a member as this resource's where it did not before,
/// the other resources recording it in that region (a creator handing it over) are woken, so
/// they let go in seconds rather than at their next resync.
pub fn wake_previous_holders(
    ctx: &Context,
    obj: &SecurityHubMember,
    before: &SecurityHubMemberStatus,
    after: &SecurityHubMemberStatus,
) {
    let held = |s: &SecurityHubMemberStatus, region: &str| s.regions.iter().any(|r| r.region == region && r.managed);
    let taken: Vec<&str> = after
        .regions
        .iter()
        .filter(|r| r.managed && !held(before, &r.region))
        .map(|r| r.region.as_str())
        .collect();
    if taken.is_empty() {
        return;
    }
    let (account, uid) = (&obj.spec.account_id, obj.uid());
    for store in &ctx.stores {
        let holders = store.state_filter(|o| {
            &o.spec.account_id == account
                && o.uid() != uid
                && o.status
                    .as_ref()
                    .is_some_and(|s| taken.iter().any(|region| held(s, region)))
        });
        for other in holders {
            let _ = ctx.wake.send(ObjectRef::from_obj(&*other));
        }
    }
}

fn object_key(obj: &SecurityHubMember) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}
