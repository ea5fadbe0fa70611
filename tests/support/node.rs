//! A one-node cluster that runs pods (`tests/node/node.sh`), for the chart's end-to-end
//! tests: up on creation, down (nothing left on the host) on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::Error;
use super::cluster::controlplane_dir;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/node.sh")
}

/// A running node cluster.
pub struct NodeCluster {
    state: PathBuf,
    /// The bridge address pods and the host share (the emulator listens there).
    pub bridge_ip: String,
}

impl NodeCluster {
    /// Why this machine cannot run a node cluster (root, packages, node binaries), if it
    /// cannot. Builds the node binaries first when they are missing from the cache.
    pub fn unavailable() -> Option<String> {
        let bins = match controlplane_dir() {
            Ok(dir) => dir,
            Err(e) => return Some(e.to_string()),
        };
        if is_root() && !bins.join("kubelet").is_file() {
            let build = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/controlplane/build.sh");
            let built = Command::new("bash")
                .arg(build)
                .arg("--node")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status();
            if !built.is_ok_and(|s| s.success()) {
                return Some("tests/controlplane/build.sh --node failed".into());
            }
        }
        let out = Command::new("bash")
            .arg(script())
            .arg("check")
            .env("SHO_CONTROLPLANE_DIR", &bins)
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => None,
            Ok(o) => Some(String::from_utf8_lossy(&o.stdout).trim().to_string()),
            Err(e) => Some(format!("cannot run {}: {e}", script().display())),
        }
    }

    /// Starts the cluster with its state in `state` (removed again on drop).
    pub fn up(state: &Path) -> Result<Self, Error> {
        let bins = controlplane_dir()?;
        // Made before `up`, so a start that fails half-way is taken down on drop.
        let mut node = NodeCluster {
            state: state.to_path_buf(),
            bridge_ip: String::new(),
        };
        let status = Command::new("bash")
            .arg(script())
            .arg("up")
            .arg(state)
            .env("SHO_CONTROLPLANE_DIR", &bins)
            .stdin(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(format!("node.sh up failed with {status}").into());
        }
        let env = std::fs::read_to_string(state.join("env"))?;
        node.bridge_ip = env
            .lines()
            .find_map(|l| l.strip_prefix("BRIDGE_IP="))
            .ok_or("node.sh wrote no BRIDGE_IP")?
            .to_string();
        Ok(node)
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.state.join("kubeconfig")
    }

    pub async fn client(&self) -> Result<Client, Error> {
        let kubeconfig = Kubeconfig::read_from(self.kubeconfig())?;
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        config.proxy_url = None;
        Ok(Client::try_from(config)?)
    }

    /// Loads an OCI image archive into the node's containerd.
    pub fn import(&self, archive: &Path) -> Result<(), Error> {
        let status = Command::new("bash")
            .arg(script())
            .args([Path::new("import"), &self.state, archive])
            .stdin(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(format!("node.sh import failed with {status}").into());
        }
        Ok(())
    }

    /// Runs a control-plane tool (`kubectl`, `helm`) against this cluster.
    pub fn tool(&self, tool: &str, args: &[&str]) -> Result<Output, Error> {
        let bins = controlplane_dir()?;
        let mut cmd = Command::new(bins.join(tool));
        cmd.env("KUBECONFIG", self.kubeconfig())
            .env("HELM_CACHE_HOME", self.state.join("helm/cache"))
            .env("HELM_CONFIG_HOME", self.state.join("helm/config"))
            .env("HELM_DATA_HOME", self.state.join("helm/data"))
            .args(args)
            .stdin(Stdio::null());
        Ok(cmd.output()?)
    }

    /// Like [`Self::tool`], failing with the tool's stderr when it fails.
    pub fn run(&self, tool: &str, args: &[&str]) -> Result<String, Error> {
        let out = self.tool(tool, args)?;
        if !out.status.success() {
            return Err(format!(
                "{tool} {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The cluster's logs directory (one file per component).
    pub fn logs(&self) -> PathBuf {
        self.state.join("logs")
    }
}

impl Drop for NodeCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("down")
            .arg(&self.state)
            .stdin(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
