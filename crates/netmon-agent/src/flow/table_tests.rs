use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::flow::model::{tcp_flags::*, DirectionalKey};
use crate::flow::nat::{NatBinding, NatTable};
use crate::flow::rtt::RttStats;

const SEC: u64 = 1_000_000_000;
const TIMEOUT_S: u64 = 30;
const RETENTION_S: u64 = 60;

fn ep(host: u8, port: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)),
        port,
    }
}

fn client() -> Endpoint {
    ep(1, 40_000)
}

fn server() -> Endpoint {
    ep(2, 80)
}

fn config(max_flows: usize) -> FlowTableConfig {
    FlowTableConfig {
        max_flows,
        flow_timeout: Duration::from_secs(TIMEOUT_S),
        closed_retention: Duration::from_secs(RETENTION_S),
    }
}

fn table() -> FlowTable {
    FlowTable::new(config(1000))
}

/// One packet of 100 bytes at `at_ms` milliseconds.
fn packet(protocol: Protocol, src: Endpoint, dst: Endpoint, at_ms: u64, flags: u32) -> FlowDelta {
    FlowDelta {
        key: DirectionalKey { src, dst, protocol },
        bytes: 100,
        packets: 1,
        first_seen: at_ms * 1_000_000,
        last_seen: at_ms * 1_000_000,
        tcp_flags: flags,
        ifindex: 7,
        icmp: None,
    }
}

fn tcp(src: Endpoint, dst: Endpoint, at_ms: u64, flags: u32) -> FlowDelta {
    packet(Protocol::Tcp, src, dst, at_ms, flags)
}

fn udp(src: Endpoint, dst: Endpoint, at_ms: u64) -> FlowDelta {
    packet(Protocol::Udp, src, dst, at_ms, 0)
}

fn event(kind: TcpEventKind, local: Endpoint, remote: Endpoint, at_ms: u64) -> TcpEvent {
    TcpEvent {
        kind,
        local,
        remote,
        timestamp: at_ms * 1_000_000,
        connect_latency_ns: None,
        duration_ns: None,
        netns_ino: 1,
    }
}

fn key(protocol: Protocol, initiator: Endpoint, responder: Endpoint) -> ConnectionKey {
    ConnectionKey {
        protocol,
        initiator,
        responder,
    }
}

fn tcp_key() -> ConnectionKey {
    key(Protocol::Tcp, client(), server())
}

fn kinds(changes: &[FlowChange]) -> Vec<(FlowChangeKind, u64)> {
    changes
        .iter()
        .map(|c| (c.kind.clone(), c.record.id))
        .collect()
}

fn counters(bytes: u64, packets: u64) -> Counters {
    Counters { bytes, packets }
}

/// A full handshake and one request/response, as one drain.
fn handshake(start_ms: u64) -> Vec<FlowDelta> {
    let mut up = tcp(client(), server(), start_ms, SYN | SYN_ONLY | ACK | PSH);
    up.packets = 3;
    up.bytes = 300;
    up.last_seen += 2_000_000;
    let mut down = tcp(server(), client(), start_ms + 1, SYN | ACK | SYN_ACK | PSH);
    down.packets = 2;
    down.bytes = 200;
    down.last_seen += 2_000_000;
    vec![up, down]
}

#[test]
fn a_reply_is_counted_as_rx_of_the_same_connection() {
    let mut t = table();
    t.apply_deltas(&[udp(client(), server(), 1)], SEC);
    t.apply_deltas(&[udp(server(), client(), 1001)], 2 * SEC);

    assert_eq!(t.len(), 1);
    let r = t
        .get(&key(Protocol::Udp, client(), server()))
        .unwrap()
        .clone();
    assert_eq!(r.tx, counters(100, 1));
    assert_eq!(r.rx, counters(100, 1));
    assert_eq!(r.first_seen, 1_000_000);
    assert_eq!(r.last_seen, 1_001_000_000);
    assert_eq!(r.updated_at, 2 * SEC);
}

#[test]
fn records_are_found_by_their_exact_key_or_by_either_endpoint_order() {
    let mut t = table();
    t.apply_deltas(&[udp(client(), server(), 1)], SEC);
    assert!(t.get(&key(Protocol::Udp, server(), client())).is_none());
    assert!(t.get(&key(Protocol::Tcp, client(), server())).is_none());
    let found = t.find(Protocol::Udp, server(), client()).unwrap();
    assert_eq!(found.key, key(Protocol::Udp, client(), server()));
}

#[test]
fn ids_start_at_one_and_each_new_record_gets_the_next() {
    let mut t = table();
    t.apply_deltas(&[udp(client(), server(), 1)], SEC);
    t.apply_deltas(&[udp(client(), ep(3, 53), 2)], SEC);
    let mut ids: Vec<u64> = t.records().map(|r| r.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2]);
}

#[test]
fn a_syn_ack_seen_alone_makes_its_destination_the_initiator() {
    let mut t = table();
    t.apply_deltas(&[tcp(server(), client(), 1, SYN | ACK | SYN_ACK)], SEC);
    let r = t.get(&tcp_key()).unwrap().clone();
    assert_eq!(r.rx, counters(100, 1));
    assert_eq!(r.rx_tcp_flags, SYN | ACK | SYN_ACK);
}

#[test]
fn both_directions_in_one_batch_are_oriented_by_the_syn_in_any_order() {
    for mut batch in [handshake(10), {
        let mut b = handshake(10);
        b.reverse();
        b
    }] {
        // The reply's first_seen is made earlier than the SYN's, so only the
        // SYN flags can orient the record correctly.
        batch.iter_mut().for_each(|d| {
            if d.key.src == server() {
                d.first_seen = 0;
            }
        });
        let mut t = table();
        t.apply_deltas(&batch, SEC);
        let r = t.get(&tcp_key()).unwrap().clone();
        assert_eq!((r.tx.packets, r.rx.packets), (3, 2));
    }
}

#[test]
fn without_syn_information_the_direction_seen_first_initiates() {
    let batch = [udp(server(), client(), 5), udp(client(), server(), 4)];
    for order in [[0, 1], [1, 0]] {
        let mut t = table();
        t.apply_deltas(&[batch[order[0]], batch[order[1]]], SEC);
        assert!(t.get(&key(Protocol::Udp, client(), server())).is_some());
    }
}

#[test]
fn on_equal_first_seen_the_higher_source_port_initiates() {
    let batch = [udp(server(), client(), 5), udp(client(), server(), 5)];
    for order in [[0, 1], [1, 0]] {
        let mut t = table();
        t.apply_deltas(&[batch[order[0]], batch[order[1]]], SEC);
        assert!(t.get(&key(Protocol::Udp, client(), server())).is_some());
    }
}

