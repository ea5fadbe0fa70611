//! Fault scenarios of the reliability issue against a real kube-apiserver, the emulator
//! and the shipped operator binary. One cluster serves the binary; every scenario has its
//! own emulator, operator (`--watch-namespace`) and namespaces, and ends with the
//! invariant checker (tests/support/invariants.rs) and a secret grep.
//!
//! `cargo test --test chaos` runs the short version; `CHAOS_FULL=1` (`make chaos`) the
//! long one. Every scenario appends its row to the results table.

mod support;

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use support::Error;
use support::chaos::{
    Clock, Ending, Row, apply_many, assert_none, converge_bound, finish, panics, pick, record, secret_leaks,
    set_faults, setup, stop_faults,
};
use support::cluster::TestCluster;
use support::invariants::{Checker, Expect, Ledger};
use support::scenario::{ADMIN_KEY, Stack, apply_member, aws_client, delete_member, namespace, patch_spec, wait_ready};

/// Out-of-band calls act as the administrator with a key the operator does not use.
const OUT_OF_BAND_KEY: &str = "AKIA111111111111OOBX";

/// A scenario's emulator and operator on the shared cluster, watching `namespaces`.
async fn stack(name: &str, namespaces: &[&str], emulator_args: &[&str]) -> Result<Stack, Error> {
    let cluster = TestCluster::shared().await?;
    let client = cluster.client().await?;
    for ns in namespaces {
        namespace(&client, ns).await?;
    }
    setup(name, namespaces).emulator(emulator_args).stack(cluster).await
}

#[tokio::test]
async fn throttling_storm() -> Result<(), Error> {
    let ns = "chaos-throttle";
    let s = stack("throttle", &[ns], &["--seed", "7", "--auto-accept-after", "500ms"]).await?;
    let client = TestCluster::shared().await?.client().await?;
    let n = pick(20, 200);
    let storm = pick(Duration::from_secs(15), Duration::from_secs(120));
    set_faults(
        &s.emulator,
        json!([{"operation": "*", "errorCode": "LimitExceededException", "probability": 0.3}]),
    )
    .await?;
    let mut clock = Clock::start();
    let accounts = apply_many(&client, ns, "3100", n, json!({})).await?;
    let mut ledger = Ledger::default();
    // Two resources are deleted early in the storm, while their creation is retried.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in [0, 1] {
        delete_member(&client, ns, &format!("m-{i:03}")).await?;
        ledger.removal(&accounts[i], "us-east-1");
    }
    let checker = Checker::new(client.clone(), &s.emulator, &[ns], ADMIN_KEY);
    let mid = checker.check_safety(&ledger).await?;
    assert_none("throttling storm (mid-storm)", &mid)?;
    clock
        .watch(&checker, &ledger, storm.saturating_sub(Duration::from_secs(2)))
        .await?;
    let fired = stop_faults(&s.emulator).await?;
    finish(Ending {
        scenario: "Throttling storm (30% LimitExceeded on *)",
        client: client.clone(),
        stack: &s,
        extra_log: String::new(),
        namespaces: &[ns],
        ledger: &ledger,
        members: n,
        faults: format!("{fired} LimitExceeded over {} s", storm.as_secs()),
        clock,
    })
    .await
}

#[tokio::test]
async fn server_errors_and_latency() -> Result<(), Error> {
    let ns = "chaos-5xx";
    let s = stack("servererrors", &[ns], &["--seed", "11", "--auto-accept-after", "500ms"]).await?;
    let client = TestCluster::shared().await?.client().await?;
    let n = pick(12, 60);
    let window = pick(Duration::from_secs(15), Duration::from_secs(90));
    set_faults(
        &s.emulator,
        json!([
            {"operation": "*", "errorCode": "InternalException", "probability": 0.1},
            {"operation": "*", "serverErrorRate": 0.05},
            {"operation": "GetMembers", "latencyMs": {"min": 1000, "max": 3000}},
            {"operation": "CreateMembers", "latencyMs": {"min": 1000, "max": 3000}},
        ]),
    )
    .await?;
    let mut clock = Clock::start();
    apply_many(&client, ns, "3200", n, json!({})).await?;
    let checker = Checker::new(client.clone(), &s.emulator, &[ns], ADMIN_KEY);
    clock.watch(&checker, &Ledger::default(), window).await?;
    let fired = stop_faults(&s.emulator).await?;
    finish(Ending {
        scenario: "Server errors and latency (10% InternalException, 5% 503, 1-3 s latency)",
        client: client.clone(),
        stack: &s,
        extra_log: String::new(),
        namespaces: &[ns],
        ledger: &Ledger::default(),
        members: n,
        faults: format!("{fired} errors/503s + latency over {} s", window.as_secs()),
        clock,
    })
    .await
}

