//! Flow changes to interval records: the fields of a record, and that the
//! records of a flow add up to exactly what its changes added.

use std::net::IpAddr;
use std::sync::Arc;

use netmon_proto::flows::v1 as proto;

use super::records::{Interval, IntervalRecords};
use crate::enrich::{EndpointIdentity, FlowIdentity, ServiceName, Workload};
use crate::export::prometheus::FlowContext;
use crate::flow::{
    ConnectionKey, Counters, Direction, Endpoint, FlowChange, FlowChangeKind, FlowRecord,
    FlowStatus, Protocol, RttSocket, RttStats,
};

const START: u64 = 1_733_240_000_000_000_000;

fn interval(n: u64) -> Interval {
    Interval {
        start_unix_ns: START + n * 10_000_000_000,
        seconds: 10,
    }
}

fn flow(id: u64, client: &str, client_port: u16, server: &str, server_port: u16) -> FlowRecord {
    let end = |ip: &str, port| Endpoint {
        ip: ip.parse::<IpAddr>().unwrap(),
        port,
    };
    let mut record = FlowRecord::new(
        ConnectionKey {
            protocol: Protocol::Tcp,
            initiator: end(client, client_port),
            responder: end(server, server_port),
        },
        START,
        START,
        3,
        START,
    );
    record.id = id;
    record
}

/// A change adding `tx` and `rx` to `record`; the snapshot includes them.
fn change(kind: FlowChangeKind, record: &FlowRecord, tx: (u64, u64), rx: (u64, u64)) -> FlowChange {
    let counters = |(bytes, packets)| Counters { bytes, packets };
    let add = |a: Counters, b: Counters| Counters {
        bytes: a.bytes + b.bytes,
        packets: a.packets + b.packets,
    };
    let mut snapshot = record.clone();
    snapshot.tx = add(snapshot.tx, counters(tx));
    snapshot.rx = add(snapshot.rx, counters(rx));
    FlowChange {
        kind,
        added_tx: counters(tx),
        added_rx: counters(rx),
        record: snapshot,
    }
}

fn forwarded() -> FlowContext {
    FlowContext::from(Direction::Forwarded)
}

fn counters(record: &proto::FlowRecord) -> (u64, u64, u64, u64) {
    (
        record.tx_bytes,
        record.tx_packets,
        record.rx_bytes,
        record.rx_packets,
    )
}

#[test]
fn a_flow_of_one_interval_is_one_record_with_every_field_of_the_schema() {
    let mut records = IntervalRecords::new("node-a", 10);
    let mut record = flow(7, "10.0.1.2", 40000, "10.0.2.3", 443);
    record.connect_latency_ns = crate::flow::OptionalNanos::some(1_250_000);
    record.extras_mut().retransmits = 2;
    record.extras_mut().rtt = Some(RttStats {
        socket: RttSocket::Initiator,
        min_us: 80,
        max_us: 400,
        last_us: 120,
        sum_us: 600,
        samples: 3,
    });
    let identity = FlowIdentity {
        src: Arc::new(EndpointIdentity {
            pod: Some("frontend-7d9f".into()),
            namespace: Some("shop".into()),
            workload: Some(Workload {
                kind: "Deployment".into(),
                name: "frontend".into(),
            }),
            node: Some("node-a".into()),
            ..EndpointIdentity::default()
        }),
        dst: Arc::new(EndpointIdentity {
            namespace: Some("shop".into()),
            service: Some(ServiceName {
                namespace: "shop".into(),
                name: "payments".into(),
            }),
            ..EndpointIdentity::default()
        }),
    };
    records.observe(
        &change(FlowChangeKind::Opened, &record, (74, 1), (0, 0)),
        FlowContext {
            direction: Direction::Egress,
            identity: identity.clone(),
        },
    );
    record.status = FlowStatus::Closed;
    records.observe(
        &change(FlowChangeKind::Closed, &record, (1000, 5), (3000, 4)),
        FlowContext {
            direction: Direction::Egress,
            identity,
        },
    );

    let taken = records.take(interval(0));
    let expected = proto::FlowRecord {
        interval_start_unix_ns: START,
        interval_seconds: 10,
        node: "node-a".into(),
        direction: proto::Direction::Egress as i32,
        protocol: 6,
        status: proto::FlowStatus::Closed as i32,
        ip_version: 4,
        src: Some(proto::Endpoint {
            ip: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 1, 2],
            port: 40000,
            pod: "frontend-7d9f".into(),
            namespace: "shop".into(),
            workload: "frontend".into(),
            service: String::new(),
            node: "node-a".into(),
        }),
        dst: Some(proto::Endpoint {
            ip: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 2, 3],
            port: 443,
            pod: String::new(),
            namespace: "shop".into(),
            workload: String::new(),
            service: "payments".into(),
            node: String::new(),
        }),
        tx_bytes: 1074,
        tx_packets: 6,
        rx_bytes: 3000,
        rx_packets: 4,
        connect_latency_us: 1250,
        rtt_us: 120,
        retransmits: 2,
    };
    assert_eq!(taken, [expected]);
}

