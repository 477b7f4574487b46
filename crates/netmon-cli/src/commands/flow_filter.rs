//! From filter flags to the agent's `/api/v1/flows` query parameters.
//!
//! `--not` negates the filter flag that directly follows it (as in
//! `hubble observe`), so the order of flags matters. clap's derived struct
//! only keeps values, so the filters are read from clap's `ArgMatches`,
//! whose indices give every flag's position on the command line.

use std::net::IpAddr;

use clap::parser::ValueSource;
use clap::ArgMatches;
use thiserror::Error;

/// Usage errors in the filter flags (exit status 2).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("--not must be directly followed by a filter flag (e.g. --not --port 53), not by {0}")]
    NotBeforeNonFilter(String),
    #[error("--not must be followed by a filter flag (e.g. --not --port 53)")]
    TrailingNot,
    #[error("{flag}: {value:?} is not an IPv4 or IPv6 address")]
    BadIp { flag: String, value: String },
    #[error("{flag}: {value:?} is not a port number (0-65535)")]
    BadPort { flag: String, value: String },
    #[error("{flag}: needs a value")]
    Empty { flag: String },
    #[error("{flag}: given twice ({first:?} and {second:?}); the agent matches one value per filter, so give it once")]
    Repeated {
        flag: String,
        first: String,
        second: String,
    },
}

/// Which flag a filter came from; each maps to one agent parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterField {
    Ip,
    FromIp,
    ToIp,
    Port,
    FromPort,
    ToPort,
    Protocol,
    Status,
    AppProtocol,
    Pod,
    Namespace,
    Workload,
    Service,
}

impl FilterField {
    pub const ALL: [FilterField; 13] = [
        FilterField::Ip,
        FilterField::FromIp,
        FilterField::ToIp,
        FilterField::Port,
        FilterField::FromPort,
        FilterField::ToPort,
        FilterField::Protocol,
        FilterField::Status,
        FilterField::AppProtocol,
        FilterField::Pod,
        FilterField::Namespace,
        FilterField::Workload,
        FilterField::Service,
    ];

    /// clap's id of the flag (the field name in `FlowFilterArgs`).
    pub fn arg_id(self) -> &'static str {
        match self {
            FilterField::Ip => "ip",
            FilterField::FromIp => "from_ip",
            FilterField::ToIp => "to_ip",
            FilterField::Port => "port",
            FilterField::FromPort => "from_port",
            FilterField::ToPort => "to_port",
            FilterField::Protocol => "protocol",
            FilterField::Status => "status",
            FilterField::AppProtocol => "app_protocol",
            FilterField::Pod => "pod",
            FilterField::Namespace => "namespace",
            FilterField::Workload => "workload",
            FilterField::Service => "service",
        }
    }

    /// The flag as the user typed it, for messages.
    pub fn flag(self) -> String {
        format!("--{}", self.arg_id().replace('_', "-"))
    }

    /// The agent's query parameter: `src` is the initiator, `dst` the
    /// responder, so "from" and "to" map onto them.
    pub fn parameter(self) -> &'static str {
        match self {
            FilterField::FromIp => "src_ip",
            FilterField::ToIp => "dst_ip",
            FilterField::FromPort => "src_port",
            FilterField::ToPort => "dst_port",
            other => other.arg_id(),
        }
    }

    /// Whether the agent takes a comma-separated list for this parameter
    /// (only `status` does); repeating any other flag is refused here
    /// rather than by the agent, with the flag's name in the message.
    fn accepts_list(self) -> bool {
        self == FilterField::Status
    }

    fn check(self, value: &str) -> Result<(), FilterError> {
        let flag = self.flag();
        match self {
            _ if value.is_empty() => Err(FilterError::Empty { flag }),
            FilterField::Ip | FilterField::FromIp | FilterField::ToIp => {
                match value.parse::<IpAddr>() {
                    Ok(_) => Ok(()),
                    Err(_) => Err(FilterError::BadIp {
                        flag,
                        value: value.to_owned(),
                    }),
                }
            }
            FilterField::Port | FilterField::FromPort | FilterField::ToPort => {
                let digits = value.bytes().all(|b| b.is_ascii_digit());
                match value.parse::<u16>() {
                    Ok(_) if digits => Ok(()),
                    _ => Err(FilterError::BadPort {
                        flag,
                        value: value.to_owned(),
                    }),
                }
            }
            // Protocols, statuses and names are the agent's vocabulary: it
            // checks them and its refusal names the parameter and the
            // accepted values.
            _ => Ok(()),
        }
    }
}

/// One filter as given: `--not --port 53` is `{Port, negated, "53"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowFilter {
    pub field: FilterField,
    pub negated: bool,
    pub value: String,
}

