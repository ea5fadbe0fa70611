//! The `securityhub-operator` command line: a thin layer over the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use securityhub_operator::config::RunArgs;

#[derive(Parser)]
#[command(
    name = "securityhub-operator",
    version,
    about = "Declarative AWS Security Hub membership for Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator (reconcile SecurityHubMember resources against Security Hub).
    Run(Box<RunArgs>),
    /// Print the SecurityHubMember CustomResourceDefinition as YAML.
    Crd,
    /// Serve a local Security Hub membership API (and STS AssumeRole) for demos and tests.
    Emulator(Box<securityhub_operator::emulator::EmulatorArgs>),
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // kube and the AWS SDK both use rustls; pick the one crypto provider explicitly.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match cli.command {
        Command::Run(args) => {
            block_on(async move { securityhub_operator::run::run(*args).await.map_err(|e| e.to_string()) })
        }
        Command::Emulator(args) => block_on(async move {
            securityhub_operator::emulator::run(*args)
                .await
                .map_err(|e| e.to_string())
        }),
        Command::Crd => match securityhub_operator::crd::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("cannot render the CRD: {e}")),
        },
        Command::Version => {
            println!("securityhub-operator {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}

/// Runs `future` on a multi-threaded runtime and turns its error into an exit code.
fn block_on(future: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(future) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
