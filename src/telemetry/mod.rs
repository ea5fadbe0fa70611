//! Logs, metrics and health: what operators of the operator look at.

mod logging;
mod metrics;
mod server;

pub use logging::init_logging;
pub use metrics::Metrics;
pub use server::{Health, serve};
