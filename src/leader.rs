//! Leader election on a coordination.k8s.io Lease (kube-lease-manager). Only the holder
//! reconciles; a replica that loses the Lease exits at once (fail-stop) so it can never
//! act beside a new leader, and SIGTERM releases the Lease so a standby takes over quickly.

use std::sync::Arc;

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::watch;

use crate::config::RunArgs;
use crate::telemetry::{Health, Metrics};

/// Why leader election could not start.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("invalid --lease-duration {0}s: use at least 3s")]
    Duration(u64),
    #[error("cannot create or use the Lease {namespace}/{name}: {source}")]
    Lease {
        namespace: String,
        name: String,
        source: kube_lease_manager::LeaseManagerError,
    },
}

/// A held (or awaited) Lease.
pub struct Leadership {
    state: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<kube_lease_manager::Result<LeaseManager>>,
}

/// This replica's identity in the Lease: the pod name, else host name and process id.
fn identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        format!("{host}-{}", std::process::id())
    })
}

/// Joins the election and waits until this replica leads (standby replicas report ready).
pub async fn acquire(
    client: Client,
    args: &RunArgs,
    health: &Health,
    metrics: &Metrics,
) -> Result<Leadership, LeaderError> {
    let duration = args.lease_duration.as_secs();
    if duration < 3 {
        return Err(LeaderError::Duration(duration));
    }
    let namespace = args.operator_namespace();
    let name = args.leader_election_id.clone();
    let manager = LeaseManagerBuilder::new(client, name.clone())
        .with_namespace(namespace.clone())
        .with_identity(identity())
        .with_duration(duration)
        .with_grace((duration / 3).max(1))
        .build()
        .await
        .map_err(|source| LeaderError::Lease {
            namespace: namespace.clone(),
            name: name.clone(),
            source,
        })?;
    let (mut state, task) = manager.watch().await;
    health.set_ready(true);
    metrics.set_leader(false);
    tracing::info!(lease = %format!("{namespace}/{name}"), "waiting to become the leader");
    while !*state.borrow_and_update() {
        if state.changed().await.is_err() {
            break;
        }
    }
    metrics.set_leader(true);
    tracing::info!(lease = %format!("{namespace}/{name}"), "became the leader");
    Ok(Leadership { state, task })
}

impl Leadership {
    /// Resolves when the Lease is lost (or its renewal task died).
    pub fn lost(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut state = self.state.clone();
        async move {
            loop {
                if !*state.borrow_and_update() {
                    return;
                }
                if state.changed().await.is_err() {
                    return;
                }
            }
        }
    }

    /// Gives the Lease back so a standby replica takes over without waiting for expiry.
    pub async fn release(self) {
        drop(self.state);
        match self.task.await {
            Ok(Ok(manager)) => {
                if let Err(e) = manager.release().await {
                    tracing::warn!(error = %e, "cannot release the Lease; it expires on its own");
                } else {
                    tracing::info!("released the Lease");
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "the Lease task failed"),
            Err(e) => tracing::warn!(error = %e, "the Lease task panicked"),
        }
    }
}

/// Fail-stop: a replica that lost leadership must not reconcile one more object.
pub fn exit_on_lost_leadership(metrics: Arc<Metrics>) -> ! {
    metrics.set_leader(false);
    tracing::error!("lost the leader Lease; exiting so that only the new leader reconciles");
    std::process::exit(3)
}
