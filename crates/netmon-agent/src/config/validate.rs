//! Semantic checks: values of the right type that the agent still cannot run
//! with, reported all at once with the path of the setting to change.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use super::model::{interface_pattern_matches, CaptureConfig, Config};
use netmon_config::{Check, ConfigProblem, Model};

/// Linux interface names are at most IFNAMSIZ - 1 bytes.
const MAX_INTERFACE_NAME: usize = 15;
/// Kernel maps smaller than this overflow within one flush on a busy node.
const MIN_KERNEL_MAP_ENTRIES: u32 = 1024;
/// Draining the kernel maps more often than this costs more CPU than it saves latency.
const MIN_FLUSH_INTERVAL: Duration = Duration::from_millis(100);
const MAX_WORKERS: usize = 256;
/// Beyond one packet in a million, a flow is almost never seen at all.
const MAX_SAMPLING_RATE: u32 = 1_000_000;
/// Smaller channels turn every burst into back-pressure on the kernel reader.
const MIN_BUFFER_SIZE: usize = 16;
/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

impl Config {
    /// Every semantic problem of this configuration, in model order; empty
    /// when the agent can run with it.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        netmon_config::problems(checks(self))
    }
}

impl Model for Config {
    fn checks(&self) -> Vec<Check> {
        checks(self)
    }
}

pub(crate) fn checks(config: &Config) -> Vec<Check> {
    let mut out = Vec::new();
    check_capture(&config.capture, &mut out);
    check_flow(config, &mut out);
    check_export(config, &mut out);
    check_ipfix(config, &mut out);
    check_grpc_export(config, &mut out);
    check_api(config, &mut out);
    check_kubernetes(config, &mut out);
    check_features(config, &mut out);
    check_nat(config, &mut out);
    check_port_scan(config, &mut out);
    check_dns(config, &mut out);
    check_protocol_detection(config, &mut out);
    check_performance(config, &mut out);
    check_programs(config, &mut out);
    out
}

fn check_programs(config: &Config, out: &mut Vec<Check>) {
    let prefix = &config.export.prometheus.program_prefix;
    if !prefix.is_empty() && !crate::programs::config::valid_metric_name(prefix) {
        out.push(Check::new(
            "export.prometheus.program_prefix",
            format!("{prefix:?} cannot start a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"),
        ));
    } else if prefix.starts_with("netmon_") {
        out.push(Check::new(
            "export.prometheus.program_prefix",
            "netmon_ is netmon's own metrics' prefix; a custom metric could take one of their names",
        ));
    }
    let mut names = HashSet::new();
    for (index, entry) in config.programs.iter().enumerate() {
        let at = |key: &str| format!("programs[{index}].{key}");
        let valid_name = !entry.name.is_empty()
            && entry
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid_name {
            out.push(Check::new(
                at("name"),
                format!(
                    "{:?}: a name of letters, digits, '_', '-' and '.' is required",
                    entry.name
                ),
            ));
        } else if !names.insert(&entry.name) {
            out.push(Check::new(
                at("name"),
                format!("{:?} names more than one entry", entry.name),
            ));
        }
        for (key, path) in [("object", &entry.object), ("config", &entry.config)] {
            if path.as_os_str().is_empty() {
                out.push(Check::new(at(key), "a path is required"));
            }
        }
        for (i, interface) in entry.interfaces.iter().enumerate() {
            if let Some(message) = interface_name_problem(interface) {
                out.push(Check::new(
                    format!("programs[{index}].interfaces[{i}]"),
                    message,
                ));
            }
        }
    }
}

fn check_capture(capture: &CaptureConfig, out: &mut Vec<Check>) {
    let mut seen = HashSet::new();
    for (index, name) in capture.interfaces.iter().enumerate() {
        let path = format!("capture.interfaces[{index}]");
        if let Some(message) = interface_name_problem(name) {
            out.push(Check::new(path, message));
        } else if !seen.insert(name) {
            out.push(Check::new(
                path,
                format!("{name:?} is listed more than once"),
            ));
        } else if let Some(pattern) = capture
            .exclude_interfaces
            .iter()
            .find(|pattern| interface_pattern_matches(pattern, name))
        {
            // Listing and excluding the same interface is contradictory; the
            // exclusion would win and the interface would silently go unwatched.
            out.push(
                Check::new(
                    path,
                    format!(
                        "{name:?} is also excluded by capture.exclude_interfaces entry {pattern:?}"
                    ),
                )
                .involving(&["capture.exclude_interfaces"]),
            );
        }
    }

    for (index, pattern) in capture.exclude_interfaces.iter().enumerate() {
        let path = format!("capture.exclude_interfaces[{index}]");
        let prefix = pattern.strip_suffix('*');
        let message = if pattern == "*" {
            Some("\"*\" would exclude every interface; list the interfaces to skip".to_owned())
        } else if prefix.unwrap_or(pattern).contains('*') {
            Some(format!(
                "{pattern:?}: '*' is only allowed at the end, as a prefix match"
            ))
        } else {
            interface_name_problem(prefix.unwrap_or(pattern))
        };
        if let Some(message) = message {
            out.push(Check::new(path, message));
        }
    }

    if !(1..=MAX_SAMPLING_RATE).contains(&capture.sampling_rate) {
        out.push(Check::new(
            "capture.sampling_rate",
            format!(
                "must be from 1 (every packet) to {MAX_SAMPLING_RATE}, got {}",
                capture.sampling_rate
            ),
        ));
    }
}

