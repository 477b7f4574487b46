//! The metrics listener's router: `/metrics`, `/healthz`, `/readyz`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::metrics::AgentMetrics;
use crate::api::{health_router, Readiness};

/// Called before each scrape is encoded, so gauges sampled on demand
/// (process memory and CPU, kernel counters) are fresh.
pub type ScrapeHook = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone)]
struct MetricsState {
    metrics: Arc<AgentMetrics>,
    on_scrape: ScrapeHook,
}

pub fn metrics_router(
    metrics: Arc<AgentMetrics>,
    readiness: Readiness,
    on_scrape: ScrapeHook,
) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(MetricsState { metrics, on_scrape })
        .merge(health_router(readiness))
}

/// The hook may read `/proc` or kernel maps, and encoding per-flow series
/// can take a while, so both run off the async workers.
async fn scrape(State(state): State<MetricsState>) -> Response {
    let encoded = tokio::task::spawn_blocking(move || {
        (state.on_scrape)();
        state.metrics.encode()
    })
    .await;
    match encoded {
        Ok(text) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("collecting metrics failed: {error}"),
        )
            .into_response(),
    }
}
