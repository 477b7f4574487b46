//! The `netmon` binary under test, run in the node namespace, and a small
//! client for its HTTP API and metrics.
//!
//! The agent listens on loopback inside the node namespace, so the client
//! makes its connections from a thread in that namespace; that traffic never
//! touches the veths the agent watches.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::in_netns::in_netns;
use super::netns::Netns;
use super::{FlowCounts, TempDir};

/// Ports inside the node namespace, which belongs to one test, so fixed
/// ports cannot collide with anything.
const API_ADDR: &str = "127.0.0.1:8080";
const METRICS_ADDR: &str = "127.0.0.1:9100";

/// How long the agent may take to load and attach its programs.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the agent may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings written to the agent's config file.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub flush_interval: Duration,
    pub flow_timeout: Duration,
    pub closed_retention: Duration,
    /// `--interface` flags; empty means every non-loopback interface.
    pub interfaces: Vec<String>,
    /// `capture.attach_mode` (`auto` when `None`).
    pub attach_mode: Option<&'static str>,
    /// `capture.sampling_rate` (1 when `None`).
    pub sampling_rate: Option<u32>,
    /// Kubernetes enrichment through this kubeconfig and node name; without
    /// it `kubernetes.mode` is `off` (or `auto` with `kubernetes_auto`).
    /// The agent never sees the test machine's `KUBECONFIG`,
    /// `~/.kube/config` or in-cluster variables either way.
    pub kubernetes: Option<KubernetesSettings>,
    /// Leave `kubernetes.mode` at its default, `auto`.
    pub kubernetes_auto: bool,
    /// Extra `export.prometheus` keys, as YAML lines indented by 4.
    pub prometheus_yaml: String,
    /// `features` keys, as YAML lines indented by 2 (`nat:\n    enabled: false\n`).
    pub features_yaml: String,
    /// Whole top-level sections appended to the file (`programs:\n  - ...`).
    pub top_level_yaml: String,
}

#[derive(Debug, Clone)]
pub struct KubernetesSettings {
    pub kubeconfig: std::path::PathBuf,
    pub node_name: String,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            flush_interval: Duration::from_secs(1),
            flow_timeout: Duration::from_secs(10),
            closed_retention: Duration::from_secs(120),
            interfaces: Vec::new(),
            attach_mode: None,
            sampling_rate: None,
            kubernetes: None,
            kubernetes_auto: false,
            prometheus_yaml: String::new(),
            features_yaml: String::new(),
            top_level_yaml: String::new(),
        }
    }
}

impl AgentConfig {
    pub fn with_flow_timeout(mut self, timeout: Duration) -> Self {
        self.flow_timeout = timeout;
        self
    }

    fn yaml(&self) -> String {
        let mut yaml = format!(
            "flow:\n  flush_interval: {}\n  flow_timeout: {}\n  closed_retention: {}\n",
            humane(self.flush_interval),
            humane(self.flow_timeout),
            humane(self.closed_retention)
        );
        if self.attach_mode.is_some() || self.sampling_rate.is_some() {
            yaml.push_str("capture:\n");
        }
        if let Some(mode) = self.attach_mode {
            yaml.push_str(&format!("  attach_mode: {mode}\n"));
        }
        if let Some(rate) = self.sampling_rate {
            yaml.push_str(&format!("  sampling_rate: {rate}\n"));
        }
        match &self.kubernetes {
            Some(k8s) => yaml.push_str(&format!(
                "kubernetes:\n  mode: on\n  kubeconfig: {}\n  node_name: {}\n",
                k8s.kubeconfig.display(),
                k8s.node_name
            )),
            None if self.kubernetes_auto => {}
            None => yaml.push_str("kubernetes:\n  mode: off\n"),
        }
        if !self.prometheus_yaml.is_empty() {
            yaml.push_str("export:\n  prometheus:\n");
            yaml.push_str(&self.prometheus_yaml);
        }
        if !self.features_yaml.is_empty() {
            yaml.push_str("features:\n");
            yaml.push_str(&self.features_yaml);
        }
        yaml.push_str(&self.top_level_yaml);
        yaml
    }
}

