//! Building blocks for end-to-end scenarios: a cluster, an emulator and the operator
//! binary, plus helpers to apply members, wait for conditions and act as AWS accounts.

use std::path::{Path, PathBuf};
use std::time::Duration;

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
use super::operator::{OperatorOptions, OperatorProcess, metric_at};
use super::wait::{Found, poll_for};

/// The administrator account the operator runs as (the emulator's default).
pub const ADMIN_KEY: &str = "AKIA111111111111EXAM";

/// The operator flags a scenario starts with: resyncs in seconds and a short batch window,
/// so a test waits seconds where the shipped defaults wait minutes. A flag a scenario gives
/// itself replaces the default of the same name.
pub const FAST_FLAGS: [&str; 4] = [
    "--resync-pending=2s",
    "--resync-enabled=3s",
    "--batch-window=50ms",
    "--log-level=info,securityhub_operator=debug",
];

/// How to start a scenario: the emulator's flags, the operator's (after [`FAST_FLAGS`]),
/// its AWS identity and environment. One builder for every way a test starts the operator:
/// [`Setup::start`] (a cluster of its own), [`Setup::stack`] (on a shared cluster) and
/// [`Setup::operator_on`] (one more replica, or another AWS endpoint).
#[derive(Clone, Debug)]
pub struct Setup {
    name: String,
    emulator_args: Vec<String>,
    /// Start with [`FAST_FLAGS`] (those the scenario does not give itself).
    fast: bool,
    operator_args: Vec<String>,
    access_key: String,
    env: Vec<(String, String)>,
}

