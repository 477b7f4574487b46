//! Flow changes → one protobuf `FlowRecord` per flow and export interval.
//!
//! The flow table reports what each operation added to a flow
//! (`added_tx`/`added_rx`); summing them over a flow's changes gives its
//! counters, each packet once. Here those additions are summed per flow
//! until the interval ends, so a record carries exactly the bytes and
//! packets of its interval and the records of a flow add up to its
//! counters. A flow is reported for an interval in which it gained
//! counters or retransmissions, or ended. A flow the data path never
//! counted (known only from socket events, e.g. on an interface that is not
//! watched, or in another network namespace) has nothing for the server and
//! is never reported.
//!
//! Retransmissions are a running total on the flow, so the total already
//! reported is remembered per flow. That memory outlives the interval: an
//! ended flow keeps absorbing late packets until the table prunes it, and
//! an active one changes at least once per `flow.flow_timeout` (it idles
//! out otherwise), so a flow untouched for longer than `forget_after`
//! intervals will not change again and is forgotten.

use std::collections::BTreeMap;
use std::net::IpAddr;

use netmon_proto::flows::v1 as proto;

use crate::enrich::{EndpointIdentity, FlowIdentity};
use crate::export::prometheus::FlowContext;
use crate::flow::{
    ConnectionKey, Counters, Direction, Endpoint, FlowChange, FlowChangeKind, FlowStatus,
};

/// One export interval: where it starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub start_unix_ns: u64,
    pub seconds: u32,
}

/// The flows with something to report, and what was reported of the others.
#[derive(Debug)]
pub struct IntervalRecords {
    /// This node's name, on every record.
    node: String,
    /// Intervals a flow may go untouched before it is forgotten.
    forget_after: u64,
    /// Intervals taken so far: the clock of `last_touched`.
    taken: u64,
    /// By flow id, so records come out in the order the flows opened.
    flows: BTreeMap<u64, PendingFlow>,
}

#[derive(Debug)]
struct PendingFlow {
    key: ConnectionKey,
    status: FlowStatus,
    direction: Direction,
    identity: FlowIdentity,
    connect_latency_ns: Option<u64>,
    rtt_us: Option<u32>,
    /// Added in the current interval.
    tx: Counters,
    rx: Counters,
    /// The flow's running total, and how much of it was reported.
    retransmits: u64,
    reported_retransmits: u64,
    /// Something to report for the current interval.
    due: bool,
    /// No change can follow (evicted: the table forgot the flow).
    gone: bool,
    last_touched: u64,
}

impl IntervalRecords {
    pub fn new(node: impl Into<String>, forget_after: u64) -> Self {
        IntervalRecords {
            node: node.into(),
            forget_after: forget_after.max(1),
            taken: 0,
            flows: BTreeMap::new(),
        }
    }

    /// Takes in one change of the flow table, with the flow's direction and
    /// names as the agent sees them now.
    pub fn observe(&mut self, change: &FlowChange, context: FlowContext) {
        let record = &change.record;
        // What a change adds is part of the record's counters, so a record
        // without packets has added none either.
        if record.tx.packets == 0 && record.rx.packets == 0 {
            return;
        }
        let taken = self.taken;
        let flow = self.flows.entry(record.id).or_insert_with(|| PendingFlow {
            key: record.key,
            status: record.status,
            direction: context.direction,
            identity: FlowIdentity::default(),
            connect_latency_ns: None,
            rtt_us: None,
            tx: Counters::default(),
            rx: Counters::default(),
            retransmits: 0,
            reported_retransmits: 0,
            due: false,
            gone: false,
            last_touched: taken,
        });
        flow.key = record.key;
        flow.status = record.status;
        flow.direction = context.direction;
        flow.identity = context.identity;
        flow.connect_latency_ns = record.connect_latency_ns.get();
        flow.rtt_us = record.rtt().map(|rtt| rtt.last_us);
        flow.tx = add(flow.tx, change.added_tx);
        flow.rx = add(flow.rx, change.added_rx);
        flow.retransmits = flow.retransmits.max(record.retransmits());
        flow.last_touched = taken;
        let counted = change.added_tx != Counters::default()
            || change.added_rx != Counters::default()
            || flow.retransmits != flow.reported_retransmits;
        let ended = matches!(
            change.kind,
            FlowChangeKind::Closed | FlowChangeKind::Evicted
        );
        flow.due |= counted || ended;
        flow.gone |= change.kind == FlowChangeKind::Evicted;
    }

