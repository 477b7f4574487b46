//! Loading the configuration again while the agent runs.
//!
//! A reload must layer the file exactly as startup did, so the flags and
//! `NETMON_*` variables of startup are kept and still win over the file.
//! `config set` values are read as `NETMON_*` values are (the same parser,
//! the same type checks), then reported under the setting's own name with
//! the wording a bad value in the file gets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::cli::AgentArgs;
use super::env::{var_name, CONFIG_VAR, SCHEME};
use super::load::{default_tree, leaves, load_with, Leaf};
use super::model::Config;
use netmon_config::{ConfigErrors, ConfigProblem};

/// What the configuration document is called in problem lines when a
/// `config set` is checked against the configuration the agent runs with.
const RUNNING_CONFIG: &str = "running configuration";

/// Whether the startup flags are applied over a `config set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flags {
    /// As at startup: flags win.
    Applied,
    /// Without flags: tells which set values a flag would override.
    Ignored,
}

/// The flags and environment the agent started with.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    args: AgentArgs,
    env: Vec<(String, String)>,
}

impl ConfigSource {
    pub fn new(args: AgentArgs, env: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            args,
            env: env.into_iter().collect(),
        }
    }

    /// The configuration file, chosen as startup chose it: `--config`,
    /// else `NETMON_CONFIG`.
    pub fn path(&self) -> Option<PathBuf> {
        self.args.config.clone().or_else(|| {
            self.env
                .iter()
                .find(|(name, _)| name == CONFIG_VAR)
                .map(|(_, value)| PathBuf::from(value))
        })
    }

    /// The names (never the values) of the `NETMON_*` variables, sorted.
    pub fn env_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .env
            .iter()
            .map(|(name, _)| name.clone())
            .filter(|name| name.starts_with("NETMON_"))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Loads `text` as the content of the configuration file, with the
    /// startup environment and flags over it: a reload.
    pub fn load_file_text(&self, text: &str) -> Result<Config, ConfigErrors> {
        let mut args = self.args.clone();
        // Without a file (only tests ask), the text still stands for one.
        args.config = Some(self.path().unwrap_or_else(|| PathBuf::from(RUNNING_CONFIG)));
        load_with(&args, self.env.clone(), |_: &Path| Ok(text.to_owned()))
    }

    /// `base` with `settings` (`("flow.flow_timeout", "60s")`) set over it:
    /// the values are read like `NETMON_*` values, and win over the
    /// environment. With [`Flags::Applied`] the startup flags still win.
    /// Every problem names the setting, worded as in the file.
    pub fn load_with_settings(
        &self,
        base: &Config,
        settings: &[(String, String)],
        flags: Flags,
    ) -> Result<Config, ConfigErrors> {
        let unknown: Vec<ConfigProblem> = settings
            .iter()
            .filter_map(|(key, _)| key_problem(key))
            .collect();
        if !unknown.is_empty() {
            return Err(ConfigErrors(unknown));
        }
        let set_vars: BTreeMap<String, String> = settings
            .iter()
            .map(|(key, value)| (var_of(key), value.clone()))
            .collect();
        let env = self
            .env
            .iter()
            .filter(|(name, _)| !set_vars.contains_key(name))
            .cloned()
            .chain(set_vars.clone());
        let mut args = match flags {
            Flags::Applied => self.args.clone(),
            Flags::Ignored => AgentArgs::default(),
        };
        // The configuration in force stands in for the file: it already
        // holds the file, the environment and the flags, which layer over it
        // again unchanged.
        args.config = Some(PathBuf::from(RUNNING_CONFIG));
        let document = base.to_yaml();
        load_with(&args, env, |_: &Path| Ok(document)).map_err(|errors| {
            let keys: BTreeMap<String, String> = settings
                .iter()
                .map(|(key, _)| (var_of(key), key.clone()))
                .collect();
            ConfigErrors(
                errors
                    .0
                    .into_iter()
                    .map(|problem| as_setting_problem(problem, &keys))
                    .collect(),
            )
        })
    }
}

/// The long names (`--log-level`) of the flags given on the command line,
/// in declaration order; a `--config` taken from `NETMON_CONFIG` is not one.
pub fn given_flags(matches: &clap::ArgMatches) -> Vec<String> {
    use clap::CommandFactory;
    AgentArgs::command()
        .get_arguments()
        .filter(|arg| {
            matches.value_source(arg.get_id().as_str())
                == Some(clap::parser::ValueSource::CommandLine)
        })
        .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
        .collect()
}

