//! Leader election end to end: replicas of the operator binary against one control plane
//! and one emulator, each with its own access key (same administrator account, so the
//! emulator's request log tells the replicas apart). Exactly one replica reconciles; after
//! a kill -9 of the leader the standby takes over within the lease duration (plus a
//! margin); SIGTERM releases the Lease so the next standby takes over before it could
//! have expired; and the request log shows the replicas' calls strictly one after the
//! other, never interleaved.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::{Value, json};
use support::emulator::EmulatorProcess;
use support::operator::OperatorProcess;
use support::scenario::{Setup, apply_member, namespace, wait_ready};
use support::wait::poll;
use support::{Error, TestCluster};

const LEASE_NS: &str = "sho-system";
const LEASE: &str = "securityhub-operator";
const LEASE_DURATION: Duration = Duration::from_secs(6);
/// Time on top of the lease duration for a takeover after a crash: the standby's check
/// (it sleeps until the expiry it last saw), a random back-off of up to 1 s, and slow CI.
const TAKEOVER_MARGIN: Duration = Duration::from_secs(6);
const NS: &str = "t-leader";
const T: Duration = Duration::from_secs(60);
const LEADER: &str = "securityhub_operator_leader";

/// (replica name, access key): same 12 administrator digits, different keys.
const A: (&str, &str) = ("replica-a", "AKIA111111111111AAAA");
const B: (&str, &str) = ("replica-b", "AKIA111111111111BBBB");
const C: (&str, &str) = ("replica-c", "AKIA111111111111CCCC");

fn account(i: usize) -> String {
    format!("6000000000{i:02}")
}

async fn replica(
    cluster: &TestCluster,
    emulator: &EmulatorProcess,
    who: (&str, &str),
) -> Result<OperatorProcess, Error> {
    Setup::new(who.0)
        .access_key(who.1)
        .env("POD_NAME", who.0)
        .operator(&[
            "--leader-election".to_string(),
            format!("--leader-election-namespace={LEASE_NS}"),
            format!("--lease-duration={}s", LEASE_DURATION.as_secs()),
            // Frequent resyncs: a replica that reconciled when it should not would show up
            // in the request log quickly.
            "--resync-enabled=2s".to_string(),
        ])
        .operator_on(cluster, emulator.url())
        .await
}

/// Waits until `operator`'s leader gauge reads `value`; returns how long that took.
async fn wait_leader(operator: &OperatorProcess, value: f64, timeout: Duration) -> Result<Duration, Error> {
    let start = Instant::now();
    let what = format!("the leader gauge to read {value}");
    let led = poll(&what, timeout, || async { Ok(operator.metric(LEADER).await? == value) }).await;
    led.map_err(|e| format!("{e}; log:\n{}", operator.log_text()))?;
    Ok(start.elapsed())
}

async fn holder(client: &kube::Client) -> Result<Option<String>, Error> {
    let lease = Api::<Lease>::namespaced(client.clone(), LEASE_NS).get(LEASE).await?;
    Ok(lease.spec.and_then(|s| s.holder_identity).filter(|h| !h.is_empty()))
}

fn key_of(entry: &Value) -> &str {
    entry["accessKeyId"].as_str().unwrap_or("")
}

/// Sequence numbers of the logged requests made with `key`.
fn seqs(log: &[Value], key: &str) -> Vec<u64> {
    log.iter()
        .filter(|e| key_of(e) == key)
        .filter_map(|e| e["seq"].as_u64())
        .collect()
}

/// The access keys that made calls naming `account`.
fn keys_for(log: &[Value], account: &str) -> Vec<String> {
    let mut keys: Vec<String> = log
        .iter()
        .filter(|e| {
            e["accountIds"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|id| id == account))
        })
        .map(|e| key_of(e).to_string())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

async fn apply_accounts(client: &kube::Client, range: std::ops::RangeInclusive<usize>) -> Result<(), Error> {
    for i in range {
        apply_member(
            client,
            NS,
            &format!("m{i:02}"),
            json!({"accountId": account(i), "regions": ["us-east-1"]}),
        )
        .await?;
    }
    Ok(())
}

async fn wait_accounts(client: &kube::Client, range: std::ops::RangeInclusive<usize>) -> Result<(), Error> {
    for i in range {
        wait_ready(client, NS, &format!("m{i:02}"), "True", "Enabled", T).await?;
    }
    Ok(())
}

