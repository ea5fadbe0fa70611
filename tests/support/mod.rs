//! Test support shared by the integration tests (each test binary compiles it as
//! `mod support;`) and by `examples/cluster.rs` (`make cluster-up`).
//!
//! Not every binary uses every helper, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod certs;
pub mod chaos;
pub mod cluster;
pub mod emulator;
pub mod invariants;
pub mod model;
pub mod moto;
pub mod node;
pub mod operator;
pub mod process;
pub mod scenario;
pub mod wait;

#[allow(unused_imports)] // each test binary uses a different part
pub use cluster::{ClusterOptions, TestCluster};

/// Errors of the harness: boxed, because tests only print them.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
