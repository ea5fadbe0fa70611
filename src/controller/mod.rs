//! The kube shell: kube-runtime Controllers over SecurityHubMember (all namespaces or the
//! watched ones), sharing one context, one batcher and one set of caches.

mod claims;
mod context;
mod error;
mod execute;
mod journal;
mod reconcile;
mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Predicate, WatchStreamExt, predicates, reflector, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::mpsc;

pub use context::Context;
pub use error::Error;
use journal::Journal;
pub use reconcile::{error_policy, reconcile};
pub use status::status_patch;

use crate::api::SecurityHubMember;
use crate::config::RunArgs;
use crate::securityhub::{Batcher, MemberSide, MembershipApi, OrganizationRoles, RateLimiter};
use crate::telemetry::{Health, Metrics};

/// What the controllers need from the process.
pub struct Wiring {
    pub client: Client,
    pub api: Arc<dyn MembershipApi>,
    pub member_side: Arc<dyn MemberSide>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

/// Runs the controllers until `shutdown` resolves.
pub async fn run_controllers(
    args: &RunArgs,
    wiring: Wiring,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let Wiring {
        client,
        api,
        member_side,
        metrics,
        health,
    } = wiring;
    let limiter = Arc::new(RateLimiter::new(args.api_rate, args.api_burst));
    let roles = Arc::new(OrganizationRoles::new(api.clone(), limiter.clone(), metrics.clone()));
    let batcher = Arc::new(Batcher::new(api, limiter, metrics.clone(), args.batch()));
    let apis: Vec<Api<SecurityHubMember>> = if args.watch_namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        args.watch_namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    };
    let config = ControllerConfig::default().concurrency(args.concurrency);
    let controllers: Vec<_> = apis
        .into_iter()
        .map(|api| controller_for(api).with_config(config.clone()))
        .collect();
    let stores: Vec<_> = controllers.iter().map(|c| c.store()).collect();
    let (wake, wakes) = mpsc::unbounded_channel();
    let reporter = Reporter {
        controller: "securityhub-operator".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let journal = open_journal(args, &client, &metrics).await;
    let ctx = Arc::new(Context {
        client: client.clone(),
        stores: stores.clone(),
        batcher,
        roles,
        journal,
        member_side,
        policy: args.policy(),
        default_regions: args.regions.clone(),
        metrics: metrics.clone(),
        reporter,
        failures: Default::default(),
        wake,
    });
    tokio::spawn(mark_ready(stores, health));
    tokio::spawn(count_members(ctx.clone()));
    tokio::spawn(collect_journal_garbage(ctx.clone()));
    let shutdown = futures::future::FutureExt::shared(Box::pin(shutdown));
    let fanout = fan_out(wakes, args.watch_namespaces.clone());
    let runs = controllers.into_iter().zip(fanout).map(|(controller, wakes)| {
        controller
            .reconcile_on(wakes)
            .graceful_shutdown_on(shutdown.clone())
            .run(reconcile, error_policy, ctx.clone())
            .for_each(|result| async move {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "controller event");
                }
            })
    });
    futures::future::join_all(runs).await;
}

/// A controller triggered by changes of the spec (generation), of deletion (which bumps
/// the generation) and of the finalizers, but not by status writes: each reconcile writes
/// status itself and already asks for its own requeue, so the watch event of its own
/// status write would only cost another reconcile with another GetMembers. The cache
/// keeps objects without managedFields.
fn controller_for(api: Api<SecurityHubMember>) -> Controller<SecurityHubMember> {
    let (reader, writer) = reflector::store();
    let trigger = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        // Nothing reads managedFields; without them a cached object is a fraction of the size.
        .modify(|o| o.managed_fields_mut().clear())
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            predicates::generation.combine(predicates::finalizers),
            Default::default(),
        );
    Controller::for_stream(trigger, reader)
}

/// Splits wake-ups to the controller watching each object's namespace.
fn fan_out(
    mut wakes: mpsc::UnboundedReceiver<ObjectRef<SecurityHubMember>>,
    namespaces: Vec<String>,
) -> Vec<impl futures::Stream<Item = ObjectRef<SecurityHubMember>> + Send + 'static> {
    let count = namespaces.len().max(1);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..count).map(|_| mpsc::unbounded_channel()).unzip();
    tokio::spawn(async move {
        while let Some(r) = wakes.recv().await {
            let index = namespaces
                .iter()
                .position(|ns| Some(ns) == r.namespace.as_ref())
                .unwrap_or(0);
            let _ = senders[index].send(r);
        }
    });
    receivers
        .into_iter()
        .map(|rx| futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) }))
        .collect()
}

/// Ready once every cache has its first full list.
async fn mark_ready(stores: Vec<kube::runtime::reflector::Store<SecurityHubMember>>, health: Arc<Health>) {
    if all_synced(&stores).await {
        tracing::info!("caches synced; ready");
        health.set_ready(true);
    }
}

/// Waits for every cache's first full list; false if one never comes.
///
/// kube-runtime's readiness future wakes only its latest waiter (the controller's own),
/// so poll it with a timeout instead of waiting on it alone.
async fn all_synced(stores: &[kube::runtime::reflector::Store<SecurityHubMember>]) -> bool {
    for store in stores {
        loop {
            match tokio::time::timeout(Duration::from_millis(250), store.wait_until_ready()).await {
                Ok(Ok(())) => break,
                Ok(Err(_)) => return false,
                Err(_) => continue,
            }
        }
    }
    true
}

/// The claim journal with what an earlier process left in it; `None` when it is off or
/// cannot be read (claims then go to status one by one, as without it).
async fn open_journal(args: &RunArgs, client: &Client, metrics: &Arc<Metrics>) -> Option<Journal> {
    if !args.claim_journal {
        return None;
    }
    let namespace = args.operator_namespace();
    let journal = Journal::start(client.clone(), &namespace, &args.leader_election_id, metrics.clone());
    match journal.load().await {
        Ok(n) => {
            tracing::info!(%namespace, entries = n, "claim journal opened");
            Some(journal)
        }
        Err(e) => {
            tracing::warn!(%namespace, error = %e, "cannot read the claim journal (ConfigMaps); claims are written to status one by one");
            None
        }
    }
}

/// Every few minutes, once the caches are synced, closes journal entries whose resource is
/// gone or whose status records the claim (a crash after the status write, or a resource
/// deleted mid-claim).
async fn collect_journal_garbage(ctx: Arc<Context>) {
    let Some(journal) = &ctx.journal else { return };
    if !all_synced(&ctx.stores).await {
        return;
    }
    loop {
        tokio::time::sleep(Duration::from_secs(300)).await;
        // Usually nothing is open: no need to index 10,000 cached objects for it.
        if journal.is_empty() {
            continue;
        }
        let mut managed = std::collections::HashMap::new();
        for store in &ctx.stores {
            for obj in store.state() {
                let regions: Vec<String> = obj
                    .status
                    .iter()
                    .flat_map(|s| s.regions.iter().filter(|r| r.managed).map(|r| r.region.clone()))
                    .collect();
                managed.insert(obj.uid().unwrap_or_default(), regions);
            }
        }
        journal.collect_garbage(|uid| managed.get(uid).cloned());
    }
}

/// Refreshes the members-by-status gauge from the caches.
async fn count_members(ctx: Arc<Context>) {
    loop {
        ctx.metrics.set_members(&ctx.member_counts());
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}
