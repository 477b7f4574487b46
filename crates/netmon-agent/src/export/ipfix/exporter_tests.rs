//! The exporter task against a UDP socket standing in for the collector.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::decode::{DecodedMessage, Decoder};
use super::record::EndReason;
use super::{start, IpfixFeed};
use crate::config::Config;
use crate::export::prometheus::{AgentMetrics, MetricsOptions};
use crate::flow::{
    ConnectionKey, Counters, Direction, Endpoint, FlowChange, FlowChangeKind, FlowRecord,
    FlowStatus, Protocol,
};

fn config(collector: SocketAddr) -> Config {
    let mut config = Config::default();
    config.export.ipfix.enabled = true;
    config.export.ipfix.collector = collector.to_string();
    config.export.ipfix.observation_domain_id = 9;
    config
}

/// A UDP flow from 10.1.0.1:`port` to 10.1.0.2:53 with `bytes` in one
/// packet each way, ended or still active.
fn change(id: u64, port: u16, bytes: u64, ended: bool) -> FlowChange {
    let key = ConnectionKey {
        protocol: Protocol::Udp,
        initiator: Endpoint {
            ip: "10.1.0.1".parse().unwrap(),
            port,
        },
        responder: Endpoint {
            ip: "10.1.0.2".parse().unwrap(),
            port: 53,
        },
    };
    let now = 1_700_000_000_000_000_000;
    let mut record = FlowRecord::new(key, now, now, 1, now);
    record.id = id;
    let counters = Counters { bytes, packets: 1 };
    record.tx = counters;
    record.rx = counters;
    if ended {
        record.status = FlowStatus::Closed;
        record.ended_at = crate::flow::OptionalNanos::some(now + 60_000_000_000);
    }
    FlowChange {
        kind: if ended {
            FlowChangeKind::Closed
        } else {
            FlowChangeKind::Opened
        },
        added_tx: counters,
        added_rx: counters,
        record,
    }
}

fn observe(feed: &IpfixFeed, metrics: &AgentMetrics, changes: &[FlowChange]) {
    feed.observe(changes, metrics, |_| Direction::Egress);
}

/// The value of an unlabelled series, or of `name{reason="..."}`.
fn metric(metrics: &AgentMetrics, series: &str) -> u64 {
    metrics
        .encode()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} not in:\n{}", metrics.encode()))
}

async fn receive(collector: &UdpSocket, decoder: &mut Decoder) -> DecodedMessage {
    let mut buffer = vec![0u8; 65_536];
    let length = tokio::time::timeout(Duration::from_secs(5), collector.recv(&mut buffer))
        .await
        .expect("a message within 5 s")
        .expect("receive");
    decoder.decode(&buffer[..length]).expect("a valid message")
}

#[tokio::test]
async fn ended_flows_go_out_at_the_next_tick_with_the_templates_and_active_ones_at_stop() {
    let collector = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let metrics = Arc::new(AgentMetrics::new(&MetricsOptions::default()).unwrap());
    let export = start(&config(collector.local_addr().unwrap()), metrics.clone())
        .unwrap()
        .expect("enabled");
    observe(&export.feed, &metrics, &[change(1, 5000, 100, true)]);
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(export.exporter.run(stopped));

    let mut decoder = Decoder::default();
    let first = receive(&collector, &mut decoder).await;
    assert_eq!(first.templates, [256, 257, 258, 259]);
    assert_eq!(first.observation_domain_id, 9);
    assert_eq!(first.sequence_number, 0);
    let exported: Vec<(u16, u16, u64, EndReason)> = first
        .records
        .iter()
        .map(|(_, r)| (r.source_port, r.destination_port, r.octets, r.end_reason))
        .collect();
    assert_eq!(
        exported,
        [
            (5000, 53, 100, EndReason::IdleTimeout),
            (53, 5000, 100, EndReason::IdleTimeout)
        ]
    );

    observe(&export.feed, &metrics, &[change(2, 5001, 7, false)]);
    stop.send(true).unwrap();
    let last = receive(&collector, &mut decoder).await;
    assert!(last.templates.is_empty(), "templates are not due again");
    assert_eq!(last.sequence_number, 2);
    let reasons: Vec<EndReason> = last.records.iter().map(|(_, r)| r.end_reason).collect();
    assert_eq!(reasons, [EndReason::ForcedEnd, EndReason::ForcedEnd]);
    task.await.unwrap();

    assert_eq!(metric(&metrics, "netmon_ipfix_messages_sent_total"), 2);
    assert_eq!(metric(&metrics, "netmon_ipfix_records_sent_total"), 4);
    assert_eq!(metric(&metrics, "netmon_ipfix_send_errors_total"), 0);
}

#[tokio::test]
async fn a_refusing_collector_costs_counted_records_and_the_templates_are_sent_again() {
    let collector = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = collector.local_addr().unwrap();
    let metrics = Arc::new(AgentMetrics::new(&MetricsOptions::default()).unwrap());
    let export = start(&config(address), metrics.clone())
        .unwrap()
        .expect("enabled");
    let feed = export.feed.clone();
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(export.exporter.run(stopped));
    let mut decoder = Decoder::default();
    assert_eq!(receive(&collector, &mut decoder).await.templates.len(), 4);

    // The collector goes away: the kernel answers the next message with
    // ICMP port unreachable, and the send after it fails.
    drop(collector);
    let mut id = 1;
    while metric(&metrics, "netmon_ipfix_send_errors_total") == 0 {
        observe(&feed, &metrics, &[change(id, 6000, 10, true)]);
        id += 1;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(id < 10, "no send error after {id} messages");
    }
    assert_eq!(
        metric(
            &metrics,
            "netmon_ipfix_dropped_records_total{reason=\"send_failed\"}"
        ),
        2
    );

    // Back on the same port: the next message starts with the templates.
    let collector = UdpSocket::bind(address).await.unwrap();
    observe(&feed, &metrics, &[change(100, 6001, 10, true)]);
    let message = receive(&collector, &mut decoder).await;
    assert_eq!(message.templates.len(), 4);
    assert_eq!(message.records.len(), 2);
    stop.send(true).unwrap();
    task.await.unwrap();
}
