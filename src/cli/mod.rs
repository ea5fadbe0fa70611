//! The command line as a library type, so tests can inspect every flag through
//! `clap::CommandFactory` (the README's configuration table is generated from it) and
//! `main.rs` stays a thin dispatcher.

mod flags_table;

use clap::{Args, Parser, Subcommand};

pub use flags_table::{RUN_FLAGS_BEGIN, RUN_FLAGS_END, run_flags_markdown};

use crate::config::RunArgs;
use crate::emulator::EmulatorArgs;
use crate::import::ImportArgs;
use crate::status_report::StatusArgs;

/// `securityhub-operator`.
#[derive(Parser, Debug)]
#[command(
    name = "securityhub-operator",
    version,
    about = "Declarative AWS Security Hub membership for Kubernetes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the operator (reconcile SecurityHubMember resources against Security Hub).
    Run(Box<RunArgs>),
    /// Print the SecurityHubMember CustomResourceDefinition as YAML.
    Crd,
    /// Serve a local Security Hub membership API (and STS AssumeRole) for demos and tests.
    Emulator(Box<EmulatorArgs>),
    /// Write SecurityHubMember manifests for the members the administrator already has.
    Import(Box<ImportArgs>),
    /// Summarise the SecurityHubMembers in the cluster: counts, then the ones needing attention.
    Status(StatusArgs),
    /// Generate documentation from the code (used to keep docs/ and the README current).
    #[command(hide = true)]
    Docs(DocsArgs),
    /// Print the version.
    Version,
}

/// `securityhub-operator docs <page>`.
#[derive(Args, Debug)]
pub struct DocsArgs {
    #[command(subcommand)]
    pub page: DocsPage,
}

/// Generated documentation pages.
#[derive(Subcommand, Debug, Clone, Copy)]
pub enum DocsPage {
    /// docs/crd-reference.md, from the CRD's OpenAPI schema.
    CrdReference,
    /// The README's configuration table, from the `run` flags.
    RunFlags,
}
