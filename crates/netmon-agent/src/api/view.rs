//! The JSON shape of a flow, shared by `GET /api/v1/flows` and the follow
//! stream. It is built from a [`FlowRecord`] plus the two facts the record
//! does not carry (direction and interface name), which the caller resolves.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::app_view::AppView;
use super::names::FlowNames;
use crate::enrich::FlowIdentity;
use crate::flow::{tcp_flags, Direction, FlowRecord, FlowStatus, RttSocket, UnixNanos};

/// One connection as the API shows it. `src` is the initiator and `dst` the
/// responder; `tx` counts initiator → responder, `rx` the way back.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct FlowView {
    pub id: u64,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    /// Lower-case protocol name ("tcp", "udp", ..., "other").
    pub protocol: &'static str,
    /// IANA protocol number, so that protocols shown as "other" can still be
    /// told apart and filtered by number.
    pub protocol_number: u8,
    /// 4 or 6, after unmapping IPv4-mapped IPv6 addresses.
    pub ip_version: u8,
    pub direction: Direction,
    pub interface: Option<String>,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub rx_packets: u64,
    /// Names of the TCP flags seen in either direction, in handshake order.
    pub tcp_flags: Vec<&'static str>,
    pub status: FlowStatus,
    /// RFC 3339, UTC, nanosecond precision.
    pub first_seen: String,
    pub last_seen: String,
    /// The same instants as integers, for clients that sort or subtract.
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    pub ended_at: Option<String>,
    /// Kernel-measured SYN → SYN-ACK time, truncated to whole microseconds.
    pub connect_latency_us: Option<u64>,
    /// Smoothed RTT (the kernel's srtt) of one socket of the connection on
    /// this node, over every segment it received: smallest, largest and
    /// latest reading, and the mean truncated to whole microseconds. All
    /// `null` until a reading arrives (and for non-TCP flows).
    pub rtt_min_us: Option<u64>,
    pub rtt_max_us: Option<u64>,
    pub rtt_last_us: Option<u64>,
    pub rtt_mean_us: Option<u64>,
    /// Readings behind the figures above: one per segment received.
    pub rtt_samples: Option<u64>,
    /// Whose socket measured them: the initiator's when it is on this node.
    pub rtt_socket: Option<RttSocket>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    /// One packet in this many was counted, and counted this many times
    /// (`capture.sampling_rate`); 1 means every packet, exact counts.
    pub sampling_rate: u32,
    /// The addresses translation gave the ends (DNAT's backend, SNAT's
    /// source), `null` when conntrack did not translate them.
    #[serde(flatten)]
    pub translated: TranslatedEnds,
    /// TCP segments retransmitted, both directions.
    pub retransmits: u64,
    /// Packets the kernel dropped, both directions, and by its reason.
    pub drops: u64,
    pub drop_reasons: BTreeMap<Arc<str>, u64>,
    /// Pod, namespace, workload, service and node of each end.
    #[serde(flatten)]
    pub names: FlowNames,
    /// Application protocol, DNS, resolved name of the responder.
    #[serde(flatten)]
    pub app: AppView,
}

/// Where a translated connection really went (`dst_translated_*`: the
/// backend DNAT chose for the address in `dst_*`) and the source address
/// the responder saw (`src_translated_*`, SNAT). All `null` for a
/// connection conntrack did not translate.
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct TranslatedEnds {
    pub src_translated_ip: Option<IpAddr>,
    pub src_translated_port: Option<u16>,
    pub dst_translated_ip: Option<IpAddr>,
    pub dst_translated_port: Option<u16>,
}

impl TranslatedEnds {
    pub fn of(record: &FlowRecord) -> Self {
        let initiator = record.translated_initiator();
        let responder = record.translated_responder();
        TranslatedEnds {
            src_translated_ip: initiator.map(|end| end.ip.to_canonical()),
            src_translated_port: initiator.map(|end| end.port),
            dst_translated_ip: responder.map(|end| end.ip.to_canonical()),
            dst_translated_port: responder.map(|end| end.port),
        }
    }
}