#[test]
fn on_a_full_tie_the_lower_endpoint_initiates() {
    let (a, b) = (ep(1, 5000), ep(2, 5000));
    let batch = [udp(b, a, 5), udp(a, b, 5)];
    for order in [[0, 1], [1, 0]] {
        let mut t = table();
        t.apply_deltas(&[batch[order[0]], batch[order[1]]], SEC);
        assert!(t.get(&key(Protocol::Udp, a, b)).is_some());
    }
}

#[test]
fn a_record_takes_the_interface_of_its_earliest_delta_and_the_latest_icmp_type() {
    let (a, b) = (ep(1, 7), ep(2, 0));
    let mut request = packet(Protocol::Icmp, a, b, 1, 0);
    request.ifindex = 3;
    request.icmp = Some((8, 0));
    let mut reply = packet(Protocol::Icmp, b, a, 2, 0);
    reply.ifindex = 4;
    reply.icmp = Some((0, 0));
    let mut t = table();
    t.apply_deltas(&[reply, request], SEC);
    let r = t.get(&key(Protocol::Icmp, a, b)).unwrap().clone();
    assert_eq!(r.ifindex, 3);
    assert_eq!(r.icmp, Some((0, 0)));

    let mut silent = packet(Protocol::Icmp, a, b, 3, 0);
    silent.ifindex = 9;
    t.apply_deltas(&[silent], 2 * SEC);
    let r = t.get(&key(Protocol::Icmp, a, b)).unwrap().clone();
    assert_eq!(r.ifindex, 3, "the interface is the one that created it");
    assert_eq!(
        r.icmp,
        Some((0, 0)),
        "a delta without ICMP type keeps the last one"
    );
}

#[test]
fn a_record_created_by_an_event_takes_the_interface_of_its_first_delta() {
    let mut t = table();
    t.apply_tcp_event(
        &event(TcpEventKind::OpenedActive, client(), server(), 1),
        SEC,
    );
    assert_eq!(t.get(&tcp_key()).unwrap().ifindex, 0);
    t.apply_deltas(&[tcp(client(), server(), 2, SYN | SYN_ONLY)], 2 * SEC);
    let r = t.get(&tcp_key()).unwrap().clone();
    assert_eq!(r.ifindex, 7);
    assert_eq!(r.first_seen, 1_000_000, "the event came first");
}

#[test]
fn syn_answered_by_rst_is_inferred_as_refused() {
    let mut t = table();
    t.apply_deltas(
        &[
            tcp(server(), client(), 2, RST | ACK),
            tcp(client(), server(), 1, SYN | SYN_ONLY),
        ],
        SEC,
    );
    let r = t.get(&tcp_key()).unwrap().clone();
    assert_eq!(r.status, FlowStatus::Refused);
    assert_eq!(r.ended_at, Some(2_000_000));
    let changes = t.take_changes();
    assert_eq!(
        kinds(&changes),
        vec![(FlowChangeKind::Opened, 1), (FlowChangeKind::Closed, 1)]
    );
    assert_eq!(changes[0].added_tx, counters(100, 1));
    assert_eq!(changes[1].added_tx, Counters::default());
}

#[test]
fn a_refused_event_before_the_drain_keeps_one_refused_record() {
    let mut t = table();
    t.apply_tcp_event(&event(TcpEventKind::Refused, client(), server(), 3), SEC);
    let id = t.get(&tcp_key()).unwrap().id;
    assert_eq!(t.get(&tcp_key()).unwrap().status, FlowStatus::Refused);

    t.apply_deltas(
        &[
            tcp(client(), server(), 1, SYN | SYN_ONLY),
            tcp(server(), client(), 2, RST | ACK),
        ],
        2 * SEC,
    );
    assert_eq!(t.len(), 1);
    let r = t.get(&tcp_key()).unwrap().clone();
    assert_eq!(r.id, id);
    assert_eq!(r.status, FlowStatus::Refused);
    assert_eq!(r.ended_at, Some(3_000_000));
    assert_eq!((r.tx.packets, r.rx.packets), (1, 1));
    assert_eq!(r.first_seen, 1_000_000);
    assert_eq!(
        kinds(&t.take_changes()),
        vec![
            (FlowChangeKind::Opened, id),
            (FlowChangeKind::Closed, id),
            (FlowChangeKind::Updated, id),
        ]
    );
}

#[test]
fn a_rst_without_the_opening_syn_is_a_reset_not_a_refusal() {
    let mut t = table();
    t.apply_deltas(&[tcp(client(), server(), 1, ACK | PSH)], SEC);
    t.apply_deltas(&[tcp(server(), client(), 2, RST)], 2 * SEC);
    assert_eq!(t.get(&tcp_key()).unwrap().status, FlowStatus::Reset);
}

#[test]
fn a_rst_after_the_handshake_is_a_reset() {
    let mut t = table();
    t.apply_deltas(&handshake(1), SEC);
    t.apply_deltas(&[tcp(client(), server(), 500, RST)], 2 * SEC);
    let r = t.get(&tcp_key()).unwrap().clone();
    assert_eq!(r.status, FlowStatus::Reset);
    assert_eq!(r.ended_at, Some(500_000_000));
}

#[test]
fn fin_in_both_directions_closes_the_flow_at_the_last_packet() {
    let mut t = table();
    t.apply_deltas(&handshake(1), SEC);
    t.apply_deltas(&[tcp(client(), server(), 500, FIN | ACK)], 2 * SEC);
    assert_eq!(t.get(&tcp_key()).unwrap().status, FlowStatus::Active);
    t.take_changes();

    t.apply_deltas(&[tcp(server(), client(), 600, FIN | ACK)], 3 * SEC);
    let r = t.get(&tcp_key()).unwrap().clone();
    assert_eq!(r.status, FlowStatus::Closed);
    assert_eq!(r.ended_at, Some(600_000_000));
    assert_eq!(r.updated_at, 3 * SEC);
    let changes = t.take_changes();
    assert_eq!(kinds(&changes), vec![(FlowChangeKind::Closed, r.id)]);
    assert_eq!(
        changes[0].added_rx,
        counters(100, 1),
        "Closed carries the FIN's counters"
    );
}