/// Why the kernel would refuse `name` as an interface name, if it would.
fn interface_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("interface name is empty".to_owned())
    } else if name.len() > MAX_INTERFACE_NAME {
        Some(format!(
            "{name:?} is longer than {MAX_INTERFACE_NAME} bytes, the kernel's limit for interface names"
        ))
    } else if name == "." || name == ".." {
        Some(format!("{name:?} is not a valid interface name"))
    } else if name.contains(['/', ':']) || name.chars().any(char::is_whitespace) {
        Some(format!(
            "{name:?} is not a valid interface name: it contains '/', ':' or whitespace"
        ))
    } else {
        None
    }
}

fn check_flow(config: &Config, out: &mut Vec<Check>) {
    let flow = &config.flow;
    let show = |duration: Duration| humantime::format_duration(duration).to_string();
    if flow.max_flows == 0 {
        out.push(Check::new("flow.max_flows", "must be at least 1"));
    }
    if flow.kernel_map_entries < MIN_KERNEL_MAP_ENTRIES {
        out.push(Check::new(
            "flow.kernel_map_entries",
            format!(
                "must be at least {MIN_KERNEL_MAP_ENTRIES}, got {}",
                flow.kernel_map_entries
            ),
        ));
    }
    if flow.flow_timeout.is_zero() {
        out.push(Check::new("flow.flow_timeout", "must be greater than 0"));
    }
    if flow.flush_interval < MIN_FLUSH_INTERVAL {
        out.push(Check::new(
            "flow.flush_interval",
            format!(
                "must be at least {}, got {}",
                show(MIN_FLUSH_INTERVAL),
                show(flow.flush_interval)
            ),
        ));
    } else if !flow.flow_timeout.is_zero() && flow.flush_interval >= flow.flow_timeout {
        // Flows are only seen at flushes, so a flush interval at least as long
        // as the timeout would expire flows that are still active.
        out.push(
            Check::new(
                "flow.flush_interval",
                format!(
                    "must be less than flow.flow_timeout ({} >= {})",
                    show(flow.flush_interval),
                    show(flow.flow_timeout)
                ),
            )
            .involving(&["flow.flow_timeout"]),
        );
    }
}

fn check_export(config: &Config, out: &mut Vec<Check>) {
    let prometheus = &config.export.prometheus;
    let mut seen = HashSet::new();
    for (index, label) in prometheus.labels.iter().enumerate() {
        // A duplicate label name makes the Prometheus registry reject the metric.
        if !seen.insert(label) {
            out.push(Check::new(
                format!("export.prometheus.labels[{index}]"),
                format!("{label} is listed more than once"),
            ));
        }
    }

    for (name, context) in [
        ("source_context", &prometheus.source_context),
        ("destination_context", &prometheus.destination_context),
    ] {
        for (index, label) in context.iter().enumerate() {
            if context[..index].contains(label) {
                out.push(Check::new(
                    format!("export.prometheus.{name}[{index}]"),
                    format!("{label} is listed more than once"),
                ));
            }
        }
    }
    if prometheus.series_expiry.is_zero() {
        out.push(Check::new(
            "export.prometheus.series_expiry",
            "must be greater than 0 (series would vanish between scrapes)",
        ));
    }

    let metrics = config.metrics_addr();
    let api = config.api.address;
    if prometheus.enabled
        && metrics.port() != 0
        && metrics.port() == api.port()
        && listeners_overlap(metrics.ip(), api.ip())
    {
        out.push(
            Check::new(
                "api.address",
                format!(
                    "{api} conflicts with the Prometheus listener {metrics} \
                     (export.prometheus.address and port): both would bind port {}",
                    api.port()
                ),
            )
            .involving(&[
                "export.prometheus.enabled",
                "export.prometheus.address",
                "export.prometheus.port",
            ]),
        );
    }
}

