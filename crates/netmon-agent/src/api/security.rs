//! Security events in the API: their JSON shape, `GET
//! /api/v1/security/events` (the recent ones, oldest first) and which of
//! them a flow follow stream carries.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use thiserror::Error;

use super::flows::FlowsState;
use super::names::FlowNames;
use super::query::FlowQuery;
use super::view::rfc3339;
use crate::enrich::FlowIdentity;
use crate::security::{ScanDetection, ScanKind, ScanThresholds};

/// One security event as the API shows it.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct SecurityEventView {
    /// Unique for the agent's lifetime, in the order events were found.
    pub id: u64,
    /// `port_scan` or `host_scan`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The scanning source.
    pub src_ip: IpAddr,
    /// The host whose ports were scanned; `null` for a host scan.
    pub dst_ip: Option<IpAddr>,
    /// Port scan: distinct ports of `dst_ip`; host scan: distinct ports
    /// over all hosts; within the window when the threshold was crossed.
    pub distinct_ports: usize,
    /// Distinct hosts the source probed within that window.
    pub distinct_hosts: usize,
    /// The configured count this scan exceeded (`distinct_ports` or
    /// `distinct_hosts` of `features.port_scan`).
    pub threshold: usize,
    /// The sliding window, in seconds.
    pub window_s: f64,
    /// When the scan began within the window (RFC 3339, and nanoseconds).
    pub first_seen: String,
    pub first_seen_ns: u64,
    /// The start of the connection that crossed the threshold.
    pub detected_at: String,
    pub detected_at_ns: u64,
    /// Names of the source (`src_*`) and, for a port scan, of the scanned
    /// host (`dst_*`).
    #[serde(flatten)]
    pub names: FlowNames,
}

impl SecurityEventView {
    /// `identity` names the ends of the connection that completed the scan.
    pub fn of_scan(
        id: u64,
        scan: &ScanDetection,
        thresholds: &ScanThresholds,
        identity: &FlowIdentity,
    ) -> Self {
        let (threshold, names) = match scan.kind {
            ScanKind::PortScan => (thresholds.distinct_ports, FlowNames::of(identity)),
            // The connection's responder is just the last of many hosts.
            ScanKind::HostScan => (
                thresholds.distinct_hosts,
                FlowNames::of(&FlowIdentity {
                    src: identity.src.clone(),
                    dst: Default::default(),
                }),
            ),
        };
        SecurityEventView {
            id,
            kind: scan.kind.name(),
            src_ip: scan.source.to_canonical(),
            dst_ip: scan.target.map(|ip| ip.to_canonical()),
            distinct_ports: scan.distinct_ports,
            distinct_hosts: scan.distinct_hosts,
            threshold,
            window_s: thresholds.window.as_secs_f64(),
            first_seen: rfc3339(scan.first_seen),
            first_seen_ns: scan.first_seen,
            detected_at: rfc3339(scan.detected_at),
            detected_at_ns: scan.detected_at,
            names,
        }
    }
}

/// The follow-stream line of a security event: its fields plus
/// `"event":"security"`.
#[derive(Serialize)]
pub(crate) struct SecurityLine<'a> {
    pub(crate) event: &'static str,
    #[serde(flatten)]
    pub(crate) security: &'a SecurityEventView,
}

impl<'a> SecurityLine<'a> {
    pub(crate) fn of(security: &'a SecurityEventView) -> Self {
        SecurityLine {
            event: "security",
            security,
        }
    }
}

/// Whether a flow follow stream with `query` carries `event`; see
/// [`FlowQuery::carries_security`].
pub(crate) fn follow_carries(query: &FlowQuery, event: &SecurityEventView) -> bool {
    query.carries_security(event)
}

const PARAMETERS: &str = "type, ip, limit";

/// A rejected `GET /api/v1/security/events`; the message names the parameter.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SecurityQueryError {
    #[error("{0}: unknown parameter (known: {PARAMETERS})")]
    UnknownParameter(String),
    #[error("{0}: given more than once; give it once")]
    Repeated(String),
    #[error("type: {0:?} is not an event type (port_scan, host_scan)")]
    BadType(String),
    #[error("ip: {0:?} is not an IPv4 or IPv6 address")]
    BadIp(String),
    #[error("limit: {0:?} is not a positive integer (1 or more)")]
    BadLimit(String),
    #[error("query string could not be decoded: {0}")]
    Undecodable(String),
}

