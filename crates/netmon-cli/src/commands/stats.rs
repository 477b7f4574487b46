//! `netmon-cli stats flows`: flow counts by protocol, status and direction,
//! table and map fill, evictions (`GET /api/v1/stats/flows`). `-o json`
//! prints the agent's answer unchanged.

use std::collections::BTreeMap;
use std::io;
use std::process::ExitCode;

use serde::Deserialize;
use thiserror::Error;

use super::report_text;
use super::status::{fill, Fill};
use crate::cli::StatsFlowsArgs;
use crate::client::{AgentClient, ClientError};
use crate::output::table::key_values;
use crate::output::{sink, Stdout, Style};

pub const PATH: &str = "/api/v1/stats/flows";

#[derive(Debug, Error)]
pub enum StatsError {
    #[error(transparent)]
    Agent(#[from] ClientError),
    #[error("writing the stats to stdout: {0}")]
    Output(#[from] io::Error),
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FlowStats {
    pub flows: u64,
    pub by_protocol: BTreeMap<String, u64>,
    pub by_status: BTreeMap<String, u64>,
    pub by_direction: BTreeMap<String, u64>,
    pub flow_table: Fill,
    pub kernel_map: Fill,
    pub evictions: BTreeMap<String, u64>,
    /// Flows opened and closed since the agent started.
    pub totals: BTreeMap<String, u64>,
}

pub async fn flows(
    agent: &AgentClient,
    args: &StatsFlowsArgs,
    style: &Style,
) -> Result<ExitCode, StatsError> {
    let text = report_text(agent, PATH, args.output, |stats| render(stats, style)).await?;
    Ok(sink::finished(Stdout::default().block(&text))?)
}

pub fn render(stats: &FlowStats, style: &Style) -> String {
    key_values(&[
        ("Flows", stats.flows.to_string()),
        ("By protocol", counts(&stats.by_protocol)),
        ("By status", counts(&stats.by_status)),
        ("By direction", counts(&stats.by_direction)),
        ("Flow table", fill(&stats.flow_table, "flows", style)),
        ("Kernel map", fill(&stats.kernel_map, "entries", style)),
        ("Evictions", counts(&stats.evictions)),
        ("Since start", counts(&stats.totals)),
    ])
}

/// `tcp 7, udp 3`, or `-` when there is nothing to count.
fn counts(counts: &BTreeMap<String, u64>) -> String {
    if counts.is_empty() {
        return "-".to_owned();
    }
    counts
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_lists_each_breakdown_on_one_line() {
        let stats: FlowStats = serde_json::from_str(
            r#"{"flows": 10, "by_protocol": {"tcp": 7, "udp": 3},
                "by_status": {"active": 5, "closed": 5},
                "by_direction": {"egress": 4, "ingress": 6},
                "flow_table": {"flows": 10, "capacity": 100000, "fill_ratio": 0.0001},
                "kernel_map": {"entries": 12, "capacity": 65536, "fill_ratio": 0.0002},
                "evictions": {"table_full": 0, "pruned": 3},
                "totals": {"opened": 14, "closed": 4}}"#,
        )
        .unwrap();
        assert_eq!(
            render(&stats, &Style { color: false }),
            "\
Flows         10
By protocol   tcp 7, udp 3
By status     active 5, closed 5
By direction  egress 4, ingress 6
Flow table    10 / 100000 flows (0.0%)
Kernel map    12 / 65536 entries (0.0%)
Evictions     pruned 3, table_full 0
Since start   closed 4, opened 14
"
        );
    }

    #[test]
    fn an_empty_agent_has_dashes_not_blanks() {
        let report = render(&FlowStats::default(), &Style { color: false });
        assert!(report.contains("By protocol   -\n"), "{report}");
    }
}
