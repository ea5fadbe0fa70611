//! `securityhub-operator status`: a one-screen summary of the SecurityHubMembers in the
//! cluster — counts by AWS member status and by Ready reason, then the resources that
//! need attention with the reason and message the operator wrote.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use clap::Args;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

use crate::api::{CONDITION_READY, SecurityHubMember};

/// At most this many resources needing attention are listed; the rest are counted.
const MAX_ATTENTION_ROWS: usize = 20;

/// Flags of `securityhub-operator status`.
#[derive(Args, Clone, Debug)]
pub struct StatusArgs {
    /// Only this namespace (default: all namespaces).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
}

/// Why the summary could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot connect to Kubernetes (check KUBECONFIG): {0}")]
    Connect(#[source] kube::Error),
    #[error(
        "cannot list SecurityHubMembers (is the CRD installed? `securityhub-operator crd | kubectl apply -f -`): {0}"
    )]
    List(#[source] kube::Error),
}

/// Reads the resources and prints the summary on stdout.
pub async fn run(args: StatusArgs) -> Result<(), StatusError> {
    let client = Client::try_default().await.map_err(StatusError::Connect)?;
    let api: Api<SecurityHubMember> = match &args.namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let members = api.list(&ListParams::default()).await.map_err(StatusError::List)?;
    print!("{}", render(&members.items, args.namespace.as_deref()));
    Ok(())
}

/// The Ready condition's status and reason ("Unknown"/"Pending" before the first reconcile).
pub fn ready_of(member: &SecurityHubMember) -> (String, String, String) {
    member
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == CONDITION_READY))
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
        .unwrap_or_else(|| {
            (
                "Unknown".into(),
                "Pending".into(),
                "not reconciled yet: is the operator running and watching this namespace?".into(),
            )
        })
}

fn counts_line(label: &str, counts: &BTreeMap<String, usize>) -> String {
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let body = if parts.is_empty() {
        "–".to_string()
    } else {
        parts.join(", ")
    };
    format!("{label:<25}{body}\n")
}

/// The summary text (pure, for tests).
pub fn render(members: &[SecurityHubMember], namespace: Option<&str>) -> String {
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    let mut attention = Vec::new();
    for m in members {
        for region in m.status.iter().flat_map(|s| s.regions.iter()) {
            let status = region.member_status.clone().unwrap_or_else(|| "(not a member)".into());
            *by_status.entry(status).or_default() += 1;
        }
        let (ready, reason, message) = ready_of(m);
        *by_reason.entry(reason.clone()).or_default() += 1;
        if ready != "True" {
            attention.push((m, reason, message));
        }
    }
    let scope = namespace
        .map(|n| format!("namespace {n}"))
        .unwrap_or_else(|| "all namespaces".into());
    let mut out = format!(
        "{} SecurityHubMember(s) in {scope}: {} Ready, {} not Ready\n\n",
        members.len(),
        members.len() - attention.len(),
        attention.len()
    );
    out.push_str(&counts_line("Member status (regions):", &by_status));
    out.push_str(&counts_line("Ready reason:", &by_reason));
    out.push_str(&attention_table(&attention));
    out
}

fn attention_table(rows: &[(&SecurityHubMember, String, String)]) -> String {
    if rows.is_empty() {
        return "\nNothing needs attention.\n".into();
    }
    let mut out = String::from("\nNeeding attention:\n");
    let _ = writeln!(
        out,
        "{:<40} {:<13} {:<20} MESSAGE",
        "NAMESPACE/NAME", "ACCOUNT", "REASON"
    );
    for (m, reason, message) in rows.iter().take(MAX_ATTENTION_ROWS) {
        let name = format!("{}/{}", m.namespace().unwrap_or_default(), m.name_any());
        let _ = writeln!(out, "{name:<40} {:<13} {reason:<20} {message}", m.spec.account_id);
    }
    if rows.len() > MAX_ATTENTION_ROWS {
        let _ = writeln!(
            out,
            "... and {} more (kubectl get shm -A)",
            rows.len() - MAX_ATTENTION_ROWS
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{RegionStatus, SecurityHubMemberSpec, SecurityHubMemberStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn member(name: &str, statuses: &[&str], ready: Option<(&str, &str, &str)>) -> SecurityHubMember {
        let spec: SecurityHubMemberSpec =
            serde_json::from_value(serde_json::json!({"accountId": "222222222222"})).expect("spec");
        let mut m = SecurityHubMember::new(name, spec);
        m.metadata.namespace = Some("security".into());
        let conditions = ready
            .map(|(status, reason, message)| Condition {
                type_: "Ready".into(),
                status: status.into(),
                reason: reason.into(),
                message: message.into(),
                observed_generation: None,
                last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            })
            .into_iter()
            .collect();
        m.status = Some(SecurityHubMemberStatus {
            conditions,
            regions: statuses
                .iter()
                .map(|s| RegionStatus {
                    region: "us-east-1".into(),
                    member_status: Some(s.to_string()),
                    ..RegionStatus::default()
                })
                .collect(),
            ..SecurityHubMemberStatus::default()
        });
        m
    }

    #[test]
    fn counts_and_attention() {
        let members = [
            member("a", &["Enabled", "Enabled"], Some(("True", "Enabled", "ok"))),
            member("b", &["Enabled"], Some(("True", "Enabled", "ok"))),
            member("c", &["Resigned"], Some(("False", "Resigned", "the member declined"))),
            member("d", &[], None),
        ];
        let text = render(&members, None);
        assert!(text.starts_with("4 SecurityHubMember(s) in all namespaces: 2 Ready, 2 not Ready\n"));
        assert!(
            text.contains("Member status (regions): Enabled 3, Resigned 1\n"),
            "{text}"
        );
        assert!(
            text.contains("Ready reason:            Enabled 2, Pending 1, Resigned 1\n"),
            "{text}"
        );
        assert!(text.contains("security/c"));
        assert!(text.contains("the member declined"));
        assert!(text.contains("security/d"));
        assert!(!text.contains("security/a "));
    }

    #[test]
    fn nothing_to_do_and_long_lists() {
        let ok = [member("a", &["Enabled"], Some(("True", "Enabled", "ok")))];
        assert!(render(&ok, Some("security")).contains("in namespace security: 1 Ready, 0 not Ready"));
        assert!(render(&ok, None).contains("Nothing needs attention."));
        let many: Vec<_> = (0..25)
            .map(|i| {
                member(
                    &format!("m{i}"),
                    &["Invited"],
                    Some(("False", "AwaitingAcceptance", "wait")),
                )
            })
            .collect();
        let text = render(&many, None);
        assert!(text.contains("... and 5 more"), "{text}");
    }
}
