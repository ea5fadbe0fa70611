//! Building blocks for end-to-end scenarios: a cluster, an emulator and the operator
//! binary, plus helpers to apply members, wait for conditions and act as AWS accounts.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_securityhub::config::{BehaviorVersion, Credentials, Region};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use securityhub_operator::api::SecurityHubMember;
use serde_json::{Value, json};

use super::Error;
use super::cluster::TestCluster;
use super::emulator::EmulatorProcess;
use super::operator::{OperatorOptions, OperatorProcess};

/// The administrator account the operator runs as (the emulator's default).
pub const ADMIN_KEY: &str = "AKIA111111111111EXAM";

/// A cluster with the CRD, an emulator and a running operator.
pub struct Env {
    pub cluster: TestCluster,
    pub emulator: EmulatorProcess,
    pub operator: OperatorProcess,
    pub log_dir: PathBuf,
}

impl Env {
    /// Starts everything; `emulator_args` and `operator_args` are extra flags.
    pub async fn start(name: &str, emulator_args: &[&str], operator_args: &[&str]) -> Result<Self, Error> {
        let cluster = TestCluster::start().await?;
        cluster.install_crd().await?;
        let emulator = EmulatorProcess::start(emulator_args)?;
        let log_dir = cluster.dir().to_path_buf();
        let operator = OperatorProcess::start(OperatorOptions {
            kubeconfig: cluster.kubeconfig_path(),
            emulator_url: emulator.url(),
            access_key: ADMIN_KEY,
            args: operator_args.iter().map(|s| s.to_string()).collect(),
            log_dir: &log_dir,
            name,
            env: Vec::new(),
        })
        .await?;
        Ok(Self {
            cluster,
            emulator,
            operator,
            log_dir,
        })
    }

    pub async fn client(&self) -> Result<Client, Error> {
        self.cluster.client().await
    }

    /// A Security Hub client acting as the account whose digits are in `access_key`.
    pub fn aws_as(&self, access_key: &str, region: &str) -> aws_sdk_securityhub::Client {
        aws_client(self.emulator.url(), access_key, region)
    }
}

/// CreateMembers of one account by `admin`: the set-up of tests that need a member the
/// operator did not create. Returns AWS's answer (for its UnprocessedAccounts).
pub async fn create_member(
    admin: &aws_sdk_securityhub::Client,
    account: &str,
) -> Result<aws_sdk_securityhub::operation::create_members::CreateMembersOutput, Error> {
    let details = aws_sdk_securityhub::types::AccountDetails::builder()
        .account_id(account)
        .build();
    Ok(admin.create_members().account_details(details).send().await?)
}

/// A Security Hub client for the emulator at `url`.
pub fn aws_client(url: &str, access_key: &str, region: &str) -> aws_sdk_securityhub::Client {
    let conf = aws_sdk_securityhub::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(url)
        .credentials_provider(Credentials::new(access_key, "test-secret-value", None, None, "tests"))
        .build();
    aws_sdk_securityhub::Client::from_conf(conf)
}

/// Creates namespace `name` if it is missing.
pub async fn namespace(client: &Client, name: &str) -> Result<(), Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api.get_opt(name).await?.is_none() {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
        api.create(&PostParams::default(), &ns).await?;
    }
    Ok(())
}

pub fn members(client: &Client, ns: &str) -> Api<SecurityHubMember> {
    Api::namespaced(client.clone(), ns)
}

/// Server-side applies a member with `spec` (as a person would with kubectl apply).
pub async fn apply_member(client: &Client, ns: &str, name: &str, spec: Value) -> Result<SecurityHubMember, Error> {
    let body = json!({
        "apiVersion": "securityhub.operator.dev/v1alpha1",
        "kind": "SecurityHubMember",
        "metadata": { "name": name, "namespace": ns },
        "spec": spec,
    });
    let params = PatchParams::apply("scenario-tests").force();
    Ok(members(client, ns).patch(name, &params, &Patch::Apply(&body)).await?)
}

/// Merge-patches the spec of a member.
pub async fn patch_spec(client: &Client, ns: &str, name: &str, spec: Value) -> Result<(), Error> {
    members(client, ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(json!({ "spec": spec })))
        .await?;
    Ok(())
}

pub async fn delete_member(client: &Client, ns: &str, name: &str) -> Result<(), Error> {
    members(client, ns).delete(name, &DeleteParams::default()).await?;
    Ok(())
}

