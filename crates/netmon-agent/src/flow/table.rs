//! The flow table: merges the kernel's per-direction counters
//! ([`FlowDelta`]) and the TCP lifecycle events ([`TcpEvent`]) into one
//! [`FlowRecord`] per connection, and reports what changed as [`FlowChange`]s.
//!
//! The table is pure: it does no IO and reads no clock, every operation that
//! depends on time takes `now`. That keeps it deterministic for tests and
//! benchmarks, and lets the caller decide the flush cadence.
//!
//! # Rules the table follows where the kernel leaves room for choice
//!
//! * **One record per connection.** Both directions of a connection share an
//!   unordered pair of endpoints; the table is keyed by that pair, so a packet
//!   and its reply always land on the same record. The record's
//!   [`ConnectionKey`] fixes the orientation (`tx` = initiator → responder).
//! * **Orientation** of a new record: a direction carrying a SYN without ACK
//!   is the initiator's; otherwise a direction carrying a SYN-ACK is the
//!   responder's; otherwise (UDP, or a TCP connection first seen mid-stream)
//!   the direction seen first initiates, then the one whose source port is
//!   higher (ephemeral), then the lower endpoint. Decisions are taken on the
//!   whole batch of one pair, so the order of deltas in a slice never matters:
//!   batches are also processed pair by pair in a fixed order (earliest
//!   `first_seen` first), so ids, evictions and changes do not depend on it.
//! * **Status inference from flags** (TCP only, while the record is active):
//!   a RST from the responder before any SYN-ACK, when the opening SYN was
//!   seen, is `Refused` (without the SYN the handshake may simply have been
//!   missed, and the RST is then a `Reset`); any other RST is `Reset`; a FIN
//!   in both directions is `Closed`. `ended_at` is the latest `last_seen`
//!   among the deltas of the batch that ended it.
//! * **Events override inference** but the first terminal status wins, with
//!   one exception: a `Closed` record becomes `Reset` when a later event says
//!   the connection was reset (a `Reset` event, or a `Closed` event once RST
//!   flags were seen). That upgrade is reported as an `Updated` change; the
//!   `Closed` change is never sent twice. `ended_at` keeps its first value.
//! * **Idle timeout**: an active record whose `last_seen + flow_timeout <=
//!   now` ends with `ended_at = last_seen + flow_timeout`, the moment it
//!   became idle by definition, so the result does not depend on how often
//!   `expire` runs. A TCP record that never heard from the responder (no rx
//!   packet, no SYN-ACK, no established/accepted event) ends as `Timeout`,
//!   anything else as `Closed`.
//! * **New generations.** A terminal record keeps absorbing deltas (late ACKs
//!   after a FIN) without changing status. A new connection replaces it when
//!   (a) a TCP delta of either direction carries a SYN without ACK and was
//!   first seen after `ended_at`, (b) the record ended by idling out and a
//!   delta was first seen after `ended_at` (traffic after the idle window is a
//!   new flow by definition; it keeps the old orientation unless SYN flags say
//!   otherwise), or (c) an `OpenedActive` or `Accepted` event is later than
//!   `ended_at`. All deltas of the batch go to the new record: the kernel has
//!   already merged each direction's packets, so they cannot be split.
//! * **Changes.** Each operation emits at most one change per record, except
//!   that a record created and ended by the same operation emits `Opened` then
//!   `Closed`. A record that becomes terminal emits a single `Closed` carrying
//!   the counters the operation added (zero if an `Opened` in the same
//!   operation carried them). Summing `added_tx`/`added_rx` over all changes
//!   of a record id therefore gives its counters, each packet counted once.
//!   `Evicted` carries no counters and is the final report of an active
//!   record; a record is reported `Closed` or `Evicted`, never both.
//! * **Capacity.** Inserting into a full table first removes the terminal
//!   record that ended earliest, else evicts the least recently seen active
//!   one. `max_flows` is treated as at least 1 so a new connection always has
//!   a place. `pruned_total` counts every terminal record removed: after the
//!   retention, to make room, or replaced by a new generation; hence
//!   `opened_total == flows + evicted_total + pruned_total` and
//!   `closed_total == terminal + pruned_total`.
//! * **Translated connections** (`*_with_nat`): a delta or event whose key
//!   belongs to a connection conntrack translated is counted under the
//!   connection's original tuple ([`NatTable::attribute`]), so the request
//!   counted before DNAT and the reply counted before un-NAT are one record,
//!   and the record carries the binding (the last one seen). The rules above
//!   then apply unchanged to the attributed keys.
//! * **RTT readings** ([`FlowTable::apply_rtt`]) go to the record of their
//!   socket's pair, whatever its status, and never create one: a socket the
//!   table has no record for is one netmon does not report. Which socket's
//!   readings a record keeps is decided in [`super::rtt`]. A record whose
//!   RTT changed is reported `Updated` once per call, without counters.
//! * Changes accumulate until [`FlowTable::take_changes`] is called.
//!
//! Every operation is O(log n) per touched record: the records live in a hash
//! map and two ordered indexes keep the active records by `last_seen` and the
//! terminal ones by `ended_at`, for idle-out, pruning and eviction.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use ahash::RandomState;
use hashbrown::HashTable;

