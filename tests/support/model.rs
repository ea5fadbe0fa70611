//! The ownership model of `tests/ownership_model.rs`: a timeline of what the scenario did
//! (which resource declared which account in which region and when, when it let go, which
//! members someone else created) and the checks of the operator's AWS writes against it.
//!
//! Every account has one `adopt` and one `deletionPolicy` for all resources naming it, so
//! that "its owner's policy" is known without knowing which duplicate holds the claim.
//! The checks, each in the words a reader of a violation needs:
//!
//! - **owned**: CreateMembers/InviteMembers name only (account, region) pairs some resource
//!   declared at that moment (give or take [`WANT_SLACK`]); DisassociateMembers/DeleteMembers
//!   only pairs whose owning resource let go (deleted, or the region dropped) under
//!   `deletionPolicy: Delete`, and never a member someone else created unless the account
//!   is adopted;
//! - **removed**: once no resource exists, every member the operator created is gone under
//!   `Delete` (and none was touched under `Retain`, by the first check);
//! - **backoff**: no account is invited twice within the reinvite backoff unless something
//!   in between (an out-of-band removal, a clean-up) calls for a new invitation.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::emulator::unprocessed;
use super::invariants::Violation;

pub type At = DateTime<Utc>;

/// From when to when (open while it lasts).
type Span = (At, Option<At>);

/// How long after a resource stopped declaring a pair a create or invite for it may still
/// land: a call planned just before the change, waiting in its batch under throttling.
pub const WANT_SLACK: Duration = Duration::from_secs(30);

/// How long a region the owner declared again may still be cleaned up: the operator's
/// cache lags the API server by this much at most in the scenarios.
pub const CACHE_SLACK: Duration = Duration::from_secs(3);

/// What every resource naming an account asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    pub adopt: bool,
    pub delete: bool,
}

/// One resource the scenario applied.
#[derive(Clone, Debug)]
struct Resource {
    account: String,
    /// (creationTimestamp, namespace/name): the operator's order of seniority.
    seniority: (String, String),
    /// Per region, the intervals in which the spec listed it.
    spans: BTreeMap<String, Vec<Span>>,
}

impl Resource {
    fn declares(&self, region: &str, at: At) -> bool {
        self.spans
            .get(region)
            .into_iter()
            .flatten()
            .any(|(from, to)| *from <= at && to.is_none_or(|to| at < to))
    }

    /// Whether it declared `region` at any moment of `[from, to]`.
    fn declared_during(&self, region: &str, from: At, to: At) -> bool {
        self.spans
            .get(region)
            .into_iter()
            .flatten()
            .any(|(start, end)| *start <= to && end.is_none_or(|end| end >= from))
    }

    /// Whether it listed `region` again after `after`, earlier than `until`.
    fn declared_again(&self, region: &str, after: At, until: At) -> bool {
        self.spans
            .get(region)
            .into_iter()
            .flatten()
            .any(|(start, _)| *start > after && *start < until)
    }

    fn open(&self) -> impl Iterator<Item = &String> {
        self.spans
            .iter()
            .filter(|(_, spans)| spans.last().is_some_and(|(_, to)| to.is_none()))
            .map(|(region, _)| region)
    }
}

/// A resource stopped declaring (account, region): deleted, or the region left its spec.
#[derive(Clone, Debug)]
struct Release {
    key: String,
    at: At,
}

/// The scenario's timeline.
#[derive(Clone, Debug, Default)]
pub struct Model {
    rules: BTreeMap<String, Rules>,
    resources: BTreeMap<String, Resource>,
    releases: BTreeMap<(String, String), Vec<Release>>,
    /// Members created by someone else: (account, region) -> [(created, deleted)].
    foreign: BTreeMap<(String, String), Vec<Span>>,
    /// Out-of-band removals (disassociate or delete): each calls for a new invitation.
    removed_out_of_band: BTreeMap<(String, String), Vec<At>>,
}

/// (account, region).
pub type Pair = (String, String);

pub fn pair(account: &str, region: &str) -> Pair {
    (account.to_string(), region.to_string())
}

impl Model {
    pub fn account(&mut self, account: &str, rules: Rules) {
        self.rules.insert(account.to_string(), rules);
    }

    pub fn rules(&self, account: &str) -> Rules {
        self.rules.get(account).copied().unwrap_or(Rules {
            adopt: false,
            delete: true,
        })
    }

    /// A resource was created at `at` (its creationTimestamp is `created`).
    pub fn created(&mut self, key: &str, account: &str, created: &str, regions: &[String], at: At) {
        let spans = regions.iter().map(|r| (r.clone(), vec![(at, None)])).collect();
        self.resources.insert(
            key.to_string(),
            Resource {
                account: account.to_string(),
                seniority: (created.to_string(), key.to_string()),
                spans,
            },
        );
    }