#[tokio::test]
async fn operator_killed_five_times() -> Result<(), Error> {
    let ns = "chaos-kill";
    let s = stack("kill", &[ns], &["--seed", "13", "--auto-accept-after", "500ms"]).await?;
    let client = TestCluster::shared().await?.client().await?;
    let n = pick(15, 80);
    // Slow writes so that kills land in the middle of a batch.
    set_faults(
        &s.emulator,
        json!([
            {"operation": "CreateMembers", "latencyMs": {"min": 200, "max": 800}},
            {"operation": "InviteMembers", "latencyMs": {"min": 200, "max": 800}},
        ]),
    )
    .await?;
    let clock = Clock::start();
    let accounts = apply_many(&client, ns, "3300", n, json!({})).await?;
    let mut ledger = Ledger::default();
    let mut rng = StdRng::seed_from_u64(13);
    for kill in 0..5 {
        let after = Duration::from_millis(rng.random_range(200..2500));
        tokio::time::sleep(after).await;
        if kill == 2 {
            // A deletion that the next operator process must finish.
            delete_member(&client, ns, "m-000").await?;
            ledger.removal(&accounts[0], "us-east-1");
        }
        s.kill_operator();
        s.start_operator().await?;
    }
    stop_faults(&s.emulator).await?;
    finish(Ending {
        scenario: "Operator SIGKILLed 5 times (slow writes, mid-batch)",
        client: client.clone(),
        stack: &s,
        extra_log: String::new(),
        namespaces: &[ns],
        ledger: &ledger,
        members: n,
        faults: "5 SIGKILL + restarts".into(),
        clock,
    })
    .await
}

#[tokio::test]
async fn out_of_band_changes() -> Result<(), Error> {
    let ns = "chaos-oob";
    let s = stack("oob", &[ns], &["--seed", "17", "--auto-accept-after", "500ms"]).await?;
    let client = TestCluster::shared().await?.client().await?;
    let accounts = apply_many(&client, ns, "3400", 5, json!({})).await?;
    patch_spec(&client, ns, "m-003", json!({"reinvite": "Always"})).await?;
    for i in 0..5 {
        wait_ready(&client, ns, &format!("m-{i:03}"), "True", "Enabled", converge_bound()).await?;
    }
    let region = "us-east-1";
    let admin = aws_client(s.emulator.url(), OUT_OF_BAND_KEY, region);
    let mut ledger = Ledger::default();
    // m-000: disassociated behind the operator's back -> Removed -> invited again.
    admin.disassociate_members().account_ids(&accounts[0]).send().await?;
    ledger.reinvite(&accounts[0], region);
    // m-001: disassociated and deleted -> not a member -> created and invited again.
    admin.disassociate_members().account_ids(&accounts[1]).send().await?;
    admin.delete_members().account_ids(&accounts[1]).send().await?;
    ledger.reinvite(&accounts[1], region);
    // m-002: the member resigns; reinvite: Removed (default) -> reported, left alone.
    s.emulator.member_action(&accounts[2], "resign", region).await?;
    ledger.expect(ns, "m-002", Expect::NotReady("Resigned"));
    // m-003: resigns with reinvite: Always -> invited again after the backoff.
    s.emulator.member_action(&accounts[3], "resign", region).await?;
    ledger.reinvite(&accounts[3], region);
    let clock = Clock::start();
    finish(Ending {
        scenario: "Out-of-band: disassociated, deleted, resigned x2",
        client: client.clone(),
        stack: &s,
        extra_log: String::new(),
        namespaces: &[ns],
        ledger: &ledger,
        members: 5,
        faults: "4 out-of-band changes".into(),
        clock,
    })
    .await
}