use super::model::{
    tcp_flags, DirectionalKey, Endpoint, FlowDelta, FlowStatus, Protocol, TcpEvent, TcpEventKind,
    UnixNanos,
};
use super::nat::{NatBinding, NatTable};
use super::optional_nanos::OptionalNanos;
use super::record::{ConnectionKey, Counters, FlowChange, FlowChangeKind, FlowRecord};
use super::rtt::{merge_rtt, RttReading, RttSocket};

/// Limits of the flow table; can be replaced at run time with
/// [`FlowTable::set_config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowTableConfig {
    /// Most records the table holds, terminal ones included.
    pub max_flows: usize,
    /// An active flow with no packet or event for this long is ended.
    pub flow_timeout: Duration,
    /// How long a terminal flow stays visible after it ended.
    pub closed_retention: Duration,
}

/// Counts describing the table, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowTableStats {
    /// Records in the table (active + terminal).
    pub flows: usize,
    pub active: usize,
    pub terminal: usize,
    /// Records ever created.
    pub opened_total: u64,
    /// Records reported `Closed`, whatever their terminal status.
    pub closed_total: u64,
    /// Active records dropped because the table was full.
    pub evicted_total: u64,
    /// Terminal records removed: after the retention, to make room, or
    /// replaced by a new connection on the same endpoints.
    pub pruned_total: u64,
}

/// Both directions of a connection: the endpoints in a fixed order, so a
/// packet and its reply find the same record with one lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct PairKey {
    protocol: Protocol,
    low: Endpoint,
    high: Endpoint,
}

impl PairKey {
    fn new(protocol: Protocol, a: Endpoint, b: Endpoint) -> Self {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        PairKey {
            protocol,
            low,
            high,
        }
    }

    fn oriented(self, initiator: Endpoint) -> ConnectionKey {
        let responder = if initiator == self.low {
            self.high
        } else {
            self.low
        };
        ConnectionKey {
            protocol: self.protocol,
            initiator,
            responder,
        }
    }
}

/// Position of a record in the ordered indexes: `(time, id, hash)`, where
/// time is `last_seen` for active records and `ended_at` for terminal ones.
/// The id makes entries unique and breaks ties oldest first; `hash` is the
/// hash of the record's pair, which finds it in `entries` (by id) without
/// a copy of the pair: 24-byte index entries instead of 64, in B-tree
/// nodes that inserts in time order leave about half full (1M flows: agent
/// RSS 424 -> 382 MB, BENCHMARKS.md, 2026-12-06).
type IndexEntry = (UnixNanos, u64, u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    terminal: bool,
    time: UnixNanos,
}

impl Slot {
    fn of(record: &FlowRecord) -> Self {
        if record.status.is_terminal() {
            Slot {
                terminal: true,
                time: record.ended_at.get().unwrap_or(record.last_seen),
            }
        } else {
            Slot {
                terminal: false,
                time: record.last_seen,
            }
        }
    }
}

/// The key the table finds a record by: a record's key never changes once
/// it is in the table (a new generation is a new record).
fn pair_of(record: &FlowRecord) -> PairKey {
    let key = &record.key;
    PairKey::new(key.protocol, key.initiator, key.responder)
}

/// What absorbing one batch did to an existing record.
struct Absorbed {
    before: Slot,
    added_tx: Counters,
    added_rx: Counters,
    became_terminal: bool,
}