#[tokio::test]
async fn one_replica_reconciles_and_hands_over_on_crash_and_on_sigterm() -> Result<(), Error> {
    let cluster = TestCluster::with_crd().await?;
    let client = cluster.client().await?;
    namespace(&client, LEASE_NS).await?;
    namespace(&client, NS).await?;
    let mut emulator_args = Vec::new();
    let accounts: Vec<String> = (1..=8).map(account).collect();
    for a in &accounts {
        emulator_args.extend(["--org-account", a.as_str()]);
    }
    let emulator = EmulatorProcess::start(&emulator_args)?;

    // A leads, B stands by.
    let a = replica(&cluster, &emulator, A).await?;
    wait_leader(&a, 1.0, T).await?;
    let b = replica(&cluster, &emulator, B).await?;
    assert_eq!(b.metric(LEADER).await?, 0.0, "B is a standby");
    assert_eq!(holder(&client).await?.as_deref(), Some(A.0));
    apply_accounts(&client, 1..=3).await?;
    wait_accounts(&client, 1..=3).await?;
    // A few resync periods with both replicas up.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let log = emulator.log().await?;
    assert!(!seqs(&log, A.1).is_empty(), "the leader reconciled");
    assert!(seqs(&log, B.1).is_empty(), "the standby made no AWS call");
    assert_eq!(b.metric(LEADER).await?, 0.0);
    assert_eq!(a.metric(LEADER).await?, 1.0);

    // kill -9 the leader: B takes over once the Lease expires, and reconciles new members.
    a.kill();
    let killed = Instant::now();
    apply_accounts(&client, 4..=5).await?;
    wait_leader(&b, 1.0, LEASE_DURATION + TAKEOVER_MARGIN).await?;
    let takeover = killed.elapsed();
    eprintln!("takeover after kill -9: {takeover:?}");
    wait_accounts(&client, 4..=5).await?;
    assert_eq!(holder(&client).await?.as_deref(), Some(B.0));

    // C stands by; SIGTERM on B releases the Lease, so C need not wait for it to expire.
    let c = replica(&cluster, &emulator, C).await?;
    assert_eq!(c.metric(LEADER).await?, 0.0, "C is a standby");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(c.metric(LEADER).await?, 0.0, "C stays a standby while B leads");
    b.terminate();
    let terminated = Instant::now();
    let status = b.wait_exit(Duration::from_secs(15)).await?;
    assert!(status.success(), "SIGTERM is a clean exit: {status}");
    let after_exit = holder(&client).await?;
    assert_ne!(
        after_exit.as_deref(),
        Some(B.0),
        "B released the Lease before exiting; log:\n{}",
        b.log_text()
    );
    assert!(
        b.log_text().contains("released the Lease"),
        "B says it released the Lease:\n{}",
        b.log_text()
    );
    let handover = terminated.elapsed() + wait_leader(&c, 1.0, LEASE_DURATION + TAKEOVER_MARGIN).await?;
    eprintln!("takeover after SIGTERM: {handover:?}");
    assert!(
        handover < LEASE_DURATION,
        "after a release the standby takes over before the Lease could have expired: {handover:?}"
    );
    apply_accounts(&client, 6..=6).await?;
    wait_accounts(&client, 6..=6).await?;
    assert_eq!(holder(&client).await?.as_deref(), Some(C.0));

    // The request log: A's calls, then B's, then C's; never two replicas at once.
    let log = emulator.log().await?;
    let (sa, sb, sc) = (seqs(&log, A.1), seqs(&log, B.1), seqs(&log, C.1));
    assert!(!sb.is_empty() && !sc.is_empty(), "B and C each reconciled in turn");
    let other: Vec<&str> = log
        .iter()
        .map(key_of)
        .filter(|k| ![A.1, B.1, C.1].contains(k))
        .collect();
    assert!(other.is_empty(), "calls from unknown keys: {other:?}");
    let (last_a, first_b) = (sa.iter().max(), sb.iter().min());
    assert!(
        last_a < first_b,
        "A's last call #{last_a:?} precedes B's first #{first_b:?}"
    );
    let (last_b, first_c) = (sb.iter().max(), sc.iter().min());
    assert!(
        last_b < first_c,
        "B's last call #{last_b:?} precedes C's first #{first_c:?}"
    );
    for (i, acct) in accounts.iter().enumerate().take(6) {
        let keys = keys_for(&log, acct);
        assert!(!keys.is_empty(), "account {acct} (m{:02}) was reconciled", i + 1);
    }
    assert_eq!(keys_for(&log, &account(4)).first().map(String::as_str), Some(B.1));
    assert!(
        keys_for(&log, &account(4)).iter().all(|k| k != A.1),
        "the crashed leader never touched members created after the crash"
    );
    assert!(c.is_running(), "the leader keeps running");
    Ok(())
}