#[test]
fn a_late_ack_after_fin_is_added_to_the_closed_record_without_changing_its_status() {
    let mut t = table();
    t.apply_deltas(&handshake(1), SEC);
    t.apply_deltas(
        &[
            tcp(client(), server(), 500, FIN | ACK),
            tcp(server(), client(), 600, FIN | ACK),
        ],
        2 * SEC,
    );
    let closed = t.get(&tcp_key()).unwrap().clone();
    t.take_changes();

    t.apply_deltas(&[tcp(client(), server(), 700, ACK)], 3 * SEC);
    let r = t.get(&tcp_key()).unwrap().clone();
    assert_eq!(r.id, closed.id);
    assert_eq!(r.status, FlowStatus::Closed);
    assert_eq!(r.ended_at, closed.ended_at);
    assert_eq!(r.tx.packets, closed.tx.packets + 1);
    let changes = t.take_changes();
    assert_eq!(kinds(&changes), vec![(FlowChangeKind::Updated, r.id)]);
    assert_eq!(changes[0].added_tx, counters(100, 1));
    assert_eq!(t.stats().closed_total, 1);
}

#[test]
fn a_new_syn_after_close_starts_a_new_connection_with_a_new_id() {
    let mut t = table();
    t.apply_deltas(&handshake(1), SEC);
    t.apply_tcp_event(
        &event(TcpEventKind::Closed, client(), server(), 500),
        2 * SEC,
    );
    let old_id = t.get(&tcp_key()).unwrap().id;
    t.take_changes();

    t.apply_deltas(&handshake(900), 3 * SEC);
    assert_eq!(t.len(), 1);
    let r = t.get(&tcp_key()).unwrap().clone();
    assert_ne!(r.id, old_id);
    assert_eq!(r.status, FlowStatus::Active);
    assert_eq!(
        (r.tx.packets, r.rx.packets),
        (3, 2),
        "counters start afresh"
    );
    assert_eq!(r.first_seen, 900_000_000);
    assert_eq!(
        kinds(&t.take_changes()),
        vec![(FlowChangeKind::Opened, r.id)]
    );
    let stats = t.stats();
    assert_eq!((stats.opened_total, stats.pruned_total), (2, 1));
}

#[test]
fn an_opening_event_after_close_starts_a_new_connection() {
    let mut t = table();
    t.apply_tcp_event(&event(TcpEventKind::Refused, client(), server(), 10), SEC);
    let old_id = t.get(&tcp_key()).unwrap().id;
    t.apply_tcp_event(
        &event(TcpEventKind::OpenedActive, client(), server(), 20),
        SEC,
    );
    let r = t.get(&tcp_key()).unwrap().clone();
    assert_ne!(r.id, old_id);
    assert_eq!(r.status, FlowStatus::Active);
}

#[test]
fn the_first_terminal_status_wins() {
    let mut t = table();
    t.apply_tcp_event(&event(TcpEventKind::TimedOut, client(), server(), 10), SEC);
    t.apply_tcp_event(&event(TcpEventKind::Refused, client(), server(), 20), SEC);
    t.apply_deltas(&[tcp(server(), client(), 5, RST)], SEC);
    let r = t.get(&tcp_key()).unwrap().clone();
    assert_eq!(r.status, FlowStatus::Timeout);
    assert_eq!(r.ended_at, Some(10_000_000));
    assert_eq!(t.stats().closed_total, 1);
}

#[test]
fn a_reset_event_upgrades_a_closed_record_to_reset_without_a_second_closed() {
    let mut t = table();
    t.apply_deltas(&handshake(1), SEC);
    t.apply_tcp_event(&event(TcpEventKind::Closed, client(), server(), 500), SEC);
    // The server's socket reports from another CPU, slightly earlier: only
    // the status changes, yet the change must still be reported.
    t.apply_tcp_event(&event(TcpEventKind::Reset, server(), client(), 499), SEC);
    let r = t.get(&tcp_key()).unwrap().clone();
    assert_eq!(r.status, FlowStatus::Reset);
    assert_eq!(r.ended_at, Some(500_000_000));
    assert_eq!(
        kinds(&t.take_changes()),
        vec![
            (FlowChangeKind::Opened, r.id),
            (FlowChangeKind::Closed, r.id),
            (FlowChangeKind::Updated, r.id),
        ]
    );
}

#[test]
fn a_closed_event_after_rst_flags_reports_reset() {
    let mut t = table();
    t.apply_deltas(&handshake(1), SEC);
    t.apply_deltas(
        &[
            tcp(client(), server(), 500, FIN | ACK),
            tcp(server(), client(), 600, FIN | ACK),
        ],
        SEC,
    );
    // The application closed with unread data: a RST trails the FINs.
    t.apply_deltas(&[tcp(client(), server(), 700, RST)], 2 * SEC);
    assert_eq!(t.get(&tcp_key()).unwrap().status, FlowStatus::Closed);
    t.apply_tcp_event(
        &event(TcpEventKind::Closed, client(), server(), 701),
        2 * SEC,
    );
    assert_eq!(t.get(&tcp_key()).unwrap().status, FlowStatus::Reset);
}

#[test]
fn events_from_both_sockets_of_a_local_connection_update_one_record() {
    let mut t = table();
    let mut established = event(TcpEventKind::EstablishedActive, client(), server(), 2);
    established.connect_latency_ns = Some(250_000);
    t.apply_tcp_event(
        &event(TcpEventKind::OpenedActive, client(), server(), 1),
        SEC,
    );
    t.apply_tcp_event(&established, SEC);
    t.apply_tcp_event(&event(TcpEventKind::Accepted, server(), client(), 3), SEC);
    t.apply_tcp_event(&event(TcpEventKind::Closed, server(), client(), 9), SEC);
    t.apply_tcp_event(&event(TcpEventKind::Closed, client(), server(), 10), SEC);

    assert_eq!(t.len(), 1);
    let r = t.get(&tcp_key()).unwrap().clone();
    assert_eq!(r.connect_latency_ns, Some(250_000));
    assert_eq!(r.status, FlowStatus::Closed);
    assert_eq!(r.ended_at, Some(9_000_000));
    assert_eq!((r.first_seen, r.last_seen), (1_000_000, 10_000_000));
    let closed = t
        .take_changes()
        .iter()
        .filter(|c| c.kind == FlowChangeKind::Closed)
        .count();
    assert_eq!(closed, 1);
}

#[test]
fn an_accepted_event_makes_the_remote_end_the_initiator() {
    let mut t = table();
    t.apply_tcp_event(&event(TcpEventKind::Accepted, server(), client(), 1), SEC);
    let r = t.get(&tcp_key()).unwrap().clone();
    assert_eq!((r.tx, r.rx), (Counters::default(), Counters::default()));
    assert_eq!((r.first_seen, r.last_seen), (1_000_000, 1_000_000));
}