/// A duration as the config file spells it ("1s", "1500ms").
fn humane(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// A running agent. Dropping it without [`Agent::stop`] (a failing test)
/// terminates it and prints its log.
pub struct Agent {
    child: Option<Child>,
    ns: String,
    log_path: std::path::PathBuf,
    api: SocketAddr,
    metrics: SocketAddr,
    /// The API's unix socket (`--api-socket`).
    socket: std::path::PathBuf,
    // Last field: removed after the child is gone.
    _dir: TempDir,
}

impl Agent {
    /// Starts `netmon` in `node` (`ip netns exec`, which execs the binary
    /// in place, so the child's pid is the agent's) and waits until
    /// `/readyz` answers 200: programs attached, first drain done.
    pub fn start(node: &Netns, config: AgentConfig) -> Agent {
        Agent::start_with_flags(node, config, &[])
    }

    /// [`Agent::start`] with `flags` added to the command line, after the
    /// harness's own (so they win over them).
    pub fn start_with_flags(
        node: &Netns,
        config: AgentConfig,
        flags: &[&std::ffi::OsStr],
    ) -> Agent {
        let dir = TempDir::new("agent");
        let config_path = dir.path().join("netmon.yaml");
        std::fs::write(&config_path, config.yaml()).expect("write agent config");
        let log_path = dir.path().join("netmon.log");
        let log = File::create(&log_path).expect("create agent log");

        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", node.name()])
            .arg(agent_binary())
            .arg("--config")
            .arg(&config_path)
            .args(["--api-addr", API_ADDR, "--metrics-addr", METRICS_ADDR])
            .args(["--log-level", "debug"]);
        for interface in &config.interfaces {
            command.args(["--interface", interface]);
        }
        // Each agent's socket in its own directory: the machine's
        // /run/netmon stays untouched, and parallel agents never share one.
        let socket = match flags.iter().position(|f| *f == "--api-socket") {
            Some(at) => std::path::PathBuf::from(flags.get(at + 1).expect("--api-socket PATH")),
            None => {
                let socket = dir.path().join("netmon.sock");
                command.arg("--api-socket").arg(&socket);
                socket
            }
        };
        command.args(flags);
        // The agent treats every NETMON_* variable as a setting (and an
        // unknown one as an error): the test's config must be all it gets.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("NETMON_") {
                command.env_remove(name);
            }
        }
        // Nor may the machine's Kubernetes access: the test says what the
        // agent can reach.
        command
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .env_remove("NODE_NAME")
            .env("HOME", dir.path());
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("start netmon");

        let mut agent = Agent {
            child: Some(child),
            ns: node.name().to_string(),
            log_path,
            api: API_ADDR.parse().expect("api address"),
            metrics: METRICS_ADDR.parse().expect("metrics address"),
            socket,
            _dir: dir,
        };
        agent.wait_until_ready();
        agent
    }

    /// The API's TCP address, inside the node namespace.
    pub fn api_addr(&self) -> SocketAddr {
        self.api
    }

    /// The API's unix socket, reachable from any namespace (it is a file).
    pub fn socket_path(&self) -> &std::path::Path {
        &self.socket
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("agent is running").id()
    }

    /// Everything the agent wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "netmon exited with {status} before it was ready; its log:\n{}",
                    self.log()
                );
            }
            match http_get(&self.ns, self.metrics, "/readyz") {
                Ok(response) if response.status == 200 => return,
                Ok(response) => last = format!("/readyz answered {}", response.status),
                Err(e) => last = format!("/readyz: {e}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "netmon was not ready after {READY_TIMEOUT:?} ({last}); its log:\n{}",
            self.log()
        );
    }

    /// `GET` on the metrics listener (`/metrics`, `/healthz`, `/readyz`).
    pub fn get_metrics_listener(&self, path: &str) -> HttpResponse {
        http_get(&self.ns, self.metrics, path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// `GET /api/v1/flows` with `query`.
    pub fn flows(&self, query: &FlowQuery) -> Vec<Flow> {
        let path = format!("/api/v1/flows{}", query.to_query_string());
        let response = http_get(&self.ns, self.api, &path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}\nagent log:\n{}", self.log()));
        assert_eq!(
            response.status, 200,
            "GET {path} answered {}: {}",
            response.status, response.body
        );
        serde_json::from_str(&response.body).unwrap_or_else(|e| {
            panic!(
                "GET {path} returned unparsable flows ({e}): {}",
                response.body
            )
        })
    }

    /// Waits until the flows matching `query` pass `check`, and returns
    /// them. `check` explains what is still missing, for the timeout panic.
    pub fn wait_for_flows(
        &self,
        query: &FlowQuery,
        timeout: Duration,
        mut check: impl FnMut(&[Flow]) -> Result<(), String>,
    ) -> Vec<Flow> {
        super::eventually(timeout, &format!("flows {query:?}"), || {
            let flows = self.flows(query);
            check(&flows)
                .map(|()| flows.clone())
                .map_err(|why| format!("{why}; flows now: {flows:#?}"))
        })
    }

    /// Waits for exactly one flow matching `query` to reach `status` with
    /// exactly `counts`, and returns it. Waiting for the exact numbers (not
    /// just the status) covers packets the agent drains after the status
    /// changed, such as the last ACK.
    pub fn wait_for_flow_with(&self, query: &FlowQuery, status: &str, counts: FlowCounts) -> Flow {
        let flows = self.wait_for_flows(query, Duration::from_secs(15), |flows| match flows {
            [flow] if flow.status == status && flow.counts() == counts => Ok(()),
            [flow] => Err(format!(
                "expected status {status} and {counts:?}, the flow has status {} and {:?}",
                flow.status,
                flow.counts()
            )),
            _ => Err(format!("expected exactly one flow, got {}", flows.len())),
        });
        flows.into_iter().next().expect("one flow")
    }

    /// `GET /api/v1/security/events` with `query` (e.g. `"?type=port_scan"`).
    pub fn security_events(&self, query: &str) -> Vec<serde_json::Value> {
        let path = format!("/api/v1/security/events{query}");
        let response = http_get(&self.ns, self.api, &path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}\nagent log:\n{}", self.log()));
        assert_eq!(
            response.status, 200,
            "GET {path} answered {}: {}",
            response.status, response.body
        );
        serde_json::from_str(&response.body).unwrap_or_else(|e| {
            panic!(
                "GET {path} returned unparsable events ({e}): {}",
                response.body
            )
        })
    }

    /// Waits until the agent has completed `count` more drains than now:
    /// every change the kernel reported before this call, payload findings
    /// included, has then been merged and published (findings are attributed
    /// to their flow within two drains).
    pub fn wait_for_drains(&self, count: u32) {
        let drains = || {
            self.metrics()
                .value(
                    "netmon_processing_duration_seconds_count",
                    &[("stage", "merge")],
                )
                .unwrap_or(0.0)
        };
        let start = drains();
        super::eventually(
            Duration::from_secs(10),
            &format!("{count} more drains"),
            || {
                let now = drains();
                if now >= start + f64::from(count) {
                    Ok(())
                } else {
                    Err(format!("{now} drains, {start} before"))
                }
            },
        );
    }

    /// Current metrics.
    pub fn metrics(&self) -> Metrics {
        let response = self.get_metrics_listener("/metrics");
        assert_eq!(response.status, 200, "/metrics: {}", response.body);
        Metrics::parse(&response.body)
    }

    /// Opens `GET /api/v1/flows?follow=true&...` and returns once the
    /// response headers arrived, so events after this call are delivered.
    pub fn follow(&self, query: &FlowQuery) -> FollowStream {
        let path = format!("/api/v1/flows{}", query.clone().follow().to_query_string());
        let api = self.api;
        let mut stream = in_netns(&self.ns, || {
            TcpStream::connect_timeout(&api, Duration::from_secs(5))
        })
        .unwrap_or_else(|e| panic!("connect to API: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {api}\r\nAccept: application/x-ndjson\r\n\r\n"
        )
        .expect("send follow request");
        let mut follow = FollowStream {
            stream,
            raw: Vec::new(),
            decoder: None,
            lines: Vec::new(),
        };
        follow.read_head(Duration::from_secs(5));
        follow
    }

    /// Sends SIGTERM, waits for the exit and returns its status.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("agent is running");
        signal(&child, libc::SIGTERM);
        match wait_with_timeout(&mut child, STOP_TIMEOUT) {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "netmon did not exit within {STOP_TIMEOUT:?} of SIGTERM; its log:\n{}",
                    self.log()
                );
            }
        }
    }

    /// Stops the agent and asserts the clean exit SIGTERM promises.
    pub fn stop_and_expect_clean_exit(self) {
        let log = self.log_path.clone();
        let status = self.stop();
        assert!(
            status.success(),
            "netmon exited with {status} after SIGTERM; its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, libc::SIGTERM);
            if wait_with_timeout(&mut child, STOP_TIMEOUT).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "---- netmon log ----\n{}\n---- end of netmon log ----",
                self.log()
            );
        }
    }
}

