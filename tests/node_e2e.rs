//! The chart installed for real: its pods run from the image `scripts/oci-image.py` builds,
//! on a node (`tests/node/node.sh`: kubelet + containerd), find the API server through
//! in-cluster config, elect a leader, and reconcile members against the emulator on the
//! node's bridge. Needs root and the node packages; skipped, with the reason, otherwise.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use support::Error;
use support::emulator::{EmulatorProcess, operator_binary};
use support::node::NodeCluster;
use support::scenario::{ADMIN_KEY, apply_member, namespace, poll, wait_ready};

const RELEASE: &str = "sho";
const RELEASE_NS: &str = "securityhub-system";
const MEMBERS_NS: &str = "team-a";
const REPOSITORY: &str = "ghcr.io/securityhub-operator/securityhub-operator";
const TAG: &str = "e2e";
const SELECTOR: &str = "app.kubernetes.io/name=securityhub-operator";
/// The chart's default lease duration.
const LEASE_DURATION: Duration = Duration::from_secs(15);
const INVITED: &str = "222222222222";
const ORGANIZATION: &str = "555555555555";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Writes the operator image from the binary under test and loads it into the node.
fn load_image(node: &NodeCluster, dir: &Path) -> Result<(), Error> {
    let archive = dir.join("operator-image.tar");
    let binary = std::env::var("SHO_IMAGE_BINARY").unwrap_or_else(|_| operator_binary().to_string());
    let status = std::process::Command::new("python3")
        .arg(repo().join("scripts/oci-image.py"))
        .args([
            "operator",
            "--binary",
            &binary,
            "--name",
            &format!("{REPOSITORY}:{TAG}"),
        ])
        .arg("--out")
        .arg(&archive)
        .status()?;
    if !status.success() {
        return Err(format!("oci-image.py failed with {status}").into());
    }
    node.import(&archive)?;
    let _ = std::fs::remove_file(&archive);
    Ok(())
}

fn helm_install(node: &NodeCluster, emulator: &EmulatorProcess, extra: &[&str]) -> Result<Duration, Error> {
    let chart = repo().join("charts/securityhub-operator");
    let env = json!([
        {"name": "AWS_ACCESS_KEY_ID", "value": ADMIN_KEY},
        {"name": "AWS_SECRET_ACCESS_KEY", "value": "node-e2e"},
    ])
    .to_string();
    let url = emulator.url();
    let mut args = vec![
        "upgrade",
        "--install",
        RELEASE,
        chart.to_str().ok_or("chart path")?,
        "--namespace",
        RELEASE_NS,
        "--create-namespace",
        "--wait",
        "--timeout=240s",
        "--set",
        "image.pullPolicy=Never",
    ];
    let sets = [
        format!("image.repository={REPOSITORY}"),
        format!("image.tag={TAG}"),
        format!("aws.endpointUrl={url}"),
        format!("aws.stsEndpointUrl={url}"),
        "resync.pending=5s".to_string(),
    ];
    for set in &sets {
        args.extend(["--set", set.as_str()]);
    }
    let env = format!("extraEnv={env}");
    args.extend(["--set-json", env.as_str()]);
    args.extend(extra);
    let start = Instant::now();
    node.run("helm", &args)?;
    Ok(start.elapsed())
}

async fn ready_pods(client: &Client) -> Result<Vec<Pod>, Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NS);
    let list = pods.list(&ListParams::default().labels(SELECTOR)).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .collect())
}

async fn leader(client: &Client) -> Result<Option<String>, Error> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), RELEASE_NS);
    Ok(leases
        .get_opt(&format!("{RELEASE}-securityhub-operator"))
        .await?
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty()))
}

/// AWS write calls (anything but reads) the emulator logged after sequence `since`.
async fn writes_since(emulator: &EmulatorProcess, since: u64) -> Result<Vec<String>, Error> {
    Ok(emulator
        .log_since(since)
        .await?
        .iter()
        .filter_map(|e| e["operation"].as_str().map(str::to_string))
        .filter(|op| !op.starts_with("Get") && !op.starts_with("List") && !op.starts_with("Describe"))
        .collect())
}

#[tokio::test]
async fn the_chart_runs_on_a_node() -> Result<(), Error> {
    if let Some(why) = NodeCluster::unavailable() {
        eprintln!("skipped: the node tests cannot run here: {why}");
        return Ok(());
    }
    let dir: PathBuf = repo().join("target/tmp/node-e2e");
    let started = Instant::now();
    let node = NodeCluster::up(&dir)?;
    eprintln!("node cluster up in {:.1} s", started.elapsed().as_secs_f64());
    load_image(&node, &repo().join("target/tmp"))?;
    let listen = format!("--listen={}:0", node.bridge_ip);
    let emulator = EmulatorProcess::start(&[
        &listen,
        &format!("--org-account={ORGANIZATION}"),
        "--auto-accept-after=1s",
        &format!("--auto-accept-account={INVITED}"),
    ])?;
    let took = helm_install(&node, &emulator, &[])?;
    eprintln!("helm install --wait: 2 pods Ready in {:.1} s", took.as_secs_f64());
    let client = node.client().await?;

    // Two pods Ready; exactly one holds the Lease, and it is one of them.
    let pods = ready_pods(&client).await?;
    assert_eq!(pods.len(), 2, "both replicas Ready");
    let names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
    poll("a leader", Duration::from_secs(60), || async {
        Ok(leader(&client).await?.is_some())
    })
    .await?;
    let holder = leader(&client).await?.ok_or("no leader")?;
    assert!(names.contains(&holder), "the Lease holder {holder} is one of {names:?}");

    // Members reconciled from inside the cluster, and AWS agrees.
    namespace(&client, MEMBERS_NS).await?;
    apply_member(
        &client,
        MEMBERS_NS,
        "invited",
        json!({"accountId": INVITED, "email": "sec@example.com"}),
    )
    .await?;
    apply_member(&client, MEMBERS_NS, "organization", json!({"accountId": ORGANIZATION})).await?;
    for name in ["invited", "organization"] {
        wait_ready(&client, MEMBERS_NS, name, "True", "Enabled", Duration::from_secs(120)).await?;
    }
    for account in [INVITED, ORGANIZATION] {
        assert_eq!(
            emulator.member_status(account, "us-east-1").await?.as_deref(),
            Some("Enabled"),
            "{account} in AWS"
        );
    }

    // The leader's pod goes: the other replica takes the Lease within the lease duration
    // (+5 s) and reconciles a new member; nothing done is written to AWS again.
    let since = emulator.last_seq().await?;
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NS);
    let killed = Instant::now();
    pods_api.delete(&holder, &DeleteParams::default()).await?;
    poll("a new leader", LEASE_DURATION + Duration::from_secs(5), || async {
        Ok(leader(&client).await?.is_some_and(|h| h != holder))
    })
    .await?;
    let new_leader = leader(&client).await?.ok_or("no leader")?;
    eprintln!(
        "{new_leader} took the Lease {:.1} s after {holder} was deleted",
        killed.elapsed().as_secs_f64()
    );
    apply_member(
        &client,
        MEMBERS_NS,
        "after-failover",
        json!({"accountId": "222222222223", "invite": false}),
    )
    .await?;
    wait_ready(
        &client,
        MEMBERS_NS,
        "after-failover",
        "True",
        "Enabled",
        Duration::from_secs(60),
    )
    .await?;
    let writes = writes_since(&emulator, since).await?;
    assert_eq!(
        writes,
        vec!["CreateMembers".to_string()],
        "only the new member was written"
    );
    Ok(())
}