/// The flow table. See the module documentation for its rules.
#[derive(Debug)]
pub struct FlowTable {
    config: FlowTableConfig,
    max_flows: usize,
    flow_timeout_ns: u64,
    retention_ns: u64,
    /// Boxed: a hash table keeps ~1.1-2.3 slots per record (it doubles
    /// when 7/8 full), and growing copies slots. Only the box is stored,
    /// found by the key it derives ([`pair_of`]); the table's own marks of a
    /// record are in it (`FlowRecord::table_marks`): a slot is an
    /// 8-byte pointer instead of a 56-byte key and pointer, 2M slots of
    /// 9 bytes (with hashbrown's control byte) instead of 57 at a million
    /// flows (BENCHMARKS.md, 2026-12-06).
    entries: HashTable<Box<FlowRecord>>,
    /// Hashes the entries' [`PairKey`]s: aHash, randomly seeded per table
    /// (keys are chosen by remote peers), ~5x cheaper than std's SipHash.
    hasher: RandomState,
    active: BTreeSet<IndexEntry>,
    terminal: BTreeSet<IndexEntry>,
    changes: Vec<FlowChange>,
    next_id: u64,
    opened_total: u64,
    closed_total: u64,
    evicted_total: u64,
    pruned_total: u64,
}

impl FlowTable {
    pub fn new(config: FlowTableConfig) -> Self {
        let mut table = FlowTable {
            config: config.clone(),
            max_flows: 1,
            flow_timeout_ns: 0,
            retention_ns: 0,
            entries: HashTable::new(),
            hasher: RandomState::new(),
            active: BTreeSet::new(),
            terminal: BTreeSet::new(),
            changes: Vec::new(),
            next_id: 1,
            opened_total: 0,
            closed_total: 0,
            evicted_total: 0,
            pruned_total: 0,
        };
        table.set_config(config);
        table
    }

    /// Replaces the limits. A smaller `max_flows` takes effect at the next
    /// insert or [`expire`](Self::expire), a new timeout at the next expire.
    pub fn set_config(&mut self, config: FlowTableConfig) {
        self.max_flows = config.max_flows.max(1);
        self.flow_timeout_ns = duration_nanos(config.flow_timeout);
        self.retention_ns = duration_nanos(config.closed_retention);
        self.config = config;
    }

    pub fn config(&self) -> &FlowTableConfig {
        &self.config
    }

    /// Adds one drain of per-direction counters.
    pub fn apply_deltas(&mut self, deltas: &[FlowDelta], now: UnixNanos) {
        self.apply_deltas_with_nat(deltas, &NatTable::new(1), now);
    }

