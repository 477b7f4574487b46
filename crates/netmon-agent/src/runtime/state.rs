//! State shared by the agent's loops and the API: the flow table, the
//! loaded eBPF object, what the node's addresses and interfaces are.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::{Arc, Mutex, RwLock},
};

use netmon_ebpf::NetmonEbpf;
use tokio::sync::broadcast;

use crate::{
    api::{FlowEvent, FlowEventKind, FlowSource, FlowView},
    export::prometheus::AgentMetrics,
    flow::{Direction, FlowChange, FlowChangeKind, FlowRecord, FlowTable},
};

pub struct AgentState {
    pub table: Mutex<FlowTable>,
    /// `None` once shut down: dropping the object detaches everything.
    pub ebpf: Mutex<Option<NetmonEbpf>>,
    pub metrics: Arc<AgentMetrics>,
    local_addresses: RwLock<HashSet<IpAddr>>,
    /// Names of interfaces by index, kept after an interface is gone so
    /// that its flows keep a readable name.
    interface_names: RwLock<HashMap<u32, String>>,
    events: broadcast::Sender<Arc<FlowEvent>>,
    /// Interfaces an attach failed on, so the failure is logged once and
    /// not every poll.
    pub attach_failures: Mutex<HashSet<(u32, String)>>,
}

impl AgentState {
    pub fn new(
        table: FlowTable,
        ebpf: NetmonEbpf,
        metrics: Arc<AgentMetrics>,
        buffer_size: usize,
    ) -> Self {
        let (events, _) = broadcast::channel(buffer_size.max(16));
        AgentState {
            table: Mutex::new(table),
            ebpf: Mutex::new(Some(ebpf)),
            metrics,
            local_addresses: RwLock::new(HashSet::new()),
            interface_names: RwLock::new(HashMap::new()),
            events,
            attach_failures: Mutex::new(HashSet::new()),
        }
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

    /// Direction relative to this node, from its own addresses.
    pub fn direction_of(&self, record: &FlowRecord) -> Direction {
        let local = self.local_addresses.read().expect("addresses lock");
        direction(record, &local)
    }

    pub fn view(&self, record: &FlowRecord) -> FlowView {
        let interface = (record.ifindex != 0)
            .then(|| self.interface_name(record.ifindex))
            .flatten();
        FlowView::from_record(record, self.direction_of(record), interface)
    }

    /// Publishes table changes to metrics and followers.
    pub fn publish(&self, changes: &[FlowChange]) {
        if changes.is_empty() {
            return;
        }
        {
            let local = self.local_addresses.read().expect("addresses lock");
            self.metrics
                .record_changes(changes, |r| direction(r, &local));
        }
        // No receiver: nobody follows, nothing to build.
        if self.events.receiver_count() == 0 {
            return;
        }
        for change in changes {
            let event = match change.kind {
                FlowChangeKind::Opened => FlowEventKind::Opened,
                FlowChangeKind::Updated => FlowEventKind::Updated,
                FlowChangeKind::Closed => FlowEventKind::Closed,
                FlowChangeKind::Evicted => FlowEventKind::Evicted,
            };
            let _ = self.events.send(Arc::new(FlowEvent {
                event,
                flow: self.view(&change.record),
            }));
        }
    }

    /// Detaches every program (by dropping the eBPF object).
    pub fn shutdown(&self) {
        self.ebpf.lock().expect("ebpf lock").take();
    }
}

pub fn direction(record: &FlowRecord, local: &HashSet<IpAddr>) -> Direction {
    if local.contains(&record.key.initiator.ip) {
        Direction::Egress
    } else if local.contains(&record.key.responder.ip) {
        Direction::Ingress
    } else {
        Direction::Forwarded
    }
}

impl FlowSource for AgentState {
    fn snapshot(&self) -> Vec<FlowView> {
        let table = self.table.lock().expect("table lock");
        table.records().map(|r| self.view(r)).collect()
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<FlowEvent>> {
        self.events.subscribe()
    }
}