/// RFC 7011 §10.3.3: without a known path MTU, 512 bytes is what every
/// path carries; smaller would not hold the templates.
const MIN_IPFIX_MESSAGE: u16 = 512;
/// The largest UDP payload over IPv4.
const MAX_IPFIX_MESSAGE: u16 = 65_507;
/// Below a second, the exporter (which looks once a second) could not keep it.
const MIN_IPFIX_TIMER: Duration = Duration::from_secs(1);

fn check_ipfix(config: &Config, out: &mut Vec<Check>) {
    let ipfix = &config.export.ipfix;
    if ipfix.collector.trim().is_empty() {
        if ipfix.enabled {
            out.push(
                Check::new(
                    "export.ipfix.collector",
                    "is required when export.ipfix.enabled is true (host:port of the collector)",
                )
                .involving(&["export.ipfix.enabled"]),
            );
        }
    } else if let Err(error) = crate::export::ipfix::CollectorAddress::parse(&ipfix.collector) {
        out.push(Check::new("export.ipfix.collector", error.to_string()));
    }
    let show = |duration: Duration| humantime::format_duration(duration).to_string();
    for (key, value) in [
        ("template_refresh", ipfix.template_refresh),
        ("active_timeout", ipfix.active_timeout),
    ] {
        if value < MIN_IPFIX_TIMER {
            out.push(Check::new(
                format!("export.ipfix.{key}"),
                format!(
                    "must be at least {}, got {}",
                    show(MIN_IPFIX_TIMER),
                    show(value)
                ),
            ));
        }
    }
    if !(MIN_IPFIX_MESSAGE..=MAX_IPFIX_MESSAGE).contains(&ipfix.max_message_size) {
        out.push(Check::new(
            "export.ipfix.max_message_size",
            format!(
                "must be from {MIN_IPFIX_MESSAGE} to {MAX_IPFIX_MESSAGE} bytes, got {}",
                ipfix.max_message_size
            ),
        ));
    }
}

/// Above this a batch nears netmon-server's default 16 MiB request limit
/// (a record is up to ~300 bytes with long pod names).
const MAX_GRPC_BATCH: usize = 50_000;
/// A bound beyond this is a typo: 10 million records are several GiB.
const MAX_GRPC_BUFFER: usize = 10_000_000;

fn check_grpc_export(config: &Config, out: &mut Vec<Check>) {
    let grpc = &config.export.grpc;
    let show = |duration: Duration| humantime::format_duration(duration).to_string();
    let address = if grpc.address.trim().is_empty() {
        if grpc.enabled {
            out.push(
                Check::new(
                    "export.grpc.address",
                    "is required when export.grpc.enabled is true (http://host:port or https://host:port)",
                )
                .involving(&["export.grpc.enabled"]),
            );
        }
        None
    } else {
        match crate::export::grpc::ServerAddress::parse(&grpc.address) {
            Ok(address) => Some(address),
            Err(error) => {
                out.push(Check::new("export.grpc.address", error.to_string()));
                None
            }
        }
    };
    let tls = &grpc.tls;
    let files = [
        ("ca_file", &tls.ca_file),
        ("cert_file", &tls.cert_file),
        ("key_file", &tls.key_file),
    ];
    for (key, path) in files {
        let Some(path) = path else { continue };
        let setting = format!("export.grpc.tls.{key}");
        if address.as_ref().is_some_and(|a| !a.uses_tls()) {
            out.push(
                Check::new(setting, "is only used with an https:// export.grpc.address")
                    .involving(&["export.grpc.address"]),
            );
        } else if let Err(error) = std::fs::metadata(path) {
            out.push(Check::new(setting, format!("{}: {error}", path.display())));
        }
    }
    match (&tls.cert_file, &tls.key_file) {
        (Some(_), None) => out.push(
            Check::new(
                "export.grpc.tls.key_file",
                "is required with export.grpc.tls.cert_file (mutual TLS needs both)",
            )
            .involving(&["export.grpc.tls.cert_file"]),
        ),
        (None, Some(_)) => out.push(
            Check::new(
                "export.grpc.tls.cert_file",
                "is required with export.grpc.tls.key_file (mutual TLS needs both)",
            )
            .involving(&["export.grpc.tls.key_file"]),
        ),
        _ => {}
    }
    let name = &tls.server_name;
    if !name.is_empty() && name.parse::<IpAddr>().is_err() && !is_host_name(name) {
        out.push(Check::new(
            "export.grpc.tls.server_name",
            format!("{name:?} is not a host name or IP address"),
        ));
    }
    if !(1..=MAX_GRPC_BUFFER).contains(&grpc.buffer_records) {
        out.push(Check::new(
            "export.grpc.buffer_records",
            format!(
                "must be from 1 to {MAX_GRPC_BUFFER}, got {}",
                grpc.buffer_records
            ),
        ));
    }
    if !(1..=MAX_GRPC_BATCH).contains(&grpc.batch_size) {
        out.push(Check::new(
            "export.grpc.batch_size",
            format!(
                "must be from 1 to {MAX_GRPC_BATCH}, got {}",
                grpc.batch_size
            ),
        ));
    } else if grpc.batch_size > grpc.buffer_records && grpc.buffer_records >= 1 {
        out.push(
            Check::new(
                "export.grpc.batch_size",
                format!(
                    "must not exceed export.grpc.buffer_records ({} > {})",
                    grpc.batch_size, grpc.buffer_records
                ),
            )
            .involving(&["export.grpc.buffer_records"]),
        );
    }
    // Records carry whole seconds (`interval_seconds`), so the intervals must too.
    let interval = grpc.flush_interval;
    if interval < Duration::from_secs(1) || interval.subsec_nanos() != 0 {
        out.push(Check::new(
            "export.grpc.flush_interval",
            format!(
                "must be a whole number of seconds, at least 1s, got {}",
                show(interval)
            ),
        ));
    }
    if grpc.timeout.is_zero() {
        out.push(Check::new("export.grpc.timeout", "must be greater than 0"));
    }
}