    /// Adds one drain of per-direction counters, counting every delta of a
    /// translated connection in `nat` under the connection's original
    /// tuple (see [`NatTable::attribute`]): the request counted before DNAT
    /// and the reply counted before un-NAT make one record, which carries
    /// the binding.
    pub fn apply_deltas_with_nat(&mut self, deltas: &[FlowDelta], nat: &NatTable, now: UnixNanos) {
        if deltas.is_empty() {
            return;
        }
        let mut bindings: HashMap<PairKey, NatBinding> = HashMap::new();
        let deltas: Cow<'_, [FlowDelta]> = if nat.is_empty() {
            Cow::Borrowed(deltas)
        } else {
            Cow::Owned(
                deltas
                    .iter()
                    .map(|d| match nat.attribute(&d.key) {
                        Some((key, binding)) => {
                            bindings.insert(PairKey::new(key.protocol, key.src, key.dst), *binding);
                            FlowDelta { key, ..*d }
                        }
                        None => *d,
                    })
                    .collect(),
            )
        };
        let deltas = deltas.as_ref();
        // Sort by pair, then by a total order on the deltas, so that each
        // pair's deltas are contiguous and in a slice-order-independent order
        // (latest last — "latest ICMP type" is then the last one applied).
        let mut order: Vec<(PairKey, usize)> = deltas
            .iter()
            .enumerate()
            .map(|(i, d)| (PairKey::new(d.key.protocol, d.key.src, d.key.dst), i))
            .collect();
        order.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| delta_order(&deltas[a.1], &deltas[b.1]))
        });

        // Pairs in the order their traffic started: ids then follow time.
        let mut groups: Vec<(UnixNanos, usize, usize)> = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let pair = order[start].0;
            let end = start + order[start..].partition_point(|(p, _)| *p == pair);
            let first_seen = order[start..end]
                .iter()
                .map(|&(_, i)| deltas[i].first_seen)
                .min()
                .unwrap_or_default();
            groups.push((first_seen, start, end));
            start = end;
        }
        groups.sort_unstable();

        // At most one change per pair but for the rare opened-and-closed:
        // reserving once spares a large drain the copies of a growing Vec.
        self.changes.reserve(groups.len());
        let mut batch: Vec<&FlowDelta> = Vec::new();
        for &(_, start, end) in &groups {
            batch.clear();
            batch.extend(order[start..end].iter().map(|&(_, i)| &deltas[i]));
            let pair = order[start].0;
            self.apply_pair(pair, &batch, bindings.get(&pair), now);
        }
    }

    /// Adds one TCP lifecycle event.
    pub fn apply_tcp_event(&mut self, event: &TcpEvent, now: UnixNanos) {
        self.apply_tcp_event_with_nat(event, &NatTable::new(1), now);
    }

    /// Adds one TCP lifecycle event; the socket of a translated connection
    /// in `nat` (the backend's sees the client, the client's the Service
    /// address) reports to the connection's one record.
    pub fn apply_tcp_event_with_nat(&mut self, event: &TcpEvent, nat: &NatTable, now: UnixNanos) {
        let seen = DirectionalKey {
            src: event.local,
            dst: event.remote,
            protocol: Protocol::Tcp,
        };
        let (event, binding) = match nat.attribute(&seen) {
            Some((key, binding)) => (
                &TcpEvent {
                    local: key.src,
                    remote: key.dst,
                    ..*event
                },
                Some(*binding),
            ),
            None => (event, None),
        };
        let pair = PairKey::new(Protocol::Tcp, event.local, event.remote);
        match self
            .record(&pair)
            .map(|record| is_later_connection(record, event))
        {
            Some(false) => {
                self.touch_with_event(pair, event, binding, now);
                return;
            }
            Some(true) => self.remove_terminal(pair),
            None => {}
        }

        let initiator = match event.kind {
            TcpEventKind::Accepted => event.remote,
            _ => event.local,
        };
        let mut record = FlowRecord::new(
            pair.oriented(initiator),
            event.timestamp,
            event.timestamp,
            0,
            now,
        );
        record.set_nat(binding);
        apply_event(&mut record, event);
        self.insert_new(pair, record, Counters::default(), Counters::default());
    }

    /// Adds one drain of RTT readings (at most one per socket). Returns how
    /// many readings found no record.
    pub fn apply_rtt(&mut self, readings: &[RttReading], now: UnixNanos) -> usize {
        let mut unmatched = 0;
        let mut changed: Vec<(u64, PairKey)> = Vec::new();
        for reading in readings {
            let pair = PairKey::new(Protocol::Tcp, reading.local, reading.remote);
            let Some(record) = self.record_mut(&pair) else {
                unmatched += 1;
                continue;
            };
            let socket = if reading.local == record.key.initiator {
                RttSocket::Initiator
            } else {
                RttSocket::Responder
            };
            let current = record.rtt();
            let merged = merge_rtt(current, socket, reading);
            if merged != current {
                record.set_rtt(merged);
                record.updated_at = now;
                changed.push((record.id, pair));
            }
        }
        // One change per record, in id order whatever the readings' order.
        changed.sort_unstable();
        changed.dedup();
        for (_, pair) in changed {
            if let Some(record) = self.record(&pair) {
                let snapshot = record.clone();
                self.push_change(
                    FlowChangeKind::Updated,
                    Counters::default(),
                    Counters::default(),
                    snapshot,
                );
            }
        }
        unmatched
    }

    /// Ends active records idle for `flow_timeout` and removes terminal
    /// records older than `closed_retention` (already reported: no change).
    pub fn expire(&mut self, now: UnixNanos) {
        while let Some(&(last_seen, id, hash)) = self.active.first() {
            let idle_at = last_seen.saturating_add(self.flow_timeout_ns);
            if idle_at > now {
                break;
            }
            self.active.pop_first();
            let Some(record) = self.indexed_mut(id, hash) else {
                continue;
            };
            let unanswered = is_tcp(record)
                && !record.table_marks.established
                && record.rx.packets == 0
                && record.rx_tcp_flags & tcp_flags::SYN_ACK == 0;
            record.status = if unanswered {
                FlowStatus::Timeout
            } else {
                FlowStatus::Closed
            };
            record.ended_at = OptionalNanos::some(idle_at);
            record.updated_at = now;
            record.table_marks.idle_ended = true;
            let snapshot = record.clone();
            self.terminal.insert((idle_at, id, hash));
            self.closed_total += 1;
            self.push_change(
                FlowChangeKind::Closed,
                Counters::default(),
                Counters::default(),
                snapshot,
            );
        }

        while let Some(&(ended_at, id, hash)) = self.terminal.first() {
            if ended_at.saturating_add(self.retention_ns) > now {
                break;
            }
            self.terminal.pop_first();
            self.remove_indexed(id, hash);
            self.pruned_total += 1;
        }

        while self.entries.len() > self.max_flows && self.remove_one() {}
    }

    /// Changes since the previous call, oldest first.
    pub fn take_changes(&mut self) -> Vec<FlowChange> {
        std::mem::take(&mut self.changes)
    }

    /// Current and recently ended connections, in no particular order.
    pub fn records(&self) -> impl Iterator<Item = &FlowRecord> {
        self.entries.iter().map(|entry| &**entry)
    }

    /// The record with exactly this key (orientation included).
    pub fn get(&self, key: &ConnectionKey) -> Option<&FlowRecord> {
        self.record(&PairKey::new(key.protocol, key.initiator, key.responder))
            .filter(|record| record.key == *key)
    }

    /// The record of the connection between `a` and `b`, whichever initiated.
    pub fn find(&self, protocol: Protocol, a: Endpoint, b: Endpoint) -> Option<&FlowRecord> {
        self.record(&PairKey::new(protocol, a, b))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn stats(&self) -> FlowTableStats {
        FlowTableStats {
            flows: self.entries.len(),
            active: self.active.len(),
            terminal: self.terminal.len(),
            opened_total: self.opened_total,
            closed_total: self.closed_total,
            evicted_total: self.evicted_total,
            pruned_total: self.pruned_total,
        }
    }

    /// Applies all deltas of one pair from one batch; `binding` is the
    /// translation the pair's deltas were attributed through, if any.
    fn apply_pair(
        &mut self,
        pair: PairKey,
        batch: &[&FlowDelta],
        binding: Option<&NatBinding>,
        now: UnixNanos,
    ) {
        let mut keep_initiator = None;
        if let Some(record) = self.record_mut(&pair) {
            if !starts_new_generation(record, batch) {
                if binding.is_some() {
                    record.set_nat(binding.copied());
                }
                let absorbed = absorb_batch(record, batch, now);
                let snapshot = record.clone();
                self.reindex(pair, &snapshot, absorbed.before);
                let kind = if absorbed.became_terminal {
                    self.closed_total += 1;
                    FlowChangeKind::Closed
                } else {
                    FlowChangeKind::Updated
                };
                self.push_change(kind, absorbed.added_tx, absorbed.added_rx, snapshot);
                return;
            }
            if record.table_marks.idle_ended {
                keep_initiator = Some(record.key.initiator);
            }
            self.remove_terminal(pair);
        }

        let initiator = orient(pair, batch, keep_initiator);
        // The interface of the earliest packet: where the connection was
        // first counted.
        let ifindex = batch
            .iter()
            .min_by_key(|d| d.first_seen)
            .map_or(0, |d| d.ifindex);
        // first/last seen start at the extremes so that absorbing the batch
        // sets them from its packets.
        let mut record = FlowRecord::new(pair.oriented(initiator), UnixNanos::MAX, 0, ifindex, now);
        record.set_nat(binding.copied());
        let absorbed = absorb_batch(&mut record, batch, now);
        self.insert_new(pair, record, absorbed.added_tx, absorbed.added_rx);
    }

    /// Applies an event to the existing record of `pair`.
    fn touch_with_event(
        &mut self,
        pair: PairKey,
        event: &TcpEvent,
        binding: Option<NatBinding>,
        now: UnixNanos,
    ) {
        let Some(record) = self.record_mut(&pair) else {
            return;
        };
        let before = Slot::of(record);
        let mut outcome = apply_event(record, event);
        if binding.is_some() && record.nat() != binding {
            record.set_nat(binding);
            outcome.changed = true;
        }
        if !outcome.changed && !outcome.became_terminal {
            return;
        }
        record.updated_at = now;
        let snapshot = record.clone();
        self.reindex(pair, &snapshot, before);
        let kind = if outcome.became_terminal {
            self.closed_total += 1;
            FlowChangeKind::Closed
        } else {
            FlowChangeKind::Updated
        };
        self.push_change(kind, Counters::default(), Counters::default(), snapshot);
    }

    /// Inserts a record built by the caller: gives it an id, makes room, and
    /// reports it (`Opened` with the counters it starts with, then `Closed`
    /// if it is already terminal).
    fn insert_new(&mut self, pair: PairKey, mut record: FlowRecord, tx: Counters, rx: Counters) {
        while self.entries.len() >= self.max_flows && self.remove_one() {}
        record.id = self.next_id;
        self.next_id += 1;
        self.opened_total += 1;
        let slot = Slot::of(&record);
        let hash = self.hasher.hash_one(pair);
        self.index_for(slot).insert((slot.time, record.id, hash));
        let snapshot = record.clone();
        self.insert_record(hash, Box::new(record));
        let terminal = snapshot.status.is_terminal();
        if terminal {
            self.closed_total += 1;
            let closed = snapshot.clone();
            self.push_change(FlowChangeKind::Opened, tx, rx, snapshot);
            self.push_change(
                FlowChangeKind::Closed,
                Counters::default(),
                Counters::default(),
                closed,
            );
        } else {
            self.push_change(FlowChangeKind::Opened, tx, rx, snapshot);
        }
    }

    /// Frees one place: the terminal record that ended earliest, else the
    /// least recently seen active record. Returns false on an empty table.
    fn remove_one(&mut self) -> bool {
        if let Some((_, id, hash)) = self.terminal.pop_first() {
            self.remove_indexed(id, hash);
            self.pruned_total += 1;
            return true;
        }
        if let Some((_, id, hash)) = self.active.pop_first() {
            if let Some(record) = self.remove_indexed(id, hash) {
                self.evicted_total += 1;
                self.push_change(
                    FlowChangeKind::Evicted,
                    Counters::default(),
                    Counters::default(),
                    *record,
                );
            }
            return true;
        }
        false
    }

    /// Removes a terminal record that a new connection replaces.
    fn remove_terminal(&mut self, pair: PairKey) {
        if let Some(record) = self.remove_record(&pair) {
            let slot = Slot::of(&record);
            let hash = self.hasher.hash_one(pair);
            self.index_for(slot).remove(&(slot.time, record.id, hash));
            self.pruned_total += 1;
        }
    }

    fn record(&self, pair: &PairKey) -> Option<&FlowRecord> {
        self.entries
            .find(self.hasher.hash_one(pair), |entry| pair_of(entry) == *pair)
            .map(|entry| &**entry)
    }

    fn record_mut(&mut self, pair: &PairKey) -> Option<&mut FlowRecord> {
        self.entries
            .find_mut(self.hasher.hash_one(pair), |entry| pair_of(entry) == *pair)
            .map(|entry| &mut **entry)
    }

    /// Inserts a record whose pair (of hash `hash`) is not in the table yet.
    fn insert_record(&mut self, hash: u64, record: Box<FlowRecord>) {
        let hasher = &self.hasher;
        self.entries
            .insert_unique(hash, record, |record| hasher.hash_one(pair_of(record)));
    }

    /// The record of an index entry.
    fn indexed_mut(&mut self, id: u64, hash: u64) -> Option<&mut FlowRecord> {
        self.entries
            .find_mut(hash, |entry| entry.id == id)
            .map(|entry| &mut **entry)
    }

    fn remove_indexed(&mut self, id: u64, hash: u64) -> Option<Box<FlowRecord>> {
        self.entries
            .find_entry(hash, |entry| entry.id == id)
            .ok()
            .map(|found| found.remove().0)
    }

    fn remove_record(&mut self, pair: &PairKey) -> Option<Box<FlowRecord>> {
        self.entries
            .find_entry(self.hasher.hash_one(pair), |entry| pair_of(entry) == *pair)
            .ok()
            .map(|found| found.remove().0)
    }

    fn reindex(&mut self, pair: PairKey, record: &FlowRecord, before: Slot) {
        let after = Slot::of(record);
        if after == before {
            return;
        }
        let hash = self.hasher.hash_one(pair);
        self.index_for(before)
            .remove(&(before.time, record.id, hash));
        self.index_for(after).insert((after.time, record.id, hash));
    }

    fn index_for(&mut self, slot: Slot) -> &mut BTreeSet<IndexEntry> {
        if slot.terminal {
            &mut self.terminal
        } else {
            &mut self.active
        }
    }

    /// One `Updated` change without counters per record of `pairs`, in
    /// order: what loss and payload findings report.
    fn push_updated(&mut self, pairs: Vec<PairKey>) {
        for pair in pairs {
            let Some(snapshot) = self.record(&pair).cloned() else {
                continue;
            };
            self.push_change(
                FlowChangeKind::Updated,
                Counters::default(),
                Counters::default(),
                snapshot,
            );
        }
    }

    fn push_change(
        &mut self,
        kind: FlowChangeKind,
        added_tx: Counters,
        added_rx: Counters,
        record: FlowRecord,
    ) {
        self.changes.push(FlowChange {
            kind,
            added_tx,
            added_rx,
            record,
        });
    }
}

