//! The pure half of `import`: group listed members by account, derive resource names,
//! choose a spec that makes applying the manifest change nothing in AWS, render YAML.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::api::{DeletionPolicy, ReinvitePolicy, SecurityHubMemberSpec};
use crate::securityhub::MemberRecord;

/// Longest name we produce: a DNS-1123 label, so the name also works as a label value.
const MAX_NAME: usize = 63;

/// How resource names are derived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NameFrom {
    /// `account-123456789012`.
    AccountId,
    /// The member's email, e.g. `root-payments-example-com` (account id when there is none).
    Email,
}

/// What the operator should do with the imported members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    pub namespace: Option<String>,
    pub adopt: bool,
    pub deletion_policy: DeletionPolicy,
    pub name_from: NameFrom,
}

/// One account as found across the listed regions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundAccount {
    pub account_id: String,
    pub email: Option<String>,
    /// (region, MemberStatus as AWS reported it), in the order the regions were listed.
    pub regions: Vec<(String, String)>,
}

/// A rendered manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub name: String,
    pub account_id: String,
    /// One YAML document with a leading comment, without the `---` separator.
    pub yaml: String,
}

/// Groups per-region listings by account; accounts come out sorted by id.
pub fn group_by_account(listings: &[(String, Vec<MemberRecord>)]) -> Vec<FoundAccount> {
    let mut accounts: BTreeMap<&str, FoundAccount> = BTreeMap::new();
    for (region, records) in listings {
        for record in records {
            let entry = accounts
                .entry(record.account_id.as_str())
                .or_insert_with(|| FoundAccount {
                    account_id: record.account_id.clone(),
                    email: None,
                    regions: Vec::new(),
                });
            if entry.email.is_none() {
                entry.email = record.email.clone().filter(|e| !e.trim().is_empty());
            }
            if !entry.regions.iter().any(|(r, _)| r == region) {
                entry.regions.push((region.clone(), record.member.status.clone()));
            }
        }
    }
    accounts.into_values().collect()
}

/// Lower-case alphanumerics and single dashes, no dash at either end.
fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Cuts `name` to `max` characters without leaving a trailing dash.
fn truncate(name: &str, max: usize) -> String {
    name.chars()
        .take(max)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

/// The name before collisions are resolved.
fn base_name(account: &FoundAccount, from: NameFrom) -> String {
    let by_email = match from {
        NameFrom::Email => account.email.as_deref().map(slug).filter(|s| !s.is_empty()),
        NameFrom::AccountId => None,
    };
    match by_email {
        Some(s) => truncate(&s, MAX_NAME),
        None => format!("account-{}", account.account_id),
    }
}

/// DNS-1123 names, unique: every account whose base name is shared gets its id appended,
/// so the result does not depend on the order AWS listed the accounts in.
pub fn derive_names(accounts: &[FoundAccount], from: NameFrom) -> Vec<String> {
    let bases: Vec<String> = accounts.iter().map(|a| base_name(a, from)).collect();
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for base in &bases {
        *uses.entry(base.as_str()).or_default() += 1;
    }
    bases
        .iter()
        .zip(accounts)
        .map(|(base, account)| {
            if uses.get(base.as_str()).copied().unwrap_or(0) > 1 {
                let keep = MAX_NAME - account.account_id.len() - 1;
                format!("{}-{}", truncate(base, keep), account.account_id)
            } else {
                base.clone()
            }
        })
        .collect()
}

fn status_is(status: &str, wanted: &str) -> bool {
    status.eq_ignore_ascii_case(wanted)
}

/// The spec that asks for exactly what AWS already has: a member that was created but
/// never invited keeps `invite: false`, a removed one `reinvite: Never`, so applying the
/// manifest sends no invitation. The comments say how to change that.
pub fn spec_for(account: &FoundAccount, options: &ImportOptions) -> (SecurityHubMemberSpec, Vec<String>) {
    let mut notes = Vec::new();
    let created: Vec<&str> = regions_with(account, "Created");
    let removed: Vec<&str> = regions_with(account, "Removed");
    if !created.is_empty() {
        notes.push(format!(
            "created but never invited in {}: invite is false; set it to true to invite",
            created.join(", ")
        ));
    }
    if !removed.is_empty() {
        notes.push(format!(
            "removed by the administrator in {}: reinvite is Never; set it to Removed to invite again",
            removed.join(", ")
        ));
    }
    let spec = SecurityHubMemberSpec {
        account_id: account.account_id.clone(),
        email: account.email.clone(),
        regions: Some(account.regions.iter().map(|(r, _)| r.clone()).collect()),
        invite: created.is_empty(),
        reinvite: if removed.is_empty() {
            ReinvitePolicy::Removed
        } else {
            ReinvitePolicy::Never
        },
        adopt: options.adopt,
        deletion_policy: options.deletion_policy,
        accept_invitation: None,
    };
    (spec, notes)
}

fn regions_with<'a>(account: &'a FoundAccount, status: &str) -> Vec<&'a str> {
    account
        .regions
        .iter()
        .filter(|(_, s)| status_is(s, status))
        .map(|(r, _)| r.as_str())
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata<'a>,
    spec: &'a SecurityHubMemberSpec,
}

#[derive(Serialize)]
struct Metadata<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
}

/// Renders one manifest per account, named and commented.
pub fn render_all(accounts: &[FoundAccount], options: &ImportOptions) -> Result<Vec<Rendered>, serde_yaml_ng::Error> {
    let names = derive_names(accounts, options.name_from);
    accounts
        .iter()
        .zip(names)
        .map(|(account, name)| render_one(account, name, options))
        .collect()
}

fn render_one(account: &FoundAccount, name: String, options: &ImportOptions) -> Result<Rendered, serde_yaml_ng::Error> {
    let (spec, notes) = spec_for(account, options);
    let manifest = Manifest {
        api_version: "securityhub.operator.dev/v1alpha1",
        kind: "SecurityHubMember",
        metadata: Metadata {
            name: &name,
            namespace: options.namespace.as_deref(),
        },
        spec: &spec,
    };
    let observed: Vec<String> = account.regions.iter().map(|(r, s)| format!("{r} {s}")).collect();
    let mut yaml = format!(
        "# Imported from Security Hub: account {} is {}.\n",
        account.account_id,
        observed.join(", ")
    );
    for note in notes {
        yaml.push_str(&format!("# Note: {note}.\n"));
    }
    yaml.push_str(&serde_yaml_ng::to_string(&manifest)?);
    Ok(Rendered {
        name,
        account_id: account.account_id.clone(),
        yaml,
    })
}

/// Every manifest as one multi-document YAML stream.
pub fn multi_document(rendered: &[Rendered]) -> String {
    rendered
        .iter()
        .map(|r| format!("---\n{}", r.yaml))
        .collect::<Vec<_>>()
        .concat()
}

/// A kustomization listing the files written by `-o DIR`, so `kubectl apply -k DIR` works.
pub fn kustomization(rendered: &[Rendered]) -> String {
    let mut out = String::from(
        "# Generated by `securityhub-operator import`.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
    );
    for r in rendered {
        out.push_str(&format!("  - {}.yaml\n", r.name));
    }
    out
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
