//! A real etcd + kube-apiserver on loopback ports: for integration tests and, through
//! `examples/cluster.rs`, for `make cluster-up`.

use std::fs::{self, OpenOptions};
use std::future::Future;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config, CustomResourceExt, ResourceExt};
use securityhub_operator::api::SecurityHubMember;

use super::Error;
use super::certs::{ClusterCerts, PemPair};
use super::process;

/// How long etcd and kube-apiserver may take to become ready (2 slow cores, cold caches).
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// Start attempts with fresh ports: a port seen free may be taken before the child binds it.
const START_ATTEMPTS: usize = 3;
/// How long a restart lets a process shut down cleanly before SIGKILL.
const RESTART_GRACE: Duration = Duration::from_secs(10);
/// Lines of a log printed when start-up fails.
const LOG_TAIL_LINES: usize = 40;
/// Field manager for objects the harness applies.
const FIELD_MANAGER: &str = "securityhub-operator-tests";

/// Where to keep the cluster's files.
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// Use this directory (created if missing) instead of a fresh temporary one. It is
    /// removed when the cluster stops, like a temporary one.
    pub state_dir: Option<PathBuf>,
}

/// A running etcd + kube-apiserver. Dropping it stops both (apiserver first) and then
/// removes its directory: fields drop in declaration order.
pub struct TestCluster {
    apiserver: Mutex<Proc>,
    etcd: Mutex<Proc>,
    etcd_port: u16,
    certs: ClusterCerts,
    server_url: String,
    admin_kubeconfig: String,
    kubeconfig: PathBuf,
    dir: DirGuard,
}

/// The cluster the tests of one binary share (each test in its own namespace).
static SHARED: tokio::sync::OnceCell<TestCluster> = tokio::sync::OnceCell::const_new();