#[test]
fn ipv6_ends_are_their_16_bytes_and_the_record_says_version_6() {
    let mut records = IntervalRecords::new("node-a", 10);
    let record = flow(1, "fd00::1", 5000, "fd00::2", 53);
    records.observe(
        &change(FlowChangeKind::Opened, &record, (80, 1), (120, 1)),
        forwarded(),
    );
    let taken = records.take(interval(0));
    assert_eq!(taken[0].ip_version, 6);
    let mut expected_src = vec![0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    expected_src[15] = 1;
    assert_eq!(taken[0].src.as_ref().unwrap().ip, expected_src);
    assert_eq!(taken[0].direction, proto::Direction::Forwarded as i32);
}

#[test]
fn each_interval_carries_only_what_was_added_in_it_and_the_sum_is_the_flows_counters() {
    let mut records = IntervalRecords::new("node-a", 10);
    let record = flow(1, "10.0.1.2", 40000, "10.0.2.3", 80);
    let additions = [
        [(100, 1), (0, 0)],
        [(1500, 2), (600, 1)],
        [(0, 0), (9000, 6)],
    ];
    let mut taken = Vec::new();
    for (n, [tx, rx]) in additions.into_iter().enumerate() {
        records.observe(
            &change(FlowChangeKind::Updated, &record, tx, rx),
            forwarded(),
        );
        taken.extend(records.take(interval(n as u64)));
    }
    let per_interval: Vec<(u64, (u64, u64, u64, u64))> = taken
        .iter()
        .map(|r| (r.interval_start_unix_ns, counters(r)))
        .collect();
    assert_eq!(
        per_interval,
        [
            (START, (100, 1, 0, 0)),
            (START + 10_000_000_000, (1500, 2, 600, 1)),
            (START + 20_000_000_000, (0, 0, 9000, 6)),
        ]
    );
}

#[test]
fn a_flow_that_gained_nothing_in_an_interval_has_no_record_for_it() {
    let mut records = IntervalRecords::new("node-a", 10);
    let record = flow(1, "10.0.1.2", 40000, "10.0.2.3", 80);
    records.observe(
        &change(FlowChangeKind::Opened, &record, (100, 1), (0, 0)),
        forwarded(),
    );
    assert_eq!(records.take(interval(0)).len(), 1);
    // An RTT update carries no counters.
    records.observe(
        &change(FlowChangeKind::Updated, &record, (0, 0), (0, 0)),
        forwarded(),
    );
    assert_eq!(records.take(interval(1)), []);
}

#[test]
fn an_ended_flow_is_reported_with_its_status_even_without_new_counters() {
    let mut records = IntervalRecords::new("node-a", 10);
    let mut record = flow(1, "10.0.1.2", 40000, "10.0.2.3", 80);
    records.observe(
        &change(FlowChangeKind::Opened, &record, (100, 1), (50, 1)),
        forwarded(),
    );
    records.take(interval(0));
    record.tx = Counters {
        bytes: 100,
        packets: 1,
    };
    record.rx = Counters {
        bytes: 50,
        packets: 1,
    };
    record.status = FlowStatus::Timeout;
    records.observe(
        &change(FlowChangeKind::Closed, &record, (0, 0), (0, 0)),
        forwarded(),
    );
    let taken = records.take(interval(1));
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].status, proto::FlowStatus::Timeout as i32);
    assert_eq!(counters(&taken[0]), (0, 0, 0, 0));
}

