//! The claim journal: claims that precede a CreateMembers, made durable by one ConfigMap per
//! group of concurrent claims (a group commit) instead of one status write per resource.
//!
//! A claim must be durable before the create: a crash in between would otherwise leave our
//! own member looking like a stranger's (`AlreadyExists`). The reconcile's final status write
//! records the claim for good; until then the journal holds it, through any other write to
//! the resource (a label, a spec edit, its deletion). An entry says only "this resource
//! claimed this region"; it stays true until a status write records the region. So an entry
//! is taken out durably (the ConfigMap patched, or deleted) before a status write records the
//! region as not ours or drops it; an entry whose status records the claim may linger in its
//! ConfigMap until the group's last entry closes, and saying "ours" again does no harm.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use tokio::sync::{mpsc, oneshot};

use crate::sync::lock;
use crate::telemetry::Metrics;

/// Label that marks the journal's ConfigMaps; its value names the operator installation (the
/// Lease name), so two installations sharing a namespace never read or delete each other's.
const LABEL: &str = "securityhub.operator.dev/journal";
/// Claims per ConfigMap: far below its 1 MiB limit (an entry is about 100 bytes).
const MAX_GROUP: usize = 2_000;

/// One claim: this resource claims the account in this region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub uid: String,
    pub region: String,
    /// The resource's version at claim time, for whoever reads the ConfigMap.
    pub resource_version: String,
    /// namespace/name and account, for whoever reads the ConfigMap.
    pub object: String,
    pub account_id: String,
}

/// The journal could not record or withdraw a claim.
#[derive(Debug, thiserror::Error)]
#[error("claim journal: {0}")]
pub struct JournalError(String);

/// A resource (by uid) and a region: what one entry claims.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    uid: String,
    region: String,
}

impl Key {
    fn new(uid: &str, region: &str) -> Self {
        Self {
            uid: uid.to_string(),
            region: region.to_string(),
        }
    }
}

/// What the journal's ConfigMaps hold, by resource and region.
#[derive(Default, Debug)]
struct Entries {
    /// Claims no status write has recorded yet, and the ConfigMap holding each.
    claims: HashMap<Key, String>,
    /// Entries status has recorded, still present in a ConfigMap that holds open claims.
    lingering: HashMap<Key, HashSet<String>>,
    /// Open claims per ConfigMap; a ConfigMap with none is deleted.
    open: HashMap<String, usize>,
}

/// How to take entries out of the ConfigMaps.
#[derive(Debug, Default, PartialEq, Eq)]
struct Removal {
    /// ConfigMap name and the data keys to drop from it.
    patch: BTreeMap<String, Vec<String>>,
    /// ConfigMaps left with no open claim.
    delete: Vec<String>,
}

impl Entries {
    /// Records the entries of ConfigMap `name`; returns the ConfigMaps whose last open claim
    /// a newer claim of the same resource and region replaced.
    fn insert(&mut self, name: &str, entries: &[Entry]) -> Vec<String> {
        let mut empty = Vec::new();
        for e in entries {
            *self.open.entry(name.to_string()).or_default() += 1;
            let key = Key::new(&e.uid, &e.region);
            if let Some(old) = self.claims.insert(key.clone(), name.to_string()) {
                self.lingering.entry(key).or_default().insert(old.clone());
                empty.extend(self.release(&old));
            }
        }
        empty
    }

    /// Whether `uid` holds an open claim on `region`.
    fn claimed(&self, uid: &str, region: &str) -> bool {
        self.claims.contains_key(&Key::new(uid, region))
    }

    /// The regions `uid` has an entry for in some ConfigMap, open or lingering.
    fn held(&self, uid: &str) -> Vec<String> {
        let mut regions: Vec<String> = self
            .claims
            .keys()
            .chain(self.lingering.keys())
            .filter(|k| k.uid == uid)
            .map(|k| k.region.clone())
            .collect();
        regions.sort();
        regions.dedup();
        regions
    }