#[test]
fn a_closing_event_for_an_unknown_connection_creates_a_terminal_record() {
    let mut t = table();
    t.apply_tcp_event(&event(TcpEventKind::Reset, client(), server(), 1), SEC);
    let r = t.get(&tcp_key()).unwrap().clone();
    assert_eq!(r.status, FlowStatus::Reset);
    assert_eq!(r.ended_at, Some(1_000_000));
    assert_eq!(
        kinds(&t.take_changes()),
        vec![
            (FlowChangeKind::Opened, r.id),
            (FlowChangeKind::Closed, r.id)
        ]
    );
}

#[test]
fn an_event_that_changes_nothing_reports_nothing() {
    let mut t = table();
    t.apply_tcp_event(
        &event(TcpEventKind::OpenedActive, client(), server(), 5),
        SEC,
    );
    t.take_changes();
    t.apply_tcp_event(
        &event(TcpEventKind::OpenedActive, client(), server(), 5),
        2 * SEC,
    );
    assert!(t.take_changes().is_empty());
    assert_eq!(t.get(&tcp_key()).unwrap().updated_at, SEC);
}

#[test]
fn an_idle_udp_flow_is_closed_by_expire_and_pruned_after_the_retention() {
    let mut t = table();
    t.apply_deltas(&[udp(client(), server(), 1000)], 2 * SEC);
    t.take_changes();
    let idle_at = (1 + TIMEOUT_S) * SEC;

    t.expire(idle_at - 1);
    assert_eq!(t.stats().active, 1);
    t.expire(idle_at);
    let r = t
        .get(&key(Protocol::Udp, client(), server()))
        .unwrap()
        .clone();
    assert_eq!(r.status, FlowStatus::Closed);
    assert_eq!(r.ended_at, Some(idle_at));
    assert_eq!(
        kinds(&t.take_changes()),
        vec![(FlowChangeKind::Closed, r.id)]
    );

    t.expire(idle_at + RETENTION_S * SEC - 1);
    assert_eq!(t.len(), 1);
    t.expire(idle_at + RETENTION_S * SEC);
    assert!(t.is_empty());
    assert!(t.take_changes().is_empty(), "pruning was already reported");
    assert_eq!(t.stats().pruned_total, 1);
}

#[test]
fn a_tcp_syn_without_answer_times_out_when_idle() {
    let mut t = table();
    t.apply_deltas(&[tcp(client(), server(), 1000, SYN | SYN_ONLY)], 2 * SEC);
    t.expire(40 * SEC);
    assert_eq!(t.get(&tcp_key()).unwrap().status, FlowStatus::Timeout);
}

#[test]
fn an_idle_established_tcp_flow_is_closed_even_without_counted_replies() {
    let mut t = table();
    t.apply_tcp_event(
        &event(TcpEventKind::Accepted, server(), client(), 1000),
        2 * SEC,
    );
    t.expire(40 * SEC);
    assert_eq!(t.get(&tcp_key()).unwrap().status, FlowStatus::Closed);

    let mut t = table();
    t.apply_deltas(&handshake(1000), 2 * SEC);
    t.expire(40 * SEC);
    assert_eq!(t.get(&tcp_key()).unwrap().status, FlowStatus::Closed);
}

#[test]
fn traffic_after_an_idle_out_starts_a_new_flow_in_the_same_orientation() {
    let mut t = table();
    t.apply_deltas(&[udp(client(), server(), 1000)], 2 * SEC);
    t.expire(40 * SEC);
    let old_id = t.get(&key(Protocol::Udp, client(), server())).unwrap().id;

    // Only the server speaks now; the old orientation is kept.
    t.apply_deltas(&[udp(server(), client(), 45_000)], 46 * SEC);
    let r = t
        .get(&key(Protocol::Udp, client(), server()))
        .unwrap()
        .clone();
    assert_ne!(r.id, old_id);
    assert_eq!(r.status, FlowStatus::Active);
    assert_eq!((r.tx.packets, r.rx.packets), (0, 1));
}

#[test]
fn a_packet_from_within_the_idle_window_joins_the_idled_out_record() {
    let mut t = table();
    t.apply_deltas(&[udp(client(), server(), 1000)], 2 * SEC);
    t.expire(40 * SEC);
    let old = t
        .get(&key(Protocol::Udp, client(), server()))
        .unwrap()
        .clone();
    t.apply_deltas(&[udp(server(), client(), 30_000)], 40 * SEC);
    let r = t
        .get(&key(Protocol::Udp, client(), server()))
        .unwrap()
        .clone();
    assert_eq!(r.id, old.id);
    assert_eq!(r.status, FlowStatus::Closed);
    assert_eq!(r.rx.packets, 1);
}

#[test]
fn a_full_table_prunes_the_earliest_ended_flow_before_evicting() {
    let mut t = FlowTable::new(config(3));
    t.apply_deltas(&[udp(ep(1, 1000), server(), 1)], SEC);
    t.apply_tcp_event(&event(TcpEventKind::Reset, ep(2, 1000), server(), 20), SEC);
    t.apply_tcp_event(&event(TcpEventKind::Reset, ep(3, 1000), server(), 10), SEC);
    t.take_changes();

    t.apply_deltas(&[udp(ep(4, 1000), server(), 30)], SEC);
    assert_eq!(t.len(), 3);
    assert!(t.find(Protocol::Tcp, ep(3, 1000), server()).is_none());
    assert!(t.find(Protocol::Tcp, ep(2, 1000), server()).is_some());
    assert_eq!(kinds(&t.take_changes()), vec![(FlowChangeKind::Opened, 4)]);
    let stats = t.stats();
    assert_eq!((stats.pruned_total, stats.evicted_total), (1, 0));
}

#[test]
fn a_full_table_evicts_the_least_recently_seen_active_flow() {
    let mut t = FlowTable::new(config(2));
    t.apply_deltas(&[udp(ep(1, 1000), server(), 1)], SEC);
    t.apply_deltas(&[udp(ep(2, 1000), server(), 2)], SEC);
    // The first flow is seen again, so the second is now the stalest.
    t.apply_deltas(&[udp(ep(1, 1000), server(), 3)], SEC);
    t.take_changes();

    t.apply_deltas(&[udp(ep(3, 1000), server(), 4)], SEC);
    assert_eq!(t.len(), 2);
    let changes = t.take_changes();
    assert_eq!(
        kinds(&changes),
        vec![(FlowChangeKind::Evicted, 2), (FlowChangeKind::Opened, 3)]
    );
    assert_eq!(changes[0].record.status, FlowStatus::Active);
    assert_eq!(t.stats().evicted_total, 1);

    // An evicted flow is never reported closed.
    t.expire(1000 * SEC);
    let closed: Vec<u64> = t
        .take_changes()
        .iter()
        .filter(|c| c.kind == FlowChangeKind::Closed)
        .map(|c| c.record.id)
        .collect();
    assert_eq!(closed, vec![1, 3]);
}