#[test]
fn retransmissions_are_reported_as_the_increase_of_the_flows_total() {
    let mut records = IntervalRecords::new("node-a", 10);
    let mut record = flow(1, "10.0.1.2", 40000, "10.0.2.3", 80);
    let mut reported = Vec::new();
    for total in [3, 3, 7] {
        record.extras_mut().retransmits = total;
        records.observe(
            &change(FlowChangeKind::Updated, &record, (10, 1), (0, 0)),
            forwarded(),
        );
        reported.extend(records.take(interval(0)).iter().map(|r| r.retransmits));
    }
    assert_eq!(reported, [3, 0, 4]);
}

#[test]
fn records_come_out_in_the_order_the_flows_opened() {
    let mut records = IntervalRecords::new("node-a", 10);
    for id in [9, 2, 5] {
        let record = flow(id, "10.0.1.2", 40000 + id as u16, "10.0.2.3", 80);
        records.observe(
            &change(FlowChangeKind::Opened, &record, (id, 1), (0, 0)),
            forwarded(),
        );
    }
    let ports: Vec<u32> = records
        .take(interval(0))
        .iter()
        .map(|r| r.src.as_ref().unwrap().port)
        .collect();
    assert_eq!(ports, [40002, 40005, 40009]);
}

#[test]
fn a_quiet_flow_is_forgotten_after_forget_after_intervals_and_an_evicted_one_at_once() {
    let mut records = IntervalRecords::new("node-a", 2);
    let quiet = flow(1, "10.0.1.2", 40000, "10.0.2.3", 80);
    let mut evicted = flow(2, "10.0.1.2", 40001, "10.0.2.3", 80);
    records.observe(
        &change(FlowChangeKind::Opened, &quiet, (10, 1), (0, 0)),
        forwarded(),
    );
    records.observe(
        &change(FlowChangeKind::Opened, &evicted, (10, 1), (0, 0)),
        forwarded(),
    );
    evicted.tx = Counters {
        bytes: 10,
        packets: 1,
    };
    records.observe(
        &change(FlowChangeKind::Evicted, &evicted, (0, 0), (0, 0)),
        forwarded(),
    );
    let remembered: Vec<usize> = (0..4)
        .map(|n| {
            records.take(interval(n));
            records.len()
        })
        .collect();
    assert_eq!(remembered, [1, 1, 0, 0]);
}

#[test]
fn every_byte_of_many_changes_lands_in_exactly_one_record() {
    let mut records = IntervalRecords::new("node-a", 1_000);
    let flows: Vec<FlowRecord> = (1..=20)
        .map(|id| flow(id, "10.0.1.2", 30000 + id as u16, "10.0.2.3", 80))
        .collect();
    let mut expected = (0u64, 0u64, 0u64, 0u64);
    let mut exported = (0u64, 0u64, 0u64, 0u64);
    for step in 0..500u64 {
        let record = &flows[(step * 7 % 20) as usize];
        let tx = (step * 13 % 1500, 1 + step % 3);
        let rx = (step * 31 % 9000, step % 5);
        expected.0 += tx.0;
        expected.1 += tx.1;
        expected.2 += rx.0;
        expected.3 += rx.1;
        records.observe(
            &change(FlowChangeKind::Updated, record, tx, rx),
            forwarded(),
        );
        if step % 37 == 0 {
            for r in records.take(interval(step)) {
                exported.0 += r.tx_bytes;
                exported.1 += r.tx_packets;
                exported.2 += r.rx_bytes;
                exported.3 += r.rx_packets;
            }
        }
    }
    for r in records.take(interval(500)) {
        exported.0 += r.tx_bytes;
        exported.1 += r.tx_packets;
        exported.2 += r.rx_bytes;
        exported.3 += r.rx_packets;
    }
    assert_eq!(exported, expected);
}

#[test]
fn a_connection_the_data_path_never_counted_is_never_reported() {
    let mut records = IntervalRecords::new("node-a", 10);
    // Known from socket events only: opened, retransmitting, closed.
    let mut record = flow(1, "127.0.0.1", 40000, "127.0.0.1", 9095);
    records.observe(
        &change(FlowChangeKind::Opened, &record, (0, 0), (0, 0)),
        forwarded(),
    );
    record.extras_mut().retransmits = 1;
    record.status = FlowStatus::Closed;
    records.observe(
        &change(FlowChangeKind::Closed, &record, (0, 0), (0, 0)),
        forwarded(),
    );
    assert_eq!(records.take(interval(0)), []);
    assert!(records.is_empty());
}
