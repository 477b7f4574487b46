//! Test support for netmon-server: a real ClickHouse server, a real
//! netmon-server process, and an agent-like gRPC client.
//!
//! Other crates' tests include it with
//! `#[path = "../../netmon-server/tests/support/mod.rs"] mod server_support;`
//! (needs `tokio`, `libc`, `tonic` with `transport` and `netmon-proto` as
//! dev-dependencies) and start everything with [`server::Stack::start`].
#![allow(dead_code)]

pub mod clickhouse;
pub mod client;
pub mod http;
pub mod server;
pub mod temp;
