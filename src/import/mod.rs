//! `securityhub-operator import`: brings an existing Security Hub estate under GitOps.
//! Lists every member the administrator has (ListMembers, OnlyAssociated=false) in each
//! region and writes one `SecurityHubMember` per account that adopts it as it is, so
//! applying the output makes no CreateMembers or InviteMembers call.

mod render;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgAction, Args};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use render::{
    FoundAccount, ImportOptions, NameFrom, Rendered, derive_names, group_by_account, kustomization, multi_document,
    render_all, spec_for,
};

use crate::api::DeletionPolicy;
use crate::config::parse_region;
use crate::plan::ErrorClass;
use crate::securityhub::{AwsError, MemberRecord, MembershipApi, SdkMembership, load_sdk_config};

/// Flags of `securityhub-operator import`.
#[derive(Args, Clone, Debug)]
pub struct ImportArgs {
    /// Regions to list members in (comma-separated), e.g. us-east-1,eu-west-1.
    #[arg(long, required = true, value_delimiter = ',', value_parser = parse_region)]
    pub regions: Vec<String>,

    /// Namespace written into every manifest (omit to leave it to kubectl or kustomize).
    #[arg(long)]
    pub namespace: Option<String>,

    /// Set spec.adopt (default true: without it the operator leaves existing members alone).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    pub adopt: bool,

    /// spec.deletionPolicy (default Retain: deleting an imported resource leaves AWS alone).
    #[arg(long, default_value = "Retain", value_parser = parse_deletion_policy)]
    pub deletion_policy: DeletionPolicy,

    /// Write one file per account (plus a kustomization.yaml) into this directory instead of stdout.
    #[arg(short = 'o', long = "output-dir")]
    pub output_dir: Option<PathBuf>,

    /// Derive resource names from the account id (account-123456789012) or the member's email.
    #[arg(long, value_enum, default_value = "account-id")]
    pub name_from: NameFrom,
}

fn parse_deletion_policy(text: &str) -> Result<DeletionPolicy, String> {
    match text {
        "Retain" => Ok(DeletionPolicy::Retain),
        "Delete" => Ok(DeletionPolicy::Delete),
        _ => Err(format!("{text:?} is not a deletion policy: use Retain or Delete")),
    }
}

/// Why an import failed. Each message names the fix.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("ListMembers in {region} failed: {hint} (AWS said {source})")]
    List {
        region: String,
        hint: &'static str,
        source: AwsError,
    },
    #[error("cannot render the manifests: {0}")]
    Render(#[from] serde_yaml_ng::Error),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Endpoint(#[from] crate::run::RunError),
}

/// What to do about a failed listing, by error class.
fn hint(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::AccessDenied => {
            "the credentials are not allowed to call securityhub:ListMembers; attach deploy/iam-policy.json to the administrator account's identity"
        }
        ErrorClass::NotSubscribed => {
            "Security Hub is not enabled for this account in that region; enable it there or leave the region out of --regions"
        }
        ErrorClass::Credentials => {
            "no usable AWS credentials; set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where IRSA or EKS Pod Identity provides them"
        }
        ErrorClass::Throttled => "AWS kept throttling after the SDK's retries; run the import again later",
        ErrorClass::Unsupported => "this endpoint does not implement ListMembers",
        ErrorClass::Transient => "AWS or the network failed; run the import again",
        ErrorClass::InvalidInput | ErrorClass::Other => "AWS refused the request",
    }
}

/// Runs the import with the standard AWS configuration (env, profile, IRSA, Pod Identity,
/// `AWS_ENDPOINT_URL_SECURITYHUB`).
pub async fn run(args: ImportArgs) -> Result<(), ImportError> {
    crate::run::check_endpoints()?;
    let sdk = load_sdk_config().await;
    let api = SdkMembership::new(sdk);
    let progress = progress_bar(args.regions.len());
    let listings = list_regions(&api, &args.regions, &progress).await;
    progress.finish_and_clear();
    let accounts = group_by_account(&listings?);
    let options = ImportOptions {
        namespace: args.namespace.clone(),
        adopt: args.adopt,
        deletion_policy: args.deletion_policy,
        name_from: args.name_from,
    };
    let rendered = render_all(&accounts, &options)?;
    match &args.output_dir {
        Some(dir) => write_dir(dir, &rendered)?,
        None => print!("{}", multi_document(&rendered)),
    }
    eprintln!(
        "imported {} account(s) from {}{}",
        rendered.len(),
        args.regions.join(", "),
        args.output_dir
            .as_ref()
            .map(|d| format!(" into {}", d.display()))
            .unwrap_or_default()
    );
    Ok(())
}

