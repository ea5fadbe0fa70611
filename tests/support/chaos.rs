//! Shared parts of the fault scenarios (`tests/chaos*.rs`): short or full mode, their setup,
//! the results table, fault bookkeeping, and the ending every scenario shares (convergence,
//! the invariant checker, the secret grep, the row).

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Error;
use super::emulator::EmulatorProcess;
use super::invariants::{Checker, Ledger, Violation, cluster_text, leaked_secrets, render};
use super::scenario::{ADMIN_KEY, Setup, Stack, apply_member};

/// `CHAOS_FULL=1` runs the long version of every scenario (`make chaos`).
pub fn full() -> bool {
    std::env::var("CHAOS_FULL").is_ok_and(|v| v == "1")
}

/// `short` under `cargo test`, `long` under `make chaos`.
pub fn pick<T>(short: T, long: T) -> T {
    if full() { long } else { short }
}

/// How long convergence may take once faults stop (generous: 2 shared cores).
pub fn converge_bound() -> Duration {
    pick(Duration::from_secs(150), Duration::from_secs(600))
}

/// A fault scenario's operator: the fast flags, re-invitations after a second, watching
/// only `namespaces`.
pub fn setup(name: &str, namespaces: &[&str]) -> Setup {
    let watch: Vec<String> = namespaces.iter().map(|ns| format!("--watch-namespace={ns}")).collect();
    Setup::new(name).operator(&["--reinvite-backoff=1s"]).operator(&watch)
}

/// `n` members `m-000`.. with accounts `prefix` + index (12 digits) in us-east-1, each spec
/// extended by `extra`; returns the accounts.
pub async fn apply_many(
    client: &kube::Client,
    ns: &str,
    prefix: &str,
    n: usize,
    extra: Value,
) -> Result<Vec<String>, Error> {
    let mut accounts = Vec::new();
    for i in 0..n {
        let account = format!("{prefix}{i:0width$}", width = 12 - prefix.len());
        let mut spec = json!({"accountId": account, "regions": ["us-east-1"]});
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        apply_member(client, ns, &format!("m-{i:03}"), spec).await?;
        accounts.push(account);
    }
    Ok(accounts)
}

/// When the scenario applied its members, and when the checker first found every
/// invariant holding while faults were still active (if it did).
pub struct Clock {
    pub started: Instant,
    first_converged: Option<Duration>,
}

impl Clock {
    pub fn start() -> Self {
        Self {
            started: Instant::now(),
            first_converged: None,
        }
    }

    /// Sleeps `d` while checking every second whether everything already converged.
    pub async fn watch(&mut self, checker: &Checker<'_>, ledger: &Ledger, d: Duration) -> Result<(), Error> {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if self.first_converged.is_none() && checker.check(ledger).await?.is_empty() {
                self.first_converged = Some(self.started.elapsed());
            }
            tokio::time::sleep(Duration::from_secs(1).min(until.saturating_duration_since(Instant::now()))).await;
        }
        Ok(())
    }
}

/// How a scenario ended, for [`finish`].
pub struct Ending<'a> {
    pub scenario: &'a str,
    pub client: kube::Client,
    pub stack: &'a Stack,
    /// More operator output to grep (a second replica's log), beside the stack's.
    pub extra_log: String,
    pub namespaces: &'a [&'a str],
    pub ledger: &'a Ledger,
    pub members: usize,
    pub faults: String,
    pub clock: Clock,
}

/// The end of every scenario: wait for convergence, check invariants, secrets and panics,
/// record the row; fails listing every violation.
pub async fn finish(end: Ending<'_>) -> Result<(), Error> {
    let checker = Checker::new(end.client.clone(), &end.stack.emulator, end.namespaces, ADMIN_KEY);
    let (_, mut violations) = checker.wait_converged(end.ledger, converge_bound()).await?;
    let converged = end.clock.first_converged.unwrap_or_else(|| end.clock.started.elapsed());
    let log = format!("{}{}", end.stack.operator_log(), end.extra_log);
    violations.extend(secret_leaks(&end.client, &log, end.namespaces).await?);
    violations.extend(panics(&log));
    record(Row {
        scenario: end.scenario,
        members: end.members,
        faults: end.faults,
        converged,
        violations: violations.len(),
    })?;
    assert_none(end.scenario, &violations)
}

/// Where the scenarios append their row (`make chaos` prints it).
pub fn table_path() -> std::path::PathBuf {
    std::path::Path::new(option_env!("CARGO_TARGET_TMPDIR").unwrap_or("target/tmp")).join("chaos-table.md")
}

/// One row of the results table.
pub struct Row<'a> {
    pub scenario: &'a str,
    pub members: usize,
    pub faults: String,
    pub converged: Duration,
    pub violations: usize,
}

/// Appends a row to the table and prints it.
pub fn record(row: Row<'_>) -> Result<(), Error> {
    let line = format!(
        "| {} | {} | {} | {} | {:.1} s | {} |\n",
        row.scenario,
        if full() { "full" } else { "short" },
        row.members,
        row.faults,
        row.converged.as_secs_f64(),
        row.violations
    );
    print!("{line}");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(table_path())?;
    file.write_all(line.as_bytes())?;
    Ok(())
}

/// Replaces the emulator's fault rules.
pub async fn set_faults(emulator: &EmulatorProcess, rules: Value) -> Result<(), Error> {
    emulator.post("/_emulator/faults", json!({ "rules": rules })).await?;
    Ok(())
}

/// Clears the fault rules; returns how many times they fired.
pub async fn stop_faults(emulator: &EmulatorProcess) -> Result<u64, Error> {
    let fired = fired(emulator).await?;
    emulator.delete("/_emulator/faults").await?;
    Ok(fired)
}

/// How many times the current rules fired.
pub async fn fired(emulator: &EmulatorProcess) -> Result<u64, Error> {
    let rules = emulator.get("/_emulator/faults").await?;
    let list = rules["rules"].as_array().cloned().or_else(|| rules.as_array().cloned());
    Ok(list
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r["fired"].as_u64())
        .sum())
}

/// Secret leaks in the operator's log, the Events and the status of `namespaces`.
pub async fn secret_leaks(
    client: &kube::Client,
    operator_log: &str,
    namespaces: &[&str],
) -> Result<Vec<Violation>, Error> {
    let mut leaks = leaked_secrets("operator log", operator_log);
    leaks.extend(leaked_secrets(
        "events and status",
        &cluster_text(client, namespaces).await?,
    ));
    Ok(leaks)
}

/// The operator must never panic, whatever AWS answers.
pub fn panics(operator_log: &str) -> Vec<Violation> {
    operator_log
        .lines()
        .filter(|l| l.contains("panicked at"))
        .map(|l| Violation {
            invariant: 0,
            subject: "operator log".into(),
            explanation: format!("panic: {l}"),
        })
        .collect()
}

/// Fails with every violation listed.
pub fn assert_none(scenario: &str, violations: &[Violation]) -> Result<(), Error> {
    if violations.is_empty() {
        Ok(())
    } else {
        Err(format!("{scenario}: {} violation(s):\n{}", violations.len(), render(violations)).into())
    }
}
