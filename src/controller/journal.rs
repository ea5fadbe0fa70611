//! The claim journal: claims that precede a CreateMembers, made durable by one ConfigMap per
//! group of concurrent claims (a group commit) instead of one status write per resource.
//!
//! A claim must be durable before the create: a crash in between would otherwise leave our
//! own member looking like a stranger's (`AlreadyExists`). The reconcile's final status write
//! records the claim for good; until then the journal holds it. An entry keeps the resource's
//! `resourceVersion` at claim time and counts only while the resource is still at that version:
//! any later write to the resource (our status, a spec edit) supersedes it, so an entry that
//! outlives its purpose (a crash, a failed delete) can never claim anything.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::{mpsc, oneshot};

use crate::sync::lock;
use crate::telemetry::Metrics;

/// Label that marks the journal's ConfigMaps; its value names the operator installation (the
/// Lease name), so two installations sharing a namespace never read or delete each other's.
const LABEL: &str = "securityhub.operator.dev/journal";
/// Claims per ConfigMap: far below its 1 MiB limit (an entry is about 100 bytes).
const MAX_GROUP: usize = 2_000;

/// One claim: this resource, at this version, claims the account in this region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub uid: String,
    pub region: String,
    pub resource_version: String,
    /// namespace/name and account, for whoever reads the ConfigMap.
    pub object: String,
    pub account_id: String,
}

/// The journal could not record a claim.
#[derive(Debug, thiserror::Error)]
#[error("claim journal: {0}")]
pub struct JournalError(String);

/// The entries not yet superseded, by (uid, region), and how many each ConfigMap still holds.
#[derive(Default, Debug)]
struct Entries {
    claims: HashMap<(String, String), (String, String)>,
    open: HashMap<String, usize>,
}

impl Entries {
    /// Records the entries of ConfigMap `name`; returns the ConfigMaps whose last entry
    /// a newer claim of the same resource and region replaced.
    fn insert(&mut self, name: &str, entries: &[Entry]) -> Vec<String> {
        let mut empty = Vec::new();
        for e in entries {
            *self.open.entry(name.to_string()).or_default() += 1;
            let key = (e.uid.clone(), e.region.clone());
            let old = self.claims.insert(key, (e.resource_version.clone(), name.to_string()));
            if let Some((_, old_name)) = old {
                empty.extend(self.release(&old_name));
            }
        }
        empty
    }

    /// Whether `uid` claimed `region` and has not been written since.
    fn claimed(&self, uid: &str, region: &str, resource_version: &str) -> bool {
        self.claims
            .get(&(uid.to_string(), region.to_string()))
            .is_some_and(|(rv, _)| rv == resource_version)
    }

    /// Drops every entry for which `keep(uid, resource_version)` is false; returns the
    /// ConfigMaps left with no entry.
    fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) -> Vec<String> {
        let mut dropped = Vec::new();
        self.claims.retain(|(uid, _), (rv, name)| {
            let kept = keep(uid, rv);
            if !kept {
                dropped.push(name.clone());
            }
            kept
        });
        dropped.into_iter().filter_map(|name| self.release(&name)).collect()
    }

    /// One entry of `name` is gone; returns `name` when it was the last.
    fn release(&mut self, name: &str) -> Option<String> {
        let n = self.open.get_mut(name)?;
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.open.remove(name);
            return Some(name.to_string());
        }
        None
    }
}

/// ConfigMap data: one key per claim, `<uid>.<region>`, valued `<resourceVersion> <ns/name> <account>`.
fn encode(entries: &[Entry]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|e| {
            (
                format!("{}.{}", e.uid, e.region),
                format!("{} {} {}", e.resource_version, e.object, e.account_id),
            )
        })
        .collect()
}

/// The entries of a ConfigMap's data; malformed keys or values are skipped.
fn decode(data: &BTreeMap<String, String>) -> Vec<Entry> {
    data.iter()
        .filter_map(|(key, value)| {
            let (uid, region) = key.split_once('.')?;
            let mut parts = value.split(' ');
            let (rv, object, account) = (parts.next()?, parts.next()?, parts.next()?);
            Some(Entry {
                uid: uid.to_string(),
                region: region.to_string(),
                resource_version: rv.to_string(),
                object: object.to_string(),
                account_id: account.to_string(),
            })
        })
        .filter(|e| !e.uid.is_empty() && !e.region.is_empty() && !e.resource_version.is_empty())
        .collect()
}

