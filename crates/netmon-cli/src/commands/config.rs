//! `config get [KEY]` and `config set KEY=VALUE...`: the running agent's
//! configuration (`GET`/`PUT /api/v1/config`). A `set` changes the agent in
//! memory, not its file.

use std::collections::BTreeMap;
use std::io;
use std::process::ExitCode;

use hyper::Method;
use serde_json::Value;
use thiserror::Error;

use super::usage_error;
use crate::cli::{ConfigFormat, ConfigGetArgs, ConfigSetArgs};
use crate::client::{decode, with_query, AgentClient, ClientError};
use crate::output::{sink, Color, Stdout, Style};

pub const PATH: &str = "/api/v1/config";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(transparent)]
    Agent(#[from] ClientError),
    #[error("writing the configuration to stdout: {0}")]
    Output(#[from] io::Error),
    #[error("the agent's configuration could not be written as YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("the agent's answer to {PATH} has no {0:?}")]
    Missing(&'static str),
}

pub async fn get(agent: &AgentClient, args: &ConfigGetArgs) -> Result<ExitCode, ConfigError> {
    let path = match &args.key {
        Some(key) => with_query(PATH, &[("key", key.as_str())]),
        None => PATH.to_owned(),
    };
    let body = agent.get_text(&path).await?;
    let text = match args.output {
        ConfigFormat::Json => format!("{}\n", body.trim_end()),
        ConfigFormat::Yaml => {
            let answer: Value = decode(&path, body.as_bytes())?;
            match &args.key {
                Some(_) => setting_yaml(answer.get("value").ok_or(ConfigError::Missing("value"))?)?,
                None => whole_yaml(&answer)?,
            }
        }
    };
    Ok(sink::finished(Stdout::default().block(&text))?)
}

/// One setting: a scalar as it is written in the file (`5m`), a section as
/// YAML.
fn setting_yaml(value: &Value) -> Result<String, ConfigError> {
    Ok(match value {
        Value::String(text) => format!("{text}\n"),
        Value::Number(_) | Value::Bool(_) | Value::Null => format!("{value}\n"),
        Value::Array(_) | Value::Object(_) => serde_yaml::to_string(value)?,
    })
}

/// The whole configuration, in the shape of a config file, under a comment
/// that says where it came from.
fn whole_yaml(answer: &Value) -> Result<String, ConfigError> {
    let config = answer.get("config").ok_or(ConfigError::Missing("config"))?;
    let file = answer
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or("none: defaults, environment and flags");
    let pending = string_list(answer, "restart_required");
    let mut text = format!("# netmon configuration in force (file: {file}");
    if !pending.is_empty() {
        text.push_str(&format!("; restart required: {}", pending.join(", ")));
    }
    text.push_str(")\n");
    text.push_str(&serde_yaml::to_string(config)?);
    Ok(text)
}

/// `KEY=VALUE` arguments as the body of `PUT /api/v1/config`, or the
/// usage error of the first malformed one.
pub fn assignments(args: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut set = BTreeMap::new();
    for arg in args {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(format!(
                "{arg:?}: expected KEY=VALUE, e.g. flow.flow_timeout=60s"
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!(
                "{arg:?}: the setting's name is missing before '=' (e.g. flow.flow_timeout=60s)"
            ));
        }
        if set.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(format!("{key}: given more than once"));
        }
    }
    Ok(set)
}

pub async fn set(
    agent: &AgentClient,
    args: &ConfigSetArgs,
    style: &Style,
) -> Result<ExitCode, ConfigError> {
    let set = match assignments(&args.assignments) {
        Ok(set) => set,
        Err(message) => return Ok(usage_error(message)),
    };
    let body = serde_json::json!({ "set": set });
    let (status, answer) = agent.send_json_any_status(Method::PUT, PATH, &body).await?;
    if !status.is_success() {
        let mut problems = string_list(&answer, "problems");
        if problems.is_empty() {
            let error = answer.get("error").and_then(Value::as_str);
            problems.push(error.map_or_else(|| answer.to_string(), str::to_owned));
        }
        eprintln!("netmon-cli: the agent refused the change (HTTP {status}); nothing was applied:");
        for problem in problems {
            eprintln!("  {problem}");
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(sink::finished(
        Stdout::default().block(&applied_report(&answer, style)),
    )?)
}

/// What a successful `set` did, one line per kind of outcome.
pub fn applied_report(answer: &Value, style: &Style) -> String {
    let mut report = String::new();
    let lines = [
        ("applied", string_list(answer, "applied"), None),
        (
            "restart required (not applied; set it in the config file and restart the agent)",
            string_list(answer, "restart_required"),
            Some(Color::Yellow),
        ),
        ("unchanged", string_list(answer, "unchanged"), None),
    ];
    for (label, keys, color) in lines {
        if keys.is_empty() {
            continue;
        }
        let label = match color {
            Some(color) => style.paint(label, color),
            None => label.to_owned(),
        };
        report.push_str(&format!("{label}: {}\n", keys.join(", ")));
    }
    if report.is_empty() {
        report.push_str("nothing to change\n");
    }
    report
}

fn string_list(answer: &Value, key: &str) -> Vec<String> {
    answer
        .get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map_or_else(|| item.to_string(), str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn assignments_split_at_the_first_equals_sign() {
        let set = assignments(&strings(&["flow.flow_timeout=60s", "log.level=a=b"])).unwrap();
        assert_eq!(set["flow.flow_timeout"], "60s");
        assert_eq!(set["log.level"], "a=b");
        assert_eq!(
            assignments(&strings(&["capture.interfaces="])).unwrap()["capture.interfaces"],
            ""
        );
    }

    #[test]
    fn a_malformed_assignment_is_named_in_the_usage_error() {
        assert_eq!(
            assignments(&strings(&["flow.flow_timeout=60s", "nokey"])).unwrap_err(),
            "\"nokey\": expected KEY=VALUE, e.g. flow.flow_timeout=60s"
        );
        assert_eq!(
            assignments(&strings(&["=60s"])).unwrap_err(),
            "\"=60s\": the setting's name is missing before '=' (e.g. flow.flow_timeout=60s)"
        );
        assert_eq!(
            assignments(&strings(&["log.level=debug", "log.level=info"])).unwrap_err(),
            "log.level: given more than once"
        );
    }

    #[test]
    fn the_report_says_what_applied_and_what_waits_for_a_restart() {
        let answer = serde_json::json!({
            "applied": ["flow.flow_timeout", "log.level"],
            "restart_required": ["capture.attach_mode"],
            "unchanged": []
        });
        assert_eq!(
            applied_report(&answer, &Style { color: false }),
            "applied: flow.flow_timeout, log.level\n\
             restart required (not applied; set it in the config file and restart the agent): capture.attach_mode\n"
        );
        let nothing =
            serde_json::json!({"applied": [], "restart_required": [], "unchanged": ["log.level"]});
        assert_eq!(
            applied_report(&nothing, &Style { color: false }),
            "unchanged: log.level\n"
        );
    }

    #[test]
    fn a_scalar_setting_prints_as_the_file_writes_it() {
        assert_eq!(setting_yaml(&serde_json::json!("5m")).unwrap(), "5m\n");
        assert_eq!(setting_yaml(&serde_json::json!(9090)).unwrap(), "9090\n");
        assert_eq!(
            setting_yaml(&serde_json::json!({"flow_timeout": "5m", "max_flows": 100000})).unwrap(),
            "flow_timeout: 5m\nmax_flows: 100000\n"
        );
    }

    #[test]
    fn the_whole_config_is_yaml_under_a_comment_naming_its_file() {
        let answer = serde_json::json!({
            "path": "/etc/netmon/netmon.yaml",
            "config": {"log": {"level": "info"}},
            "restart_required": ["capture.attach_mode"]
        });
        assert_eq!(
            whole_yaml(&answer).unwrap(),
            "# netmon configuration in force (file: /etc/netmon/netmon.yaml; restart required: capture.attach_mode)\n\
             log:\n  level: info\n"
        );
    }
}
