//! `GET /debug/flows` and `GET /debug/runtime`: the agent's internals, for
//! someone debugging netmon itself. Their shape may change between
//! versions; tools should read the `/api/v1` endpoints.

use std::net::SocketAddr;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::flows::{blocking_json, reject_parameters, NoParameters};
use super::status::StatusState;
use super::status_source::{fill_ratio, MapStatus, TableStatus};
use super::view::FlowView;
use crate::flow::{DirectionalKey, Endpoint, FlowRecord, RttSocket};

/// One flow-table record: the API's view of it plus what the table keeps
/// that the view leaves out or rounds.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct DebugFlow {
    #[serde(flatten)]
    pub flow: FlowView,
    pub internal: RecordInternals,
}

/// A record's fields as the table holds them.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct RecordInternals {
    /// The table's key: IANA protocol number and the ends as stored
    /// (IPv4-mapped IPv6 addresses are not unmapped here).
    pub protocol_number: u8,
    pub initiator: SocketAddr,
    pub responder: SocketAddr,
    pub tx: DirectionInternals,
    pub rx: DirectionInternals,
    /// The interface the connection was first counted on (0: only seen in
    /// lifecycle events so far).
    pub ifindex: u32,
    /// The last table operation that changed the record (ns since the epoch).
    pub updated_at_ns: u64,
    pub ended_at_ns: Option<u64>,
    pub connect_latency_ns: Option<u64>,
    pub rtt: Option<RttInternals>,
    /// The conntrack tuples of a translated connection.
    pub nat: Option<NatInternals>,
}

/// One direction's counters and its TCP flag bits, netmon's own markers
/// (`SYN_ONLY`, `SYN_ACK`) included.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectionInternals {
    pub bytes: u64,
    pub packets: u64,
    pub tcp_flags: u32,
}

/// The RTT readings kept, with the sum the mean is computed from.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttInternals {
    pub socket: RttSocket,
    pub min_us: u32,
    pub max_us: u32,
    pub last_us: u32,
    pub sum_us: u64,
    pub samples: u64,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct NatInternals {
    /// `src -> dst` of the original and of the reply direction.
    pub original: String,
    pub reply: String,
}

fn socket_addr(end: Endpoint) -> SocketAddr {
    SocketAddr::new(end.ip, end.port)
}

fn tuple(key: &DirectionalKey) -> String {
    format!("{} -> {}", socket_addr(key.src), socket_addr(key.dst))
}

impl DebugFlow {
    /// `flow` is the record's API view, built by the caller (it needs the
    /// names and the direction).
    pub fn of(record: &FlowRecord, flow: FlowView) -> Self {
        DebugFlow {
            flow,
            internal: RecordInternals {
                protocol_number: record.key.protocol.number(),
                initiator: socket_addr(record.key.initiator),
                responder: socket_addr(record.key.responder),
                tx: DirectionInternals {
                    bytes: record.tx.bytes,
                    packets: record.tx.packets,
                    tcp_flags: record.tx_tcp_flags,
                },
                rx: DirectionInternals {
                    bytes: record.rx.bytes,
                    packets: record.rx.packets,
                    tcp_flags: record.rx_tcp_flags,
                },
                ifindex: record.ifindex,
                updated_at_ns: record.updated_at,
                ended_at_ns: record.ended_at.get(),
                connect_latency_ns: record.connect_latency_ns.get(),
                rtt: record.rtt().map(|rtt| RttInternals {
                    socket: rtt.socket,
                    min_us: rtt.min_us,
                    max_us: rtt.max_us,
                    last_us: rtt.last_us,
                    sum_us: rtt.sum_us,
                    samples: rtt.samples,
                }),
                nat: record.nat().map(|nat| NatInternals {
                    original: tuple(&nat.original),
                    reply: tuple(&nat.reply),
                }),
            },
        }
    }
}

/// The body of `GET /debug/runtime`.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct RuntimeStatus {
    pub uptime_seconds: f64,
    /// The process's resident memory, CPU time (user + system) and
    /// threads; `null` when procfs could not be read.
    pub rss_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub threads: Option<u64>,
    /// Open `follow=true` streams.
    pub follow_subscribers: usize,
    /// Payload findings waiting for the next drain, and the queue's bound.
    pub app_observations_queued: usize,
    pub app_observations_capacity: usize,
    pub flow_table: TableDetail,
    pub kernel_map: MapDetail,
    /// Interfaces an attach failed on (retried when they change).
    pub attach_failures: Vec<String>,
    /// Connections conntrack translated that the agent holds.
    pub nat_translations: usize,
    /// Addresses named by DNS answers.
    pub resolved_names: usize,
}

/// The flow table with every counter it keeps.
#[derive(Serialize, Clone, Copy, Debug, PartialEq)]
pub struct TableDetail {
    pub flows: u64,
    pub capacity: u64,
    pub fill_ratio: f64,
    pub opened_total: u64,
    pub closed_total: u64,
    pub evicted_total: u64,
    pub pruned_total: u64,
}