/// The Ready (or Synced) condition as (status, reason, message).
pub fn condition(obj: &SecurityHubMember, type_: &str) -> Option<(String, String, String)> {
    obj.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Polls the member until `check` holds; the error shows its last status.
pub async fn wait_member<F>(
    client: &Client,
    ns: &str,
    name: &str,
    timeout: Duration,
    what: &str,
    check: F,
) -> Result<SecurityHubMember, Error>
where
    F: Fn(&SecurityHubMember) -> bool,
{
    let api = members(client, ns);
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(obj) = api.get_opt(name).await? {
            if check(&obj) {
                return Ok(obj);
            }
            last = Some(obj);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(format!(
        "{ns}/{name}: timed out waiting for {what}; last status: {:?}",
        last.and_then(|o| o.status)
    )
    .into())
}

/// Waits for Ready with `status` and `reason`.
pub async fn wait_ready(
    client: &Client,
    ns: &str,
    name: &str,
    status: &str,
    reason: &str,
    timeout: Duration,
) -> Result<SecurityHubMember, Error> {
    let what = format!("Ready={status} reason {reason}");
    wait_member(client, ns, name, timeout, &what, |o| {
        condition(o, "Ready").is_some_and(|(s, r, _)| s == status && r == reason)
    })
    .await
}

/// Waits until the resource is gone (finalizer released).
pub async fn wait_gone(client: &Client, ns: &str, name: &str, timeout: Duration) -> Result<(), Error> {
    let api = members(client, ns);
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if api.get_opt(name).await?.is_none() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let last = api.get_opt(name).await?;
    Err(format!(
        "{ns}/{name} still exists: {:?}",
        last.map(|o| (o.finalizers().to_vec(), o.status))
    )
    .into())
}

/// Polls `check` every 100 ms until it holds; fails after `timeout`, naming `what`.
pub async fn poll<F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<(), Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, Error>>,
{
    let deadline = Instant::now() + timeout;
    while !check().await? {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// The reasons of Events about `name`, oldest first.
pub async fn event_reasons(client: &Client, ns: &str, name: &str) -> Result<Vec<String>, Error> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let mut events: Vec<Event> = api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect();
    events.sort_by_key(|e| e.event_time.clone().map(|t| t.0));
    Ok(events.into_iter().filter_map(|e| e.reason).collect())
}

/// An emulator and an operator started against a cluster that someone else owns (several
/// scenarios share one cluster, each in its own namespaces with `--watch-namespace`).
/// The operator can be killed and started again with the same flags and log file.
pub struct Stack {
    pub emulator: EmulatorProcess,
    pub operator: std::sync::Mutex<Option<OperatorProcess>>,
    name: String,
    args: Vec<String>,
    access_key: String,
    kubeconfig: PathBuf,
    log_dir: PathBuf,
}

impl Stack {
    /// Starts an emulator with `emulator_args` and an operator with `operator_args`.
    pub async fn start(
        cluster: &TestCluster,
        name: &str,
        emulator_args: &[&str],
        operator_args: &[&str],
    ) -> Result<Self, Error> {
        Self::start_as(cluster, name, ADMIN_KEY, emulator_args, operator_args).await
    }

    /// As [`Stack::start`], with the operator's access key id ("" = no credentials at all).
    pub async fn start_as(
        cluster: &TestCluster,
        name: &str,
        access_key: &str,
        emulator_args: &[&str],
        operator_args: &[&str],
    ) -> Result<Self, Error> {
        let emulator = EmulatorProcess::start(emulator_args)?;
        let stack = Self {
            emulator,
            operator: std::sync::Mutex::new(None),
            name: name.to_string(),
            args: operator_args.iter().map(|s| s.to_string()).collect(),
            access_key: access_key.to_string(),
            kubeconfig: cluster.kubeconfig_path().to_path_buf(),
            log_dir: cluster.dir().to_path_buf(),
        };
        stack.start_operator().await?;
        Ok(stack)
    }

    /// Starts the operator (again) with the flags given at start; waits for /readyz.
    pub async fn start_operator(&self) -> Result<(), Error> {
        let operator = OperatorProcess::start(OperatorOptions {
            kubeconfig: &self.kubeconfig,
            emulator_url: self.emulator.url(),
            access_key: &self.access_key,
            args: self.args.clone(),
            log_dir: &self.log_dir,
            name: &self.name,
            env: Vec::new(),
        })
        .await?;
        *self.operator.lock().map_err(|_| "operator lock poisoned")? = Some(operator);
        Ok(())
    }

    /// Stops the operator and starts it again with `args` in place of the flags given at start.
    pub async fn restart_with(&mut self, args: &[&str]) -> Result<(), Error> {
        self.kill_operator();
        self.args = args.iter().map(|s| s.to_string()).collect();
        self.start_operator().await
    }

    /// SIGKILL the operator (no clean-up) and forget it.
    pub fn kill_operator(&self) {
        if let Ok(mut guard) = self.operator.lock()
            && let Some(operator) = guard.take()
        {
            operator.kill();
        }
    }

    /// Everything the operator logged in this stack, across restarts.
    pub fn operator_log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The file the operator logs to.
    pub fn log_path(&self) -> PathBuf {
        self.log_dir.join(format!("operator-{}.log", self.name))
    }

    /// Whether the current operator process is alive.
    pub fn operator_running(&self) -> bool {
        self.operator
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(OperatorProcess::is_running))
            .unwrap_or(false)
    }
}