/// The environment variable of a dotted setting name.
fn var_of(key: &str) -> String {
    let path: Vec<String> = key.split('.').map(str::to_owned).collect();
    var_name(&path)
}

fn setting_leaves() -> Vec<Leaf> {
    leaves(&default_tree())
}

/// Why `key` cannot be set, if it cannot: it names no setting (with the
/// nearest one when it looks like a typo), or a whole section.
pub fn key_problem(key: &str) -> Option<ConfigProblem> {
    let leaves = setting_leaves();
    if leaves.iter().any(|leaf| leaf.dotted() == key) {
        return None;
    }
    let section_prefix = format!("{key}.");
    let children: Vec<String> = leaves
        .iter()
        .map(Leaf::dotted)
        .filter(|setting| setting.starts_with(&section_prefix))
        .collect();
    if !children.is_empty() {
        return Some(ConfigProblem::new(
            key,
            format!(
                "is a section, not a setting (its settings: {})",
                children.join(", ")
            ),
        ));
    }
    Some(unknown_setting(key, &leaves))
}

/// `key: unknown setting`, with the nearest setting when there is one. The
/// environment layer already knows how to find a typo's nearest name, so
/// it is asked about the key's variable and its answer named back.
fn unknown_setting(key: &str, leaves: &[Leaf]) -> ConfigProblem {
    let (found, problems) = SCHEME.overrides([(var_of(key), String::new())], leaves);
    let suggestion = match (found.first(), problems.first()) {
        // Same variable, other spelling (`Flow.Flow_Timeout`).
        (Some(setting), _) => Some(setting.leaf.dotted()),
        (None, Some(problem)) => leaves
            .iter()
            .find(|leaf| {
                let hint = format!("did you mean {}?", var_name(&leaf.path));
                problem.message.contains(&hint)
            })
            .map(Leaf::dotted),
        (None, None) => None,
    };
    match suggestion {
        Some(known) => ConfigProblem::new(key, format!("unknown setting (did you mean {known}?)")),
        None => ConfigProblem::new(key, "unknown setting"),
    }
}

