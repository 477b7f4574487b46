//! `config set KEY=VALUE`: the configuration the agent should run with
//! once some settings are given new values.
//!
//! Values are strings read exactly like `NETMON_*` values, through the
//! loader's own environment layer, so a value is accepted or refused with
//! the same words whichever way it is given. A setting a command-line flag
//! gives would silently keep the flag's value (flags win, as at startup),
//! so setting it is refused instead.

use thiserror::Error;

use super::diff::{at, tree};
use crate::config::{Config, ConfigErrors, ConfigProblem, ConfigSource, Flags};

#[derive(Debug, Error)]
pub enum SetError {
    /// Unknown settings, unreadable values, or a result that does not
    /// validate.
    #[error("{0}")]
    Invalid(ConfigErrors),
    /// Settings a command-line flag gives.
    #[error("{0}")]
    GivenByFlag(ConfigErrors),
}

impl SetError {
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            SetError::Invalid(errors) | SetError::GivenByFlag(errors) => &errors.0,
        }
    }
}

/// `base` with `settings` (`("flow.flow_timeout", "60s")`) set.
pub fn with_settings(
    source: &ConfigSource,
    base: &Config,
    settings: &[(String, String)],
) -> Result<Config, SetError> {
    let next = source
        .load_with_settings(base, settings, Flags::Applied)
        .map_err(SetError::Invalid)?;
    // Where the result without flags differs, a flag won over the value.
    if let Ok(unflagged) = source.load_with_settings(base, settings, Flags::Ignored) {
        let (with_flags, without) = (tree(&next), tree(&unflagged));
        let pinned: Vec<ConfigProblem> = settings
            .iter()
            .filter(|(key, _)| at(&with_flags, key) != at(&without, key))
            .map(|(key, _)| {
                ConfigProblem::new(
                    key,
                    "given by a command-line flag, which wins over config set; restart without the flag to change it",
                )
            })
            .collect();
        if !pinned.is_empty() {
            return Err(SetError::GivenByFlag(ConfigErrors(pinned)));
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;
    use crate::config::{AgentArgs, LogLevel};

    fn source(flags: &[&str]) -> ConfigSource {
        let args =
            AgentArgs::try_parse_from(std::iter::once("netmon").chain(flags.iter().copied()))
                .unwrap();
        ConfigSource::new(args, Vec::new())
    }

    fn set(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn lines(error: &SetError) -> Vec<String> {
        error.problems().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn set_values_are_taken_over_the_base() {
        let mut base = Config::default();
        base.flow.max_flows = 500;
        let next = with_settings(
            &source(&[]),
            &base,
            &set(&[("flow.flow_timeout", "90s"), ("log.level", "debug")]),
        )
        .unwrap();
        assert_eq!(next.flow.flow_timeout, Duration::from_secs(90));
        assert_eq!(next.log.level, LogLevel::Debug);
        assert_eq!(next.flow.max_flows, 500);
    }

    #[test]
    fn a_bad_value_is_invalid_and_names_its_setting() {
        let error = with_settings(
            &source(&[]),
            &Config::default(),
            &set(&[("flow.flow_timeout", "banana"), ("log.level", "loud")]),
        )
        .unwrap_err();
        assert!(matches!(error, SetError::Invalid(_)));
        assert_eq!(
            lines(&error),
            [
                "flow.flow_timeout: invalid value \"banana\": expected a duration such as 5s, 1m30s or 250ms",
                "log.level: invalid value \"loud\": expected one of error, warn, info, debug, trace",
            ]
        );
    }

    #[test]
    fn a_setting_a_flag_gives_is_refused_unless_set_to_the_flags_value() {
        let source = source(&["--log-level", "warn", "--interface", "eth0"]);
        let base = source.load_file_text("").unwrap();
        let error = with_settings(
            &source,
            &base,
            &set(&[("log.level", "debug"), ("flow.max_flows", "9")]),
        )
        .unwrap_err();
        assert!(matches!(error, SetError::GivenByFlag(_)));
        assert_eq!(
            lines(&error),
            ["log.level: given by a command-line flag, which wins over config set; restart without the flag to change it"]
        );
        // The flag's own value is no change, so it is not refused.
        assert!(with_settings(&source, &base, &set(&[("log.level", "warn")])).is_ok());
    }
}
