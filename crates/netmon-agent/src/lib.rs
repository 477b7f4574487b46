//! netmon node agent: the stages between the kernel and the exporters.

pub mod api;
pub mod config;
pub mod enrich;
pub mod export;
pub mod flow;
pub mod runtime;
pub mod source;
pub mod telemetry;
