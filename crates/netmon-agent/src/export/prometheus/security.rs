//! `netmon_security_events_total` and the port-scan detector's own
//! bookkeeping. The detector keeps cumulative counts; they are read after
//! each batch and the difference since the previous reading is added.

use std::sync::Mutex;

use prometheus::{IntCounterVec, IntGauge, Registry};

use super::register::{int_counter_vec, int_gauge, lock, to_i64};
use crate::security::{DetectorStats, ScanKind};

/// Label values of `netmon_port_scan_evictions_total{reason}`.
const MAX_SOURCES: &str = "max_sources";
const PROBE_BUDGET: &str = "probe_budget";

pub(crate) struct SecurityMetrics {
    events_total: IntCounterVec,
    tracked_sources: IntGauge,
    evictions_total: IntCounterVec,
    /// The detector's cumulative eviction counts at the previous reading.
    last_reading: Mutex<DetectorStats>,
}

impl SecurityMetrics {
    pub(crate) fn register(r: &Registry) -> Result<Self, prometheus::Error> {
        Ok(SecurityMetrics {
            events_total: int_counter_vec(
                r,
                "netmon_security_events_total",
                "Security events reported, one per source and episode (type: port_scan, host_scan).",
                &["type"],
            )?,
            tracked_sources: int_gauge(
                r,
                "netmon_port_scan_tracked_sources",
                "Sources the port-scan detector currently tracks.",
            )?,
            evictions_total: int_counter_vec(
                r,
                "netmon_port_scan_evictions_total",
                "What the port-scan detector forgot to stay within its memory bounds: a whole source (max_sources) or a source's oldest probe (probe_budget).",
                &["reason"],
            )?,
            last_reading: Mutex::new(DetectorStats::default()),
        })
    }

    /// Creates every series at 0, so that `increase()` sees the first event
    /// and a dashboard can tell "no scans" from "not looking".
    pub(crate) fn start_port_scan_detection(&self) {
        for kind in ScanKind::ALL {
            self.events_total.with_label_values(&[kind.name()]);
        }
        for reason in [MAX_SOURCES, PROBE_BUDGET] {
            self.evictions_total.with_label_values(&[reason]);
        }
    }

    pub(crate) fn record_event(&self, kind: ScanKind) {
        self.events_total.with_label_values(&[kind.name()]).inc();
    }

    /// Takes a cumulative reading of the detector's statistics.
    pub(crate) fn set_detector_stats(&self, stats: &DetectorStats) {
        let mut last = lock(&self.last_reading);
        self.tracked_sources
            .set(to_i64(stats.tracked_sources as u64));
        self.evictions_total
            .with_label_values(&[MAX_SOURCES])
            .inc_by(stats.sources_evicted.saturating_sub(last.sources_evicted));
        self.evictions_total
            .with_label_values(&[PROBE_BUDGET])
            .inc_by(stats.probes_evicted.saturating_sub(last.probes_evicted));
        *last = *stats;
    }
}