/// Wire flags and their names, in the order a TCP connection usually shows
/// them, so that `["SYN","ACK","FIN"]` reads like the connection's story.
/// `SYN_ONLY`/`SYN_ACK` are netmon's own markers, not TCP flags, and are
/// deliberately absent.
const FLAG_NAMES: [(u32, &str); 8] = [
    (tcp_flags::SYN, "SYN"),
    (tcp_flags::ACK, "ACK"),
    (tcp_flags::FIN, "FIN"),
    (tcp_flags::RST, "RST"),
    (tcp_flags::PSH, "PSH"),
    (tcp_flags::URG, "URG"),
    (tcp_flags::ECE, "ECE"),
    (tcp_flags::CWR, "CWR"),
];

impl FlowView {
    pub fn from_record(
        record: &FlowRecord,
        direction: Direction,
        interface: Option<String>,
        identity: &FlowIdentity,
    ) -> Self {
        let src_ip = record.key.initiator.ip.to_canonical();
        let dst_ip = record.key.responder.ip.to_canonical();
        FlowView {
            id: record.id,
            src_ip,
            src_port: record.key.initiator.port,
            dst_ip,
            dst_port: record.key.responder.port,
            protocol: record.key.protocol.name(),
            protocol_number: record.key.protocol.number(),
            ip_version: if src_ip.is_ipv4() { 4 } else { 6 },
            direction,
            interface,
            tx_bytes: record.tx.bytes,
            rx_bytes: record.rx.bytes,
            tx_packets: record.tx.packets,
            rx_packets: record.rx.packets,
            tcp_flags: tcp_flag_names(record.tcp_flags()),
            status: record.status,
            first_seen: rfc3339(record.first_seen),
            last_seen: rfc3339(record.last_seen),
            first_seen_ns: record.first_seen,
            last_seen_ns: record.last_seen,
            ended_at: record.ended_at.get().map(rfc3339),
            connect_latency_us: record.connect_latency_ns.get().map(|ns| ns / 1_000),
            rtt_min_us: record.rtt().map(|r| u64::from(r.min_us)),
            rtt_max_us: record.rtt().map(|r| u64::from(r.max_us)),
            rtt_last_us: record.rtt().map(|r| u64::from(r.last_us)),
            rtt_mean_us: record.rtt().map(|r| r.mean_us()),
            rtt_samples: record.rtt().map(|r| r.samples),
            rtt_socket: record.rtt().map(|r| r.socket),
            icmp_type: record.icmp.map(|(icmp_type, _)| icmp_type),
            icmp_code: record.icmp.map(|(_, code)| code),
            sampling_rate: 1,
            translated: TranslatedEnds::of(record),
            retransmits: record.retransmits(),
            drops: record.drops(),
            drop_reasons: record.drop_reasons().clone(),
            names: FlowNames::of(identity),
            app: AppView::of(record, None),
        }
    }
}

/// Names of the real TCP flags set in `flags`.
pub fn tcp_flag_names(flags: u32) -> Vec<&'static str> {
    FLAG_NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// Formats wall-clock nanoseconds as RFC 3339 in UTC with nanoseconds.
