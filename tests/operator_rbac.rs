//! Least privilege, proven: the chart's RBAC and ServiceAccount (rendered by the real
//! `helm template`) are applied to a real kube-apiserver, and the operator binary runs
//! authenticated only as that ServiceAccount (a TokenRequest token in its kubeconfig), with
//! the chart's own arguments and leader election on. Members reconcile to Ready, Events
//! and the Lease are written, a deletion releases its finalizer, nothing is forbidden on
//! the way; and the same identity is refused reading Secrets (403).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use serde::Deserialize as _;
use serde_json::{Value, json};
use support::cluster::controlplane_dir;
use support::emulator::EmulatorProcess;
use support::scenario::{Setup, apply_member, delete_member, event_reasons, namespace, wait_gone, wait_ready};
use support::wait::poll;
use support::{Error, TestCluster};

const RELEASE: &str = "sho";
const RELEASE_NS: &str = "sho-system";
const NS: &str = "t-rbac";
const T: Duration = Duration::from_secs(60);
const ORG: &str = "500000000001";
const INVITED: &str = "500000000002";

/// `helm template` of the chart with `--show-only` for each of `templates`, as documents.
fn helm_template(templates: &[&str]) -> Result<Vec<Value>, Error> {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/securityhub-operator");
    let mut cmd = Command::new(controlplane_dir()?.join("helm"));
    cmd.args(["template", RELEASE])
        .arg(&chart)
        .args(["--namespace", RELEASE_NS, "--kube-version", "1.36.3"])
        .env("HELM_CACHE_HOME", std::env::temp_dir().join("sho-helm-cache"))
        .env("HELM_CONFIG_HOME", std::env::temp_dir().join("sho-helm-config"))
        .env("HELM_DATA_HOME", std::env::temp_dir().join("sho-helm-data"))
        .stdin(Stdio::null());
    for t in templates {
        cmd.args(["--show-only", t]);
    }
    let output = cmd.output()?;
    if !output.status.success() {
        return Err(format!("helm template: {}", String::from_utf8_lossy(&output.stderr)).into());
    }
    let text = String::from_utf8(output.stdout)?;
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let value = Value::deserialize(doc)?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

fn write_docs(dir: &Path, name: &str, docs: &[Value]) -> Result<PathBuf, Error> {
    let path = dir.join(name);
    let text: Vec<String> = docs.iter().map(serde_yaml_ng::to_string).collect::<Result<_, _>>()?;
    std::fs::write(&path, text.join("---\n"))?;
    Ok(path)
}

/// The chart's container arguments, minus the harness's own and the resync and batch
/// settings that would slow the test (the fast defaults stand in for them).
fn chart_args(deployment: &Value) -> Result<Vec<String>, Error> {
    let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .ok_or("the Deployment has no container args")?;
    Ok(args
        .iter()
        .filter_map(Value::as_str)
        .filter(|a| {
            *a != "run"
                && !["--metrics-bind-address", "--resync-pending", "--batch-window"]
                    .iter()
                    .any(|flag| a.starts_with(flag))
        })
        .map(str::to_string)
        .chain([format!("--leader-election-namespace={RELEASE_NS}")])
        .collect())
}

fn is_forbidden(result: Result<impl std::fmt::Debug, kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(ref status)) if status.code == 403)
}