impl TestCluster {
    /// This test binary's shared cluster, started on first use, with the CRD installed and
    /// Established.
    pub async fn shared() -> Result<&'static TestCluster, Error> {
        SHARED
            .get_or_try_init(|| async {
                let cluster = TestCluster::with_crd().await?;
                Ok::<_, Error>(cluster)
            })
            .await
    }

    /// Starts a cluster of its own with the CRD installed and Established.
    pub async fn with_crd() -> Result<TestCluster, Error> {
        let cluster = TestCluster::start().await?;
        cluster.install_crd().await?;
        Ok(cluster)
    }

    /// Starts a cluster in a fresh temporary directory.
    pub async fn start() -> Result<TestCluster, Error> {
        Self::start_with(ClusterOptions::default()).await
    }

    /// Starts a cluster; returns once `/readyz` passes and namespace `default` exists.
    pub async fn start_with(options: ClusterOptions) -> Result<TestCluster, Error> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let bins = controlplane_dir()?;
        let dir = DirGuard::create(options.state_dir)?;
        let certs = ClusterCerts::generate()?;
        write_cert_files(&dir.0, &certs)?;
        let (etcd, etcd_port) = start_etcd(&bins, &dir.0).await?;
        let (apiserver, server_url, admin_kubeconfig) = start_apiserver(&bins, &dir.0, &certs, etcd_port).await?;
        let kubeconfig = dir.0.join("kubeconfig");
        write_private(&kubeconfig, &admin_kubeconfig)?;
        Ok(TestCluster {
            apiserver,
            etcd,
            etcd_port,
            certs,
            server_url,
            admin_kubeconfig,
            kubeconfig,
            dir,
        })
    }

    /// A new client authenticated as `admin` (group `system:masters`). Each call builds a
    /// fresh client, so it works from any tokio runtime, e.g. one per `#[tokio::test]`.
    pub async fn client(&self) -> Result<Client, Error> {
        client_from_yaml(&self.admin_kubeconfig).await
    }

    /// A client authenticated by a client certificate as `user` in `groups` (at most
    /// one group: see [`ClusterCerts::client`]).
    pub async fn client_for_user(&self, user: &str, groups: &[&str]) -> Result<Client, Error> {
        if groups.len() > 1 {
            return Err(format!("client_for_user supports at most one group, got {groups:?}").into());
        }
        let pem = self.certs.client(user, groups.first().copied())?;
        let yaml = kubeconfig_yaml(&self.server_url, &self.certs.ca_pem, user, Credentials::Cert(&pem));
        client_from_yaml(&yaml).await
    }

    /// A client authenticated with a TokenRequest token of ServiceAccount
    /// `namespace/name`, which is created when missing (no controller-manager does it).
    pub async fn client_for_service_account(&self, namespace: &str, name: &str) -> Result<Client, Error> {
        client_from_yaml(&self.service_account_kubeconfig_yaml(namespace, name).await?).await
    }

    /// A kubeconfig file authenticated only as ServiceAccount `namespace/name` (a
    /// TokenRequest token, valid for an hour), for a process such as the operator. The
    /// ServiceAccount is created when missing.
    pub async fn kubeconfig_for_service_account(&self, namespace: &str, name: &str) -> Result<PathBuf, Error> {
        let yaml = self.service_account_kubeconfig_yaml(namespace, name).await?;
        let path = self.dir.0.join(format!("kubeconfig-sa-{namespace}-{name}"));
        write_private(&path, &yaml)?;
        Ok(path)
    }

    async fn service_account_kubeconfig_yaml(&self, namespace: &str, name: &str) -> Result<String, Error> {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client().await?, namespace);
        if accounts.get_opt(name).await?.is_none() {
            let account = ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    ..ObjectMeta::default()
                },
                ..ServiceAccount::default()
            };
            accounts.create(&PostParams::default(), &account).await?;
        }
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(3600),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        let issued = accounts
            .create_token_request(name, &PostParams::default(), &request)
            .await?;
        let token = issued
            .status
            .and_then(|s| s.token)
            .ok_or("TokenRequest returned no token")?;
        let user = format!("system:serviceaccount:{namespace}:{name}");
        Ok(kubeconfig_yaml(
            &self.server_url,
            &self.certs.ca_pem,
            &user,
            Credentials::Token(&token),
        ))
    }

    /// The admin kubeconfig file (self-contained: certificates are inlined).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// `https://127.0.0.1:<port>` of the apiserver.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The cluster's directory: certificates, etcd data, logs (`etcd.log`, `kube-apiserver.log`).
    pub fn dir(&self) -> &Path {
        &self.dir.0
    }

    /// PIDs of etcd and kube-apiserver (they change on restart).
    pub fn pids(&self) -> (u32, u32) {
        (lock(&self.etcd).child.id(), lock(&self.apiserver).child.id())
    }

    /// Runs the built kubectl against this cluster as admin and waits for it.
    pub fn kubectl(&self, args: &[&str]) -> Result<Output, Error> {
        let bins = controlplane_dir()?;
        let output = Command::new(bins.join("kubectl"))
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg(format!("--cache-dir={}", self.dir.0.join("kubectl-cache").display()))
            .args(args)
            .stdin(Stdio::null())
            .output()?;
        Ok(output)
    }

    /// Stops kube-apiserver (SIGTERM, then SIGKILL) and starts it again on the same port.
    pub async fn restart_apiserver(&self) -> Result<(), Error> {
        lock(&self.apiserver).restart(RESTART_GRACE)?;
        self.wait_apiserver().await
    }

    /// Stops etcd and starts it again on the same ports and data directory; returns once
    /// the apiserver is ready again.
    pub async fn restart_etcd(&self) -> Result<(), Error> {
        lock(&self.etcd).restart(RESTART_GRACE)?;
        let port = self.etcd_port;
        wait_ready(&self.etcd, || etcd_healthy(port))
            .await
            .map_err(|why| not_ready(&self.etcd, why))?;
        self.wait_apiserver().await
    }

    /// Applies the `SecurityHubMember` CRD (server-side apply) and waits until it is
    /// Established, i.e. its resources are served.
    pub async fn install_crd(&self) -> Result<(), Error> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client().await?);
        let crd = SecurityHubMember::crd();
        let name = crd.name_any();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        crds.patch(&name, &params, &Patch::Apply(&crd)).await?;
        let established = await_condition(crds, &name, conditions::is_crd_established());
        tokio::time::timeout(Duration::from_secs(30), established)
            .await
            .map_err(|_| format!("CRD {name} was not Established within 30 s"))??;
        Ok(())
    }

    async fn wait_apiserver(&self) -> Result<(), Error> {
        let client = self.client().await?;
        wait_ready(&self.apiserver, || apiserver_ready(client.clone()))
            .await
            .map_err(|why| not_ready(&self.apiserver, why))
    }
}