/// `u64` nanoseconds end in the year 2554, so the addition cannot overflow.
pub fn rfc3339(nanos: UnixNanos) -> String {
    humantime::format_rfc3339_nanos(UNIX_EPOCH + Duration::from_nanos(nanos)).to_string()
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::flow::{ConnectionKey, Counters, Endpoint, FlowExtras, Protocol};

    fn unnamed() -> FlowIdentity {
        FlowIdentity::default()
    }

    fn tcp_record() -> FlowRecord {
        FlowRecord {
            id: 7,
            key: ConnectionKey {
                protocol: Protocol::Tcp,
                initiator: Endpoint {
                    ip: IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()),
                    port: 40000,
                },
                responder: Endpoint {
                    ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                    port: 443,
                },
            },
            tx: Counters {
                bytes: 100,
                packets: 2,
            },
            rx: Counters {
                bytes: 5000,
                packets: 4,
            },
            tx_tcp_flags: tcp_flags::SYN | tcp_flags::ACK | tcp_flags::SYN_ONLY,
            rx_tcp_flags: tcp_flags::SYN | tcp_flags::ACK | tcp_flags::FIN | tcp_flags::SYN_ACK,
            first_seen: 1_700_000_000_123_456_789,
            last_seen: 1_700_000_001_000_000_001,
            status: FlowStatus::Closed,
            connect_latency_ns: crate::flow::OptionalNanos::some(1_500),
            ended_at: crate::flow::OptionalNanos::some(1_700_000_001_000_000_001),
            ifindex: 2,
            icmp: None,
            updated_at: 1_700_000_001_000_000_001,
            extras: Some(Box::new(FlowExtras {
                retransmits: 3,
                drops: 2,
                drop_reasons: [(Arc::from("NETFILTER_DROP"), 2)].into(),
                ..FlowExtras::default()
            })),
            table_marks: Default::default(),
        }
    }

    #[test]
    fn an_ipv4_mapped_initiator_is_shown_as_a_dotted_quad() {
        let view = FlowView::from_record(&tcp_record(), Direction::Egress, None, &unnamed());
        assert_eq!(view.src_ip, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(view.ip_version, 4);
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["src_ip"], "10.0.0.1");
        assert_eq!(json["dst_ip"], "10.0.0.2");
    }

    #[test]
    fn a_real_ipv6_flow_keeps_its_addresses_and_reports_version_6() {
        let mut record = tcp_record();
        record.key.initiator.ip = IpAddr::V6(Ipv6Addr::LOCALHOST);
        record.key.responder.ip = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));
        let view = FlowView::from_record(&record, Direction::Ingress, None, &unnamed());
        assert_eq!(view.ip_version, 6);
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["src_ip"], "::1");
        assert_eq!(json["dst_ip"], "fd00::2");
    }

    #[test]
    fn flags_are_the_union_of_both_directions_without_netmon_markers() {
        let view = FlowView::from_record(&tcp_record(), Direction::Egress, None, &unnamed());
        assert_eq!(view.tcp_flags, vec!["SYN", "ACK", "FIN"]);
    }

    #[test]
    fn every_tcp_flag_has_a_name() {
        assert_eq!(
            tcp_flag_names(0xff),
            vec!["SYN", "ACK", "FIN", "RST", "PSH", "URG", "ECE", "CWR"]
        );
        assert!(tcp_flag_names(tcp_flags::SYN_ONLY | tcp_flags::SYN_ACK).is_empty());
    }

    #[test]
    fn the_view_serializes_every_field_with_api_names() {
        let view = FlowView::from_record(
            &tcp_record(),
            Direction::Egress,
            Some("eth0".into()),
            &unnamed(),
        );
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": 7,
                "src_ip": "10.0.0.1",
                "src_port": 40000,
                "dst_ip": "10.0.0.2",
                "dst_port": 443,
                "protocol": "tcp",
                "protocol_number": 6,
                "ip_version": 4,
                "direction": "egress",
                "interface": "eth0",
                "tx_bytes": 100,
                "rx_bytes": 5000,
                "tx_packets": 2,
                "rx_packets": 4,
                "tcp_flags": ["SYN", "ACK", "FIN"],
                "status": "closed",
                "first_seen": "2023-11-14T22:13:20.123456789Z",
                "last_seen": "2023-11-14T22:13:21.000000001Z",
                "first_seen_ns": 1_700_000_000_123_456_789u64,
                "last_seen_ns": 1_700_000_001_000_000_001u64,
                "ended_at": "2023-11-14T22:13:21.000000001Z",
                "connect_latency_us": 1,
                "rtt_min_us": null,
                "rtt_max_us": null,
                "rtt_last_us": null,
                "rtt_mean_us": null,
                "rtt_samples": null,
                "rtt_socket": null,
                "icmp_type": null,
                "icmp_code": null,
                "sampling_rate": 1,
                "src_translated_ip": null, "src_translated_port": null,
                "dst_translated_ip": null, "dst_translated_port": null,
                "retransmits": 3,
                "drops": 2,
                "drop_reasons": {"NETFILTER_DROP": 2},
                "src_pod": null, "src_namespace": null, "src_workload": null,
                "src_workload_kind": null, "src_service": null, "src_node": null,
                "src_zone": null, "src_host_network": false, "src_labels": {},
                "dst_pod": null, "dst_namespace": null, "dst_workload": null,
                "dst_workload_kind": null, "dst_service": null, "dst_node": null,
                "dst_zone": null, "dst_host_network": false, "dst_labels": {},
                "app_protocol": null, "http_method": null, "http_status": null,
                "tls_version": null, "tls_sni": null, "server_version": null,
                "dns": null, "dns_transactions": 0, "dst_dns_name": null,
            })
        );
    }

    #[test]
    fn application_fields_and_the_latest_dns_transaction_are_flat_fields() {
        use crate::flow::{AppInfo, DnsTransaction};
        use crate::l7::{AppFields, AppProtocol};
        let mut record = tcp_record();
        record.extras_mut().app = Some(Box::new(AppInfo {
            protocol: Some(AppProtocol::Http),
            fields: AppFields {
                http_method: Some("GET".into()),
                http_status: Some(404),
                ..AppFields::default()
            },
            dns: Some(DnsTransaction {
                name: "svc.netmon.test".into(),
                qtype: 28,
                rcode: Some(3),
                latency_ns: Some(1_500_000),
            }),
            dns_transactions: 2,
        }));
        let mut view = FlowView::from_record(&record, Direction::Egress, None, &unnamed());
        view.app.dst_dns_name = Some(Arc::from("svc.netmon.test"));
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["app_protocol"], "http");
        assert_eq!(json["http_method"], "GET");
        assert_eq!(json["http_status"], 404);
        assert_eq!(
            json["dns"],
            serde_json::json!({"name": "svc.netmon.test", "type": "AAAA",
                               "rcode": "NXDOMAIN", "latency_seconds": 0.0015})
        );
        assert_eq!(json["dns_transactions"], 2);
        assert_eq!(json["dst_dns_name"], "svc.netmon.test");
        let dns = record
            .extras_mut()
            .app
            .as_mut()
            .unwrap()
            .dns
            .as_mut()
            .unwrap();
        dns.rcode = None;
        dns.latency_ns = None;
        let json = serde_json::to_value(FlowView::from_record(
            &record,
            Direction::Egress,
            None,
            &unnamed(),
        ))
        .unwrap();
        assert_eq!(json["dns"]["rcode"], "timeout");
        assert_eq!(json["dns"]["latency_seconds"], serde_json::Value::Null);
    }

    #[test]
    fn kubernetes_names_appear_as_flat_src_and_dst_fields() {
        use crate::enrich::{EndpointIdentity, ServiceName, Workload};
        use std::sync::Arc;
        let identity = FlowIdentity {
            src: Arc::new(EndpointIdentity {
                pod: Some("frontend-7d9-x".into()),
                namespace: Some("checkout".into()),
                workload: Some(Workload {
                    kind: "Deployment".into(),
                    name: "frontend".into(),
                }),
                node: Some("node-a".into()),
                zone: Some("z1".into()),
                labels: vec![("app".into(), "frontend".into())],
                ..EndpointIdentity::default()
            }),
            dst: Arc::new(EndpointIdentity {
                namespace: Some("payments".into()),
                service: Some(ServiceName {
                    namespace: "payments".into(),
                    name: "payments-api".into(),
                }),
                ..EndpointIdentity::default()
            }),
        };
        let view = FlowView::from_record(&tcp_record(), Direction::Egress, None, &identity);
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["src_pod"], "frontend-7d9-x");
        assert_eq!(json["src_namespace"], "checkout");
        assert_eq!(json["src_workload"], "frontend");
        assert_eq!(json["src_workload_kind"], "Deployment");
        assert_eq!(json["src_node"], "node-a");
        assert_eq!(json["src_zone"], "z1");
        assert_eq!(json["src_labels"], serde_json::json!({"app": "frontend"}));
        assert_eq!(json["dst_pod"], serde_json::Value::Null);
        assert_eq!(json["dst_namespace"], "payments");
        assert_eq!(json["dst_service"], "payments-api");
    }

    #[test]
    fn a_dnat_flow_shows_the_backend_and_an_snat_flow_the_source_it_was_given() {
        use crate::flow::{DirectionalKey, NatBinding};
        let mut record = tcp_record();
        let backend = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 5)),
            port: 8443,
        };
        let original = DirectionalKey {
            src: record.key.initiator,
            dst: record.key.responder,
            protocol: Protocol::Tcp,
        };
        record.extras_mut().nat = NatBinding::translated(
            original,
            DirectionalKey {
                src: backend,
                dst: record.key.initiator,
                protocol: Protocol::Tcp,
            },
        );
        let json = serde_json::to_value(FlowView::from_record(
            &record,
            Direction::Egress,
            None,
            &unnamed(),
        ))
        .unwrap();
        assert_eq!(json["dst_ip"], "10.0.0.2", "the address the client used");
        assert_eq!(json["dst_translated_ip"], "10.0.1.5");
        assert_eq!(json["dst_translated_port"], 8443);
        assert_eq!(json["src_translated_ip"], serde_json::Value::Null);

        let node = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            port: 61000,
        };
        record.extras_mut().nat = NatBinding::translated(
            original,
            DirectionalKey {
                src: record.key.responder,
                dst: node,
                protocol: Protocol::Tcp,
            },
        );
        let view = FlowView::from_record(&record, Direction::Egress, None, &unnamed());
        assert_eq!(
            view.translated,
            TranslatedEnds {
                src_translated_ip: Some(node.ip),
                src_translated_port: Some(61000),
                dst_translated_ip: None,
                dst_translated_port: None,
            }
        );
    }

    #[test]
    fn rtt_figures_come_from_the_record_with_a_truncated_mean() {
        let mut record = tcp_record();
        record.extras_mut().rtt = Some(crate::flow::RttStats {
            socket: RttSocket::Initiator,
            min_us: 90,
            max_us: 250,
            last_us: 120,
            sum_us: 1_001,
            samples: 7,
        });
        let json = serde_json::to_value(FlowView::from_record(
            &record,
            Direction::Egress,
            None,
            &unnamed(),
        ))
        .unwrap();
        assert_eq!(
            [
                &json["rtt_min_us"],
                &json["rtt_max_us"],
                &json["rtt_last_us"],
                &json["rtt_mean_us"],
                &json["rtt_samples"]
            ],
            [90, 250, 120, 143, 7]
        );
        assert_eq!(json["rtt_socket"], "initiator");
    }

    #[test]
    fn icmp_type_and_code_come_from_the_record() {
        let mut record = tcp_record();
        record.key.protocol = Protocol::Icmp;
        record.tx_tcp_flags = 0;
        record.rx_tcp_flags = 0;
        record.icmp = Some((8, 0));
        let view = FlowView::from_record(&record, Direction::Forwarded, None, &unnamed());
        assert_eq!((view.icmp_type, view.icmp_code), (Some(8), Some(0)));
        assert!(view.tcp_flags.is_empty());
        assert_eq!(view.protocol, "icmp");
    }

    #[test]
    fn an_active_flow_has_no_end_time() {
        let mut record = tcp_record();
        record.status = FlowStatus::Active;
        record.ended_at = crate::flow::OptionalNanos::NONE;
        let json = serde_json::to_value(FlowView::from_record(
            &record,
            Direction::Egress,
            None,
            &unnamed(),
        ))
        .unwrap();
        assert_eq!(json["status"], "active");
        assert_eq!(json["ended_at"], serde_json::Value::Null);
    }
}
