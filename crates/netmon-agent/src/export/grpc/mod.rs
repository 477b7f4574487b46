//! Flow records to netmon-server over gRPC (`export.grpc`), which stores
//! them in ClickHouse.
//!
//! The flow table's changes go into the [`GrpcFeed`] (`runtime::state`
//! publishes every change there, so each counted byte is exported once),
//! which sums them per flow and interval ([`IntervalRecords`]). At the end
//! of each interval the [`GrpcExporter`] moves the interval's records into
//! a bounded buffer and sends them in batches, each under a batch id the
//! server deduplicates on, until acknowledged. The schema is
//! `proto/netmon/flows/v1/flows.proto`; docs/export.md describes the rest.

mod address;
mod backoff;
mod batch;
mod buffer;
mod client;
mod exporter;
mod feed;
mod records;

#[cfg(test)]
mod exporter_tests;
#[cfg(test)]
mod records_tests;

use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;
use tracing::info;

pub use address::ServerAddress;
pub use backoff::Backoff;
pub use batch::{Batch, BatchIds};
pub use buffer::ExportBuffer;
pub use client::{Answer, BatchSender, GrpcClient};
pub use exporter::{ExporterSettings, GrpcExporter};
pub use feed::GrpcFeed;
pub use records::{Interval, IntervalRecords};

use crate::config::Config;
use crate::export::prometheus::AgentMetrics;

#[derive(Debug, Error)]
pub enum GrpcExportError {
    #[error("{address:?} {why}")]
    Address { address: String, why: String },
    #[error("{address}: {why}")]
    Endpoint { address: String, why: String },
    #[error("{setting} {}: {source}", path.display())]
    ReadFile {
        setting: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{setting} {}: holds no PEM {expected} block", path.display())]
    NotPem {
        setting: &'static str,
        path: PathBuf,
        expected: &'static str,
    },
}

/// The feed the runtime publishes into, and the exporter that empties it.
pub struct GrpcExport {
    pub feed: Arc<GrpcFeed>,
    pub exporter: GrpcExporter<GrpcClient>,
    /// How long the exporter may still run once told to stop.
    pub shutdown_flush: std::time::Duration,
}

/// gRPC export as `config.export.grpc` asks, or `None` when it is off.
/// `node` names this node: the agent id in batch ids and on every record.
pub fn start(
    config: &Config,
    node: &str,
    metrics: Arc<AgentMetrics>,
) -> Result<Option<GrpcExport>, GrpcExportError> {
    let settings = &config.export.grpc;
    if !settings.enabled {
        return Ok(None);
    }
    // The server refuses batches without an agent id.
    let node = if node.is_empty() {
        "unknown-node"
    } else {
        node
    };
    let client = GrpcClient::new(settings)?;
    let server = ServerAddress::parse(&settings.address)?;
    let interval = settings.flush_interval;
    // A flow changes at least once per flow_timeout while active and may
    // change until it is pruned once ended; past both it never changes again.
    let quiet_for = config.flow.flow_timeout + config.flow.closed_retention;
    let forget_after = quiet_for.as_nanos().div_ceil(interval.as_nanos().max(1)) + 1;
    let feed = Arc::new(GrpcFeed::new(IntervalRecords::new(
        node,
        u64::try_from(forget_after).unwrap_or(u64::MAX),
    )));
    metrics.grpc_export().start();
    info!(
        %server,
        tls = server.uses_tls(),
        mutual_tls = settings.tls.cert_file.is_some(),
        batch_size = settings.batch_size,
        buffer_records = settings.buffer_records,
        flush_interval = %humantime::format_duration(interval),
        "gRPC export on"
    );
    let exporter = GrpcExporter::new(
        feed.clone(),
        client,
        metrics,
        ExporterSettings {
            agent_id: node.to_owned(),
            server: server.to_string(),
            flush_interval: interval,
            batch_size: settings.batch_size,
            buffer_records: settings.buffer_records,
            shutdown_flush: settings.timeout,
            started_unix_ns: exporter::unix_now_ns(),
        },
    );
    Ok(Some(GrpcExport {
        feed,
        exporter,
        shutdown_flush: settings.timeout,
    }))
}