#[test]
fn shrinking_max_flows_evicts_on_the_next_expire() {
    let mut t = FlowTable::new(config(10));
    for host in 1..=4 {
        t.apply_deltas(&[udp(ep(host, 1000), server(), u64::from(host))], SEC);
    }
    t.set_config(config(2));
    assert_eq!(t.len(), 4, "nothing is dropped by the reload itself");
    t.take_changes();
    t.expire(SEC);
    assert_eq!(t.len(), 2);
    assert_eq!(
        kinds(&t.take_changes()),
        vec![(FlowChangeKind::Evicted, 1), (FlowChangeKind::Evicted, 2)]
    );
}

#[test]
fn a_max_flows_of_zero_still_keeps_the_newest_flow() {
    let mut t = FlowTable::new(config(0));
    t.apply_deltas(&[udp(ep(1, 1000), server(), 1)], SEC);
    t.apply_deltas(&[udp(ep(2, 1000), server(), 2)], SEC);
    assert_eq!(t.len(), 1);
    assert!(t.find(Protocol::Udp, ep(2, 1000), server()).is_some());
}

#[test]
fn changes_are_taken_once_in_order() {
    let mut t = table();
    t.apply_deltas(&[udp(client(), server(), 1)], SEC);
    t.apply_deltas(&[udp(server(), client(), 2)], 2 * SEC);
    let changes = t.take_changes();
    assert_eq!(
        kinds(&changes),
        vec![(FlowChangeKind::Opened, 1), (FlowChangeKind::Updated, 1)]
    );
    assert_eq!(changes[0].added_tx, counters(100, 1));
    assert_eq!(changes[1].added_rx, counters(100, 1));
    assert_eq!(changes[1].record.rx, counters(100, 1));
    assert!(t.take_changes().is_empty());
}

#[test]
fn stats_count_opened_closed_evicted_and_pruned_flows() {
    let mut t = FlowTable::new(config(2));
    t.apply_deltas(&[udp(ep(1, 1000), server(), 1)], SEC);
    t.apply_tcp_event(&event(TcpEventKind::Refused, ep(2, 1000), server(), 2), SEC);
    t.apply_deltas(&[udp(ep(3, 1000), server(), 3)], SEC); // prunes the refused
    t.apply_deltas(&[udp(ep(4, 1000), server(), 4)], SEC); // evicts the first
    assert_eq!(
        t.stats(),
        FlowTableStats {
            flows: 2,
            active: 2,
            terminal: 0,
            opened_total: 4,
            closed_total: 1,
            evicted_total: 1,
            pruned_total: 1,
        }
    );
}

// ---------------------------------------------------------------------------
// Properties over random operation sequences.

/// A small universe of endpoints, so that random deltas and events collide.
fn universe_endpoint() -> impl Strategy<Value = Endpoint> {
    (1u8..=3, prop::sample::select(vec![53u16, 80, 40_000])).prop_map(|(host, port)| ep(host, port))
}

#[derive(Debug, Clone)]
struct DeltaSpec {
    tcp: bool,
    src: Endpoint,
    dst: Endpoint,
    bytes: u64,
    packets: u64,
    flags: u32,
    first: u64,
    len: u64,
}

#[derive(Debug, Clone)]
enum Op {
    Deltas(Vec<DeltaSpec>),
    Event(TcpEventKind, Endpoint, Endpoint, Option<u64>, u64),
    Expire,
    SetMaxFlows(usize),
}

fn delta_spec() -> impl Strategy<Value = DeltaSpec> {
    let flags = prop::sample::subsequence(vec![FIN, SYN, RST, ACK, PSH, SYN_ONLY, SYN_ACK], 0..4)
        .prop_map(|bits| bits.into_iter().fold(0, |acc, bit| acc | bit));
    (
        any::<bool>(),
        universe_endpoint(),
        universe_endpoint(),
        0u64..10_000,
        1u64..10,
        flags,
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(tcp, src, dst, bytes, packets, flags, first, len)| DeltaSpec {
                tcp,
                src,
                dst,
                bytes,
                packets,
                flags: if tcp { flags } else { 0 },
                first,
                len,
            },
        )
}

fn event_kind() -> impl Strategy<Value = TcpEventKind> {
    prop::sample::select(TcpEventKind::ALL.to_vec())
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(delta_spec(), 1..6).prop_map(Op::Deltas),
        3 => (event_kind(), universe_endpoint(), universe_endpoint(), prop::option::of(1u64..1_000_000), any::<u64>())
            .prop_map(|(k, l, r, lat, at)| Op::Event(k, l, r, lat, at)),
        2 => Just(Op::Expire),
        1 => (1usize..8).prop_map(Op::SetMaxFlows),
    ]
}

/// Turns specs into deltas timed within `(previous, now]`.
fn deltas_between(specs: &[DeltaSpec], previous: u64, now: u64) -> Vec<FlowDelta> {
    specs
        .iter()
        .map(|s| {
            let first = previous + 1 + s.first % (now - previous);
            let last = first + s.len % (now - first + 1);
            FlowDelta {
                key: DirectionalKey {
                    src: s.src,
                    dst: s.dst,
                    protocol: if s.tcp { Protocol::Tcp } else { Protocol::Udp },
                },
                bytes: s.bytes,
                packets: s.packets,
                first_seen: first,
                last_seen: last,
                tcp_flags: s.flags,
                ifindex: 2,
                icmp: None,
            }
        })
        .collect()
}

/// What the changes told about one record id so far.
#[derive(Default)]
struct Reported {
    tx: Counters,
    rx: Counters,
    last_record: Option<FlowRecord>,
    final_kind: Option<FlowChangeKind>,
}

#[derive(Default)]
struct Observer {
    ids: HashMap<u64, Reported>,
    opened: u64,
    closed: u64,
    evicted: u64,
}

