//! securityhub-operator: keeps AWS Security Hub membership equal to the
//! `SecurityHubMember` resources declared in a Kubernetes cluster.
//!
//! Data flows one way: watch event -> observe -> [`plan`] (pure) -> act (batched AWS
//! calls in [`securityhub`]) -> write status once ([`controller`]).

pub mod api;
pub mod cli;
pub mod config;
pub mod controller;
pub mod crd;
pub mod crd_reference;
pub mod emulator;
pub mod import;
pub mod leader;
pub mod plan;
pub mod run;
pub mod securityhub;
pub mod status_report;
pub mod sync;
pub mod telemetry;
