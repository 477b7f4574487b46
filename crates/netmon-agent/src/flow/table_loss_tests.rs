use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use crate::flow::{
    tcp_flags, ConnectionKey, DirectionalKey, Endpoint, FlowChangeKind, FlowDelta, FlowStatus,
    FlowTable, FlowTableConfig, LossDelta, LossKind, Protocol, UnattributedLoss,
};

const MS: u64 = 1_000_000;

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

fn table() -> FlowTable {
    FlowTable::new(FlowTableConfig {
        max_flows: 100,
        flow_timeout: Duration::from_secs(30),
        closed_retention: Duration::from_secs(60),
    })
}

fn packet(src: Endpoint, dst: Endpoint, flags: u32) -> FlowDelta {
    FlowDelta {
        key: DirectionalKey {
            src,
            dst,
            protocol: Protocol::Tcp,
        },
        bytes: 100,
        packets: 1,
        first_seen: MS,
        last_seen: MS,
        tcp_flags: flags,
        ifindex: 3,
        icmp: None,
    }
}

/// A table holding the connection client → server (SYN seen).
fn with_connection() -> FlowTable {
    let mut table = table();
    table.apply_deltas(
        &[
            packet(client(), server(), tcp_flags::SYN | tcp_flags::SYN_ONLY),
            packet(server(), client(), tcp_flags::SYN | tcp_flags::ACK),
        ],
        2 * MS,
    );
    table.take_changes();
    table
}

fn retransmits(src: Endpoint, dst: Endpoint, count: u64) -> LossDelta {
    LossDelta {
        key: DirectionalKey {
            src,
            dst,
            protocol: Protocol::Tcp,
        },
        kind: LossKind::Retransmits,
        count,
    }
}

fn drops(src: Endpoint, dst: Endpoint, reason: &str, count: u64) -> LossDelta {
    LossDelta {
        key: DirectionalKey {
            src,
            dst,
            protocol: Protocol::Tcp,
        },
        kind: LossKind::Drops {
            reason: Arc::from(reason),
        },
        count,
    }
}

fn connection() -> ConnectionKey {
    ConnectionKey {
        protocol: Protocol::Tcp,
        initiator: client(),
        responder: server(),
    }
}

#[test]
fn retransmits_of_both_directions_count_on_the_one_connection() {
    let mut table = with_connection();
    let unattributed = table.apply_loss(
        &[
            retransmits(client(), server(), 3),
            retransmits(server(), client(), 2),
        ],
        5 * MS,
    );
    assert_eq!(unattributed, UnattributedLoss::default());
    let record = table.get(&connection()).unwrap();
    assert_eq!(record.retransmits(), 5);
    assert_eq!((record.drops(), record.drop_reasons().len()), (0, 0));
}

#[test]
fn drops_are_summed_and_kept_by_reason() {
    let mut table = with_connection();
    table.apply_loss(
        &[
            drops(client(), server(), "NETFILTER_DROP", 4),
            drops(server(), client(), "TCP_OLD_DATA", 1),
        ],
        5 * MS,
    );
    table.apply_loss(&[drops(client(), server(), "NETFILTER_DROP", 2)], 6 * MS);
    let record = table.get(&connection()).unwrap();
    assert_eq!(record.drops(), 7);
    let reasons: Vec<(&str, u64)> = record
        .drop_reasons()
        .iter()
        .map(|(reason, n)| (&**reason, *n))
        .collect();
    assert_eq!(reasons, [("NETFILTER_DROP", 6), ("TCP_OLD_DATA", 1)]);
}

#[test]
fn each_touched_connection_reports_one_update_without_packets() {
    let mut table = with_connection();
    table.apply_loss(
        &[
            retransmits(client(), server(), 1),
            drops(client(), server(), "NETFILTER_DROP", 1),
        ],
        5 * MS,
    );
    let changes = table.take_changes();
    assert_eq!(changes.len(), 1);
    let change = &changes[0];
    assert_eq!(change.kind, FlowChangeKind::Updated);
    assert_eq!((change.added_tx.packets, change.added_rx.packets), (0, 0));
    assert_eq!((change.record.retransmits(), change.record.drops()), (1, 1));
    assert_eq!(change.record.updated_at, 5 * MS);
    assert_eq!(
        change.record.last_seen, MS,
        "loss is not traffic: last_seen stays"
    );
}

#[test]
fn loss_of_a_connection_the_table_does_not_hold_is_returned_not_recorded() {
    let mut table = with_connection();
    let stranger = ep(9, 5000);
    let unattributed = table.apply_loss(
        &[
            retransmits(stranger, server(), 3),
            drops(stranger, server(), "NO_SOCKET", 2),
            drops(client(), server(), "NETFILTER_DROP", 1),
        ],
        5 * MS,
    );
    assert_eq!(
        unattributed,
        UnattributedLoss {
            retransmits: 3,
            drops: 2
        }
    );
    assert_eq!(table.len(), 1, "loss never creates a record");
    assert_eq!(table.get(&connection()).unwrap().drops(), 1);
}

#[test]
fn a_closed_connection_still_takes_its_late_loss_and_stays_closed() {
    let mut table = with_connection();
    table.apply_deltas(
        &[
            packet(client(), server(), tcp_flags::FIN | tcp_flags::ACK),
            packet(server(), client(), tcp_flags::FIN | tcp_flags::ACK),
        ],
        3 * MS,
    );
    assert_eq!(table.get(&connection()).unwrap().status, FlowStatus::Closed);
    table.take_changes();
    table.apply_loss(&[drops(server(), client(), "QUEUE_PURGE", 1)], 4 * MS);
    let changes = table.take_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].kind, FlowChangeKind::Updated);
    let record = table.get(&connection()).unwrap();
    assert_eq!((record.status, record.drops()), (FlowStatus::Closed, 1));
}