impl Observer {
    fn observe(&mut self, changes: Vec<FlowChange>) -> Result<(), TestCaseError> {
        for change in changes {
            let id = change.record.id;
            if change.kind == FlowChangeKind::Opened {
                prop_assert!(!self.ids.contains_key(&id), "id {id} opened twice");
                self.ids.insert(id, Reported::default());
                self.opened += 1;
            }
            let Some(seen) = self.ids.get_mut(&id) else {
                return Err(TestCaseError::fail(format!(
                    "change for id {id} before its Opened"
                )));
            };
            prop_assert_ne!(
                &seen.final_kind,
                &Some(FlowChangeKind::Evicted),
                "change after eviction"
            );
            match change.kind {
                FlowChangeKind::Closed | FlowChangeKind::Evicted => {
                    prop_assert!(seen.final_kind.is_none(), "id {id} reported final twice");
                    if change.kind == FlowChangeKind::Closed {
                        prop_assert!(change.record.status.is_terminal());
                        self.closed += 1;
                    } else {
                        prop_assert_eq!(change.record.status, FlowStatus::Active);
                        self.evicted += 1;
                    }
                    seen.final_kind = Some(change.kind.clone());
                }
                FlowChangeKind::Opened | FlowChangeKind::Updated => {}
            }
            seen.tx.bytes += change.added_tx.bytes;
            seen.tx.packets += change.added_tx.packets;
            seen.rx.bytes += change.added_rx.bytes;
            seen.rx.packets += change.added_rx.packets;
            prop_assert_eq!(seen.tx, change.record.tx, "added tx sums to the record");
            prop_assert_eq!(seen.rx, change.record.rx, "added rx sums to the record");
            seen.last_record = Some(change.record);
        }
        Ok(())
    }

    fn check_table(&self, t: &FlowTable) -> Result<(), TestCaseError> {
        let stats = t.stats();
        let records: Vec<&FlowRecord> = t.records().collect();
        prop_assert_eq!(stats.flows, t.len());
        prop_assert_eq!(records.len(), t.len());
        prop_assert_eq!(t.is_empty(), records.is_empty());
        let active = records
            .iter()
            .filter(|r| r.status == FlowStatus::Active)
            .count();
        prop_assert_eq!(stats.active, active);
        prop_assert_eq!(stats.terminal, t.len() - active);
        prop_assert_eq!(stats.opened_total, self.opened);
        prop_assert_eq!(stats.closed_total, self.closed);
        prop_assert_eq!(stats.evicted_total, self.evicted);
        prop_assert_eq!(
            stats.opened_total,
            stats.flows as u64 + stats.evicted_total + stats.pruned_total
        );
        prop_assert_eq!(
            stats.closed_total,
            stats.terminal as u64 + stats.pruned_total
        );
        for r in records {
            prop_assert_eq!(t.get(&r.key), Some(r));
            prop_assert_eq!(r.ended_at.get().is_some(), r.status.is_terminal());
            prop_assert!(r.first_seen <= r.last_seen);
            let Some(seen) = self.ids.get(&r.id) else {
                return Err(TestCaseError::fail(format!(
                    "record {} was never opened",
                    r.id
                )));
            };
            // The latest change carries the record as it is now.
            prop_assert_eq!(seen.last_record.as_ref(), Some(r));
            let expected_final = r.status.is_terminal().then_some(FlowChangeKind::Closed);
            prop_assert_eq!(&seen.final_kind, &expected_final);
        }
        Ok(())
    }
}

