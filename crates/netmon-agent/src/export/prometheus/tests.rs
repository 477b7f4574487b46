//! Behaviour of `AgentMetrics` and the metrics listener, read back through
//! the registry exactly as Prometheus would see it.

use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus::proto::MetricType;

use super::*;
use crate::api::testing::{get, start};
use crate::api::Readiness;
use crate::flow::{
    ConnectionKey, Counters, Direction, Endpoint, FlowChange, FlowChangeKind, FlowRecord,
    FlowStatus, Protocol, TcpEventKind,
};

const SECOND: u64 = 1_000_000_000;

fn record(
    id: u64,
    protocol: Protocol,
    src: &str,
    src_port: u16,
    dst: &str,
    dst_port: u16,
) -> FlowRecord {
    FlowRecord {
        id,
        key: ConnectionKey {
            protocol,
            initiator: Endpoint {
                ip: src.parse::<IpAddr>().unwrap(),
                port: src_port,
            },
            responder: Endpoint {
                ip: dst.parse::<IpAddr>().unwrap(),
                port: dst_port,
            },
        },
        tx: Counters::default(),
        rx: Counters::default(),
        tx_tcp_flags: 0,
        rx_tcp_flags: 0,
        first_seen: 0,
        last_seen: 0,
        status: FlowStatus::Active,
        connect_latency_ns: crate::flow::OptionalNanos::NONE,
        ended_at: crate::flow::OptionalNanos::NONE,
        ifindex: 1,
        icmp: None,
        updated_at: 0,
        extras: None,
        table_marks: Default::default(),
    }
}

/// A change adding `tx` and `rx` as `(bytes, packets)`.
fn change(kind: FlowChangeKind, record: &FlowRecord, tx: (u64, u64), rx: (u64, u64)) -> FlowChange {
    FlowChange {
        kind,
        added_tx: Counters {
            bytes: tx.0,
            packets: tx.1,
        },
        added_rx: Counters {
            bytes: rx.0,
            packets: rx.1,
        },
        record: record.clone(),
    }
}

fn ended(mut record: FlowRecord, status: FlowStatus, at: u64) -> FlowRecord {
    record.status = status;
    record.ended_at = crate::flow::OptionalNanos::some(at);
    record.updated_at = at;
    record
}

fn egress(_: &FlowRecord) -> Direction {
    Direction::Egress
}

/// Value of the series `name{labels}` (counter, gauge, or a histogram's
/// sample count), or `None` if it does not exist.
fn value(metrics: &AgentMetrics, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let family = metrics
        .registry()
        .gather()
        .into_iter()
        .find(|f| f.name() == name)?;
    let metric = family.get_metric().iter().find(|m| {
        m.get_label().len() == labels.len()
            && labels.iter().all(|(n, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *n && l.value() == *v)
            })
    })?;
    Some(match family.get_field_type() {
        MetricType::COUNTER => metric.get_counter().get_value(),
        MetricType::GAUGE => metric.get_gauge().get_value(),
        MetricType::HISTOGRAM => metric.get_histogram().get_sample_count() as f64,
        other => panic!("unexpected metric type {other:?}"),
    })
}

fn series_count(metrics: &AgentMetrics, name: &str) -> usize {
    metrics
        .registry()
        .gather()
        .into_iter()
        .find(|f| f.name() == name)
        .map_or(0, |f| f.get_metric().len())
}

fn default_metrics() -> AgentMetrics {
    AgentMetrics::new(&MetricsOptions::default()).unwrap()
}