/// Overrides the agent binary under test (default: the `netmon` built with
/// these tests), to run the suite against a release or packaged build.
pub const AGENT_BINARY_ENV: &str = "NMTEST_AGENT";

fn agent_binary() -> std::ffi::OsString {
    if let Some(path) = std::env::var_os(AGENT_BINARY_ENV) {
        return path;
    }
    // Cargo names the binary only to netmon-agent's own tests; other
    // crates' tests (netmon-cli's) include this harness and find it in the
    // target directory they share.
    match option_env!("CARGO_BIN_EXE_netmon") {
        Some(path) => std::ffi::OsString::from(path),
        None => workspace_binary("netmon", "netmon-agent").into_os_string(),
    }
}

/// A binary of another workspace crate, next to this test's own binary
/// (`target/<profile>/deps/<test>` → `target/<profile>/<name>`).
/// `cargo test --workspace` builds every crate's binaries before running
/// any test; a single crate's run may not, so say how to build it.
pub fn workspace_binary(name: &str, package: &str) -> std::path::PathBuf {
    let test = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    let binary = profile_dir.join(name);
    assert!(
        binary.exists(),
        "{} is missing: build it first with `cargo build -p {package}` (or run `cargo test --workspace`)",
        binary.display()
    );
    binary
}

fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: kill(2) on the pid of our own child, which has not been
    // reaped yet, so the pid cannot belong to another process.
    unsafe { libc::kill(pid, signal) };
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Filters of `GET /api/v1/flows`.
#[derive(Debug, Clone, Default)]
pub struct FlowQuery {
    params: Vec<(&'static str, String)>,
}

impl FlowQuery {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.params.push(("ip", ip.to_string()));
        self
    }

