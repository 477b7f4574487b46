//! netmon-server: receives flow batches from netmon agents over gRPC and
//! inserts them into ClickHouse, never losing an acknowledged batch and
//! never counting one twice.
//!
//! ```text
//! agent ── Export(batch) ──► grpc::Collector ──► writer (spool append + fsync) ──► OK
//!                                                  │
//!                                                  ▼
//!                                    store (ordered queue, rows in memory)
//!                                                  │
//!                                       sink: check? ─► INSERT (RowBinary) ─► commit:
//!                                       drop from queue, delete drained spool segments
//! ```

pub mod batch;
pub mod calendar;
pub mod clickhouse;
pub mod config;
pub mod grpc;
pub mod logging;
pub mod metrics;
pub mod run;
pub mod sink;
pub mod spool;
pub mod store;
pub mod writer;
