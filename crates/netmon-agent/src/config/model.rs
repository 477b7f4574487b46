//! The configuration model: what each setting is, its type and its default.
//!
//! Every struct is `deny_unknown_fields` and `default`, so a partial file is
//! filled from the defaults below and a misspelt key can never be silently
//! ignored. The loader walks the serialized default to learn the key tree,
//! so adding a field here is all it takes to make it loadable from the file,
//! the environment and `--check-config`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use netmon_config::parsed::duration_text;
use serde::{Deserialize, Serialize};

/// The whole agent configuration (not `Eq`: histogram bounds are floats).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Which interfaces get the eBPF programs, and how they attach.
    pub capture: CaptureConfig,
    /// Sizes and timings of the kernel and user-space flow tables.
    pub flow: FlowConfig,
    /// Where flows are exported.
    pub export: ExportConfig,
    /// Naming flows' ends after pods, workloads, services and nodes.
    pub kubernetes: KubernetesConfig,
    /// The flow query API.
    pub api: ApiConfig,
    /// Optional analyses beyond counting: each has its own section.
    pub features: FeaturesConfig,
    /// Runtime sizing.
    pub performance: PerformanceConfig,
    /// Logging.
    pub log: LogConfig,
    /// Custom eBPF programs whose maps become Prometheus metrics, each a
    /// compiled CO-RE object and a YAML in cloudflare ebpf_exporter's format
    /// (docs/programs.md). An entry that fails is reported and skipped.
    pub programs: Vec<ProgramEntry>,
}

/// One custom program (`programs[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramEntry {
    /// Names the entry in logs, the status and `netmon_program_*` metrics.
    pub name: String,
    /// The compiled object (`<name>.bpf.o`, clang `-target bpf -g`).
    pub object: PathBuf,
    /// Its metrics YAML (ebpf_exporter's format).
    pub config: PathBuf,
    /// Interfaces its `classifier` programs attach to (TCX); unused by
    /// other program kinds.
    #[serde(default)]
    pub interfaces: Vec<String>,
}

/// `capture.*`: interface selection and attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureConfig {
    /// Interface names to attach to. Empty means every non-loopback interface
    /// of the agent's network namespace, including ones that appear later.
    pub interfaces: Vec<String>,
    /// Interface names never attached to. A trailing `*` makes the entry a
    /// prefix match (`docker*`), because container runtimes create
    /// interfaces with generated suffixes.
    pub exclude_interfaces: Vec<String>,
    /// How the programs are attached to the interfaces.
    pub attach_mode: AttachMode,
    /// Count one packet in `sampling_rate` for flows, chosen at random in
    /// the kernel and scaled by the rate (1: every packet, exact counts).
    /// Interface counters always count every packet.
    pub sampling_rate: u32,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            interfaces: Vec::new(),
            exclude_interfaces: Vec::new(),
            attach_mode: AttachMode::Auto,
            sampling_rate: 1,
        }
    }
}

impl CaptureConfig {
    /// Whether `name` matches an entry of `exclude_interfaces`.
    pub fn is_excluded(&self, name: &str) -> bool {
        self.exclude_interfaces
            .iter()
            .any(|pattern| interface_pattern_matches(pattern, name))
    }
}

/// Matches an `exclude_interfaces` entry: exact, or a prefix when it ends in `*`.
pub(crate) fn interface_pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

/// How the traffic-control programs are attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    /// TCX when the kernel supports it (6.6+), otherwise legacy `clsact`.
    Auto,
    /// TCX links only; fail on kernels without it.
    Tcx,
    /// Legacy `clsact` qdisc with `tc` filters only.
    Tc,
}

/// `flow.*`: flow table sizing and timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowConfig {
    /// Maximum number of flow records in the user-space flow table.
    pub max_flows: usize,
    /// Capacity of each kernel flow map, i.e. distinct flows per flush interval.
    pub kernel_map_entries: u32,
    /// A flow with no packets for this long is expired.
    #[serde(with = "duration_text")]
    pub flow_timeout: Duration,
    /// How often the kernel maps are drained into the flow table.
    #[serde(with = "duration_text")]
    pub flush_interval: Duration,
    /// How long closed flows stay visible in the API.
    #[serde(with = "duration_text")]
    pub closed_retention: Duration,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            max_flows: 100_000,
            kernel_map_entries: 65_536,
            flow_timeout: Duration::from_secs(60),
            flush_interval: Duration::from_secs(5),
            closed_retention: Duration::from_secs(60),
        }
    }
}

