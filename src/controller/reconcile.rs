//! One reconcile: observe, plan, act (possibly a few rounds), write status once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::{self, BoxFuture, Either};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Api, ResourceExt};

use super::claims;
use super::context::Context;
use super::error::Error;
use super::execute::{execute, promise};
use super::status::{Written, announce, build_status, publish, write_status};
use crate::api::{FINALIZER, SecurityHubMember, SecurityHubMemberSpec, SecurityHubMemberStatus};
use crate::plan::{self, Plan, RegionFacts, Requeue, Spec};

/// Planning rounds per reconcile: read, create, re-read, invite, with room to spare.
const MAX_ROUNDS: usize = 6;

/// The controller's reconcile function.
pub async fn reconcile(obj: Arc<SecurityHubMember>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Ownership is decided among the resources of every watched namespace; a reconcile that ran
    // while another namespace's cache was still empty would see no older claimant and act as
    // the owner of a member that is not its own.
    if !ctx.caches_synced().await {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let started = Instant::now();
    let api: Api<SecurityHubMember> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let key = object_key(&obj);
    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(o) => apply(&o, &ctx).await,
            Finalizer::Cleanup(o) => cleanup(&o, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    let label = match &result {
        Ok(_) => "ok",
        Err(e) => e.metric_label(),
    };
    ctx.metrics.reconciled(label, started.elapsed());
    if let Err(e) = &result {
        tracing::warn!(object = %key, error = %e, "reconcile failed");
    }
    result
}

/// Requeue after an error, with per-object exponential backoff.
pub fn error_policy(obj: Arc<SecurityHubMember>, _error: &Error, ctx: Arc<Context>) -> Action {
    Action::requeue(ctx.backoff(&object_key(&obj), crate::plan::TRANSIENT_BACKOFF_CAP))
}

fn object_key(obj: &SecurityHubMember) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

fn plan_spec(spec: &SecurityHubMemberSpec) -> Spec {
    Spec {
        account_id: spec.account_id.clone(),
        email: spec.email.clone(),
        invite: spec.invite,
        reinvite: spec.reinvite,
        adopt: spec.adopt,
        deletion_policy: spec.deletion_policy,
        accept: spec.accept_invitation.clone(),
    }
}

/// Facts for every desired region plus every region still in status but no longer desired.
fn initial_facts(obj: &SecurityHubMember, ctx: &Context, deleting: bool) -> Vec<RegionFacts> {
    let status = obj.status.clone().unwrap_or_default();
    let desired = ctx.regions_of(obj);
    let kept = ctx.kept_regions(obj);
    let me = ctx.contender_of(obj);
    let all = ctx.contenders_for(&obj.spec.account_id);
    let mut regions: Vec<String> = desired.clone();
    regions.extend(
        status
            .regions
            .iter()
            .map(|r| r.region.clone())
            .filter(|r| !desired.contains(r)),
    );
    regions.sort();
    regions.dedup();
    regions
        .into_iter()
        .map(|region| {
            let previous = status.regions.iter().find(|r| r.region == region).cloned();
            let desired_here = !deleting && desired.contains(&region);
            let mut f = claims::region_facts(ctx, obj, (&me, &all), &region, desired_here, previous);
            f.kept = kept.contains(&region);
            f
        })
        .collect()
}

/// Plans and acts until nothing is left to do; claims are recorded in status before acting.
async fn converge(
    obj: &SecurityHubMember,
    ctx: &Context,
    written: &mut Written,
    deleting: bool,
) -> Result<Plan, Error> {
    let spec = plan_spec(&obj.spec);
    let mut facts = initial_facts(obj, ctx, deleting);
    let decide = |facts: &[RegionFacts]| {
        if deleting {
            plan::plan_deletion(&spec, facts, &ctx.policy)
        } else {
            plan::plan(&spec, facts, &ctx.policy, Utc::now())
        }
    };
    let mut planned = decide(&facts);
    // The claim's Event goes out while the calls run, neither waiting for the other.
    let mut event: Option<BoxFuture<'_, ()>> = None;
    for _ in 0..MAX_ROUNDS {
        let mut promises = Vec::new();
        if !planned.claims.is_empty() {
            // The calls after this write are announced first, so their batches wait for them.
            promises = promise(ctx, &planned.actions);
            let status = build_status(obj, &written.status, &planned);
            let claimed = status.regions.clone();
            // Events announce status transitions, so a claim that never reached status (a
            // journal entry stands in for it) has none.
            if let Some(before) = claims::make_durable(ctx, obj, written, &planned, &status).await? {
                // A second claim in one reconcile (re-adopting after a withdrawn claim) lets
                // the first claim's Event finish first rather than dropping it.
                if let Some(pending) = event.take() {
                    pending.await;
                }
                event = Some(Box::pin(async move { announce(ctx, obj, &before, &status).await }));
            }
            claims::mark_claimed(&mut facts, &planned, &claimed);
        }
        if planned.actions.is_empty() {
            break;
        }
        let run = execute(ctx, planned.actions.clone(), promises, &mut facts);
        event = finish_beside(event, run).await;
        planned = decide(&facts);
        claims::withdraw(ctx, obj, written, &planned, &mut facts).await?;
    }
    if let Some(pending) = event {
        pending.await;
    }
    Ok(planned)
}

/// Runs `run` while a pending Event goes out; returns the Event if it is still pending.
async fn finish_beside<'a>(
    event: Option<BoxFuture<'a, ()>>,
    run: impl std::future::Future<Output = ()>,
) -> Option<BoxFuture<'a, ()>> {
    match event {
        None => {
            run.await;
            None
        }
        Some(pending) => match future::select(Box::pin(run), pending).await {
            Either::Left(((), pending)) => Some(pending),
            Either::Right(((), run)) => {
                run.await;
                None
            }
        },
    }
}

