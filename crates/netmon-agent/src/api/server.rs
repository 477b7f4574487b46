//! The API listener's router.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use super::config_status::ConfigStatusHandle;
use super::debug::{get_debug_flows, get_debug_runtime};
use super::flows::{get_flows, FlowsState, LagHook};
use super::health::{health_router, Readiness};
use super::security::get_security_events;
use super::source::FlowSource;
use super::stats::get_flow_stats;
use super::status::{get_status, StatusState};
use super::status_source::StatusSource;

/// `/api/v1/flows`, `/api/v1/security/events`, `/healthz` and `/readyz`. Follow clients that fall
/// behind get a `lagged` line but are not counted anywhere; use
/// [`api_router_with_lag_hook`] to count them in a metric.
pub fn api_router(source: Arc<dyn FlowSource>, readiness: Readiness) -> Router {
    api_router_with_lag_hook(source, readiness, Arc::new(|_| {}))
}

/// Like [`api_router`], calling `on_lag(missed)` each time a follow client
/// misses events.
pub fn api_router_with_lag_hook(
    source: Arc<dyn FlowSource>,
    readiness: Readiness,
    on_lag: LagHook,
) -> Router {
    Router::new()
        .route("/api/v1/flows", get(get_flows))
        .route("/api/v1/security/events", get(get_security_events))
        .with_state(FlowsState { source, on_lag })
        .merge(health_router(readiness))
}

/// Everything the agent's API reads from.
#[derive(Clone)]
pub struct ApiSources {
    pub flows: Arc<dyn FlowSource>,
    pub status: Arc<dyn StatusSource>,
    /// The `config` part of the status, kept up to date by config reloads.
    pub config: ConfigStatusHandle,
    pub readiness: Readiness,
    /// Called with the events a follow client missed.
    pub on_lag: LagHook,
}

