//! `GET /api/v1/status`: what the agent is, what it attached to, how full
//! its tables are and whether its sources keep up.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::config_status::{ConfigStatus, ConfigStatusHandle};
use super::flows::{blocking_json, reject_parameters, NoParameters};
use super::source::FlowSource;
use super::status_source::{
    fill_ratio, AgentStatus, FeatureStatus, InterfaceStatus, KernelStatus, KubernetesStatus,
    MapStatus, RingStatus, StatusSource, TableStatus,
};

/// The agent's version, as `netmon --version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the status, stats and debug endpoints read.
#[derive(Clone)]
pub(crate) struct StatusState {
    pub(crate) flows: Arc<dyn FlowSource>,
    pub(crate) status: Arc<dyn StatusSource>,
    pub(crate) config: ConfigStatusHandle,
}

/// The body of `GET /api/v1/status`.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct StatusView {
    pub version: &'static str,
    /// RFC 3339, UTC, whole seconds.
    pub started_at: String,
    pub uptime_seconds: f64,
    pub node: String,
    pub kernel: KernelStatus,
    /// Sorted by name.
    pub interfaces: Vec<InterfaceStatus>,
    pub maps: Vec<MapView>,
    pub flow_table: TableFill,
    pub events: RingStatus,
    pub payload_samples: RingStatus,
    pub kubernetes: KubernetesStatus,
    pub features: FeatureStatus,
    /// Custom programs: state, metrics, and why any part is skipped.
    pub programs: Vec<crate::programs::ProgramStatus>,
    pub config: ConfigStatus,
}

/// One kernel map in the status.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct MapView {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub entries: u64,
    pub capacity: u64,
    pub fill_ratio: f64,
}

impl From<&MapStatus> for MapView {
    fn from(map: &MapStatus) -> Self {
        MapView {
            name: map.name,
            kind: map.kind,
            entries: map.entries,
            capacity: map.capacity,
            fill_ratio: fill_ratio(map.entries, map.capacity),
        }
    }
}

/// The flow table's fill, in the status and in `/api/v1/stats/flows`.
#[derive(Serialize, Clone, Copy, Debug, PartialEq)]
pub struct TableFill {
    pub flows: u64,
    pub capacity: u64,
    pub fill_ratio: f64,
}

impl From<&TableStatus> for TableFill {
    fn from(table: &TableStatus) -> Self {
        TableFill {
            flows: table.flows,
            capacity: table.capacity,
            fill_ratio: fill_ratio(table.flows, table.capacity),
        }
    }
}

impl StatusView {
    pub fn new(status: AgentStatus, config: ConfigStatus) -> Self {
        let mut interfaces = status.interfaces;
        interfaces.sort_by(|a, b| a.name.cmp(&b.name).then(a.ifindex.cmp(&b.ifindex)));
        StatusView {
            version: VERSION,
            started_at: humantime::format_rfc3339_seconds(status.started_at).to_string(),
            uptime_seconds: status.uptime.as_secs_f64(),
            node: status.node,
            kernel: status.kernel,
            interfaces,
            maps: vec![MapView::from(&status.table.kernel_map)],
            flow_table: TableFill::from(&status.table),
            events: status.events,
            payload_samples: status.payload_samples,
            kubernetes: status.kubernetes,
            features: status.features,
            programs: status.programs,
            config,
        }
    }
}

/// The status reads kernel counters under the eBPF object's lock, which a
/// drain holds for its grace period: kept off the async workers.
pub(crate) async fn get_status(State(state): State<StatusState>, query: NoParameters) -> Response {
    if let Some(rejected) = reject_parameters(query) {
        return rejected;
    }
    blocking_json("status", move || {
        StatusView::new(state.status.status(), state.config.get())
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::api::testing::{fake_status, get, start, FakeSource, FakeStatus};
    use crate::api::{api_router_with, ApiSources, Readiness};

    #[tokio::test]
    async fn the_status_has_every_field_with_interfaces_sorted_by_name() {
        let status = Arc::new(FakeStatus::new(fake_status(), Vec::new()));
        let config = ConfigStatusHandle::new(Some(PathBuf::from("/etc/netmon/netmon.yaml")));
        config.set_restart_required(vec!["capture.attach_mode".into()]);
        let addr = start(api_router_with(ApiSources {
            flows: Arc::new(FakeSource::new(Vec::new())),
            status,
            config,
            readiness: Readiness::new(),
            on_lag: Arc::new(|_| {}),
        }))
        .await;

        let response = get(addr, "/api/v1/status").await;
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "version": VERSION,
                "started_at": "2026-12-03T17:00:00Z",
                "uptime_seconds": 12.5,
                "node": "node-1",
                "kernel": {"release": "6.18.0-test", "btf": true, "tcx": true, "tcp_lifecycle_tracepoint": true},
                "interfaces": [
                    {"name": "eth0", "ifindex": 2, "attach_mode": "tcx",
                     "programs": ["netmon_tc_ingress", "netmon_tc_egress"]},
                    {"name": "veth1", "ifindex": 7, "attach_mode": "tc",
                     "programs": ["netmon_tc_ingress", "netmon_tc_egress"]},
                ],
                "maps": [{"name": "netmon_flows", "type": "hash", "entries": 16384,
                          "capacity": 65536, "fill_ratio": 0.25}],
                "flow_table": {"flows": 10, "capacity": 100, "fill_ratio": 0.1},
                "events": {"processed": 123, "lost": 4},
                "payload_samples": {"processed": 5, "lost": 0},
                "programs": [],
                "kubernetes": {"enabled": true, "state": "syncing", "synced": false},
                "features": {"tcp_lifecycle": true, "rtt": true, "dns": true,
                             "protocol_detection": false, "nat": false, "port_scan": true,
                             "drops": true, "retransmits": true},
                "config": {"path": "/etc/netmon/netmon.yaml",
                           "restart_required": ["capture.attach_mode"]},
            })
        );
    }

    #[tokio::test]
    async fn a_parameter_to_an_endpoint_without_any_is_refused_by_name() {
        let status = Arc::new(FakeStatus::new(fake_status(), Vec::new()));
        let addr = start(crate::api::testing::fake_router(status)).await;
        for path in [
            "/api/v1/status?verbose=1",
            "/api/v1/stats/flows?verbose=1",
            "/debug/flows?verbose=1",
            "/debug/runtime?verbose=1",
        ] {
            let response = get(addr, path).await;
            assert_eq!(response.status, 400, "{path}");
            let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
            assert_eq!(
                body,
                serde_json::json!({"error": "verbose: unknown parameter (this endpoint takes none)"}),
                "{path}"
            );
        }
    }
}
