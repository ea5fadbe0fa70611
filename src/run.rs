//! `securityhub-operator run`: wires logging, metrics, AWS and Kubernetes clients, and the
//! controllers, and stops cleanly on SIGTERM or Ctrl-C.

use std::sync::Arc;

use kube::Client;
use tokio::net::TcpListener;

use crate::config::RunArgs;
use crate::controller::{Wiring, run_controllers};
use crate::leader::{LeaderError, acquire, exit_on_lost_leadership};
use crate::securityhub::{SdkMemberSide, SdkMembership, load_sdk_config};
use crate::telemetry::{Health, Metrics, init_logging, serve};

/// Why the operator could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot connect to Kubernetes (check KUBECONFIG or the in-cluster service account): {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot listen on {address} for metrics and health: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error("leader election: {0}")]
    Leader(#[from] LeaderError),
    #[error("{0} is set but empty: unset it to use AWS's endpoint, or give a URL such as http://127.0.0.1:4566")]
    EmptyEndpoint(&'static str),
}

/// Endpoint overrides the SDK reads; an empty one makes it panic deep inside, so refuse it here.
const ENDPOINT_VARS: [&str; 3] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SECURITYHUB",
    "AWS_ENDPOINT_URL_STS",
];

/// Refuses an empty endpoint override (also used by `import`).
pub fn check_endpoints() -> Result<(), RunError> {
    for var in ENDPOINT_VARS {
        if std::env::var(var).is_ok_and(|v| v.trim().is_empty()) {
            return Err(RunError::EmptyEndpoint(var));
        }
    }
    Ok(())
}

/// A kube client with at most `max_in_flight` requests at once. kube's client speaks
/// HTTP/1.1: without a cap, every concurrent status write or Event opens (and keeps idle)
/// a TLS connection of its own, which cost the operator about 40 KiB each and the API
/// server a handshake. A watch holds its slot only until its response starts.
async fn kube_client(max_in_flight: u16) -> Result<Client, kube::Error> {
    let config = kube::Config::infer().await.map_err(kube::Error::InferConfig)?;
    let limit = tower::limit::ConcurrencyLimitLayer::new(max_in_flight.into());
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&limit)
        .build())
}

/// Runs the operator until SIGTERM or Ctrl-C.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    init_logging(args.log_format, &args.log_level);
    check_endpoints()?;
    let client = kube_client(args.kube_max_in_flight).await?;
    let sdk = load_sdk_config().await;
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let listener = TcpListener::bind(&args.metrics_bind_address)
        .await
        .map_err(|source| RunError::Listen {
            address: args.metrics_bind_address.clone(),
            source,
        })?;
    let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(%address, regions = ?args.regions, namespaces = ?args.watch_namespaces, dry_run = args.dry_run, "starting securityhub-operator");
    tokio::spawn(serve(listener, health.clone(), metrics.clone()));
    let wiring = Wiring {
        client: client.clone(),
        api: Arc::new(SdkMembership::new(sdk.clone())),
        member_side: Arc::new(SdkMemberSide::new(sdk)),
        metrics: metrics.clone(),
        health: health.clone(),
    };
    if !args.leader_election {
        metrics.set_leader(true);
        run_controllers(&args, wiring, shutdown_signal()).await;
        tracing::info!("stopped");
        return Ok(());
    }
    let leadership = tokio::select! {
        held = acquire(client, &args, &health, &metrics) => held?,
        _ = shutdown_signal() => return Ok(()),
    };
    health.set_ready(false);
    let lost = leadership.lost();
    let term = Arc::new(tokio::sync::Notify::new());
    let stop = term.clone();
    let controllers = run_controllers(&args, wiring, async move { stop.notified().await });
    tokio::pin!(controllers);
    tokio::select! {
        _ = &mut controllers => {}
        _ = lost => exit_on_lost_leadership(metrics),
        _ = shutdown_signal() => {
            term.notify_one();
            controllers.await;
        }
    }
    leadership.release().await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM (Kubernetes) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
