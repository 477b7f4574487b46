//! The tracker: every counter exported once, per direction, at the time
//! its flow's state says.

use std::time::Duration;

use super::record::{EndReason, FlowDirection, IpfixRecord};
use super::tracker::FlowTracker;
use crate::flow::{
    tcp_flags, ConnectionKey, Counters, Direction, Endpoint, FlowChange, FlowChangeKind,
    FlowRecord, FlowStatus, Protocol,
};

const SECOND: u64 = 1_000_000_000;
/// 2023-11-14T22:13:20Z, in nanoseconds.
const T0: u64 = 1_700_000_000 * SECOND;
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(60);

fn counters(bytes: u64, packets: u64) -> Counters {
    Counters { bytes, packets }
}

/// A TCP flow 10.0.0.1:40000 → 10.0.0.2:80 first seen at `T0`.
fn flow(id: u64, protocol: Protocol) -> FlowRecord {
    let key = ConnectionKey {
        protocol,
        initiator: Endpoint {
            ip: "10.0.0.1".parse().unwrap(),
            port: 40000,
        },
        responder: Endpoint {
            ip: "10.0.0.2".parse().unwrap(),
            port: 80,
        },
    };
    let mut record = FlowRecord::new(key, T0, T0, 2, T0);
    record.id = id;
    record
}

/// Adds counters to `record` as one table operation at `now` whose last
/// packet was at `now`, and returns the change it reports.
fn count(
    record: &mut FlowRecord,
    kind: FlowChangeKind,
    tx: (u64, u64),
    rx: (u64, u64),
    now: u64,
) -> FlowChange {
    let (added_tx, added_rx) = (counters(tx.0, tx.1), counters(rx.0, rx.1));
    record.tx.bytes += added_tx.bytes;
    record.tx.packets += added_tx.packets;
    record.rx.bytes += added_rx.bytes;
    record.rx.packets += added_rx.packets;
    record.last_seen = now;
    record.updated_at = now;
    FlowChange {
        kind,
        added_tx,
        added_rx,
        record: record.clone(),
    }
}

fn end(record: &mut FlowRecord, status: FlowStatus, ended_at: u64) {
    record.status = status;
    record.ended_at = crate::flow::OptionalNanos::some(ended_at);
}

fn totals(records: &[IpfixRecord]) -> Vec<(u64, u64)> {
    records.iter().map(|r| (r.octets, r.packets)).collect()
}

#[test]
fn a_closed_flow_is_two_records_one_per_direction_summing_its_changes() {
    let mut tracker = FlowTracker::new(ACTIVE_TIMEOUT, 100);
    let mut record = flow(1, Protocol::Tcp);
    record.tx_tcp_flags = tcp_flags::SYN | tcp_flags::ACK | tcp_flags::FIN | tcp_flags::SYN_ONLY;
    record.rx_tcp_flags = tcp_flags::SYN | tcp_flags::ACK | tcp_flags::FIN | tcp_flags::SYN_ACK;
    let egress = Direction::Egress;
    tracker.observe(
        &count(&mut record, FlowChangeKind::Opened, (100, 1), (0, 0), T0),
        egress,
    );
    tracker.observe(
        &count(
            &mut record,
            FlowChangeKind::Updated,
            (50, 1),
            (200, 2),
            T0 + SECOND,
        ),
        egress,
    );
    assert!(
        tracker.take_due(T0 + SECOND).is_empty(),
        "active and not due"
    );
    end(&mut record, FlowStatus::Closed, T0 + 2 * SECOND);
    tracker.observe(
        &count(
            &mut record,
            FlowChangeKind::Closed,
            (10, 1),
            (20, 1),
            T0 + 2 * SECOND,
        ),
        egress,
    );

    let records = tracker.take_due(T0 + 2 * SECOND);
    assert_eq!(totals(&records), [(160, 3), (220, 3)]);
    let (forward, reverse) = (&records[0], &records[1]);
    assert_eq!(
        (
            forward.source,
            forward.source_port,
            forward.destination,
            forward.destination_port
        ),
        (
            "10.0.0.1".parse().unwrap(),
            40000,
            "10.0.0.2".parse().unwrap(),
            80
        )
    );
    assert_eq!(
        (
            reverse.source,
            reverse.source_port,
            reverse.destination,
            reverse.destination_port
        ),
        (
            "10.0.0.2".parse().unwrap(),
            80,
            "10.0.0.1".parse().unwrap(),
            40000
        )
    );
    // The kernel's own SYN_ONLY / SYN_ACK bits are not TCP header bits.
    assert_eq!((forward.tcp_flags, reverse.tcp_flags), (0x13, 0x13));
    assert_eq!(forward.direction, Some(FlowDirection::Egress));
    assert_eq!(reverse.direction, Some(FlowDirection::Ingress));
    for r in &records {
        assert_eq!(r.protocol, 6);
        assert_eq!(
            (r.start_ms, r.end_ms),
            (T0 / 1_000_000, T0 / 1_000_000 + 2000)
        );
        assert_eq!(r.end_reason, EndReason::EndOfFlow);
    }
    assert!(tracker.is_empty());
    assert!(
        tracker.take_due(T0 + 100 * SECOND).is_empty(),
        "exported once"
    );
}

