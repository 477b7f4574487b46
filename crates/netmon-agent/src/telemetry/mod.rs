//! The agent's observations of itself, for its self-monitoring metrics.

pub mod logging;
pub mod process;