    /// Ends the interval: one record per flow with something to report,
    /// in flow order, and the counters start again from zero.
    pub fn take(&mut self, interval: Interval) -> Vec<proto::FlowRecord> {
        let mut records = Vec::new();
        for flow in self.flows.values_mut().filter(|flow| flow.due) {
            records.push(flow.record(&self.node, interval));
            flow.reported_retransmits = flow.retransmits;
            flow.tx = Counters::default();
            flow.rx = Counters::default();
            flow.due = false;
        }
        self.taken += 1;
        let (taken, forget_after) = (self.taken, self.forget_after);
        self.flows.retain(|_, flow| {
            !flow.gone && taken.saturating_sub(flow.last_touched) <= forget_after
        });
        records
    }

    /// Flows remembered: those with counters waiting, and those whose
    /// reported retransmissions are kept.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}

impl PendingFlow {
    fn record(&self, node: &str, interval: Interval) -> proto::FlowRecord {
        proto::FlowRecord {
            interval_start_unix_ns: interval.start_unix_ns,
            interval_seconds: interval.seconds,
            node: node.to_owned(),
            direction: direction(self.direction) as i32,
            protocol: u32::from(self.key.protocol.number()),
            status: status(self.status) as i32,
            ip_version: match self.key.initiator.ip {
                IpAddr::V4(_) => 4,
                IpAddr::V6(_) => 6,
            },
            src: Some(endpoint(self.key.initiator, &self.identity.src)),
            dst: Some(endpoint(self.key.responder, &self.identity.dst)),
            tx_bytes: self.tx.bytes,
            tx_packets: self.tx.packets,
            rx_bytes: self.rx.bytes,
            rx_packets: self.rx.packets,
            connect_latency_us: self.connect_latency_ns.map_or(0, |ns| ns / 1_000),
            rtt_us: self.rtt_us.map_or(0, u64::from),
            retransmits: self.retransmits.saturating_sub(self.reported_retransmits),
        }
    }
}

fn add(a: Counters, b: Counters) -> Counters {
    Counters {
        bytes: a.bytes.saturating_add(b.bytes),
        packets: a.packets.saturating_add(b.packets),
    }
}

fn endpoint(end: Endpoint, identity: &EndpointIdentity) -> proto::Endpoint {
    let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
    proto::Endpoint {
        ip: ip_bytes(end.ip).to_vec(),
        port: u32::from(end.port),
        pod: text(identity.pod.as_deref()),
        namespace: text(identity.namespace.as_deref()),
        workload: text(identity.workload.as_ref().map(|w| &*w.name)),
        service: text(identity.service.as_ref().map(|s| &*s.name)),
        node: text(identity.node.as_deref()),
    }
}

/// 16 bytes, IPv4 as IPv4-mapped IPv6, as the schema asks.
pub fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn direction(direction: Direction) -> proto::Direction {
    match direction {
        Direction::Ingress => proto::Direction::Ingress,
        Direction::Egress => proto::Direction::Egress,
        Direction::Forwarded => proto::Direction::Forwarded,
    }
}

fn status(status: FlowStatus) -> proto::FlowStatus {
    match status {
        FlowStatus::Active => proto::FlowStatus::Active,
        FlowStatus::Closed => proto::FlowStatus::Closed,
        FlowStatus::Reset => proto::FlowStatus::Reset,
        FlowStatus::Refused => proto::FlowStatus::Refused,
        FlowStatus::Timeout => proto::FlowStatus::Timeout,
    }
}
