//! Placeholder while this subcommand is being written.

use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
#[error("not built yet")]
pub struct NotBuilt;

pub async fn dump(
    _: &crate::client::AgentClient,
    _: &crate::cli::FlowsDumpArgs,
    _: &crate::output::Style,
) -> Result<ExitCode, NotBuilt> {
    Err(NotBuilt)
}
pub async fn observe(
    _: &crate::client::AgentClient,
    _: &crate::cli::FlowsObserveArgs,
    _: &crate::output::Style,
) -> Result<ExitCode, NotBuilt> {
    Err(NotBuilt)
}