struct Request {
    entries: Vec<Entry>,
    reply: oneshot::Sender<Result<(), String>>,
}

struct Inner {
    api: Api<ConfigMap>,
    metrics: Arc<Metrics>,
    /// The installation's name: the label value and the ConfigMaps' name prefix.
    owner: String,
    entries: Mutex<Entries>,
}

/// The journal: `record` before a create, `settle` after the final status write.
pub struct Journal {
    inner: Arc<Inner>,
    requests: mpsc::UnboundedSender<Request>,
}

impl Journal {
    /// A journal in `namespace`, its ConfigMaps named `<owner>-claims-...`; starts its writer.
    pub fn start(client: Client, namespace: &str, owner: &str, metrics: Arc<Metrics>) -> Self {
        let inner = Arc::new(Inner {
            api: Api::namespaced(client, namespace),
            metrics,
            owner: owner.to_string(),
            entries: Mutex::default(),
        });
        let (requests, rx) = mpsc::unbounded_channel();
        tokio::spawn(commit_groups(inner.clone(), rx));
        Self { inner, requests }
    }

    /// Reads what an earlier process left (entries still current count as claims).
    pub async fn load(&self) -> Result<usize, kube::Error> {
        let selector = format!("{LABEL}={}", self.inner.owner);
        let list = self.inner.api.list(&ListParams::default().labels(&selector)).await?;
        let mut empty = Vec::new();
        let mut n = 0;
        for cm in list.items {
            let Some(name) = cm.metadata.name else { continue };
            let found = decode(&cm.data.unwrap_or_default());
            n += found.len();
            if found.is_empty() {
                empty.push(name);
            } else {
                empty.extend(lock(&self.inner.entries).insert(&name, &found));
            }
        }
        delete(&self.inner.api, empty);
        Ok(n)
    }

    /// Makes `entries` durable, in one ConfigMap with every other claim waiting meanwhile.
    pub async fn record(&self, entries: Vec<Entry>) -> Result<(), JournalError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { entries, reply })
            .map_err(|_| JournalError("the journal writer stopped".into()))?;
        answer
            .await
            .map_err(|_| JournalError("the journal writer stopped".into()))?
            .map_err(JournalError)
    }

    /// Whether `uid` at `resource_version` holds a journaled claim on `region`.
    pub fn claimed(&self, uid: &str, region: &str, resource_version: &str) -> bool {
        lock(&self.inner.entries).claimed(uid, region, resource_version)
    }

    /// No entry is open.
    pub fn is_empty(&self) -> bool {
        lock(&self.inner.entries).claims.is_empty()
    }

    /// The resource's status now carries its claims (or it is gone): forget its entries.
    pub fn settle(&self, uid: &str) {
        let empty = lock(&self.inner.entries).retain(|u, _| u != uid);
        delete(&self.inner.api, empty);
    }

    /// Forgets entries whose resource is gone or has been written since (`current(uid)` gives
    /// the resource's version now, `None` when it no longer exists).
    pub fn collect_garbage(&self, current: impl Fn(&str) -> Option<String>) {
        let empty = lock(&self.inner.entries).retain(|uid, rv| current(uid).is_some_and(|now| now == rv));
        delete(&self.inner.api, empty);
    }
}

/// Deletes ConfigMaps with no live entry left, in the background; a failure only leaves
/// entries that no longer count (their resources have been written since).
fn delete(api: &Api<ConfigMap>, names: Vec<String>) {
    for name in names {
        let api = api.clone();
        tokio::spawn(async move {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => tracing::warn!(configmap = %name, error = %e, "cannot delete a settled claim journal"),
            }
        });
    }
}

/// The writer: takes every request queued while the previous ConfigMap was being written.
async fn commit_groups(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        let mut size = group[0].entries.len();
        while size < MAX_GROUP {
            let Ok(next) = rx.try_recv() else { break };
            size += next.entries.len();
            group.push(next);
        }
        let entries: Vec<Entry> = group.iter().flat_map(|r| r.entries.iter().cloned()).collect();
        let result = write(&inner, &entries).await;
        inner.metrics.journal_written(result.is_ok(), entries.len());
        for request in group {
            let _ = request.reply.send(result.clone());
        }
    }
}

