//! The chart installed for real: its pods run from the image `scripts/oci-image.py` builds,
//! on a node (`tests/node/node.sh`: kubelet + containerd), find the API server through
//! in-cluster config, elect a leader, and reconcile members against the emulator on the
//! node's bridge. Needs root and the node packages; skipped, with the reason, otherwise.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::{Client, ResourceExt};
use securityhub_operator::api::{FINALIZER, SecurityHubMember};
use serde_json::json;
use support::Error;
use support::emulator::{EmulatorProcess, operator_binary};
use support::node::NodeCluster;
use support::scenario::{ADMIN_KEY, apply_member, namespace, wait_ready};
use support::wait::poll;

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
/// Members present across the upgrade.
const MANY: usize = 100;

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

    the_pod_runs_confined(&node, &client).await?;
    upgrade_rolls_the_pods_and_writes_nothing(&node, &client, &emulator).await?;
    uninstall_keeps_the_crd_and_the_members(&node, &client).await?;
    drop(emulator);
    let stopping = Instant::now();
    drop(node);
    eprintln!("node cluster down in {:.1} s", stopping.elapsed().as_secs_f64());
    nothing_left_on_the_host(&dir)?;
    Ok(())
}

/// After `node.sh down`: no bridge, no rule, no process, no cgroup, no mount and no
/// directory of the node's is left on the host.
fn nothing_left_on_the_host(state: &Path) -> Result<(), Error> {
    let run = |program: &str, args: &[&str]| -> Result<String, Error> {
        let out = std::process::Command::new(program).args(args).output()?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    assert!(!run("ip", &["link", "show"])?.contains("sho0"), "the bridge is gone");
    assert!(
        !run("iptables", &["-t", "nat", "-S"])?.contains("sho-node"),
        "the DNAT rule is gone"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
    for dir in [
        "/run/containerd",
        "/var/lib/kubelet",
        "/var/lib/cni",
        "/var/log/pods",
        "/var/log/containers",
    ] {
        assert!(
            !mounts.contains(&format!(" {dir} ")),
            "{dir} is not mounted on the host"
        );
    }
    assert!(operator_pids()?.is_empty(), "no operator pod process is left");
    let comms = run("ps", &["-e", "-o", "comm="])?;
    for name in [
        "kubelet",
        "containerd",
        "containerd-shim",
        "kube-apiserver",
        "kube-scheduler",
    ] {
        assert!(!comms.lines().any(|c| c.trim() == name), "no {name} process is left");
    }
    let cgroups = std::fs::read_dir("/sys/fs/cgroup")?
        .filter_map(Result::ok)
        .any(|controller| controller.path().join("kubepods").exists());
    assert!(!cgroups, "no kubepods cgroup is left");
    assert!(!state.exists(), "{} is removed", state.display());
    Ok(())
}

/// The process the kubelet started for the operator (seen from the host: the node's PID
/// namespace is a child of ours) runs as 65532 with no new privileges, a seccomp filter
/// and a read-only root; its logs are JSON; /metrics answers through the Service.
async fn the_pod_runs_confined(node: &NodeCluster, client: &Client) -> Result<(), Error> {
    let pids = operator_pids()?;
    assert_eq!(pids.len(), 2, "two operator processes on the node: {pids:?}");
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        assert!(field("Uid:").iter().all(|u| *u == "65532"), "uids {:?}", field("Uid:"));
        assert!(field("Gid:").iter().all(|g| *g == "65532"), "gids {:?}", field("Gid:"));
        assert_eq!(field("NoNewPrivs:"), ["1"], "allowPrivilegeEscalation: false");
        assert_eq!(field("Seccomp:"), ["2"], "seccomp RuntimeDefault (filter mode)");
        assert_eq!(field("CapEff:"), ["0000000000000000"], "every capability dropped");
        let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))?;
        let root = mounts
            .lines()
            .find(|l| l.split_whitespace().nth(4) == Some("/"))
            .ok_or("no root mount")?;
        assert!(
            root.split_whitespace()
                .nth(5)
                .is_some_and(|o| o.split(',').any(|f| f == "ro")),
            "read-only root filesystem: {root}"
        );
    }
    let pod = ready_pods(client).await?.into_iter().next().ok_or("no pod")?;
    let logs = node.run("kubectl", &["logs", "-n", RELEASE_NS, &pod.name_any()])?;
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "the pod logged");
    for line in &lines {
        let entry: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e}): {line}"))?;
        assert!(entry["level"].is_string() && entry["timestamp"].is_string(), "{line}");
    }
    let path = format!(
        "/api/v1/namespaces/{RELEASE_NS}/services/{RELEASE}-securityhub-operator-metrics:metrics/proxy/metrics"
    );
    let metrics = node.run("kubectl", &["get", "--raw", &path])?;
    assert!(
        metrics.contains("securityhub_operator_"),
        "{}",
        &metrics[..metrics.len().min(500)]
    );
    let chart = repo().join("charts/securityhub-operator");
    let rendered = node.run(
        "helm",
        &[
            "template",
            "x",
            chart.to_str().ok_or("chart")?,
            "--kube-version=1.36.3",
            "--set",
            "metrics.serviceMonitor.enabled=true",
        ],
    )?;
    assert!(rendered.contains("kind: ServiceMonitor"), "a ServiceMonitor when asked");
    Ok(())
}

