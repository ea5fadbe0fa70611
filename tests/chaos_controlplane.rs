//! Fault scenarios that disturb the control plane itself, each on its own cluster:
//! kube-apiserver restarted twice and etcd once mid-run; leader failover between two
//! replicas mid-run. Both end with the invariant checker and the secret grep.

mod support;

use std::time::Duration;

use serde_json::json;
use support::Error;
use support::chaos::{Clock, Ending, apply_many, finish, pick, set_faults, setup, stop_faults};
use support::cluster::TestCluster;
use support::invariants::Ledger;
use support::scenario::{apply_member, delete_member, namespace};
use support::wait::poll;

const LEADER: &str = "securityhub_operator_leader";

#[tokio::test]
async fn apiserver_restarted_twice_and_etcd_once() -> Result<(), Error> {
    let cluster = TestCluster::with_crd().await?;
    let ns = "chaos-cp";
    namespace(&cluster.client().await?, ns).await?;
    let s = setup("controlplane", &[ns])
        .emulator(&["--seed", "29", "--auto-accept-after", "500ms"])
        .stack(&cluster)
        .await?;
    // Slow AWS so that work is in flight while the control plane goes away.
    set_faults(
        &s.emulator,
        json!([{"operation": "*", "latencyMs": {"min": 100, "max": 400}}]),
    )
    .await?;
    let n = pick(15, 60);
    let clock = Clock::start();
    let accounts = apply_many(&cluster.client().await?, ns, "3800", n, json!({})).await?;
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
    finish(Ending {
        scenario: "kube-apiserver restarted x2, etcd x1",
        client: cluster.client().await?,
        stack: &s,
        extra_log: String::new(),
        namespaces: &[ns],
        ledger: &ledger,
        members: n,
        faults: "3 control-plane restarts".into(),
        clock,
    })
    .await
}

#[tokio::test]
async fn leader_failover_between_two_replicas() -> Result<(), Error> {
    let cluster = TestCluster::with_crd().await?;
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
    let replica = setup("leader-a", &[ns]).operator(&election);
    let s = replica
        .clone()
        .emulator(&["--seed", "31", "--auto-accept-after", "500ms"])
        .stack(&cluster)
        .await?;
    // Replica A holds the Lease once it reports leader=1; then B starts as a standby.
    poll("replica A to lead", Duration::from_secs(60), || async {
        Ok(s.metric(LEADER).await? == 1.0)
    })
    .await?;
    let b = replica
        .renamed("leader-b")
        .operator_on(&cluster, s.emulator.url())
        .await?;
    set_faults(
        &s.emulator,
        json!([{"operation": "*", "latencyMs": {"min": 100, "max": 400}}]),
    )
    .await?;
    let n = pick(12, 60);
    let clock = Clock::start();
    apply_many(&client, ns, "3900", n / 2, json!({})).await?;
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
    poll("replica B to take over", Duration::from_secs(60), || async {
        Ok(b.metric(LEADER).await? == 1.0)
    })
    .await?;
    stop_faults(&s.emulator).await?;
    let result = finish(Ending {
        scenario: "Leader failover (SIGKILL of the leader, standby takes over)",
        client: client.clone(),
        stack: &s,
        extra_log: b.log_text(),
        namespaces: &[ns],
        ledger: &Ledger::default(),
        members: n,
        faults: "1 leader SIGKILL".into(),
        clock,
    })
    .await;
    let b_led = b.metric(LEADER).await?;
    result?;
    assert_eq!(b_led, 1.0, "the standby became the leader");
    Ok(())
}