/// `export.*`: exporters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportConfig {
    /// The Prometheus scrape endpoint.
    pub prometheus: PrometheusConfig,
    /// Flow records to an IPFIX collector over UDP.
    pub ipfix: IpfixConfig,
    /// Flow records to netmon-server (and on to ClickHouse) over gRPC.
    pub grpc: GrpcExportConfig,
}

/// `export.ipfix.*`: flow records to an IPFIX (RFC 7011) collector over UDP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpfixConfig {
    /// Export at all.
    pub enabled: bool,
    /// The collector's `host:port` (`[v6]:port` for an IPv6 address);
    /// required when enabled. A host name is looked up at start and at every
    /// template refresh, so a Service's new address is followed.
    pub collector: String,
    /// Observation Domain ID of every message. Not 0, which RFC 7011
    /// reserves for messages that belong to no particular domain.
    pub observation_domain_id: u32,
    /// UDP has no session that tells a restarted collector the templates:
    /// they are sent again this often (RFC 7011 §8.4), and after a failed send.
    #[serde(with = "duration_text")]
    pub template_refresh: Duration,
    /// A flow still active is reported this long after its first unreported
    /// packet at the latest; an ended flow is reported within a second.
    #[serde(with = "duration_text")]
    pub active_timeout: Duration,
    /// Largest IPFIX message (UDP payload) in bytes; 1400 fits an Ethernet
    /// MTU with room for tunnel headers, so messages are never fragmented.
    pub max_message_size: u16,
}

impl Default for IpfixConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            collector: String::new(),
            observation_domain_id: 1,
            template_refresh: Duration::from_secs(60),
            active_timeout: Duration::from_secs(60),
            max_message_size: 1400,
        }
    }
}

/// `export.grpc.*`: flow records to netmon-server over gRPC, one record per
/// flow and interval with the counters of that interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcExportConfig {
    /// Export at all.
    pub enabled: bool,
    /// The server's URL: `http://host:port`, or `https://host:port` for TLS;
    /// required when enabled.
    pub address: String,
    /// TLS settings, used with an `https://` address.
    pub tls: GrpcTlsConfig,
    /// Most records in one request to the server.
    pub batch_size: usize,
    /// Length of an export interval: the counters each flow gained in it
    /// are sent as one record when it ends.
    #[serde(with = "duration_text")]
    pub flush_interval: Duration,
    /// Most records held while the server cannot take them; beyond it the
    /// oldest are dropped and counted in `netmon_export_dropped_records_total`.
    pub buffer_records: usize,
    /// Longest wait for a connection or for the server's answer to one
    /// request before it is sent again.
    #[serde(with = "duration_text")]
    pub timeout: Duration,
}

impl Default for GrpcExportConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            address: String::new(),
            tls: GrpcTlsConfig::default(),
            batch_size: 5_000,
            flush_interval: Duration::from_secs(10),
            buffer_records: 100_000,
            timeout: Duration::from_secs(10),
        }
    }
}

/// `export.grpc.tls.*`: how the agent checks the server, and proves who it
/// is (mutual TLS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcTlsConfig {
    /// PEM file of the CA certificates the server's certificate must chain
    /// to; without it, the system's trusted roots.
    pub ca_file: Option<PathBuf>,
    /// PEM file of the agent's client certificate (mutual TLS), with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub key_file: Option<PathBuf>,
    /// Name the server's certificate must carry; empty means the host of
    /// `address`.
    pub server_name: String,
}