#[tokio::test]
async fn bad_input_from_aws_and_past_admission() -> Result<(), Error> {
    let ns = "chaos-badinput";
    let s = stack("badinput", &[ns], &["--seed", "19", "--auto-accept-after", "500ms"]).await?;
    let client = TestCluster::shared().await?.client().await?;
    let accounts = apply_many(&client, ns, "3500", 6, json!({})).await?;
    // The administrator itself as a member: AWS refuses it; it must be reported.
    apply_member(
        &client,
        ns,
        "self",
        json!({"accountId": "111111111111", "regions": ["us-east-1"]}),
    )
    .await?;
    let mut ledger = Ledger::default();
    ledger.expect(ns, "self", Expect::NotReadyAnyReason);
    // A resource written by an older operator: a status shape this one never writes.
    apply_member(&client, ns, "legacy", json!({"accountId": "350000000099"})).await?;
    legacy_status(&client, ns, "legacy").await?;
    let phase = pick(Duration::from_secs(4), Duration::from_secs(20));
    let mut fired = 0;
    let corruptions: [(&str, Value); 6] = [
        (
            "GetMembers",
            json!({"corruption": "unknownMemberStatus", "memberStatus": "Paused"}),
        ),
        ("GetMembers", json!({"corruption": "missingFields"})),
        ("GetMembers", json!({"corruption": "malformedJson", "probability": 0.5})),
        ("*", json!({"corruption": "htmlErrorPage", "probability": 0.3})),
        ("CreateMembers", json!({"corruption": "emptyUnprocessed"})),
        ("InviteMembers", json!({"corruption": "emptyUnprocessed"})),
    ];
    for (i, (operation, rule)) in corruptions.iter().enumerate() {
        let mut rule = rule.clone();
        rule["operation"] = json!(operation);
        set_faults(&s.emulator, json!([rule])).await?;
        if i == 4 {
            // New members so that CreateMembers/InviteMembers run under the corruption.
            apply_member(&client, ns, "late-a", json!({"accountId": "350000000100"})).await?;
            apply_member(&client, ns, "late-b", json!({"accountId": "350000000101"})).await?;
        }
        tokio::time::sleep(phase).await;
        fired += stop_faults(&s.emulator).await?;
        if !s.operator_running() {
            return Err(format!("the operator died under {rule}:\n{}", s.operator_log()).into());
        }
    }
    // The other resources kept being served.
    wait_ready(&client, ns, "m-000", "True", "Enabled", converge_bound()).await?;
    let _ = accounts;
    let clock = Clock::start();
    finish(Ending {
        scenario: "Bad input: unknown status, missing fields, malformed JSON, HTML page, empty Unprocessed, self, legacy",
        client: client.clone(),
        stack: &s,
        extra_log: String::new(),
        namespaces: &[ns],
        ledger: &ledger,
        members: 10,
        faults: format!("{fired} corrupted answers"),
        clock,
    })
    .await
}

