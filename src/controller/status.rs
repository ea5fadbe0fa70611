//! Status: built from the plan, written by server-side apply with one field manager and
//! only when it differs, and announced by an Event when the Ready condition moves.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::context::Context;
use super::error::Error;
use crate::api::{
    CONDITION_READY, FIELD_MANAGER, Reason, SecurityHubMember, SecurityHubMemberStatus, merge_conditions,
};
use crate::plan::Plan;

/// The status a plan asks for, merged with the current conditions.
pub fn build_status(
    obj: &SecurityHubMember,
    current: &SecurityHubMemberStatus,
    plan: &Plan,
) -> SecurityHubMemberStatus {
    let generation = obj.metadata.generation;
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let mut regions = plan.regions.clone();
    regions.sort_by(|a, b| a.region.cmp(&b.region));
    SecurityHubMemberStatus {
        observed_generation: generation,
        conditions: merge_conditions(&current.conditions, &plan.conditions, generation, now),
        member_status: plan.member_status.clone(),
        region_names: region_names(&regions),
        regions,
    }
}

/// "eu-west-1,us-east-1" for the Regions column; `None` before any region is known.
fn region_names(regions: &[crate::api::RegionStatus]) -> Option<String> {
    (!regions.is_empty()).then(|| regions.iter().map(|r| r.region.as_str()).collect::<Vec<_>>().join(","))
}

/// Writes `status` when it differs from `current`; returns whether it wrote.
pub async fn write_status(
    ctx: &Context,
    obj: &SecurityHubMember,
    current: &SecurityHubMemberStatus,
    status: &SecurityHubMemberStatus,
) -> Result<bool, Error> {
    if status == current {
        return Ok(false);
    }
    let api: Api<SecurityHubMember> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": SecurityHubMember::api_version(&()),
        "kind": SecurityHubMember::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    ctx.metrics.status_written();
    Ok(true)
}

/// Publishes an Event when the Ready condition's reason or status changed.
pub async fn announce(
    ctx: &Context,
    obj: &SecurityHubMember,
    before: &SecurityHubMemberStatus,
    after: &SecurityHubMemberStatus,
) {
    let ready = |s: &SecurityHubMemberStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == CONDITION_READY)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let Some((status, reason, message)) = ready(after) else {
        return;
    };
    if ready(before).is_some_and(|(s, r, _)| s == status && r == reason) {
        return;
    }
    let type_ = if status == "True" || is_progress(&reason) {
        EventType::Normal
    } else {
        EventType::Warning
    };
    publish(ctx, obj, type_, &reason, &message).await;
}

/// Progress reasons are Normal events; every other not-Ready reason is a Warning.
fn is_progress(reason: &str) -> bool {
    [
        Reason::Creating,
        Reason::Inviting,
        Reason::AwaitingAcceptance,
        Reason::Deleting,
        Reason::DryRun,
    ]
    .iter()
    .any(|r| r.as_str() == reason)
}

/// Publishes one Event; failures are logged, never fatal.
pub async fn publish(ctx: &Context, obj: &SecurityHubMember, type_: EventType, reason: &str, message: &str) {
    let note: String = message.chars().take(1000).collect();
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    let recorder = Recorder::new(ctx.client.clone(), ctx.reporter.clone());
    if let Err(e) = recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, name = %obj.name_any(), "cannot publish event");
    }
}