/// Filters of `GET /api/v1/security/events`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityQuery {
    pub kind: Option<ScanKind>,
    /// The source or the scanned host.
    pub ip: Option<IpAddr>,
    /// Keep the newest `limit` events.
    pub limit: Option<usize>,
}

impl SecurityQuery {
    pub fn parse<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self, SecurityQueryError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut query = SecurityQuery::default();
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in pairs {
            let (name, value) = (name.as_ref(), value.as_ref());
            if seen.iter().any(|s| s == name) {
                return Err(SecurityQueryError::Repeated(name.to_owned()));
            }
            match name {
                "type" => {
                    query.kind = Some(
                        ScanKind::ALL
                            .into_iter()
                            .find(|kind| kind.name() == value)
                            .ok_or_else(|| SecurityQueryError::BadType(value.to_owned()))?,
                    )
                }
                "ip" => {
                    query.ip = Some(
                        value
                            .parse::<IpAddr>()
                            .map(|ip| ip.to_canonical())
                            .map_err(|_| SecurityQueryError::BadIp(value.to_owned()))?,
                    )
                }
                "limit" => {
                    query.limit = Some(
                        value
                            .parse::<usize>()
                            .ok()
                            .filter(|limit| {
                                *limit >= 1 && value.bytes().all(|b| b.is_ascii_digit())
                            })
                            .ok_or_else(|| SecurityQueryError::BadLimit(value.to_owned()))?,
                    )
                }
                _ => return Err(SecurityQueryError::UnknownParameter(name.to_owned())),
            }
            seen.push(name.to_owned());
        }
        Ok(query)
    }

    pub fn matches(&self, event: &SecurityEventView) -> bool {
        self.kind.is_none_or(|kind| event.kind == kind.name())
            && self
                .ip
                .is_none_or(|ip| event.src_ip == ip || event.dst_ip == Some(ip))
    }

    /// Matching events, oldest first, cut to the newest `limit`.
    pub fn select(&self, events: Vec<Arc<SecurityEventView>>) -> Vec<Arc<SecurityEventView>> {
        let mut selected: Vec<_> = events.into_iter().filter(|e| self.matches(e)).collect();
        if let Some(limit) = self.limit {
            let excess = selected.len().saturating_sub(limit);
            selected.drain(..excess);
        }
        selected
    }
}

