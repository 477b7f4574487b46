//! Exporters: ways flows and agent state leave the agent.

pub mod prometheus;