impl From<&TableStatus> for TableDetail {
    fn from(table: &TableStatus) -> Self {
        TableDetail {
            flows: table.flows,
            capacity: table.capacity,
            fill_ratio: fill_ratio(table.flows, table.capacity),
            opened_total: table.opened_total,
            closed_total: table.closed_total,
            evicted_total: table.evicted_total,
            pruned_total: table.pruned_total,
        }
    }
}

/// A kernel map's fill.
#[derive(Serialize, Clone, Copy, Debug, PartialEq)]
pub struct MapDetail {
    pub entries: u64,
    pub capacity: u64,
    pub fill_ratio: f64,
}

impl From<&MapStatus> for MapDetail {
    fn from(map: &MapStatus) -> Self {
        MapDetail {
            entries: map.entries,
            capacity: map.capacity,
            fill_ratio: fill_ratio(map.entries, map.capacity),
        }
    }
}

#[derive(Serialize)]
struct DebugFlows {
    flows: Vec<DebugFlow>,
}

/// Every record, oldest first like `/api/v1/flows`.
pub(crate) async fn get_debug_flows(
    State(state): State<StatusState>,
    query: NoParameters,
) -> Response {
    if let Some(rejected) = reject_parameters(query) {
        return rejected;
    }
    blocking_json("debug flows", move || {
        let mut flows = state.status.debug_flows();
        flows.sort_by_key(|f| (f.flow.first_seen_ns, f.flow.id));
        DebugFlows { flows }
    })
    .await
}

pub(crate) async fn get_debug_runtime(
    State(state): State<StatusState>,
    query: NoParameters,
) -> Response {
    if let Some(rejected) = reject_parameters(query) {
        return rejected;
    }
    blocking_json("runtime status", move || state.status.runtime()).await
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;

    use super::*;
    use crate::api::testing::{fake_router, fake_status, get, start, view, FakeStatus};
    use crate::flow::{tcp_flags, ConnectionKey, Counters, FlowStatus, Protocol};

    fn record() -> FlowRecord {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut record = FlowRecord::new(
            ConnectionKey {
                protocol: Protocol::Tcp,
                initiator: Endpoint {
                    ip: ip("::ffff:10.0.0.1"),
                    port: 40000,
                },
                responder: Endpoint {
                    ip: ip("10.0.0.2"),
                    port: 443,
                },
            },
            100,
            900,
            3,
            950,
        );
        record.id = 7;
        record.tx = Counters {
            bytes: 120,
            packets: 2,
        };
        record.tx_tcp_flags = tcp_flags::SYN | tcp_flags::SYN_ONLY;
        record.status = FlowStatus::Active;
        record
    }

    #[test]
    fn a_debug_flow_is_the_view_plus_the_record_as_stored() {
        let flow = DebugFlow::of(&record(), view(7, "10.0.0.1", 40000, "10.0.0.2", 443));
        let json = serde_json::to_value(&flow).unwrap();
        assert_eq!(json["id"], 7, "the view's fields are flattened in");
        assert_eq!(
            json["internal"],
            serde_json::json!({
                "protocol_number": 6,
                "initiator": "[::ffff:10.0.0.1]:40000",
                "responder": "10.0.0.2:443",
                "tx": {"bytes": 120, "packets": 2, "tcp_flags": tcp_flags::SYN | tcp_flags::SYN_ONLY},
                "rx": {"bytes": 0, "packets": 0, "tcp_flags": 0},
                "ifindex": 3,
                "updated_at_ns": 950,
                "ended_at_ns": null,
                "connect_latency_ns": null,
                "rtt": null,
                "nat": null,
            })
        );
    }

    #[tokio::test]
    async fn debug_flows_lists_every_record_oldest_first() {
        let mut older = view(9, "10.0.0.3", 1, "10.0.0.4", 2);
        older.first_seen_ns = 50;
        let mut newer = view(7, "10.0.0.1", 40000, "10.0.0.2", 443);
        newer.first_seen_ns = 100;
        let flows = vec![
            DebugFlow::of(&record(), newer),
            DebugFlow::of(&record(), older),
        ];
        let status = Arc::new(FakeStatus::new(fake_status(), flows));
        let addr = start(fake_router(status)).await;
        let response = get(addr, "/debug/flows").await;
        assert_eq!(response.status, 200);
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        let ids: Vec<u64> = body["flows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, vec![9, 7]);
    }

    #[tokio::test]
    async fn debug_runtime_reports_the_process_and_its_queues() {
        let status = Arc::new(FakeStatus::new(fake_status(), Vec::new()));
        let addr = start(fake_router(status)).await;
        let response = get(addr, "/debug/runtime").await;
        assert_eq!(response.status, 200);
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "uptime_seconds": 12.5,
                "rss_bytes": 52428800,
                "cpu_seconds": 1.25,
                "threads": 6,
                "follow_subscribers": 1,
                "app_observations_queued": 3,
                "app_observations_capacity": 65536,
                "flow_table": {"flows": 10, "capacity": 100, "fill_ratio": 0.1,
                               "opened_total": 40, "closed_total": 30,
                               "evicted_total": 2, "pruned_total": 28},
                "kernel_map": {"entries": 16384, "capacity": 65536, "fill_ratio": 0.25},
                "attach_failures": ["wg0"],
                "nat_translations": 0,
                "resolved_names": 4,
            })
        );
    }
}
