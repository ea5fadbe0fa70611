//! The emulator as a separate process (the shipped binary) and a client for its
//! `/_emulator` control API.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use super::Error;
use super::process::{spawn_tied, stop};

/// A running `securityhub-operator emulator`.
pub struct EmulatorProcess {
    child: Mutex<Child>,
    url: String,
}

/// The shipped binary, as cargo built it for this test run (examples, which share this
/// module, fall back to the debug build).
pub fn operator_binary() -> &'static str {
    option_env!("CARGO_BIN_EXE_securityhub-operator").unwrap_or("target/debug/securityhub-operator")
}

impl EmulatorProcess {
    /// Starts the emulator on a free loopback port (or the `--listen` in `args`) with extra
    /// flags; returns once it listens.
    pub fn start(args: &[&str]) -> Result<Self, Error> {
        let mut cmd = Command::new(operator_binary());
        cmd.arg("emulator");
        if !args.iter().any(|a| a.starts_with("--listen")) {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = spawn_tied(cmd)?;
        let stdout = child.stdout.take().ok_or("emulator has no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("unexpected emulator output {line:?}"))?
            .to_string();
        Ok(Self {
            child: Mutex::new(child),
            url,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Error> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        let mut request = client.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(format!("{path}: HTTP {status}: {text}").into());
        }
        Ok(if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, Error> {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, Error> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, Error> {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Every logged request (all sequence numbers).
    pub async fn log(&self) -> Result<Vec<Value>, Error> {
        let requests = self.get("/_emulator/requests").await?;
        Ok(requests["log"].as_array().cloned().unwrap_or_default())
    }

    /// The sequence number of the last logged request (0 before any).
    pub async fn last_seq(&self) -> Result<u64, Error> {
        let requests = self.get("/_emulator/requests?since=18446744073709551615").await?;
        requests["lastSeq"]
            .as_u64()
            .ok_or_else(|| "no lastSeq in /_emulator/requests".into())
    }

    /// The logged requests after sequence number `seq`.
    pub async fn log_since(&self, seq: u64) -> Result<Vec<Value>, Error> {
        let requests = self.get(&format!("/_emulator/requests?since={seq}")).await?;
        Ok(requests["log"].as_array().cloned().unwrap_or_default())
    }

    /// Replaces the fault rules (`POST /_emulator/faults`).
    pub async fn set_faults(&self, rules: Value) -> Result<(), Error> {
        self.post("/_emulator/faults", rules).await.map(drop)
    }

    /// Removes every fault rule.
    pub async fn clear_faults(&self) -> Result<(), Error> {
        self.delete("/_emulator/faults").await.map(drop)
    }

    /// Calls of `operation` (outcome ok) that named `account`.
    pub async fn calls_for(&self, operation: &str, account: &str) -> Result<usize, Error> {
        Ok(self
            .log()
            .await?
            .iter()
            .filter(|e| e["operation"] == operation && e["outcome"] == "ok")
            .filter(|e| {
                e["accountIds"]
                    .as_array()
                    .is_some_and(|ids| ids.iter().any(|id| id == account))
            })
            .count())
    }

    /// The operations (in order) that named `account`, with their region.
    pub async fn history(&self, account: &str) -> Result<Vec<(String, String)>, Error> {
        Ok(self
            .log()
            .await?
            .iter()
            .filter(|e| {
                e["accountIds"]
                    .as_array()
                    .is_some_and(|ids| ids.iter().any(|id| id == account))
            })
            .map(|e| {
                (
                    e["operation"].as_str().unwrap_or("").to_string(),
                    e["region"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect())
    }

    /// Seeds members as if they had existed before (`POST /_emulator/members`): each entry
    /// names `accountId`, `region`, `status` and optionally `administrator`.
    pub async fn seed_members(&self, members: Value) -> Result<(), Error> {
        self.post("/_emulator/members", json!({ "members": members }))
            .await
            .map(drop)
    }

    /// Sets the member `account` of the default administrator in `region` to `status`.
    pub async fn seed(&self, account: &str, region: &str, status: &str) -> Result<(), Error> {
        self.seed_members(json!([{"accountId": account, "region": region, "status": status}]))
            .await
    }

    /// A member-side action such as accept, decline, resign.
    pub async fn member_action(&self, account: &str, action: &str, region: &str) -> Result<Value, Error> {
        self.post(
            &format!("/_emulator/accounts/{account}/{action}?region={region}"),
            json!({}),
        )
        .await
    }

    /// The member status the emulator holds for `account` under the default administrator.
    pub async fn member_status(&self, account: &str, region: &str) -> Result<Option<String>, Error> {
        let state = self.get("/_emulator/state").await?;
        Ok(find_member(&state, account, region))
    }
}

/// Whether a logged call's answer listed `account` as unprocessed (not acted on).
pub fn unprocessed(entry: &Value, account: &str) -> bool {
    entry["unprocessed"]
        .as_array()
        .is_some_and(|list| list.iter().any(|a| a == account))
}

/// The member entry of `account` in `region` under administrator 111111111111.
fn find_member(state: &Value, account: &str, region: &str) -> Option<String> {
    state["members"]["111111111111"][region]
        .as_array()?
        .iter()
        .find(|m| m["accountId"] == account)
        .and_then(|m| m["status"].as_str())
        .map(str::to_string)
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            stop(&mut child, Duration::from_secs(2));
        }
    }
}