    /// The resource's spec now lists exactly `regions`.
    pub fn regions(&mut self, key: &str, regions: &[String], at: At) {
        let Some(r) = self.resources.get_mut(key) else { return };
        let open: BTreeSet<String> = r.open().cloned().collect();
        let account = r.account.clone();
        for region in open.iter().filter(|o| !regions.contains(o)) {
            close(r, region, at);
            self.releases.entry(pair(&account, region)).or_default().push(Release {
                key: key.to_string(),
                at,
            });
        }
        for region in regions.iter().filter(|n| !open.contains(*n)) {
            r.spans.entry(region.clone()).or_default().push((at, None));
        }
    }

    /// The resource was deleted.
    pub fn deleted(&mut self, key: &str, at: At) {
        self.regions(key, &[], at);
    }

    /// Someone else created the member (out of band).
    pub fn foreign_created(&mut self, account: &str, region: &str, at: At) {
        self.foreign.entry(pair(account, region)).or_default().push((at, None));
    }

    /// The member was disassociated (and, with `deleted`, deleted) out of band.
    pub fn removed_out_of_band(&mut self, account: &str, region: &str, deleted: bool, at: At) {
        let key = pair(account, region);
        self.removed_out_of_band.entry(key.clone()).or_default().push(at);
        if deleted && let Some(last) = self.foreign.get_mut(&key).and_then(|s| s.last_mut()) {
            last.1.get_or_insert(at);
        }
    }

    /// Whether some resource (not deleted) declares the pair now.
    pub fn declared(&self, account: &str, region: &str, at: At) -> bool {
        self.resources
            .values()
            .any(|r| r.account == account && r.declares(region, at))
    }

    /// The most recent moment anything about the pair changed in the model.
    pub fn last_change(&self, account: &str, region: &str) -> Option<At> {
        let key = pair(account, region);
        let spans = self
            .resources
            .values()
            .filter(|r| r.account == account)
            .flat_map(|r| r.spans.get(region).into_iter().flatten())
            .flat_map(|(from, to)| [Some(*from), *to]);
        let foreign = self
            .foreign
            .get(&key)
            .into_iter()
            .flatten()
            .flat_map(|(from, to)| [Some(*from), *to]);
        let removed = self
            .removed_out_of_band
            .get(&key)
            .into_iter()
            .flatten()
            .map(|t| Some(*t));
        spans.chain(foreign).chain(removed).flatten().max()
    }

    fn foreign_at(&self, key: &Pair, at: At) -> bool {
        self.foreign
            .get(key)
            .into_iter()
            .flatten()
            .any(|(from, to)| *from <= at && to.is_none_or(|to| at < to))
    }

    /// A foreign member still there at the end of the scenario.
    pub fn foreign_now(&self, account: &str, region: &str) -> bool {
        self.foreign
            .get(&pair(account, region))
            .and_then(|s| s.last())
            .is_some_and(|(_, to)| to.is_none())
    }

    /// Whether `release` was made by the pair's owner: the most senior resource declaring it.
    fn by_owner(&self, key: &Pair, release: &Release) -> bool {
        let Some(me) = self.resources.get(&release.key) else {
            return false;
        };
        let before = release.at - chrono::Duration::milliseconds(1);
        !self
            .resources
            .iter()
            .filter(|(k, _)| **k != release.key)
            .any(|(_, r)| r.account == key.0 && r.declares(&key.1, before) && r.seniority < me.seniority)
    }

    /// Whether a removal of the pair at `at` was asked for: its owner let go before, and did
    /// not declare it again (longer than the cache lag) before the call.
    fn removal_asked(&self, key: &Pair, at: At) -> bool {
        self.releases.get(key).into_iter().flatten().any(|release| {
            let Some(owner) = self.resources.get(&release.key) else {
                return false;
            };
            let before_call = at - chrono::Duration::from_std(CACHE_SLACK).unwrap_or_default();
            release.at <= at && self.by_owner(key, release) && !owner.declared_again(&key.1, release.at, before_call)
        })
    }

