//! The subcommands that talk to the agent, one file each (plus the filter
//! flags shared by the flow commands).

pub mod bundle;
pub mod config;
pub mod debug;
pub mod flow_filter;
pub mod flows;
pub mod stats;
pub mod status;

use std::fmt::Display;
use std::process::ExitCode;

use serde::de::DeserializeOwned;

use crate::cli::ReportFormat;
use crate::client::{decode, AgentClient, ClientError};

/// Exit status of a usage error, as clap's own.
pub const USAGE: u8 = 2;

/// Prints a usage error the way every other error is printed (one line on
/// stderr) and returns exit status 2.
pub fn usage_error(message: impl Display) -> ExitCode {
    eprintln!("netmon-cli: {message}");
    ExitCode::from(USAGE)
}

/// `GET path` as a one-object report (status, stats): for `-o json` the
/// agent's answer unchanged, so scripts see every field; else `render` of
/// it decoded.
pub async fn report_text<T: DeserializeOwned>(
    agent: &AgentClient,
    path: &str,
    format: ReportFormat,
    render: impl FnOnce(&T) -> String,
) -> Result<String, ClientError> {
    let body = agent.get_text(path).await?;
    Ok(match format {
        ReportFormat::Json => format!("{}\n", body.trim_end()),
        ReportFormat::Table => render(&decode(path, body.as_bytes())?),
    })
}
