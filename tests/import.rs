//! `securityhub-operator import` against an existing estate: the emulator is seeded with
//! 300 members the operator never created (Enabled, some in two regions, some organization
//! accounts, some Created and never invited), `import` writes their manifests, they are
//! applied to a real kube-apiserver with the real operator binary running, every one
//! becomes Ready, and the emulator saw no write call at all.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::api::{Api, ListParams};
use securityhub_operator::api::SecurityHubMember;
use serde_json::{Value, json};
use support::{Error, TestCluster, process};

const BIN: &str = env!("CARGO_BIN_EXE_securityhub-operator");
const MEMBERS: usize = 300;
const NAMESPACE: &str = "imported";
/// The administrator: the emulator maps the access key's 12 digits to the caller account.
const ACCESS_KEY: &str = "AKIA111111111111EXAM";

/// A child that is stopped (SIGTERM, then SIGKILL) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        process::stop(&mut self.0, Duration::from_secs(5));
    }
}

/// The emulator binary on a free loopback port; returns it and its URL.
fn start_emulator() -> Result<(Running, String), Error> {
    let mut cmd = Command::new(BIN);
    cmd.args(["emulator", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = Running(process::spawn_tied(cmd)?);
    let stdout = child.0.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or(format!("unexpected first line {line:?}"))?
        .to_string();
    Ok((child, url))
}

fn account(i: usize) -> String {
    format!("{}", 200_000_000_000 + i)
}

/// 300 accounts in us-east-1; every third also in eu-west-1; the first ten are organization
/// accounts; the last ten were created and never invited.
fn seed() -> Value {
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let status = if i >= MEMBERS - 10 { "Created" } else { "Enabled" };
        let email = (i % 2 == 0).then(|| format!("owner-{i}@example.com"));
        let organization = i < 10;
        members.push(json!({"accountId": account(i), "region": "us-east-1", "status": status, "email": email, "organization": organization}));
        if i % 3 == 0 && status == "Enabled" {
            members.push(json!({"accountId": account(i), "region": "eu-west-1", "status": "Enabled", "email": email, "organization": organization}));
        }
    }
    json!({ "members": members })
}

fn aws_env(cmd: &mut Command, url: &str) {
    cmd.env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_SECURITYHUB", url)
        .env("AWS_ENDPOINT_URL_STS", url);
}

/// Runs `import` with `extra` arguments; returns stdout.
fn import(url: &str, extra: &[&str]) -> Result<String, Error> {
    let mut cmd = Command::new(BIN);
    cmd.args(["import", "--regions", "us-east-1,eu-west-1", "--namespace", NAMESPACE])
        .args(extra)
        .stdin(Stdio::null());
    aws_env(&mut cmd, url);
    let out = cmd.output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("import failed: {stderr}").into());
    }
    // stderr is not a terminal here: no progress bar, only the summary line.
    assert!(!stderr.contains('\r') && stderr.contains("imported"), "{stderr}");
    Ok(String::from_utf8(out.stdout)?)
}

fn start_operator(url: &str, kubeconfig: &Path, log: &Path) -> Result<Running, Error> {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "run",
        "--metrics-bind-address",
        "127.0.0.1:0",
        "--resync-pending",
        "2s",
        "--batch-window",
        "100ms",
    ])
    .env("KUBECONFIG", kubeconfig)
    .env("NO_COLOR", "1")
    .stdin(Stdio::null())
    .stdout(std::fs::File::create(log)?)
    .stderr(std::fs::File::create(log.with_extension("err"))?);
    aws_env(&mut cmd, url);
    Ok(Running(process::spawn_tied(cmd)?))
}

/// Operation -> calls, from the emulator's request log.
async fn request_counts(http: &reqwest::Client, url: &str) -> Result<Value, Error> {
    let body: Value = http
        .get(format!("{url}/_emulator/requests"))
        .send()
        .await?
        .json()
        .await?;
    Ok(body["counts"].clone())
}

