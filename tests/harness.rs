//! The test harness itself: identities, restarts, and above all that no etcd or
//! kube-apiserver outlives a test, not even a crashed one.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use support::wait::poll_blocking;
use support::{Error, TestCluster};

/// Alive = exists and is not a zombie (an orphan's zombie may linger if PID 1 does not reap).
fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

async fn username(client: kube::Client) -> Result<String, Error> {
    let reviews: Api<SelfSubjectReview> = Api::all(client);
    let review = reviews
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?;
    let user = review.status.and_then(|s| s.user_info).and_then(|u| u.username);
    user.ok_or_else(|| "SelfSubjectReview has no username".into())
}

fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

#[tokio::test]
async fn identities_restarts_and_cleanup() -> Result<(), Error> {
    let cluster = TestCluster::start().await?;
    let admin = cluster.client().await?;
    assert_eq!(username(admin.clone()).await?, "admin");
    let kubectl = cluster.kubectl(&["get", "namespace", "default", "-o", "name"])?;
    assert_eq!(String::from_utf8_lossy(&kubectl.stdout).trim(), "namespace/default");

    // A client-certificate user without bindings is authenticated, then refused by RBAC.
    let alice = cluster.client_for_user("alice", &["developers"]).await?;
    assert_eq!(username(alice.clone()).await?, "alice");
    match Api::<Namespace>::all(alice).list(&Default::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{}", status.message),
        other => panic!("alice listed namespaces: {other:?}"),
    }
    // TokenRequest works: the apiserver signs and verifies service-account tokens.
    let robot = cluster.client_for_service_account("default", "robot").await?;
    assert_eq!(username(robot).await?, "system:serviceaccount:default:robot");

    // Data survives restarts of either process (same data directory and ports).
    let maps: Api<ConfigMap> = Api::namespaced(admin.clone(), "default");
    maps.create(&PostParams::default(), &config_map("before-restarts"))
        .await?;
    let (etcd_before, apiserver_before) = cluster.pids();
    cluster.restart_etcd().await?;
    cluster.restart_apiserver().await?;
    let (etcd_after, apiserver_after) = cluster.pids();
    assert!(etcd_after != etcd_before && apiserver_after != apiserver_before);
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client().await?, "default");
    assert!(maps.get_opt("before-restarts").await?.is_some());

    // Dropping the cluster stops both processes and removes its directory.
    let dir = cluster.dir().to_path_buf();
    drop(cluster);
    assert!(!is_alive(etcd_after) && !is_alive(apiserver_after));
    assert!(!dir.exists(), "{} left behind", dir.display());
    Ok(())
}

/// Run only as a child of `children_die_with_a_crashed_test_process`: starts a cluster,
/// reports its PIDs and directory, and aborts (no destructors, no exit hooks).
#[tokio::test]
#[ignore = "helper: run by children_die_with_a_crashed_test_process"]
async fn crash_helper() -> Result<(), Error> {
    if std::env::var_os("SHO_CRASH_HELPER").is_none() {
        return Ok(());
    }
    let cluster = TestCluster::start().await?;
    let (etcd, apiserver) = cluster.pids();
    println!("CLUSTER {etcd} {apiserver} {}", cluster.dir().display());
    std::process::abort();
}

#[test]
fn children_die_with_a_crashed_test_process() -> Result<(), Error> {
    let output = Command::new(std::env::current_exe()?)
        .args(["--exact", "crash_helper", "--ignored", "--nocapture"])
        .env("SHO_CRASH_HELPER", "1")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    assert!(!output.status.success(), "the helper should have aborted");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CLUSTER "))
        .ok_or_else(|| format!("helper printed no CLUSTER line:\n{stdout}"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [etcd, apiserver, dir] = fields[..] else {
        return Err(format!("bad CLUSTER line: {line}").into());
    };
    let pids = [etcd.parse::<u32>()?, apiserver.parse::<u32>()?];
    // abort() skips the exit hook, so the directory stays: clean it up here.
    let _ = std::fs::remove_dir_all(dir);
    let what = format!("{pids:?} to stop after the test process died");
    poll_blocking(&what, Duration::from_secs(10), || {
        Ok(!pids.iter().any(|&pid| is_alive(pid)))
    })
}
