//! `netmon_export_*`: what the gRPC exporter (`export.grpc`) delivered to
//! netmon-server, what it holds, and what it had to drop.

use std::time::Duration;

use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, Registry};

use super::register::{histogram, int_counter, int_counter_vec, int_gauge, to_i64};

/// How one `Export` call to the server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchResult {
    /// The server took the batch.
    Accepted,
    /// The server already had it (an earlier attempt arrived but its answer
    /// did not): nothing was added twice.
    Duplicate,
    /// No answer, or the server could not take it now: sent again later.
    Failed,
    /// The server refused it for good (bad schema version or field, too
    /// large to split further): its records are dropped.
    Rejected,
}

impl BatchResult {
    pub const ALL: [BatchResult; 4] = [
        BatchResult::Accepted,
        BatchResult::Duplicate,
        BatchResult::Failed,
        BatchResult::Rejected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BatchResult::Accepted => "accepted",
            BatchResult::Duplicate => "duplicate",
            BatchResult::Failed => "failed",
            BatchResult::Rejected => "rejected",
        }
    }
}

/// Why records never reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportDropReason {
    /// The buffer (`export.grpc.buffer_records`) was full: the oldest went.
    BufferFull,
    /// The server refused their batch for good.
    Rejected,
    /// Still buffered when the agent stopped and its last flush ran out of time.
    Shutdown,
}

impl ExportDropReason {
    pub const ALL: [ExportDropReason; 3] = [
        ExportDropReason::BufferFull,
        ExportDropReason::Rejected,
        ExportDropReason::Shutdown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ExportDropReason::BufferFull => "buffer_full",
            ExportDropReason::Rejected => "rejected",
            ExportDropReason::Shutdown => "shutdown",
        }
    }
}

/// Bounds of the send latency histogram, in seconds: a loopback or
/// in-cluster round trip is around a millisecond, and the request timeout
/// (10 s by default) caps the slowest.
const SEND_DURATION_BUCKETS: [f64; 10] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5, 10.0];

pub struct GrpcExportMetrics {
    records_total: IntCounter,
    batches_total: IntCounterVec,
    dropped_records_total: IntCounterVec,
    buffer_records: IntGauge,
    send_duration: Histogram,
}

impl GrpcExportMetrics {
    pub(crate) fn register(r: &Registry) -> Result<Self, prometheus::Error> {
        Ok(GrpcExportMetrics {
            records_total: int_counter(
                r,
                "netmon_export_records_total",
                "Flow records netmon-server acknowledged (export.grpc), each once even when its batch was sent again.",
            )?,
            batches_total: int_counter_vec(
                r,
                "netmon_export_batches_total",
                "Export calls to netmon-server by result: accepted, duplicate (the server already had the batch), failed (sent again later), rejected (dropped).",
                &["result"],
            )?,
            dropped_records_total: int_counter_vec(
                r,
                "netmon_export_dropped_records_total",
                "Flow records that never reached netmon-server: buffer_full (oldest dropped while the server was unreachable), rejected (refused by the server), shutdown (still buffered when the agent stopped).",
                &["reason"],
            )?,
            buffer_records: int_gauge(
                r,
                "netmon_export_buffer_records",
                "Flow records waiting to be acknowledged by netmon-server, the batch being sent included.",
            )?,
            send_duration: histogram(
                r,
                "netmon_export_send_duration_seconds",
                "Time from sending a batch to netmon-server to its answer (or to the error), every attempt.",
                SEND_DURATION_BUCKETS.to_vec(),
            )?,
        })
    }

    /// Creates the labelled series at 0; call once when gRPC export is on,
    /// so a drop alert has a series from the start.
    pub fn start(&self) {
        for result in BatchResult::ALL {
            self.batches_total.with_label_values(&[result.name()]);
        }
        for reason in ExportDropReason::ALL {
            self.dropped_records_total
                .with_label_values(&[reason.name()]);
        }
    }

    /// Counts one answered or failed call that took `elapsed`.
    pub fn record_batch(&self, result: BatchResult, elapsed: Duration) {
        self.batches_total.with_label_values(&[result.name()]).inc();
        self.send_duration.observe(elapsed.as_secs_f64());
    }

    pub fn add_delivered(&self, records: u64) {
        self.records_total.inc_by(records);
    }

    pub fn add_dropped(&self, reason: ExportDropReason, records: u64) {
        if records > 0 {
            self.dropped_records_total
                .with_label_values(&[reason.name()])
                .inc_by(records);
        }
    }

    pub fn set_buffer_records(&self, records: u64) {
        self.buffer_records.set(to_i64(records));
    }
}
