//! netmon node agent: the stages between the kernel and the exporters.

pub mod config;
pub mod flow;
pub mod source;
pub mod telemetry;