/// The cluster directory; removed (and forgotten by the exit hook) on drop.
struct DirGuard(PathBuf);

impl DirGuard {
    fn create(state_dir: Option<PathBuf>) -> Result<DirGuard, Error> {
        let dir = match state_dir {
            Some(dir) => {
                fs::create_dir_all(&dir)?;
                dir.canonicalize()?
            }
            None => tempfile::Builder::new().prefix("sho-cluster-").tempdir()?.keep(),
        };
        process::register_dir(dir.clone());
        Ok(DirGuard(dir))
    }
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
        process::forget_dir(&self.0);
    }
}

/// One control-plane process: how to start it again, and where its output goes.
struct Proc {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    child: Child,
}

impl Proc {
    fn spawn(name: &'static str, program: PathBuf, args: Vec<String>, log: PathBuf) -> Result<Proc, Error> {
        let child = launch(&program, &args, &log)?;
        Ok(Proc {
            name,
            program,
            args,
            log,
            child,
        })
    }

    fn restart(&mut self, grace: Duration) -> Result<(), Error> {
        process::stop(&mut self.child, grace);
        self.child = launch(&self.program, &self.args, &self.log)?;
        Ok(())
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        process::stop(&mut self.child, Duration::ZERO);
    }
}

/// Starts `program` with output appended to `log` (restarts keep the earlier output).
fn launch(program: &Path, args: &[String], log: &Path) -> Result<Child, Error> {
    let out = OpenOptions::new().create(true).append(true).open(log)?;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
    process::spawn_tied(cmd)
}

fn lock(proc: &Mutex<Proc>) -> MutexGuard<'_, Proc> {
    proc.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Why a process did not become ready.
#[derive(Debug)]
enum NotReady {
    Exited(ExitStatus),
    TimedOut,
}

