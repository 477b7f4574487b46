//! `netmon_nat_*`: whether conntrack's translations are being read, how
//! many are held, and what could not be kept. Readings are cumulative and
//! taken at each drain; totals become counters by adding the difference
//! since the previous reading.

use std::sync::Mutex;

use prometheus::{IntCounter, IntGauge, Registry};

use super::register::{int_counter, int_gauge, lock, to_i64};

/// One reading of the NAT source, cumulative since the agent started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NatReading {
    /// Conntrack events are being read.
    pub up: bool,
    /// Translated connections held now.
    pub translations: u64,
    /// Translations not kept because `features.nat.max_entries` was reached.
    pub dropped: u64,
    /// Times the kernel dropped events because the agent read too slowly.
    pub overflows: u64,
    /// Conntrack messages that did not decode.
    pub malformed: u64,
}

pub(crate) struct NatMetrics {
    up: IntGauge,
    translations: IntGauge,
    dropped_total: IntCounter,
    overflows_total: IntCounter,
    malformed_total: IntCounter,
    previous: Mutex<NatReading>,
}

impl NatMetrics {
    pub(crate) fn register(r: &Registry) -> Result<Self, prometheus::Error> {
        Ok(NatMetrics {
            up: int_gauge(
                r,
                "netmon_nat_up",
                "1 while conntrack's translations are read (features.nat); 0 when off or conntrack cannot be read, and translated connections are then counted as two halves.",
            )?,
            translations: int_gauge(
                r,
                "netmon_nat_translations",
                "Translated connections (DNAT, SNAT) held to join their halves, including ended ones awaiting their last drain.",
            )?,
            dropped_total: int_counter(
                r,
                "netmon_nat_translations_dropped_total",
                "Translated connections not held because features.nat.max_entries was reached; their halves are counted as two flows.",
            )?,
            overflows_total: int_counter(
                r,
                "netmon_nat_event_overflows_total",
                "Times the kernel dropped conntrack events because the agent read too slowly (ENOBUFS); each is followed by a re-read of the whole conntrack table.",
            )?,
            malformed_total: int_counter(
                r,
                "netmon_nat_malformed_messages_total",
                "Conntrack netlink messages that did not decode and were skipped.",
            )?,
            previous: Mutex::new(NatReading::default()),
        })
    }

    pub(crate) fn set(&self, reading: &NatReading) {
        let mut previous = lock(&self.previous);
        self.up.set(i64::from(reading.up));
        self.translations.set(to_i64(reading.translations));
        self.dropped_total
            .inc_by(reading.dropped.saturating_sub(previous.dropped));
        self.overflows_total
            .inc_by(reading.overflows.saturating_sub(previous.overflows));
        self.malformed_total
            .inc_by(reading.malformed.saturating_sub(previous.malformed));
        *previous = *reading;
    }
}