#[tokio::test]
async fn operator_as_the_charts_service_account_reconciles_and_cannot_read_secrets() -> Result<(), Error> {
    let cluster = TestCluster::with_crd().await?;
    let admin = cluster.client().await?;
    namespace(&admin, RELEASE_NS).await?;
    namespace(&admin, NS).await?;

    let rbac = helm_template(&["templates/rbac.yaml", "templates/serviceaccount.yaml"])?;
    let account = rbac
        .iter()
        .find(|d| d["kind"] == "ServiceAccount")
        .and_then(|d| d["metadata"]["name"].as_str())
        .ok_or("the chart renders no ServiceAccount")?
        .to_string();
    let file = write_docs(cluster.dir(), "chart-rbac.yaml", &rbac)?;
    let out = cluster.kubectl(&["apply", "-f", &file.display().to_string()])?;
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deployment = helm_template(&["templates/deployment.yaml"])?;
    let args = chart_args(deployment.first().ok_or("no Deployment rendered")?)?;
    let lease_name = args
        .iter()
        .find_map(|a| a.strip_prefix("--leader-election-id="))
        .ok_or("the chart passes no --leader-election-id")?
        .to_string();

    let emulator = EmulatorProcess::start(&[
        "--org-account",
        ORG,
        "--auto-accept-after",
        "1s",
        "--auto-accept-account",
        INVITED,
    ])?;
    let kubeconfig = cluster.kubeconfig_for_service_account(RELEASE_NS, &account).await?;
    let kubeconfig_text = std::fs::read_to_string(&kubeconfig)?;
    assert!(
        kubeconfig_text.contains("token:") && !kubeconfig_text.contains("client-key-data"),
        "the operator gets a token and no client certificate"
    );
    // The chart's flags after the fast defaults (`chart_args` drops the slow ones).
    let operator = Setup::new("rbac")
        .env("POD_NAME", "sho-securityhub-operator-0")
        .operator(&args)
        .operator_with(&kubeconfig, emulator.url(), cluster.dir())
        .await?;
    let led = poll("the leader gauge to read 1", T, || async {
        Ok(operator.metric("securityhub_operator_leader").await? == 1.0)
    })
    .await;
    led.map_err(|e| format!("{e}; log:\n{}", operator.log_text()))?;

    apply_member(&admin, NS, "org", json!({"accountId": ORG, "regions": ["us-east-1"]})).await?;
    apply_member(
        &admin,
        NS,
        "invited",
        json!({"accountId": INVITED, "regions": ["us-east-1"]}),
    )
    .await?;
    let result = async {
        wait_ready(&admin, NS, "org", "True", "Enabled", T).await?;
        wait_ready(&admin, NS, "invited", "True", "Enabled", T).await?;
        // Deleting releases the finalizer (an update of securityhubmembers/finalizers).
        delete_member(&admin, NS, "invited").await?;
        wait_gone(&admin, NS, "invited", T).await
    }
    .await;
    if let Err(e) = result {
        return Err(format!("{e}\noperator log:\n{}", operator.log_text()).into());
    }
    assert_eq!(
        emulator.member_status(INVITED, "us-east-1").await?,
        None,
        "deleted in AWS"
    );

    let reasons = event_reasons(&admin, NS, "invited").await?;
    // Every Ready transition in status is announced. (The claim before CreateMembers went to the
    // claim journal, not to status, so there was no Creating status to announce.)
    for step in ["AwaitingAcceptance", "Enabled"] {
        assert!(reasons.iter().any(|r| r == step), "event {step} missing in {reasons:?}");
    }
    let lease = Api::<Lease>::namespaced(admin.clone(), RELEASE_NS)
        .get(&lease_name)
        .await?;
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("sho-securityhub-operator-0"),
        "the Lease is held by the operator"
    );
    let log = operator.log_text();
    assert!(
        !log.to_ascii_lowercase().contains("forbidden"),
        "the operator was refused something it needs:\n{log}"
    );

    // The same identity may not read Secrets, neither in its namespace nor anywhere.
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "aws-credentials"},
        "stringData": {"secret": "do-not-read"},
    }))?;
    Api::<Secret>::namespaced(admin.clone(), RELEASE_NS)
        .create(&PostParams::default(), &secret)
        .await?;
    let identity = cluster.client_for_service_account(RELEASE_NS, &account).await?;
    let own: Api<Secret> = Api::namespaced(identity.clone(), RELEASE_NS);
    assert!(is_forbidden(own.get("aws-credentials").await), "get Secret must be 403");
    assert!(
        is_forbidden(own.list(&ListParams::default()).await),
        "list Secrets must be 403"
    );
    assert!(
        is_forbidden(Api::<Secret>::all(identity.clone()).list(&ListParams::default()).await),
        "list Secrets in all namespaces must be 403"
    );
    assert!(
        is_forbidden(
            Api::<Secret>::namespaced(identity, NS)
                .list(&ListParams::default())
                .await
        ),
        "list Secrets in a member namespace must be 403"
    );
    assert!(operator.is_running());
    Ok(())
}
