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

/// The status last read or written, with the `resourceVersion` it was read or written at.
pub struct Written {
    pub status: SecurityHubMemberStatus,
    resource_version: Option<String>,
}

impl Written {
    /// What the reconcile started from: the object's status as the cache saw it.
    pub fn from_object(obj: &SecurityHubMember) -> Self {
        Self {
            status: obj.status.clone().unwrap_or_default(),
            resource_version: obj.resource_version(),
        }
    }

    /// The `resourceVersion` of the last read or write.
    pub fn resource_version(&self) -> Option<&str> {
        self.resource_version.as_deref()
    }
}

/// Writes `status` when it differs from what was written; returns whether it wrote.
///
/// Every write names the `resourceVersion` it was planned from, so one planned from a stale
/// cache (a watch outage, a new leader) fails with 409 instead of erasing a claim another
/// write recorded; the reconcile then runs again on the fresh object.
pub async fn write_status(
    ctx: &Context,
    obj: &SecurityHubMember,
    written: &mut Written,
    status: &SecurityHubMemberStatus,
) -> Result<bool, Error> {
    if *status == written.status {
        return Ok(false);
    }
    let api: Api<SecurityHubMember> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let patch = status_patch(status, written.resource_version());
    let after = api
        .patch_status(
            &obj.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(|e| Error::from_write(e, &obj.name_any()))?;
    ctx.metrics.status_written();
    written.status = status.clone();
    written.resource_version = after.resource_version();
    Ok(true)
}

/// The server-side apply body: the whole status, preconditioned on `resource_version`.
pub fn status_patch(status: &SecurityHubMemberStatus, resource_version: Option<&str>) -> serde_json::Value {
    let mut patch = json!({
        "apiVersion": SecurityHubMember::api_version(&()),
        "kind": SecurityHubMember::kind(&()),
        "status": status,
    });
    if let Some(rv) = resource_version {
        patch["metadata"] = json!({ "resourceVersion": rv });
    }
    patch
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
