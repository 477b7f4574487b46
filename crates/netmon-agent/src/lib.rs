//! netmon node agent: the stages between the kernel and the exporters.
// The exact-JSON test of a flow view lists every field in one json! literal.
#![cfg_attr(test, recursion_limit = "256")]

pub mod api;
pub mod config;
pub mod control;
pub mod enrich;
pub mod export;
pub mod flow;
pub mod inspect;
pub mod l7;
pub mod programs;
pub mod runtime;
pub mod security;
pub mod source;
pub mod telemetry;
