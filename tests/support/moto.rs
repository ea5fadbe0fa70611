//! A moto server (`python3 -m moto.server`, moto[server] from tests/requirements.txt) on a
//! loopback port, started and stopped by PID.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::Error;
use super::process::{free_port, spawn_tied, stop};
use super::wait::poll;

/// A running moto server.
pub struct MotoServer {
    child: Mutex<Child>,
    url: String,
}

/// Whether `python3` can import moto's server (moto[server] is installed).
pub fn moto_available() -> Result<(), String> {
    let output = Command::new("python3")
        .args(["-c", "import moto, moto.server; print(moto.__version__)"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "python3 cannot import moto.server (pip install -r tests/requirements.txt): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl MotoServer {
    /// Starts moto on a free loopback port, logging to `log_dir/moto.log`; returns once it
    /// answers HTTP.
    pub async fn start(log_dir: &Path) -> Result<Self, Error> {
        let port = free_port()?;
        let log = log_dir.join("moto.log");
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "moto.server", "-p", &port.to_string(), "-H", "127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        let server = Self {
            child: Mutex::new(spawn_tied(cmd)?),
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let probe = format!("{}/moto-api/", server.url);
        poll("moto to answer", Duration::from_secs(60), || async {
            if http.get(&probe).send().await.is_ok() {
                return Ok(true);
            }
            if let Some(status) = server.child.lock().map_err(|_| "poisoned")?.try_wait()? {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("moto exited with {status}:\n{text}").into());
            }
            Ok(false)
        })
        .await?;
        Ok(server)
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            stop(&mut child, Duration::from_secs(5));
        }
    }
}
