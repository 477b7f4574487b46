//! State shared by the agent's loops and the API: the flow table, the
//! loaded eBPF object, what the node's addresses and interfaces are.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard},
};

use netmon_ebpf::NetmonEbpf;
use tokio::sync::broadcast;

use super::event_loop::EventPipe;
use super::nat::NatFeed;
use crate::flow::AppObservation;
use crate::inspect::ResolvedNames;
use crate::source::kernel::monotonic_ns;

/// Payload findings held between two drains at most: a drain's worth of
/// new connections on a busy node.
const DEFAULT_MAX_APP_OBSERVATIONS: usize = 65_536;
use super::port_scans::PortScans;
use crate::{
    api::{
        self, DebugFlow, FlowCounts, FlowEvent, FlowEventKind, FlowQuery, FlowSource, FlowView,
        SecurityEventView,
    },
    enrich::{Enricher, Resolver},
    export::grpc::GrpcFeed,
    export::ipfix::IpfixFeed,
    export::prometheus::{AgentMetrics, FlowContext},
    flow::{Direction, FlowChange, FlowChangeKind, FlowRecord, FlowTable},
};

pub struct AgentState {
    pub table: Mutex<FlowTable>,
    /// `None` once shut down: dropping the object detaches everything.
    pub ebpf: Mutex<Option<NetmonEbpf>>,
    pub metrics: Arc<AgentMetrics>,
    /// Names of flow ends (Kubernetes), or nothing when enrichment is off.
    pub enricher: Enricher,
    /// `capture.sampling_rate`, shown on every flow.
    sampling_rate: u32,
    /// Connections the node translated, from conntrack (`features.nat`);
    /// lock it after `table` when holding both.
    pub nat: Mutex<NatFeed>,
    local_addresses: RwLock<HashSet<IpAddr>>,
    /// Names of interfaces by index, kept after an interface is gone so
    /// that its flows keep a readable name.
    interface_names: RwLock<HashMap<u32, String>>,
    events: broadcast::Sender<Arc<FlowEvent>>,
    /// Interfaces an attach failed on, so the failure is logged once and
    /// not every poll.
    pub attach_failures: Mutex<HashSet<(u32, String)>>,
    /// Port-scan detection, when `features.port_scan.enabled`.
    pub port_scans: Option<PortScans>,
    /// Addresses DNS answers named (`dst_dns_name`); empty with DNS off.
    pub resolved_names: RwLock<ResolvedNames>,
    /// Payload findings on their way to the flow table (applied at each
    /// drain), at most `max_app_observations`.
    app_observations: Mutex<Vec<AppObservation>>,
    max_app_observations: usize,
    /// Every published change also goes here when `export.ipfix` is on.
    ipfix: Option<Arc<IpfixFeed>>,
    /// Every published change also goes here when `export.grpc` is on.
    grpc: Option<Arc<GrpcFeed>>,
    /// The TCP lifecycle events on their way to the table, once their
    /// reader runs: a drain merges what is pending before its counters.
    pub event_pipe: OnceLock<Arc<EventPipe>>,
}

impl AgentState {
    pub fn new(
        table: FlowTable,
        ebpf: NetmonEbpf,
        metrics: Arc<AgentMetrics>,
        enricher: Enricher,
        sampling_rate: u32,
        buffer_size: usize,
    ) -> Self {
        let (events, _) = broadcast::channel(buffer_size.max(16));
        AgentState {
            table: Mutex::new(table),
            ebpf: Mutex::new(Some(ebpf)),
            metrics,
            enricher,
            sampling_rate,
            nat: Mutex::new(NatFeed::off()),
            local_addresses: RwLock::new(HashSet::new()),
            interface_names: RwLock::new(HashMap::new()),
            events,
            attach_failures: Mutex::new(HashSet::new()),
            port_scans: None,
            resolved_names: RwLock::new(ResolvedNames::new(1, std::time::Duration::from_secs(1))),
            app_observations: Mutex::new(Vec::new()),
            max_app_observations: DEFAULT_MAX_APP_OBSERVATIONS,
            ipfix: None,
            grpc: None,
            event_pipe: OnceLock::new(),
        }
    }

    /// Hands every published change to the IPFIX exporter's feed too.
    pub fn with_ipfix(mut self, feed: Arc<IpfixFeed>) -> Self {
        self.ipfix = Some(feed);
        self
    }

    /// Hands every published change to the gRPC exporter's feed too.
    pub fn with_grpc_export(mut self, feed: Arc<GrpcFeed>) -> Self {
        self.grpc = Some(feed);
        self
    }

    /// Keeps names of addresses from DNS answers within these bounds.
    pub fn with_resolved_names(self, names: ResolvedNames) -> Self {
        *self.resolved_names.write().expect("names lock") = names;
        self
    }