/// Polls `probe` until it passes, the process exits, or [`START_TIMEOUT`] passes.
async fn wait_ready<F, Fut>(proc: &Mutex<Proc>, mut probe: F) -> Result<(), NotReady>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = lock(proc).exited() {
            return Err(NotReady::Exited(status));
        }
        if probe().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(NotReady::TimedOut);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The error for a process that did not come up, with the tail of its log (also printed,
/// because a boxed error's Debug form escapes the newlines).
fn not_ready(proc: &Mutex<Proc>, why: NotReady) -> Error {
    let proc = lock(proc);
    let why = match why {
        NotReady::Exited(status) => format!("exited with {status}"),
        NotReady::TimedOut => format!("not ready within {} s", START_TIMEOUT.as_secs()),
    };
    let message = format!(
        "{} {why}; last {LOG_TAIL_LINES} lines of {}:\n{}",
        proc.name,
        proc.log.display(),
        proc.log_tail()
    );
    eprintln!("{message}");
    message.into()
}

/// Whether the process died because another process grabbed a port we had picked.
fn port_taken(proc: &Mutex<Proc>) -> bool {
    lock(proc).log_tail().contains("address already in use")
}

async fn start_etcd(bins: &Path, dir: &Path) -> Result<(Mutex<Proc>, u16), Error> {
    let mut attempt = 1;
    loop {
        let (client_port, peer_port) = (process::free_port()?, process::free_port()?);
        let args = etcd_args(dir, client_port, peer_port);
        let proc = Mutex::new(Proc::spawn("etcd", bins.join("etcd"), args, dir.join("etcd.log"))?);
        match wait_ready(&proc, || etcd_healthy(client_port)).await {
            Ok(()) => return Ok((proc, client_port)),
            Err(NotReady::Exited(status)) if attempt < START_ATTEMPTS && port_taken(&proc) => {
                eprintln!("etcd exited with {status}: a port was taken; retrying on other ports");
                let _ = fs::remove_dir_all(dir.join("etcd"));
            }
            Err(why) => return Err(not_ready(&proc, why)),
        }
        attempt += 1;
    }
}

async fn start_apiserver(
    bins: &Path,
    dir: &Path,
    certs: &ClusterCerts,
    etcd_port: u16,
) -> Result<(Mutex<Proc>, String, String), Error> {
    let mut attempt = 1;
    loop {
        let port = process::free_port()?;
        let server_url = format!("https://127.0.0.1:{port}");
        let yaml = kubeconfig_yaml(&server_url, &certs.ca_pem, "admin", Credentials::Cert(&certs.admin));
        let client = client_from_yaml(&yaml).await?;
        let args = apiserver_args(dir, etcd_port, port);
        let log = dir.join("kube-apiserver.log");
        let proc = Mutex::new(Proc::spawn("kube-apiserver", bins.join("kube-apiserver"), args, log)?);
        match wait_ready(&proc, || apiserver_ready(client.clone())).await {
            Ok(()) => return Ok((proc, server_url, yaml)),
            Err(NotReady::Exited(status)) if attempt < START_ATTEMPTS => {
                eprintln!("kube-apiserver exited with {status} (a port taken?); retrying on another port");
            }
            Err(why) => return Err(not_ready(&proc, why)),
        }
        attempt += 1;
    }
}

fn etcd_args(dir: &Path, client_port: u16, peer_port: u16) -> Vec<String> {
    let client = format!("http://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    vec![
        "--name=sho".into(),
        format!("--data-dir={}", dir.join("etcd").display()),
        format!("--listen-client-urls={client}"),
        format!("--advertise-client-urls={client}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster=sho={peer}"),
        // Tests do not need durability across machine crashes; fsync dominates etcd latency.
        "--unsafe-no-fsync=true".into(),
    ]
}

/// Flags of a minimal, secure apiserver: TLS, client-certificate and service-account
/// authentication, RBAC. No controller-manager runs, hence no ServiceAccount admission
/// (it would wait for default ServiceAccounts nobody creates) and no endpoint reconciler
/// (a loopback advertise address is refused otherwise).
fn apiserver_args(dir: &Path, etcd_port: u16, port: u16) -> Vec<String> {
    let file = |name: &str| dir.join(name).display().to_string();
    vec![
        format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        "--advertise-address=127.0.0.1".into(),
        "--endpoint-reconciler-type=none".into(),
        format!("--cert-dir={}", file("apiserver-certs")),
        format!("--tls-cert-file={}", file("apiserver.crt")),
        format!("--tls-private-key-file={}", file("apiserver.key")),
        format!("--client-ca-file={}", file("ca.crt")),
        "--service-cluster-ip-range=10.0.0.0/24".into(),
        format!("--service-account-issuer=https://127.0.0.1:{port}"),
        format!("--service-account-key-file={}", file("sa.pub")),
        format!("--service-account-signing-key-file={}", file("sa.key")),
        "--authorization-mode=RBAC".into(),
        "--allow-privileged=true".into(),
        "--disable-admission-plugins=ServiceAccount".into(),
        // Benchmarks may profile the API server (`/debug/pprof`); tests never need it.
        format!(
            "--profiling={}",
            std::env::var("SHO_APISERVER_PROFILING").is_ok_and(|v| v == "1")
        ),
    ]
}

/// etcd answers `GET /health` with `{"health":"true",...}` once it serves requests.
async fn etcd_healthy(port: u16) -> bool {
    match http_get_loopback(port, "/health") {
        Ok(text) => text.split_whitespace().nth(1) == Some("200") && text.contains(r#""health":"true""#),
        Err(_) => false,
    }
}

/// A plain blocking HTTP/1.0 GET on loopback (answers within milliseconds): enough for
/// etcd's health endpoint without an HTTP client crate or tokio's `io-util` feature.
fn http_get_loopback(port: u16, path: &str) -> std::io::Result<String> {
    use std::io::{Read as _, Write as _};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut body = Vec::new();
    stream.read_to_end(&mut body)?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Ready for tests: `/readyz` passes (post-start hooks such as RBAC bootstrap done) and
/// the system namespace controller has created `default`.
async fn apiserver_ready(client: Client) -> bool {
    let probe = async {
        let request = http::Request::get("/readyz").body(Vec::new()).ok()?;
        client.request_text(request).await.ok()?;
        Api::<Namespace>::all(client.clone()).get_opt("default").await.ok()?
    };
    matches!(tokio::time::timeout(Duration::from_secs(5), probe).await, Ok(Some(_)))
}

fn write_cert_files(dir: &Path, certs: &ClusterCerts) -> Result<(), Error> {
    write_private(&dir.join("ca.crt"), &certs.ca_pem)?;
    write_private(&dir.join("apiserver.crt"), &certs.serving.cert)?;
    write_private(&dir.join("apiserver.key"), &certs.serving.key)?;
    write_private(&dir.join("admin.crt"), &certs.admin.cert)?;
    write_private(&dir.join("admin.key"), &certs.admin.key)?;
    write_private(&dir.join("sa.pub"), &certs.service_account.cert)?;
    write_private(&dir.join("sa.key"), &certs.service_account.key)?;
    Ok(())
}

/// Writes a file only its owner can read (keys, kubeconfigs).
fn write_private(path: &Path, contents: &str) -> Result<(), Error> {
    use std::io::Write as _;
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// How a kubeconfig user authenticates.
enum Credentials<'a> {
    Cert(&'a PemPair),
    Token(&'a str),
}

/// A self-contained kubeconfig (base64-inlined certificates) with one context.
fn kubeconfig_yaml(server: &str, ca_pem: &str, user: &str, credentials: Credentials<'_>) -> String {
    let user_fields = match credentials {
        Credentials::Cert(pem) => format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            BASE64.encode(&pem.cert),
            BASE64.encode(&pem.key)
        ),
        Credentials::Token(token) => format!("    token: {token}\n"),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sho\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: \"{user}\"\n  user:\n{user_fields}contexts:\n- name: sho\n  context:\n    cluster: sho\n    user: \"{user}\"\ncurrent-context: sho\n",
        ca = BASE64.encode(ca_pem)
    )
}

async fn client_from_yaml(yaml: &str) -> Result<Client, Error> {
    let kubeconfig = Kubeconfig::from_yaml(yaml)?;
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    // Loopback only: an HTTPS_PROXY in the environment must not capture these requests.
    config.proxy_url = None;
    Ok(Client::try_from(config)?)
}

/// The directory holding etcd, kube-apiserver and kubectl: `$SHO_CONTROLPLANE_DIR`, or
/// what `tests/controlplane/build.sh` prints (it builds only what its cache lacks). Looked
/// up once per process.
pub fn controlplane_dir() -> Result<PathBuf, Error> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(find_controlplane).clone().map_err(Into::into)
}

fn find_controlplane() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("SHO_CONTROLPLANE_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => run_build_script()?,
    };
    for bin in ["etcd", "kube-apiserver", "kubectl"] {
        if !dir.join(bin).is_file() {
            return Err(format!(
                "{} is missing; run tests/controlplane/build.sh",
                dir.join(bin).display()
            ));
        }
    }
    Ok(dir)
}

fn run_build_script() -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/controlplane/build.sh");
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!("{} failed with {}", script.display(), output.status));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
    last.map(|l| PathBuf::from(l.trim()))
        .ok_or_else(|| format!("{} printed no directory", script.display()))
}
