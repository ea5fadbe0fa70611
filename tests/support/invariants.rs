//! The invariant checker of the reliability scenarios: it compares the resources in the
//! cluster with the emulator's state and request log and returns every violation, each
//! with an explanation a person can act on.
//!
//! 1. Every member a resource declares converges to its desired state once faults stop.
//! 2. No DisassociateMembers/DeleteMembers for an account unless its owning resource was
//!    deleted with `deletionPolicy: Delete` or the region was removed from it.
//! 3. InviteMembers per account only when the state and reinvite policy call for it.
//! 4. Every resource that is not Ready has a condition whose reason and message say why.
//! 5. No resource is left with a finalizer the operator could have removed.
//!
//! The scenario keeps a [`Ledger`] of what it did (deletions, region removals, out-of-band
//! changes) so that the checker knows which AWS writes were called for.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use securityhub_operator::api::{FINALIZER, SecurityHubMember};
use serde_json::Value;

use super::Error;
use super::emulator::{EmulatorProcess, unprocessed};
use super::scenario::condition;

/// The administrator account the operator runs as in the scenarios.
pub const ADMIN_ACCOUNT: &str = "111111111111";

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// 1 to 5 as numbered in the module documentation; 0 for a leaked secret.
    pub invariant: u8,
    /// The resource or account concerned.
    pub subject: String,
    pub explanation: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invariant {} ({}): {}",
            self.invariant, self.subject, self.explanation
        )
    }
}

/// What a resource should end up as once faults stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Ready=True; each declared region holds the member as `Enabled` (or `Created`
    /// when `invite: false`) and the status reports what the emulator holds.
    Ready,
    /// Ready=False with this reason (e.g. Resigned, Conflict, Unprocessed).
    NotReady(&'static str),
    /// Ready=False with any reason (bad input whose exact reason is not the point).
    NotReadyAnyReason,
}

/// What the scenario did, so that the checker knows which writes were called for.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// (account, region) pairs whose removal from AWS was asked for.
    removals: BTreeSet<(String, String)>,
    /// Invitations beyond the first that the state and policy call for, per (account, region).
    extra_invites: HashMap<(String, String), usize>,
    /// Accounts that never get an invitation (organization accounts).
    no_invite: BTreeSet<String>,
    /// Expected end state per namespace/name (default: Ready).
    expected: HashMap<String, Expect>,
}

impl Ledger {
    /// The scenario deleted a resource with `deletionPolicy: Delete` or removed `region`
    /// from it: the operator may disassociate and delete the member there.
    pub fn removal(&mut self, account: &str, region: &str) {
        self.removals.insert((account.to_string(), region.to_string()));
    }

    /// Something (an out-of-band removal, a resignation under `reinvite: Always`) calls for
    /// one more invitation of `account` in `region`.
    pub fn reinvite(&mut self, account: &str, region: &str) {
        *self
            .extra_invites
            .entry((account.to_string(), region.to_string()))
            .or_default() += 1;
    }

    /// An organization account: AWS enables it directly, it must never be invited.
    pub fn organization(&mut self, account: &str) {
        self.no_invite.insert(account.to_string());
    }

    /// The end state of `namespace/name` (default: [`Expect::Ready`]).
    pub fn expect(&mut self, namespace: &str, name: &str, expect: Expect) {
        self.expected.insert(format!("{namespace}/{name}"), expect);
    }
}

/// Compares the cluster with the emulator.
pub struct Checker<'a> {
    pub client: Client,
    pub emulator: &'a EmulatorProcess,
    /// The namespaces the scenario owns.
    pub namespaces: Vec<String>,
    /// The access key id the operator signs with: calls made with other keys (the
    /// scenario acting out-of-band) are not the operator's.
    pub operator_key: String,
    /// Regions of resources that do not list spec.regions (the operator's --regions).
    pub default_regions: Vec<String>,
}

/// The member status the emulator holds for (account, region) under the administrator.
type AwsMembers = BTreeMap<(String, String), String>;

impl<'a> Checker<'a> {
    pub fn new(client: Client, emulator: &'a EmulatorProcess, namespaces: &[&str], operator_key: &str) -> Self {
        Self {
            client,
            emulator,
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            operator_key: operator_key.to_string(),
            default_regions: vec!["us-east-1".to_string()],
        }
    }

    async fn resources(&self) -> Result<Vec<SecurityHubMember>, Error> {
        let mut all = Vec::new();
        for ns in &self.namespaces {
            let api: Api<SecurityHubMember> = Api::namespaced(self.client.clone(), ns);
            all.extend(api.list(&ListParams::default()).await?.items);
        }
        Ok(all)
    }

    async fn aws_members(&self) -> Result<AwsMembers, Error> {
        let state = self.emulator.get("/_emulator/state").await?;
        let mut members = AwsMembers::new();
        if let Some(regions) = state["members"][ADMIN_ACCOUNT].as_object() {
            for (region, list) in regions {
                for m in list.as_array().into_iter().flatten() {
                    if let (Some(id), Some(status)) = (m["accountId"].as_str(), m["status"].as_str()) {
                        members.insert((id.to_string(), region.clone()), status.to_string());
                    }
                }
            }
        }
        Ok(members)
    }

