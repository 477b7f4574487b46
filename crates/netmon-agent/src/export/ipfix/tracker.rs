//! Which counters have not been exported yet, per flow, and when they are
//! due: the flow table's changes go in, unidirectional records come out.
//!
//! Pure: it takes `now` as an argument and does no IO.
//!
//! - Every change's `added_tx`/`added_rx` is added exactly once, so the
//!   records of a flow sum to its counters in the flow table (and the API).
//! - A flow's unexported counters start a window at its first change that
//!   brings some; the window is exported `active_timeout` later if the flow
//!   is still active, or at the next look once the flow ended (closed,
//!   reset, refused, timed out, evicted). Counters that arrive after the
//!   end (the last ACK of a closed connection) are a window of their own,
//!   exported at the next look.
//! - A window is exported as up to two records, initiator → responder with
//!   the flow's `tx` and responder → initiator with its `rx`, each only
//!   when it carries packets: unidirectional records are what every
//!   collector reads (nfdump included), where RFC 5103 biflows are not.
//! - Start and end: the first window of a flow starts at the flow's first
//!   packet; a later one at the last packet of the first drain that counted
//!   into it (the change carries no earlier time), up to one flush interval
//!   late. It ends at the flow's last packet so far. Both records of a
//!   window carry the same times, and the TCP flags of their direction
//!   since the flow began.
//! - At most `capacity` flows are held; counters of a flow that finds no
//!   room are not exported, and counted.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use super::record::{EndReason, FlowDirection, IpfixRecord};
use crate::flow::{
    Counters, Direction, FlowChange, FlowChangeKind, FlowRecord, FlowStatus, Protocol, UnixNanos,
};

/// A flow's counters awaiting export.
#[derive(Debug, Clone)]
struct Pending {
    record: FlowSummary,
    tx: Counters,
    rx: Counters,
    window_start: UnixNanos,
    /// `None` while the flow is active: it is then due at `due_at`.
    end: Option<EndReason>,
    due_at: UnixNanos,
}

/// What a record needs of the flow, kept up to date by each change.
#[derive(Debug, Clone)]
struct FlowSummary {
    protocol: Protocol,
    initiator: (std::net::IpAddr, u16),
    responder: (std::net::IpAddr, u16),
    tx_tcp_flags: u32,
    rx_tcp_flags: u32,
    last_seen: UnixNanos,
    direction: Direction,
}

impl FlowSummary {
    fn of(record: &FlowRecord, direction: Direction) -> Self {
        FlowSummary {
            protocol: record.key.protocol,
            initiator: (record.key.initiator.ip, record.key.initiator.port),
            responder: (record.key.responder.ip, record.key.responder.port),
            tx_tcp_flags: record.tx_tcp_flags,
            rx_tcp_flags: record.rx_tcp_flags,
            last_seen: record.last_seen,
            direction,
        }
    }
}

#[derive(Debug)]
pub struct FlowTracker {
    active_timeout_ns: u64,
    capacity: usize,
    flows: HashMap<u64, Pending>,
    /// Active flows by when they are due: `(due_at, id)`.
    due: BTreeSet<(UnixNanos, u64)>,
    /// Ended flows, due at the next look.
    ended: BTreeSet<u64>,
}

impl FlowTracker {
    pub fn new(active_timeout: Duration, capacity: usize) -> Self {
        FlowTracker {
            active_timeout_ns: u64::try_from(active_timeout.as_nanos()).unwrap_or(u64::MAX),
            capacity: capacity.max(1),
            flows: HashMap::new(),
            due: BTreeSet::new(),
            ended: BTreeSet::new(),
        }
    }

    /// Flows with counters awaiting export.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Takes in one change of the flow table; `direction` is the flow's at
    /// this node. Returns how many records were lost because the tracker
    /// was full (0, 1 or 2).
    pub fn observe(&mut self, change: &FlowChange, direction: Direction) -> u64 {
        let record = &change.record;
        let end = end_reason(change);
        let adds = !is_zero(change.added_tx) || !is_zero(change.added_rx);
        if let Some(pending) = self.flows.get_mut(&record.id) {
            add(&mut pending.tx, change.added_tx);
            add(&mut pending.rx, change.added_rx);
            pending.record = FlowSummary::of(record, direction);
            if pending.end.is_none() && end.is_some() {
                pending.end = end;
                self.due.remove(&(pending.due_at, record.id));
                self.ended.insert(record.id);
            }
            return 0;
        }
        if !adds {
            // Nothing unexported: an end without new counters has nothing
            // left to report.
            return 0;
        }
        if self.flows.len() >= self.capacity {
            return u64::from(!is_zero(change.added_tx)) + u64::from(!is_zero(change.added_rx));
        }
        // The change that brought the flow's very first counters: its
        // window starts with the flow.
        let first_counters = record.tx == change.added_tx && record.rx == change.added_rx;
        let window_start = if first_counters {
            record.first_seen
        } else {
            record.last_seen
        };
        let due_at = record.updated_at.saturating_add(self.active_timeout_ns);
        match end {
            Some(_) => {
                self.ended.insert(record.id);
            }
            None => {
                self.due.insert((due_at, record.id));
            }
        }
        self.flows.insert(
            record.id,
            Pending {
                record: FlowSummary::of(record, direction),
                tx: change.added_tx,
                rx: change.added_rx,
                window_start,
                end,
                due_at,
            },
        );
        0
    }