fn is_tcp(record: &FlowRecord) -> bool {
    record.key.protocol == Protocol::Tcp
}

/// Whether an event belongs to a new connection replacing the terminal record
/// `record`: only an opening event later than the end qualifies, because
/// a socket's closing events may trail the packets that ended the record.
fn is_later_connection(record: &FlowRecord, event: &TcpEvent) -> bool {
    matches!(
        event.kind,
        TcpEventKind::OpenedActive | TcpEventKind::Accepted
    ) && record.status.is_terminal()
        && record
            .ended_at
            .get()
            .is_some_and(|end| event.timestamp > end)
}

fn duration_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A total order on deltas of one pair, latest `last_seen` last.
fn delta_order(a: &FlowDelta, b: &FlowDelta) -> std::cmp::Ordering {
    let fields = |d: &FlowDelta| {
        (
            d.last_seen,
            d.first_seen,
            d.key,
            d.bytes,
            d.packets,
            d.tcp_flags,
            d.ifindex,
            d.icmp,
        )
    };
    fields(a).cmp(&fields(b))
}

fn has(flags: u32, bit: u32) -> bool {
    flags & bit != 0
}

/// Whether `batch` belongs to a new connection replacing the terminal record
/// `record` (see "New generations" in the module documentation).
fn starts_new_generation(record: &FlowRecord, batch: &[&FlowDelta]) -> bool {
    if !record.status.is_terminal() {
        return false;
    }
    let Some(ended_at) = record.ended_at.get() else {
        return false;
    };
    batch.iter().any(|d| {
        d.first_seen > ended_at
            && (record.table_marks.idle_ended
                || (is_tcp(record) && has(d.tcp_flags, tcp_flags::SYN_ONLY)))
    })
}

