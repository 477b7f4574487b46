//! A connection as the flow table keeps it: both directions under one key,
//! oriented initiator → responder.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::app::AppInfo;
use super::model::{Endpoint, FlowStatus, Protocol, UnixNanos};
use super::nat::NatBinding;
use super::optional_nanos::OptionalNanos;
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

/// What only some connections carry, kept out of [`FlowRecord`] behind one
/// box: a record's size is the flow table's memory (1M flows: the table
/// holds one record per flow, and a drain's change list one copy per flow
/// it touched), and a plain flow (no TCP socket on this node, no NAT, no
/// loss, no payload classified) has none of these. A record is 152 bytes
/// instead of 320 (boxed in the table: a 160-byte chunk instead of 336).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowExtras {
    /// Smoothed RTT readings of one of the connection's sockets on this
    /// node (TCP only; `None` until a reading arrives).
    pub rtt: Option<RttStats>,
    /// How conntrack translated the connection (DNAT, SNAT), when it did:
    /// the key is then the original tuple, as the initiator addressed it.
    pub nat: Option<NatBinding>,
    /// TCP segments retransmitted, both directions.
    pub retransmits: u64,
    /// Packets the kernel dropped, both directions.
    pub drops: u64,
    /// `drops` by the kernel's reason.
    pub drop_reasons: BTreeMap<Arc<str>, u64>,
    /// Application protocol and DNS, from payload samples (boxed again:
    /// records with an RTT or NAT are common, with payload findings less).
    pub app: Option<Box<AppInfo>>,
}

/// What [`FlowRecord::drop_reasons`] lends for a record without extras.
static NO_DROP_REASONS: BTreeMap<Arc<str>, u64> = BTreeMap::new();

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
    pub connect_latency_ns: OptionalNanos,
    /// When the connection ended (terminal event or packet, or idle-out time).
    pub ended_at: OptionalNanos,
    /// Interface where the connection was first counted (0: not yet seen by TC).
    pub ifindex: u32,
    /// Last ICMP type/code seen, for ICMP flows.
    pub icmp: Option<(u8, u8)>,
    /// `now` of the last table operation that changed this record.
    pub updated_at: UnixNanos,
    /// RTT, NAT, loss and payload findings: `None` while the connection
    /// has none of them (see [`FlowExtras`]). Read them with the accessors
    /// ([`rtt`](Self::rtt), [`nat`](Self::nat), ...).
    pub extras: Option<Box<FlowExtras>>,
    /// The flow table's own marks: here, in the record's padding, rather
    /// than beside the record in the table, where they made every boxed
    /// entry 8 bytes larger and its allocation a size class (16 B) more.
    pub(crate) table_marks: TableMarks,
}

/// What the flow table remembers of a record beyond its data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TableMarks {
    /// The handshake completed (SYN-ACK seen, or an established/accepted
    /// event): an idle-out is then `Closed`, never `Timeout`, even when the
    /// responder's packets were not counted.
    pub(crate) established: bool,
    /// Terminal because it idled out, not because the connection said so:
    /// traffic after `ended_at` is a new flow.
    pub(crate) idle_ended: bool,
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
            connect_latency_ns: OptionalNanos::NONE,
            ended_at: OptionalNanos::NONE,
            ifindex,
            icmp: None,
            updated_at: now,
            extras: None,
            table_marks: TableMarks::default(),
        }
    }

    /// Smoothed RTT of one of the connection's sockets (see [`FlowExtras`]).
    pub fn rtt(&self) -> Option<RttStats> {
        self.extras.as_ref().and_then(|e| e.rtt)
    }

    /// How conntrack translated the connection, when it did.
    pub fn nat(&self) -> Option<NatBinding> {
        self.extras.as_ref().and_then(|e| e.nat)
    }

    /// TCP segments retransmitted, both directions.
    pub fn retransmits(&self) -> u64 {
        self.extras.as_ref().map_or(0, |e| e.retransmits)
    }

    /// Packets the kernel dropped, both directions.
    pub fn drops(&self) -> u64 {
        self.extras.as_ref().map_or(0, |e| e.drops)
    }

    /// [`drops`](Self::drops) by the kernel's reason.
    pub fn drop_reasons(&self) -> &BTreeMap<Arc<str>, u64> {
        self.extras
            .as_ref()
            .map_or(&NO_DROP_REASONS, |e| &e.drop_reasons)
    }

    /// Application protocol and DNS, from payload samples.
    pub fn app(&self) -> Option<&AppInfo> {
        self.extras.as_ref().and_then(|e| e.app.as_deref())
    }

    /// The extras, created empty on first use: only call it to set one.
    pub fn extras_mut(&mut self) -> &mut FlowExtras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// Sets the RTT. Setting `None` allocates nothing, and frees the extras
    /// when nothing else is left in them.
    pub fn set_rtt(&mut self, rtt: Option<RttStats>) {
        if rtt.is_some() || self.extras.is_some() {
            self.extras_mut().rtt = rtt;
            self.drop_empty_extras();
        }
    }

    /// Sets the NAT binding, like [`set_rtt`](Self::set_rtt).
    pub fn set_nat(&mut self, nat: Option<NatBinding>) {
        if nat.is_some() || self.extras.is_some() {
            self.extras_mut().nat = nat;
            self.drop_empty_extras();
        }
    }

    /// Keeps `extras` `None` when they hold nothing: a record's extras are
    /// then the same whatever was set and unset, and records compare equal.
    fn drop_empty_extras(&mut self) {
        if self
            .extras
            .as_deref()
            .is_some_and(|e| *e == FlowExtras::default())
        {
            self.extras = None;
        }
    }

    pub fn tcp_flags(&self) -> u32 {
        self.tx_tcp_flags | self.rx_tcp_flags
    }

    /// The initiator's address as the responder saw it, when SNAT changed it.
    pub fn translated_initiator(&self) -> Option<Endpoint> {
        self.nat()
            .and_then(|nat| nat.translated_end(self.key.initiator))
    }

    /// The responder that answered, when DNAT sent the connection elsewhere
    /// than the address the initiator used.
    pub fn translated_responder(&self) -> Option<Endpoint> {
        self.nat()
            .and_then(|nat| nat.translated_end(self.key.responder))
    }

    /// The ends as the workloads behind them: the initiator as it is, the
    /// responder DNAT chose rather than the Service address. What names and
    /// locality are decided from.
    pub fn real_ends(&self) -> (Endpoint, Endpoint) {
        match self.nat() {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The flow table keeps one record per flow (boxed, its marks inside)
    /// and a drain one copy per changed flow: a field added
    /// here costs a million times its size at a million flows. Rarely set
    /// fields go in `FlowExtras`.
    #[test]
    fn a_record_without_extras_stays_small() {
        eprintln!(
            "FlowRecord {} B, FlowExtras {} B, FlowChange {} B",
            std::mem::size_of::<FlowRecord>(),
            std::mem::size_of::<FlowExtras>(),
            std::mem::size_of::<FlowChange>()
        );
        assert!(std::mem::size_of::<FlowRecord>() <= 152);
        // The table boxes a record alone: 152 B is glibc's 160-byte chunk.
        assert_eq!(std::mem::size_of::<FlowRecord>() % 16, 8);
    }
}