    pub fn port(mut self, port: u16) -> Self {
        self.params.push(("port", port.to_string()));
        self
    }

    /// "tcp", "udp", "icmp" or "icmpv6".
    pub fn protocol(mut self, protocol: &str) -> Self {
        self.params.push(("protocol", protocol.to_string()));
        self
    }

    /// One or more of "active", "closed", "reset", "refused", "timeout".
    pub fn status(mut self, statuses: &[&str]) -> Self {
        self.params.push(("status", statuses.join(",")));
        self
    }

    /// A Kubernetes name filter: `pod`, `src_namespace`, `dst_service`, ...
    pub fn name(mut self, filter: &'static str, value: &str) -> Self {
        self.params.push((filter, value.to_string()));
        self
    }

    fn follow(mut self) -> Self {
        self.params.push(("follow", "true".to_string()));
        self
    }

    fn to_query_string(&self) -> String {
        if self.params.is_empty() {
            return String::new();
        }
        let pairs: Vec<String> = self
            .params
            .iter()
            // IPv6 colons are legal in a query; nothing else here needs
            // escaping.
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("?{}", pairs.join("&"))
    }
}

/// One flow as the API returns it. Fields the tests do not assert on are
/// kept loosely typed so their exact representation is not pinned here.
#[derive(Debug, Clone, Deserialize)]
pub struct Flow {
    pub id: u64,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    pub protocol: String,
    pub ip_version: serde_json::Value,
    pub direction: String,
    pub interface: serde_json::Value,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub rx_packets: u64,
    pub tcp_flags: Vec<String>,
    pub status: String,
    pub first_seen: serde_json::Value,
    pub last_seen: serde_json::Value,
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    #[serde(default)]
    pub ended_at: serde_json::Value,
    #[serde(default)]
    pub connect_latency_us: Option<u64>,
    #[serde(default)]
    pub rtt_min_us: Option<u64>,
    #[serde(default)]
    pub rtt_max_us: Option<u64>,
    #[serde(default)]
    pub rtt_last_us: Option<u64>,
    #[serde(default)]
    pub rtt_mean_us: Option<u64>,
    #[serde(default)]
    pub rtt_samples: Option<u64>,
    #[serde(default)]
    pub rtt_socket: Option<String>,
    #[serde(default)]
    pub icmp_type: Option<u8>,
    #[serde(default)]
    pub icmp_code: Option<u8>,
    #[serde(default)]
    pub retransmits: u64,
    #[serde(default)]
    pub drops: u64,
    #[serde(default)]
    pub drop_reasons: BTreeMap<String, u64>,
    /// The application protocol recognised from the payload ("http",
    /// "http2", "grpc", "tls", "dns", "redis", "mysql", "postgresql").
    #[serde(default)]
    pub app_protocol: Option<String>,
    #[serde(default)]
    pub http_method: Option<String>,
    #[serde(default)]
    pub http_status: Option<u16>,
    /// "TLS 1.2", "TLS 1.3".
    #[serde(default)]
    pub tls_version: Option<String>,
    #[serde(default)]
    pub tls_sni: Option<String>,
    /// The version a MySQL/MariaDB server greeted with.
    #[serde(default)]
    pub server_version: Option<String>,
    /// The flow's latest DNS transaction.
    #[serde(default)]
    pub dns: Option<DnsTransaction>,
    /// `None` when the agent does not report the field at all.
    #[serde(default)]
    pub dns_transactions: Option<u64>,
    /// The name a DNS answer seen by the agent gave `dst_ip`.
    #[serde(default)]
    pub dst_dns_name: Option<String>,
    /// Everything else, notably the Kubernetes `src_*`/`dst_*` names.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// One DNS query and its response, as a flow reports its latest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DnsTransaction {
    pub name: String,
    /// "A", "AAAA", ...
    #[serde(rename = "type")]
    pub qtype: String,
    /// "NOERROR", "NXDOMAIN", ..., or "timeout".
    pub rcode: String,
    pub latency_seconds: Option<f64>,
}