/// Chooses the initiator of a new record from one batch of its pair.
/// `keep` is the previous generation's initiator, used when the batch has no
/// SYN information.
fn orient(pair: PairKey, batch: &[&FlowDelta], keep: Option<Endpoint>) -> Endpoint {
    #[derive(Default)]
    struct Side {
        present: bool,
        flags: u32,
        first_seen: UnixNanos,
    }
    // `up` is low → high, `down` is high → low.
    let mut up = Side::default();
    let mut down = Side::default();
    for d in batch {
        let side = if d.key.src == pair.low {
            &mut up
        } else {
            &mut down
        };
        side.first_seen = if side.present {
            side.first_seen.min(d.first_seen)
        } else {
            d.first_seen
        };
        side.present = true;
        side.flags |= d.tcp_flags;
    }

    let tcp = pair.protocol == Protocol::Tcp;
    let syn_only = |s: &Side| tcp && has(s.flags, tcp_flags::SYN_ONLY);
    let syn_ack = |s: &Side| tcp && has(s.flags, tcp_flags::SYN_ACK);
    if syn_only(&up) != syn_only(&down) {
        return if syn_only(&up) { pair.low } else { pair.high };
    }
    if syn_ack(&up) != syn_ack(&down) {
        return if syn_ack(&up) { pair.high } else { pair.low };
    }
    if let Some(initiator) = keep {
        return initiator;
    }
    match (up.present, down.present) {
        (true, false) => pair.low,
        (false, true) => pair.high,
        _ => {
            if up.first_seen != down.first_seen {
                if up.first_seen < down.first_seen {
                    pair.low
                } else {
                    pair.high
                }
            } else if pair.high.port > pair.low.port {
                // `down`'s source port is the higher, ephemeral one.
                pair.high
            } else {
                pair.low
            }
        }
    }
}

