//! The server's Prometheus metrics and their listener (`/metrics`,
//! `/healthz`). Labels are fixed, small sets: never an agent, batch or IP.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use tokio::net::TcpListener;

/// Seconds; an INSERT of a full batch takes milliseconds on a healthy
/// server, the top buckets show a struggling one before the timeout hits.
const INSERT_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

pub struct Metrics {
    registry: Registry,
    /// Requests by outcome: accepted, duplicate, invalid_argument, unavailable.
    pub requests: IntCounterVec,
    /// Records in accepted (not duplicate) batches.
    pub records_received: IntCounter,
    /// Records inserted into ClickHouse.
    pub records_inserted: IntCounter,
    pub batches_inserted: IntCounter,
    /// Batches not counted again, by where they were found: recent,
    /// queued, clickhouse.
    pub batches_duplicate: IntCounterVec,
    pub queue_batches: IntGauge,
    pub queue_rows: IntGauge,
    pub queue_memory_rows: IntGauge,
    pub queue_spilled_batches: IntCounter,
    pub spool_bytes: IntGauge,
    pub spool_written_records: IntCounter,
    pub spool_read_records: IntCounter,
    pub spool_corrupt_records: IntCounter,
    pub insert_duration: Histogram,
    /// Failed exchanges with ClickHouse on the insert path (schema, check,
    /// INSERT), each retried.
    pub insert_failures: IntCounter,
    /// 1 after a successful exchange with ClickHouse, 0 after a failed one.
    pub clickhouse_up: IntGauge,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let metric = IntCounter::new(name, help).expect("valid metric name");
            registry
                .register(Box::new(metric.clone()))
                .expect("each metric is registered once");
            metric
        };
        let counter_vec = |name: &str, help: &str, label: &str| {
            let metric =
                IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric name");
            registry
                .register(Box::new(metric.clone()))
                .expect("each metric is registered once");
            metric
        };
        let gauge = |name: &str, help: &str| {
            let metric = IntGauge::new(name, help).expect("valid metric name");
            registry
                .register(Box::new(metric.clone()))
                .expect("each metric is registered once");
            metric
        };
        let insert_duration = Histogram::with_opts(
            HistogramOpts::new(
                "netmon_server_insert_duration_seconds",
                "Time of one successful INSERT into ClickHouse.",
            )
            .buckets(INSERT_BUCKETS.to_vec()),
        )
        .expect("valid histogram");
        registry
            .register(Box::new(insert_duration.clone()))
            .expect("each metric is registered once");
        let metrics = Metrics {
            requests: counter_vec(
                "netmon_server_requests_total",
                "Export requests answered, by outcome (accepted, duplicate, invalid_argument, unavailable).",
                "outcome",
            ),
            records_received: counter(
                "netmon_server_records_received_total",
                "Flow records in accepted batches (duplicates not included).",
            ),
            records_inserted: counter(
                "netmon_server_records_inserted_total",
                "Flow records inserted into ClickHouse.",
            ),
            batches_inserted: counter(
                "netmon_server_batches_inserted_total",
                "Batches inserted into ClickHouse.",
            ),
            batches_duplicate: counter_vec(
                "netmon_server_batches_duplicate_total",
                "Batches received again and not counted again, by where the first copy was found (recent, queued, clickhouse).",
                "found",
            ),
            queue_batches: gauge(
                "netmon_server_queue_batches",
                "Accepted batches not yet in ClickHouse.",
            ),
            queue_rows: gauge(
                "netmon_server_queue_rows",
                "Rows of accepted batches not yet in ClickHouse.",
            ),
            queue_memory_rows: gauge(
                "netmon_server_queue_memory_rows",
                "Of those rows, the ones held in memory (the rest are read back from the spool).",
            ),
            queue_spilled_batches: counter(
                "netmon_server_queue_spilled_batches_total",
                "Batches queued without their rows in memory (memory queue full): read back from the spool when their turn comes.",
            ),
            spool_bytes: gauge(
                "netmon_server_spool_bytes",
                "Bytes of spool segments on disk.",
            ),
            spool_written_records: counter(
                "netmon_server_spool_written_records_total",
                "Batches written (and fsynced) to the spool.",
            ),
            spool_read_records: counter(
                "netmon_server_spool_read_records_total",
                "Batches read back from the spool because they were not in memory.",
            ),
            spool_corrupt_records: counter(
                "netmon_server_spool_corrupt_records_total",
                "Spool records skipped: bad checksum, cut-short tail or undecodable content.",
            ),
            insert_duration,
            insert_failures: counter(
                "netmon_server_insert_failures_total",
                "Failed exchanges with ClickHouse while inserting (schema, duplicate check, INSERT); each is retried.",
            ),
            clickhouse_up: gauge(
                "netmon_server_clickhouse_up",
                "1 when the last exchange with ClickHouse succeeded, else 0.",
            ),
            registry,
        };
        for outcome in ["accepted", "duplicate", "invalid_argument", "unavailable"] {
            metrics.requests.with_label_values(&[outcome]);
        }
        for found in ["recent", "queued", "clickhouse"] {
            metrics.batches_duplicate.with_label_values(&[found]);
        }
        Arc::new(metrics)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding gathered families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(metrics);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn render(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
}

/// Binds the metrics listener; the error names the setting.
pub async fn bind(address: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(address)
        .await
        .map_err(|error| format!("metrics.address {address}: {error}"))
}
