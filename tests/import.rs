//! `securityhub-operator import` against an existing estate: the emulator is seeded with
//! 300 members the operator never created (Enabled, some in two regions, some organization
//! accounts, some Created and never invited), `import` writes their manifests, they are
//! applied to a real kube-apiserver with the real operator binary running, every one
//! becomes Ready, and the emulator saw no write call at all.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kube::api::{Api, ListParams};
use securityhub_operator::api::SecurityHubMember;
use serde_json::{Value, json};
use support::emulator::EmulatorProcess;
use support::scenario::{ADMIN_KEY, Setup};
use support::wait::{Found, poll_for};
use support::{Error, TestCluster};

const BIN: &str = env!("CARGO_BIN_EXE_securityhub-operator");
const MEMBERS: usize = 300;
const NAMESPACE: &str = "imported";

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
        .env("AWS_ACCESS_KEY_ID", ADMIN_KEY)
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

/// Operation -> calls, from the emulator's request log.
async fn request_counts(emulator: &EmulatorProcess) -> Result<Value, Error> {
    Ok(emulator.get("/_emulator/requests").await?["counts"].clone())
}

fn calls(counts: &Value, operation: &str) -> u64 {
    counts[operation]
        .as_object()
        .map(|by_outcome| by_outcome.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}

async fn wait_all_ready(api: &Api<SecurityHubMember>) -> Result<(), Error> {
    poll_for("every imported member Ready", Duration::from_secs(240), || async {
        let list = api.list(&ListParams::default()).await?;
        let ready = list.items.iter().filter(|m| is_ready(m)).count();
        if list.items.len() == MEMBERS && ready == MEMBERS {
            return Ok(Found::Yes(()));
        }
        let stuck: Vec<_> = list
            .items
            .iter()
            .filter(|m| !is_ready(m))
            .take(5)
            .map(|m| (m.metadata.name.clone(), m.status.clone()))
            .collect();
        Ok(Found::No(format!("{ready}/{} Ready; e.g. {stuck:?}", list.items.len())))
    })
    .await
}

fn is_ready(m: &SecurityHubMember) -> bool {
    m.status
        .as_ref()
        .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importing_300_members_makes_them_ready_without_a_write_call() -> Result<(), Error> {
    let started = Instant::now();
    let emulator = EmulatorProcess::start(&[])?;
    let url = emulator.url().to_string();
    let seeded = emulator.post("/_emulator/members", seed()).await?;
    eprintln!("seeded: {seeded}");
    let cluster = TestCluster::with_crd().await?;

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
    let counts = request_counts(&emulator).await?;
    assert_eq!(
        counts.as_object().map(|o| o.len()),
        Some(1),
        "import only lists: {counts}"
    );
    eprintln!("imported twice after {:?}", started.elapsed());

    let operator = Setup::new("import").operator_on(&cluster, &url).await?;
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
    operator.stop();
    if let Err(e) = ready {
        let log = operator.log_text();
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

    let counts = request_counts(&emulator).await?;
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