/// Adds one batch of a pair's deltas to a record and infers its status.
fn absorb_batch(record: &mut FlowRecord, batch: &[&FlowDelta], now: UnixNanos) -> Absorbed {
    let before = Slot::of(record);
    let old_tx = record.tx;
    let old_rx = record.rx;
    let mut batch_last_seen = 0;
    for d in batch {
        let (counters, flags) = if d.key.src == record.key.initiator {
            (&mut record.tx, &mut record.tx_tcp_flags)
        } else {
            (&mut record.rx, &mut record.rx_tcp_flags)
        };
        counters.bytes = counters.bytes.saturating_add(d.bytes);
        counters.packets = counters.packets.saturating_add(d.packets);
        *flags |= d.tcp_flags;
        record.first_seen = record.first_seen.min(d.first_seen);
        record.last_seen = record.last_seen.max(d.last_seen);
        batch_last_seen = batch_last_seen.max(d.last_seen);
        if d.icmp.is_some() {
            record.icmp = d.icmp;
        }
        // A record created by an event has no interface until TC counts it.
        if record.ifindex == 0 {
            record.ifindex = d.ifindex;
        }
    }
    record.updated_at = now;
    if has(record.rx_tcp_flags, tcp_flags::SYN_ACK) {
        record.table_marks.established = true;
    }

    let mut became_terminal = false;
    if !record.status.is_terminal() {
        if let Some(status) = infer_status(record) {
            record.status = status;
            record.ended_at = OptionalNanos::some(batch_last_seen);
            became_terminal = true;
        }
    }
    Absorbed {
        before,
        added_tx: counters_diff(record.tx, old_tx),
        added_rx: counters_diff(record.rx, old_rx),
        became_terminal,
    }
}

