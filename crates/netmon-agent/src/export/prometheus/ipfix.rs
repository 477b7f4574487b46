//! `netmon_ipfix_*`: what the IPFIX exporter sent and what it lost.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Registry};

use super::register::{int_counter, int_counter_vec, int_gauge, to_i64};

/// Why data records were not delivered to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpfixDropReason {
    /// Their message could not be sent (socket error, collector refused or
    /// not resolvable).
    SendFailed,
    /// Their flow found no room among the flows awaiting export.
    TrackerFull,
}

impl IpfixDropReason {
    pub const ALL: [IpfixDropReason; 2] =
        [IpfixDropReason::SendFailed, IpfixDropReason::TrackerFull];

    pub fn name(self) -> &'static str {
        match self {
            IpfixDropReason::SendFailed => "send_failed",
            IpfixDropReason::TrackerFull => "tracker_full",
        }
    }
}

pub struct IpfixMetrics {
    messages_sent_total: IntCounter,
    records_sent_total: IntCounter,
    send_errors_total: IntCounter,
    dropped_records_total: IntCounterVec,
    pending_flows: IntGauge,
}

impl IpfixMetrics {
    pub(crate) fn register(r: &Registry) -> Result<Self, prometheus::Error> {
        Ok(IpfixMetrics {
            messages_sent_total: int_counter(
                r,
                "netmon_ipfix_messages_sent_total",
                "IPFIX messages sent to the collector (export.ipfix), template-only ones included.",
            )?,
            records_sent_total: int_counter(
                r,
                "netmon_ipfix_records_sent_total",
                "IPFIX data records sent to the collector: one per direction of a flow and export window.",
            )?,
            send_errors_total: int_counter(
                r,
                "netmon_ipfix_send_errors_total",
                "IPFIX messages that could not be sent (socket error, collector refusing or not resolvable).",
            )?,
            dropped_records_total: int_counter_vec(
                r,
                "netmon_ipfix_dropped_records_total",
                "IPFIX data records lost: send_failed (their message was not sent), tracker_full (their flow found no room among the flows awaiting export).",
                &["reason"],
            )?,
            pending_flows: int_gauge(
                r,
                "netmon_ipfix_pending_flows",
                "Flows with counters not yet exported over IPFIX.",
            )?,
        })
    }

    /// Creates the drop series at 0; call once when IPFIX export is on.
    pub fn start(&self) {
        for reason in IpfixDropReason::ALL {
            self.dropped_records_total
                .with_label_values(&[reason.name()]);
        }
    }

    /// Counts one message delivered to the socket with `records` data records.
    pub fn record_sent(&self, records: u64) {
        self.messages_sent_total.inc();
        self.records_sent_total.inc_by(records);
    }

    /// Counts one message that could not be sent, with its data records.
    pub fn record_send_error(&self, records: u64) {
        self.send_errors_total.inc();
        self.add_dropped(IpfixDropReason::SendFailed, records);
    }

    pub fn add_dropped(&self, reason: IpfixDropReason, records: u64) {
        if records > 0 {
            self.dropped_records_total
                .with_label_values(&[reason.name()])
                .inc_by(records);
        }
    }

    pub fn set_pending_flows(&self, flows: u64) {
        self.pending_flows.set(to_i64(flows));
    }
}