/// Letters, digits, '-' and '.' in labels of at most 63: what a TLS
/// certificate's DNS name can match.
fn is_host_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn check_api(config: &Config, out: &mut Vec<Check>) {
    let Some(socket) = config.api.socket_path() else {
        return;
    };
    let shown = socket.display();
    if !socket.is_absolute() {
        out.push(Check::new(
            "api.socket",
            format!("{shown} is not an absolute path (or \"\" to turn the socket off)"),
        ));
    } else if socket.as_os_str().len() > MAX_SOCKET_PATH {
        out.push(Check::new(
            "api.socket",
            format!(
                "{shown} is {} bytes long; a unix socket path has at most {MAX_SOCKET_PATH}",
                socket.as_os_str().len()
            ),
        ));
    } else if socket.file_name().is_none() || socket.as_os_str().as_encoded_bytes().ends_with(b"/")
    {
        out.push(Check::new(
            "api.socket",
            format!("{shown} names a directory, not a socket file"),
        ));
    }
}

fn check_kubernetes(config: &Config, out: &mut Vec<Check>) {
    let kubernetes = &config.kubernetes;
    if let Some(path) = &kubernetes.kubeconfig {
        if let Err(error) = std::fs::metadata(path) {
            out.push(Check::new(
                "kubernetes.kubeconfig",
                format!("{}: {error}", path.display()),
            ));
        }
    }
    if !kubernetes.node_name.is_empty() && !is_dns_subdomain(&kubernetes.node_name) {
        out.push(Check::new(
            "kubernetes.node_name",
            format!(
                "{:?} is not a Kubernetes node name (lower-case letters, digits, '-' and '.', at most 253)",
                kubernetes.node_name
            ),
        ));
    }
    for (index, label) in kubernetes.pod_labels.iter().enumerate() {
        let path = format!("kubernetes.pod_labels[{index}]");
        if !is_label_key(label) {
            out.push(Check::new(
                path,
                format!("{label:?} is not a Kubernetes label key ([prefix/]name)"),
            ));
        } else if kubernetes.pod_labels[..index].contains(label) {
            out.push(Check::new(
                path,
                format!("{label:?} is listed more than once"),
            ));
        }
    }
    if !is_label_key(&kubernetes.zone_label) {
        out.push(Check::new(
            "kubernetes.zone_label",
            format!(
                "{:?} is not a Kubernetes label key ([prefix/]name)",
                kubernetes.zone_label
            ),
        ));
    }
}