fn counters_diff(new: Counters, old: Counters) -> Counters {
    Counters {
        bytes: new.bytes - old.bytes,
        packets: new.packets - old.packets,
    }
}

/// Terminal status implied by a TCP record's flags, if any.
fn infer_status(record: &FlowRecord) -> Option<FlowStatus> {
    if !is_tcp(record) {
        return None;
    }
    let tx = record.tx_tcp_flags;
    let rx = record.rx_tcp_flags;
    if has(rx, tcp_flags::RST) && !has(rx, tcp_flags::SYN_ACK) && has(tx, tcp_flags::SYN_ONLY) {
        Some(FlowStatus::Refused)
    } else if has(tx | rx, tcp_flags::RST) {
        Some(FlowStatus::Reset)
    } else if has(tx, tcp_flags::FIN) && has(rx, tcp_flags::FIN) {
        Some(FlowStatus::Closed)
    } else {
        None
    }
}

struct EventOutcome {
    changed: bool,
    became_terminal: bool,
}

/// Applies an event's fields and status to a record (new or existing).
fn apply_event(record: &mut FlowRecord, event: &TcpEvent) -> EventOutcome {
    let mut outcome = EventOutcome {
        changed: false,
        became_terminal: false,
    };
    if event.timestamp < record.first_seen {
        record.first_seen = event.timestamp;
        outcome.changed = true;
    }
    if event.timestamp > record.last_seen {
        record.last_seen = event.timestamp;
        outcome.changed = true;
    }
    let ended = match event.kind {
        TcpEventKind::OpenedActive => None,
        TcpEventKind::Accepted => {
            record.table_marks.established = true;
            None
        }
        TcpEventKind::EstablishedActive => {
            record.table_marks.established = true;
            if let Some(latency) = event.connect_latency_ns {
                if record.connect_latency_ns != Some(latency) {
                    record.connect_latency_ns = OptionalNanos::some(latency);
                    outcome.changed = true;
                }
            }
            None
        }
        TcpEventKind::Refused => Some(FlowStatus::Refused),
        TcpEventKind::TimedOut => Some(FlowStatus::Timeout),
        TcpEventKind::Reset => Some(FlowStatus::Reset),
        TcpEventKind::Closed if has(record.tcp_flags(), tcp_flags::RST) => Some(FlowStatus::Reset),
        TcpEventKind::Closed => Some(FlowStatus::Closed),
    };
    match (record.status, ended) {
        (_, None) => {}
        (FlowStatus::Active, Some(status)) => {
            record.status = status;
            record.ended_at = OptionalNanos::some(event.timestamp);
            outcome.became_terminal = true;
        }
        (FlowStatus::Closed, Some(FlowStatus::Reset)) => {
            record.status = FlowStatus::Reset;
            outcome.changed = true;
        }
        // First terminal status wins otherwise.
        (_, Some(_)) => {}
    }
    outcome
}

#[path = "table_loss.rs"]
mod loss;

#[path = "table_app.rs"]
mod app;
pub use loss::UnattributedLoss;

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
