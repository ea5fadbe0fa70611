//! Child processes that cannot outlive the process that started them.
//!
//! Three layers, because a test may fail, panic or be killed at any point:
//! 1. the owner (`TestCluster`) stops its children in `Drop`;
//! 2. an `atexit` hook stops every child still registered and removes registered
//!    directories (this covers clusters kept in a `static`, which are never dropped);
//! 3. every child gets `PR_SET_PDEATHSIG(SIGKILL)`, so even a SIGKILLed test process takes
//!    its children along. The kernel sends that signal when the *thread* that forked the
//!    child exits, so all children are forked from one thread that lives as long as the
//!    process, never from a short-lived tokio test thread.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use super::Error;

/// A command to fork and where to send the result.
type Job = (Command, mpsc::Sender<io::Result<Child>>);

/// What the exit hook must still clean up.
#[derive(Default)]
struct Live {
    pids: BTreeSet<u32>,
    dirs: Vec<PathBuf>,
}

static SPAWNER: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
static LIVE: Mutex<Live> = Mutex::new(Live {
    pids: BTreeSet::new(),
    dirs: Vec::new(),
});

/// Starts `cmd` from the long-lived spawner thread with `PR_SET_PDEATHSIG(SIGKILL)` and
/// registers its PID for the exit hook.
pub fn spawn_tied(cmd: Command) -> Result<Child, Error> {
    let spawner = SPAWNER
        .get_or_init(start_spawner)
        .as_ref()
        .ok_or("cannot start the process-spawner thread")?;
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .send((cmd, reply_tx))
        .map_err(|_| "the process-spawner thread is gone")?;
    let child = reply_rx
        .recv()
        .map_err(|_| "the process-spawner thread did not answer")??;
    live().pids.insert(child.id());
    Ok(child)
}

/// Stops a child: SIGTERM, then SIGKILL after `grace`; always reaps it.
pub fn stop(child: &mut Child, grace: Duration) {
    if matches!(child.try_wait(), Ok(None)) && !grace.is_zero() {
        signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
            thread::sleep(Duration::from_millis(50));
        }
    }
    if matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill();
    }
    let _ = child.wait();
    live().pids.remove(&child.id());
}

/// Asks the exit hook to remove `dir` if its owner never gets to.
pub fn register_dir(dir: PathBuf) {
    live().dirs.push(dir);
}

/// The owner removed `dir` itself.
pub fn forget_dir(dir: &PathBuf) {
    live().dirs.retain(|d| d != dir);
}

/// Sends `sig` to `pid` (used by the exit hook and for SIGTERM).
pub fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid, sig) };
    }
}

fn live() -> MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts the thread that forks every child and installs the exit hook.
fn start_spawner() -> Option<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    thread::Builder::new()
        .name("sho-spawner".into())
        .spawn(move || {
            // The static sender never drops, so this loop (and thread) lasts for the process.
            for (mut cmd, reply) in rx {
                let _ = reply.send(spawn_with_pdeathsig(&mut cmd));
            }
        })
        .ok()?;
    // SAFETY: registering a plain `extern "C" fn` with atexit(3).
    unsafe { libc::atexit(cleanup_at_exit) };
    Some(tx)
}

fn spawn_with_pdeathsig(cmd: &mut Command) -> io::Result<Child> {
    let parent = std::process::id();
    // SAFETY: the closure runs between fork and exec and only calls the async-signal-safe
    // prctl(2) and getppid(2).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect: then nobody will signal us.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(io::Error::other("parent exited before the child started"));
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// The exit hook: kill and reap what is still registered, then remove directories.
extern "C" fn cleanup_at_exit() {
    let mut live = live();
    for pid in std::mem::take(&mut live.pids) {
        signal(pid, libc::SIGKILL);
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: waitpid(2) on our own child with a null status pointer.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        }
    }
    for dir in std::mem::take(&mut live.dirs) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A loopback port nobody listens on right now (the caller retries if it is taken meanwhile).
pub fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
