//! A connection as the flow table keeps it: both directions under one key,
//! oriented initiator → responder.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::app::AppInfo;
use super::model::{Endpoint, FlowStatus, Protocol, UnixNanos};
use super::nat::NatBinding;
use super::rtt::RttStats;

/// Key of a connection: the same for both directions' packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionKey {
    pub protocol: Protocol,
    pub initiator: Endpoint,
    pub responder: Endpoint,
}

/// Counter values for one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub bytes: u64,
    pub packets: u64,
}

/// One connection, both directions. `tx` is initiator → responder, `rx` is
/// responder → initiator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    /// Unique for the agent's lifetime; a new connection reusing a 5-tuple
    /// gets a new id.
    pub id: u64,
    pub key: ConnectionKey,
    pub tx: Counters,
    pub rx: Counters,
    pub tx_tcp_flags: u32,
    pub rx_tcp_flags: u32,
    /// First and last packet (or lifecycle event) of the connection.
    pub first_seen: UnixNanos,
    pub last_seen: UnixNanos,
    pub status: FlowStatus,
    /// SYN → SYN-ACK time measured in the kernel (active opens only).
    pub connect_latency_ns: Option<u64>,
    /// When the connection ended (terminal event or packet, or idle-out time).
    pub ended_at: Option<UnixNanos>,
    /// Interface where the connection was first counted (0: not yet seen by TC).
    pub ifindex: u32,
    /// Last ICMP type/code seen, for ICMP flows.
    pub icmp: Option<(u8, u8)>,
    /// Smoothed RTT readings of one of the connection's sockets on this
    /// node (TCP only; `None` until a reading arrives).
    pub rtt: Option<RttStats>,
    /// `now` of the last table operation that changed this record.
    pub updated_at: UnixNanos,
    /// How conntrack translated the connection (DNAT, SNAT), when it did:
    /// the key is then the original tuple, as the initiator addressed it.
    pub nat: Option<NatBinding>,
    /// TCP segments retransmitted, both directions.
    pub retransmits: u64,
    /// Packets the kernel dropped, both directions.
    pub drops: u64,
    /// `drops` by the kernel's reason.
    pub drop_reasons: BTreeMap<Arc<str>, u64>,
    /// Application protocol and DNS, from payload samples (boxed: most
    /// records have none, and a record's size is the table's memory).
    pub app: Option<Box<AppInfo>>,
}

impl FlowRecord {
    /// A new active record with no packets counted yet; the table gives it
    /// its id when it is inserted.
    pub fn new(
        key: ConnectionKey,
        first_seen: UnixNanos,
        last_seen: UnixNanos,
        ifindex: u32,
        now: UnixNanos,
    ) -> Self {
        FlowRecord {
            id: 0,
            key,
            tx: Counters::default(),
            rx: Counters::default(),
            tx_tcp_flags: 0,
            rx_tcp_flags: 0,
            first_seen,
            last_seen,
            status: FlowStatus::Active,
            connect_latency_ns: None,
            ended_at: None,
            ifindex,
            icmp: None,
            rtt: None,
            updated_at: now,
            nat: None,
            retransmits: 0,
            drops: 0,
            drop_reasons: BTreeMap::new(),
            app: None,
        }
    }

    pub fn tcp_flags(&self) -> u32 {
        self.tx_tcp_flags | self.rx_tcp_flags
    }

    /// The initiator's address as the responder saw it, when SNAT changed it.
    pub fn translated_initiator(&self) -> Option<Endpoint> {
        self.nat
            .and_then(|nat| nat.translated_end(self.key.initiator))
    }

    /// The responder that answered, when DNAT sent the connection elsewhere
    /// than the address the initiator used.
    pub fn translated_responder(&self) -> Option<Endpoint> {
        self.nat
            .and_then(|nat| nat.translated_end(self.key.responder))
    }

    /// The ends as the workloads behind them: the initiator as it is, the
    /// responder DNAT chose rather than the Service address. What names and
    /// locality are decided from.
    pub fn real_ends(&self) -> (Endpoint, Endpoint) {
        match self.nat {
            Some(nat) => (nat.real(self.key.initiator), nat.real(self.key.responder)),
            None => (self.key.initiator, self.key.responder),
        }
    }
}

/// What a table operation did to a flow; consumers (metrics, the follow
/// stream) receive these in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowChangeKind {
    /// A new connection entered the table.
    Opened,
    /// Counters or fields of a connection changed.
    Updated,
    /// The connection reached a terminal status (reported once per flow).
    Closed,
    /// The connection was removed from the table while still active because
    /// the table was full (`flow.max_flows`); this is its final report.
    Evicted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowChange {
    pub kind: FlowChangeKind,
    /// Counters added to the flow by this change, per direction.
    pub added_tx: Counters,
    pub added_rx: Counters,
    /// Snapshot of the record after the change.
    pub record: FlowRecord,
}
