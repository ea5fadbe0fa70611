//! `make run` end to end: a first run is killed the hard way (as when a terminal closes),
//! then `DEMO_EXIT_WHEN_SETTLED=1 make run` must still work without cleanup, bring every
//! sample to its expected final state, and leave none of the processes either run started.
//!
//! Runs in place (the build is then a no-op) with a fresh `DEMO_DIR`, so the demo's state
//! starts clean and a developer's own `target/demo` is not touched.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// (region, member status).
type Regions = &'static [(&'static str, &'static str)];

/// Expected end state of each sample: (name, Ready, reason, member status per region).
const EXPECTED: &[(&str, &str, &str, Regions)] = &[
    ("shared-services", "True", "Enabled", &[("us-east-1", "Enabled")]),
    (
        "log-archive",
        "True",
        "Enabled",
        &[("eu-west-1", "Enabled"), ("us-east-1", "Enabled")],
    ),
    ("payments-prod", "True", "Enabled", &[("us-east-1", "Enabled")]),
    (
        "analytics-prod",
        "True",
        "Enabled",
        &[("eu-west-1", "Enabled"), ("us-east-1", "Enabled")],
    ),
    ("sandbox", "True", "Enabled", &[("eu-west-1", "Enabled")]),
    ("contractor-sandbox", "False", "Resigned", &[("us-east-1", "Resigned")]),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn controlplane_dir() -> Result<String, Error> {
    if let Ok(dir) = std::env::var("SHO_CONTROLPLANE_DIR") {
        return Ok(dir);
    }
    let out = Command::new(repo().join("tests/controlplane/build.sh")).output()?;
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// `make run` in its own process group, output to `log`.
fn make_run(demo_dir: &Path, log: &Path, exit_when_settled: bool) -> Result<Child, Error> {
    let out = fs::File::create(log)?;
    let mut cmd = Command::new("make");
    cmd.arg("--no-print-directory")
        .arg("run")
        .current_dir(repo())
        .env("DEMO_DIR", demo_dir)
        .env("DEMO_TIMEOUT", "150")
        .env("SHO_CONTROLPLANE_DIR", controlplane_dir()?)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0);
    if exit_when_settled {
        cmd.env("DEMO_EXIT_WHEN_SETTLED", "1");
    } else {
        cmd.env_remove("DEMO_EXIT_WHEN_SETTLED");
    }
    Ok(cmd.spawn()?)
}

/// Exists and is not a zombie.
fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| Some(stat.rsplit(')').next()?.split_whitespace().next()? != "Z"))
        .unwrap_or(false)
}

fn recorded_pids(demo_dir: &Path) -> Result<Vec<(String, u32)>, Error> {
    let text = fs::read_to_string(demo_dir.join("pids"))?;
    let mut pids = Vec::new();
    for line in text.lines() {
        let (name, pid) = line.split_once(' ').ok_or("malformed pids line")?;
        pids.push((name.to_string(), pid.trim().parse()?));
    }
    Ok(pids)
}

/// Waits (a few seconds at most: init reaps orphans) until none of `pids` is alive.
fn assert_all_gone(pids: &[(String, u32)]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|(_, p)| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let left: Vec<_> = pids.iter().filter(|(_, p)| alive(*p)).collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

fn sigkill(pid: u32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
}

/// The first run: interactive mode, killed with SIGKILL (make and the script only) once
/// the samples settled, leaving the emulator, the operator and the cluster behind.
fn killed_first_run(demo_dir: &Path) -> Result<Vec<(String, u32)>, Error> {
    let log = demo_dir.with_extension("first.log");
    let mut make = make_run(demo_dir, &log, false)?;
    let deadline = Instant::now() + Duration::from_secs(600);
    while !fs::read_to_string(&log)?.contains("Press Ctrl-C") {
        if let Some(status) = make.try_wait()? {
            return Err(format!("first make run exited with {status}:\n{}", fs::read_to_string(&log)?).into());
        }
        if Instant::now() > deadline {
            sigkill(make.id());
            return Err("first make run did not settle".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let pids = recorded_pids(demo_dir)?;
    let script = pids.iter().find(|(n, _)| n == "demo").ok_or("no demo PID recorded")?.1;
    sigkill(script);
    sigkill(make.id());
    make.wait()?;
    let left: Vec<_> = pids.iter().filter(|(n, p)| n != "demo" && alive(*p)).collect();
    assert!(
        left.len() >= 4,
        "the killed run should leave its children behind: {left:?}"
    );
    Ok(pids)
}

fn check_final_state(demo_dir: &Path) -> Result<(), Error> {
    let list: Value = serde_json::from_str(&fs::read_to_string(demo_dir.join("final.json"))?)?;
    let items = list["items"].as_array().ok_or("no items")?;
    assert_eq!(items.len(), EXPECTED.len(), "one resource per sample");
    for (name, ready, reason, regions) in EXPECTED {
        let item = items
            .iter()
            .find(|i| i["metadata"]["name"] == *name)
            .ok_or(format!("{name} missing"))?;
        let status = &item["status"];
        let cond = status["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .ok_or(format!("{name} has no Ready"))?;
        assert_eq!(
            (cond["status"].as_str(), cond["reason"].as_str()),
            (Some(*ready), Some(*reason)),
            "{name}"
        );
        let got: Vec<(&str, &str)> = status["regions"]
            .as_array()
            .ok_or(format!("{name} has no regions"))?
            .iter()
            .map(|r| {
                (
                    r["region"].as_str().unwrap_or(""),
                    r["memberStatus"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(&got, regions, "{name}");
    }
    Ok(())
}

#[test]
fn make_run_settles_every_sample_and_leaves_nothing_running() -> Result<(), Error> {
    let tmp = tempfile::Builder::new().prefix("sho-demo-").tempdir()?;
    let demo_dir = tmp.path().join("demo");
    let started = Instant::now();
    let first = killed_first_run(&demo_dir)?;
    eprintln!("first run settled and was killed after {:?}", started.elapsed());

    let log = demo_dir.with_extension("second.log");
    let status = make_run(&demo_dir, &log, true)?.wait()?;
    let output = fs::read_to_string(&log)?;
    assert!(status.success(), "second make run failed ({status}):\n{output}");
    eprintln!("second run done after {:?}", started.elapsed());
    assert!(output.contains("Every sample settled"), "{output}");
    assert!(output.contains("get shm -A") && output.contains("/metrics"), "{output}");
    check_final_state(&demo_dir)?;

    let second = recorded_pids(&demo_dir)?;
    for name in [
        "demo",
        "cluster-supervisor",
        "cluster-etcd",
        "cluster-kube-apiserver",
        "emulator",
        "operator",
    ] {
        assert!(second.iter().any(|(n, _)| n == name), "{name} not recorded: {second:?}");
    }
    assert_all_gone(&first);
    assert_all_gone(&second);
    assert!(
        !demo_dir.join("cluster").exists(),
        "the cluster's state should be removed"
    );
    Ok(())
}