/// `export.prometheus.*`: the Prometheus scrape endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusConfig {
    /// Serve `/metrics` at all.
    pub enabled: bool,
    /// Address to listen on.
    #[serde(deserialize_with = "parsed::ip_addr")]
    pub address: IpAddr,
    /// Port to listen on; 0 picks a free port, which only tests want.
    pub port: u16,
    /// Extra per-flow labels on `netmon_bytes_total` / `netmon_packets_total`.
    /// Off by default because every one of them has unbounded cardinality.
    pub labels: Vec<FlowLabel>,
    /// Also export the kube-netc gauges (`active_connections`,
    /// `bytes_sent_per_second`, `bytes_recv_per_second`) so existing
    /// kube-netc dashboards keep working.
    pub kube_netc_compat: bool,
    /// What names the initiator in the traffic and flow counters, as Hubble's
    /// `sourceContext`: `source_<context>` labels. `namespace`, `workload`
    /// and `pod` apply only while Kubernetes enrichment is on.
    pub source_context: Vec<ContextLabel>,
    /// The same for the responder: `destination_<context>` labels.
    pub destination_context: Vec<ContextLabel>,
    /// Prefix of the custom programs' metrics (`programs`); ebpf_exporter's
    /// own by default, so its dashboards work unchanged.
    pub program_prefix: String,
    /// A series with context or per-flow labels is removed this long after
    /// the last flow counting into it ended, so deleted pods' series go away.
    #[serde(with = "duration_text")]
    pub series_expiry: Duration,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 9090,
            labels: Vec::new(),
            kube_netc_compat: false,
            source_context: vec![ContextLabel::Namespace, ContextLabel::Workload],
            destination_context: vec![ContextLabel::Namespace, ContextLabel::Workload],
            program_prefix: "ebpf_exporter_".into(),
            series_expiry: Duration::from_secs(300),
        }
    }
}

/// A per-flow label that can be added to the flow counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowLabel {
    /// Source IP address.
    SrcIp,
    /// Destination IP address.
    DstIp,
    /// Source port.
    SrcPort,
    /// Destination port.
    DstPort,
}

impl FlowLabel {
    /// The Prometheus label name, identical to the configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowLabel::SrcIp => "src_ip",
            FlowLabel::DstIp => "dst_ip",
            FlowLabel::SrcPort => "src_port",
            FlowLabel::DstPort => "dst_port",
        }
    }
}

impl fmt::Display for FlowLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One label of a flow end's context in the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextLabel {
    /// The pod's namespace.
    Namespace,
    /// The pod's workload (Deployment, StatefulSet, DaemonSet, CronJob, ...).
    Workload,
    /// The pod's name: one series per pod.
    Pod,
    /// The address: one series per address.
    Ip,
}

impl ContextLabel {
    /// The configuration spelling, also the label name's suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            ContextLabel::Namespace => "namespace",
            ContextLabel::Workload => "workload",
            ContextLabel::Pod => "pod",
            ContextLabel::Ip => "ip",
        }
    }
}

impl fmt::Display for ContextLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `kubernetes.*`: the Kubernetes API as a source of names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// Whether to watch the Kubernetes API.
    pub mode: KubernetesMode,
    /// Kubeconfig file; without it `KUBECONFIG`, then the in-cluster service
    /// account are used.
    pub kubeconfig: Option<PathBuf>,
    /// This node's name; empty means `NODE_NAME` (the downward API), then the
    /// host name.
    pub node_name: String,
    /// Pod labels carried into flows (others are dropped when the pod is
    /// cached, to keep memory bounded).
    pub pod_labels: Vec<String>,
    /// Node label that names the node's zone.
    pub zone_label: String,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            mode: KubernetesMode::Auto,
            kubeconfig: None,
            node_name: String::new(),
            pod_labels: vec!["app.kubernetes.io/name".into(), "app".into()],
            zone_label: "topology.kubernetes.io/zone".into(),
        }
    }
}

/// Whether the agent enriches flows from the Kubernetes API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KubernetesMode {
    /// On when an API server is configured (kubeconfig, `KUBECONFIG`, or
    /// in-cluster service account); otherwise off with one log line.
    Auto,
    /// On; the agent refuses to start when no API server is configured.
    On,
    /// Off: flows carry addresses only.
    Off,
}

/// `api.*`: the flow query API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Listener address. Loopback by default because the API exposes every
    /// flow on the node and has no authentication of its own.
    #[serde(deserialize_with = "parsed::socket_addr")]
    pub address: SocketAddr,
    /// Unix socket serving the same API (mode 0600: root only), where
    /// `netmon-cli` looks by default; empty turns it off.
    pub socket: PathBuf,
}

/// Where `netmon-cli` finds the agent unless told otherwise.
pub const DEFAULT_API_SOCKET: &str = "/run/netmon/netmon.sock";

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            address: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9091),
            socket: PathBuf::from(DEFAULT_API_SOCKET),
        }
    }
}

