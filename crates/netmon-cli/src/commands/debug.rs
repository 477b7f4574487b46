//! Placeholder while this subcommand is being written.

use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
#[error("not built yet")]
pub struct NotBuilt;

pub async fn trace(
    _: &crate::client::AgentClient,
    _: &crate::cli::TraceArgs,
) -> Result<ExitCode, NotBuilt> {
    Err(NotBuilt)
}