/// PIDs of processes whose command line is the image's entrypoint.
fn operator_pids() -> Result<Vec<u32>, Error> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if cmdline.starts_with(b"/usr/local/bin/securityhub-operator\0run") {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// `helm upgrade` of a value (the log level) with 100 members Ready: the pods roll, the
/// new leader reconciles, and neither AWS nor any existing member's status is written.
async fn upgrade_rolls_the_pods_and_writes_nothing(
    node: &NodeCluster,
    client: &Client,
    emulator: &EmulatorProcess,
) -> Result<(), Error> {
    let api: Api<SecurityHubMember> = Api::namespaced(client.clone(), MEMBERS_NS);
    for i in 0..MANY {
        let spec = json!({"accountId": format!("3000000{i:05}"), "invite": false});
        apply_member(client, MEMBERS_NS, &format!("many-{i:03}"), spec).await?;
    }
    poll("100 members Ready", Duration::from_secs(180), || async {
        let list = api.list(&ListParams::default()).await?;
        Ok(list
            .items
            .iter()
            .filter(|o| o.name_any().starts_with("many-"))
            .filter(|o| is_ready(o))
            .count()
            == MANY)
    })
    .await?;
    let versions = |list: Vec<SecurityHubMember>| -> BTreeMap<String, String> {
        list.into_iter()
            .map(|o| (o.name_any(), o.resource_version().unwrap_or_default()))
            .collect()
    };
    let before = versions(api.list(&ListParams::default()).await?.items);
    let old_pods: Vec<String> = ready_pods(client).await?.iter().map(|p| p.name_any()).collect();
    let since = emulator.last_seq().await?;
    let took = helm_install(node, emulator, &["--reuse-values", "--set", "logLevel=debug"])?;
    eprintln!(
        "helm upgrade --wait (log level) with {MANY} members: {:.1} s",
        took.as_secs_f64()
    );
    let pods = ready_pods(client).await?;
    assert_eq!(pods.len(), 2);
    assert!(
        pods.iter().all(|p| !old_pods.contains(&p.name_any())),
        "the pods rolled"
    );
    for pod in &pods {
        let args = pod
            .spec
            .as_ref()
            .map(|s| s.containers[0].args.clone().unwrap_or_default());
        assert!(
            args.is_some_and(|a| a.iter().any(|x| x == "--log-level=debug")),
            "new value in {}",
            pod.name_any()
        );
    }
    // The new leader's first pass covers every member; one applied after it proves it ran.
    apply_member(
        client,
        MEMBERS_NS,
        "after-upgrade",
        json!({"accountId": "222222222224", "invite": false}),
    )
    .await?;
    wait_ready(
        client,
        MEMBERS_NS,
        "after-upgrade",
        "True",
        "Enabled",
        Duration::from_secs(90),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let writes = writes_since(emulator, since).await?;
    assert_eq!(
        writes,
        vec!["CreateMembers".to_string()],
        "only the member added after the upgrade"
    );
    let after = versions(api.list(&ListParams::default()).await?.items);
    let rewritten: Vec<&String> = before
        .iter()
        .filter(|(name, rv)| after.get(*name) != Some(*rv))
        .map(|(name, _)| name)
        .collect();
    assert!(rewritten.is_empty(), "status written again for {rewritten:?}");
    Ok(())
}

fn is_ready(obj: &SecurityHubMember) -> bool {
    support::scenario::condition(obj, "Ready").is_some_and(|(s, _, _)| s == "True")
}

/// `helm uninstall` with `crds.keep` (the default) leaves the CRD and every member, each
/// still holding the finalizer (a deletion waits for an operator); the finalizer policy
/// goes with the release, so a member created afterwards has none.
async fn uninstall_keeps_the_crd_and_the_members(node: &NodeCluster, client: &Client) -> Result<(), Error> {
    let api: Api<SecurityHubMember> = Api::namespaced(client.clone(), MEMBERS_NS);
    let count = api.list(&ListParams::default()).await?.items.len();
    node.run("helm", &["uninstall", RELEASE, "--namespace", RELEASE_NS, "--wait"])?;
    node.run(
        "kubectl",
        &["get", "crd", "securityhubmembers.securityhub.operator.dev"],
    )?;
    let left = api.list(&ListParams::default()).await?.items;
    assert_eq!(left.len(), count, "every member is still there");
    assert!(left.iter().all(|o| o.finalizers().iter().any(|f| f == FINALIZER)));
    poll("the operator's pods gone", Duration::from_secs(60), || async {
        Ok(ready_pods(client).await?.is_empty())
    })
    .await?;
    let policies = node.run("kubectl", &["get", "mutatingadmissionpolicies", "-o", "name"])?;
    assert!(
        !policies.contains("finalizer"),
        "the finalizer policy went with the release: {policies}"
    );
    // The API server stops applying a deleted policy once its informer sees the deletion:
    // a server-side dry run shows when, without leaving an object behind.
    let late: SecurityHubMember = serde_json::from_value(json!({
        "apiVersion": "securityhub.operator.dev/v1alpha1",
        "kind": "SecurityHubMember",
        "metadata": {"name": "after-uninstall", "namespace": MEMBERS_NS},
        "spec": {"accountId": "222222222225"},
    }))?;
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    poll(
        "the finalizer policy no longer applied",
        Duration::from_secs(30),
        || async { Ok(api.create(&dry_run, &late).await?.finalizers().is_empty()) },
    )
    .await?;
    let created = api.create(&PostParams::default(), &late).await?;
    assert!(
        created.finalizers().is_empty(),
        "no finalizer without the release: {:?}",
        created.finalizers()
    );
    api.delete("many-000", &DeleteParams::default()).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = api.get("many-000").await?;
    assert!(
        held.metadata.deletion_timestamp.is_some(),
        "a deletion waits for the operator"
    );
    Ok(())
}