pub(crate) async fn get_security_events(
    State(state): State<FlowsState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(pairs)) => SecurityQuery::parse(pairs),
        Err(rejection) => Err(SecurityQueryError::Undecodable(rejection.body_text())),
    };
    match query {
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": error.to_string() })),
        )
            .into_response(),
        Ok(query) => {
            // At most the ring's thousand small events: cheap to render here.
            let events = query.select(state.source.security_events());
            match serde_json::to_vec(&events) {
                Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
                Err(error) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(serde_json::json!({
                        "error": format!("security events could not be serialized: {error}")
                    })),
                )
                    .into_response(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;

    use tokio::sync::broadcast;

    use super::*;
    use crate::api::source::{FlowEvent, FlowEventKind, FlowSource};
    use crate::api::testing::{get, open_stream, start, view};
    use crate::api::{api_router, api_router_with_lag_hook, FlowView, Readiness};
    use crate::enrich::EndpointIdentity;

    const SEC: u64 = 1_000_000_000;

    fn thresholds() -> ScanThresholds {
        ScanThresholds {
            distinct_ports: 100,
            distinct_hosts: 50,
            window: Duration::from_millis(2500),
            max_sources: 10,
        }
    }

    fn port_scan(source: &str, target: &str) -> ScanDetection {
        ScanDetection {
            kind: ScanKind::PortScan,
            source: source.parse().unwrap(),
            target: Some(target.parse().unwrap()),
            distinct_ports: 101,
            distinct_hosts: 1,
            first_seen: 1_700_000_000 * SEC,
            detected_at: 1_700_000_000 * SEC + 250_000_000,
        }
    }

    fn host_scan(source: &str) -> ScanDetection {
        ScanDetection {
            kind: ScanKind::HostScan,
            target: None,
            distinct_ports: 1,
            distinct_hosts: 51,
            ..port_scan(source, "10.0.0.99")
        }
    }

    fn event(id: u64, scan: &ScanDetection) -> SecurityEventView {
        SecurityEventView::of_scan(id, scan, &thresholds(), &FlowIdentity::default())
    }

    fn pod(name: &str, namespace: &str) -> Arc<EndpointIdentity> {
        Arc::new(EndpointIdentity {
            pod: Some(name.into()),
            namespace: Some(namespace.into()),
            ..EndpointIdentity::default()
        })
    }

    #[test]
    fn a_port_scan_event_has_every_field_the_docs_list() {
        let scan = port_scan("::ffff:10.0.0.1", "10.0.0.2");
        let identity = FlowIdentity {
            src: pod("scanner", "tools"),
            dst: pod("db-0", "shop"),
        };
        let json = serde_json::to_value(SecurityEventView::of_scan(
            7,
            &scan,
            &thresholds(),
            &identity,
        ))
        .unwrap();
        let expected = serde_json::json!({
            "id": 7,
            "type": "port_scan",
            "src_ip": "10.0.0.1",
            "dst_ip": "10.0.0.2",
            "distinct_ports": 101,
            "distinct_hosts": 1,
            "threshold": 100,
            "window_s": 2.5,
            "first_seen": "2023-11-14T22:13:20.000000000Z",
            "first_seen_ns": 1_700_000_000u64 * SEC,
            "detected_at": "2023-11-14T22:13:20.250000000Z",
            "detected_at_ns": 1_700_000_000u64 * SEC + 250_000_000,
            "src_pod": "scanner", "src_namespace": "tools", "src_workload": null,
            "src_workload_kind": null, "src_service": null, "src_node": null,
            "src_zone": null, "src_host_network": false, "src_labels": {},
            "dst_pod": "db-0", "dst_namespace": "shop", "dst_workload": null,
            "dst_workload_kind": null, "dst_service": null, "dst_node": null,
            "dst_zone": null, "dst_host_network": false, "dst_labels": {},
        });
        assert_eq!(json, expected);
    }

    #[test]
    fn a_host_scan_names_its_source_only_and_exceeds_distinct_hosts() {
        let identity = FlowIdentity {
            src: pod("scanner", "tools"),
            dst: pod("web-1", "shop"),
        };
        let view = SecurityEventView::of_scan(1, &host_scan("10.0.0.1"), &thresholds(), &identity);
        assert_eq!(
            (view.kind, view.dst_ip, view.threshold),
            ("host_scan", None, 50)
        );
        assert_eq!(view.names.src_pod.as_deref(), Some("scanner"));
        assert_eq!(view.names.dst_pod, None);
        assert_eq!(view.names.dst_namespace, None);
    }

    #[test]
    fn a_follow_line_is_the_event_plus_an_event_field() {
        let view = event(3, &host_scan("10.0.0.1"));
        let json = serde_json::to_value(SecurityLine::of(&view)).unwrap();
        assert_eq!(json["event"], "security");
        assert_eq!(json["type"], "host_scan");
        assert_eq!(json["id"], 3);
    }

    #[test]
    fn a_follow_stream_carries_security_events_unless_filtered_by_flow_only_fields() {
        let scan = event(1, &port_scan("10.0.0.1", "10.0.0.2"));
        let carries = |pairs: &[(&str, &str)]| {
            follow_carries(&FlowQuery::parse(pairs.iter().copied()).unwrap(), &scan)
        };
        assert!(carries(&[("follow", "true")]));
        assert!(carries(&[("ip", "10.0.0.1")]), "the source");
        assert!(carries(&[("ip", "10.0.0.2")]), "the scanned host");
        assert!(!carries(&[("ip", "10.0.0.3")]));
        assert!(!carries(&[("port", "80")]));
        assert!(!carries(&[("protocol", "tcp")]));
        assert!(!carries(&[("status", "refused")]));
        assert!(
            !carries(&[("src_pod", "scanner")]),
            "no names without Kubernetes"
        );
        let mut named = scan.clone();
        named.names.src_pod = Some("scanner".into());
        let query = FlowQuery::parse([("src_pod", "scanner")]).unwrap();
        assert!(follow_carries(&query, &named));
    }

    #[test]
    fn one_end_and_not_filters_apply_to_the_scanner_and_the_scanned_host() {
        let scan = event(1, &port_scan("10.0.0.1", "10.0.0.2"));
        let carries = |pairs: &[(&str, &str)]| {
            follow_carries(&FlowQuery::parse(pairs.iter().copied()).unwrap(), &scan)
        };
        assert!(
            carries(&[("src_ip", "10.0.0.1")]),
            "the scanner is the source"
        );
        assert!(!carries(&[("src_ip", "10.0.0.2")]));
        assert!(carries(&[("dst_ip", "10.0.0.2")]), "the scanned host");
        assert!(!carries(&[("src_port", "80")]), "events have no ports");
        assert!(!carries(&[("not_ip", "10.0.0.2")]));
        assert!(carries(&[("not_ip", "10.0.0.3")]));
        assert!(
            carries(&[("not_port", "53"), ("not_status", "closed")]),
            "an event has no port or status to exclude it by"
        );
        assert!(carries(&[("since", "1970-01-01T00:00:00Z")]));
    }

    #[test]
    fn listing_parameters_are_parsed_or_rejected_naming_the_parameter() {
        let parse = |pairs: &[(&str, &str)]| SecurityQuery::parse(pairs.iter().copied());
        assert_eq!(
            parse(&[
                ("type", "host_scan"),
                ("ip", "::ffff:10.0.0.1"),
                ("limit", "2")
            ]),
            Ok(SecurityQuery {
                kind: Some(ScanKind::HostScan),
                ip: Some("10.0.0.1".parse().unwrap()),
                limit: Some(2),
            })
        );
        let error = |pairs: &[(&str, &str)]| parse(pairs).unwrap_err().to_string();
        assert_eq!(
            error(&[("type", "portscan")]),
            "type: \"portscan\" is not an event type (port_scan, host_scan)"
        );
        assert_eq!(
            error(&[("ip", "10.0.0")]),
            "ip: \"10.0.0\" is not an IPv4 or IPv6 address"
        );
        for bad in ["0", "+3", "-1", "x", ""] {
            assert_eq!(
                error(&[("limit", bad)]),
                format!("limit: {bad:?} is not a positive integer (1 or more)")
            );
        }
        assert_eq!(
            error(&[("ip", "10.0.0.1"), ("ip", "10.0.0.2")]),
            "ip: given more than once; give it once"
        );
        assert_eq!(
            error(&[("port", "80")]),
            "port: unknown parameter (known: type, ip, limit)"
        );
    }

    /// A source with security events and both channels.
    struct ScanningSource {
        recent: Vec<Arc<SecurityEventView>>,
        flows: broadcast::Sender<Arc<FlowEvent>>,
        security: Mutex<Option<broadcast::Sender<Arc<SecurityEventView>>>>,
    }

    impl ScanningSource {
        fn new(recent: Vec<SecurityEventView>, capacity: usize) -> Arc<Self> {
            Arc::new(ScanningSource {
                recent: recent.into_iter().map(Arc::new).collect(),
                flows: broadcast::channel(capacity).0,
                security: Mutex::new(Some(broadcast::channel(capacity).0)),
            })
        }

        fn publish_flow(&self, flow: FlowView) {
            let _ = self.flows.send(Arc::new(FlowEvent {
                event: FlowEventKind::Opened,
                flow,
            }));
        }

        fn publish_security(&self, event: SecurityEventView) {
            if let Some(sender) = self.security.lock().unwrap().as_ref() {
                let _ = sender.send(Arc::new(event));
            }
        }
    }

    impl FlowSource for ScanningSource {
        fn snapshot(&self) -> Vec<FlowView> {
            Vec::new()
        }

        fn subscribe(&self) -> broadcast::Receiver<Arc<FlowEvent>> {
            self.flows.subscribe()
        }

        fn security_events(&self) -> Vec<Arc<SecurityEventView>> {
            self.recent.clone()
        }

        fn subscribe_security(&self) -> Option<broadcast::Receiver<Arc<SecurityEventView>>> {
            self.security
                .lock()
                .unwrap()
                .as_ref()
                .map(|s| s.subscribe())
        }
    }

    fn ids(body: &str) -> Vec<u64> {
        let events: Vec<serde_json::Value> = serde_json::from_str(body).unwrap();
        events.iter().map(|e| e["id"].as_u64().unwrap()).collect()
    }

    #[tokio::test]
    async fn the_listing_returns_recent_events_oldest_first_filtered_and_cut_to_the_newest() {
        let source = ScanningSource::new(
            vec![
                event(1, &port_scan("10.0.0.1", "10.0.0.2")),
                event(2, &host_scan("10.0.0.3")),
                event(3, &port_scan("10.0.0.4", "10.0.0.1")),
                event(4, &host_scan("10.0.0.1")),
            ],
            16,
        );
        let addr = start(api_router(source, Readiness::new())).await;
        let list = |query: &'static str| async move {
            let response = get(addr, &format!("/api/v1/security/events{query}")).await;
            assert_eq!(response.status, 200, "{}", response.body);
            assert_eq!(response.header("content-type"), Some("application/json"));
            ids(&response.body)
        };
        assert_eq!(list("").await, [1, 2, 3, 4]);
        assert_eq!(list("?type=host_scan").await, [2, 4]);
        assert_eq!(list("?ip=10.0.0.1").await, [1, 3, 4]);
        assert_eq!(list("?ip=10.0.0.1&limit=2").await, [3, 4]);
        assert_eq!(list("?ip=10.9.9.9").await, Vec::<u64>::new());

        let response = get(addr, "/api/v1/security/events?type=dns").await;
        assert_eq!(response.status, 400);
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(
            body["error"],
            "type: \"dns\" is not an event type (port_scan, host_scan)"
        );
    }

    #[tokio::test]
    async fn a_source_without_detection_lists_no_events() {
        let source = Arc::new(crate::api::testing::FakeSource::new(Vec::new()));
        let addr = start(api_router(source, Readiness::new())).await;
        let response = get(addr, "/api/v1/security/events").await;
        assert_eq!((response.status, response.body.as_str()), (200, "[]"));
    }

    #[tokio::test]
    async fn follow_streams_security_lines_alongside_flows_through_the_same_filters() {
        let source = ScanningSource::new(Vec::new(), 16);
        let addr = start(api_router(source.clone(), Readiness::new())).await;
        let mut by_ip = open_stream(addr, "/api/v1/flows?follow=true&ip=10.0.0.1").await;
        let mut by_port = open_stream(addr, "/api/v1/flows?follow=true&port=80").await;

        source.publish_security(event(1, &port_scan("10.0.0.7", "10.0.0.8")));
        source.publish_security(event(2, &port_scan("10.0.0.1", "10.0.0.2")));
        let line: serde_json::Value = serde_json::from_str(&by_ip.next_line().await).unwrap();
        assert_eq!(
            (&line["event"], &line["id"], &line["type"]),
            (
                &serde_json::json!("security"),
                &serde_json::json!(2),
                &serde_json::json!("port_scan")
            )
        );

        // The port-filtered stream skipped both: its next line is a flow.
        source.publish_flow(view(9, "10.0.0.5", 40000, "10.0.0.6", 80));
        let line: serde_json::Value = serde_json::from_str(&by_port.next_line().await).unwrap();
        assert_eq!(
            (&line["event"], &line["id"]),
            (&serde_json::json!("opened"), &serde_json::json!(9))
        );
    }

    #[tokio::test]
    async fn missed_security_events_are_a_lagged_line_and_counted() {
        let source = ScanningSource::new(Vec::new(), 2);
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
        for id in 1..=5 {
            source.publish_security(event(id, &host_scan("10.0.0.1")));
        }
        assert_eq!(stream.next_line().await, r#"{"event":"lagged","missed":3}"#);
        let next: serde_json::Value = serde_json::from_str(&stream.next_line().await).unwrap();
        assert_eq!(next["id"], 4);
        assert_eq!(lagged.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn a_closed_security_channel_leaves_the_flow_stream_running() {
        let source = ScanningSource::new(Vec::new(), 16);
        let addr = start(api_router(source.clone(), Readiness::new())).await;
        let mut stream = open_stream(addr, "/api/v1/flows?follow=true").await;
        source.security.lock().unwrap().take();
        source.publish_flow(view(5, "10.0.0.1", 40000, "10.0.0.2", 443));
        let line: serde_json::Value = serde_json::from_str(&stream.next_line().await).unwrap();
        assert_eq!(line["id"], 5);
    }
}
