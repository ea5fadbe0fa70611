//! Shared parts of the fault scenarios (`tests/chaos*.rs`): short or full mode, the
//! results table, fault bookkeeping and the secret grep.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};

use super::Error;
use super::emulator::EmulatorProcess;
use super::invariants::{Violation, cluster_text, leaked_secrets, render};

/// `CHAOS_FULL=1` runs the long version of every scenario (`make chaos`).
pub fn full() -> bool {
    std::env::var("CHAOS_FULL").is_ok_and(|v| v == "1")
}

/// `short` under `cargo test`, `long` under `make chaos`.
pub fn pick<T>(short: T, long: T) -> T {
    if full() { long } else { short }
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
