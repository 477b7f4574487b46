//! Test helpers: a fake [`FlowSource`] and [`StatusSource`], fixtures, and
//! a minimal HTTP/1.1 client over a raw socket (no HTTP client crate is a
//! dependency).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::broadcast;

use super::config_status::ConfigStatusHandle;
use super::debug::{DebugFlow, MapDetail, RuntimeStatus, TableDetail};
use super::health::Readiness;
use super::server::{api_router_with, ApiSources};
use super::source::{FlowEvent, FlowSource};
use super::status_source::{
    AgentStatus, FeatureStatus, InterfaceStatus, KernelStatus, KubernetesState, KubernetesStatus,
    MapStatus, RingStatus, StatusSource, TableStatus,
};
use super::view::FlowView;
use crate::flow::{Direction, FlowStatus};

const TIMEOUT: Duration = Duration::from_secs(5);

/// An active TCP flow with the given endpoints and id.
pub(crate) fn view(id: u64, src: &str, src_port: u16, dst: &str, dst_port: u16) -> FlowView {
    FlowView {
        id,
        src_ip: src.parse::<IpAddr>().unwrap(),
        src_port,
        dst_ip: dst.parse::<IpAddr>().unwrap(),
        dst_port,
        protocol: "tcp",
        protocol_number: 6,
        ip_version: 4,
        direction: Direction::Egress,
        interface: Some("eth0".into()),
        tx_bytes: 0,
        rx_bytes: 0,
        tx_packets: 0,
        rx_packets: 0,
        tcp_flags: vec!["SYN"],
        status: FlowStatus::Active,
        first_seen: "1970-01-01T00:00:00.000000000Z".into(),
        last_seen: "1970-01-01T00:00:00.000000000Z".into(),
        first_seen_ns: 0,
        last_seen_ns: 0,
        ended_at: None,
        connect_latency_us: None,
        rtt_min_us: None,
        rtt_max_us: None,
        rtt_last_us: None,
        rtt_mean_us: None,
        rtt_samples: None,
        rtt_socket: None,
        icmp_type: None,
        icmp_code: None,
        sampling_rate: 1,
        translated: Default::default(),
        retransmits: 0,
        drops: 0,
        drop_reasons: Default::default(),
        names: Default::default(),
        app: Default::default(),
    }
}

pub(crate) struct FakeSource {
    flows: Vec<FlowView>,
    events: Mutex<Option<broadcast::Sender<Arc<FlowEvent>>>>,
}

impl FakeSource {
    pub(crate) fn new(flows: Vec<FlowView>) -> Self {
        Self::with_capacity(flows, 64)
    }

    pub(crate) fn with_capacity(flows: Vec<FlowView>, capacity: usize) -> Self {
        FakeSource {
            flows,
            events: Mutex::new(Some(broadcast::channel(capacity).0)),
        }
    }

    pub(crate) fn publish(&self, event: FlowEvent) {
        if let Some(sender) = self.events.lock().unwrap().as_ref() {
            // No subscriber is not an error for a publisher.
            let _ = sender.send(Arc::new(event));
        }
    }

    /// Drops the sender, as the agent does when it shuts down.
    pub(crate) fn close(&self) {
        self.events.lock().unwrap().take();
    }
}

impl FlowSource for FakeSource {
    fn snapshot(&self) -> Vec<FlowView> {
        self.flows.clone()
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<FlowEvent>> {
        match self.events.lock().unwrap().as_ref() {
            Some(sender) => sender.subscribe(),
            None => broadcast::channel(1).1,
        }
    }
}

/// An agent's status with a figure in every field: started
/// 2026-12-03T17:00:00Z, 12.5 s ago; two interfaces, listed out of order.
pub(crate) fn fake_status() -> AgentStatus {
    let programs = vec!["netmon_tc_ingress", "netmon_tc_egress"];
    AgentStatus {
        started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_317_200),
        uptime: Duration::from_millis(12_500),
        node: "node-1".into(),
        kernel: KernelStatus {
            release: "6.18.0-test".into(),
            btf: true,
            tcx: true,
            tcp_lifecycle_tracepoint: true,
        },
        interfaces: vec![
            InterfaceStatus {
                name: "veth1".into(),
                ifindex: 7,
                attach_mode: "tc",
                programs: programs.clone(),
            },
            InterfaceStatus {
                name: "eth0".into(),
                ifindex: 2,
                attach_mode: "tcx",
                programs,
            },
        ],
        table: TableStatus {
            flows: 10,
            capacity: 100,
            opened_total: 40,
            closed_total: 30,
            evicted_total: 2,
            pruned_total: 28,
            kernel_map: MapStatus {
                name: "netmon_flows",
                kind: "hash",
                entries: 16_384,
                capacity: 65_536,
            },
        },
        events: RingStatus {
            processed: 123,
            lost: 4,
        },
        payload_samples: RingStatus {
            processed: 5,
            lost: 0,
        },
        kubernetes: KubernetesStatus {
            enabled: true,
            state: KubernetesState::Syncing,
            synced: false,
        },
        features: FeatureStatus {
            tcp_lifecycle: true,
            rtt: true,
            dns: true,
            protocol_detection: false,
            nat: false,
            port_scan: true,
            drops: true,
            retransmits: true,
        },
        programs: Vec::new(),
    }
}

/// A [`StatusSource`] reporting fixed figures.
pub(crate) struct FakeStatus {
    status: AgentStatus,
    debug_flows: Vec<DebugFlow>,
}

impl FakeStatus {
    pub(crate) fn new(status: AgentStatus, debug_flows: Vec<DebugFlow>) -> Self {
        FakeStatus {
            status,
            debug_flows,
        }
    }
}