#[test]
fn an_active_flow_is_exported_when_its_active_timeout_passes_then_starts_a_new_window() {
    let mut tracker = FlowTracker::new(ACTIVE_TIMEOUT, 100);
    let mut record = flow(1, Protocol::Udp);
    let ingress = Direction::Ingress;
    tracker.observe(
        &count(&mut record, FlowChangeKind::Opened, (10, 1), (20, 1), T0),
        ingress,
    );
    tracker.observe(
        &count(
            &mut record,
            FlowChangeKind::Updated,
            (10, 1),
            (0, 0),
            T0 + 30 * SECOND,
        ),
        ingress,
    );
    assert!(tracker.take_due(T0 + 59 * SECOND).is_empty());
    let first = tracker.take_due(T0 + 60 * SECOND);
    assert_eq!(totals(&first), [(20, 2), (20, 1)]);
    assert!(first
        .iter()
        .all(|r| r.end_reason == EndReason::ActiveTimeout));
    assert!(first.iter().all(|r| r.tcp_flags == 0), "UDP has no flags");
    assert_eq!(first[0].direction, Some(FlowDirection::Ingress));
    assert_eq!(first[1].direction, Some(FlowDirection::Egress));
    assert_eq!(
        (first[0].start_ms, first[0].end_ms),
        (T0 / 1_000_000, T0 / 1_000_000 + 30_000)
    );

    // Counters after the export open the next window, at that drain.
    let later = T0 + 70 * SECOND;
    tracker.observe(
        &count(&mut record, FlowChangeKind::Updated, (5, 1), (0, 0), later),
        ingress,
    );
    assert!(tracker.take_due(later + 59 * SECOND).is_empty());
    let second = tracker.take_due(later + 60 * SECOND);
    assert_eq!(totals(&second), [(5, 1)], "only the direction with packets");
    assert_eq!(
        (second[0].start_ms, second[0].end_ms),
        (later / 1_000_000, later / 1_000_000)
    );
}

#[test]
fn counters_after_the_end_are_exported_at_the_next_look() {
    let mut tracker = FlowTracker::new(ACTIVE_TIMEOUT, 100);
    let mut record = flow(1, Protocol::Tcp);
    let forwarded = Direction::Forwarded;
    tracker.observe(
        &count(&mut record, FlowChangeKind::Opened, (100, 2), (100, 2), T0),
        forwarded,
    );
    end(&mut record, FlowStatus::Closed, T0);
    tracker.observe(
        &count(&mut record, FlowChangeKind::Closed, (0, 0), (0, 0), T0),
        forwarded,
    );
    assert_eq!(totals(&tracker.take_due(T0)), [(100, 2), (100, 2)]);
    // The last ACK, counted by the next drain.
    let late = count(
        &mut record,
        FlowChangeKind::Updated,
        (66, 1),
        (0, 0),
        T0 + SECOND,
    );
    tracker.observe(&late, forwarded);
    let records = tracker.take_due(T0 + SECOND);
    assert_eq!(totals(&records), [(66, 1)]);
    assert_eq!(records[0].end_reason, EndReason::EndOfFlow);
    assert_eq!(
        records[0].direction, None,
        "a forwarded flow has no direction"
    );
}

