//! The running agent as the status, stats and debug endpoints see it:
//! [`StatusSource`] over [`AgentState`] plus the facts fixed at start-up.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use netmon_common::names;
use netmon_ebpf::{KernelFeatures, NetmonEbpf};
use prometheus::Registry;
use tracing::debug;

use super::{nat, AgentState};
use crate::api::{
    AgentStatus, DebugFlow, FeatureStatus, InterfaceStatus, KernelStatus, KubernetesStatus,
    MapDetail, MapStatus, RingStatus, RuntimeStatus, StatusSource, TableDetail, TableStatus,
};
use crate::enrich::k8s::SyncStatus;
use crate::telemetry::process::ProcessSampler;

/// The gauge the drain loop sets to the entries of the map it drained.
const KERNEL_MAP_ENTRIES_METRIC: &str = "netmon_kernel_flow_map_entries";

/// Optional parts whose running is decided at start-up, outside the eBPF
/// object (which knows the rest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartedParts {
    /// The TCP lifecycle event loop runs.
    pub tcp_lifecycle: bool,
    /// The payload loop runs with DNS tracking, with protocol detection.
    pub dns: bool,
    pub protocol_detection: bool,
}

pub struct AgentStatusSource {
    state: Arc<AgentState>,
    started: Instant,
    started_at: SystemTime,
    node: String,
    kernel: KernelStatus,
    kubernetes: Option<Arc<SyncStatus>>,
    parts: StartedParts,
    /// `None` when procfs could not be read at start-up.
    sampler: Option<Mutex<ProcessSampler>>,
    /// Custom programs, as loaded at start-up.
    programs: Vec<crate::programs::ProgramStatus>,
}

impl AgentStatusSource {
    pub fn new(
        state: Arc<AgentState>,
        node: String,
        features: &KernelFeatures,
        kubernetes: Option<Arc<SyncStatus>>,
        parts: StartedParts,
    ) -> Self {
        let started = Instant::now();
        let sampler = match ProcessSampler::new(started) {
            Ok(sampler) => Some(Mutex::new(sampler)),
            Err(error) => {
                debug!(%error, "/debug/runtime will show no process figures");
                None
            }
        };
        AgentStatusSource {
            state,
            started,
            started_at: SystemTime::now(),
            node,
            kernel: KernelStatus {
                release: features.kernel_version.clone(),
                btf: features.btf,
                tcx: features.tcx,
                tcp_lifecycle_tracepoint: features.inet_sock_set_state,
            },
            kubernetes,
            parts,
            sampler,
            programs: Vec::new(),
        }
    }

    /// Adds the custom programs' statuses (fixed once loaded).
    pub fn with_programs(mut self, programs: Vec<crate::programs::ProgramStatus>) -> Self {
        self.programs = programs;
        self
    }

    /// Reads from the eBPF object under its lock; `None` once detached.
    fn with_ebpf<T>(&self, read: impl FnOnce(&NetmonEbpf) -> T) -> Option<T> {
        let guard = self
            .state
            .ebpf
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        guard.as_ref().map(read)
    }

    fn kernel_map(&self) -> MapStatus {
        MapStatus {
            name: "netmon_flows",
            kind: "hash",
            entries: gauge(self.state.metrics.registry(), KERNEL_MAP_ENTRIES_METRIC),
            capacity: self
                .with_ebpf(|ebpf| u64::from(ebpf.flow_map_entries()))
                .unwrap_or(0),
        }
    }
}

/// The value of an unlabelled gauge, 0 when it is not registered.
fn gauge(registry: &Registry, name: &str) -> u64 {
    registry
        .gather()
        .iter()
        .find(|family| family.name() == name)
        .and_then(|family| family.get_metric().first())
        .map_or(0, |metric| metric.get_gauge().get_value() as u64)
}

impl StatusSource for AgentStatusSource {
    fn status(&self) -> AgentStatus {
        let table = self.table();
        let from_ebpf = self.with_ebpf(|ebpf| {
            let interfaces: Vec<InterfaceStatus> = ebpf
                .attached_interfaces()
                .map(|attached| InterfaceStatus {
                    name: attached.name.clone(),
                    ifindex: attached.ifindex,
                    attach_mode: attached.mode.name(),
                    programs: vec![names::TC_INGRESS_PROG, names::TC_EGRESS_PROG],
                })
                .collect();
            let rings = ebpf.kernel_stats().map(|stats| {
                (
                    RingStatus {
                        processed: stats.events_sent,
                        lost: stats.events_dropped,
                    },
                    RingStatus {
                        processed: stats.payload_samples_sent,
                        lost: stats.payload_samples_dropped,
                    },
                )
            });
            let attached = (
                ebpf.tcp_rtt_attached(),
                ebpf.drops_attached(),
                ebpf.retransmits_attached(),
            );
            (interfaces, rings, attached)
        });
        let (interfaces, rings, (rtt, drops, retransmits)) =
            from_ebpf.unwrap_or((Vec::new(), Ok(Default::default()), (false, false, false)));
        let (events, payload_samples) = rings.unwrap_or_else(|error| {
            debug!(%error, "kernel counters unreadable for the status");
            Default::default()
        });
        AgentStatus {
            started_at: self.started_at,
            uptime: self.started.elapsed(),
            node: self.node.clone(),
            kernel: self.kernel.clone(),
            interfaces,
            table,
            events,
            payload_samples,
            kubernetes: self
                .kubernetes
                .as_ref()
                .map_or(KubernetesStatus::OFF, |watches| {
                    KubernetesStatus::of_watches(&watches.snapshot())
                }),
            features: FeatureStatus {
                tcp_lifecycle: self.parts.tcp_lifecycle,
                rtt,
                dns: self.parts.dns,
                protocol_detection: self.parts.protocol_detection,
                nat: nat::lock(&self.state.nat).reading().up,
                port_scan: self.state.port_scans.is_some(),
                drops,
                retransmits,
            },
            programs: self.programs.clone(),
        }
    }

    fn table(&self) -> TableStatus {
        let (stats, capacity) = {
            let table = self.state.table.lock().expect("table lock");
            (table.stats(), table.config().max_flows)
        };
        TableStatus {
            flows: stats.flows as u64,
            capacity: capacity as u64,
            opened_total: stats.opened_total,
            closed_total: stats.closed_total,
            evicted_total: stats.evicted_total,
            pruned_total: stats.pruned_total,
            kernel_map: self.kernel_map(),
        }
    }

    fn debug_flows(&self) -> Vec<DebugFlow> {
        self.state.debug_flows()
    }

    fn runtime(&self) -> RuntimeStatus {
        let sample = self.sampler.as_ref().map(|sampler| {
            sampler
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .sample(Instant::now())
        });
        let table = self.table();
        let (queued, capacity) = self.state.app_observations_queued();
        let mut attach_failures: Vec<String> = self
            .state
            .attach_failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, name)| name.clone())
            .collect();
        attach_failures.sort();
        RuntimeStatus {
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            rss_bytes: sample.map(|s| s.rss_bytes),
            cpu_seconds: sample.map(|s| s.cpu_seconds_total),
            threads: sample.map(|s| s.threads),
            follow_subscribers: self.state.follow_subscribers(),
            app_observations_queued: queued,
            app_observations_capacity: capacity,
            flow_table: TableDetail::from(&table),
            kernel_map: MapDetail::from(&table.kernel_map),
            attach_failures,
            nat_translations: nat::lock(&self.state.nat).reading().translations as usize,
            resolved_names: self
                .state
                .resolved_names
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .len(),
        }
    }
}