/// Names a problem with a set value after its setting, worded as the same
/// value in the file would be: `env NETMON_FLOW_FLOW_TIMEOUT: invalid value
/// "x" for flow.flow_timeout: expected …` becomes `flow.flow_timeout:
/// invalid value "x": expected …`. Other problems pass unchanged.
fn as_setting_problem(problem: ConfigProblem, keys: &BTreeMap<String, String>) -> ConfigProblem {
    let Some(key) = problem
        .path
        .strip_prefix("env ")
        .and_then(|var| keys.get(var))
    else {
        return problem;
    };
    let marker = format!(" for {key}");
    if let Some(at) = problem.message.rfind(&marker) {
        let (value, rest) = problem.message.split_at(at);
        // What follows is `: expected`, or `[2]: expected` for a list item.
        if let Some((index, expected)) = rest[marker.len()..].split_once(": ") {
            return ConfigProblem::new(format!("{key}{index}"), format!("{value}: {expected}"));
        }
    }
    ConfigProblem::new(key.clone(), problem.message)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::LogLevel;

    fn source(flags: &[&str], env: &[(&str, &str)]) -> ConfigSource {
        use clap::Parser;
        let args =
            AgentArgs::try_parse_from(std::iter::once("netmon").chain(flags.iter().copied()))
                .expect("test flags parse");
        ConfigSource::new(
            args,
            env.iter().map(|(n, v)| (n.to_string(), v.to_string())),
        )
    }

    fn set(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn problem_lines(result: Result<Config, ConfigErrors>) -> Vec<String> {
        match result {
            Ok(_) => Vec::new(),
            Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn the_file_is_config_or_else_netmon_config() {
        assert_eq!(
            source(&["--config", "/a.yaml"], &[]).path(),
            Some(PathBuf::from("/a.yaml"))
        );
        assert_eq!(
            source(&[], &[("NETMON_CONFIG", "/b.yaml")]).path(),
            Some(PathBuf::from("/b.yaml"))
        );
        assert_eq!(source(&[], &[]).path(), None);
    }

    #[test]
    fn a_reloaded_file_is_layered_under_the_startup_environment_and_flags() {
        let source = source(
            &["--log-level", "warn"],
            &[("NETMON_FLOW_MAX_FLOWS", "500")],
        );
        let config = source
            .load_file_text("flow: {max_flows: 10, flow_timeout: 7s}\nlog: {level: debug}\n")
            .unwrap();
        assert_eq!(config.flow.max_flows, 500);
        assert_eq!(config.flow.flow_timeout, Duration::from_secs(7));
        assert_eq!(config.log.level, LogLevel::Warn);
    }

    #[test]
    fn the_flags_given_on_the_command_line_are_named_and_nothing_else() {
        use clap::CommandFactory;
        let matches = AgentArgs::command()
            .try_get_matches_from([
                "netmon",
                "--config",
                "/a.yaml",
                "--debug",
                "--interface",
                "eth0,eth1",
            ])
            .unwrap();
        assert_eq!(
            given_flags(&matches),
            ["--config", "--interface", "--debug"]
        );
        let none = AgentArgs::command()
            .try_get_matches_from(["netmon"])
            .unwrap();
        assert!(given_flags(&none).is_empty());
    }

    #[test]
    fn only_variable_names_are_listed() {
        let source = source(
            &[],
            &[
                ("NETMON_FLOW_MAX_FLOWS", "500"),
                ("NETMON_LOG_LEVEL", "debug"),
            ],
        );
        assert_eq!(
            source.env_names(),
            ["NETMON_FLOW_MAX_FLOWS", "NETMON_LOG_LEVEL"]
        );
    }

    #[test]
    fn set_values_are_read_like_environment_values_and_win_over_the_environment() {
        let source = source(&[], &[("NETMON_FLOW_FLOW_TIMEOUT", "30s")]);
        let base = source.load_file_text("").unwrap();
        let config = source
            .load_with_settings(
                &base,
                &set(&[
                    ("flow.flow_timeout", "90s"),
                    ("capture.interfaces", "eth0, 10"),
                    ("flow.max_flows", "42"),
                ]),
                Flags::Applied,
            )
            .unwrap();
        assert_eq!(config.flow.flow_timeout, Duration::from_secs(90));
        assert_eq!(config.capture.interfaces, ["eth0", "10"]);
        assert_eq!(config.flow.max_flows, 42);
    }

    #[test]
    fn a_bad_set_value_is_reported_exactly_like_the_same_value_in_the_file() {
        let source = source(&[], &[]);
        let base = Config::default();
        for (key, value, file) in [
            (
                "flow.flow_timeout",
                "banana",
                "flow: {flow_timeout: banana}",
            ),
            ("flow.max_flows", "lots", "flow: {max_flows: lots}"),
            (
                "capture.attach_mode",
                "fast",
                "capture: {attach_mode: fast}",
            ),
            ("flow.max_flows", "0", "flow: {max_flows: 0}"),
        ] {
            let from_set = problem_lines(source.load_with_settings(
                &base,
                &set(&[(key, value)]),
                Flags::Applied,
            ));
            let from_file = problem_lines(Config::from_yaml_str(file));
            assert_eq!(from_set, from_file, "setting {key}={value}");
            assert!(from_set[0].starts_with(&format!("{key}: ")), "{from_set:?}");
        }
    }

    #[test]
    fn a_bad_list_item_is_named_with_its_index() {
        let lines = problem_lines(source(&[], &[]).load_with_settings(
            &Config::default(),
            &set(&[("features.protocol_detection.protocols", "http,ftp")]),
            Flags::Applied,
        ));
        let file = problem_lines(Config::from_yaml_str(
            "features: {protocol_detection: {protocols: [http, ftp]}}",
        ));
        assert_eq!(lines, file);
        assert!(lines[0].starts_with("features.protocol_detection.protocols[1]: "));
    }

    #[test]
    fn unknown_keys_and_sections_are_refused_with_what_would_be_right() {
        let lines = problem_lines(source(&[], &[]).load_with_settings(
            &Config::default(),
            &set(&[
                ("flow.flow_timeout2", "1s"),
                ("nothing.like.it", "1"),
                ("log", "debug"),
            ]),
            Flags::Applied,
        ));
        assert_eq!(
            lines,
            [
                "flow.flow_timeout2: unknown setting (did you mean flow.flow_timeout?)",
                "nothing.like.it: unknown setting",
                "log: is a section, not a setting (its settings: log.level, log.format)",
            ]
        );
    }

    #[test]
    fn flags_still_win_over_a_set_value_unless_ignored() {
        let source = source(&["--log-level", "warn"], &[]);
        let base = source.load_file_text("").unwrap();
        let debug = set(&[("log.level", "debug")]);
        let with_flags = source
            .load_with_settings(&base, &debug, Flags::Applied)
            .unwrap();
        let without = source
            .load_with_settings(&base, &debug, Flags::Ignored)
            .unwrap();
        assert_eq!(with_flags.log.level, LogLevel::Warn);
        assert_eq!(without.log.level, LogLevel::Debug);
    }
}