#[test]
fn a_sequence_of_flow_changes_is_counted_exactly() {
    let metrics = default_metrics();
    let https = record(1, Protocol::Tcp, "10.0.0.1", 40000, "10.0.0.2", 443);
    let dns = record(2, Protocol::Udp, "10.0.0.1", 53000, "10.0.0.53", 53);
    metrics.record_changes(
        &[
            change(FlowChangeKind::Opened, &https, (100, 1), (0, 0)),
            change(FlowChangeKind::Opened, &dns, (60, 1), (0, 0)),
            change(FlowChangeKind::Updated, &https, (50, 1), (200, 2)),
            change(
                FlowChangeKind::Closed,
                &ended(https.clone(), FlowStatus::Reset, SECOND),
                (0, 0),
                (40, 1),
            ),
            change(FlowChangeKind::Evicted, &dns, (0, 0), (120, 1)),
        ],
        egress,
    );

    let tcp = [("protocol", "tcp"), ("direction", "egress")];
    let udp = [("protocol", "udp"), ("direction", "egress")];
    assert_eq!(
        value(&metrics, "netmon_flows_opened_total", &tcp),
        Some(1.0)
    );
    assert_eq!(
        value(&metrics, "netmon_flows_opened_total", &udp),
        Some(1.0)
    );
    assert_eq!(value(&metrics, "netmon_bytes_total", &tcp), Some(390.0));
    assert_eq!(value(&metrics, "netmon_packets_total", &tcp), Some(5.0));
    assert_eq!(value(&metrics, "netmon_bytes_total", &udp), Some(180.0));
    assert_eq!(value(&metrics, "netmon_packets_total", &udp), Some(2.0));
    assert_eq!(
        value(
            &metrics,
            "netmon_flows_total",
            &[
                ("protocol", "tcp"),
                ("direction", "egress"),
                ("status", "reset")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &metrics,
            "netmon_flows_total",
            &[
                ("protocol", "udp"),
                ("direction", "egress"),
                ("status", "evicted")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&metrics, "netmon_flow_table_evictions_total", &[]),
        Some(1.0)
    );
}

proptest::proptest! {
    /// `record_changes` sums a batch per `(protocol, direction)` before it
    /// touches the counters: whatever the batch, every series must hold
    /// exactly what its changes add, summed here change by change.
    #[test]
    fn a_batch_of_changes_is_counted_exactly_whatever_its_mix(
        changes in proptest::collection::vec(
            (0u8..4, 0u8..3, 0u8..5, 0u8..3, 0u64..10_000, 0u64..100, 0u64..10_000, 0u64..100),
            0..60,
        )
    ) {
        let protocols = [Protocol::Tcp, Protocol::Udp, Protocol::Icmp, Protocol::Sctp];
        let statuses = [
            FlowStatus::Active,
            FlowStatus::Closed,
            FlowStatus::Reset,
            FlowStatus::Refused,
            FlowStatus::Timeout,
        ];
        let kinds = [
            FlowChangeKind::Opened,
            FlowChangeKind::Updated,
            FlowChangeKind::Closed,
            FlowChangeKind::Evicted,
        ];
        let directions = [Direction::Egress, Direction::Ingress, Direction::Forwarded];
        let changes: Vec<FlowChange> = changes
            .iter()
            .enumerate()
            .map(|(i, &(kind, protocol, status, direction, tx_b, tx_p, rx_b, rx_p))| {
                let mut r = record(i as u64, protocols[usize::from(protocol)], "10.0.0.1", 40000, "10.0.0.2", 443);
                r.status = statuses[usize::from(status)];
                // The direction rides on the port so the caller's closure can find it.
                r.key.initiator.port = u16::from(direction);
                change(kinds[usize::from(kind)].clone(), &r, (tx_b, tx_p), (rx_b, rx_p))
            })
            .collect();
        let direction_of = |r: &FlowRecord| directions[usize::from(r.key.initiator.port)];
        let metrics = default_metrics();
        metrics.record_changes(&changes, direction_of);

        // What each change adds, summed here independently of the code
        // under test.
        use std::collections::BTreeMap;
        let mut opened: BTreeMap<(&str, &str), f64> = BTreeMap::new();
        let mut ended: BTreeMap<(&str, &str, &str), f64> = BTreeMap::new();
        let mut bytes: BTreeMap<(&str, &str), f64> = BTreeMap::new();
        let mut packets: BTreeMap<(&str, &str), f64> = BTreeMap::new();
        let mut evictions = 0.0;
        for c in &changes {
            let series = (c.record.key.protocol.name(), direction_of(&c.record).name());
            match c.kind {
                FlowChangeKind::Opened => *opened.entry(series).or_default() += 1.0,
                FlowChangeKind::Updated => {}
                FlowChangeKind::Closed => {
                    *ended.entry((series.0, series.1, c.record.status.name())).or_default() += 1.0
                }
                FlowChangeKind::Evicted => {
                    *ended.entry((series.0, series.1, "evicted")).or_default() += 1.0;
                    evictions += 1.0;
                }
            }
            *bytes.entry(series).or_default() += (c.added_tx.bytes + c.added_rx.bytes) as f64;
            *packets.entry(series).or_default() += (c.added_tx.packets + c.added_rx.packets) as f64;
        }
        let labels = |(p, d): (&'static str, &'static str)| [("protocol", p), ("direction", d)];
        for (name, expected) in [
            ("netmon_flows_opened_total", &opened),
            ("netmon_bytes_total", &bytes),
            ("netmon_packets_total", &packets),
        ] {
            proptest::prop_assert_eq!(series_count(&metrics, name), expected.len(), "{}", name);
            for (series, n) in expected {
                proptest::prop_assert_eq!(value(&metrics, name, &labels(*series)), Some(*n), "{} {:?}", name, series);
            }
        }
        proptest::prop_assert_eq!(series_count(&metrics, "netmon_flows_total"), ended.len());
        for ((p, d, status), n) in &ended {
            let labels = [("protocol", *p), ("direction", *d), ("status", *status)];
            proptest::prop_assert_eq!(value(&metrics, "netmon_flows_total", &labels), Some(*n));
        }
        proptest::prop_assert_eq!(
            value(&metrics, "netmon_flow_table_evictions_total", &[]),
            Some(evictions)
        );
    }
}

#[test]
fn the_direction_of_each_flow_comes_from_the_caller() {
    let metrics = default_metrics();
    let inbound = record(1, Protocol::Tcp, "192.0.2.1", 50000, "10.0.0.1", 22);
    let routed = record(2, Protocol::Tcp, "10.1.0.1", 50000, "10.2.0.1", 80);
    metrics.record_changes(
        &[
            change(FlowChangeKind::Opened, &inbound, (10, 1), (0, 0)),
            change(FlowChangeKind::Opened, &routed, (20, 1), (0, 0)),
        ],
        |r| {
            if r.key.responder.port == 22 {
                Direction::Ingress
            } else {
                Direction::Forwarded
            }
        },
    );
    assert_eq!(
        value(
            &metrics,
            "netmon_bytes_total",
            &[("protocol", "tcp"), ("direction", "ingress")]
        ),
        Some(10.0)
    );
    assert_eq!(
        value(
            &metrics,
            "netmon_bytes_total",
            &[("protocol", "tcp"), ("direction", "forwarded")]
        ),
        Some(20.0)
    );
}

#[test]
fn active_flows_are_set_exactly_and_series_not_given_again_drop_to_zero() {
    let metrics = default_metrics();
    metrics.set_active_flows(&[
        (Protocol::Tcp, Direction::Egress, 5),
        (Protocol::Udp, Direction::Ingress, 2),
        (Protocol::Other(47), Direction::Forwarded, 1),
        (Protocol::Other(50), Direction::Forwarded, 3),
    ]);
    let tcp = [("protocol", "tcp"), ("direction", "egress")];
    let udp = [("protocol", "udp"), ("direction", "ingress")];
    let other = [("protocol", "other"), ("direction", "forwarded")];
    assert_eq!(value(&metrics, "netmon_flows_active", &tcp), Some(5.0));
    assert_eq!(value(&metrics, "netmon_flows_active", &udp), Some(2.0));
    assert_eq!(value(&metrics, "netmon_flows_active", &other), Some(4.0));

    metrics.set_active_flows(&[(Protocol::Tcp, Direction::Egress, 3)]);
    assert_eq!(value(&metrics, "netmon_flows_active", &tcp), Some(3.0));
    assert_eq!(value(&metrics, "netmon_flows_active", &udp), Some(0.0));
    assert_eq!(value(&metrics, "netmon_flows_active", &other), Some(0.0));
}

#[test]
fn per_flow_labels_split_traffic_and_expire_after_retention() {
    let metrics = AgentMetrics::new(&MetricsOptions {
        flow_labels: vec![FlowLabel::SrcIp, FlowLabel::DstIp, FlowLabel::DstPort],
        flow_series_retention: Duration::from_secs(60),
        ..MetricsOptions::default()
    })
    .unwrap();
    let mapped = record(1, Protocol::Tcp, "::ffff:10.0.0.1", 40000, "10.0.0.2", 443);
    metrics.record_changes(
        &[
            change(FlowChangeKind::Opened, &mapped, (100, 1), (0, 0)),
            change(
                FlowChangeKind::Closed,
                &ended(mapped.clone(), FlowStatus::Closed, 10 * SECOND),
                (0, 0),
                (300, 2),
            ),
        ],
        egress,
    );
    let labels = [
        ("protocol", "tcp"),
        ("direction", "egress"),
        ("src_ip", "10.0.0.1"),
        ("dst_ip", "10.0.0.2"),
        ("dst_port", "443"),
    ];
    assert_eq!(value(&metrics, "netmon_bytes_total", &labels), Some(400.0));
    assert_eq!(value(&metrics, "netmon_packets_total", &labels), Some(3.0));

    metrics.expire_flow_series(69 * SECOND);
    assert_eq!(value(&metrics, "netmon_bytes_total", &labels), Some(400.0));
    metrics.expire_flow_series(70 * SECOND);
    assert_eq!(value(&metrics, "netmon_bytes_total", &labels), None);
    assert_eq!(value(&metrics, "netmon_packets_total", &labels), None);
}

#[test]
fn without_per_flow_labels_nothing_expires() {
    let metrics = default_metrics();
    let flow = record(1, Protocol::Tcp, "10.0.0.1", 40000, "10.0.0.2", 443);
    metrics.record_changes(
        &[change(
            FlowChangeKind::Closed,
            &ended(flow, FlowStatus::Closed, SECOND),
            (10, 1),
            (0, 0),
        )],
        egress,
    );
    metrics.expire_flow_series(u64::MAX);
    assert_eq!(
        value(
            &metrics,
            "netmon_bytes_total",
            &[("protocol", "tcp"), ("direction", "egress")]
        ),
        Some(10.0)
    );
}

#[test]
fn kernel_counters_add_the_difference_and_restart_after_a_reload() {
    let metrics = default_metrics();
    let reading = |dropped, truncated| KernelCounters {
        events_dropped: dropped,
        parse_truncated_packets: truncated,
        ..KernelCounters::default()
    };
    metrics.set_kernel_counters(&reading(5, 100));
    assert_eq!(
        value(&metrics, "netmon_ebpf_events_dropped_total", &[]),
        Some(5.0)
    );
    metrics.set_kernel_counters(&reading(8, 100));
    assert_eq!(
        value(&metrics, "netmon_ebpf_events_dropped_total", &[]),
        Some(8.0)
    );
    assert_eq!(
        value(&metrics, "netmon_kernel_truncated_packets_total", &[]),
        Some(100.0)
    );
    // Programs reloaded: every kernel counter restarted from zero.
    metrics.set_kernel_counters(&reading(2, 150));
    assert_eq!(
        value(&metrics, "netmon_ebpf_events_dropped_total", &[]),
        Some(10.0)
    );
    assert_eq!(
        value(&metrics, "netmon_kernel_truncated_packets_total", &[]),
        Some(250.0)
    );
}

#[test]
fn every_kernel_counter_has_its_own_metric() {
    let metrics = default_metrics();
    metrics.set_kernel_counters(&KernelCounters {
        flow_map_full_packets: 1,
        flow_map_full_bytes: 2,
        parse_truncated_packets: 3,
        non_ip_packets: 4,
        events_sent: 5,
        events_dropped: 6,
        conn_map_full: 7,
        forwarded_skipped: 8,
        icmp_map_full: 9,
        payload_samples_sent: 10,
        payload_samples_dropped: 11,
    });
    let expected = [
        ("netmon_kernel_flow_map_full_packets_total", 1.0),
        ("netmon_kernel_flow_map_full_bytes_total", 2.0),
        ("netmon_kernel_truncated_packets_total", 3.0),
        ("netmon_kernel_non_ip_packets_total", 4.0),
        ("netmon_ebpf_events_sent_total", 5.0),
        ("netmon_ebpf_events_dropped_total", 6.0),
        ("netmon_kernel_conn_map_full_total", 7.0),
        ("netmon_kernel_forwarded_packets_skipped_total", 8.0),
        ("netmon_kernel_icmp_map_full_total", 9.0),
        ("netmon_kernel_payload_samples_total", 10.0),
        ("netmon_kernel_payload_samples_dropped_total", 11.0),
    ];
    for (name, expected) in expected {
        assert_eq!(value(&metrics, name, &[]), Some(expected), "{name}");
    }
}

#[test]
fn interface_counters_follow_the_kernel_and_disappear_with_the_interface() {
    let metrics = default_metrics();
    let eth0_in = [("interface", "eth0"), ("hook", "ingress")];
    let eth0_out = [("interface", "eth0"), ("hook", "egress")];
    metrics.set_interface_counters(&[
        ("eth0".into(), Hook::Ingress, 1000, 10),
        ("eth0".into(), Hook::Egress, 500, 5),
    ]);
    metrics.set_interface_counters(&[("eth0".into(), Hook::Ingress, 1500, 12)]);
    assert_eq!(
        value(&metrics, "netmon_interface_bytes_total", &eth0_in),
        Some(1500.0)
    );
    assert_eq!(
        value(&metrics, "netmon_interface_packets_total", &eth0_in),
        Some(12.0)
    );
    assert_eq!(
        value(&metrics, "netmon_interface_bytes_total", &eth0_out),
        Some(500.0)
    );

    metrics.remove_interface("eth0");
    assert_eq!(series_count(&metrics, "netmon_interface_bytes_total"), 0);
    assert_eq!(series_count(&metrics, "netmon_interface_packets_total"), 0);

    // Re-attached: its first reading counts in full again.
    metrics.set_interface_counters(&[("eth0".into(), Hook::Ingress, 40, 1)]);
    assert_eq!(
        value(&metrics, "netmon_interface_bytes_total", &eth0_in),
        Some(40.0)
    );
}

#[test]
fn tcp_events_are_counted_by_kind_and_latencies_observed() {
    let metrics = default_metrics();
    assert_eq!(
        value(
            &metrics,
            "netmon_tcp_events_total",
            &[("event", "timed_out")]
        ),
        Some(0.0),
        "every event kind exists from the start"
    );
    metrics.record_tcp_event(TcpEventKind::OpenedActive, None);
    metrics.record_tcp_event(TcpEventKind::EstablishedActive, Some(300_000));
    metrics.record_tcp_event(TcpEventKind::EstablishedActive, Some(2_000_000));
    assert_eq!(
        value(
            &metrics,
            "netmon_tcp_events_total",
            &[("event", "established_active")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &metrics,
            "netmon_tcp_events_total",
            &[("event", "opened_active")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&metrics, "netmon_tcp_connect_latency_seconds", &[]),
        Some(2.0)
    );
    let text = metrics.encode();
    assert!(
        text.contains("netmon_tcp_connect_latency_seconds_bucket{le=\"0.0005\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("netmon_tcp_connect_latency_seconds_bucket{le=\"0.0025\"} 2\n"),
        "{text}"
    );
}

#[test]
fn gauges_and_simple_counters_hold_what_they_were_given() {
    let metrics = default_metrics();
    metrics.set_flow_table_flows(12);
    metrics.set_flow_table_max_flows(65536);
    metrics.set_kernel_flow_map_entries(40);
    metrics.set_kernel_flow_map_capacity(131072);
    metrics.set_attached_interfaces(AttachMode::Tcx, 3);
    metrics.add_events_processed(7);
    metrics.add_events_queue_dropped(2);
    metrics.add_follow_lagged(4);
    metrics.observe_processing(Stage::Drain, Duration::from_micros(250));
    metrics.set_process(1 << 20, 12.5);
    assert_eq!(value(&metrics, "netmon_flow_table_flows", &[]), Some(12.0));
    assert_eq!(
        value(&metrics, "netmon_flow_table_max_flows", &[]),
        Some(65536.0)
    );
    assert_eq!(
        value(&metrics, "netmon_kernel_flow_map_entries", &[]),
        Some(40.0)
    );
    assert_eq!(
        value(&metrics, "netmon_kernel_flow_map_capacity", &[]),
        Some(131072.0)
    );
    assert_eq!(
        value(&metrics, "netmon_attached_interfaces", &[("mode", "tcx")]),
        Some(3.0)
    );
    assert_eq!(
        value(&metrics, "netmon_ebpf_events_processed_total", &[]),
        Some(7.0)
    );
    assert_eq!(
        value(&metrics, "netmon_ebpf_events_queue_dropped_total", &[]),
        Some(2.0)
    );
    assert_eq!(
        value(&metrics, "netmon_api_follow_lagged_events_total", &[]),
        Some(4.0)
    );
    assert_eq!(
        value(
            &metrics,
            "netmon_processing_duration_seconds",
            &[("stage", "drain")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&metrics, "netmon_memory_usage_bytes", &[]),
        Some(1048576.0)
    );
    assert_eq!(
        value(&metrics, "netmon_cpu_usage_percentage", &[]),
        Some(12.5)
    );
    assert_eq!(
        value(
            &metrics,
            "netmon_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
}

#[test]
fn kube_netc_metrics_are_absent_unless_enabled() {
    let metrics = default_metrics();
    let flow = record(1, Protocol::Tcp, "10.0.0.1", 40000, "10.0.0.2", 443);
    metrics.update_kube_netc(
        &[change(FlowChangeKind::Opened, &flow, (100, 1), (0, 0))],
        Duration::from_secs(1),
    );
    let text = metrics.encode();
    assert!(!text.contains("active_connections"));
    assert!(!text.contains("bytes_sent_per_second"));
}

#[test]
fn kube_netc_rates_are_per_connection_per_interval_and_go_away_when_it_closes() {
    let metrics = AgentMetrics::new(&MetricsOptions {
        kube_netc_compat: true,
        ..MetricsOptions::default()
    })
    .unwrap();
    let id = [("id", "10.0.0.1:40000-10.0.0.2:443")];
    let flow = record(1, Protocol::Tcp, "::ffff:10.0.0.1", 40000, "10.0.0.2", 443);
    let other = record(2, Protocol::Udp, "10.0.0.1", 53000, "10.0.0.53", 53);

    metrics.update_kube_netc(
        &[
            change(FlowChangeKind::Opened, &flow, (1000, 2), (0, 0)),
            change(FlowChangeKind::Updated, &flow, (1000, 2), (4000, 3)),
            change(FlowChangeKind::Opened, &other, (60, 1), (0, 0)),
        ],
        Duration::from_secs(2),
    );
    assert_eq!(value(&metrics, "active_connections", &[]), Some(2.0));
    assert_eq!(value(&metrics, "bytes_sent_per_second", &id), Some(1000.0));
    assert_eq!(value(&metrics, "bytes_recv_per_second", &id), Some(2000.0));

    // A quiet interval: still connected, no bytes.
    metrics.update_kube_netc(&[], Duration::from_secs(2));
    assert_eq!(value(&metrics, "bytes_sent_per_second", &id), Some(0.0));
    assert_eq!(value(&metrics, "active_connections", &[]), Some(2.0));

    metrics.update_kube_netc(
        &[change(
            FlowChangeKind::Closed,
            &ended(flow, FlowStatus::Closed, SECOND),
            (0, 0),
            (0, 0),
        )],
        Duration::from_secs(2),
    );
    assert_eq!(value(&metrics, "bytes_sent_per_second", &id), None);
    assert_eq!(value(&metrics, "bytes_recv_per_second", &id), None);
    assert_eq!(value(&metrics, "active_connections", &[]), Some(1.0));
    assert_eq!(series_count(&metrics, "bytes_sent_per_second"), 1);
}

#[test]
fn invalid_options_are_rejected_with_a_reason() {
    let error = |options: MetricsOptions| AgentMetrics::new(&options).err().unwrap().to_string();
    assert_eq!(
        error(MetricsOptions {
            connect_latency_buckets: vec![0.1, 0.1],
            ..MetricsOptions::default()
        }),
        "connect_latency_buckets: buckets must increase, but 0.1 is followed by 0.1"
    );
    assert_eq!(
        error(MetricsOptions {
            connect_latency_buckets: vec![],
            ..MetricsOptions::default()
        }),
        "connect_latency_buckets: at least one bucket is needed"
    );
    assert_eq!(
        error(MetricsOptions {
            connect_latency_buckets: vec![-1.0, 1.0],
            ..MetricsOptions::default()
        }),
        "connect_latency_buckets: -1 is not a positive number of seconds"
    );
    assert_eq!(
        error(MetricsOptions {
            flow_labels: vec![FlowLabel::DstPort, FlowLabel::DstPort],
            ..MetricsOptions::default()
        }),
        "flow_labels: \"dst_port\" is listed more than once"
    );
}

/// Every metric with at least one series, per-flow labels and kube-netc on.
fn populated_metrics() -> AgentMetrics {
    let metrics = AgentMetrics::new(&MetricsOptions {
        flow_labels: FlowLabel::ALL.to_vec(),
        kube_netc_compat: true,
        ..MetricsOptions::default()
    })
    .unwrap();
    let flow = record(1, Protocol::Tcp, "10.0.0.1", 40000, "fd00::2", 443);
    let changes = [
        change(FlowChangeKind::Opened, &flow, (100, 1), (0, 0)),
        change(
            FlowChangeKind::Closed,
            &ended(flow.clone(), FlowStatus::Closed, SECOND),
            (10, 1),
            (20, 1),
        ),
        change(
            FlowChangeKind::Evicted,
            &record(2, Protocol::Udp, "10.0.0.1", 5000, "10.0.0.3", 53),
            (1, 1),
            (0, 0),
        ),
    ];
    metrics.record_changes(&changes, egress);
    metrics.update_kube_netc(&changes[..1], Duration::from_secs(1));
    metrics.set_active_flows(&[(Protocol::Tcp, Direction::Egress, 1)]);
    metrics.record_tcp_event(TcpEventKind::EstablishedActive, Some(1_000_000));
    metrics.set_kernel_counters(&KernelCounters {
        events_sent: 3,
        ..KernelCounters::default()
    });
    metrics.add_events_processed(3);
    metrics.set_interface_counters(&[("eth0".into(), Hook::Ingress, 10, 1)]);
    metrics.set_attached_interfaces(AttachMode::Tc, 1);
    metrics.set_flow_table_flows(1);
    metrics.set_flow_table_max_flows(100);
    metrics.set_kernel_flow_map_entries(2);
    metrics.set_kernel_flow_map_capacity(1000);
    metrics.observe_processing(Stage::Merge, Duration::from_millis(1));
    metrics.set_process(1, 1.0);
    metrics.add_follow_lagged(1);
    metrics.set_k8s(&[K8sReading {
        resource: "pods",
        synced: true,
        objects: 3,
        errors: 1,
    }]);
    metrics.set_packet_sizes(&size_reading(&[(64, 2), (1514, 1)]));
    metrics.set_icmp_counts(&[IcmpCount {
        ip_version: 4,
        icmp_type: 8,
        code: 0,
        packets: 2,
    }]);
    metrics.app().record_dns(&crate::flow::DnsTransaction {
        name: "svc.test".into(),
        qtype: 1,
        rcode: Some(0),
        latency_ns: Some(400_000),
    });
    metrics
        .app()
        .record_classified(crate::l7::AppProtocol::Http);
    metrics.set_nat(&super::NatReading {
        up: true,
        translations: 2,
        dropped: 1,
        overflows: 1,
        malformed: 1,
    });
    metrics.start_port_scan_detection();
    metrics.record_security_event(crate::security::ScanKind::PortScan);
    metrics.set_port_scan_stats(&crate::security::DetectorStats {
        tracked_sources: 1,
        sources_evicted: 1,
        probes_evicted: 1,
    });
    metrics.observe_tcp_rtt([250]);
    metrics.set_kernel_rtt_map_full(1);
    metrics.loss().set_stats(&LossStats {
        retransmits: 2,
        ..LossStats::default()
    });
    metrics.start_config_reloads();
    metrics.record_config_reload(super::ConfigReload::Rejected);
    metrics.ipfix().start();
    metrics.ipfix().record_sent(2);
    metrics.ipfix().record_send_error(1);
    metrics
        .ipfix()
        .add_dropped(super::IpfixDropReason::TrackerFull, 1);
    metrics.ipfix().set_pending_flows(1);
    metrics.grpc_export().start();
    metrics
        .grpc_export()
        .record_batch(super::BatchResult::Accepted, Duration::from_millis(2));
    metrics.grpc_export().add_delivered(5);
    metrics
        .grpc_export()
        .add_dropped(super::ExportDropReason::BufferFull, 1);
    metrics.grpc_export().set_buffer_records(3);
    metrics
        .loss()
        .set_drop_totals(&[crate::source::loss::NamedDropTotal {
            reason: Arc::from("NETFILTER_DROP"),
            protocol: "udp",
            packets: 3,
        }]);
    // Custom programs register their own collector: one failed entry.
    metrics
        .scrape_only_registry()
        .register(Box::new(
            crate::programs::collector::ProgramCollector::with_failed_entry("broken"),
        ))
        .unwrap();
    metrics
}

#[test]
fn each_sockets_last_srtt_is_one_observation_in_the_configured_buckets() {
    let metrics = AgentMetrics::new(&MetricsOptions {
        connect_latency_buckets: vec![0.0001, 0.001, 0.01],
        ..MetricsOptions::default()
    })
    .unwrap();
    // Two drains: 80 µs and 900 µs, then 5 ms.
    metrics.observe_tcp_rtt([80, 900]);
    metrics.observe_tcp_rtt([5_000]);
    let text = metrics.encode();
    for line in [
        "netmon_tcp_rtt_seconds_bucket{le=\"0.0001\"} 1\n",
        "netmon_tcp_rtt_seconds_bucket{le=\"0.001\"} 2\n",
        "netmon_tcp_rtt_seconds_bucket{le=\"0.01\"} 3\n",
        "netmon_tcp_rtt_seconds_bucket{le=\"+Inf\"} 3\n",
        "netmon_tcp_rtt_seconds_count 3\n",
        "netmon_tcp_rtt_seconds_sum 0.00598\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
}

#[test]
fn the_rtt_map_full_counter_adds_the_kernels_increments_and_restarts_with_it() {
    let metrics = AgentMetrics::new(&MetricsOptions::default()).unwrap();
    for reading in [4, 4, 10, 3] {
        metrics.set_kernel_rtt_map_full(reading);
    }
    // 4, +0, +6, then a reload restarted the kernel's count at 3.
    assert_eq!(
        value(&metrics, "netmon_kernel_rtt_map_full_total", &[]),
        Some(13.0)
    );
}

/// A kernel reading of the size histogram with `packets` of `size` bytes
/// each in the bucket that size belongs to.
fn size_reading(sizes: &[(u64, u64)]) -> Vec<SizeBucketTotals> {
    let mut buckets =
        vec![SizeBucketTotals::default(); netmon_common::PACKET_SIZE_BUCKETS as usize];
    for (size, packets) in sizes {
        let index = netmon_common::PACKET_SIZE_BOUNDS
            .iter()
            .position(|bound| size <= bound)
            .unwrap_or(netmon_common::PACKET_SIZE_BOUNDS.len());
        buckets[index].packets += packets;
        buckets[index].bytes += size * packets;
    }
    buckets
}

#[test]
fn the_kernel_size_histogram_is_exported_cumulatively_with_count_and_sum() {
    let metrics = default_metrics();
    metrics.set_packet_sizes(&size_reading(&[(60, 3), (100, 1), (1514, 2), (20000, 1)]));
    let text = metrics.encode();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("netmon_packet_size_bytes"))
        .collect();
    assert_eq!(
        lines,
        [
            r#"netmon_packet_size_bytes_bucket{le="64"} 3"#,
            r#"netmon_packet_size_bytes_bucket{le="128"} 4"#,
            r#"netmon_packet_size_bytes_bucket{le="256"} 4"#,
            r#"netmon_packet_size_bytes_bucket{le="512"} 4"#,
            r#"netmon_packet_size_bytes_bucket{le="1024"} 4"#,
            r#"netmon_packet_size_bytes_bucket{le="1514"} 6"#,
            r#"netmon_packet_size_bytes_bucket{le="2048"} 6"#,
            r#"netmon_packet_size_bytes_bucket{le="4096"} 6"#,
            r#"netmon_packet_size_bytes_bucket{le="9018"} 6"#,
            r#"netmon_packet_size_bytes_bucket{le="+Inf"} 7"#,
            "netmon_packet_size_bytes_sum 23308",
            "netmon_packet_size_bytes_count 7",
        ]
    );
}

#[test]
fn icmp_readings_add_their_increments_and_a_reload_counts_in_full() {
    let metrics = default_metrics();
    let reading = |packets| IcmpCount {
        ip_version: 6,
        icmp_type: 128,
        code: 0,
        packets,
    };
    metrics.set_icmp_counts(&[reading(5)]);
    metrics.set_icmp_counts(&[reading(7)]);
    let labels = [("ip_version", "6"), ("type", "128"), ("code", "0")];
    assert_eq!(
        value(&metrics, "netmon_icmp_messages_total", &labels),
        Some(7.0)
    );
    metrics.set_icmp_counts(&[reading(2)]);
    assert_eq!(
        value(&metrics, "netmon_icmp_messages_total", &labels),
        Some(9.0)
    );
}

/// Metric names of the tables in docs/metrics.md (first column).
fn documented_metrics() -> std::collections::BTreeSet<String> {
    let docs = include_str!("../../../../../docs/metrics.md");
    docs.lines()
        .filter_map(|line| line.strip_prefix("| `netmon_"))
        .filter_map(|rest| rest.split('`').next())
        .map(|name| format!("netmon_{name}"))
        .collect()
}

#[test]
fn every_exported_metric_is_documented_and_every_documented_one_exported() {
    let metrics = populated_metrics();
    let exported: std::collections::BTreeSet<String> = metrics
        .registry()
        .gather()
        .iter()
        .chain(metrics.scrape_only_registry().gather().iter())
        .map(|family| family.name().to_owned())
        .filter(|name| name.starts_with("netmon_"))
        .collect();
    assert_eq!(exported, documented_metrics());
}

/// `promtool check metrics` on the populated registry: the text parses and
/// passes promtool's naming lint. Skipped (with a note) without promtool,
/// unless `NMTEST_REQUIRE_TOOLS=1`.
#[test]
fn the_encoded_registry_passes_promtool_check_metrics() {
    let text = populated_metrics().encode();
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) if std::env::var("NMTEST_REQUIRE_TOOLS").as_deref() != Ok("1") => {
            println!("skipped: promtool could not be run ({error}); set NMTEST_REQUIRE_TOOLS=1 to fail instead");
            return;
        }
        Err(error) => {
            panic!("promtool is required (NMTEST_REQUIRE_TOOLS=1) but could not be run: {error}")
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
        "promtool rejected the metrics:\nstdout: {}\nstderr: {}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

#[tokio::test]
async fn the_metrics_endpoint_refreshes_then_serves_the_text_format() {
    let metrics = Arc::new(default_metrics());
    let scrapes = Arc::new(AtomicU64::new(0));
    let hook_metrics = metrics.clone();
    let hook_scrapes = scrapes.clone();
    let on_scrape: ScrapeHook = Arc::new(move || {
        let n = hook_scrapes.fetch_add(1, Ordering::SeqCst) + 1;
        hook_metrics.set_flow_table_flows(n * 10);
    });
    let readiness = Readiness::new();
    let addr = start(metrics_router(metrics, readiness.clone(), on_scrape)).await;

    let response = get(addr, "/metrics").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4")
    );
    assert!(
        response.body.contains("netmon_flow_table_flows 10\n"),
        "{}",
        response.body
    );
    assert_eq!(scrapes.load(Ordering::SeqCst), 1);

    assert_eq!(get(addr, "/readyz").await.status, 503);
    readiness.set_ready();
    assert_eq!(get(addr, "/readyz").await.status, 200);
    assert_eq!(get(addr, "/healthz").await.body, "ok");
}

#[test]
fn context_labels_name_both_ends_and_expire_with_their_last_flow() {
    use crate::enrich::{EndpointIdentity, FlowIdentity, Workload};
    let metrics = AgentMetrics::new(&MetricsOptions {
        source_context: vec![ContextLabel::Namespace, ContextLabel::Workload],
        destination_context: vec![ContextLabel::Pod, ContextLabel::Ip],
        flow_series_retention: Duration::from_secs(300),
        ..MetricsOptions::default()
    })
    .unwrap();
    let identity = FlowIdentity {
        src: Arc::new(EndpointIdentity {
            namespace: Some("checkout".into()),
            workload: Some(Workload {
                kind: "Deployment".into(),
                name: "frontend".into(),
            }),
            pod: Some("frontend-1".into()),
            ..EndpointIdentity::default()
        }),
        dst: Arc::new(EndpointIdentity {
            namespace: Some("payments".into()),
            pod: Some("api-0".into()),
            ..EndpointIdentity::default()
        }),
    };
    let flow = record(1, Protocol::Tcp, "10.0.0.1", 40000, "10.0.0.2", 443);
    let context = |_: &FlowRecord| FlowContext {
        direction: Direction::Egress,
        identity: identity.clone(),
    };
    metrics.record_changes(
        &[
            change(FlowChangeKind::Opened, &flow, (100, 1), (0, 0)),
            change(
                FlowChangeKind::Closed,
                &ended(flow.clone(), FlowStatus::Refused, 10 * SECOND),
                (0, 0),
                (60, 1),
            ),
        ],
        context,
    );
    let labels = [
        ("protocol", "tcp"),
        ("direction", "egress"),
        ("source_namespace", "checkout"),
        ("source_workload", "frontend"),
        ("destination_pod", "api-0"),
        ("destination_ip", "10.0.0.2"),
    ];
    assert_eq!(value(&metrics, "netmon_bytes_total", &labels), Some(160.0));
    assert_eq!(value(&metrics, "netmon_packets_total", &labels), Some(2.0));
    assert_eq!(
        value(&metrics, "netmon_flows_opened_total", &labels),
        Some(1.0)
    );
    let mut refused = labels.to_vec();
    refused.push(("status", "refused"));
    assert_eq!(value(&metrics, "netmon_flows_total", &refused), Some(1.0));

    metrics.expire_flow_series(309 * SECOND);
    assert_eq!(value(&metrics, "netmon_bytes_total", &labels), Some(160.0));
    metrics.expire_flow_series(310 * SECOND);
    for name in [
        "netmon_bytes_total",
        "netmon_packets_total",
        "netmon_flows_opened_total",
        "netmon_flows_total",
    ] {
        assert_eq!(series_count(&metrics, name), 0, "{name}");
    }
}

#[test]
fn a_context_label_listed_twice_is_refused() {
    let error = AgentMetrics::new(&MetricsOptions {
        destination_context: vec![ContextLabel::Pod, ContextLabel::Pod],
        ..MetricsOptions::default()
    })
    .err()
    .unwrap();
    assert_eq!(
        error.to_string(),
        "destination_context: \"pod\" is listed more than once"
    );
}

#[test]
fn kubernetes_watch_readings_become_sync_status_objects_and_error_totals() {
    let metrics = default_metrics();
    let reading = |synced, objects, errors| K8sReading {
        resource: "pods",
        synced,
        objects,
        errors,
    };
    metrics.set_k8s(&[reading(false, 0, 2)]);
    metrics.set_k8s(&[reading(true, 12, 3)]);
    let pods = [("resource", "pods")];
    assert_eq!(value(&metrics, "netmon_k8s_sync_status", &pods), Some(1.0));
    assert_eq!(
        value(&metrics, "netmon_k8s_cached_objects", &pods),
        Some(12.0)
    );
    assert_eq!(
        value(&metrics, "netmon_k8s_watch_errors_total", &pods),
        Some(3.0)
    );
}

#[test]
fn nat_readings_become_gauges_and_counters_of_the_difference() {
    let metrics = default_metrics();
    let reading = |translations, dropped| super::NatReading {
        up: true,
        translations,
        dropped,
        overflows: 0,
        malformed: 0,
    };
    metrics.set_nat(&reading(5, 2));
    metrics.set_nat(&reading(3, 7));
    let text = metrics.encode();
    for line in [
        "netmon_nat_up 1\n",
        "netmon_nat_translations 3\n",
        "netmon_nat_translations_dropped_total 7\n",
        "netmon_nat_event_overflows_total 0\n",
    ] {
        assert!(text.contains(line), "{line}in\n{text}");
    }
}

#[test]
fn security_series_exist_only_once_detection_starts_and_count_each_event() {
    use crate::security::ScanKind;
    let metrics = default_metrics();
    assert_eq!(series_count(&metrics, "netmon_security_events_total"), 0);
    metrics.start_port_scan_detection();
    for kind in ["port_scan", "host_scan"] {
        assert_eq!(
            value(&metrics, "netmon_security_events_total", &[("type", kind)]),
            Some(0.0)
        );
    }
    metrics.record_security_event(ScanKind::PortScan);
    metrics.record_security_event(ScanKind::HostScan);
    metrics.record_security_event(ScanKind::PortScan);
    assert_eq!(
        value(
            &metrics,
            "netmon_security_events_total",
            &[("type", "port_scan")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &metrics,
            "netmon_security_events_total",
            &[("type", "host_scan")]
        ),
        Some(1.0)
    );
}

#[test]
fn detector_readings_are_cumulative_and_only_their_increase_is_added() {
    use crate::security::DetectorStats;
    let metrics = default_metrics();
    metrics.start_port_scan_detection();
    for (sources, evicted_sources, evicted_probes) in [(4, 1, 10), (2, 1, 25), (3, 5, 25)] {
        metrics.set_port_scan_stats(&DetectorStats {
            tracked_sources: sources,
            sources_evicted: evicted_sources,
            probes_evicted: evicted_probes,
        });
    }
    assert_eq!(
        value(&metrics, "netmon_port_scan_tracked_sources", &[]),
        Some(3.0)
    );
    let evictions = |reason| {
        value(
            &metrics,
            "netmon_port_scan_evictions_total",
            &[("reason", reason)],
        )
    };
    assert_eq!(evictions("max_sources"), Some(5.0));
    assert_eq!(evictions("probe_budget"), Some(25.0));
}