    /// Closes the open claims for which `recorded(uid, region)` is true (status records
    /// them): they only linger now. Returns the ConfigMaps left with no open claim.
    fn close(&mut self, mut recorded: impl FnMut(&str, &str) -> bool) -> Vec<String> {
        let done: Vec<(Key, String)> = self
            .claims
            .iter()
            .filter(|(k, _)| recorded(&k.uid, &k.region))
            .map(|(k, n)| (k.clone(), n.clone()))
            .collect();
        let mut empty = Vec::new();
        for (key, name) in done {
            self.claims.remove(&key);
            self.lingering.entry(key).or_default().insert(name.clone());
            empty.extend(self.release(&name));
        }
        empty
    }

    /// Takes the entries of `uid` in `regions` out, open or lingering: what to patch away
    /// and which ConfigMaps to delete.
    fn withdraw(&mut self, uid: &str, regions: &[String]) -> Removal {
        let mut removal = Removal::default();
        for region in regions {
            let key = Key::new(uid, region);
            let mut names: HashSet<String> = self.lingering.remove(&key).unwrap_or_default();
            if let Some(name) = self.claims.remove(&key) {
                names.insert(name.clone());
                removal.delete.extend(self.release(&name));
            }
            for name in names {
                removal.patch.entry(name).or_default().push(data_key(uid, region));
            }
        }
        removal.patch.retain(|name, _| !removal.delete.contains(name));
        removal
    }

    /// One open claim of `name` is gone; returns `name` when it was the last (its lingering
    /// entries go with it).
    fn release(&mut self, name: &str) -> Option<String> {
        let n = self.open.get_mut(name)?;
        *n = n.saturating_sub(1);
        if *n > 0 {
            return None;
        }
        self.open.remove(name);
        self.lingering.retain(|_, names| {
            names.remove(name);
            !names.is_empty()
        });
        Some(name.to_string())
    }
}

fn data_key(uid: &str, region: &str) -> String {
    format!("{uid}.{region}")
}

/// ConfigMap data: one key per claim, `<uid>.<region>`, valued `<resourceVersion> <ns/name> <account>`.
fn encode(entries: &[Entry]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|e| {
            (
                data_key(&e.uid, &e.region),
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

/// The journal: `record` before a create, `close` after the final status write.
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

    /// Whether `uid` holds a journaled claim on `region` that no status write recorded yet.
    pub fn claimed(&self, uid: &str, region: &str) -> bool {
        lock(&self.inner.entries).claimed(uid, region)
    }

    /// The regions `uid` has any entry for, recorded in status or not.
    pub fn held(&self, uid: &str) -> Vec<String> {
        lock(&self.inner.entries).held(uid)
    }

    /// No entry is open.
    pub fn is_empty(&self) -> bool {
        lock(&self.inner.entries).claims.is_empty()
    }

    /// The resource's status now records every claim it holds: its entries may go.
    pub fn close(&self, uid: &str) {
        let empty = lock(&self.inner.entries).close(|u, _| u == uid);
        delete(&self.inner.api, empty);
    }

    /// Takes `uid`'s entries for `regions` out of every ConfigMap, durably: done before a
    /// status write that records those regions as not ours (or drops them), so no entry can
    /// later claim a member this resource did not create.
    pub async fn withdraw(&self, uid: &str, regions: &[String]) -> Result<(), JournalError> {
        if regions.is_empty() {
            return Ok(());
        }
        let removal = lock(&self.inner.entries).withdraw(uid, regions);
        let api = &self.inner.api;
        for (name, keys) in &removal.patch {
            let data: serde_json::Map<String, serde_json::Value> =
                keys.iter().map(|k| (k.clone(), serde_json::Value::Null)).collect();
            let body = serde_json::json!({ "data": data });
            match api.patch(name, &PatchParams::default(), &Patch::Merge(&body)).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(JournalError(format!("cannot withdraw a claim from {name}: {e}"))),
            }
        }
        for name in &removal.delete {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(JournalError(format!("cannot delete {name}: {e}"))),
            }
        }
        Ok(())
    }

    /// Closes open claims whose resource is gone or whose status records them: `managed(uid)`
    /// gives the regions the resource's status records as its own, `None` when it is gone.
    pub fn collect_garbage(&self, managed: impl Fn(&str) -> Option<Vec<String>>) {
        let empty = lock(&self.inner.entries)
            .close(|uid, region| managed(uid).is_none_or(|regions| regions.iter().any(|r| r == region)));
        delete(&self.inner.api, empty);
    }
}