async fn write(inner: &Inner, entries: &[Entry]) -> Result<(), String> {
    let cm = ConfigMap {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-claims-", inner.owner)),
            labels: Some(BTreeMap::from([
                (LABEL.to_string(), inner.owner.clone()),
                (
                    "app.kubernetes.io/managed-by".to_string(),
                    "securityhub-operator".to_string(),
                ),
            ])),
            ..ObjectMeta::default()
        },
        data: Some(encode(entries)),
        ..ConfigMap::default()
    };
    let created = inner
        .api
        .create(&PostParams::default(), &cm)
        .await
        .map_err(|e| e.to_string())?;
    let name = created.metadata.name.unwrap_or_default();
    let empty = lock(&inner.entries).insert(&name, entries);
    delete(&inner.api, empty);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uid: &str, region: &str, rv: &str) -> Entry {
        Entry {
            uid: uid.into(),
            region: region.into(),
            resource_version: rv.into(),
            object: "team/m".into(),
            account_id: "123456789012".into(),
        }
    }

    #[test]
    fn entries_round_trip_through_configmap_data() {
        let entries = vec![
            entry("0b6f-11", "us-east-1", "42"),
            entry("0b6f-11", "eu-west-1", "42"),
            entry("77aa", "us-east-1", "7"),
        ];
        let mut decoded = decode(&encode(&entries));
        decoded.sort_by(|a, b| (&a.uid, &a.region).cmp(&(&b.uid, &b.region)));
        let mut expected = entries;
        expected.sort_by(|a, b| (&a.uid, &a.region).cmp(&(&b.uid, &b.region)));
        assert_eq!(decoded, expected);
    }

    #[test]
    fn malformed_data_is_skipped() {
        let data = BTreeMap::from([
            ("no-region".to_string(), "1 a/b 123456789012".to_string()),
            ("u.us-east-1".to_string(), "1 a/b".to_string()),
            (".us-east-1".to_string(), "1 a/b 123456789012".to_string()),
            ("u.us-east-1 ".to_string(), " a/b 123456789012".to_string()),
            ("u.eu-west-1".to_string(), "9 a/b 123456789012".to_string()),
        ]);
        assert_eq!(
            decode(&data),
            vec![Entry {
                object: "a/b".into(),
                ..entry("u", "eu-west-1", "9")
            }]
        );
    }

    #[test]
    fn a_claim_counts_only_at_the_version_it_was_made() {
        let mut e = Entries::default();
        e.insert("cm-1", &[entry("u", "us-east-1", "5")]);
        assert!(e.claimed("u", "us-east-1", "5"));
        assert!(!e.claimed("u", "us-east-1", "6"), "written since: superseded");
        assert!(!e.claimed("u", "eu-west-1", "5"));
        assert!(!e.claimed("v", "us-east-1", "5"));
    }

    #[test]
    fn a_configmap_is_released_when_its_last_entry_goes() {
        let mut e = Entries::default();
        e.insert("cm-1", &[entry("a", "us-east-1", "1"), entry("b", "us-east-1", "1")]);
        e.insert("cm-2", &[entry("c", "us-east-1", "1")]);
        assert_eq!(e.retain(|uid, _| uid != "a"), Vec::<String>::new());
        assert_eq!(e.retain(|uid, _| uid != "b"), vec!["cm-1".to_string()]);
        assert_eq!(e.retain(|_, rv| rv != "1"), vec!["cm-2".to_string()]);
        assert!(e.claims.is_empty() && e.open.is_empty());
    }

    #[test]
    fn a_newer_claim_replaces_the_older_and_releases_its_configmap() {
        let mut e = Entries::default();
        assert!(e.insert("cm-1", &[entry("a", "us-east-1", "1")]).is_empty());
        assert_eq!(
            e.insert("cm-2", &[entry("a", "us-east-1", "3")]),
            vec!["cm-1".to_string()]
        );
        assert!(e.claimed("a", "us-east-1", "3"));
        assert_eq!(e.retain(|_, _| false), vec!["cm-2".to_string()]);
    }
}
