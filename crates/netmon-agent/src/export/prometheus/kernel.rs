//! Kernel-side counters. The kernel keeps cumulative totals since the eBPF
//! programs were loaded; Prometheus counters only go up, so each reading is
//! turned into an increment against the previous reading.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::{IntCounter, IntCounterVec, Registry};

use super::register::{int_counter, int_counter_vec, lock};

/// One reading of the kernel's global counters (cumulative), as the
/// loader reads them.
pub use netmon_ebpf::KernelStats as KernelCounters;

/// How many of the kernel's global counters are exported.
const COUNTERS: usize = 11;

fn values(reading: &KernelCounters) -> [u64; COUNTERS] {
    [
        reading.flow_map_full_packets,
        reading.flow_map_full_bytes,
        reading.parse_truncated_packets,
        reading.non_ip_packets,
        reading.events_sent,
        reading.events_dropped,
        reading.conn_map_full,
        reading.forwarded_skipped,
        reading.icmp_map_full,
        reading.payload_samples_sent,
        reading.payload_samples_dropped,
    ]
}

/// Metric name and help for each field, in `values` order.
const KERNEL_COUNTERS: [(&str, &str); COUNTERS] = [
    (
        "netmon_kernel_flow_map_full_packets_total",
        "Packets not counted per flow because the kernel flow map was full.",
    ),
    (
        "netmon_kernel_flow_map_full_bytes_total",
        "Bytes not counted per flow because the kernel flow map was full.",
    ),
    (
        "netmon_kernel_truncated_packets_total",
        "Packets too short for their headers to be parsed.",
    ),
    (
        "netmon_kernel_non_ip_packets_total",
        "Packets that were neither IPv4 nor IPv6.",
    ),
    (
        "netmon_ebpf_events_sent_total",
        "TCP lifecycle events the kernel wrote to the ring buffer.",
    ),
    (
        "netmon_ebpf_events_dropped_total",
        "TCP lifecycle events lost because the ring buffer was full.",
    ),
    (
        "netmon_kernel_conn_map_full_total",
        "Connections not tracked because the kernel connection map was full.",
    ),
    (
        "netmon_kernel_forwarded_packets_skipped_total",
        "Forwarded packets skipped because forwarded traffic is not monitored.",
    ),
    (
        "netmon_kernel_icmp_map_full_total",
        "ICMP packets not counted by type and code because the kernel ICMP map was full.",
    ),
    (
        "netmon_kernel_payload_samples_total",
        "Payload samples (DNS messages, first payloads of flows) the kernel sent to the agent.",
    ),
    (
        "netmon_kernel_payload_samples_dropped_total",
        "Payload samples lost because their ring buffer was full.",
    ),
];

/// Hook point of an interface counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    Ingress,
    Egress,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::Ingress => "ingress",
            Hook::Egress => "egress",
        }
    }
}

/// How programs are attached to interfaces (label `mode`).
pub use netmon_ebpf::AttachMode;

/// The increments between two readings of a group of cumulative counters
/// that reset together. The first reading counts in full: the programs were
/// loaded by this agent, so everything they counted is new to it. If any
/// value went down, the programs were reloaded and every counter restarted
/// from zero, so the new values count in full.
pub(crate) fn increments<const N: usize>(
    previous: Option<&[u64; N]>,
    current: &[u64; N],
) -> [u64; N] {
    match previous {
        Some(previous) if previous.iter().zip(current).all(|(p, c)| c >= p) => {
            std::array::from_fn(|i| current[i] - previous[i])
        }
        _ => *current,
    }
}

pub(crate) struct KernelMetrics {
    /// In `KernelCounters::values` order.
    counters: Vec<IntCounter>,
    last: Mutex<Option<[u64; COUNTERS]>>,
}

impl KernelMetrics {
    pub(crate) fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counters = KERNEL_COUNTERS
            .iter()
            .map(|(name, help)| int_counter(registry, name, help))
            .collect::<Result<_, _>>()?;
        Ok(KernelMetrics {
            counters,
            last: Mutex::new(None),
        })
    }

    pub(crate) fn set(&self, reading: &KernelCounters) {
        let current = values(reading);
        let mut last = lock(&self.last);
        let added = increments(last.as_ref(), &current);
        for (counter, n) in self.counters.iter().zip(added) {
            counter.inc_by(n);
        }
        *last = Some(current);
    }
}

pub(crate) struct InterfaceMetrics {
    bytes: IntCounterVec,
    packets: IntCounterVec,
    /// Last `[bytes, packets]` reading per interface and hook.
    last: Mutex<HashMap<(String, Hook), [u64; 2]>>,
}

impl InterfaceMetrics {
    pub(crate) fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(InterfaceMetrics {
            bytes: int_counter_vec(
                registry,
                "netmon_interface_bytes_total",
                "Bytes seen by the eBPF programs per interface and hook.",
                &["interface", "hook"],
            )?,
            packets: int_counter_vec(
                registry,
                "netmon_interface_packets_total",
                "Packets seen by the eBPF programs per interface and hook.",
                &["interface", "hook"],
            )?,
            last: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn set(&self, readings: &[(String, Hook, u64, u64)]) {
        let mut last = lock(&self.last);
        for (interface, hook, bytes, packets) in readings {
            let key = (interface.clone(), *hook);
            let current = [*bytes, *packets];
            let [added_bytes, added_packets] = increments(last.get(&key), &current);
            let labels = [interface.as_str(), hook.name()];
            self.bytes.with_label_values(&labels).inc_by(added_bytes);
            self.packets
                .with_label_values(&labels)
                .inc_by(added_packets);
            last.insert(key, current);
        }
    }

    pub(crate) fn remove(&self, interface: &str) {
        let mut last = lock(&self.last);
        for hook in [Hook::Ingress, Hook::Egress] {
            // NotFound only means this hook was never reported.
            let _ = self.bytes.remove_label_values(&[interface, hook.name()]);
            let _ = self.packets.remove_label_values(&[interface, hook.name()]);
            last.remove(&(interface.to_owned(), hook));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reading_counts_in_full() {
        assert_eq!(increments(None, &[5, 7]), [5, 7]);
    }

    #[test]
    fn later_readings_count_the_difference() {
        assert_eq!(increments(Some(&[5, 7]), &[8, 7]), [3, 0]);
    }

    #[test]
    fn a_reading_lower_than_before_means_a_reload_and_counts_in_full() {
        assert_eq!(increments(Some(&[5, 7]), &[2, 9]), [2, 9]);
    }
}