    /// The **owned** check for one operator write.
    fn check_write(&self, operation: &str, account: &str, region: &str, at: At, seq: &Value) -> Option<String> {
        let key = pair(account, region);
        let rules = self.rules(account);
        let foreign = self.foreign_at(&key, at) && !rules.adopt;
        match operation {
            "CreateMembers" | "InviteMembers" => {
                let wanted = self
                    .resources
                    .values()
                    .filter(|r| r.account == account)
                    .any(|r| r.declared_during(region, at - slack(WANT_SLACK), at));
                if !wanted {
                    return Some(format!("{operation} (seq {seq}) although no resource declared it"));
                }
                (operation == "InviteMembers" && foreign)
                    .then(|| format!("InviteMembers (seq {seq}) of a member someone else created, not adopted"))
            }
            _ => {
                if !rules.delete {
                    return Some(format!("{operation} (seq {seq}) although its resources say Retain"));
                }
                if foreign {
                    return Some(format!(
                        "{operation} (seq {seq}) of a member someone else created, not adopted"
                    ));
                }
                (!self.removal_asked(&key, at))
                    .then(|| format!("{operation} (seq {seq}) although its owner did not let go of it"))
            }
        }
    }

    /// **owned** and **backoff** over the emulator's request log (only entries signed with
    /// `operator_key`).
    pub fn check_log(&self, log: &[Value], operator_key: &str, backoff: Duration) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut invites: BTreeMap<Pair, Vec<At>> = BTreeMap::new();
        // Any removal, by anyone and whatever its answer (an answer lost after the change was
        // made still removed the member), calls for a new invitation.
        let cleanups = removals(log);
        for e in log.iter().filter(|e| e["accessKeyId"] == operator_key) {
            let operation = e["operation"].as_str().unwrap_or_default();
            if !WRITES.contains(&operation) {
                continue;
            }
            let Some(at) = e["time"].as_str().and_then(parse_time) else {
                continue;
            };
            let region = e["region"].as_str().unwrap_or_default();
            for account in e["accountIds"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if let Some(why) = self.check_write(operation, account, region, at, &e["seq"]) {
                    out.push(violation(1, account, region, why));
                }
                // Only an invitation AWS carried out counts (not one answered Unprocessed).
                if operation == "InviteMembers" && e["outcome"] == "ok" && !unprocessed(e, account) {
                    invites.entry(pair(account, region)).or_default().push(at);
                }
            }
        }
        for (key, times) in invites {
            for w in times.windows(2) {
                let (a, b) = (w[0], w[1]);
                let reset = |t: &At| a <= *t && *t <= b;
                let called_for = self.removed_out_of_band.get(&key).into_iter().flatten().any(reset)
                    || cleanups.get(&key).into_iter().flatten().any(reset)
                    || self.releases.get(&key).into_iter().flatten().any(|r| reset(&r.at));
                if !called_for && b - a < slack(backoff) {
                    out.push(violation(
                        3,
                        &key.0,
                        &key.1,
                        format!(
                            "invited at {a} and again {} ms later, within the {} s backoff",
                            (b - a).num_milliseconds(),
                            backoff.as_secs()
                        ),
                    ));
                }
            }
        }
        out
    }

    /// **removed**: given the members AWS holds once every resource is gone.
    pub fn check_end(&self, aws: &BTreeMap<Pair, String>) -> Vec<Violation> {
        let mut out = Vec::new();
        for ((account, region), status) in aws {
            let ever = self
                .resources
                .values()
                .any(|r| &r.account == account && r.spans.contains_key(region));
            if !ever || !self.rules(account).delete || self.foreign_now(account, region) {
                continue;
            }
            out.push(violation(
                2,
                account,
                region,
                format!(
                    "still a member ({status}) although every resource is gone and they said deletionPolicy Delete: the operator created it and lost it"
                ),
            ));
        }
        out
    }
}

/// The AWS calls that change membership.
const WRITES: [&str; 4] = ["CreateMembers", "InviteMembers", "DisassociateMembers", "DeleteMembers"];

fn close(r: &mut Resource, region: &str, at: At) {
    if let Some(last) = r.spans.get_mut(region).and_then(|s| s.last_mut()) {
        last.1.get_or_insert(at);
    }
}

fn slack(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

pub fn parse_time(s: &str) -> Option<At> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

fn violation(invariant: u8, account: &str, region: &str, explanation: String) -> Violation {
    Violation {
        invariant,
        subject: format!("{account} in {region}"),
        explanation,
    }
}

/// When each pair was disassociated or deleted, by any caller, whatever the answer said.
fn removals(log: &[Value]) -> BTreeMap<Pair, Vec<At>> {
    let mut out: BTreeMap<Pair, Vec<At>> = BTreeMap::new();
    for e in log {
        if !matches!(e["operation"].as_str(), Some("DisassociateMembers" | "DeleteMembers")) {
            continue;
        }
        let (Some(at), Some(accounts)) = (e["time"].as_str().and_then(parse_time), e["accountIds"].as_array()) else {
            continue;
        };
        let region = e["region"].as_str().unwrap_or_default();
        for account in accounts.iter().filter_map(Value::as_str) {
            out.entry(pair(account, region)).or_default().push(at);
        }
    }
    out
}