impl Flow {
    pub fn counts(&self) -> FlowCounts {
        FlowCounts {
            tx_bytes: self.tx_bytes,
            tx_packets: self.tx_packets,
            rx_bytes: self.rx_bytes,
            rx_packets: self.rx_packets,
        }
    }

    /// A Kubernetes name field (`src_pod`, `dst_service`, ...), `None` when null.
    pub fn name(&self, field: &str) -> Option<&str> {
        self.other.get(field).and_then(|v| v.as_str())
    }

    pub fn has_tcp_flags(&self, flags: &[&str]) -> bool {
        flags.iter().all(|f| self.tcp_flags.iter().any(|g| g == f))
    }
}

/// One line of the follow stream: a flow and what happened to it.
#[derive(Debug, Clone, Deserialize)]
pub struct FlowEvent {
    /// "opened", "updated", "closed" or "evicted".
    pub event: String,
    #[serde(flatten)]
    pub flow: Flow,
}

/// An open `follow=true` response, decoded line by line.
pub struct FollowStream {
    stream: TcpStream,
    raw: Vec<u8>,
    /// `Some` once the head is read: chunked or plain body.
    decoder: Option<BodyDecoder>,
    lines: Vec<u8>,
}

enum BodyDecoder {
    Chunked,
    Plain,
}

impl FollowStream {
    fn read_head(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = find(&self.raw, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.raw[..end]).into_owned();
                self.raw.drain(..end + 4);
                let status = parse_status(&head).unwrap_or(0);
                assert_eq!(status, 200, "follow request answered:\n{head}");
                self.decoder = Some(if is_chunked(&head) {
                    BodyDecoder::Chunked
                } else {
                    BodyDecoder::Plain
                });
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no response head to the follow request"
            );
            self.fill();
        }
    }

    /// Reads whatever arrived within one socket timeout into `raw`.
    fn fill(&mut self) -> bool {
        let mut buffer = [0u8; 16 * 1024];
        match self.stream.read(&mut buffer) {
            Ok(0) => false,
            Ok(n) => {
                self.raw.extend_from_slice(&buffer[..n]);
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                false
            }
            Err(e) => panic!("follow stream: {e}"),
        }
    }

    /// Moves complete body bytes from `raw` to `lines`.
    fn decode(&mut self) {
        match self.decoder {
            Some(BodyDecoder::Plain) => self.lines.append(&mut self.raw),
            Some(BodyDecoder::Chunked) => {
                while let Some((data, consumed)) = next_chunk(&self.raw) {
                    self.lines.extend_from_slice(data);
                    self.raw.drain(..consumed);
                }
            }
            None => unreachable!("the head is read in Agent::follow"),
        }
    }

    /// The next event, or `None` if none arrived within `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Option<FlowEvent> {
        self.next_line(timeout).map(|line| {
            serde_json::from_value(line.clone())
                .unwrap_or_else(|e| panic!("follow line is not a flow event ({e}): {line}"))
        })
    }

    /// The next line of any kind (flow, security, lagged) as JSON, or `None`
    /// if none arrived within `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> Option<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            self.decode();
            if let Some(newline) = self.lines.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.lines.drain(..=newline).collect();
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                return Some(
                    serde_json::from_str(text)
                        .unwrap_or_else(|e| panic!("unparsable follow line ({e}): {text}")),
                );
            }
            if Instant::now() >= deadline {
                return None;
            }
            self.fill();
        }
    }

    /// Reads events until one passes `wanted`; panics with every event seen
    /// if none did within `timeout`.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        what: &str,
        wanted: impl Fn(&FlowEvent) -> bool,
    ) -> FlowEvent {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Some(event) = self.next_event(deadline - Instant::now()) {
                if wanted(&event) {
                    return event;
                }
                seen.push(event);
            }
        }
        panic!("no follow event {what} within {timeout:?}; events seen: {seen:#?}")
    }
}

