//! Fault scenarios that disturb the control plane itself, each on its own cluster:
//! kube-apiserver restarted twice and etcd once mid-run; leader failover between two
//! replicas mid-run. Both end with the invariant checker and the secret grep.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::Error;
use support::chaos::{Row, assert_none, panics, pick, record, secret_leaks, set_faults, stop_faults};
use support::cluster::TestCluster;
use support::invariants::{Checker, Ledger};
use support::operator::{OperatorOptions, OperatorProcess};
use support::scenario::{ADMIN_KEY, Stack, apply_member, delete_member, namespace};

fn converge_bound() -> Duration {
    pick(Duration::from_secs(150), Duration::from_secs(600))
}

fn args(ns: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--resync-pending=2s",
        "--resync-enabled=3s",
        "--batch-window=50ms",
        "--reinvite-backoff=1s",
        "--log-level=info,securityhub_operator=debug",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--watch-namespace={ns}"));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

async fn apply_many(client: &kube::Client, ns: &str, prefix: &str, n: usize) -> Result<Vec<String>, Error> {
    let mut accounts = Vec::new();
    for i in 0..n {
        let account = format!("{prefix}{i:0width$}", width = 12 - prefix.len());
        apply_member(
            client,
            ns,
            &format!("m-{i:03}"),
            json!({"accountId": account, "regions": ["us-east-1"]}),
        )
        .await?;
        accounts.push(account);
    }
    Ok(accounts)
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    scenario: &str,
    cluster: &TestCluster,
    stack: &Stack,
    extra_log: &str,
    ns: &str,
    ledger: &Ledger,
    members: usize,
    faults: String,
    started: Instant,
) -> Result<(), Error> {
    let client = cluster.client().await?;
    let checker = Checker::new(client.clone(), &stack.emulator, &[ns], ADMIN_KEY);
    let (_, mut violations) = checker.wait_converged(ledger, converge_bound()).await?;
    let converged = started.elapsed();
    let log = format!("{}{extra_log}", stack.operator_log());
    violations.extend(secret_leaks(&client, &log, &[ns]).await?);
    violations.extend(panics(&log));
    record(Row {
        scenario,
        members,
        faults,
        converged,
        violations: violations.len(),
    })?;
    assert_none(scenario, &violations)
}

#[tokio::test]
async fn apiserver_restarted_twice_and_etcd_once() -> Result<(), Error> {
    let cluster = TestCluster::start().await?;
    cluster.install_crd().await?;
    let ns = "chaos-cp";
    namespace(&cluster.client().await?, ns).await?;
    let a = args(ns, &[]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let s = Stack::start(
        &cluster,
        "controlplane",
        &["--seed", "29", "--auto-accept-after", "500ms"],
        &a,
    )
    .await?;
    // Slow AWS so that work is in flight while the control plane goes away.
    set_faults(
        &s.emulator,
        json!([{"operation": "*", "latencyMs": {"min": 100, "max": 400}}]),
    )
    .await?;
    let n = pick(15, 60);
    let started = Instant::now();
    let accounts = apply_many(&cluster.client().await?, ns, "3800", n).await?;
    let mut ledger = Ledger::default();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.restart_apiserver().await?;
    let client = cluster.client().await?;
    delete_member(&client, ns, "m-000").await?;
    ledger.removal(&accounts[0], "us-east-1");
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.restart_etcd().await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.restart_apiserver().await?;
    stop_faults(&s.emulator).await?;
    if !s.operator_running() {
        return Err(format!("the operator exited:\n{}", s.operator_log()).into());
    }
    finish(
        "kube-apiserver restarted x2, etcd x1",
        &cluster,
        &s,
        "",
        ns,
        &ledger,
        n,
        "3 control-plane restarts".into(),
        started,
    )
    .await
}

#[tokio::test]
async fn leader_failover_between_two_replicas() -> Result<(), Error> {
    let cluster = TestCluster::start().await?;
    cluster.install_crd().await?;
    let ns = "chaos-leader";
    let client = cluster.client().await?;
    namespace(&client, ns).await?;
    let election = [
        "--leader-election",
        "--leader-election-namespace",
        ns,
        "--lease-duration",
        "6s",
    ];
    let a = args(ns, &election);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let s = Stack::start(
        &cluster,
        "leader-a",
        &["--seed", "31", "--auto-accept-after", "500ms"],
        &a,
    )
    .await?;
    // Replica A holds the Lease once it reports leader=1; then B starts as a standby.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let leader = match s
            .operator
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|o| o.metrics_port()))
        {
            Some(_) => leader_of(&s).await?,
            None => 0.0,
        };
        if leader == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let b = OperatorProcess::start(OperatorOptions {
        kubeconfig: cluster.kubeconfig_path(),
        emulator_url: s.emulator.url(),
        access_key: ADMIN_KEY,
        args: a.iter().map(|s| s.to_string()).collect(),
        log_dir: cluster.dir(),
        name: "leader-b",
        env: Vec::new(),
    })
    .await?;
    set_faults(
        &s.emulator,
        json!([{"operation": "*", "latencyMs": {"min": 100, "max": 400}}]),
    )
    .await?;
    let n = pick(12, 60);
    let started = Instant::now();
    apply_many(&client, ns, "3900", n / 2).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The leader dies mid-run; more members arrive while nobody leads; the standby must
    // take over within the lease and finish everything.
    s.kill_operator();
    for i in n / 2..n {
        apply_member(
            &client,
            ns,
            &format!("m-{i:03}"),
            json!({"accountId": format!("39{i:010}"), "regions": ["us-east-1"]}),
        )
        .await?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while b.metric("securityhub_operator_leader").await? != 1.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop_faults(&s.emulator).await?;
    let result = finish(
        "Leader failover (SIGKILL of the leader, standby takes over)",
        &cluster,
        &s,
        &b.log_text(),
        ns,
        &Ledger::default(),
        n,
        "1 leader SIGKILL".into(),
        started,
    )
    .await;
    let b_led = b.metric("securityhub_operator_leader").await?;
    result?;
    assert_eq!(b_led, 1.0, "the standby became the leader");
    Ok(())
}

async fn leader_of(stack: &Stack) -> Result<f64, Error> {
    let port = stack
        .operator
        .lock()
        .map_err(|_| "poisoned")?
        .as_ref()
        .map(|o| o.metrics_port());
    match port {
        Some(port) => {
            let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
                .await?
                .text()
                .await?;
            Ok(text
                .lines()
                .find_map(|l| {
                    l.strip_prefix("securityhub_operator_leader")
                        .and_then(|r| r.trim().parse().ok())
                })
                .unwrap_or(0.0))
        }
        None => Ok(0.0),
    }
}
