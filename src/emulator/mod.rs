//! A local stand-in for the AWS Security Hub membership API (and the bit of STS
//! needed to assume roles into member accounts), faithful enough that the operator
//! can be tried and tested without AWS. See docs/emulator.md.
//!
//! One axum listener serves three things: the Security Hub REST-JSON routes
//! ([`handlers`]), STS on `POST /` ([`sts`]), and the `/_emulator` control API
//! ([`control`]). State is kept per (caller account, region) in [`state::World`].

mod actors;
mod admin;
mod config;
mod control;
mod error;
mod faults;
mod handlers;
mod hub;
mod identity;
mod limits;
mod member;
mod paging;
mod requests;
mod seed;
mod shared;
mod state;
mod sts;
mod wire;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::post;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use admin::MissingMember;
pub use config::{EmulatorArgs, EmulatorConfig, LogFormat, parse_duration};
pub use limits::RateLimit;
pub use state::MemberStatus;

use shared::{Behaviour, Shared};
use state::Directory;

/// Why the emulator could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("invalid emulator configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("emulator server failed: {0}")]
    Serve(std::io::Error),
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
    #[error("emulator task ended unexpectedly: {0}")]
    Task(String),
}

/// A running emulator; dropping it stops the server too.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), std::io::Error>>>,
}

impl RunningEmulator {
    /// The bound address (the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`, ready for an SDK `endpoint_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes in-flight requests and waits for the server.
    pub async fn shutdown(mut self) -> Result<(), EmulatorError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.join().await
    }

    async fn join(&mut self) -> Result<(), EmulatorError> {
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| EmulatorError::Task(e.to_string()))?
                .map_err(EmulatorError::Serve),
            None => Ok(()),
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Builds the shared state from a config.
fn shared_from(config: &EmulatorConfig) -> Shared {
    let directory = Directory {
        admin_account: config.admin_account.clone(),
        admin_hub_enabled: config.admin_hub_enabled,
        organization_accounts: config.organization_accounts.iter().cloned().collect(),
        management_account: config.management_account.clone(),
        suspended_accounts: config.suspended_accounts.iter().cloned().collect(),
    };
    let behaviour = Behaviour {
        auto_accept_after: config.auto_accept_after,
        auto_accept_accounts: config.auto_accept_accounts.iter().cloned().collect(),
        decline_accounts: config.decline_accounts.iter().cloned().collect(),
    };
    Shared::new(directory, config.rate, config.seed, behaviour, config.missing_member)
}

/// The whole HTTP surface: control API, STS on `/`, Security Hub routes, and an
/// AWS-shaped 404 for anything else.
fn router(shared: Arc<Shared>) -> Router {
    control::routes()
        .route("/", post(sts::handle).get(sts::handle))
        .merge(handlers::routes())
        .fallback(|| async {
            error::ApiError::new(error::NOT_FOUND, "The requested operation or path does not exist.")
        })
        .with_state(shared)
}

/// Starts the emulator on `config.listen` inside the current tokio runtime.
pub async fn spawn(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
    config.validate()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| EmulatorError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| EmulatorError::Bind {
        addr: config.listen,
        source,
    })?;
    let app = router(Arc::new(shared_from(&config)));
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    tracing::info!(%addr, admin = %config.admin_account, "emulator started");
    Ok(RunningEmulator {
        addr,
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// The `emulator` subcommand: start, print `listening on http://ADDR`, serve
/// until SIGINT or SIGTERM.
pub async fn run(args: EmulatorArgs) -> Result<(), EmulatorError> {
    init_logging(args.log_format);
    let config = EmulatorConfig::from_args(&args)?;
    let mut running = spawn(config).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", running.url()).map_err(EmulatorError::Stdout)?;
    stdout.flush().map_err(EmulatorError::Stdout)?;
    drop(stdout);
    let Some(mut task) = running.task.take() else {
        return Ok(());
    };
    tokio::select! {
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
            running.task = Some(task);
            running.shutdown().await
        }
        ended = &mut task => {
            ended.map_err(|e| EmulatorError::Task(e.to_string()))?.map_err(EmulatorError::Serve)
        }
    }
}

/// Logs go to stderr so stdout carries only the `listening on` line.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
