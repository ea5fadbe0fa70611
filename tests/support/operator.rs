//! The operator as it ships: the release binary's `run` subcommand in its own process,
//! pointed at a test cluster and an emulator.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::Error;
use super::emulator::operator_binary;
use super::process::{free_port, signal, spawn_tied, stop};
use super::wait::{Found, poll_for};

/// A running `securityhub-operator run`.
pub struct OperatorProcess {
    child: Mutex<Option<Child>>,
    metrics_port: u16,
    log: PathBuf,
}

/// How to start an operator.
pub struct OperatorOptions<'a> {
    pub kubeconfig: &'a Path,
    pub emulator_url: &'a str,
    /// The access key id; its first 12 digits are the caller account in the emulator;
    /// empty: start without any AWS credentials.
    pub access_key: &'a str,
    pub args: Vec<String>,
    pub log_dir: &'a Path,
    pub name: &'a str,
    /// Extra environment variables (set last, so they override the defaults above),
    /// e.g. `POD_NAME` for a replica's Lease identity or `AWS_ENDPOINT_URL_STS`.
    pub env: Vec<(String, String)>,
}

/// The binary whose `run` the tests start: this build's, or `SHO_OPERATOR_BINARY` (to run a
/// scenario against another build, e.g. an older commit's, with this build's emulator).
fn run_binary() -> String {
    std::env::var("SHO_OPERATOR_BINARY").unwrap_or_else(|_| operator_binary().to_string())
}

impl OperatorProcess {
    /// Starts the operator and waits until `/readyz` answers 200.
    pub async fn start(options: OperatorOptions<'_>) -> Result<Self, Error> {
        let metrics_port = free_port()?;
        let log = options.log_dir.join(format!("operator-{}.log", options.name));
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
        let mut cmd = Command::new(run_binary());
        cmd.arg("run")
            .arg(format!("--metrics-bind-address=127.0.0.1:{metrics_port}"))
            .args(&options.args)
            .env("KUBECONFIG", options.kubeconfig)
            .env("AWS_ACCESS_KEY_ID", options.access_key)
            .env("AWS_SECRET_ACCESS_KEY", "test-secret-value")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_SHARED_CREDENTIALS_FILE")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL_SECURITYHUB", options.emulator_url)
            .env("AWS_ENDPOINT_URL_STS", options.emulator_url)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env("RUST_BACKTRACE", "1")
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        if options.access_key.is_empty() {
            // No credentials anywhere in the chain: no keys, no profile files.
            cmd.env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY")
                .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
                .env("AWS_CONFIG_FILE", "/nonexistent/config");
        }
        let child = spawn_tied(cmd)?;
        let operator = Self {
            child: Mutex::new(Some(child)),
            metrics_port,
            log,
        };
        operator.wait_ready(Duration::from_secs(60)).await?;
        Ok(operator)
    }

    async fn wait_ready(&self, timeout: Duration) -> Result<(), Error> {
        let ready = poll_for("the operator's /readyz", timeout, || async {
            let answer = match self.http("/readyz").await {
                Ok((200, _)) => return Ok(Found::Yes(())),
                Ok((status, body)) => format!("HTTP {status}: {body}"),
                Err(e) => e.to_string(),
            };
            if !self.is_running() {
                return Err("the operator exited during start-up".into());
            }
            Ok(Found::No(answer))
        })
        .await;
        ready.map_err(|e| format!("{e}; log:\n{}", self.log_text()).into())
    }

    async fn http(&self, path: &str) -> Result<(u16, String), Error> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        let response = client
            .get(format!("http://127.0.0.1:{}{path}", self.metrics_port))
            .send()
            .await?;
        Ok((response.status().as_u16(), response.text().await?))
    }

    /// The Prometheus text exposition.
    pub async fn metrics(&self) -> Result<String, Error> {
        Ok(self.http("/metrics").await?.1)
    }

    /// The value of one sample line of /metrics (0 when absent).
    pub async fn metric(&self, series: &str) -> Result<f64, Error> {
        metric_at(self.metrics_port, series).await
    }

    /// The port of /metrics, /livez and /readyz.
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    pub fn is_running(&self) -> bool {
        self.child
            .lock()
            .ok()
            .and_then(|mut c| c.as_mut().map(|c| matches!(c.try_wait(), Ok(None))))
            .unwrap_or(false)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.lock().ok().and_then(|c| c.as_ref().map(Child::id))
    }

    /// Everything the operator logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit status once the process has exited (`None` while it runs or after `stop`).
    pub fn exit_status(&self) -> Option<std::process::ExitStatus> {
        self.child
            .lock()
            .ok()
            .and_then(|mut c| c.as_mut().and_then(|c| c.try_wait().ok().flatten()))
    }

    /// Sends SIGTERM and returns at once (a graceful shutdown, as Kubernetes asks for one);
    /// see [`exit_status`](Self::exit_status) to learn when it is done.
    pub fn terminate(&self) {
        if let Some(pid) = self.pid() {
            signal(pid, libc::SIGTERM);
        }
    }

    /// Waits up to `timeout` for the process to exit on its own.
    pub async fn wait_exit(&self, timeout: Duration) -> Result<std::process::ExitStatus, Error> {
        let exited = poll_for("the operator to exit", timeout, || async {
            Ok(match self.exit_status() {
                Some(status) => Found::Yes(status),
                None => Found::No("still running".to_string()),
            })
        })
        .await;
        exited.map_err(|e| format!("{e}; log:\n{}", self.log_text()).into())
    }

    /// SIGKILL, no clean-up (a crash).
    pub fn kill(&self) {
        if let Some(pid) = self.pid() {
            signal(pid, libc::SIGKILL);
        }
        self.stop();
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&self) {
        if let Ok(mut guard) = self.child.lock()
            && let Some(mut child) = guard.take()
        {
            stop(&mut child, Duration::from_secs(10));
        }
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The value of one sample line of the /metrics served on `port` (0 when absent).
pub async fn metric_at(port: u16, series: &str) -> Result<f64, Error> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let text = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or(0.0))
}
