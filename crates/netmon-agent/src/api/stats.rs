//! `GET /api/v1/stats/flows`: the current flows counted by protocol, status
//! and direction, and how full the tables are.
//!
//! The counts are taken over the same table `/api/v1/flows` lists, under
//! its lock; the table figures are read right after.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::debug::MapDetail;
use super::flows::{blocking_json, reject_parameters, NoParameters};
use super::status::{StatusState, TableFill};
use super::status_source::TableStatus;
use crate::flow::{Direction, FlowStatus};

/// The body of `GET /api/v1/stats/flows`.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct FlowStatsView {
    pub flows: u64,
    /// Only non-zero counts; keys as the flows' `protocol`, `status` and
    /// `direction` fields spell them.
    pub by_protocol: BTreeMap<&'static str, u64>,
    pub by_status: BTreeMap<&'static str, u64>,
    pub by_direction: BTreeMap<&'static str, u64>,
    pub flow_table: TableFill,
    pub kernel_map: MapDetail,
    pub evictions: Evictions,
    pub totals: Totals,
}

/// How records left the table other than by being listed.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evictions {
    /// Active flows dropped because the table was full (`flow.max_flows`).
    pub table_full: u64,
    /// Ended flows removed: after `flow.closed_retention`, to make room, or
    /// replaced by a new connection on the same endpoints.
    pub pruned: u64,
}

/// Flows the table has seen since the agent started.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    pub opened: u64,
    pub closed: u64,
}

/// The current flows counted by protocol, status and direction: what a
/// source counts for [`FlowStatsView`] without building a view per flow
/// (views of 1,000,000 flows took 1.4 s and ~900 MB; BENCHMARKS.md).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowCounts {
    pub flows: u64,
    pub by_protocol: BTreeMap<&'static str, u64>,
    pub by_status: BTreeMap<&'static str, u64>,
    pub by_direction: BTreeMap<&'static str, u64>,
}

impl FlowCounts {
    pub fn add(&mut self, protocol: &'static str, status: FlowStatus, direction: Direction) {
        self.flows += 1;
        *self.by_protocol.entry(protocol).or_default() += 1;
        *self.by_status.entry(status.name()).or_default() += 1;
        *self.by_direction.entry(direction.name()).or_default() += 1;
    }
}

impl FlowStatsView {
    pub fn new(counts: FlowCounts, table: &TableStatus) -> Self {
        FlowStatsView {
            flows: counts.flows,
            by_protocol: counts.by_protocol,
            by_status: counts.by_status,
            by_direction: counts.by_direction,
            flow_table: TableFill::from(table),
            kernel_map: MapDetail::from(&table.kernel_map),
            evictions: Evictions {
                table_full: table.evicted_total,
                pruned: table.pruned_total,
            },
            totals: Totals {
                opened: table.opened_total,
                closed: table.closed_total,
            },
        }
    }
}

pub(crate) async fn get_flow_stats(
    State(state): State<StatusState>,
    query: NoParameters,
) -> Response {
    if let Some(rejected) = reject_parameters(query) {
        return rejected;
    }
    blocking_json("flow stats", move || {
        let counts = state.flows.counts();
        FlowStatsView::new(counts, &state.status.table())
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::testing::{fake_status, get, start, view, FakeSource, FakeStatus};
    use crate::api::{api_router_with, ApiSources, ConfigStatusHandle, Readiness};
    use crate::flow::{Direction, FlowStatus};

    #[tokio::test]
    async fn flows_are_counted_by_protocol_status_and_direction() {
        let mut dns = view(2, "10.0.0.1", 53000, "10.0.0.53", 53);
        dns.protocol = "udp";
        dns.protocol_number = 17;
        dns.direction = Direction::Ingress;
        let mut closed = view(3, "10.0.0.3", 40001, "10.0.0.2", 8080);
        closed.status = FlowStatus::Closed;
        let mut forwarded = view(4, "10.0.1.3", 40001, "10.0.1.2", 80);
        forwarded.direction = Direction::Forwarded;
        let flows = vec![
            view(1, "10.0.0.1", 40000, "10.0.0.2", 443),
            dns,
            closed,
            forwarded,
        ];
        let addr = start(api_router_with(ApiSources {
            flows: Arc::new(FakeSource::new(flows)),
            status: Arc::new(FakeStatus::new(fake_status(), Vec::new())),
            config: ConfigStatusHandle::default(),
            readiness: Readiness::new(),
            on_lag: Arc::new(|_| {}),
        }))
        .await;

        let response = get(addr, "/api/v1/stats/flows").await;
        assert_eq!(response.status, 200);
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "flows": 4,
                "by_protocol": {"tcp": 3, "udp": 1},
                "by_status": {"active": 3, "closed": 1},
                "by_direction": {"egress": 2, "forwarded": 1, "ingress": 1},
                "flow_table": {"flows": 10, "capacity": 100, "fill_ratio": 0.1},
                "kernel_map": {"entries": 16384, "capacity": 65536, "fill_ratio": 0.25},
                "evictions": {"table_full": 2, "pruned": 28},
                "totals": {"opened": 40, "closed": 30},
            })
        );
    }

    #[test]
    fn no_flows_means_empty_counts() {
        let stats = FlowStatsView::new(FlowCounts::default(), &fake_status().table);
        assert_eq!(stats.flows, 0);
        assert!(stats.by_protocol.is_empty() && stats.by_status.is_empty());
        assert!(stats.by_direction.is_empty());
    }
}