    /// Queues payload findings for the next drain; what does not fit is
    /// counted and dropped.
    pub fn push_app_observations(&self, observations: Vec<AppObservation>) {
        if observations.is_empty() {
            return;
        }
        let mut queue = self.app_observations.lock().expect("observations lock");
        let room = self.max_app_observations.saturating_sub(queue.len());
        let dropped = observations.len().saturating_sub(room);
        queue.extend(observations.into_iter().take(room));
        drop(queue);
        if dropped > 0 {
            self.metrics.app().add_dropped(dropped as u64);
        }
    }

    /// Puts back, ahead of newer ones, findings that found no record yet.
    pub(crate) fn requeue_app_observations(&self, retry: impl Iterator<Item = AppObservation>) {
        let mut queue = self.app_observations.lock().expect("observations lock");
        let newer = std::mem::take(&mut *queue);
        queue.extend(retry);
        queue.extend(newer);
        let excess = queue.len().saturating_sub(self.max_app_observations);
        if excess > 0 {
            queue.truncate(self.max_app_observations);
            drop(queue);
            self.metrics.app().add_dropped(excess as u64);
        }
    }

    pub(crate) fn take_app_observations(&self) -> Vec<AppObservation> {
        std::mem::take(&mut *self.app_observations.lock().expect("observations lock"))
    }

    /// Looks for scans in the connections the table opens.
    pub fn with_port_scans(mut self, port_scans: PortScans) -> Self {
        self.port_scans = Some(port_scans);
        self
    }

    pub fn set_local_addresses(&self, addresses: HashSet<IpAddr>) {
        *self.local_addresses.write().expect("addresses lock") = addresses;
    }

    pub fn remember_interface(&self, ifindex: u32, name: &str) {
        let mut names = self.interface_names.write().expect("names lock");
        if names.get(&ifindex).map(String::as_str) != Some(name) {
            names.insert(ifindex, name.to_string());
        }
    }

    pub fn interface_name(&self, ifindex: u32) -> Option<String> {
        self.interface_names
            .read()
            .expect("names lock")
            .get(&ifindex)
            .cloned()
    }

    /// The node's own addresses, which decide a flow's direction; hold the
    /// guard for a whole batch of records rather than locking per record.
    pub fn local_addresses(&self) -> RwLockReadGuard<'_, HashSet<IpAddr>> {
        self.local_addresses.read().expect("addresses lock")
    }

    /// Publishes table changes to metrics and followers.
    pub fn publish(&self, changes: &[FlowChange]) {
        if changes.is_empty() {
            return;
        }
        let local = self.local_addresses();
        let mut resolver = self.enricher.resolver();
        self.metrics
            .record_changes(changes, |r| context(r, &local, &mut resolver));
        // One line per flow change: only with `debug trace on` (or
        // log.level trace), never at the levels a node runs with.
        if tracing::enabled!(tracing::Level::TRACE) {
            for change in changes {
                let key = &change.record.key;
                tracing::trace!(
                    kind = ?change.kind,
                    protocol = ?key.protocol,
                    initiator = %std::net::SocketAddr::new(key.initiator.ip, key.initiator.port),
                    responder = %std::net::SocketAddr::new(key.responder.ip, key.responder.port),
                    added_tx_bytes = change.added_tx.bytes,
                    added_rx_bytes = change.added_rx.bytes,
                    status = ?change.record.status,
                    "flow change"
                );
            }
        }
        if let Some(port_scans) = &self.port_scans {
            port_scans.observe(changes, &self.metrics, |r| resolver.identify(r));
        }
        if let Some(ipfix) = &self.ipfix {
            ipfix.observe(changes, &self.metrics, |r| {
                context(r, &local, &mut resolver).direction
            });
        }
        if let Some(grpc) = &self.grpc {
            grpc.observe(changes, |r| context(r, &local, &mut resolver));
        }
        // No receiver: nobody follows, nothing to build.
        if self.events.receiver_count() == 0 {
            return;
        }
        let names = self.interface_names.read().expect("names lock");
        let resolved = self.resolved_names.read().expect("names lock");
        let mono_now = monotonic_ns();
        for change in changes {
            let event = match change.kind {
                FlowChangeKind::Opened => FlowEventKind::Opened,
                FlowChangeKind::Updated => FlowEventKind::Updated,
                FlowChangeKind::Closed => FlowEventKind::Closed,
                FlowChangeKind::Evicted => FlowEventKind::Evicted,
            };
            let flow_context = context(&change.record, &local, &mut resolver);
            let mut flow = view(&change.record, flow_context, &names, self.sampling_rate);
            flow.app.dst_dns_name = resolved.lookup(&change.record.key.responder.ip, mono_now);
            let _ = self.events.send(Arc::new(FlowEvent { event, flow }));
        }
    }

    /// Open follow streams (each holds one receiver).
    pub fn follow_subscribers(&self) -> usize {
        self.events.receiver_count()
    }

    /// Payload findings waiting for the next drain, and the queue's bound.
    pub fn app_observations_queued(&self) -> (usize, usize) {
        let queued = self
            .app_observations
            .lock()
            .expect("observations lock")
            .len();
        (queued, self.max_app_observations)
    }

    /// The API view of every record, passed with its record to `each`;
    /// the locks are held for the whole table, not per record.
    fn map_records<T>(&self, mut each: impl FnMut(&FlowRecord, FlowView) -> T) -> Vec<T> {
        let table = self.table.lock().expect("table lock");
        let local = self.local_addresses();
        let mut resolver = self.enricher.resolver();
        let names = self.interface_names.read().expect("names lock");
        let resolved = self.resolved_names.read().expect("names lock");
        let mono_now = monotonic_ns();
        table
            .records()
            .map(|r| {
                let flow_context = context(r, &local, &mut resolver);
                let mut flow = view(r, flow_context, &names, self.sampling_rate);
                flow.app.dst_dns_name = resolved.lookup(&r.key.responder.ip, mono_now);
                each(r, flow)
            })
            .collect()
    }

    /// Every record with its internal fields (`/debug/flows`).
    pub fn debug_flows(&self) -> Vec<DebugFlow> {
        self.map_records(DebugFlow::of)
    }

    /// Detaches every program (by dropping the eBPF object).
    pub fn shutdown(&self) {
        self.ebpf.lock().expect("ebpf lock").take();
    }
}