async fn apply(obj: &SecurityHubMember, ctx: &Context) -> Result<Action, Error> {
    let mut written = Written::from_object(obj);
    let before = written.status.clone();
    let planned = converge(obj, ctx, &mut written, false).await?;
    let status = build_status(obj, &written.status, &planned);
    let previous = written.status.clone();
    claims::release_unrecorded(ctx, obj, &status).await?;
    write_status(ctx, obj, &mut written, &status).await?;
    claims::close_recorded(ctx, obj);
    claims::wake_previous_holders(ctx, obj, &before, &status);
    announce(ctx, obj, &before, &status).await;
    report_aws_errors(ctx, obj, &previous, &status).await;
    Ok(requeue(ctx, obj, planned.requeue))
}

async fn cleanup(obj: &SecurityHubMember, ctx: &Context) -> Result<Action, Error> {
    let mut written = Written::from_object(obj);
    let before = written.status.clone();
    let planned = converge(obj, ctx, &mut written, true).await?;
    if planned.ready || ctx.policy.dry_run {
        confirm_fresh(obj, ctx, &written).await?;
        if ctx.policy.dry_run && !planned.ready {
            publish(
                ctx,
                obj,
                EventType::Normal,
                "DryRun",
                "dry run: the membership was left in AWS; removing the finalizer",
            )
            .await;
        }
        // The resource is about to go: its journal entries go with it (see
        // `Journal::collect_garbage`), and the others naming the account are woken once
        // it is gone.
        claims::wake_others_when_gone(ctx, obj);
        ctx.reset_backoff(&object_key(obj));
        return Ok(Action::await_change());
    }
    let status = build_status(obj, &written.status, &planned);
    claims::release_unrecorded(ctx, obj, &status).await?;
    write_status(ctx, obj, &mut written, &status).await?;
    claims::close_recorded(ctx, obj);
    announce(ctx, obj, &before, &status).await;
    let message = status
        .conditions
        .iter()
        .find(|c| c.type_ == crate::api::CONDITION_READY)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    Err(Error::CleanupPending(message))
}

/// Before the finalizer goes, the resource as the API server has it now must be the one the
/// clean-up was planned from: a cache that lags behind a status write recording a claim
/// would otherwise release the resource and orphan the member.
async fn confirm_fresh(obj: &SecurityHubMember, ctx: &Context, written: &Written) -> Result<(), Error> {
    let api: Api<SecurityHubMember> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let Some(now) = api.get_opt(&obj.name_any()).await? else {
        return Ok(());
    };
    if now.uid() != obj.uid() || now.resource_version().as_deref() == written.resource_version() {
        return Ok(());
    }
    Err(Error::Stale(obj.name_any()))
}

/// A Warning Event for each AWS error that reached status (Synced False).
async fn report_aws_errors(
    ctx: &Context,
    obj: &SecurityHubMember,
    before: &SecurityHubMemberStatus,
    after: &SecurityHubMemberStatus,
) {
    let synced = |s: &SecurityHubMemberStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == crate::api::CONDITION_SYNCED)
            .cloned()
    };
    if let Some(c) = synced(after).filter(|c| c.status == "False") {
        let changed = synced(before).is_none_or(|b| b.message != c.message || b.status != c.status);
        if changed {
            publish(ctx, obj, EventType::Warning, &c.reason, &c.message).await;
        }
    }
}

fn requeue(ctx: &Context, obj: &SecurityHubMember, requeue: Requeue) -> Action {
    let key = object_key(obj);
    match requeue {
        Requeue::After(d) => {
            ctx.reset_backoff(&key);
            Action::requeue(d.max(Duration::from_secs(1)))
        }
        Requeue::Backoff { cap } => Action::requeue(ctx.backoff(&key, cap)),
    }
}