/// Decodes one complete chunk at the start of `raw`: its data and how many
/// bytes of `raw` it used; `None` until the whole chunk arrived.
fn next_chunk(raw: &[u8]) -> Option<(&[u8], usize)> {
    let line_end = find(raw, b"\r\n")?;
    let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
    let size_text = size_text.split(';').next()?.trim();
    let size = usize::from_str_radix(size_text, 16).ok()?;
    let start = line_end + 2;
    if raw.len() < start + size + 2 {
        return None;
    }
    Some((&raw[start..start + size], start + size + 2))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_status(head: &str) -> Option<u16> {
    head.lines().next()?.split_whitespace().nth(1)?.parse().ok()
}

fn is_chunked(head: &str) -> bool {
    head.lines().skip(1).any(|line| {
        let lower = line.to_ascii_lowercase();
        lower.starts_with("transfer-encoding:") && lower.contains("chunked")
    })
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

/// A minimal HTTP/1.1 GET from inside namespace `ns`: one request per
/// connection (`Connection: close`), chunked or length-delimited bodies.
pub fn http_get(ns: &str, address: SocketAddr, path: &str) -> io::Result<HttpResponse> {
    let mut stream = in_netns(ns, || {
        TcpStream::connect_timeout(&address, Duration::from_secs(2))
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// Parses a complete HTTP/1.1 response.
pub fn parse_response(raw: &[u8]) -> io::Result<HttpResponse> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let end = find(raw, b"\r\n\r\n").ok_or_else(|| invalid("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status = parse_status(&head).ok_or_else(|| invalid("no status line"))?;
    let mut body = &raw[end + 4..];
    let decoded;
    if is_chunked(&head) {
        let mut data = Vec::new();
        while let Some((chunk, used)) = next_chunk(body) {
            if chunk.is_empty() {
                break;
            }
            data.extend_from_slice(chunk);
            body = &body[used..];
        }
        decoded = data;
        body = &decoded;
    }
    Ok(HttpResponse {
        status,
        body: String::from_utf8_lossy(body).into_owned(),
    })
}

/// One sample of the Prometheus text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parsed `/metrics` output.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub samples: Vec<Sample>,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let samples = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| parse_sample(l).unwrap_or_else(|| panic!("unparsable metrics line: {l}")))
            .collect();
        Metrics { samples }
    }

    /// The value of the series `name` whose labels include `labels`, if
    /// exactly one series matches (panics if several do: the test's label
    /// set is then ambiguous).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        match matching.as_slice() {
            [] => None,
            [one] => Some(one.value),
            many => panic!("{name}{labels:?} matches several series: {many:#?}"),
        }
    }

    /// Every series named `name`, whatever its labels.
    pub fn series(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }

    /// Like [`Metrics::value`], reading an absent series as 0 (counters and
    /// gauges that were never touched may not be exported yet).
    pub fn value_or_zero(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.value(name, labels).unwrap_or(0.0) as u64
    }
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (name_and_labels, rest) = match line.find('{') {
        Some(_) => {
            let close = line.rfind('}')?;
            (&line[..close + 1], &line[close + 1..])
        }
        None => {
            let space = line.find(' ')?;
            (&line[..space], &line[space..])
        }
    };
    let value_text = rest.split_whitespace().next()?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    let (name, labels) = match name_and_labels.find('{') {
        Some(open) => (
            name_and_labels[..open].to_string(),
            parse_labels(&name_and_labels[open + 1..name_and_labels.len() - 1])?,
        ),
        None => (name_and_labels.to_string(), BTreeMap::new()),
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Parses `k="v",k2="v2"` with the format's escapes (`\\`, `\"`, `\n`).
fn parse_labels(text: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(' ' | ',')) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(labels);
        }
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if chars.next()? != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        }
        labels.insert(key.trim().to_string(), value);
    }
}

