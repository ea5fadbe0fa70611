//! `securityhub-operator run` settings: flags with environment fallbacks (the Helm chart
//! and the kustomize base set the environment or the flags; both work).

use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::plan::Policy;
use crate::securityhub::BatchConfig;

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Flags of `securityhub-operator run`.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Regions for resources that do not list spec.regions (comma-separated).
    #[arg(long, env = "SHO_REGIONS", value_delimiter = ',', default_value = "us-east-1", value_parser = parse_region)]
    pub regions: Vec<String>,

    /// Namespace to watch (repeatable, or comma-separated in the env var); default: all.
    #[arg(long = "watch-namespace", env = "SHO_WATCH_NAMESPACES", value_delimiter = ',')]
    pub watch_namespaces: Vec<String>,

    /// Resync period for members in their end state (drift detection).
    #[arg(long = "resync-enabled", env = "SHO_RESYNC_ENABLED", default_value = "1h", value_parser = parse_duration)]
    pub resync_period_enabled: Duration,

    /// Resync period while waiting (invitations, conflicts, existing members).
    #[arg(long = "resync-pending", env = "SHO_RESYNC_PENDING", default_value = "5m", value_parser = parse_duration)]
    pub resync_period_pending: Duration,

    /// First wait before re-inviting a Resigned member (reinvite: Always); doubles per try up to 24h.
    #[arg(long, env = "SHO_REINVITE_BACKOFF", default_value = "15m", value_parser = parse_duration)]
    pub reinvite_backoff: Duration,

    /// Accounts per AWS call (1-50); 1 makes one call per member like Terraform and Crossplane.
    #[arg(long, env = "SHO_MAX_BATCH_SIZE", default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub max_batch_size: u16,

    /// A batch closes this long after its last request (at most 5 windows after its first;
    /// 15 while calls promised to it are on their way).
    #[arg(long, env = "SHO_BATCH_WINDOW", default_value = "200ms", value_parser = parse_duration)]
    pub batch_window: Duration,

    /// Client-side limit on Security Hub requests per second per region (0 = unlimited).
    #[arg(long, env = "SHO_API_RATE", default_value_t = 10.0)]
    pub api_rate: f64,

    /// Burst allowed by the client-side limiter.
    #[arg(long, env = "SHO_API_BURST", default_value_t = 30)]
    pub api_burst: u32,

    /// Resources reconciled at once. A multiple of the 50 accounts a call takes, so the
    /// first wave of a cold start fills whole batches; each one in flight costs memory.
    #[arg(long, env = "SHO_CONCURRENCY", default_value_t = 400)]
    pub concurrency: u16,

    /// Kubernetes API requests in flight at once (watches excepted). The client speaks
    /// HTTP/1.1, so each one in flight is a connection of its own to the API server.
    #[arg(long, env = "SHO_KUBE_MAX_IN_FLIGHT", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub kube_max_in_flight: u16,

    /// Decide and report in status and Events, but make no AWS writes.
    #[arg(long, env = "SHO_DRY_RUN")]
    pub dry_run: bool,

    /// Record a claim that precedes a CreateMembers in a ConfigMap journal in the operator's
    /// namespace, one write for every claim made meanwhile, instead of a status write per
    /// resource (false: always write the claim to status first).
    #[arg(long, env = "SHO_CLAIM_JOURNAL", default_value_t = true, action = clap::ArgAction::Set)]
    pub claim_journal: bool,

    /// Reconcile only while holding a Lease, so replicas can run side by side.
    #[arg(long, env = "SHO_LEADER_ELECTION")]
    pub leader_election: bool,

    /// Namespace of the Lease and of the claim journal (default: POD_NAMESPACE, else "default").
    #[arg(long, env = "POD_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// Name of the Lease.
    #[arg(long, env = "SHO_LEADER_ELECTION_ID", default_value = "securityhub-operator")]
    pub leader_election_id: String,

    /// How long a Lease lasts without renewal; a new leader takes over within it.
    #[arg(long, env = "SHO_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,

    /// Address for /metrics, /livez and /readyz.
    #[arg(long, env = "SHO_METRICS_BIND_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_bind_address: String,

    /// Log format.
    #[arg(long, env = "SHO_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Log filter (tracing EnvFilter syntax, e.g. info or securityhub_operator=debug).
    #[arg(long, env = "SHO_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

impl RunArgs {
    /// Where the Lease and the claim journal live.
    pub fn operator_namespace(&self) -> String {
        self.leader_election_namespace
            .clone()
            .unwrap_or_else(|| "default".into())
    }

    /// The planner's policy.
    pub fn policy(&self) -> Policy {
        Policy {
            dry_run: self.dry_run,
            resync_period_enabled: self.resync_period_enabled,
            resync_period_pending: self.resync_period_pending,
            reinvite_backoff: self.reinvite_backoff,
            reinvite_backoff_cap: Duration::from_secs(24 * 3600),
        }
    }

    /// The batcher's settings.
    pub fn batch(&self) -> BatchConfig {
        BatchConfig {
            max_batch: usize::from(self.max_batch_size),
            window: self.batch_window,
        }
    }
}

/// Durations like 200ms, 30s, 5m, 1h, 1d (or plain seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 200ms, 30s, 5m or 1h"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        _ => return Err(format!("unknown unit {unit:?} in {text:?}: use ms, s, m, h or d")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

/// An AWS region name such as us-east-1.
pub fn parse_region(text: &str) -> Result<String, String> {
    let ok = text.split('-').count() >= 3
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && text.chars().last().is_some_and(|c| c.is_ascii_digit());
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not an AWS region name such as us-east-1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5w").is_err());
    }

    #[test]
    fn regions() {
        assert!(parse_region("us-east-1").is_ok());
        assert!(parse_region("us-gov-west-1").is_ok());
        assert!(parse_region("US-EAST-1").is_err());
        assert!(parse_region("useast1").is_err());
    }
}