/// Every filter of one command line, in command-line order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowFilters {
    pub filters: Vec<FlowFilter>,
}

/// What clap saw at one position of the command line.
#[derive(Debug, PartialEq, Eq)]
enum Token {
    Not,
    Filter(FilterField, String),
    Other(String),
}

/// Flags that are global to every subcommand: clap copies them into the
/// subcommand's matches with the parent's positions, so their indices do
/// not compare with the subcommand's own.
const GLOBAL_ARGS: [&str; 2] = ["agent", "color"];

impl FlowFilters {
    /// Reads the filters of one subcommand's matches (`flows dump`,
    /// `flows observe`, `top`).
    pub fn from_matches(matches: &ArgMatches) -> Result<Self, FilterError> {
        let mut tokens: Vec<(usize, Token)> = Vec::new();
        for id in matches.ids() {
            let id = id.as_str();
            if GLOBAL_ARGS.contains(&id)
                || matches.value_source(id) != Some(ValueSource::CommandLine)
            {
                continue;
            }
            // Argument groups (one per flattened struct) have no values.
            let Some(indices) = matches.indices_of(id) else {
                continue;
            };
            let indices: Vec<usize> = indices.collect();
            if id == "not" {
                tokens.extend(indices.into_iter().map(|index| (index, Token::Not)));
            } else if let Some(field) = FilterField::ALL.into_iter().find(|f| f.arg_id() == id) {
                let values = matches
                    .get_raw(id)
                    .into_iter()
                    .flatten()
                    .map(|v| v.to_string_lossy().into_owned());
                tokens.extend(
                    indices
                        .into_iter()
                        .zip(values)
                        .map(|(index, value)| (index, Token::Filter(field, value))),
                );
            } else {
                let flag = format!("--{}", id.replace('_', "-"));
                tokens.extend(
                    indices
                        .into_iter()
                        .map(|index| (index, Token::Other(flag.clone()))),
                );
            }
        }
        tokens.sort_by_key(|(index, _)| *index);
        Self::from_tokens(tokens.into_iter().map(|(_, token)| token))
    }

    fn from_tokens(tokens: impl IntoIterator<Item = Token>) -> Result<Self, FilterError> {
        let mut filters = Vec::new();
        let mut negate_next = false;
        for token in tokens {
            match token {
                Token::Not if negate_next => {
                    return Err(FilterError::NotBeforeNonFilter("another --not".into()))
                }
                Token::Not => negate_next = true,
                Token::Filter(field, value) => {
                    field.check(&value)?;
                    filters.push(FlowFilter {
                        field,
                        negated: negate_next,
                        value,
                    });
                    negate_next = false;
                }
                Token::Other(flag) if negate_next => {
                    return Err(FilterError::NotBeforeNonFilter(flag))
                }
                Token::Other(_) => {}
            }
        }
        if negate_next {
            return Err(FilterError::TrailingNot);
        }
        Ok(FlowFilters { filters })
    }

    /// The agent's query parameters, in the order their flags first
    /// appeared: `not_` before a negated filter's parameter, repeated
    /// values of a list parameter joined with commas.
    pub fn query_pairs(&self) -> Result<Vec<(String, String)>, FilterError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for filter in &self.filters {
            let name = match filter.negated {
                true => format!("not_{}", filter.field.parameter()),
                false => filter.field.parameter().to_owned(),
            };
            match pairs.iter_mut().find(|(n, _)| *n == name) {
                None => pairs.push((name, filter.value.clone())),
                Some((_, joined)) if filter.field.accepts_list() => {
                    joined.push(',');
                    joined.push_str(&filter.value);
                }
                Some((_, first)) => {
                    let not = if filter.negated { "--not " } else { "" };
                    return Err(FilterError::Repeated {
                        flag: format!("{not}{}", filter.field.flag()),
                        first: first.clone(),
                        second: filter.value.clone(),
                    });
                }
            }
        }
        Ok(pairs)
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;
    use crate::cli::Cli;