impl StatusSource for FakeStatus {
    fn status(&self) -> AgentStatus {
        self.status.clone()
    }

    fn table(&self) -> TableStatus {
        self.status.table.clone()
    }

    fn debug_flows(&self) -> Vec<DebugFlow> {
        self.debug_flows.clone()
    }

    fn runtime(&self) -> RuntimeStatus {
        RuntimeStatus {
            uptime_seconds: self.status.uptime.as_secs_f64(),
            rss_bytes: Some(50 << 20),
            cpu_seconds: Some(1.25),
            threads: Some(6),
            follow_subscribers: 1,
            app_observations_queued: 3,
            app_observations_capacity: 65_536,
            flow_table: TableDetail::from(&self.status.table),
            kernel_map: MapDetail::from(&self.status.table.kernel_map),
            attach_failures: vec!["wg0".into()],
            nat_translations: 0,
            resolved_names: 4,
        }
    }
}

/// The whole API over no flows and `status`.
pub(crate) fn fake_router(status: Arc<FakeStatus>) -> axum::Router {
    api_router_with(ApiSources {
        flows: Arc::new(FakeSource::new(Vec::new())),
        status,
        config: ConfigStatusHandle::default(),
        readiness: Readiness::new(),
        on_lag: Arc::new(|_| {}),
    })
}

/// Serves `router` on an ephemeral loopback port for the rest of the test.
pub(crate) async fn start(router: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl HttpResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn send_request(addr: SocketAddr, path: &str) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    socket
}

struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    /// Offset of the first body byte.
    body_start: usize,
}

/// Splits a response head into status and headers; `None` if incomplete.
fn parse_head(raw: &[u8]) -> Option<Head> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    Some(Head {
        status,
        headers,
        body_start: end + 4,
    })
}

/// Decodes complete chunks from the front of `raw`, appending their data to
/// `out`. Returns whether the terminating chunk was seen.
fn dechunk(raw: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
    loop {
        let Some(size_end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return false;
        };
        let size_text = std::str::from_utf8(&raw[..size_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if raw.len() < size_end + 2 + size + 2 {
            return false;
        }
        out.extend_from_slice(&raw[size_end + 2..size_end + 2 + size]);
        raw.drain(..size_end + 2 + size + 2);
        if size == 0 {
            return true;
        }
    }
}

/// A complete GET with `Connection: close`.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    let fetch = async {
        let mut socket = send_request(addr, path).await;
        let mut raw = Vec::new();
        socket.read_to_end(&mut raw).await.unwrap();
        parse_response(&raw)
    };
    tokio::time::timeout(TIMEOUT, fetch)
        .await
        .expect("response within 5s")
}

/// A complete GET over a unix socket.
pub(crate) async fn get_unix(socket_path: &std::path::Path, path: &str) -> HttpResponse {
    let fetch = async {
        let mut socket = UnixStream::connect(socket_path).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: netmon\r\nConnection: close\r\n\r\n");
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        socket.read_to_end(&mut raw).await.unwrap();
        parse_response(&raw)
    };
    tokio::time::timeout(TIMEOUT, fetch)
        .await
        .expect("response within 5s")
}

/// Splits a complete response into status, headers and decoded body.
fn parse_response(raw: &[u8]) -> HttpResponse {
    let Head {
        status,
        headers,
        body_start,
    } = parse_head(raw).expect("a complete response head");
    let mut body_raw = raw[body_start..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        let mut body = Vec::new();
        dechunk(&mut body_raw, &mut body);
        body
    } else {
        body_raw
    };
    HttpResponse {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

/// A streaming (chunked) response being read line by line.
pub(crate) struct HttpStream {
    socket: TcpStream,
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    raw: Vec<u8>,
    decoded: Vec<u8>,
    ended: bool,
}

/// Sends a GET and returns once the response head has arrived.
pub(crate) async fn open_stream(addr: SocketAddr, path: &str) -> HttpStream {
    let open = async {
        let mut socket = send_request(addr, path).await;
        let mut raw = Vec::new();
        loop {
            let mut buf = [0u8; 4096];
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed before the response head");
            raw.extend_from_slice(&buf[..n]);
            if let Some(Head {
                status,
                headers,
                body_start,
            }) = parse_head(&raw)
            {
                raw.drain(..body_start);
                return HttpStream {
                    socket,
                    status,
                    headers,
                    raw,
                    decoded: Vec::new(),
                    ended: false,
                };
            }
        }
    };
    tokio::time::timeout(TIMEOUT, open)
        .await
        .expect("response head within 5s")
}

impl HttpStream {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Reads more bytes; returns false at the end of the body.
    async fn fill(&mut self) -> bool {
        if self.ended {
            return false;
        }
        let mut buf = [0u8; 4096];
        let n = self.socket.read(&mut buf).await.unwrap();
        if n == 0 {
            self.ended = true;
            return false;
        }
        self.raw.extend_from_slice(&buf[..n]);
        self.ended = dechunk(&mut self.raw, &mut self.decoded);
        true
    }

    /// The next line of the body, without its newline.
    pub(crate) async fn next_line(&mut self) -> String {
        let read = async {
            loop {
                if let Some(end) = self.decoded.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = self.decoded.drain(..=end).collect();
                    return String::from_utf8(line[..end].to_vec()).unwrap();
                }
                assert!(self.fill().await, "stream ended before a full line");
            }
        };
        tokio::time::timeout(TIMEOUT, read)
            .await
            .expect("a line within 5s")
    }

    /// Waits until the server ends the body.
    pub(crate) async fn wait_for_end(&mut self) {
        while self.fill().await {}
    }
}
