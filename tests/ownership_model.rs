//! Model-based test of ownership against a real kube-apiserver, the emulator and the
//! shipped operator binary. A seeded, bounded generator interleaves resource creates, edits
//! and deletions (duplicates across namespaces, adopt on and off, both deletion policies,
//! regions added and removed), out-of-band AWS changes (create, disassociate, delete,
//! accept, decline, resign), operator SIGKILL and restart, and AWS faults (5xx, throttling,
//! answers lost after the change was made). The model (tests/support/model.rs) keeps the
//! timeline; after convergence, and again once every resource is deleted, the checks run.
//!
//! `cargo test --test ownership_model` runs two seeds; `CHAOS_FULL=1` (`make chaos`) runs
//! more seeds with more steps. `MODEL_SEEDS=5,6` picks the seeds of `many_seeds`.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use securityhub_operator::api::SecurityHubMember;
use serde_json::json;
use support::Error;
use support::chaos::{Row, assert_none, full, panics, pick, record, set_faults, stop_faults};
use support::cluster::TestCluster;
use support::invariants::{ADMIN_ACCOUNT, Violation};
use support::model::{Model, Pair, Rules, pair};
use support::scenario::{
    ADMIN_KEY, Setup, Stack, apply_member, aws_client, condition, create_member, delete_member, members, namespace,
    patch_spec,
};

const REGIONS: [&str; 2] = ["us-east-1", "us-west-2"];
/// Out-of-band calls act as the administrator with a key the operator does not use.
const OUT_OF_BAND_KEY: &str = "AKIA111111111111OOBX";
/// The operator's --reinvite-backoff in these runs.
const BACKOFF: Duration = Duration::from_secs(4);
const ACCOUNTS: usize = 5;
/// The reasons a resource may rest in once faults stop; any other not-Ready reason means
/// the operator still had work it did not finish.
const SETTLED: [&str; 3] = ["Resigned", "AlreadyExists", "Conflict"];

#[tokio::test]
async fn seed_1() -> Result<(), Error> {
    run(1).await
}

#[tokio::test]
async fn seed_2() -> Result<(), Error> {
    run(2).await
}