impl Setup {
    /// `name` names the operator's log file (`operator-<name>.log` in the cluster's directory).
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            emulator_args: Vec::new(),
            fast: true,
            operator_args: Vec::new(),
            access_key: ADMIN_KEY.to_string(),
            env: Vec::new(),
        }
    }

    /// The same setup under another name (another replica's log file).
    pub fn renamed(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Adds emulator flags.
    pub fn emulator<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        self.emulator_args.extend(args.iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// Adds operator flags (each at most once, unless the operator repeats it: clap refuses
    /// a single-valued flag given twice).
    pub fn operator<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        self.operator_args.extend(args.iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// The command line: the fast defaults the scenario did not give itself, then its own.
    fn command_line(&self) -> Vec<String> {
        let name = |a: &str| a.split('=').next().unwrap_or_default().to_string();
        let own: Vec<String> = self.operator_args.iter().map(|a| name(a)).collect();
        let defaults = FAST_FLAGS.iter().filter(|d| self.fast && !own.contains(&name(d)));
        defaults
            .map(|d| d.to_string())
            .chain(self.operator_args.iter().cloned())
            .collect()
    }

    /// Exactly these operator flags: the shipped defaults where they say nothing.
    pub fn operator_only<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        self.fast = false;
        self.operator_args = args.iter().map(|a| a.as_ref().to_string()).collect();
        self
    }

    /// The operator's access key id (its 12 digits are the caller account in the emulator);
    /// "" starts it without any AWS credentials.
    pub fn access_key(mut self, key: &str) -> Self {
        self.access_key = key.to_string();
        self
    }

    /// An environment variable for the operator, e.g. `POD_NAME` (its Lease identity).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// A cluster of its own with the CRD, an emulator and the operator.
    pub async fn start(self) -> Result<Env, Error> {
        let cluster = TestCluster::with_crd().await?;
        let emulator = EmulatorProcess::start(&self.emulator_arg_refs())?;
        let operator = self.operator_on(&cluster, emulator.url()).await?;
        let log_dir = cluster.dir().to_path_buf();
        Ok(Env {
            cluster,
            emulator,
            operator,
            log_dir,
        })
    }

    /// An emulator and the operator on `cluster`, which someone else owns.
    pub async fn stack(self, cluster: &TestCluster) -> Result<Stack, Error> {
        let emulator = EmulatorProcess::start(&self.emulator_arg_refs())?;
        let stack = Stack {
            emulator,
            operator: std::sync::Mutex::new(None),
            setup: self,
            kubeconfig: cluster.kubeconfig_path().to_path_buf(),
            log_dir: cluster.dir().to_path_buf(),
        };
        stack.start_operator().await?;
        Ok(stack)
    }

    /// The operator alone on `cluster`, against the AWS endpoint at `aws_url`; waits for /readyz.
    pub async fn operator_on(&self, cluster: &TestCluster, aws_url: &str) -> Result<OperatorProcess, Error> {
        self.operator_with(cluster.kubeconfig_path(), aws_url, cluster.dir())
            .await
    }

    /// As [`Setup::operator_on`], with another kubeconfig (a service account's, say).
    pub async fn operator_with(
        &self,
        kubeconfig: &Path,
        aws_url: &str,
        log_dir: &Path,
    ) -> Result<OperatorProcess, Error> {
        OperatorProcess::start(OperatorOptions {
            kubeconfig,
            emulator_url: aws_url,
            access_key: &self.access_key,
            args: self.command_line(),
            log_dir,
            name: &self.name,
            env: self.env.clone(),
        })
        .await
    }

    fn emulator_arg_refs(&self) -> Vec<&str> {
        self.emulator_args.iter().map(String::as_str).collect()
    }
}

/// A cluster with the CRD, an emulator and a running operator ([`Setup::start`]).
pub struct Env {
    pub cluster: TestCluster,
    pub emulator: EmulatorProcess,
    pub operator: OperatorProcess,
    pub log_dir: PathBuf,
}

impl Env {
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
    let check = &check;
    poll_for(&format!("{ns}/{name}: {what}"), timeout, || {
        let api = api.clone();
        async move {
            Ok(match api.get_opt(name).await? {
                Some(obj) if check(&obj) => Found::Yes(obj),
                Some(obj) => Found::No(format!("status {:?}", obj.status)),
                None => Found::No("no such resource".to_string()),
            })
        }
    })
    .await
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
    poll_for(&format!("{ns}/{name} to be gone"), timeout, || {
        let api = api.clone();
        async move {
            Ok(match api.get_opt(name).await? {
                None => Found::Yes(()),
                Some(o) => Found::No(format!("finalizers {:?}, status {:?}", o.finalizers(), o.status)),
            })
        }
    })
    .await
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

/// An emulator and an operator started against a cluster that someone else owns
/// ([`Setup::stack`]; several scenarios share one cluster, each in its own namespaces with
/// `--watch-namespace`). The operator can be killed and started again with the same setup
/// and log file.
pub struct Stack {
    pub emulator: EmulatorProcess,
    pub operator: std::sync::Mutex<Option<OperatorProcess>>,
    setup: Setup,
    kubeconfig: PathBuf,
    log_dir: PathBuf,
}

impl Stack {
    /// Starts the operator (again) with the setup given at start; waits for /readyz.
    pub async fn start_operator(&self) -> Result<(), Error> {
        let operator = self
            .setup
            .operator_with(&self.kubeconfig, self.emulator.url(), &self.log_dir)
            .await?;
        *self.operator.lock().map_err(|_| "operator lock poisoned")? = Some(operator);
        Ok(())
    }

    /// Stops the operator and starts it again with the fast defaults and `args`, in place of
    /// the flags given at start.
    pub async fn restart_with(&mut self, args: &[&str]) -> Result<(), Error> {
        self.kill_operator();
        self.setup.fast = true;
        self.setup.operator_args = args.iter().map(|a| a.to_string()).collect();
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

    /// One sample of the running operator's /metrics (0 when absent or no operator runs).
    pub async fn metric(&self, series: &str) -> Result<f64, Error> {
        let port = self
            .operator
            .lock()
            .map_err(|_| "operator lock poisoned")?
            .as_ref()
            .map(OperatorProcess::metrics_port);
        match port {
            Some(port) => metric_at(port, series).await,
            None => Ok(0.0),
        }
    }

    /// Everything the operator logged in this stack, across restarts.
    pub fn operator_log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The file the operator logs to.
    pub fn log_path(&self) -> PathBuf {
        self.log_dir.join(format!("operator-{}.log", self.setup.name))
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
