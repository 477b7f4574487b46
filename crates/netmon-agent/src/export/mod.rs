//! Exporters: ways flows and agent state leave the agent.

pub mod grpc;
pub mod ipfix;
pub mod prometheus;
