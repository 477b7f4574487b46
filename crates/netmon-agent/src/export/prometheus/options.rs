//! What the metrics exporter can be asked to do. Plain data: the config
//! module fills it in, so this module does not depend on the config format.

use std::time::Duration;

use crate::enrich::{EndpointIdentity, FlowIdentity};
use crate::flow::{Direction, FlowRecord};

/// What the caller knows about a flow beyond its record: its direction
/// relative to this node and the names of its ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowContext {
    pub direction: Direction,
    pub identity: FlowIdentity,
}

impl From<Direction> for FlowContext {
    fn from(direction: Direction) -> Self {
        FlowContext {
            direction,
            identity: FlowIdentity::default(),
        }
    }
}

/// One label naming a flow end, Hubble's "context": `source_<name>` for
/// the initiator and `destination_<name>` for the responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextLabel {
    Namespace,
    Workload,
    Pod,
    Ip,
}

impl ContextLabel {
    pub const ALL: [ContextLabel; 4] = [
        ContextLabel::Namespace,
        ContextLabel::Workload,
        ContextLabel::Pod,
        ContextLabel::Ip,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ContextLabel::Namespace => "namespace",
            ContextLabel::Workload => "workload",
            ContextLabel::Pod => "pod",
            ContextLabel::Ip => "ip",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|label| label.name() == name)
    }

    /// Whether the label needs Kubernetes names (only `ip` does not).
    pub fn needs_kubernetes(self) -> bool {
        self != ContextLabel::Ip
    }

    /// The value for one end; empty when that end has no such name.
    pub(crate) fn value(self, end: &EndpointIdentity, ip: std::net::IpAddr) -> String {
        let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
        match self {
            ContextLabel::Namespace => text(end.namespace.as_deref()),
            ContextLabel::Workload => text(end.workload.as_ref().map(|w| &*w.name)),
            ContextLabel::Pod => text(end.pod.as_deref()),
            ContextLabel::Ip => ip.to_canonical().to_string(),
        }
    }
}

/// Extra per-flow labels on `netmon_bytes_total`/`netmon_packets_total`.
/// `src` is the initiator and `dst` the responder, as in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowLabel {
    SrcIp,
    DstIp,
    SrcPort,
    DstPort,
}

impl FlowLabel {
    pub const ALL: [FlowLabel; 4] = [
        FlowLabel::SrcIp,
        FlowLabel::DstIp,
        FlowLabel::SrcPort,
        FlowLabel::DstPort,
    ];

    /// The label name, also the accepted spelling in configuration.
    pub fn name(self) -> &'static str {
        match self {
            FlowLabel::SrcIp => "src_ip",
            FlowLabel::DstIp => "dst_ip",
            FlowLabel::SrcPort => "src_port",
            FlowLabel::DstPort => "dst_port",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|label| label.name() == name)
    }

    /// This label's value for `record`; IPv4-mapped addresses are unmapped
    /// so that one host never shows up under two spellings.
    pub(crate) fn value(self, record: &FlowRecord) -> String {
        let key = &record.key;
        match self {
            FlowLabel::SrcIp => key.initiator.ip.to_canonical().to_string(),
            FlowLabel::DstIp => key.responder.ip.to_canonical().to_string(),
            FlowLabel::SrcPort => key.initiator.port.to_string(),
            FlowLabel::DstPort => key.responder.port.to_string(),
        }
    }
}

/// Connect latency buckets in seconds: 100µs (same host) to 5s (SYN
/// retransmits).
pub const DEFAULT_CONNECT_LATENCY_BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How long a per-flow series stays after its last flow ended: long enough
/// for several scrapes to see the final value, matching Prometheus' 5
/// minute staleness window.
pub const DEFAULT_FLOW_SERIES_RETENTION: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsOptions {
    /// Per-flow labels; empty keeps every metric's cardinality bounded by
    /// protocol × direction.
    pub flow_labels: Vec<FlowLabel>,
    /// Also export kube-netc's metric names (`active_connections`,
    /// `bytes_sent_per_second`, `bytes_recv_per_second`).
    pub kube_netc_compat: bool,
    /// Upper bounds of `netmon_tcp_connect_latency_seconds`, strictly
    /// increasing, in seconds.
    pub connect_latency_buckets: Vec<f64>,
    /// See [`DEFAULT_FLOW_SERIES_RETENTION`]; used with `flow_labels` or
    /// a context.
    pub flow_series_retention: Duration,
    /// Labels naming the initiator (`source_*`) and the responder
    /// (`destination_*`) on the traffic and flow counters.
    pub source_context: Vec<ContextLabel>,
    pub destination_context: Vec<ContextLabel>,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions {
            flow_labels: Vec::new(),
            kube_netc_compat: false,
            connect_latency_buckets: DEFAULT_CONNECT_LATENCY_BUCKETS.to_vec(),
            flow_series_retention: DEFAULT_FLOW_SERIES_RETENTION,
            source_context: Vec::new(),
            destination_context: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_label_names_round_trip() {
        for label in FlowLabel::ALL {
            assert_eq!(FlowLabel::from_name(label.name()), Some(label));
        }
        assert_eq!(FlowLabel::from_name("pod"), None);
    }

    #[test]
    fn defaults_have_no_flow_labels_and_the_documented_buckets() {
        let options = MetricsOptions::default();
        assert!(options.flow_labels.is_empty());
        assert!(!options.kube_netc_compat);
        assert_eq!(options.connect_latency_buckets.len(), 15);
        assert_eq!(options.connect_latency_buckets[0], 0.0001);
        assert_eq!(options.connect_latency_buckets[14], 5.0);
    }
}
