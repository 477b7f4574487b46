//! Placeholder while this subcommand is being written.

use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
#[error("not built yet")]
pub struct NotBuilt;

pub async fn get(
    _: &crate::client::AgentClient,
    _: &crate::cli::ConfigGetArgs,
) -> Result<ExitCode, NotBuilt> {
    Err(NotBuilt)
}
pub async fn set(
    _: &crate::client::AgentClient,
    _: &crate::cli::ConfigSetArgs,
    _: &crate::output::Style,
) -> Result<ExitCode, NotBuilt> {
    Err(NotBuilt)
}