fn run_ops(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut t = FlowTable::new(FlowTableConfig {
        max_flows: 5,
        flow_timeout: Duration::from_secs(10),
        closed_retention: Duration::from_secs(20),
    });
    let mut observer = Observer::default();
    let mut now = 0u64;
    let mut counters_by_id: HashMap<u64, (Counters, Counters)> = HashMap::new();
    for op in ops {
        let previous = now;
        now += 3 * SEC;
        let len_before = t.len();
        match op {
            Op::Deltas(specs) => t.apply_deltas(&deltas_between(specs, previous, now), now),
            Op::Event(kind, local, remote, latency, at) => {
                let event = TcpEvent {
                    kind: *kind,
                    local: *local,
                    remote: *remote,
                    timestamp: previous + 1 + at % (now - previous),
                    connect_latency_ns: *latency,
                    duration_ns: None,
                    netns_ino: 1,
                };
                t.apply_tcp_event(&event, now);
            }
            Op::Expire => t.expire(now),
            Op::SetMaxFlows(max) => t.set_config(FlowTableConfig {
                max_flows: *max,
                ..t.config().clone()
            }),
        }
        let changes = t.take_changes();
        let inserted = changes.iter().any(|c| c.kind == FlowChangeKind::Opened);
        observer.observe(changes)?;
        observer.check_table(&t)?;

        let max_flows = t.config().max_flows;
        if inserted || matches!(op, Op::Expire) {
            prop_assert!(t.len() <= max_flows, "{} > {}", t.len(), max_flows);
        } else {
            prop_assert!(t.len() <= max_flows.max(len_before));
        }
        for r in t.records() {
            if let Some((tx, rx)) = counters_by_id.get(&r.id) {
                prop_assert!(r.tx.bytes >= tx.bytes && r.tx.packets >= tx.packets);
                prop_assert!(r.rx.bytes >= rx.bytes && r.rx.packets >= rx.packets);
            }
            counters_by_id.insert(r.id, (r.tx, r.rx));
        }
    }

    // Once everything idles out, every opened flow got its one final report.
    now += 1000 * SEC;
    t.expire(now);
    observer.observe(t.take_changes())?;
    observer.check_table(&t)?;
    for (id, seen) in &observer.ids {
        prop_assert!(seen.final_kind.is_some(), "id {id} never closed");
    }
    t.expire(now + 1000 * SEC);
    prop_assert!(t.is_empty());
    prop_assert!(t.take_changes().is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_operations_keep_counters_changes_limits_and_stats_consistent(
        ops in prop::collection::vec(op(), 1..40)
    ) {
        run_ops(&ops)?;
    }

    #[test]
    fn the_order_of_deltas_in_a_batch_does_not_change_the_result(
        first in prop::collection::vec(delta_spec(), 0..6),
        second in prop::collection::vec(delta_spec(), 1..10)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        max_flows in 1usize..8,
    ) {
        let (batch, shuffled) = second;
        let run = |batch: &[DeltaSpec]| {
            let mut t = FlowTable::new(config(max_flows));
            t.apply_deltas(&deltas_between(&first, 0, SEC), SEC);
            t.apply_deltas(&deltas_between(batch, SEC, 2 * SEC), 2 * SEC);
            let mut records: Vec<FlowRecord> = t.records().cloned().collect();
            records.sort_by_key(|r| r.id);
            (records, t.take_changes(), t.stats())
        };
        prop_assert_eq!(run(&batch), run(&shuffled));
    }
}

// ---------------------------------------------------------------------------
// Translated connections: the two halves of a DNAT'd connection join.

/// The Service address the client uses.
fn service() -> Endpoint {
    ep(100, 80)
}

/// The backend DNAT sends it to.
fn backend() -> Endpoint {
    ep(2, 8080)
}

/// client → service, DNAT'd to backend.
fn dnat_binding() -> NatBinding {
    NatBinding::translated(
        DirectionalKey {
            src: client(),
            dst: service(),
            protocol: Protocol::Tcp,
        },
        DirectionalKey {
            src: backend(),
            dst: client(),
            protocol: Protocol::Tcp,
        },
    )
    .unwrap()
}

fn nat_with(binding: NatBinding) -> NatTable {
    let mut nat = NatTable::new(16);
    nat.insert(binding);
    nat
}

#[test]
fn the_request_before_dnat_and_the_reply_before_un_nat_are_one_connection() {
    let mut up = tcp(client(), service(), 1, SYN | SYN_ONLY | ACK);
    up.packets = 3;
    let down = tcp(backend(), client(), 2, SYN | ACK | SYN_ACK);
    let nat = nat_with(dnat_binding());

    let mut t = table();
    t.apply_deltas_with_nat(&[down, up], &nat, SEC);
    assert_eq!(t.len(), 1);
    let r = t
        .get(&key(Protocol::Tcp, client(), service()))
        .unwrap()
        .clone();
    assert_eq!((r.tx.packets, r.rx.packets), (3, 1));
    assert_eq!(r.nat(), Some(dnat_binding()));
    assert_eq!(r.translated_responder(), Some(backend()));
    assert_eq!(r.translated_initiator(), None);
    assert_eq!(r.real_ends(), (client(), backend()));

    // Without the translation they are two connections, as TC saw them.
    let mut plain = table();
    plain.apply_deltas(&[down, up], SEC);
    assert_eq!(plain.len(), 2);
}

#[test]
fn the_backends_socket_events_update_the_translated_connection() {
    let nat = nat_with(dnat_binding());
    let mut t = table();
    t.apply_deltas_with_nat(&handshake_via_service(1), &nat, SEC);
    let id = t.get(&key(Protocol::Tcp, client(), service())).unwrap().id;
    t.take_changes();

    // The backend's socket sees the client; the client's sees the Service.
    t.apply_tcp_event_with_nat(
        &event(TcpEventKind::Accepted, backend(), client(), 3),
        &nat,
        2 * SEC,
    );
    t.apply_tcp_event_with_nat(
        &event(TcpEventKind::Closed, backend(), client(), 500),
        &nat,
        2 * SEC,
    );
    assert_eq!(t.len(), 1, "no record keyed by the backend");
    let r = t
        .get(&key(Protocol::Tcp, client(), service()))
        .unwrap()
        .clone();
    assert_eq!((r.id, r.status), (id, FlowStatus::Closed));
    assert_eq!(r.ended_at, Some(500_000_000));
}

#[test]
fn an_event_before_any_packet_creates_the_record_under_the_original_tuple() {
    let nat = nat_with(dnat_binding());
    let mut t = table();
    t.apply_tcp_event_with_nat(
        &event(TcpEventKind::Accepted, backend(), client(), 3),
        &nat,
        SEC,
    );
    let r = t
        .get(&key(Protocol::Tcp, client(), service()))
        .unwrap()
        .clone();
    assert_eq!(
        r.nat(),
        Some(dnat_binding()),
        "the accepting end is the responder"
    );
}

#[test]
fn snat_keeps_the_initiator_and_reports_the_address_it_was_given() {
    let translated_source = ep(254, 61_000);
    let binding = NatBinding::translated(
        DirectionalKey {
            src: client(),
            dst: server(),
            protocol: Protocol::Udp,
        },
        DirectionalKey {
            src: server(),
            dst: translated_source,
            protocol: Protocol::Udp,
        },
    )
    .unwrap();
    let mut t = table();
    t.apply_deltas_with_nat(
        &[
            udp(client(), server(), 1),
            udp(server(), translated_source, 2),
        ],
        &nat_with(binding),
        SEC,
    );
    assert_eq!(t.len(), 1);
    let r = t.records().next().unwrap().clone();
    assert_eq!(r.key, key(Protocol::Udp, client(), server()));
    assert_eq!((r.tx.packets, r.rx.packets), (1, 1));
    assert_eq!(r.translated_initiator(), Some(translated_source));
    assert_eq!(r.translated_responder(), None);
    assert_eq!(r.real_ends(), (client(), server()));
}

/// A handshake and one exchange through the Service: the request counted
/// before DNAT, the reply before un-NAT.
fn handshake_via_service(start_ms: u64) -> Vec<FlowDelta> {
    handshake(start_ms)
        .into_iter()
        .map(|mut d| {
            if d.key.src == client() {
                d.key.dst = service();
            } else {
                d.key.src = backend();
            }
            d
        })
        .collect()
}

// RTT readings (`apply_rtt`): one drain's min/max/last/sum/count per socket.

fn reading(local: Endpoint, remote: Endpoint, readings_us: &[u32]) -> RttReading {
    RttReading {
        local,
        remote,
        min_us: readings_us.iter().copied().min().unwrap_or(0),
        max_us: readings_us.iter().copied().max().unwrap_or(0),
        last_us: readings_us.last().copied().unwrap_or(0),
        sum_us: readings_us.iter().map(|&us| u64::from(us)).sum(),
        samples: readings_us.len() as u64,
    }
}

/// A table holding one established client → server connection.
fn table_with_connection() -> FlowTable {
    let mut t = table();
    t.apply_deltas(
        &[
            tcp(client(), server(), 0, SYN | SYN_ONLY),
            tcp(server(), client(), 1, SYN | ACK | SYN_ACK),
        ],
        SEC,
    );
    t.take_changes();
    t
}

fn rtt_of(t: &FlowTable) -> Option<RttStats> {
    t.find(Protocol::Tcp, client(), server()).unwrap().rtt()
}

#[test]
fn the_initiators_readings_merge_across_drains_into_min_max_last_and_mean() {
    let mut t = table_with_connection();
    t.apply_rtt(&[reading(client(), server(), &[300, 120, 200])], 2 * SEC);
    t.apply_rtt(&[reading(client(), server(), &[90, 150])], 3 * SEC);
    let rtt = rtt_of(&t).unwrap();
    assert_eq!(
        rtt,
        RttStats {
            socket: RttSocket::Initiator,
            min_us: 90,
            max_us: 300,
            last_us: 150,
            sum_us: 860,
            samples: 5,
        }
    );
    assert_eq!(rtt.mean_us(), 172);
}

#[test]
fn the_initiators_socket_replaces_the_responders_and_is_never_replaced_by_it() {
    let mut t = table_with_connection();
    t.apply_rtt(&[reading(server(), client(), &[5_000])], 2 * SEC);
    assert_eq!(rtt_of(&t).unwrap().socket, RttSocket::Responder);
    t.apply_rtt(&[reading(client(), server(), &[40])], 3 * SEC);
    t.apply_rtt(&[reading(server(), client(), &[9_000])], 4 * SEC);
    let rtt = rtt_of(&t).unwrap();
    assert_eq!(rtt.socket, RttSocket::Initiator);
    assert_eq!((rtt.min_us, rtt.max_us, rtt.samples), (40, 40, 1));
}

#[test]
fn a_reading_without_a_record_creates_none_and_is_counted() {
    let mut t = table_with_connection();
    let stranger = reading(ep(9, 1234), ep(8, 22), &[100]);
    assert_eq!(t.apply_rtt(&[stranger], 2 * SEC), 1);
    assert_eq!(t.len(), 1);
    assert!(t.take_changes().is_empty());
    assert_eq!(rtt_of(&t), None);
}

#[test]
fn a_record_whose_rtt_changed_is_reported_updated_once_without_counters() {
    let mut t = table_with_connection();
    t.apply_rtt(
        &[
            reading(server(), client(), &[700]),
            reading(client(), server(), &[60, 80]),
        ],
        2 * SEC,
    );
    let changes = t.take_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].kind, FlowChangeKind::Updated);
    assert_eq!(
        (changes[0].added_tx, changes[0].added_rx),
        (Counters::default(), Counters::default())
    );
    assert_eq!(changes[0].record.rtt().unwrap().last_us, 80);
    assert_eq!(changes[0].record.updated_at, 2 * SEC);
    // A drain without readings for it changes nothing.
    t.apply_rtt(&[], 3 * SEC);
    assert!(t.take_changes().is_empty());
}

