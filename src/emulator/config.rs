//! Emulator configuration: the command-line flags, the optional JSON/YAML file
//! they can point at, and the merged [`EmulatorConfig`] that `spawn` takes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::EmulatorError;
use super::admin::MissingMember;
use super::limits::RateLimit;

/// Flags of `securityhub-operator emulator`.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Account that unsigned requests and keys without 12 digits act as.
    #[arg(long)]
    pub admin_account: Option<String>,
    /// Start with Security Hub off in the administrator account.
    #[arg(long)]
    pub admin_hub_disabled: bool,
    /// Organization account (repeatable): CreateMembers enables it directly.
    #[arg(long = "org-account")]
    pub org_accounts: Vec<String>,
    /// The organization management account (only it may EnableOrganizationAdminAccount).
    #[arg(long)]
    pub management_account: Option<String>,
    /// JSON or YAML file with the same settings (flags win).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Requests per second per (account, region); 0 = unlimited. Default 10.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Token bucket capacity. Default 30.
    #[arg(long)]
    pub burst: Option<u32>,
    /// Invited members accept on their own after this delay (e.g. 2s, 500ms, 1m).
    #[arg(long)]
    pub auto_accept_after: Option<String>,
    /// Account that accepts invitations on its own (repeatable).
    #[arg(long = "auto-accept-account")]
    pub auto_accept_accounts: Vec<String>,
    /// Account that declines invitations and becomes Resigned (repeatable).
    #[arg(long = "decline-account")]
    pub decline_accounts: Vec<String>,
    /// Seed of the random number generator (faults, ids).
    #[arg(long)]
    pub seed: Option<u64>,
    /// How GetMembers reports a non-member: unprocessed or bad-request.
    #[arg(long, value_enum)]
    pub missing_member: Option<MissingMemberArg>,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingMemberArg {
    Unprocessed,
    BadRequest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The config file: every field optional, camelCase keys.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileConfig {
    pub admin_account: Option<String>,
    pub admin_hub_enabled: Option<bool>,
    #[serde(default)]
    pub org_accounts: Vec<String>,
    pub management_account: Option<String>,
    #[serde(default)]
    pub auto_accept_accounts: Vec<String>,
    #[serde(default)]
    pub decline_accounts: Vec<String>,
    #[serde(default)]
    pub suspended_accounts: Vec<String>,
    pub auto_accept_after: Option<String>,
    pub rate: Option<f64>,
    pub burst: Option<u32>,
    pub seed: Option<u64>,
    pub missing_member: Option<MissingMemberArg>,
}

/// Everything [`super::spawn`] needs, with the defaults docs/emulator.md lists.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub listen: SocketAddr,
    pub admin_account: String,
    pub admin_hub_enabled: bool,
    pub organization_accounts: Vec<String>,
    pub management_account: Option<String>,
    pub suspended_accounts: Vec<String>,
    pub auto_accept_accounts: Vec<String>,
    pub decline_accounts: Vec<String>,
    pub auto_accept_after: Option<Duration>,
    pub rate: RateLimit,
    pub seed: Option<u64>,
    pub missing_member: MissingMember,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_account: "111111111111".to_string(),
            admin_hub_enabled: true,
            organization_accounts: Vec::new(),
            management_account: None,
            suspended_accounts: Vec::new(),
            auto_accept_accounts: Vec::new(),
            decline_accounts: Vec::new(),
            auto_accept_after: None,
            rate: RateLimit { rate: 10.0, burst: 30 },
            seed: None,
            missing_member: MissingMember::Unprocessed,
        }
    }
}

