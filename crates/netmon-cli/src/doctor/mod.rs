//! Placeholder while this subcommand is being written.

use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
#[error("not built yet")]
pub struct NotBuilt;

pub fn run(_: &crate::cli::DoctorArgs, _: &crate::output::Style) -> Result<ExitCode, NotBuilt> {
    Err(NotBuilt)
}