#[test]
fn a_closed_connection_keeps_absorbing_its_last_readings() {
    let mut t = table_with_connection();
    t.apply_deltas(
        &[
            tcp(client(), server(), 10, ACK | FIN),
            tcp(server(), client(), 11, ACK | FIN),
        ],
        2 * SEC,
    );
    t.apply_rtt(&[reading(client(), server(), &[55])], 2 * SEC);
    let record = t.find(Protocol::Tcp, client(), server()).unwrap();
    assert_eq!(record.status, FlowStatus::Closed);
    assert_eq!(record.rtt().unwrap().last_us, 55);
}

/// The srtt values one socket read in one drain, in order.
fn rtt_readings() -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(1u32..100_000, 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whichever of its four keys each direction was counted under, a
    /// translated connection ends up exactly as if every packet had been
    /// counted under its original tuple (or its reverse): same records,
    /// changes and stats, plus the binding on the record. Unrelated flows
    /// are untouched.
    #[test]
    fn every_view_of_a_translated_connection_counts_as_the_original(
        specs in prop::collection::vec((delta_spec(), 0usize..4), 1..12),
    ) {
        let binding = dnat_binding();
        let original = binding.original;
        let views = [
            (original, original),
            (binding.reply, original.reversed()),
            (binding.reply.reversed(), original),
            (original.reversed(), original.reversed()),
        ];
        let plain_specs: Vec<DeltaSpec> = specs.iter().map(|(s, _)| s.clone()).collect();
        let timed = deltas_between(&plain_specs, 0, SEC);
        let mut seen = Vec::new();
        let mut attributed = Vec::new();
        for (delta, (spec, view)) in timed.iter().zip(&specs) {
            // Half of the specs belong to the translated connection.
            if spec.tcp && spec.bytes % 2 == 0 {
                let (seen_key, counted_key) = views[*view];
                seen.push(FlowDelta { key: seen_key, ..*delta });
                attributed.push(FlowDelta { key: counted_key, ..*delta });
            } else {
                seen.push(*delta);
                attributed.push(*delta);
            }
        }

        let mut with_nat = table();
        with_nat.apply_deltas_with_nat(&seen, &nat_with(binding), SEC);
        let mut expected = table();
        expected.apply_deltas(&attributed, SEC);

        let strip = |mut r: FlowRecord| {
            let ends = [r.key.initiator, r.key.responder];
            if ends.contains(&client()) && ends.contains(&service()) {
                assert_eq!(r.nat(), Some(binding));
                r.set_nat(None);
            }
            r
        };
        let mut got: Vec<FlowRecord> = with_nat.records().cloned().map(strip).collect();
        let mut want: Vec<FlowRecord> = expected.records().cloned().collect();
        got.sort_by_key(|r| r.id);
        want.sort_by_key(|r| r.id);
        prop_assert_eq!(got, want);
        let changes = |t: &mut FlowTable| {
            t.take_changes()
                .into_iter()
                .map(|mut c| {
                    c.record.set_nat(None);
                    c
                })
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(changes(&mut with_nat), changes(&mut expected));
        prop_assert_eq!(with_nat.stats(), expected.stats());
    }

    #[test]
    fn merged_rtt_is_the_fold_of_the_kept_sockets_readings_whatever_the_order(
        drains in prop::collection::vec(
            (prop::option::of(rtt_readings()), prop::option::of(rtt_readings()), any::<bool>()),
            1..8,
        ),
    ) {
        let mut t = table_with_connection();
        let mut initiator: Vec<u32> = Vec::new();
        let mut responder: Vec<u32> = Vec::new();
        let mut last_of = (None, None);
        for (i, (from_initiator, from_responder, responder_first)) in drains.iter().enumerate() {
            let mut batch = Vec::new();
            if let Some(values) = from_initiator {
                batch.push(reading(client(), server(), values));
                initiator.extend(values);
                last_of.0 = values.last().copied();
            }
            if let Some(values) = from_responder {
                batch.push(reading(server(), client(), values));
                responder.extend(values);
                last_of.1 = values.last().copied();
            }
            if *responder_first {
                batch.reverse();
            }
            t.apply_rtt(&batch, (i as u64 + 2) * SEC);
            prop_assert!(t.take_changes().len() <= 1);
        }
        let (kept, socket, last) = if initiator.is_empty() {
            (&responder, RttSocket::Responder, last_of.1)
        } else {
            (&initiator, RttSocket::Initiator, last_of.0)
        };
        let rtt = rtt_of(&t);
        if kept.is_empty() {
            prop_assert_eq!(rtt, None);
            return Ok(());
        }
        let rtt = rtt.unwrap();
        prop_assert_eq!(rtt.socket, socket);
        prop_assert_eq!(rtt.min_us, *kept.iter().min().unwrap());
        prop_assert_eq!(rtt.max_us, *kept.iter().max().unwrap());
        prop_assert_eq!(Some(rtt.last_us), last);
        prop_assert_eq!(rtt.samples, kept.len() as u64);
        prop_assert_eq!(rtt.sum_us, kept.iter().map(|&v| u64::from(v)).sum::<u64>());
        prop_assert!(u64::from(rtt.min_us) <= rtt.mean_us() && rtt.mean_us() <= u64::from(rtt.max_us));
    }
}