/// Writes a status as an older operator version might have left it: no regions, a
/// reason this version does not use, a stale generation.
async fn legacy_status(client: &kube::Client, ns: &str, name: &str) -> Result<(), Error> {
    use kube::api::{Api, Patch, PatchParams};
    let api: Api<securityhub_operator::api::SecurityHubMember> = Api::namespaced(client.clone(), ns);
    let status = json!({"status": {
        "observedGeneration": 0,
        "memberStatus": "ASSOCIATED",
        "conditions": [{"type": "Ready", "status": "Unknown", "reason": "Pending", "message": "",
                        "lastTransitionTime": "2020-01-01T00:00:00Z"},
                       {"type": "Legacy", "status": "True", "reason": "Old", "message": "from v0",
                        "lastTransitionTime": "2020-01-01T00:00:00Z"}],
        "regions": [{"region": "us-west-2", "memberStatus": "Associated"}]
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

#[tokio::test]
async fn multi_tenant_guard_and_watch_namespace() -> Result<(), Error> {
    let (a, b, outside) = ("chaos-tenant-a", "chaos-tenant-b", "chaos-unwatched");
    let s = stack("tenants", &[a, b], &["--seed", "23", "--auto-accept-after", "500ms"]).await?;
    let client = TestCluster::shared().await?.client().await?;
    namespace(&client, outside).await?;
    let clock = Clock::start();
    let (shared, ignored) = ("360000000001", "360000000002");
    apply_member(
        &client,
        a,
        "owner",
        json!({"accountId": shared, "regions": ["us-east-1"]}),
    )
    .await?;
    wait_ready(&client, a, "owner", "True", "Enabled", converge_bound()).await?;
    // Namespace B tries to take the account over, with adopt and deletionPolicy Delete.
    let intruder = json!({"accountId": shared, "regions": ["us-east-1"], "adopt": true, "deletionPolicy": "Delete"});
    apply_member(&client, b, "intruder", intruder).await?;
    wait_ready(&client, b, "intruder", "False", "Conflict", converge_bound()).await?;
    delete_member(&client, b, "intruder").await?;
    support::scenario::wait_gone(&client, b, "intruder", converge_bound()).await?;
    // A namespace the operator does not watch is left alone entirely.
    apply_member(
        &client,
        outside,
        "ignored",
        json!({"accountId": ignored, "regions": ["us-east-1"]}),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let obj = support::scenario::members(&client, outside).get("ignored").await?;
    assert!(
        obj.status.is_none() && obj.metadata.finalizers.is_none(),
        "unwatched: {obj:?}"
    );
    assert!(
        s.emulator.history(ignored).await?.is_empty(),
        "no AWS call for an unwatched resource"
    );
    finish(Ending {
        scenario: "Multi-tenant guard (Conflict, deletion of the intruder) + --watch-namespace",
        client: client.clone(),
        stack: &s,
        extra_log: String::new(),
        namespaces: &[a, b],
        ledger: &Ledger::default(),
        members: 3,
        faults: "1 takeover attempt".into(),
        clock,
    })
    .await?;

    // The checker itself: provoke one violation of each invariant and see it reported.
    let admin = aws_client(s.emulator.url(), ADMIN_KEY, "us-east-1"); // signs like the operator
    admin.disassociate_members().account_ids(shared).send().await?; // 2: nobody asked
    admin.invite_members().account_ids(shared).send().await?; // 3: a second invitation
    admin.invite_members().account_ids(shared).send().await?; // 3: and a third
    use kube::api::{Patch, PatchParams};
    let finalizer = json!({"metadata": {"finalizers": [securityhub_operator::api::FINALIZER]}});
    support::scenario::members(&client, outside)
        .patch("ignored", &PatchParams::default(), &Patch::Merge(&finalizer))
        .await?;
    apply_member(&client, outside, "stuck", json!({"accountId": "360000000003"})).await?;
    delete_member(&client, outside, "ignored").await?; // 5: nobody will release it
    let checker = Checker::new(client.clone(), &s.emulator, &[a, b, outside], ADMIN_KEY);
    let found = checker.check(&Ledger::default()).await?;
    for invariant in 1..=5 {
        assert!(
            found.iter().any(|v| v.invariant == invariant),
            "invariant {invariant} not reported; found:\n{}",
            support::invariants::render(&found)
        );
    }
    // Release what the operator never will.
    let none = json!({"metadata": {"finalizers": null}});
    support::scenario::members(&client, outside)
        .patch("ignored", &PatchParams::default(), &Patch::Merge(&none))
        .await?;
    Ok(())
}

#[tokio::test]
async fn credentials_missing_expired_wrong_account() -> Result<(), Error> {
    let cluster = TestCluster::shared().await?;
    let client = cluster.client().await?;
    // (namespace, access key, emulator flags, fault rules, expected reason)
    let cases: [(&str, &str, Vec<&str>, Value, &str); 3] = [
        ("chaos-cred-missing", "", vec![], json!([]), "CredentialsError"),
        (
            "chaos-cred-expired",
            ADMIN_KEY,
            vec![],
            json!([{"operation": "*", "errorCode": "ExpiredTokenException", "status": 403,
                    "message": "The security token included in the request is expired"}]),
            "CredentialsError",
        ),
        // Signs as account 333333333333, which is no Security Hub administrator.
        (
            "chaos-cred-wrong",
            "AKIA333333333333EXAM",
            vec![],
            json!([]),
            "SecurityHubNotEnabled",
        ),
    ];
    let mut problems = Vec::new();
    for (ns, key, emulator_args, faults, reason) in cases {
        namespace(&client, ns).await?;
        let s = setup(ns, &[ns])
            .emulator(&emulator_args)
            .access_key(key)
            .stack(cluster)
            .await?;
        let clock = Clock::start();
        set_faults(&s.emulator, faults).await?;
        apply_member(
            &client,
            ns,
            "m",
            json!({"accountId": "370000000001", "regions": ["us-east-1"]}),
        )
        .await?;
        let got = wait_ready(&client, ns, "m", "False", reason, converge_bound()).await;
        let obj = match got {
            Ok(obj) => obj,
            Err(e) => {
                problems.push(format!("{ns}: {e}"));
                continue;
            }
        };
        let message = support::scenario::condition(&obj, "Ready")
            .map(|c| c.2)
            .unwrap_or_default();
        if message.trim().is_empty() {
            problems.push(format!("{ns}: empty message"));
        }
        let mut ledger = Ledger::default();
        ledger.expect(ns, "m", Expect::NotReady(reason));
        let elapsed = clock.started.elapsed();
        let checker = Checker::new(client.clone(), &s.emulator, &[ns], key);
        let mut violations = checker.check(&ledger).await?;
        violations.extend(secret_leaks(&client, &s.operator_log(), &[ns]).await?);
        violations.extend(panics(&s.operator_log()));
        record(Row {
            scenario: &format!("Credentials: {} -> {reason}", ns.trim_start_matches("chaos-cred-")),
            members: 1,
            faults: format!("{} fired", support::chaos::fired(&s.emulator).await?),
            converged: elapsed,
            violations: violations.len(),
        })?;
        if !violations.is_empty() {
            problems.push(format!("{ns}:\n{}", support::invariants::render(&violations)));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}
