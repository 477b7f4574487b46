//! What the status, stats and debug endpoints read from. The agent's
//! runtime implements [`StatusSource`]; the endpoints only shape what it
//! reports into JSON, so they are tested against a fake.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::debug::{DebugFlow, RuntimeStatus};
use crate::enrich::k8s::ResourceState;

/// Provider of the agent's own state for the API.
pub trait StatusSource: Send + Sync + 'static {
    /// Everything `/api/v1/status` shows but the version and configuration.
    fn status(&self) -> AgentStatus;
    /// The flow table's and kernel map's fill and counters.
    fn table(&self) -> TableStatus;
    /// Every record of the flow table, with its internal fields.
    fn debug_flows(&self) -> Vec<DebugFlow>;
    /// The agent process and its queues.
    fn runtime(&self) -> RuntimeStatus;
}

/// The facts behind `/api/v1/status`.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentStatus {
    pub started_at: SystemTime,
    pub uptime: Duration,
    /// The Kubernetes node name, or the host name.
    pub node: String,
    pub kernel: KernelStatus,
    /// In any order (the endpoint sorts them by name).
    pub interfaces: Vec<InterfaceStatus>,
    pub table: TableStatus,
    /// The TCP lifecycle ring buffer.
    pub events: RingStatus,
    /// The payload sample ring buffer (DNS, protocol detection).
    pub payload_samples: RingStatus,
    pub kubernetes: KubernetesStatus,
    pub features: FeatureStatus,
    /// The custom programs (`programs` entries), in configuration order.
    pub programs: Vec<crate::programs::ProgramStatus>,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct KernelStatus {
    /// `uname -r`.
    pub release: String,
    pub btf: bool,
    pub tcx: bool,
    /// `sock:inet_sock_set_state` exists (TCP lifecycle tracking can run).
    pub tcp_lifecycle_tracepoint: bool,
}

/// An interface the TC programs are attached to.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct InterfaceStatus {
    pub name: String,
    pub ifindex: u32,
    /// `tcx` or `tc` (legacy clsact).
    pub attach_mode: &'static str,
    /// The programs attached: ingress, then egress.
    pub programs: Vec<&'static str>,
}

/// A kernel map's size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapStatus {
    pub name: &'static str,
    /// The BPF map type, lower case without `BPF_MAP_TYPE_` (`hash`).
    pub kind: &'static str,
    pub entries: u64,
    pub capacity: u64,
}

/// The flow table's size and its lifetime counters, and the kernel flow
/// map's size as of the last drain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableStatus {
    pub flows: u64,
    /// `flow.max_flows`.
    pub capacity: u64,
    /// Records ever created.
    pub opened_total: u64,
    /// Records that ended (closed, reset, refused, timed out).
    pub closed_total: u64,
    /// Active records dropped because the table was full.
    pub evicted_total: u64,
    /// Ended records removed: after `flow.closed_retention`, to make room,
    /// or replaced by a new connection on the same endpoints.
    pub pruned_total: u64,
    pub kernel_map: MapStatus,
}

/// A ring buffer from the kernel to the agent.
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStatus {
    /// Records the kernel wrote into the ring for the agent.
    pub processed: u64,
    /// Records the kernel could not write because the ring was full.
    pub lost: u64,
}

/// Kubernetes enrichment, as far as the agent knows.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct KubernetesStatus {
    pub enabled: bool,
    pub state: KubernetesState,
    /// Every watched resource is listed and watched without error.
    pub synced: bool,
}

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KubernetesState {
    /// Enrichment is off.
    Off,
    /// Some resource has not been listed yet, and none has failed.
    Syncing,
    Synced,
    /// Some resource's list or watch failed; names may be missing or stale.
    Degraded,
}

impl KubernetesStatus {
    pub const OFF: KubernetesStatus = KubernetesStatus {
        enabled: false,
        state: KubernetesState::Off,
        synced: false,
    };

    /// The state of enrichment whose watches are in `resources`.
    pub fn of_watches(resources: &BTreeMap<&'static str, ResourceState>) -> Self {
        let synced = resources.values().all(|r| r.synced);
        let state = if resources.values().any(|r| r.last_error.is_some()) {
            KubernetesState::Degraded
        } else if synced {
            KubernetesState::Synced
        } else {
            KubernetesState::Syncing
        };
        KubernetesStatus {
            enabled: true,
            state,
            synced,
        }
    }
}

/// Which optional parts of the agent are running (not merely configured:
/// a part the kernel could not support is `false`).
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeatureStatus {
    pub tcp_lifecycle: bool,
    pub rtt: bool,
    pub dns: bool,
    pub protocol_detection: bool,
    pub nat: bool,
    pub port_scan: bool,
    pub drops: bool,
    pub retransmits: bool,
}

/// `entries` over `capacity`; 0 for a zero capacity.
pub fn fill_ratio(entries: u64, capacity: u64) -> f64 {
    if capacity == 0 {
        0.0
    } else {
        entries as f64 / capacity as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(synced: bool, last_error: Option<&str>) -> ResourceState {
        ResourceState {
            synced,
            last_error: last_error.map(str::to_owned),
            errors: u64::from(last_error.is_some()),
            objects: 3,
        }
    }

    #[test]
    fn kubernetes_is_synced_when_every_watch_is_and_degraded_on_any_error() {
        let all = |states: Vec<ResourceState>| {
            let names = ["pods", "services", "nodes"];
            names.into_iter().zip(states).collect()
        };
        let synced = KubernetesStatus::of_watches(&all(vec![watch(true, None); 3]));
        assert_eq!(
            (synced.enabled, synced.state, synced.synced),
            (true, KubernetesState::Synced, true)
        );
        let syncing =
            KubernetesStatus::of_watches(&all(vec![watch(true, None), watch(false, None)]));
        assert_eq!(
            (syncing.state, syncing.synced),
            (KubernetesState::Syncing, false)
        );
        let degraded = KubernetesStatus::of_watches(&all(vec![
            watch(true, None),
            watch(false, Some("403 Forbidden")),
        ]));
        assert_eq!(
            (degraded.state, degraded.synced),
            (KubernetesState::Degraded, false)
        );
        assert_eq!(
            serde_json::to_value(KubernetesStatus::OFF).unwrap(),
            serde_json::json!({"enabled": false, "state": "off", "synced": false})
        );
    }

    #[test]
    fn a_fill_ratio_is_entries_over_capacity_and_zero_without_capacity() {
        assert_eq!(fill_ratio(16_384, 65_536), 0.25);
        assert_eq!(fill_ratio(5, 0), 0.0);
    }
}