/// Deletes ConfigMaps with no open claim left, in the background; a failure only leaves
/// entries that status already records (or whose resource is gone).
fn delete(api: &Api<ConfigMap>, names: Vec<String>) {
    for name in names {
        let api = api.clone();
        tokio::spawn(async move {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => tracing::warn!(configmap = %name, error = %e, "cannot delete a closed claim journal"),
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
    fn a_claim_outlives_any_write_to_the_resource_until_status_records_it() {
        let mut e = Entries::default();
        e.insert("cm-1", &[entry("u", "us-east-1", "5")]);
        assert!(e.claimed("u", "us-east-1"), "whatever the resource's version now");
        assert!(!e.claimed("u", "eu-west-1"));
        assert!(!e.claimed("v", "us-east-1"));
        assert_eq!(e.close(|u, _| u == "u"), vec!["cm-1".to_string()]);
        assert!(!e.claimed("u", "us-east-1"));
    }

    #[test]
    fn a_configmap_is_released_when_its_last_open_claim_closes() {
        let mut e = Entries::default();
        e.insert("cm-1", &[entry("a", "us-east-1", "1"), entry("b", "us-east-1", "1")]);
        e.insert("cm-2", &[entry("c", "us-east-1", "1")]);
        assert_eq!(e.close(|uid, _| uid == "a"), Vec::<String>::new());
        assert_eq!(e.held("a"), vec!["us-east-1".to_string()], "still in cm-1");
        assert_eq!(e.close(|uid, _| uid == "b"), vec!["cm-1".to_string()]);
        assert!(e.held("a").is_empty(), "gone with cm-1");
        assert_eq!(e.close(|_, _| true), vec!["cm-2".to_string()]);
        assert!(e.claims.is_empty() && e.open.is_empty() && e.lingering.is_empty());
    }

    #[test]
    fn a_newer_claim_replaces_the_older_and_releases_its_configmap() {
        let mut e = Entries::default();
        assert!(e.insert("cm-1", &[entry("a", "us-east-1", "1")]).is_empty());
        assert_eq!(
            e.insert("cm-2", &[entry("a", "us-east-1", "3")]),
            vec!["cm-1".to_string()]
        );
        assert!(e.claimed("a", "us-east-1"));
        assert_eq!(e.close(|_, _| true), vec!["cm-2".to_string()]);
    }

    /// A withdrawal reaches every ConfigMap holding the entry, open or lingering: one still
    /// shared with open claims is patched, one left with none is deleted.
    #[test]
    fn a_withdrawal_takes_the_entry_out_of_every_configmap() {
        let mut e = Entries::default();
        e.insert("cm-1", &[entry("a", "us-east-1", "1"), entry("b", "us-east-1", "1")]);
        e.close(|uid, _| uid == "a");
        e.insert("cm-2", &[entry("a", "eu-west-1", "2")]);
        let removal = e.withdraw("a", &["us-east-1".to_string(), "eu-west-1".to_string()]);
        assert_eq!(
            removal,
            Removal {
                patch: BTreeMap::from([("cm-1".to_string(), vec!["a.us-east-1".to_string()])]),
                delete: vec!["cm-2".to_string()],
            }
        );
        assert!(e.held("a").is_empty());
        assert!(e.claimed("b", "us-east-1"), "others untouched");
        assert_eq!(e.withdraw("a", &["us-east-1".to_string()]), Removal::default());
    }
}