/// The long run of `make chaos`: seeds 3.. two at a time (or `MODEL_SEEDS`).
#[tokio::test]
async fn many_seeds() -> Result<(), Error> {
    let seeds: Vec<u64> = match std::env::var("MODEL_SEEDS") {
        Ok(list) => list.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) if full() => (3..=10).collect(),
        Err(_) => {
            eprintln!("many_seeds: skipped; it runs under CHAOS_FULL=1 (make chaos) or with MODEL_SEEDS");
            return Ok(());
        }
    };
    let mut failures = Vec::new();
    for chunk in seeds.chunks(2) {
        let runs = chunk.iter().map(|seed| run(*seed));
        for (seed, result) in chunk.iter().zip(futures::future::join_all(runs).await) {
            if let Err(e) = result {
                failures.push(format!("seed {seed}: {e}"));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n").into())
    }
}

/// One seeded run: generate, converge, check, delete everything, check again.
async fn run(seed: u64) -> Result<(), Error> {
    let mut run = Run::start(seed).await?;
    let steps = pick(30, 80);
    for _ in 0..steps {
        run.step().await?;
        let pause = run.rng.random_range(100..1200);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    run.finish(steps).await
}

/// What happened in a run, for the results table.
#[derive(Default)]
struct Tally {
    applied: usize,
    kills: usize,
    out_of_band: usize,
    fault_windows: usize,
}

/// A resource the run applied and has not deleted.
#[derive(Clone)]
struct Live {
    ns: String,
    name: String,
    regions: Vec<String>,
}

struct Run {
    seed: u64,
    rng: StdRng,
    client: kube::Client,
    stack: Stack,
    namespaces: [String; 2],
    accounts: Vec<String>,
    model: Model,
    /// Resources not deleted yet, by namespace/name.
    live: BTreeMap<String, Live>,
    faults_on: bool,
    faults_off_since: Option<chrono::DateTime<Utc>>,
    tally: Tally,
    /// What the run did, with times, printed when a check fails.
    trace: Vec<String>,
}

impl Run {
    async fn start(seed: u64) -> Result<Self, Error> {
        let cluster = TestCluster::shared().await?;
        let client = cluster.client().await?;
        let namespaces = [format!("own-{seed}-a"), format!("own-{seed}-b")];
        for ns in &namespaces {
            namespace(&client, ns).await?;
        }
        let mut args = vec![
            format!("--reinvite-backoff={}s", BACKOFF.as_secs()),
            format!("--regions={}", REGIONS.join(",")),
        ];
        args.extend(namespaces.iter().map(|ns| format!("--watch-namespace={ns}")));
        let stack = Setup::new(&format!("model-{seed}"))
            .emulator(&["--seed", &seed.to_string(), "--auto-accept-after", "2s"])
            .operator(&args)
            .stack(cluster)
            .await?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut model = Model::default();
        let accounts: Vec<String> = (1..=ACCOUNTS).map(|i| format!("39{:02}{i:08}", seed % 100)).collect();
        for account in &accounts {
            let rules = Rules {
                adopt: rng.random_bool(0.5),
                delete: rng.random_bool(0.7),
            };
            model.account(account, rules);
        }
        Ok(Self {
            seed,
            rng,
            client,
            stack,
            namespaces,
            accounts,
            model,
            live: BTreeMap::new(),
            faults_on: false,
            faults_off_since: None,
            tally: Tally::default(),
            trace: Vec::new(),
        })
    }

    fn note(&mut self, what: String) {
        self.trace.push(format!("{} {what}", Utc::now().format("%H:%M:%S%.3f")));
    }

    async fn step(&mut self) -> Result<(), Error> {
        match self.rng.random_range(0..100) {
            0..25 => self.apply_new().await,
            25..40 => self.edit_regions().await,
            40..52 => self.delete_one().await,
            52..77 => self.out_of_band().await,
            77..86 => self.kill_and_restart().await,
            _ => self.toggle_faults().await,
        }
    }

    fn some_regions(&mut self) -> Vec<String> {
        match self.rng.random_range(0..3) {
            0 => vec![REGIONS[0].to_string()],
            1 => vec![REGIONS[1].to_string()],
            _ => REGIONS.iter().map(|r| r.to_string()).collect(),
        }
    }

    async fn apply_new(&mut self) -> Result<(), Error> {
        let account = self.accounts[self.rng.random_range(0..self.accounts.len())].clone();
        let ns = self.namespaces[self.rng.random_range(0..2)].clone();
        let name = format!("m-{:03}", self.tally.applied);
        let regions = self.some_regions();
        let rules = self.model.rules(&account);
        let reinvite = if self.rng.random_bool(0.5) { "Always" } else { "Removed" };
        let mut spec = json!({
            "accountId": account,
            "adopt": rules.adopt,
            "deletionPolicy": if rules.delete { "Delete" } else { "Retain" },
            "reinvite": reinvite,
        });
        // Some resources take the operator's --regions (both regions) instead of listing them.
        let regions = if self.rng.random_bool(0.2) {
            REGIONS.iter().map(|r| r.to_string()).collect()
        } else {
            spec["regions"] = json!(regions);
            regions
        };
        let at = Utc::now();
        let obj = apply_member(&self.client, &ns, &name, spec.clone()).await?;
        let created = serde_json::to_string(&obj.metadata.creation_timestamp)?;
        let key = format!("{ns}/{name}");
        self.note(format!("apply {key} {spec} created {created}"));
        self.model.created(&key, &account, &created, &regions, at);
        self.live.insert(key, Live { ns, name, regions });
        self.tally.applied += 1;
        Ok(())
    }

    fn pick_live(&mut self) -> Option<(String, Live)> {
        if self.live.is_empty() {
            return None;
        }
        let i = self.rng.random_range(0..self.live.len());
        self.live.iter().nth(i).map(|(k, v)| (k.clone(), v.clone()))
    }

    async fn edit_regions(&mut self) -> Result<(), Error> {
        let Some((key, Live { ns, name, regions })) = self.pick_live() else {
            return Ok(());
        };
        let mut next = self.some_regions();
        if next == regions {
            next = if regions.len() == 2 {
                vec![regions[0].clone()]
            } else {
                REGIONS.iter().map(|r| r.to_string()).collect()
            };
        }
        let at = Utc::now();
        patch_spec(&self.client, &ns, &name, json!({"regions": next})).await?;
        self.note(format!("edit {key} regions {next:?}"));
        self.model.regions(&key, &next, at);
        self.live.insert(
            key,
            Live {
                ns,
                name,
                regions: next,
            },
        );
        Ok(())
    }

    async fn delete_one(&mut self) -> Result<(), Error> {
        let Some((key, Live { ns, name, .. })) = self.pick_live() else {
            return Ok(());
        };
        let at = Utc::now();
        delete_member(&self.client, &ns, &name).await?;
        self.note(format!("delete {key}"));
        self.model.deleted(&key, at);
        self.live.remove(&key);
        Ok(())
    }

    /// Someone outside the operator acts on one (account, region).
    async fn out_of_band(&mut self) -> Result<(), Error> {
        let account = self.accounts[self.rng.random_range(0..self.accounts.len())].clone();
        let region = REGIONS[self.rng.random_range(0..REGIONS.len())];
        let admin = aws_client(self.stack.emulator.url(), OUT_OF_BAND_KEY, region);
        let status = self.stack.emulator.member_status(&account, region).await?;
        let at = Utc::now();
        // Out-of-band writes go through the emulator's faults too: a refused one did not happen.
        let done: Option<&str> = match status.as_deref() {
            None if self.quiet(&account, region).await? => {
                // When the operator got there first, AWS answers "already a member".
                let created = create_member(&admin, &account)
                    .await
                    .is_ok_and(|o| o.unprocessed_accounts().is_empty());
                if created {
                    self.model.foreign_created(&account, region, at);
                }
                created.then_some("created by someone else")
            }
            None => None,
            Some("Invited") => {
                let action = if self.rng.random_bool(0.5) { "accept" } else { "decline" };
                self.stack.emulator.member_action(&account, action, region).await?;
                Some(action)
            }
            Some(status) => {
                let choice = self.rng.random_range(0..3);
                if choice == 0 && status == "Enabled" {
                    self.stack.emulator.member_action(&account, "resign", region).await?;
                    Some("resign")
                } else {
                    let disassociated = admin.disassociate_members().account_ids(&account).send().await.is_ok();
                    let deleted = choice == 2
                        && disassociated
                        && admin
                            .delete_members()
                            .account_ids(&account)
                            .send()
                            .await
                            .is_ok_and(|o| o.unprocessed_accounts().is_empty());
                    if disassociated {
                        self.model.removed_out_of_band(&account, region, deleted, at);
                    }
                    match (disassociated, deleted) {
                        (_, true) => Some("disassociated and deleted"),
                        (true, false) => Some("disassociated"),
                        _ => None,
                    }
                }
            }
        };
        if let Some(what) = done {
            self.note(format!("out of band: {account} in {region} ({status:?}) {what}"));
            self.tally.out_of_band += 1;
        }
        Ok(())
    }

    /// Whether someone else may create the member now without an outcome nobody could tell
    /// apart (AWS does not say who created a member): nothing about the pair changed and no
    /// fault fired for a few seconds, and every resource naming the pair (deleting ones
    /// included) neither records it nor may be about to: it rests in a certain refusal
    /// (AccessDenied) or in AlreadyExists, with no claim.
    async fn quiet(&self, account: &str, region: &str) -> Result<bool, Error> {
        let recent = |t: chrono::DateTime<Utc>| Utc::now() - t < chrono::Duration::seconds(5);
        if self.faults_on
            || self.faults_off_since.is_some_and(recent)
            || self.model.last_change(account, region).is_some_and(recent)
        {
            return Ok(false);
        }
        for obj in self.resources().await? {
            if obj.spec.account_id != account {
                continue;
            }
            let declared = obj.spec.regions.as_ref().is_none_or(|r| r.iter().any(|r| r == region));
            let status = obj.status.clone().unwrap_or_default();
            let recorded = status.regions.iter().any(|r| r.region == region && r.managed);
            let refused = status.observed_generation == obj.metadata.generation
                && status.regions.iter().any(|r| r.region == region)
                && condition(&obj, "Ready")
                    .is_some_and(|(_, reason, _)| reason == "AccessDenied" || reason == "AlreadyExists");
            if recorded || (declared && !refused) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn kill_and_restart(&mut self) -> Result<(), Error> {
        self.stack.kill_operator();
        tokio::time::sleep(Duration::from_millis(self.rng.random_range(0..1500))).await;
        self.stack.start_operator().await?;
        self.note("operator SIGKILLed and restarted".into());
        self.tally.kills += 1;
        Ok(())
    }

    async fn toggle_faults(&mut self) -> Result<(), Error> {
        if self.faults_on {
            stop_faults(&self.stack.emulator).await?;
            self.faults_on = false;
            self.faults_off_since = Some(Utc::now());
            self.note("faults off".into());
            return Ok(());
        }
        let rules = match self.rng.random_range(0..4) {
            0 => json!([{"operation": "*", "errorCode": "LimitExceededException", "probability": 0.3}]),
            1 => json!([{"operation": "*", "serverErrorRate": 0.2}]),
            // A certain refusal (an SCP, a missing permission): the create did not happen.
            2 => json!([{"operation": "CreateMembers", "errorCode": "AccessDeniedException", "probability": 0.7}]),
            _ => {
                let op = WRITES[self.rng.random_range(0..WRITES.len())];
                json!([{"operation": op, "serverErrorRate": 0.5, "afterCommit": true}])
            }
        };
        set_faults(&self.stack.emulator, rules.clone()).await?;
        self.note(format!("faults {rules}"));
        self.faults_on = true;
        self.tally.fault_windows += 1;
        Ok(())
    }

    async fn resources(&self) -> Result<Vec<SecurityHubMember>, Error> {
        let mut all = Vec::new();
        for ns in &self.namespaces {
            all.extend(members(&self.client, ns).list(&Default::default()).await?.items);
        }
        Ok(all)
    }

    /// Every resource at rest and telling the truth (empty when converged).
    async fn unsettled(&self) -> Result<Vec<Violation>, Error> {
        let aws = aws_members(&self.stack).await?;
        Ok(self
            .resources()
            .await?
            .iter()
            .flat_map(|obj| settled(obj, &aws))
            .collect())
    }

    async fn finish(mut self, steps: usize) -> Result<(), Error> {
        if self.faults_on {
            stop_faults(&self.stack.emulator).await?;
        }
        if !self.stack.operator_running() {
            self.stack.start_operator().await?;
        }
        let started = Instant::now();
        let bound = pick(Duration::from_secs(180), Duration::from_secs(300));
        let mut violations = loop {
            let v = self.unsettled().await?;
            if v.is_empty() || started.elapsed() > bound {
                break v;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        let converged = started.elapsed();
        // Then every resource goes; the operator must remove exactly what it created.
        let keys: Vec<String> = self.live.keys().cloned().collect();
        for key in keys {
            if let Some(Live { ns, name, .. }) = self.live.remove(&key) {
                let at = Utc::now();
                delete_member(&self.client, &ns, &name).await?;
                self.model.deleted(&key, at);
            }
        }
        let gone_by = Instant::now() + pick(Duration::from_secs(120), Duration::from_secs(240));
        while !self.resources().await?.is_empty() && Instant::now() < gone_by {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        for obj in self.resources().await? {
            violations.push(Violation {
                invariant: 5,
                subject: format!(
                    "{}/{}",
                    obj.metadata.namespace.clone().unwrap_or_default(),
                    obj.metadata.name.clone().unwrap_or_default()
                ),
                explanation: format!("deleted but never released; Ready: {:?}", condition(&obj, "Ready")),
            });
        }
        let log = self.stack.emulator.log().await?;
        violations.extend(self.model.check_log(&log, ADMIN_KEY, BACKOFF));
        violations.extend(self.model.check_end(&aws_members(&self.stack).await?));
        violations.extend(panics(&self.stack.operator_log()));
        let writes = log
            .iter()
            .filter(|e| e["accessKeyId"] == ADMIN_KEY && WRITES.contains(&e["operation"].as_str().unwrap_or_default()))
            .count();
        let t = &self.tally;
        record(Row {
            scenario: &format!("Ownership model, seed {} ({steps} steps)", self.seed),
            members: t.applied,
            faults: format!(
                "{} SIGKILL, {} out-of-band, {} fault windows; {writes} operator writes checked",
                t.kills, t.out_of_band, t.fault_windows
            ),
            converged,
            violations: violations.len(),
        })?;
        if !violations.is_empty() {
            eprintln!("seed {}: what the run did:\n  {}", self.seed, self.trace.join("\n  "));
            eprintln!(
                "seed {}: the calls behind each violation:\n{}",
                self.seed,
                calls_behind(&violations, &log)
            );
            let kept = support::chaos::table_path().with_file_name(format!("model-seed-{}-operator.log", self.seed));
            if std::fs::copy(self.stack.log_path(), &kept).is_ok() {
                eprintln!("operator log kept at {}", kept.display());
            }
        }
        assert_none(&format!("ownership model seed {}", self.seed), &violations)
    }
}

/// The AWS calls that change membership.
const WRITES: [&str; 4] = ["CreateMembers", "InviteMembers", "DisassociateMembers", "DeleteMembers"];

/// Every logged write naming the account and region of a violation, for the reader of a failure.
fn calls_behind(violations: &[Violation], log: &[serde_json::Value]) -> String {
    let mut out = String::new();
    for v in violations {
        let Some((account, region)) = v.subject.split_once(" in ") else {
            continue;
        };
        out.push_str(&format!("{}:\n", v.subject));
        let named = |e: &&serde_json::Value| {
            e["region"] == region
                && e["accountIds"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == account))
        };
        for e in log.iter().filter(named) {
            out.push_str(&format!(
                "  seq {} {} {} by {} -> {}\n",
                e["seq"], e["time"], e["operation"], e["accessKeyId"], e["outcome"]
            ));
        }
    }
    out
}

/// The member status the emulator holds per (account, region) under the administrator.
async fn aws_members(stack: &Stack) -> Result<BTreeMap<Pair, String>, Error> {
    let state = stack.emulator.get("/_emulator/state").await?;
    let mut out = BTreeMap::new();
    for (region, list) in state["members"][ADMIN_ACCOUNT].as_object().into_iter().flatten() {
        for m in list.as_array().into_iter().flatten() {
            if let (Some(id), Some(status)) = (m["accountId"].as_str(), m["status"].as_str()) {
                out.insert(pair(id, region), status.to_string());
            }
        }
    }
    Ok(out)
}

/// A resource at rest: its status describes its generation, and it is Ready with AWS
/// agreeing in every region, or not Ready for a reason that needs a person, and says why.
fn settled(obj: &SecurityHubMember, aws: &BTreeMap<Pair, String>) -> Vec<Violation> {
    let subject = format!(
        "{}/{}",
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone().unwrap_or_default()
    );
    let unsettled = |invariant: u8, explanation: String| Violation {
        invariant,
        subject: subject.clone(),
        explanation,
    };
    if obj.metadata.deletion_timestamp.is_some() {
        return vec![unsettled(5, "deletion not finished".into())];
    }
    let status = obj.status.clone().unwrap_or_default();
    if status.observed_generation != obj.metadata.generation {
        return vec![unsettled(
            4,
            format!("status describes generation {:?}", status.observed_generation),
        )];
    }
    match condition(obj, "Ready") {
        Some((s, _, _)) if s == "True" => obj
            .spec
            .regions
            .clone()
            .unwrap_or_else(|| REGIONS.iter().map(|r| r.to_string()).collect())
            .iter()
            .filter_map(|region| {
                let in_aws = aws.get(&pair(&obj.spec.account_id, region));
                let reported = status
                    .regions
                    .iter()
                    .find(|r| &r.region == region)
                    .and_then(|r| r.member_status.clone());
                (in_aws.map(String::as_str) != Some("Enabled") || reported.as_ref() != in_aws).then(|| {
                    unsettled(
                        4,
                        format!("Ready, but in {region} AWS holds {in_aws:?} and status reports {reported:?}"),
                    )
                })
            })
            .collect(),
        Some((_, reason, message)) if SETTLED.contains(&reason.as_str()) && !message.trim().is_empty() => Vec::new(),
        other => vec![unsettled(4, format!("not at rest: Ready is {other:?}"))],
    }
}

/// The checker itself must be able to fail: each check against a timeline that breaks it.
mod checker {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::support::model::{At, Model, Rules, pair, parse_time};

    const KEY: &str = "AKIA111111111111EXAM";

    fn t(s: u32) -> At {
        parse_time("2026-01-01T00:00:00Z").expect("time") + chrono::Duration::seconds(s.into())
    }

    fn call(seq: u32, at: At, operation: &str, account: &str) -> Value {
        json!({"seq": seq, "time": at.to_rfc3339(), "operation": operation, "accessKeyId": KEY,
               "region": "us-east-1", "accountIds": [account], "outcome": "ok"})
    }

    fn model(adopt: bool, delete: bool) -> Model {
        let mut m = Model::default();
        m.account("390000000001", Rules { adopt, delete });
        m
    }

    fn regions() -> Vec<String> {
        vec!["us-east-1".to_string()]
    }

    fn check(m: &Model, log: &[Value]) -> Vec<u8> {
        m.check_log(log, KEY, Duration::from_secs(5))
            .iter()
            .map(|v| v.invariant)
            .collect()
    }

    #[test]
    fn a_create_for_an_undeclared_account_is_reported() {
        let m = model(false, true);
        assert_eq!(check(&m, &[call(1, t(0), "CreateMembers", "390000000001")]), vec![1]);
    }

    #[test]
    fn a_removal_after_the_owner_let_go_passes_and_one_before_does_not() {
        let mut m = model(false, true);
        m.created("a/m", "390000000001", "2026-01-01T00:00:00Z", &regions(), t(0));
        let early = [
            call(1, t(1), "CreateMembers", "390000000001"),
            call(2, t(5), "DeleteMembers", "390000000001"),
        ];
        assert_eq!(check(&m, &early), vec![1]);
        m.deleted("a/m", t(10));
        let late = [
            call(1, t(1), "CreateMembers", "390000000001"),
            call(2, t(11), "DeleteMembers", "390000000001"),
        ];
        assert!(check(&m, &late).is_empty());
    }

    #[test]
    fn a_younger_duplicate_letting_go_asks_for_no_removal() {
        let mut m = model(false, true);
        m.created("a/old", "390000000001", "2026-01-01T00:00:00Z", &regions(), t(0));
        m.created("b/young", "390000000001", "2026-01-01T00:00:05Z", &regions(), t(5));
        m.deleted("b/young", t(10));
        assert_eq!(
            check(&m, &[call(1, t(12), "DisassociateMembers", "390000000001")]),
            vec![1]
        );
    }

    #[test]
    fn retain_and_a_foreign_member_forbid_removal_unless_adopted() {
        let mut m = model(false, false);
        m.created("a/m", "390000000001", "2026-01-01T00:00:00Z", &regions(), t(0));
        m.deleted("a/m", t(10));
        assert_eq!(check(&m, &[call(1, t(11), "DeleteMembers", "390000000001")]), vec![1]);
        for adopt in [false, true] {
            let mut m = model(adopt, true);
            m.foreign_created("390000000001", "us-east-1", t(0));
            m.created("a/m", "390000000001", "2026-01-01T00:00:01Z", &regions(), t(1));
            m.deleted("a/m", t(10));
            let log = [
                call(1, t(2), "InviteMembers", "390000000001"),
                call(2, t(11), "DeleteMembers", "390000000001"),
            ];
            let expected: Vec<u8> = if adopt { vec![] } else { vec![1, 1] };
            assert_eq!(check(&m, &log), expected, "adopt {adopt}");
        }
    }

    #[test]
    fn a_second_invitation_needs_the_backoff_or_a_reason() {
        let mut m = model(false, true);
        m.created("a/m", "390000000001", "2026-01-01T00:00:00Z", &regions(), t(0));
        let twice = [
            call(1, t(1), "InviteMembers", "390000000001"),
            call(2, t(2), "InviteMembers", "390000000001"),
        ];
        assert_eq!(check(&m, &twice), vec![3]);
        m.removed_out_of_band("390000000001", "us-east-1", false, t(1));
        assert!(check(&m, &twice).is_empty());
    }

    #[test]
    fn a_removal_whose_answer_was_lost_still_calls_for_an_invitation() {
        let mut m = model(false, true);
        m.created("a/m", "390000000001", "2026-01-01T00:00:00Z", &regions(), t(0));
        let mut lost = call(2, t(2), "DisassociateMembers", "390000000001");
        lost["accessKeyId"] = json!("AKIA111111111111OOBX");
        lost["outcome"] = json!("ServiceUnavailableException");
        let log = [
            call(1, t(1), "InviteMembers", "390000000001"),
            lost,
            call(3, t(3), "InviteMembers", "390000000001"),
        ];
        assert!(check(&m, &log).is_empty());
    }

    #[test]
    fn an_invitation_answered_unprocessed_does_not_count() {
        let mut m = model(false, true);
        m.created("a/m", "390000000001", "2026-01-01T00:00:00Z", &regions(), t(0));
        let mut refused = call(1, t(1), "InviteMembers", "390000000001");
        refused["unprocessed"] = json!(["390000000001"]);
        let log = [refused, call(2, t(2), "InviteMembers", "390000000001")];
        assert!(check(&m, &log).is_empty());
    }

    #[test]
    fn a_member_left_behind_under_delete_is_reported() {
        let mut m = model(false, true);
        m.created("a/m", "390000000001", "2026-01-01T00:00:00Z", &regions(), t(0));
        m.deleted("a/m", t(10));
        let aws = BTreeMap::from([(pair("390000000001", "us-east-1"), "Enabled".to_string())]);
        assert_eq!(m.check_end(&aws).len(), 1);
        m.foreign_created("390000000001", "us-east-1", t(20));
        assert!(m.check_end(&aws).is_empty(), "someone else's member is theirs to keep");
    }
}
