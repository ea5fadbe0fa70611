//! Prometheus metrics. Labels are low-cardinality: results, operations, outcomes, statuses.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::securityhub::CallObserver;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    operation: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

/// Every metric the operator exports, registered once.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabel, Counter>,
    reconcile_duration: Histogram,
    aws_calls: Family<CallLabels, Counter>,
    aws_call_accounts: Family<CallLabels, Counter>,
    members: Family<StatusLabel, Gauge>,
    status_writes: Counter,
    journal_writes: Family<ResultLabel, Counter>,
    journal_claims: Counter,
    leader: Gauge,
    known_statuses: Mutex<Vec<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("securityhub_operator");
        let reconciles = Family::<ResultLabel, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles by result (ok, error, or the Ready reason)",
            reconciles.clone(),
        );
        let reconcile_duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            reconcile_duration.clone(),
        );
        let aws_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "aws_calls",
            "Security Hub API calls by operation and outcome (ok or the AWS error code)",
            aws_calls.clone(),
        );
        let aws_call_accounts = Family::<CallLabels, Counter>::default();
        registry.register(
            "aws_call_accounts",
            "Accounts named in Security Hub API calls",
            aws_call_accounts.clone(),
        );
        let members = Family::<StatusLabel, Gauge>::default();
        registry.register(
            "members",
            "SecurityHubMember resources by member status summary",
            members.clone(),
        );
        let status_writes = Counter::default();
        registry.register(
            "status_writes",
            "Status patches sent to the Kubernetes API",
            status_writes.clone(),
        );
        let journal_writes = Family::<ResultLabel, Counter>::default();
        registry.register(
            "claim_journal_writes",
            "Claim journal ConfigMaps written, by result (ok or error)",
            journal_writes.clone(),
        );
        let journal_claims = Counter::default();
        registry.register(
            "claim_journal_claims",
            "Claims made durable by the claim journal instead of a status write",
            journal_claims.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease (or runs without election)",
            leader.clone(),
        );
        Self {
            registry,
            reconciles,
            reconcile_duration,
            aws_calls,
            aws_call_accounts,
            members,
            status_writes,
            journal_writes,
            journal_claims,
            leader,
            known_statuses: Mutex::new(Vec::new()),
        }
    }

    pub fn reconciled(&self, result: &str, elapsed: Duration) {
        self.reconciles
            .get_or_create(&ResultLabel {
                result: result.to_string(),
            })
            .inc();
        self.reconcile_duration.observe(elapsed.as_secs_f64());
    }

    pub fn status_written(&self) {
        self.status_writes.inc();
    }

    /// One claim journal write of `claims` claims.
    pub fn journal_written(&self, ok: bool, claims: usize) {
        let result = if ok { "ok" } else { "error" };
        self.journal_writes
            .get_or_create(&ResultLabel { result: result.into() })
            .inc();
        if ok {
            self.journal_claims.inc_by(claims as u64);
        }
    }

    pub fn status_writes(&self) -> u64 {
        self.status_writes.get()
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Replaces the member gauges; statuses no longer seen drop to zero.
    pub fn set_members(&self, counts: &[(String, i64)]) {
        let mut known = crate::sync::lock(&self.known_statuses);
        for status in known.iter() {
            if !counts.iter().any(|(s, _)| s == status) {
                self.members
                    .get_or_create(&StatusLabel { status: status.clone() })
                    .set(0);
            }
        }
        for (status, n) in counts {
            self.members
                .get_or_create(&StatusLabel { status: status.clone() })
                .set(*n);
            if !known.contains(status) {
                known.push(status.clone());
            }
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl CallObserver for Metrics {
    fn record(&self, operation: &'static str, outcome: &str, accounts: usize, elapsed: Duration) {
        let labels = CallLabels {
            operation: operation.to_string(),
            outcome: outcome.to_string(),
        };
        self.aws_calls.get_or_create(&labels).inc();
        self.aws_call_accounts.get_or_create(&labels).inc_by(accounts as u64);
        tracing::debug!(
            operation,
            outcome,
            accounts,
            elapsed_ms = elapsed.as_millis() as u64,
            "aws call"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_the_promised_series() {
        let m = Metrics::new();
        m.reconciled("ok", Duration::from_millis(20));
        m.record("CreateMembers", "ok", 50, Duration::from_millis(5));
        m.set_members(&[("Enabled".into(), 3)]);
        m.set_members(&[("Invited".into(), 1)]);
        m.status_written();
        m.journal_written(true, 120);
        m.journal_written(false, 3);
        let text = m.encode();
        for needle in [
            "securityhub_operator_reconciles_total{result=\"ok\"} 1",
            "securityhub_operator_aws_calls_total{operation=\"CreateMembers\",outcome=\"ok\"} 1",
            "securityhub_operator_aws_call_accounts_total{operation=\"CreateMembers\",outcome=\"ok\"} 50",
            "securityhub_operator_members{status=\"Enabled\"} 0",
            "securityhub_operator_members{status=\"Invited\"} 1",
            "securityhub_operator_status_writes_total 1",
            "securityhub_operator_claim_journal_writes_total{result=\"ok\"} 1",
            "securityhub_operator_claim_journal_writes_total{result=\"error\"} 1",
            "securityhub_operator_claim_journal_claims_total 120",
            "securityhub_operator_reconcile_duration_seconds_count 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