    /// Every invariant, now. Invariants 1 and 5 are about the end state: call this once
    /// faults have stopped (see [`Checker::wait_converged`]).
    pub async fn check(&self, ledger: &Ledger) -> Result<Vec<Violation>, Error> {
        let resources = self.resources().await?;
        let aws = self.aws_members().await?;
        let log = self.emulator.log().await?;
        let mut out = Vec::new();
        for obj in &resources {
            out.extend(self.converged(obj, ledger, &aws));
            out.extend(explained(obj));
            out.extend(finalizer_released(obj));
        }
        out.extend(self.writes_called_for(&log, ledger));
        out.extend(self.invitations_called_for(&resources, &log, ledger));
        Ok(out)
    }

    /// Only the invariants that hold at every moment (2 and 3), e.g. mid-fault.
    pub async fn check_safety(&self, ledger: &Ledger) -> Result<Vec<Violation>, Error> {
        let resources = self.resources().await?;
        let log = self.emulator.log().await?;
        let mut out = self.writes_called_for(&log, ledger);
        out.extend(self.invitations_called_for(&resources, &log, ledger));
        Ok(out)
    }

    /// Polls [`Checker::check`] until it finds nothing or `timeout` passes; returns how long
    /// it took and the violations of the last check (empty when converged).
    pub async fn wait_converged(
        &self,
        ledger: &Ledger,
        timeout: Duration,
    ) -> Result<(Duration, Vec<Violation>), Error> {
        let started = Instant::now();
        loop {
            let violations = self.check(ledger).await?;
            if violations.is_empty() || started.elapsed() > timeout {
                return Ok((started.elapsed(), violations));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn desired_regions(&self, obj: &SecurityHubMember) -> Vec<String> {
        obj.spec.regions.clone().unwrap_or_else(|| self.default_regions.clone())
    }

    /// Invariant 1.
    fn converged(&self, obj: &SecurityHubMember, ledger: &Ledger, aws: &AwsMembers) -> Vec<Violation> {
        let key = key(obj);
        let violation = |explanation: String| Violation {
            invariant: 1,
            subject: key.clone(),
            explanation,
        };
        if obj.metadata.deletion_timestamp.is_some() {
            return Vec::new(); // invariant 5's business
        }
        let mut out = Vec::new();
        let status = obj.status.clone().unwrap_or_default();
        if status.observed_generation != obj.metadata.generation {
            out.push(violation(format!(
                "status describes generation {:?}, the resource is at {:?}",
                status.observed_generation, obj.metadata.generation
            )));
        }
        let ready = condition(obj, "Ready");
        let expect = ledger.expected.get(&key).cloned().unwrap_or(Expect::Ready);
        match (&expect, &ready) {
            (Expect::Ready, Some((s, _, _))) if s == "True" => {}
            (Expect::NotReady(reason), Some((s, r, _))) if s == "False" && r == reason => {}
            (Expect::NotReadyAnyReason, Some((s, _, _))) if s == "False" => {}
            _ => out.push(violation(format!("expected {expect:?}, Ready is {ready:?}"))),
        }
        for region in self.desired_regions(obj) {
            let in_aws = aws.get(&(obj.spec.account_id.clone(), region.clone()));
            let reported = status
                .regions
                .iter()
                .find(|r| r.region == region)
                .and_then(|r| r.member_status.clone());
            if expect == Expect::Ready {
                let end = if obj.spec.invite { "Enabled" } else { "Created" };
                let acceptable = in_aws.is_some_and(|s| s == end || s == "Enabled");
                if !acceptable {
                    out.push(violation(format!(
                        "{region}: AWS holds {in_aws:?}, the desired state is {end}"
                    )));
                }
            }
            let comparable = in_aws.is_some() || reported.is_some();
            if comparable && reported.as_ref() != in_aws && expect != Expect::NotReadyAnyReason {
                out.push(violation(format!(
                    "{region}: status reports {reported:?} but AWS holds {in_aws:?}"
                )));
            }
        }
        out
    }

    /// Invariant 2: every DisassociateMembers/DeleteMembers the operator sent (whatever
    /// its outcome) names only accounts whose removal was asked for in that region.
    fn writes_called_for(&self, log: &[Value], ledger: &Ledger) -> Vec<Violation> {
        let mut out = Vec::new();
        for e in self.operator_calls(log, &["DisassociateMembers", "DeleteMembers"]) {
            let region = e["region"].as_str().unwrap_or_default();
            for account in accounts(e) {
                if !ledger.removals.contains(&(account.clone(), region.to_string())) {
                    out.push(Violation {
                        invariant: 2,
                        subject: account.clone(),
                        explanation: format!(
                            "{} in {region} (seq {}, outcome {}) although no owning resource was deleted with Delete \
                             and the region was not removed",
                            e["operation"], e["seq"], e["outcome"]
                        ),
                    });
                }
            }
        }
        out
    }

    /// Invariant 3: invitations AWS carried out per (account, region) at most once plus what
    /// the ledger calls for; never for organization accounts or `invite: false`.
    fn invitations_called_for(
        &self,
        resources: &[SecurityHubMember],
        log: &[Value],
        ledger: &Ledger,
    ) -> Vec<Violation> {
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for e in self.operator_calls(log, &["InviteMembers"]) {
            if e["outcome"] != "ok" {
                continue; // refused before it ran: nobody was invited
            }
            let region = e["region"].as_str().unwrap_or_default().to_string();
            // An account answered in UnprocessedAccounts was not invited.
            for account in accounts(e).into_iter().filter(|a| !unprocessed(e, a)) {
                *counts.entry((account, region.clone())).or_default() += 1;
            }
        }
        let never: BTreeSet<&str> = resources
            .iter()
            .filter(|o| !o.spec.invite)
            .map(|o| o.spec.account_id.as_str())
            .chain(ledger.no_invite.iter().map(String::as_str))
            .collect();
        let mut out = Vec::new();
        for ((account, region), n) in counts {
            let allowed = if never.contains(account.as_str()) {
                0
            } else {
                1 + ledger
                    .extra_invites
                    .get(&(account.clone(), region.clone()))
                    .copied()
                    .unwrap_or(0)
            };
            if n > allowed {
                out.push(Violation {
                    invariant: 3,
                    subject: account,
                    explanation: format!("{n} InviteMembers in {region}, at most {allowed} called for"),
                });
            }
        }
        out
    }

    fn operator_calls<'l>(&self, log: &'l [Value], operations: &[&str]) -> Vec<&'l Value> {
        log.iter()
            .filter(|e| e["accessKeyId"] == self.operator_key.as_str())
            .filter(|e| operations.iter().any(|op| e["operation"] == *op))
            .collect()
    }
}

fn key(obj: &SecurityHubMember) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

fn accounts(entry: &Value) -> Vec<String> {
    entry["accountIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// Invariant 4: a resource that is not Ready says why.
fn explained(obj: &SecurityHubMember) -> Vec<Violation> {
    let violation = |explanation: String| Violation {
        invariant: 4,
        subject: key(obj),
        explanation,
    };
    match condition(obj, "Ready") {
        None => vec![violation("no Ready condition".into())],
        Some((s, _, _)) if s == "True" => Vec::new(),
        Some((_, reason, message)) if reason.is_empty() || message.trim().is_empty() => {
            vec![violation(format!(
                "not Ready with reason {reason:?} and message {message:?}"
            ))]
        }
        Some(_) => Vec::new(),
    }
}

/// Invariant 5: a deleted resource whose finalizer is still there is stuck; once faults
/// stopped nothing prevents the operator from finishing (it owns or retains, or it never
/// owned the member).
fn finalizer_released(obj: &SecurityHubMember) -> Vec<Violation> {
    if obj.metadata.deletion_timestamp.is_none() || !obj.finalizers().iter().any(|f| f == FINALIZER) {
        return Vec::new();
    }
    vec![Violation {
        invariant: 5,
        subject: key(obj),
        explanation: format!(
            "deleted but the finalizer is still there; Ready: {:?}",
            condition(obj, "Ready")
        ),
    }]
}

/// Secrets that must never appear: the secret access key the operator runs with, and
/// anything shaped like an STS secret (40 mixed-case alphanumerics) or session token
/// (64 of them), plus the names of the fields that carry them.
pub fn leaked_secrets(where_: &str, text: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    let leak = |what: String| Violation {
        invariant: 0,
        subject: where_.to_string(),
        explanation: what,
    };
    for needle in [
        "test-secret-value",
        "SessionToken",
        "x-amz-security-token",
        "SecretAccessKey",
    ] {
        if text.contains(needle) {
            out.push(leak(format!("contains {needle:?}")));
        }
    }
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        let random_looking = word.len() >= 40
            && word.chars().any(|c| c.is_ascii_uppercase())
            && word.chars().any(|c| c.is_ascii_lowercase())
            && word.chars().any(|c| c.is_ascii_digit());
        if random_looking {
            out.push(leak(format!("contains a credential-shaped string {}...", &word[..8])));
        }
    }
    out
}

/// Every Event message and resource status in the namespaces, as text for [`leaked_secrets`].
pub async fn cluster_text(client: &Client, namespaces: &[&str]) -> Result<String, Error> {
    let mut text = String::new();
    for ns in namespaces {
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
        for e in events.list(&ListParams::default()).await?.items {
            text.push_str(&format!("{:?} {:?}\n", e.reason, e.note));
        }
        let members: Api<SecurityHubMember> = Api::namespaced(client.clone(), ns);
        for m in members.list(&ListParams::default()).await?.items {
            text.push_str(&serde_json::to_string(&m.status)?);
            text.push('\n');
        }
    }
    Ok(text)
}

/// Shows violations one per line for assertion messages.
pub fn render(violations: &[Violation]) -> String {
    violations.iter().map(|v| format!("  {v}\n")).collect()
}
