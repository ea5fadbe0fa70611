//! The one context every reconcile gets: clients, caches, the batcher, settings, metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::events::Reporter;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use tokio::sync::mpsc;

use super::journal::Journal;
use crate::api::SecurityHubMember;
use crate::plan::{Contender, Policy};
use crate::securityhub::{Batcher, MemberSide, OrganizationRoles};
use crate::sync::lock;
use crate::telemetry::Metrics;

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    /// One cache per watched namespace (or one for all).
    pub stores: Vec<Store<SecurityHubMember>>,
    pub batcher: Arc<Batcher>,
    /// Whether the administrator manages organization accounts, per region.
    pub roles: Arc<OrganizationRoles>,
    /// Where claims that precede a create are made durable (`None`: in status, one by one).
    pub journal: Option<Journal>,
    pub member_side: Arc<dyn MemberSide>,
    pub policy: Policy,
    pub default_regions: Vec<String>,
    pub metrics: Arc<Metrics>,
    /// Who publishes Events. A Recorder is made per Event: kube-runtime's Recorder keeps
    /// every Event it published for six minutes to aggregate repeats, which at 10,000
    /// members is tens of MiB, while the operator publishes only on transitions.
    pub reporter: Reporter,
    /// Consecutive failures per object, for the exponential backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    /// Wakes other resources claiming an account when its owner goes away.
    pub wake: mpsc::UnboundedSender<ObjectRef<SecurityHubMember>>,
}

/// First retry after an error, doubled per consecutive failure up to the plan's cap.
const BACKOFF_BASE: Duration = Duration::from_secs(5);

impl Context {
    /// The regions a resource manages: its spec; without one, the operator's default plus
    /// every region where it manages the member (a narrowed default never removes one).
    pub fn regions_of(&self, obj: &SecurityHubMember) -> Vec<String> {
        let mut regions = match &obj.spec.regions {
            Some(regions) => regions.clone(),
            None => {
                let mut regions = self.default_regions.clone();
                regions.extend(self.kept_regions(obj));
                regions
            }
        };
        regions.sort();
        regions.dedup();
        regions
    }

    /// Regions a resource without `spec.regions` manages although the default does not list
    /// them: recorded as managed in its status or its journal entries.
    pub fn kept_regions(&self, obj: &SecurityHubMember) -> Vec<String> {
        if obj.spec.regions.is_some() {
            return Vec::new();
        }
        let mut managed: Vec<String> = obj
            .status
            .iter()
            .flat_map(|s| s.regions.iter().filter(|r| r.managed).map(|r| r.region.clone()))
            .collect();
        if let (Some(journal), Some(uid)) = (&self.journal, obj.uid()) {
            managed.extend(journal.held(&uid));
        }
        managed.retain(|r| !self.default_regions.contains(r));
        managed.sort();
        managed.dedup();
        managed
    }

    /// Waits until every namespace's cache holds its first full list (at once, after that);
    /// false when a cache stopped for good (shutting down).
    pub async fn caches_synced(&self) -> bool {
        super::all_synced(&self.stores).await
    }

    /// Every resource naming `account_id`, from all caches.
    pub fn contenders_for(&self, account_id: &str) -> Vec<Contender> {
        self.stores
            .iter()
            .flat_map(|s| s.state_filter(|o| o.spec.account_id == account_id))
            .map(|o| self.contender_of(&o))
            .collect()
    }

    /// What ownership reads of `obj`.
    pub fn contender_of(&self, obj: &SecurityHubMember) -> Contender {
        Contender {
            namespace: obj.namespace().unwrap_or_default(),
            name: obj.name_any(),
            created: obj.metadata.creation_timestamp.clone(),
            account_id: obj.spec.account_id.clone(),
            regions: self.regions_of(obj),
            managed: obj
                .status
                .iter()
                .flat_map(|s| s.regions.iter().filter(|r| r.managed).map(|r| r.region.clone()))
                .collect(),
        }
    }

    /// The next backoff for `key`, counting this failure, at most `cap`.
    pub fn backoff(&self, key: &str, cap: Duration) -> Duration {
        let mut failures = lock(&self.failures);
        let n = failures.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        let delay = BACKOFF_BASE
            .saturating_mul(2u32.saturating_pow((*n - 1).min(16)))
            .min(cap);
        jitter(delay)
    }

    /// Forgets the failures of `key` after a clean reconcile.
    pub fn reset_backoff(&self, key: &str) {
        lock(&self.failures).remove(key);
    }

    /// Member counts by status summary, for the members gauge.
    pub fn member_counts(&self) -> Vec<(String, i64)> {
        let mut counts: HashMap<String, i64> = HashMap::new();
        for store in &self.stores {
            for obj in store.state() {
                let status = obj
                    .status
                    .as_ref()
                    .and_then(|s| s.member_status.clone())
                    .unwrap_or_else(|| "None".into());
                *counts.entry(status).or_default() += 1;
            }
        }
        let mut counts: Vec<_> = counts.into_iter().collect();
        counts.sort();
        counts
    }
}

/// Up to 10% extra, so many objects failing together do not retry in lockstep.
fn jitter(d: Duration) -> Duration {
    let extra = rand::random::<f64>() * 0.1;
    d.mul_f64(1.0 + extra)
}
