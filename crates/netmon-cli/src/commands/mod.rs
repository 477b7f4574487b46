//! The subcommands that talk to the agent, one file each.

pub mod bundle;
pub mod config;
pub mod debug;
pub mod flows;
pub mod stats;
pub mod status;
