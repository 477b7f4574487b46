//! DNS and application-protocol metrics: `netmon_dns_*` and
//! `netmon_app_*`. Label values are bounded sets: DNS query types map to
//! the common names or `OTHER`, rcodes to the RFC names, protocols to the
//! eight netmon recognises. Names and addresses never become labels.

use std::sync::Mutex;

use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, Registry};

use super::register::{histogram, int_counter, int_counter_vec, int_gauge, lock, to_i64};
use crate::api::DNS_TIMEOUT;
use crate::flow::DnsTransaction;
use crate::l7::{dns, AppProtocol};

/// Upper bounds, in seconds, of `netmon_dns_latency_seconds`: a node-local
/// cache answers in tens of microseconds, a cluster resolver in a
/// millisecond or two, an upstream in tens of milliseconds, and resolvers
/// retry after one to five seconds.
pub const DNS_LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Cumulative counts of the inspect stage, read after each batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppReading {
    pub dns_pending: usize,
    pub dns_pending_dropped: u64,
    pub dns_names: usize,
    pub dns_names_evicted: u64,
    pub classifier_connections: usize,
    pub classifier_untracked_samples: u64,
}

pub struct AppMetrics {
    dns_requests_total: IntCounterVec,
    dns_latency: Histogram,
    dns_undecodable_total: IntCounter,
    dns_pending: IntGauge,
    dns_pending_dropped_total: IntCounter,
    dns_names: IntGauge,
    dns_names_evicted_total: IntCounter,
    app_protocol_flows_total: IntCounterVec,
    classifier_connections: IntGauge,
    classifier_untracked_total: IntCounter,
    observations_unattributed_total: IntCounter,
    observations_dropped_total: IntCounter,
    last: Mutex<AppReading>,
}

impl AppMetrics {
    pub(crate) fn register(r: &Registry) -> Result<Self, prometheus::Error> {
        Ok(AppMetrics {
            dns_requests_total: int_counter_vec(
                r,
                "netmon_dns_requests_total",
                "DNS transactions seen on the monitored interfaces, counted when the response arrives (rcode: NOERROR, NXDOMAIN, ...; timeout: no response within features.dns.query_timeout; qtype: A, AAAA, ..., OTHER).",
                &["rcode", "qtype"],
            )?,
            dns_latency: histogram(
                r,
                "netmon_dns_latency_seconds",
                "Time from a DNS query to its response, both seen at the node's interfaces.",
                DNS_LATENCY_BUCKETS.to_vec(),
            )?,
            dns_undecodable_total: int_counter(
                r,
                "netmon_dns_messages_undecodable_total",
                "Port-53 payloads that did not decode as a DNS message (including TCP segments that continue a message).",
            )?,
            dns_pending: int_gauge(
                r,
                "netmon_dns_pending_queries",
                "DNS queries waiting for their response.",
            )?,
            dns_pending_dropped_total: int_counter(
                r,
                "netmon_dns_pending_dropped_total",
                "DNS queries not tracked because features.dns.max_pending were waiting; their responses count without a latency.",
            )?,
            dns_names: int_gauge(
                r,
                "netmon_dns_resolved_addresses",
                "Addresses held with the name a DNS answer gave them (dst_dns_name).",
            )?,
            dns_names_evicted_total: int_counter(
                r,
                "netmon_dns_resolved_addresses_evicted_total",
                "Resolved addresses forgotten before their time to stay within features.dns.max_names.",
            )?,
            app_protocol_flows_total: int_counter_vec(
                r,
                "netmon_app_protocol_flows_total",
                "Connections whose application protocol was recognised, once each.",
                &["protocol"],
            )?,
            classifier_connections: int_gauge(
                r,
                "netmon_app_classifier_connections",
                "Connections the protocol classifier holds state for.",
            )?,
            classifier_untracked_total: int_counter(
                r,
                "netmon_app_classifier_untracked_samples_total",
                "Payload samples classified without their connection's state because the classifier was full.",
            )?,
            observations_unattributed_total: int_counter(
                r,
                "netmon_app_observations_unattributed_total",
                "Protocol or DNS findings whose connection the flow table did not hold after two drains.",
            )?,
            observations_dropped_total: int_counter(
                r,
                "netmon_app_observations_dropped_total",
                "Protocol or DNS findings dropped because the queue to the flow table was full.",
            )?,
            last: Mutex::new(AppReading::default()),
        })
    }

    /// Counts one DNS transaction (answered or timed out).
    pub fn record_dns(&self, transaction: &DnsTransaction) {
        let rcode = transaction.rcode.map_or(DNS_TIMEOUT, dns::rcode_name);
        self.dns_requests_total
            .with_label_values(&[rcode, dns::qtype_label(transaction.qtype)])
            .inc();
        if let Some(ns) = transaction.latency_ns {
            self.dns_latency.observe(ns as f64 / 1e9);
        }
    }

    pub fn add_dns_undecodable(&self, n: u64) {
        self.dns_undecodable_total.inc_by(n);
    }

    pub fn record_classified(&self, protocol: AppProtocol) {
        self.app_protocol_flows_total
            .with_label_values(&[protocol.as_str()])
            .inc();
    }

    pub fn add_unattributed(&self, n: u64) {
        self.observations_unattributed_total.inc_by(n);
    }

    pub fn add_dropped(&self, n: u64) {
        self.observations_dropped_total.inc_by(n);
    }

    /// Takes a cumulative reading of the inspect stage.
    pub fn set_reading(&self, reading: AppReading) {
        let mut last = lock(&self.last);
        self.dns_pending.set(to_i64(reading.dns_pending as u64));
        self.dns_names.set(to_i64(reading.dns_names as u64));
        self.classifier_connections
            .set(to_i64(reading.classifier_connections as u64));
        self.dns_pending_dropped_total.inc_by(
            reading
                .dns_pending_dropped
                .saturating_sub(last.dns_pending_dropped),
        );
        self.dns_names_evicted_total.inc_by(
            reading
                .dns_names_evicted
                .saturating_sub(last.dns_names_evicted),
        );
        self.classifier_untracked_total.inc_by(
            reading
                .classifier_untracked_samples
                .saturating_sub(last.classifier_untracked_samples),
        );
        *last = reading;
    }
}