// ---- Live configuration: rewriting the agent's config file, and API
// requests with a method and a body. ----

impl AgentConfig {
    /// The config file the agent is started with, as YAML.
    pub fn to_yaml(&self) -> String {
        self.yaml()
    }
}

impl Agent {
    /// The agent's `--config` file.
    pub fn config_file(&self) -> std::path::PathBuf {
        self._dir.path().join("netmon.yaml")
    }

    /// Replaces the config file's content the way a ConfigMap update does:
    /// the new content appears at once (written beside it, then renamed).
    pub fn rewrite_config(&self, yaml: &str) {
        let path = self.config_file();
        let staged = path.with_extension("yaml.new");
        std::fs::write(&staged, yaml).expect("write the new config");
        std::fs::rename(&staged, &path).expect("swap the config file");
    }

    /// `method path` on the API listener with `body` as JSON.
    pub fn api_request(&self, method: &str, path: &str, body: Option<&str>) -> HttpResponse {
        http_request(&self.ns, self.api, method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\nagent log:\n{}", self.log()))
    }

    /// `GET path` on the API listener, answered 200 with JSON.
    pub fn api_json(&self, path: &str) -> serde_json::Value {
        let response = self.api_request("GET", path, None);
        assert_eq!(
            response.status, 200,
            "GET {path} answered {}: {}",
            response.status, response.body
        );
        serde_json::from_str(&response.body)
            .unwrap_or_else(|e| panic!("GET {path} is not JSON ({e}): {}", response.body))
    }
}

/// One HTTP/1.1 request from inside namespace `ns`, with an optional JSON
/// body (`Connection: close`).
pub fn http_request(
    ns: &str,
    address: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> io::Result<HttpResponse> {
    let mut stream = in_netns(ns, || {
        TcpStream::connect_timeout(&address, Duration::from_secs(2))
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

// ---- The API over the agent's unix socket (`--api-socket`). ----

/// A minimal HTTP/1.1 GET over the unix socket at `socket`
/// (`Connection: close`). Unix sockets live in the file system, not in a
/// network namespace, so no namespace needs entering.
pub fn http_get_unix(socket: &std::path::Path, path: &str) -> io::Result<HttpResponse> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: netmon\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

impl Agent {
    /// `GET path` over the unix socket at `socket`, answered 200 with JSON.
    pub fn socket_json(&self, socket: &std::path::Path, path: &str) -> serde_json::Value {
        let response = http_get_unix(socket, path).unwrap_or_else(|e| {
            panic!(
                "GET {path} over {}: {e}\nagent log:\n{}",
                socket.display(),
                self.log()
            )
        });
        assert_eq!(
            response.status, 200,
            "GET {path} over the socket answered {}: {}",
            response.status, response.body
        );
        serde_json::from_str(&response.body)
            .unwrap_or_else(|e| panic!("GET {path} is not JSON ({e}): {}", response.body))
    }
}

// ---- Sections of `export` other than Prometheus (`export.ipfix`, ...). ----

impl AgentConfig {
    /// Adds the section `export.<name>` with `keys` (YAML lines indented
    /// by 4). The file's `export:` mapping is the one `prometheus_yaml` is
    /// written under, so the section is appended to it: set any
    /// `prometheus_yaml` keys before calling this. Without them,
    /// `export.prometheus` is an empty key and keeps its defaults.
    pub fn with_export_section(mut self, name: &str, keys: &str) -> Self {
        self.prometheus_yaml.push_str(&format!("  {name}:\n{keys}"));
        self
    }
}