fn calls(counts: &Value, operation: &str) -> u64 {
    counts[operation]
        .as_object()
        .map(|by_outcome| by_outcome.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}

async fn wait_all_ready(api: &Api<SecurityHubMember>) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let list = api.list(&ListParams::default()).await?;
        let ready = list.items.iter().filter(|m| is_ready(m)).count();
        if list.items.len() == MEMBERS && ready == MEMBERS {
            return Ok(());
        }
        if Instant::now() > deadline {
            let stuck: Vec<_> = list
                .items
                .iter()
                .filter(|m| !is_ready(m))
                .take(5)
                .map(|m| (m.metadata.name.clone(), m.status.clone()))
                .collect();
            return Err(format!("{ready}/{} Ready; e.g. {stuck:?}", list.items.len()).into());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn is_ready(m: &SecurityHubMember) -> bool {
    m.status
        .as_ref()
        .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importing_300_members_makes_them_ready_without_a_write_call() -> Result<(), Error> {
    let started = Instant::now();
    let (_emulator, url) = start_emulator()?;
    let http = reqwest::Client::new();
    let seeded: Value = http
        .post(format!("{url}/_emulator/members"))
        .json(&seed())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    eprintln!("seeded: {seeded}");
    let cluster = TestCluster::start().await?;
    cluster.install_crd().await?;

    let yaml = import(&url, &[])?;
    assert_eq!(yaml.matches("\nkind: SecurityHubMember\n").count(), MEMBERS);
    assert_eq!(yaml.matches("  adopt: true\n").count(), MEMBERS);
    assert_eq!(yaml.matches("  deletionPolicy: Retain\n").count(), MEMBERS);
    assert_eq!(
        yaml.matches("  invite: false\n").count(),
        10,
        "Created members keep invite: false"
    );
    let dir = cluster.dir().join("imported");
    import(&url, &["-o", dir.to_str().ok_or("path")?, "--name-from", "email"])?;
    let files = std::fs::read_dir(&dir)?.count();
    assert_eq!(files, MEMBERS + 1, "one file per account and a kustomization.yaml");
    assert!(dir.join("owner-0-example-com.yaml").is_file());
    assert!(dir.join(format!("account-{}.yaml", account(1))).is_file());
    let counts = request_counts(&http, &url).await?;
    assert_eq!(
        counts.as_object().map(|o| o.len()),
        Some(1),
        "import only lists: {counts}"
    );
    eprintln!("imported twice after {:?}", started.elapsed());

    let operator = start_operator(&url, cluster.kubeconfig_path(), &cluster.dir().join("operator.log"))?;
    let manifest = cluster.dir().join("imported.yaml");
    std::fs::write(&manifest, &yaml)?;
    let out = cluster.kubectl(&["create", "namespace", NAMESPACE])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cluster.kubectl(&["apply", "--server-side", "-f", manifest.to_str().ok_or("path")?])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("applied after {:?}", started.elapsed());

    let api: Api<SecurityHubMember> = Api::namespaced(cluster.client().await?, NAMESPACE);
    let ready = wait_all_ready(&api).await;
    eprintln!("all Ready after {:?}", started.elapsed());
    drop(operator);
    if let Err(e) = ready {
        let log = std::fs::read_to_string(cluster.dir().join("operator.err")).unwrap_or_default();
        let tail: Vec<_> = log.lines().rev().take(30).collect();
        return Err(format!("{e}\noperator log (last lines, newest first):\n{}", tail.join("\n")).into());
    }

    let status = Command::new(BIN)
        .args(["status", "--namespace", NAMESPACE])
        .env("KUBECONFIG", cluster.kubeconfig_path())
        .output()?;
    let summary = String::from_utf8_lossy(&status.stdout);
    assert!(
        summary.starts_with("300 SecurityHubMember(s) in namespace imported: 300 Ready, 0 not Ready"),
        "{summary}{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(summary.contains("Nothing needs attention."), "{summary}");

    let counts = request_counts(&http, &url).await?;
    eprintln!("emulator request counts: {counts}");
    for write in ["CreateMembers", "InviteMembers", "DisassociateMembers", "DeleteMembers"] {
        assert_eq!(calls(&counts, write), 0, "{write} was called: {counts}");
    }
    assert!(
        calls(&counts, "GetMembers") > 0,
        "the operator read the members: {counts}"
    );
    Ok(())
}
