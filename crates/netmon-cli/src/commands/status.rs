//! Placeholder while this subcommand is being written.

use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
#[error("not built yet")]
pub struct NotBuilt;

pub async fn run(
    _: &crate::client::AgentClient,
    _: &crate::cli::StatusArgs,
    _: &crate::output::Style,
) -> Result<ExitCode, NotBuilt> {
    Err(NotBuilt)
}