/// A bar over the regions on stderr; hidden when stderr is not a terminal (CI, pipes).
fn progress_bar(regions: usize) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(regions as u64), target);
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} regions  {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Lists every member (any status) region by region.
pub async fn list_regions(
    api: &dyn MembershipApi,
    regions: &[String],
    progress: &ProgressBar,
) -> Result<Vec<(String, Vec<MemberRecord>)>, ImportError> {
    let mut listings = Vec::with_capacity(regions.len());
    let mut found = 0usize;
    for region in regions {
        progress.set_message(format!("listing members in {region} ({found} so far)"));
        let records = api
            .list_members(region, true)
            .await
            .map_err(|source| ImportError::List {
                region: region.clone(),
                hint: hint(source.class),
                source,
            })?;
        found += records.len();
        listings.push((region.clone(), records));
        progress.inc(1);
    }
    Ok(listings)
}

/// One `<name>.yaml` per account and a kustomization.yaml listing them.
fn write_dir(dir: &Path, rendered: &[Rendered]) -> Result<(), ImportError> {
    let write =
        |path: PathBuf, text: &str| std::fs::write(&path, text).map_err(|source| ImportError::Write { path, source });
    std::fs::create_dir_all(dir).map_err(|source| ImportError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    for r in rendered {
        write(dir.join(format!("{}.yaml", r.name)), &r.yaml)?;
    }
    write(dir.join("kustomization.yaml"), &kustomization(rendered))
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    use crate::securityhub::{ReadResult, Unprocessed};

    /// Lists from a fixed table; refuses one region; every write call panics.
    struct Fake;

    #[async_trait]
    impl MembershipApi for Fake {
        async fn get_members(&self, _: &str, _: &[String]) -> Result<ReadResult, AwsError> {
            unreachable!("import never reads single members")
        }
        async fn create_members(&self, _: &str, _: &[(String, Option<String>)]) -> Result<Vec<Unprocessed>, AwsError> {
            unreachable!("import never writes")
        }
        async fn invite_members(&self, _: &str, _: &[String]) -> Result<Vec<Unprocessed>, AwsError> {
            unreachable!("import never writes")
        }
        async fn disassociate_members(&self, _: &str, _: &[String]) -> Result<Vec<Unprocessed>, AwsError> {
            unreachable!("import never writes")
        }
        async fn delete_members(&self, _: &str, _: &[String]) -> Result<Vec<Unprocessed>, AwsError> {
            unreachable!("import never writes")
        }
        async fn list_members(&self, region: &str, all: bool) -> Result<Vec<MemberRecord>, AwsError> {
            assert!(all, "import must list members of every status");
            if region == "eu-north-1" {
                return Err(AwsError::new(ErrorClass::AccessDenied, "AccessDeniedException", "no"));
            }
            Ok(vec![MemberRecord {
                account_id: "222222222222".into(),
                email: None,
                member: crate::plan::ObservedMember {
                    status: "Enabled".into(),
                    administrator_id: None,
                    invited_at: None,
                    updated_at: None,
                },
            }])
        }
    }

    #[tokio::test]
    async fn lists_every_region_with_all_statuses() {
        let regions = vec!["us-east-1".to_string(), "eu-west-1".to_string()];
        let listings = list_regions(&Fake, &regions, &ProgressBar::hidden())
            .await
            .expect("lists");
        let accounts = group_by_account(&listings);
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].regions.len(), 2);
    }

    #[tokio::test]
    async fn access_denied_names_the_permission() {
        let regions = vec!["eu-north-1".to_string()];
        let err = list_regions(&Fake, &regions, &ProgressBar::hidden())
            .await
            .expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("eu-north-1") && text.contains("securityhub:ListMembers"),
            "{text}"
        );
        assert!(text.contains("AccessDeniedException"), "{text}");
    }

    #[test]
    fn flags_default_to_adopt_and_retain() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(["securityhub-operator", "import", "--regions", "us-east-1"])
            .expect("parses");
        let crate::cli::Command::Import(args) = cli.command else {
            panic!("not import")
        };
        assert!(args.adopt);
        assert_eq!(args.deletion_policy, DeletionPolicy::Retain);
        assert_eq!(args.name_from, NameFrom::AccountId);
        let cli = crate::cli::Cli::try_parse_from([
            "securityhub-operator",
            "import",
            "--regions=us-east-1,eu-west-1",
            "--adopt=false",
            "--deletion-policy",
            "Delete",
            "--name-from",
            "email",
        ])
        .expect("parses");
        let crate::cli::Command::Import(args) = cli.command else {
            panic!("not import")
        };
        assert!(!args.adopt);
        assert_eq!(args.regions.len(), 2);
        assert_eq!(args.deletion_policy, DeletionPolicy::Delete);
    }
}
