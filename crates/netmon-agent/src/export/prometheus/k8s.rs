//! `netmon_k8s_*`: how the Kubernetes watches are doing. Readings are
//! cumulative and taken by the runtime's status loop; error totals are kept
//! as counters by adding the difference since the last reading.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::{IntCounterVec, IntGaugeVec, Registry};

use super::register::{int_counter_vec, int_gauge_vec, lock, to_i64};

/// One resource's watch state, as read from the enrichment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sReading {
    pub resource: &'static str,
    pub synced: bool,
    pub objects: u64,
    pub errors: u64,
}

pub(crate) struct K8sMetrics {
    sync_status: IntGaugeVec,
    cached_objects: IntGaugeVec,
    watch_errors_total: IntCounterVec,
    errors_seen: Mutex<HashMap<&'static str, u64>>,
}

impl K8sMetrics {
    pub(crate) fn register(r: &Registry) -> Result<Self, prometheus::Error> {
        Ok(K8sMetrics {
            sync_status: int_gauge_vec(
                r,
                "netmon_k8s_sync_status",
                "1 when the resource's watch has a complete, current list; 0 while it is starting or failing (flows are then named from the last known state, or not at all).",
                &["resource"],
            )?,
            cached_objects: int_gauge_vec(
                r,
                "netmon_k8s_cached_objects",
                "Objects of the resource held in the enrichment index.",
                &["resource"],
            )?,
            watch_errors_total: int_counter_vec(
                r,
                "netmon_k8s_watch_errors_total",
                "Failed lists and broken watches of the resource.",
                &["resource"],
            )?,
            errors_seen: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn set(&self, readings: &[K8sReading]) {
        let mut seen = lock(&self.errors_seen);
        for reading in readings {
            let labels = [reading.resource];
            self.sync_status
                .with_label_values(&labels)
                .set(i64::from(reading.synced));
            self.cached_objects
                .with_label_values(&labels)
                .set(to_i64(reading.objects));
            let previous = seen.insert(reading.resource, reading.errors).unwrap_or(0);
            self.watch_errors_total
                .with_label_values(&labels)
                .inc_by(reading.errors.saturating_sub(previous));
        }
    }
}
