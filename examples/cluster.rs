//! `make cluster-up` / `make cluster-down`: one local control plane (etcd +
//! kube-apiserver) in the background for people and scripts, built on the test harness.
//!
//! `up` starts a detached `serve` process and returns once the cluster is ready;
//! `serve` runs the cluster until SIGTERM/SIGINT; `down` stops `serve` by its recorded PID
//! and removes the state directory. Its kubeconfig is `<state-dir>/kubeconfig`; the
//! server's output goes to `<state-dir>.log`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use support::{ClusterOptions, Error, TestCluster, process};
use tokio::signal::unix::{SignalKind, signal};

/// How long `up` waits (the first run may build the control plane).
const UP_TIMEOUT: Duration = Duration::from_secs(1800);
const DOWN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Parser)]
#[command(about = "A local etcd + kube-apiserver in the background")]
struct Cli {
    /// Where the kubeconfig, PID files, certificates, data and logs live.
    #[arg(long, global = true, default_value = "target/cluster")]
    state_dir: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start in the background; return when ready.
    Up,
    /// Run in the foreground until SIGTERM or SIGINT (what `up` starts).
    Serve,
    /// Stop the cluster started by `up` and remove its state.
    Down,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Up => up(&cli.state_dir),
        Cmd::Serve => serve(&cli.state_dir),
        Cmd::Down => down(&cli.state_dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster: {e}");
            ExitCode::FAILURE
        }
    }
}

fn supervisor_pid_file(state: &Path) -> PathBuf {
    state.join("supervisor.pid")
}

fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Exists and is not a zombie.
fn is_alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit(')').next()?.split_whitespace().next()?.to_string();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

fn up(state: &Path) -> Result<(), Error> {
    let kubeconfig = state.join("kubeconfig");
    if read_pid(&supervisor_pid_file(state)).is_some_and(is_alive) && state.join("ready").exists() {
        println!("cluster already running; KUBECONFIG={}", kubeconfig.display());
        return Ok(());
    }
    let _ = fs::remove_dir_all(state);
    fs::create_dir_all(state)?;
    // Beside, not inside, the state directory: a failed start removes that directory.
    let log = state.with_extension("log");
    let out = fs::File::create(&log)?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--state-dir").arg(state).arg("serve");
    cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
    // SAFETY: setsid(2) is async-signal-safe. A new session detaches the server from the
    // terminal, so Ctrl-C in the shell that ran `make cluster-up` does not stop it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let deadline = Instant::now() + UP_TIMEOUT;
    while !state.join("ready").exists() {
        if let Some(status) = child.try_wait()? {
            let tail = fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("the cluster exited with {status}:\n{tail}").into());
        }
        if Instant::now() > deadline {
            process::signal(child.id(), libc::SIGTERM);
            return Err(format!("not ready after {} s; see {}", UP_TIMEOUT.as_secs(), log.display()).into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "cluster ready: export KUBECONFIG={}",
        kubeconfig.canonicalize()?.display()
    );
    println!("stop it with: make cluster-down");
    Ok(())
}

fn serve(state: &Path) -> Result<(), Error> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let options = ClusterOptions {
            state_dir: Some(state.to_path_buf()),
        };
        let cluster = TestCluster::start_with(options).await?;
        let (etcd, apiserver) = cluster.pids();
        fs::write(supervisor_pid_file(state), format!("{}\n", std::process::id()))?;
        fs::write(state.join("etcd.pid"), format!("{etcd}\n"))?;
        fs::write(state.join("kube-apiserver.pid"), format!("{apiserver}\n"))?;
        fs::write(state.join("ready"), "")?;
        println!(
            "serving {} (kubeconfig {})",
            cluster.server_url(),
            cluster.kubeconfig_path().display()
        );
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        drop(cluster);
        println!("stopped");
        Ok(())
    })
}

fn down(state: &Path) -> Result<(), Error> {
    let Some(pid) = read_pid(&supervisor_pid_file(state)).filter(|&pid| is_alive(pid)) else {
        let _ = fs::remove_dir_all(state);
        println!("no cluster running");
        return Ok(());
    };
    process::signal(pid, libc::SIGTERM);
    let deadline = Instant::now() + DOWN_TIMEOUT;
    while is_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if is_alive(pid) {
        // Its children have PR_SET_PDEATHSIG(SIGKILL), so they go with it.
        process::signal(pid, libc::SIGKILL);
    }
    for name in ["etcd.pid", "kube-apiserver.pid"] {
        if let Some(child) = read_pid(&state.join(name)).filter(|&p| is_alive(p)) {
            process::signal(child, libc::SIGKILL);
        }
    }
    let _ = fs::remove_dir_all(state);
    let _ = fs::remove_file(state.with_extension("log"));
    println!("cluster stopped");
    Ok(())
}