impl ApiConfig {
    /// The unix socket's path, `None` when it is turned off.
    pub fn socket_path(&self) -> Option<&std::path::Path> {
        (!self.socket.as_os_str().is_empty()).then_some(self.socket.as_path())
    }
}

/// `features.*`: optional analyses beyond counting, one section each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeaturesConfig {
    /// Latency histograms.
    pub latency_tracking: LatencyTrackingConfig,
    /// Connections the node translates (DNAT to a Service's backend, SNAT)
    /// reported as one flow, with both addresses.
    pub nat: NatConfig,
    /// Port and host scan detection over new connections.
    pub port_scan: PortScanConfig,
    /// Packets the kernel dropped, with its reason (`skb:kfree_skb`).
    pub drops: DropsConfig,
    /// TCP retransmissions (`tcp:tcp_retransmit_skb`, `tcp_retransmit_synack`).
    pub retransmits: RetransmitsConfig,
    /// DNS queries and responses decoded from the packets (TCP and UDP port
    /// 53), and the names resolved to addresses.
    pub dns: DnsConfig,
    /// Application protocol of each flow, from its first payload bytes.
    pub protocol_detection: ProtocolDetectionConfig,
}

/// `features.dns.*`: DNS transactions seen on the monitored interfaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Copy DNS messages (up to 512 bytes each) from the data path.
    pub enabled: bool,
    /// A query with no response for this long is counted with
    /// `rcode="timeout"`.
    #[serde(with = "duration_text")]
    pub query_timeout: Duration,
    /// Most queries awaiting their response; more are counted in
    /// `netmon_dns_pending_dropped_total` and not matched.
    pub max_pending: usize,
    /// Most addresses remembered with the name that resolved to them
    /// (`dst_dns_name` on flows); the oldest is forgotten first (counted).
    pub max_names: usize,
    /// How long a resolved name stays on its address at least, whatever the
    /// record's TTL: clients keep using an address well past short TTLs.
    #[serde(with = "duration_text")]
    pub name_retention: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            query_timeout: Duration::from_secs(5),
            max_pending: 16_384,
            max_names: 65_536,
            name_retention: Duration::from_secs(600),
        }
    }
}

/// `features.protocol_detection.*`: classifying flows by their first bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolDetectionConfig {
    /// Copy the first payloads of each flow direction (up to 4 per flush
    /// interval, 512 bytes each, until classified).
    pub enabled: bool,
    /// Protocols to recognise; others stay unknown.
    pub protocols: Vec<DetectedProtocol>,
}

impl Default for ProtocolDetectionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            protocols: DetectedProtocol::ALL.to_vec(),
        }
    }
}

/// An application protocol `features.protocol_detection` can recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectedProtocol {
    /// HTTP/1.0 and 1.1: request method, response status.
    Http,
    /// HTTP/2 (the cleartext preface, or frames after it).
    Http2,
    /// gRPC: HTTP/2 with an `application/grpc` content type.
    Grpc,
    /// TLS: version, and SNI from the ClientHello.
    Tls,
    /// DNS on any port.
    Dns,
    /// Redis (RESP).
    Redis,
    /// MySQL and MariaDB (server greeting, version).
    Mysql,
    /// PostgreSQL (startup, SSL request).
    Postgresql,
}

impl DetectedProtocol {
    pub const ALL: [DetectedProtocol; 8] = [
        DetectedProtocol::Http,
        DetectedProtocol::Http2,
        DetectedProtocol::Grpc,
        DetectedProtocol::Tls,
        DetectedProtocol::Dns,
        DetectedProtocol::Redis,
        DetectedProtocol::Mysql,
        DetectedProtocol::Postgresql,
    ];

    /// The configuration spelling, also the API's `app_protocol` value.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectedProtocol::Http => "http",
            DetectedProtocol::Http2 => "http2",
            DetectedProtocol::Grpc => "grpc",
            DetectedProtocol::Tls => "tls",
            DetectedProtocol::Dns => "dns",
            DetectedProtocol::Redis => "redis",
            DetectedProtocol::Mysql => "mysql",
            DetectedProtocol::Postgresql => "postgresql",
        }
    }
}