    /// Records of every ended flow, and of every active flow whose active
    /// timeout passed by `now`; those flows' counters are then exported.
    pub fn take_due(&mut self, now: UnixNanos) -> Vec<IpfixRecord> {
        let mut ids: Vec<u64> = std::mem::take(&mut self.ended).into_iter().collect();
        while let Some(&(due_at, id)) = self.due.first() {
            if due_at > now {
                break;
            }
            self.due.pop_first();
            ids.push(id);
        }
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| self.flows.remove(&id))
            .flat_map(|pending| {
                let reason = pending.end.unwrap_or(EndReason::ActiveTimeout);
                records(&pending, reason)
            })
            .collect()
    }

    /// Records of everything held, active flows as `ForcedEnd`: the last
    /// export before the agent stops.
    pub fn take_all(&mut self) -> Vec<IpfixRecord> {
        self.due.clear();
        self.ended.clear();
        let mut pending: Vec<(u64, Pending)> = self.flows.drain().collect();
        pending.sort_unstable_by_key(|(id, _)| *id);
        pending
            .into_iter()
            .flat_map(|(_, pending)| {
                let reason = pending.end.unwrap_or(EndReason::ForcedEnd);
                records(&pending, reason)
            })
            .collect()
    }
}

/// Why a change ends its flow's export, if it does.
fn end_reason(change: &FlowChange) -> Option<EndReason> {
    let record = &change.record;
    match change.kind {
        FlowChangeKind::Evicted => Some(EndReason::LackOfResources),
        _ if !record.status.is_terminal() => None,
        _ => Some(match record.status {
            FlowStatus::Timeout => EndReason::IdleTimeout,
            // An idle-out ends a flow `flow_timeout` after its last packet;
            // a FIN exchange at its last packet.
            FlowStatus::Closed
                if record
                    .ended_at
                    .get()
                    .is_some_and(|end| end > record.last_seen) =>
            {
                EndReason::IdleTimeout
            }
            _ => EndReason::EndOfFlow,
        }),
    }
}

fn is_zero(counters: Counters) -> bool {
    counters.bytes == 0 && counters.packets == 0
}

fn add(total: &mut Counters, more: Counters) {
    total.bytes = total.bytes.saturating_add(more.bytes);
    total.packets = total.packets.saturating_add(more.packets);
}

/// The window's records: initiator → responder, then the reverse, each
/// only when it carries packets or bytes.
fn records(pending: &Pending, end_reason: EndReason) -> Vec<IpfixRecord> {
    let flow = &pending.record;
    let (forward, reverse) = match flow.direction {
        Direction::Egress => (Some(FlowDirection::Egress), Some(FlowDirection::Ingress)),
        Direction::Ingress => (Some(FlowDirection::Ingress), Some(FlowDirection::Egress)),
        Direction::Forwarded => (None, None),
    };
    let tcp = flow.protocol == Protocol::Tcp;
    let flags = |bits: u32| if tcp { (bits & 0xff) as u16 } else { 0 };
    let start_ms = pending.window_start / 1_000_000;
    let end_ms = flow.last_seen.max(pending.window_start) / 1_000_000;
    let one = |from: (std::net::IpAddr, u16),
               to: (std::net::IpAddr, u16),
               counters: Counters,
               tcp_flags: u16,
               direction: Option<FlowDirection>| IpfixRecord {
        source: from.0,
        destination: to.0,
        source_port: from.1,
        destination_port: to.1,
        protocol: flow.protocol.number(),
        tcp_flags,
        octets: counters.bytes,
        packets: counters.packets,
        start_ms,
        end_ms,
        direction,
        end_reason,
    };
    let mut out = Vec::with_capacity(2);
    if !is_zero(pending.tx) {
        out.push(one(
            flow.initiator,
            flow.responder,
            pending.tx,
            flags(flow.tx_tcp_flags),
            forward,
        ));
    }
    if !is_zero(pending.rx) {
        out.push(one(
            flow.responder,
            flow.initiator,
            pending.rx,
            flags(flow.rx_tcp_flags),
            reverse,
        ));
    }
    out
}