    /// The filters and query of `netmon-cli flows dump <args>`.
    fn dump(args: &[&str]) -> Result<Vec<(String, String)>, FilterError> {
        let argv = ["netmon-cli", "flows", "dump"].iter().chain(args);
        let matches = Cli::command()
            .try_get_matches_from(argv)
            .expect("the flags parse");
        Cli::from_arg_matches(&matches).expect("the flags fit the struct");
        let dump = matches
            .subcommand_matches("flows")
            .and_then(|m| m.subcommand_matches("dump"))
            .expect("flows dump matches");
        FlowFilters::from_matches(dump)?.query_pairs()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_flag_maps_to_its_agent_parameter() {
        assert_eq!(
            dump(&[
                "--ip",
                "10.0.0.1",
                "--from-ip",
                "10.0.0.2",
                "--to-ip",
                "fd00::3",
                "--port",
                "80",
                "--from-port",
                "40000",
                "--to-port",
                "443",
                "--protocol",
                "tcp",
                "--status",
                "closed",
                "--app-protocol",
                "http",
                "--pod",
                "web-1",
                "--namespace",
                "shop",
                "--workload",
                "web",
                "--service",
                "api",
            ]),
            Ok(pairs(&[
                ("ip", "10.0.0.1"),
                ("src_ip", "10.0.0.2"),
                ("dst_ip", "fd00::3"),
                ("port", "80"),
                ("src_port", "40000"),
                ("dst_port", "443"),
                ("protocol", "tcp"),
                ("status", "closed"),
                ("app_protocol", "http"),
                ("pod", "web-1"),
                ("namespace", "shop"),
                ("workload", "web"),
                ("service", "api"),
            ]))
        );
    }

    #[test]
    fn not_negates_only_the_filter_right_after_it() {
        assert_eq!(
            dump(&[
                "--port",
                "80",
                "--not",
                "--namespace",
                "kube-system",
                "--protocol",
                "tcp"
            ]),
            Ok(pairs(&[
                ("port", "80"),
                ("not_namespace", "kube-system"),
                ("protocol", "tcp"),
            ]))
        );
        assert_eq!(
            dump(&["--not", "--port=53", "--not", "--from-ip", "10.0.0.9"]),
            Ok(pairs(&[("not_port", "53"), ("not_src_ip", "10.0.0.9")]))
        );
    }

    #[test]
    fn the_same_flag_can_be_wanted_and_negated() {
        assert_eq!(
            dump(&["--status", "closed", "--not", "--status", "reset"]),
            Ok(pairs(&[("status", "closed"), ("not_status", "reset")]))
        );
    }

    #[test]
    fn not_between_other_flags_still_applies_to_the_next_filter() {
        assert_eq!(
            dump(&["--last", "5", "--not", "--port", "53", "-o", "json"]),
            Ok(pairs(&[("not_port", "53")]))
        );
    }

    #[test]
    fn not_followed_by_something_else_than_a_filter_is_a_usage_error() {
        assert_eq!(
            dump(&["--port", "80", "--not"]),
            Err(FilterError::TrailingNot)
        );
        assert_eq!(
            dump(&["--not", "--last", "5", "--port", "53"]),
            Err(FilterError::NotBeforeNonFilter("--last".into()))
        );
        assert_eq!(
            dump(&["--not", "--not", "--port", "53"]),
            Err(FilterError::NotBeforeNonFilter("another --not".into()))
        );
        assert_eq!(
            FilterError::TrailingNot.to_string(),
            "--not must be followed by a filter flag (e.g. --not --port 53)"
        );
    }

    #[test]
    fn repeated_statuses_are_joined_into_one_list() {
        assert_eq!(
            dump(&["--status", "refused", "--status", "reset,timeout"]),
            Ok(pairs(&[("status", "refused,reset,timeout")]))
        );
        assert_eq!(
            dump(&["--not", "--status", "active", "--not", "--status", "closed"]),
            Ok(pairs(&[("not_status", "active,closed")]))
        );
    }

    #[test]
    fn repeating_a_single_value_filter_is_refused_with_both_values() {
        assert_eq!(
            dump(&["--port", "80", "--port", "443"]),
            Err(FilterError::Repeated {
                flag: "--port".into(),
                first: "80".into(),
                second: "443".into()
            })
        );
        assert_eq!(
            dump(&["--not", "--ip", "10.0.0.1", "--not", "--ip", "10.0.0.2"])
                .unwrap_err()
                .to_string(),
            "--not --ip: given twice (\"10.0.0.1\" and \"10.0.0.2\"); the agent matches one value per filter, so give it once"
        );
    }

    #[test]
    fn addresses_and_ports_are_checked_before_asking_the_agent() {
        assert_eq!(
            dump(&["--to-ip", "10.0.0"]).unwrap_err().to_string(),
            r#"--to-ip: "10.0.0" is not an IPv4 or IPv6 address"#
        );
        assert_eq!(
            dump(&["--from-port", "+80"]).unwrap_err().to_string(),
            r#"--from-port: "+80" is not a port number (0-65535)"#
        );
        assert_eq!(
            dump(&["--port", "65536"]).unwrap_err().to_string(),
            r#"--port: "65536" is not a port number (0-65535)"#
        );
        assert_eq!(
            dump(&["--pod", ""]).unwrap_err().to_string(),
            "--pod: needs a value"
        );
    }

    #[test]
    fn no_filter_flags_means_no_parameters() {
        assert_eq!(dump(&[]), Ok(vec![]));
        assert_eq!(dump(&["-o", "csv", "--last", "3"]), Ok(vec![]));
    }
}