/// The API's view of a record; callers hold the locks for a whole batch.
fn view(
    record: &FlowRecord,
    context: FlowContext,
    names: &HashMap<u32, String>,
    sampling_rate: u32,
) -> FlowView {
    let interface = names.get(&record.ifindex).cloned();
    let mut view = FlowView::from_record(record, context.direction, interface, &context.identity);
    view.sampling_rate = sampling_rate;
    view
}

/// A record's direction and names. An end is local when it is one of this
/// node's addresses or (with Kubernetes) a pod on this node; a local
/// initiator makes the flow egress, else a local responder ingress, so a
/// flow between two pods of this node is the initiator's egress.
pub fn context(
    record: &FlowRecord,
    local: &HashSet<IpAddr>,
    resolver: &mut Resolver<'_>,
) -> FlowContext {
    let identity = resolver.identify(record);
    let direction = if local.contains(&record.key.initiator.ip) || resolver.is_local(&identity.src)
    {
        Direction::Egress
    } else if local.contains(&record.key.responder.ip) || resolver.is_local(&identity.dst) {
        Direction::Ingress
    } else {
        Direction::Forwarded
    };
    FlowContext {
        direction,
        identity,
    }
}

impl FlowSource for AgentState {
    fn snapshot(&self) -> Vec<FlowView> {
        self.map_records(|_, flow| flow)
    }

    /// Views are built under the locks, as in `map_records`, but only for
    /// the flows that may be part of the answer (see `api::select`).
    fn select(&self, query: &FlowQuery) -> Vec<FlowView> {
        let table = self.table.lock().expect("table lock");
        let local = self.local_addresses();
        let resolver = std::cell::RefCell::new(self.enricher.resolver());
        let names = self.interface_names.read().expect("names lock");
        let resolved = self.resolved_names.read().expect("names lock");
        let mono_now = monotonic_ns();
        let candidates = table.records().map(|r| {
            let build = || {
                let flow_context = context(r, &local, &mut resolver.borrow_mut());
                let mut flow = view(r, flow_context, &names, self.sampling_rate);
                flow.app.dst_dns_name = resolved.lookup(&r.key.responder.ip, mono_now);
                flow
            };
            ((r.first_seen, r.id), build)
        });
        api::select_flows(query, api::wall_now(), candidates)
    }

    /// Counted under the locks, as in `map_records`, from the record and its
    /// direction alone: no view, no names.
    fn counts(&self) -> FlowCounts {
        let table = self.table.lock().expect("table lock");
        let local = self.local_addresses();
        let mut resolver = self.enricher.resolver();
        let mut counts = FlowCounts::default();
        for r in table.records() {
            let direction = context(r, &local, &mut resolver).direction;
            counts.add(r.key.protocol.name(), r.status, direction);
        }
        counts
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<FlowEvent>> {
        self.events.subscribe()
    }

    fn security_events(&self) -> Vec<Arc<SecurityEventView>> {
        self.port_scans
            .as_ref()
            .map(PortScans::recent)
            .unwrap_or_default()
    }

    fn subscribe_security(&self) -> Option<broadcast::Receiver<Arc<SecurityEventView>>> {
        self.port_scans.as_ref().map(PortScans::subscribe)
    }
}
