//! Packet-loss metrics: TCP retransmissions, kernel drops by reason and
//! protocol, and the loss the kernel could not count per flow (a full map)
//! or the agent could not give a flow (no such connection in the table).
//!
//! `reason` takes the kernel's drop-reason names (~130 on Linux 6.18, one
//! per kernel code path that drops) and `protocol` seven values, so the
//! drop series are bounded by the kernel, not by traffic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus::{IntCounter, IntCounterVec, Registry};

use super::kernel::increments;
use super::register::{int_counter, int_counter_vec, lock};
use crate::flow::UnattributedLoss;
use crate::source::loss::NamedDropTotal;

/// One reading of the kernel's cumulative loss counters.
pub use netmon_ebpf::LossStats;

fn values(stats: &LossStats) -> [u64; 5] {
    [
        stats.retransmits,
        stats.retransmit_map_full,
        stats.drop_flow_map_full,
        stats.drop_reason_map_full,
        stats.empty_purges,
    ]
}

/// Metric name and help for each `values` field.
const LOSS_COUNTERS: [(&str, &str); 5] = [
    (
        "netmon_tcp_retransmits_total",
        "TCP segments retransmitted by sockets on this node (any namespace), as TcpRetransSegs counts them.",
    ),
    (
        "netmon_kernel_retransmit_map_full_total",
        "Retransmitted segments not counted per flow because the kernel retransmit map was full.",
    ),
    (
        "netmon_kernel_drop_flow_map_full_total",
        "Dropped packets not counted per flow because the kernel per-flow drop map was full.",
    ),
    (
        "netmon_kernel_drop_reason_map_full_total",
        "Dropped packets missing from netmon_drops_total because the kernel drop-reason map was full.",
    ),
    (
        "netmon_kernel_empty_purges_total",
        "kfree_skb calls with reason QUEUE_PURGE for an skb with no data left (a FIN its socket never read): socket teardown, not a drop, so not in netmon_drops_total.",
    ),
];

/// Labels of one `netmon_drops_total` series: reason, protocol.
type DropSeries = (Arc<str>, &'static str);

pub struct LossMetrics {
    /// In `values` order.
    counters: Vec<IntCounter>,
    last: Mutex<Option<[u64; 5]>>,
    drops_total: IntCounterVec,
    /// Last cumulative reading per `(reason, protocol)`.
    last_drops: Mutex<HashMap<DropSeries, [u64; 1]>>,
    unattributed_total: IntCounterVec,
}

impl LossMetrics {
    pub(crate) fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counters = LOSS_COUNTERS
            .iter()
            .map(|(name, help)| int_counter(registry, name, help))
            .collect::<Result<_, _>>()?;
        let unattributed_total = int_counter_vec(
            registry,
            "netmon_flow_loss_unattributed_total",
            "Retransmitted segments and dropped packets of connections the flow table does not hold (loopback, unmonitored interfaces).",
            &["kind"],
        )?;
        for kind in ["retransmits", "drops"] {
            unattributed_total.with_label_values(&[kind]);
        }
        Ok(LossMetrics {
            counters,
            last: Mutex::new(None),
            drops_total: int_counter_vec(
                registry,
                "netmon_drops_total",
                "Packets the kernel dropped, by the kernel's drop reason and protocol.",
                &["reason", "protocol"],
            )?,
            last_drops: Mutex::new(HashMap::new()),
            unattributed_total,
        })
    }

    /// Takes a cumulative reading of the kernel's loss counters.
    pub fn set_stats(&self, stats: &LossStats) {
        let current = values(stats);
        let mut last = lock(&self.last);
        for (counter, n) in self
            .counters
            .iter()
            .zip(increments(last.as_ref(), &current))
        {
            counter.inc_by(n);
        }
        *last = Some(current);
    }

    /// Takes a cumulative reading of the drops by reason and protocol.
    pub fn set_drop_totals(&self, totals: &[NamedDropTotal]) {
        let mut last = lock(&self.last_drops);
        for total in totals {
            let key = (total.reason.clone(), total.protocol);
            let current = [total.packets];
            let [added] = increments(last.get(&key), &current);
            self.drops_total
                .with_label_values(&[&*total.reason, total.protocol])
                .inc_by(added);
            last.insert(key, current);
        }
    }

    /// Counts loss that found no connection in the flow table.
    pub fn add_unattributed(&self, loss: UnattributedLoss) {
        self.unattributed_total
            .with_label_values(&["retransmits"])
            .inc_by(loss.retransmits);
        self.unattributed_total
            .with_label_values(&["drops"])
            .inc_by(loss.drops);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drop_total(reason: &str, protocol: &'static str, packets: u64) -> NamedDropTotal {
        NamedDropTotal {
            reason: Arc::from(reason),
            protocol,
            packets,
        }
    }

    fn sample(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        registry
            .gather()
            .iter()
            .filter(|family| family.name() == name)
            .flat_map(|family| family.get_metric().iter())
            .find(|metric| {
                labels.iter().all(|(k, v)| {
                    metric
                        .get_label()
                        .iter()
                        .any(|pair| pair.name() == *k && pair.value() == *v)
                })
            })
            .map(|metric| metric.get_counter().get_value())
    }

    #[test]
    fn drops_add_the_difference_between_cumulative_readings_per_reason_and_protocol() {
        let registry = Registry::new();
        let loss = LossMetrics::register(&registry).unwrap();
        loss.set_drop_totals(&[
            drop_total("NETFILTER_DROP", "udp", 5),
            drop_total("NETFILTER_DROP", "tcp", 1),
        ]);
        loss.set_drop_totals(&[
            drop_total("NETFILTER_DROP", "udp", 8),
            drop_total("NETFILTER_DROP", "tcp", 1),
            drop_total("reason_77", "non_ip", 2),
        ]);
        let value = |reason, protocol| {
            sample(
                &registry,
                "netmon_drops_total",
                &[("reason", reason), ("protocol", protocol)],
            )
        };
        assert_eq!(value("NETFILTER_DROP", "udp"), Some(8.0));
        assert_eq!(value("NETFILTER_DROP", "tcp"), Some(1.0));
        assert_eq!(value("reason_77", "non_ip"), Some(2.0));
    }

    #[test]
    fn retransmits_and_full_maps_count_from_the_kernel_stats() {
        let registry = Registry::new();
        let loss = LossMetrics::register(&registry).unwrap();
        loss.set_stats(&LossStats {
            retransmits: 4,
            drop_flow_map_full: 1,
            ..LossStats::default()
        });
        loss.set_stats(&LossStats {
            retransmits: 10,
            drop_flow_map_full: 1,
            ..LossStats::default()
        });
        assert_eq!(
            sample(&registry, "netmon_tcp_retransmits_total", &[]),
            Some(10.0)
        );
        assert_eq!(
            sample(&registry, "netmon_kernel_drop_flow_map_full_total", &[]),
            Some(1.0)
        );
        loss.add_unattributed(UnattributedLoss {
            retransmits: 3,
            drops: 0,
        });
        assert_eq!(
            sample(
                &registry,
                "netmon_flow_loss_unattributed_total",
                &[("kind", "retransmits")]
            ),
            Some(3.0)
        );
    }
}
