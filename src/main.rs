//! The `securityhub-operator` command line: a thin layer over the library.

use std::process::ExitCode;

use clap::Parser;
use securityhub_operator::cli::{Cli, Command, DocsPage, run_flags_markdown};

/// mimalloc instead of glibc malloc: with 10,000 cached objects rewritten as their status
/// changes, glibc's arenas kept about 20 MiB more resident for the same live data
/// (BENCHMARKS.md, "Memory"). `.cargo/config.toml` builds it with lazily committed arenas.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        Command::Import(args) => block_on(async move {
            securityhub_operator::import::run(*args)
                .await
                .map_err(|e| e.to_string())
        }),
        Command::Status(args) => block_on(async move {
            securityhub_operator::status_report::run(args)
                .await
                .map_err(|e| e.to_string())
        }),
        Command::Crd => print_or_fail(securityhub_operator::crd::crd_yaml(), "cannot render the CRD"),
        Command::Docs(docs) => match docs.page {
            DocsPage::CrdReference => print_or_fail(
                securityhub_operator::crd_reference::render(),
                "cannot render the CRD reference",
            ),
            DocsPage::RunFlags => {
                print!("{}", run_flags_markdown());
                ExitCode::SUCCESS
            }
        },
        Command::Version => {
            println!("securityhub-operator {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}

/// Prints a rendered document, or the error with `context`.
fn print_or_fail<E: std::fmt::Display>(rendered: Result<String, E>, context: &str) -> ExitCode {
    match rendered {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("{context}: {e}")),
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
