//! `debug trace on|off`: the agent's trace logging, switched at run time
//! (`POST /api/v1/debug/trace`); off restores the configured `log.level`.

use std::io;
use std::process::ExitCode;

use hyper::Method;
use serde::Deserialize;
use thiserror::Error;

use crate::cli::{OnOff, TraceArgs};
use crate::client::{AgentClient, ClientError};
use crate::output::{sink, Stdout};

pub const PATH: &str = "/api/v1/debug/trace";

#[derive(Debug, Error)]
pub enum DebugError {
    #[error(transparent)]
    Agent(#[from] ClientError),
    #[error("writing to stdout: {0}")]
    Output(#[from] io::Error),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TraceState {
    pub enabled: bool,
    pub log_level: String,
}

pub async fn trace(agent: &AgentClient, args: &TraceArgs) -> Result<ExitCode, DebugError> {
    let enabled = args.state == OnOff::On;
    let state: TraceState = agent
        .send_json(
            Method::POST,
            PATH,
            &serde_json::json!({ "enabled": enabled }),
        )
        .await?;
    Ok(sink::finished(Stdout::default().line(&describe(&state)))?)
}

pub fn describe(state: &TraceState) -> String {
    let on = if state.enabled { "on" } else { "off" };
    format!("trace logging {on} (log level: {})", state.log_level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_says_the_switch_and_the_level_in_force() {
        let off = TraceState {
            enabled: false,
            log_level: "info".into(),
        };
        assert_eq!(describe(&off), "trace logging off (log level: info)");
    }
}