fn check_features(config: &Config, out: &mut Vec<Check>) {
    let buckets = &config.features.latency_tracking.histogram_buckets;
    let path = "features.latency_tracking.histogram_buckets";
    if buckets.is_empty() {
        out.push(Check::new(path, "needs at least one bucket bound"));
    }
    for (index, bound) in buckets.iter().enumerate() {
        if !bound.is_finite() || *bound <= 0.0 {
            out.push(Check::new(
                format!("{path}[{index}]"),
                format!("{bound} is not a positive number of seconds"),
            ));
        } else if index > 0 && buckets[index - 1] >= *bound {
            out.push(Check::new(
                format!("{path}[{index}]"),
                format!(
                    "bounds must increase, but {} is followed by {bound}",
                    buckets[index - 1]
                ),
            ));
        }
    }
}

/// RFC 1123 subdomain, as Kubernetes requires of node names.
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// A label key: optional DNS-subdomain prefix and `/`, then a name of at
/// most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric.
fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    name_ok && prefix.is_none_or(is_dns_subdomain)
}

/// Whether two listeners on the same port would collide: same address, a
/// wildcard of the same family, or `::`, which Linux binds dual-stack.
fn listeners_overlap(a: IpAddr, b: IpAddr) -> bool {
    let wildcard_covers =
        |wild: IpAddr, other: IpAddr| wild.is_unspecified() && (wild.is_ipv6() || other.is_ipv4());
    a == b || wildcard_covers(a, b) || wildcard_covers(b, a)
}

/// A bound that would hold more translations than a node could ever have
/// is a typo, and could only end in running out of memory (a translation
/// costs about 500 bytes).
const MAX_NAT_ENTRIES: usize = 16 << 20;

fn check_nat(config: &Config, out: &mut Vec<Check>) {
    let nat = &config.features.nat;
    if !(1..=MAX_NAT_ENTRIES).contains(&nat.max_entries) {
        out.push(Check::new(
            "features.nat.max_entries",
            format!(
                "must be from 1 to {MAX_NAT_ENTRIES}, got {}",
                nat.max_entries
            ),
        ));
    }
}

/// No host has more ports than this per protocol. It also bounds a tracked
/// source's memory, which holds up to `distinct_ports + distinct_hosts` probes.
const MAX_SCAN_THRESHOLD: u32 = 65_535;

fn check_port_scan(config: &Config, out: &mut Vec<Check>) {
    let port_scan = &config.features.port_scan;
    for (key, value) in [
        ("distinct_ports", port_scan.distinct_ports),
        ("distinct_hosts", port_scan.distinct_hosts),
    ] {
        if !(1..=MAX_SCAN_THRESHOLD).contains(&value) {
            out.push(Check::new(
                format!("features.port_scan.{key}"),
                format!("must be from 1 to {MAX_SCAN_THRESHOLD}, got {value}"),
            ));
        }
    }
    if port_scan.window.is_zero() {
        out.push(Check::new(
            "features.port_scan.window",
            "must be greater than 0",
        ));
    }
    if port_scan.max_sources == 0 {
        out.push(Check::new(
            "features.port_scan.max_sources",
            "must be at least 1",
        ));
    }
}

fn check_dns(config: &Config, out: &mut Vec<Check>) {
    let dns = &config.features.dns;
    for (key, value) in [
        ("query_timeout", dns.query_timeout),
        ("name_retention", dns.name_retention),
    ] {
        if value.is_zero() {
            out.push(Check::new(
                format!("features.dns.{key}"),
                "must be greater than 0",
            ));
        }
    }
    for (key, value) in [
        ("max_pending", dns.max_pending),
        ("max_names", dns.max_names),
    ] {
        if value == 0 {
            out.push(Check::new(
                format!("features.dns.{key}"),
                "must be at least 1",
            ));
        }
    }
}

fn check_protocol_detection(config: &Config, out: &mut Vec<Check>) {
    let detection = &config.features.protocol_detection;
    if detection.enabled && detection.protocols.is_empty() {
        out.push(Check::new(
            "features.protocol_detection.protocols",
            "must name at least one protocol (or set features.protocol_detection.enabled: false)",
        ));
    }
}

fn check_performance(config: &Config, out: &mut Vec<Check>) {
    let performance = &config.performance;
    if !(1..=MAX_WORKERS).contains(&performance.workers) {
        out.push(Check::new(
            "performance.workers",
            format!(
                "must be from 1 to {MAX_WORKERS}, got {}",
                performance.workers
            ),
        ));
    }
    if performance.buffer_size < MIN_BUFFER_SIZE {
        out.push(Check::new(
            "performance.buffer_size",
            format!(
                "must be at least {MIN_BUFFER_SIZE}, got {}",
                performance.buffer_size
            ),
        ));
    }
}
