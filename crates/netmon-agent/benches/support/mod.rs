//! Synthetic flows shared by the criterion benches: TCP connections
//! `10.A.B.C:40000 → 192.0.2.1:(1 + i % ports)`, both directions counted,
//! as the kernel's drain would hand them to the flow table.

#![allow(dead_code)] // each bench uses its own part

use std::net::{IpAddr, Ipv4Addr};

use netmon_agent::flow::{
    tcp_flags, DirectionalKey, Endpoint, FlowChange, FlowDelta, FlowRecord, FlowTable,
    FlowTableConfig, Protocol,
};

/// `now` of the benches: 2026-12-06T00:00:00Z, in nanoseconds.
pub const NOW: u64 = 1_796_515_200_000_000_000;
pub const SECOND: u64 = 1_000_000_000;

pub fn config(max_flows: usize) -> FlowTableConfig {
    FlowTableConfig {
        max_flows,
        flow_timeout: std::time::Duration::from_secs(60),
        closed_retention: std::time::Duration::from_secs(60),
    }
}

fn client(i: usize) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8)),
        port: 40000,
    }
}

fn server(i: usize, ports: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        port: 1 + (i % usize::from(ports)) as u16,
    }
}

/// The request and reply direction of `flows` connections over one
/// interval ending at `at`; `opening` adds the handshake's flags.
pub fn deltas(flows: usize, ports: u16, at: u64, opening: bool) -> Vec<FlowDelta> {
    let (out_flags, in_flags) = if opening {
        (
            tcp_flags::SYN | tcp_flags::SYN_ONLY | tcp_flags::ACK | tcp_flags::PSH,
            tcp_flags::SYN | tcp_flags::SYN_ACK | tcp_flags::ACK | tcp_flags::PSH,
        )
    } else {
        (
            tcp_flags::ACK | tcp_flags::PSH,
            tcp_flags::ACK | tcp_flags::PSH,
        )
    };
    let mut out = Vec::with_capacity(flows * 2);
    for i in 0..flows {
        let (c, s) = (client(i), server(i, ports));
        let one = |src, dst, bytes, flags| FlowDelta {
            key: DirectionalKey {
                src,
                dst,
                protocol: Protocol::Tcp,
            },
            bytes,
            packets: 10,
            first_seen: at - SECOND,
            last_seen: at,
            tcp_flags: flags,
            ifindex: 2,
            icmp: None,
        };
        out.push(one(c, s, 1_500, out_flags));
        out.push(one(s, c, 64_000, in_flags));
    }
    out
}

/// A table holding `flows` active connections, and the changes that
/// opened them.
pub fn table_with(flows: usize, ports: u16) -> (FlowTable, Vec<FlowChange>) {
    let mut table = FlowTable::new(config(flows * 2));
    table.apply_deltas(&deltas(flows, ports, NOW, true), NOW);
    let changes = table.take_changes();
    (table, changes)
}

/// The records of `flows` active connections.
pub fn records(flows: usize) -> Vec<FlowRecord> {
    let (table, _) = table_with(flows, 1000);
    table.records().cloned().collect()
}
