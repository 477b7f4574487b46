//! The subcommands that talk to the agent, one file each (plus the filter
//! flags shared by the flow commands).

pub mod bundle;
pub mod config;
pub mod debug;
pub mod flow_filter;
pub mod flows;
pub mod redact;
pub mod stats;
pub mod status;

use std::fmt::Display;
use std::process::ExitCode;

/// Exit status of a usage error, as clap's own.
pub const USAGE: u8 = 2;

/// Prints a usage error the way every other error is printed (one line on
/// stderr) and returns exit status 2.
pub fn usage_error(message: impl Display) -> ExitCode {
    eprintln!("netmon-cli: {message}");
    ExitCode::from(USAGE)
}