#[test]
fn the_end_reason_follows_how_the_flow_ended() {
    let cases = [
        (FlowStatus::Closed, 0, EndReason::EndOfFlow),
        // Idled out: ended flow_timeout after the last packet.
        (FlowStatus::Closed, 60 * SECOND, EndReason::IdleTimeout),
        (FlowStatus::Timeout, 60 * SECOND, EndReason::IdleTimeout),
        (FlowStatus::Reset, 0, EndReason::EndOfFlow),
        (FlowStatus::Refused, 0, EndReason::EndOfFlow),
    ];
    for (status, idle, expected) in cases {
        let mut tracker = FlowTracker::new(ACTIVE_TIMEOUT, 100);
        let mut record = flow(1, Protocol::Tcp);
        end(&mut record, status, T0 + idle);
        let change = count(&mut record, FlowChangeKind::Closed, (1, 1), (0, 0), T0);
        tracker.observe(&change, Direction::Egress);
        let records = tracker.take_due(T0);
        assert_eq!(
            records[0].end_reason, expected,
            "{status:?} after {idle} ns"
        );
    }
}

#[test]
fn an_evicted_flow_exports_what_it_had_for_lack_of_resources() {
    let mut tracker = FlowTracker::new(ACTIVE_TIMEOUT, 100);
    let mut record = flow(1, Protocol::Udp);
    tracker.observe(
        &count(&mut record, FlowChangeKind::Opened, (7, 1), (0, 0), T0),
        Direction::Egress,
    );
    tracker.observe(
        &count(&mut record, FlowChangeKind::Evicted, (0, 0), (0, 0), T0),
        Direction::Egress,
    );
    let records = tracker.take_due(T0);
    assert_eq!(totals(&records), [(7, 1)]);
    assert_eq!(records[0].end_reason, EndReason::LackOfResources);
}

#[test]
fn an_end_with_nothing_unexported_sends_nothing() {
    let mut tracker = FlowTracker::new(ACTIVE_TIMEOUT, 100);
    let mut record = flow(1, Protocol::Tcp);
    end(&mut record, FlowStatus::Closed, T0);
    tracker.observe(
        &count(&mut record, FlowChangeKind::Closed, (0, 0), (0, 0), T0),
        Direction::Egress,
    );
    assert!(tracker.take_due(T0).is_empty());
    assert!(tracker.is_empty());
}

#[test]
fn a_full_tracker_counts_the_records_it_could_not_take() {
    let mut tracker = FlowTracker::new(ACTIVE_TIMEOUT, 1);
    let mut first = flow(1, Protocol::Udp);
    let mut second = flow(2, Protocol::Udp);
    let opened = |r: &mut FlowRecord| count(r, FlowChangeKind::Opened, (1, 1), (1, 1), T0);
    assert_eq!(tracker.observe(&opened(&mut first), Direction::Egress), 0);
    assert_eq!(tracker.observe(&opened(&mut second), Direction::Egress), 2);
    // The flow already held keeps counting.
    let more = count(&mut first, FlowChangeKind::Updated, (1, 1), (0, 0), T0);
    assert_eq!(tracker.observe(&more, Direction::Egress), 0);
    assert_eq!(totals(&tracker.take_all()), [(2, 2), (1, 1)]);
}

#[test]
fn the_final_round_takes_every_flow_active_ones_as_a_forced_end() {
    let mut tracker = FlowTracker::new(ACTIVE_TIMEOUT, 100);
    let mut active = flow(1, Protocol::Udp);
    let mut closed = flow(2, Protocol::Tcp);
    tracker.observe(
        &count(&mut active, FlowChangeKind::Opened, (3, 1), (0, 0), T0),
        Direction::Egress,
    );
    tracker.observe(
        &count(&mut closed, FlowChangeKind::Opened, (4, 1), (0, 0), T0),
        Direction::Egress,
    );
    end(&mut closed, FlowStatus::Reset, T0);
    tracker.observe(
        &count(&mut closed, FlowChangeKind::Closed, (0, 0), (0, 0), T0),
        Direction::Egress,
    );
    let records = tracker.take_all();
    let reasons: Vec<(u64, EndReason)> = records.iter().map(|r| (r.octets, r.end_reason)).collect();
    assert_eq!(
        reasons,
        [(3, EndReason::ForcedEnd), (4, EndReason::EndOfFlow)]
    );
    assert!(tracker.is_empty());
}
