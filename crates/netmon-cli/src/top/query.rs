//! The `/api/v1/flows` request `top` repeats: the command-line filters
//! (read in order by main, so `--not` negates the next one) as the agent's
//! query parameters, through the mapping `flows dump`/`observe` share.

use thiserror::Error;

use crate::client::with_query;
use crate::commands::flow_filter::{FilterError, FlowFilters};

pub const FLOWS_PATH: &str = "/api/v1/flows";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum QueryError {
    #[error(transparent)]
    Filter(#[from] FilterError),
}

/// The request path with the filters' query string.
pub fn flows_path(filters: &FlowFilters) -> Result<String, QueryError> {
    Ok(with_query(FLOWS_PATH, &filters.query_pairs()?))
}

/// The filters as the header shows them: `port=5001 protocol=tcp`, or
/// `none`.
pub fn describe(filters: &FlowFilters) -> String {
    match filters.query_pairs() {
        Ok(pairs) if !pairs.is_empty() => pairs
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join(" "),
        _ => "none".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use clap::{ArgMatches, CommandFactory};

    use super::*;
    use crate::cli::Cli;

    /// The filters of `netmon-cli top ARGS`, read as main reads them.
    fn filters(args: &[&str]) -> FlowFilters {
        let argv = ["netmon-cli", "top"].iter().chain(args);
        let matches = Cli::command().get_matches_from(argv);
        let top: &ArgMatches = matches.subcommand_matches("top").expect("top");
        FlowFilters::from_matches(top).expect("the filters are valid")
    }

    #[test]
    fn filter_flags_become_the_agents_query_parameters() {
        let filters = filters(&[
            "--from-ip",
            "fd00::1",
            "--port",
            "5001",
            "--protocol",
            "tcp",
        ]);
        assert_eq!(
            flows_path(&filters).unwrap(),
            "/api/v1/flows?src_ip=fd00%3A%3A1&port=5001&protocol=tcp"
        );
        assert_eq!(describe(&filters), "src_ip=fd00::1 port=5001 protocol=tcp");
    }

    #[test]
    fn a_negated_filter_becomes_a_not_parameter() {
        let filters = filters(&["--protocol", "tcp", "--not", "--port", "53"]);
        assert_eq!(
            flows_path(&filters).unwrap(),
            "/api/v1/flows?protocol=tcp&not_port=53"
        );
        assert_eq!(describe(&filters), "protocol=tcp not_port=53");
    }

    #[test]
    fn a_repeated_single_value_filter_is_refused_by_name() {
        let filters = filters(&["--port", "80", "--port", "443"]);
        assert_eq!(
            flows_path(&filters).unwrap_err().to_string(),
            "--port: given twice (\"80\" and \"443\"); the agent matches one value per filter, so give it once"
        );
    }

    #[test]
    fn without_filters_the_header_says_none() {
        let filters = filters(&[]);
        assert_eq!(flows_path(&filters).unwrap(), "/api/v1/flows");
        assert_eq!(describe(&filters), "none");
    }
}