/// The agent's whole API, as both its TCP listener and its unix socket
/// serve it: the routes of [`api_router_with_lag_hook`] plus
/// `/api/v1/status`, `/api/v1/stats/flows`, `/debug/flows` and
/// `/debug/runtime`.
pub fn api_router_with(sources: ApiSources) -> Router {
    let status = StatusState {
        flows: sources.flows.clone(),
        status: sources.status,
        config: sources.config,
    };
    Router::new()
        .route("/api/v1/status", get(get_status))
        .route("/api/v1/stats/flows", get(get_flow_stats))
        .route("/debug/flows", get(get_debug_flows))
        .route("/debug/runtime", get(get_debug_runtime))
        .with_state(status)
        .merge(api_router_with_lag_hook(
            sources.flows,
            sources.readiness,
            sources.on_lag,
        ))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::api::source::{FlowEvent, FlowEventKind};
    use crate::api::testing::{get, open_stream, start, view, FakeSource, HttpResponse};
    use crate::flow::FlowStatus;

    fn flows() -> Vec<crate::api::FlowView> {
        let mut https = view(1, "10.0.0.1", 40000, "10.0.0.2", 443);
        https.first_seen_ns = 300;
        let mut dns = view(2, "10.0.0.1", 53000, "10.0.0.53", 53);
        dns.protocol = "udp";
        dns.protocol_number = 17;
        dns.first_seen_ns = 100;
        let mut refused = view(3, "10.0.0.3", 40001, "10.0.0.2", 8080);
        refused.status = FlowStatus::Refused;
        refused.first_seen_ns = 200;
        vec![https, dns, refused]
    }

    fn ids(response: &HttpResponse) -> Vec<u64> {
        let flows: Vec<serde_json::Value> = serde_json::from_str(&response.body).unwrap();
        flows.iter().map(|f| f["id"].as_u64().unwrap()).collect()
    }

    async fn serve_fake() -> (std::net::SocketAddr, Arc<FakeSource>, Readiness) {
        let source = Arc::new(FakeSource::new(flows()));
        let readiness = Readiness::new();
        let addr = start(api_router(source.clone(), readiness.clone())).await;
        (addr, source, readiness)
    }

    #[tokio::test]
    async fn listing_without_filters_returns_every_flow_oldest_first() {
        let (addr, _, _) = serve_fake().await;
        let response = get(addr, "/api/v1/flows").await;
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(ids(&response), vec![2, 3, 1]);
    }

    #[tokio::test]
    async fn listing_with_filters_returns_exactly_the_matching_flows() {
        let (addr, _, _) = serve_fake().await;
        assert_eq!(
            ids(&get(addr, "/api/v1/flows?ip=10.0.0.2").await),
            vec![3, 1]
        );
        assert_eq!(
            ids(&get(addr, "/api/v1/flows?ip=10.0.0.2&port=443").await),
            vec![1]
        );
        assert_eq!(ids(&get(addr, "/api/v1/flows?protocol=udp").await), vec![2]);
        assert_eq!(
            ids(&get(addr, "/api/v1/flows?status=refused,reset").await),
            vec![3]
        );
        assert_eq!(
            ids(&get(addr, "/api/v1/flows?status=active&limit=1").await),
            vec![1]
        );
        assert_eq!(
            ids(&get(addr, "/api/v1/flows?ip=%3A%3Affff%3A10.0.0.53").await),
            vec![2]
        );
        assert!(ids(&get(addr, "/api/v1/flows?port=22").await).is_empty());
    }

    #[tokio::test]
    async fn a_bad_parameter_gets_400_with_a_message_naming_it() {
        let (addr, _, _) = serve_fake().await;
        let response = get(addr, "/api/v1/flows?port=abc").await;
        assert_eq!(response.status, 400);
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": r#"port: "abc" is not a port number (0-65535)"#})
        );

        let response = get(addr, "/api/v1/flows?color=blue").await;
        assert_eq!(response.status, 400);
        assert!(
            response.body.contains("color: unknown parameter"),
            "{}",
            response.body
        );
    }

    #[tokio::test]
    async fn follow_streams_matching_events_sent_after_the_request_started() {
        let (addr, source, _) = serve_fake().await;
        let mut stream = open_stream(addr, "/api/v1/flows?follow=true&port=443").await;
        assert_eq!(stream.status, 200);
        assert_eq!(stream.header("content-type"), Some(crate::api::NDJSON));

        let mut other = view(20, "10.0.0.1", 40002, "10.0.0.9", 80);
        other.first_seen_ns = 1;
        source.publish(FlowEvent {
            event: FlowEventKind::Opened,
            flow: other,
        });
        source.publish(FlowEvent {
            event: FlowEventKind::Updated,
            flow: view(21, "10.0.0.1", 40003, "10.0.0.2", 443),
        });

        let line: serde_json::Value = serde_json::from_str(&stream.next_line().await).unwrap();
        assert_eq!(line["event"], "updated");
        assert_eq!(line["id"], 21);
    }

    #[tokio::test]
    async fn a_follow_client_that_falls_behind_gets_a_lagged_line_and_the_hook_counts_it() {
        let source = Arc::new(FakeSource::with_capacity(Vec::new(), 2));
        let lagged = Arc::new(AtomicU64::new(0));
        let counter = lagged.clone();
        let router = api_router_with_lag_hook(
            source.clone(),
            Readiness::new(),
            Arc::new(move |missed| {
                counter.fetch_add(missed, Ordering::Relaxed);
            }),
        );
        let addr = start(router).await;
        let mut stream = open_stream(addr, "/api/v1/flows?follow=true").await;
        // Five events into a channel of two while the client is not reading:
        // the oldest three are lost.
        for id in 1..=5 {
            source.publish(FlowEvent {
                event: FlowEventKind::Updated,
                flow: view(id, "10.0.0.1", 1000, "10.0.0.2", 80),
            });
        }
        assert_eq!(stream.next_line().await, r#"{"event":"lagged","missed":3}"#);
        let next: serde_json::Value = serde_json::from_str(&stream.next_line().await).unwrap();
        assert_eq!(next["id"], 4);
        assert_eq!(lagged.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn readiness_turns_from_503_with_the_reason_to_200() {
        let (addr, _, readiness) = serve_fake().await;
        let response = get(addr, "/readyz").await;
        assert_eq!((response.status, response.body.as_str()), (503, "starting"));
        readiness.set_ready();
        let response = get(addr, "/readyz").await;
        assert_eq!((response.status, response.body.as_str()), (200, "ready"));
        let response = get(addr, "/healthz").await;
        assert_eq!((response.status, response.body.as_str()), (200, "ok"));
    }

    #[tokio::test]
    async fn a_follow_stream_ends_when_the_source_shuts_down() {
        let (addr, source, _) = serve_fake().await;
        let mut stream = open_stream(addr, "/api/v1/flows?follow=true").await;
        source.close();
        tokio::time::timeout(Duration::from_secs(5), stream.wait_for_end())
            .await
            .expect("the stream ends");
    }
}