/// `features.latency_tracking.*`: latency histograms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyTrackingConfig {
    /// Upper bounds in seconds of the buckets of
    /// `netmon_tcp_connect_latency_seconds` and `netmon_tcp_rtt_seconds`,
    /// strictly increasing.
    pub histogram_buckets: Vec<f64>,
    /// Per-connection smoothed RTT from the tcp:tcp_probe tracepoint (flow
    /// fields `rtt_*`, `netmon_tcp_rtt_seconds`). The program runs for every
    /// segment a TCP socket on the node receives.
    pub rtt: bool,
}

impl Default for LatencyTrackingConfig {
    fn default() -> Self {
        Self {
            histogram_buckets: crate::export::prometheus::DEFAULT_CONNECT_LATENCY_BUCKETS.to_vec(),
            rtt: true,
        }
    }
}

/// `features.nat.*`: joining the halves of translated connections, from
/// conntrack (netlink, in the agent's network namespace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatConfig {
    /// Read conntrack's translations at all.
    pub enabled: bool,
    /// Most translated connections held; more are not joined and are
    /// counted in `netmon_nat_translations_dropped_total`.
    pub max_entries: usize,
}

impl Default for NatConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: 65_536,
        }
    }
}

/// `features.port_scan.*`: one source opening connections to many ports of
/// a host, or to many hosts, within a sliding window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortScanConfig {
    /// Look for scans at all.
    pub enabled: bool,
    /// More distinct destination ports than this on one host within
    /// `window` is a port scan.
    pub distinct_ports: u32,
    /// More distinct destination hosts than this within `window` is a host
    /// scan.
    pub distinct_hosts: u32,
    /// The sliding window; a source quiet for this long ends its episode.
    #[serde(with = "duration_text")]
    pub window: Duration,
    /// Most sources tracked at once; beyond it the least recently active
    /// one is forgotten (counted).
    pub max_sources: usize,
}

impl Default for PortScanConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            distinct_ports: 100,
            // Above kubelet's default max-pods (110): its probes of every
            // pod of the node are ordinary traffic, not a host scan.
            distinct_hosts: 128,
            window: Duration::from_secs(10),
            max_sources: 10_000,
        }
    }
}

/// `features.drops.*`: kernel drops by reason, per flow and in total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DropsConfig {
    /// Attach the drop tracepoint. Off: no drop counts anywhere, and the
    /// tracepoint costs nothing.
    pub enabled: bool,
}

impl Default for DropsConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `features.retransmits.*`: TCP retransmissions per flow and in total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetransmitsConfig {
    /// Attach the retransmission tracepoints.
    pub enabled: bool,
}

impl Default for RetransmitsConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `performance.*`: runtime sizing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerformanceConfig {
    /// Tokio worker threads.
    pub workers: usize,
    /// Capacity of the bounded channels between pipeline stages.
    pub buffer_size: usize,
}

impl Default for PerformanceConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            buffer_size: 4096,
        }
    }
}

/// `log.*`: logging.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Most verbose level that is emitted.
    pub level: LogLevel,
    /// Line format.
    pub format: LogFormat,
}

/// Log verbosity, least to most verbose.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The configuration spelling, which is also what `tracing` filters accept.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<LogLevel> for tracing::level_filters::LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => Self::ERROR,
            LogLevel::Warn => Self::WARN,
            LogLevel::Info => Self::INFO,
            LogLevel::Debug => Self::DEBUG,
            LogLevel::Trace => Self::TRACE,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Config {
    /// Where the Prometheus endpoint listens.
    pub fn metrics_addr(&self) -> SocketAddr {
        SocketAddr::new(self.export.prometheus.address, self.export.prometheus.port)
    }

    /// The configuration as YAML that [`Config::from_yaml_str`] reads back
    /// unchanged, as printed by `--check-config`.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self)
            .expect("the model has only string keys and plain values, which always serialize")
    }
}

/// The agent's address settings, with examples of its own ports.
mod parsed {
    use std::net::SocketAddr;

    use serde::de::Deserializer;

    pub use netmon_config::parsed::ip_addr;

    pub fn socket_addr<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
        netmon_config::parsed::from_text(
            deserializer,
            "an address and port such as 127.0.0.1:9091 or [::1]:9091",
            |text| text.parse().ok(),
        )
    }
}