impl EmulatorConfig {
    /// Defaults, then the config file, then the flags.
    pub fn from_args(args: &EmulatorArgs) -> Result<Self, EmulatorError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let mut config = EmulatorConfig::default();
        config.apply_file(file)?;
        config.apply_args(args)?;
        config.validate()?;
        Ok(config)
    }

    fn apply_file(&mut self, file: FileConfig) -> Result<(), EmulatorError> {
        if let Some(a) = file.admin_account {
            self.admin_account = a;
        }
        if let Some(enabled) = file.admin_hub_enabled {
            self.admin_hub_enabled = enabled;
        }
        self.organization_accounts.extend(file.org_accounts);
        self.management_account = file.management_account.or(self.management_account.take());
        self.auto_accept_accounts.extend(file.auto_accept_accounts);
        self.decline_accounts.extend(file.decline_accounts);
        self.suspended_accounts.extend(file.suspended_accounts);
        if let Some(text) = file.auto_accept_after {
            self.auto_accept_after = Some(parse_duration(&text)?);
        }
        self.rate.rate = file.rate.unwrap_or(self.rate.rate);
        self.rate.burst = file.burst.unwrap_or(self.rate.burst);
        self.seed = file.seed.or(self.seed);
        if let Some(m) = file.missing_member {
            self.missing_member = m.into();
        }
        Ok(())
    }

    fn apply_args(&mut self, args: &EmulatorArgs) -> Result<(), EmulatorError> {
        self.listen = args.listen;
        if let Some(a) = &args.admin_account {
            self.admin_account = a.clone();
        }
        if args.admin_hub_disabled {
            self.admin_hub_enabled = false;
        }
        self.organization_accounts.extend(args.org_accounts.iter().cloned());
        if let Some(m) = &args.management_account {
            self.management_account = Some(m.clone());
        }
        self.auto_accept_accounts
            .extend(args.auto_accept_accounts.iter().cloned());
        self.decline_accounts.extend(args.decline_accounts.iter().cloned());
        if let Some(text) = &args.auto_accept_after {
            self.auto_accept_after = Some(parse_duration(text)?);
        }
        self.rate.rate = args.rate.unwrap_or(self.rate.rate);
        self.rate.burst = args.burst.unwrap_or(self.rate.burst);
        self.seed = args.seed.or(self.seed);
        if let Some(m) = args.missing_member {
            self.missing_member = m.into();
        }
        Ok(())
    }

    /// Every account id must be 12 digits and the rate must be a finite number >= 0.
    pub fn validate(&self) -> Result<(), EmulatorError> {
        let lists = [
            &self.organization_accounts,
            &self.auto_accept_accounts,
            &self.decline_accounts,
            &self.suspended_accounts,
        ];
        let singles = std::iter::once(&self.admin_account).chain(self.management_account.as_ref());
        let bad = lists
            .into_iter()
            .flatten()
            .chain(singles)
            .find(|a| !super::state::is_account_id(a));
        if let Some(bad) = bad {
            return Err(EmulatorError::Config(format!("{bad} is not a 12-digit account id")));
        }
        if !self.rate.rate.is_finite() || self.rate.rate < 0.0 {
            return Err(EmulatorError::Config("--rate must be 0 or more".to_string()));
        }
        Ok(())
    }
}

impl From<MissingMemberArg> for MissingMember {
    fn from(arg: MissingMemberArg) -> Self {
        match arg {
            MissingMemberArg::Unprocessed => MissingMember::Unprocessed,
            MissingMemberArg::BadRequest => MissingMember::BadRequest,
        }
    }
}

/// YAML is a superset of JSON, so one parser reads both.
fn read_file(path: &PathBuf) -> Result<FileConfig, EmulatorError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EmulatorError::Config(format!("cannot read {}: {e}", path.display())))?;
    serde_yaml_ng::from_str(&text).map_err(|e| EmulatorError::Config(format!("cannot parse {}: {e}", path.display())))
}

/// Parses `500ms`, `2s`, `1.5s`, `3m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, EmulatorError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| EmulatorError::Config(format!("invalid duration {text:?}")))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(EmulatorError::Config(format!(
                "unknown duration unit {other:?} in {text:?}"
            )));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| EmulatorError::Config(format!("invalid duration {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").ok(), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s").ok(), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("3").ok(), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m").ok(), Some(Duration::from_secs(60)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("2 weeks").is_err());
    }

    #[test]
    fn file_config_reads_yaml_and_json() {
        let yaml: FileConfig = serde_yaml_ng::from_str("orgAccounts: ['333333333333']\nrate: 0\n").unwrap();
        assert_eq!(yaml.org_accounts, vec!["333333333333"]);
        let json: FileConfig =
            serde_yaml_ng::from_str(r#"{"declineAccounts": ["444444444444"], "autoAcceptAfter": "1s"}"#).unwrap();
        assert_eq!(json.decline_accounts, vec!["444444444444"]);
        let mut config = EmulatorConfig::default();
        config.apply_file(json).unwrap();
        assert_eq!(config.auto_accept_after, Some(Duration::from_secs(1)));
    }
}
