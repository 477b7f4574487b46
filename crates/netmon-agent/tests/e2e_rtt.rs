//! End-to-end: per-connection smoothed RTT from the tcp:tcp_probe tracepoint.
//!
//! Deviation from issue 4's test plan: this kernel has no `sch_netem` (nor
//! `fq`), so no delay can be put on a test veth and "RTT within ±20% of the
//! configured delay" cannot be checked here. The ground truth is instead the
//! kernel's own srtt of the same socket, which `ss -tin` reads from
//! `tcp_info` (`rtt:<srtt>/<rttvar>` in ms, `tcpi_rtt` = srtt_us >> 3, the
//! very value tcp_probe records), and the socket's own count of received
//! segments (`segs_in`).
//!
//! Why the comparison can be exact: tcp_probe reads srtt when a segment
//! arrives, *before* that segment's ACK is processed, and srtt changes only
//! when an ACK covers new data. The test ends with a segment from the
//! server that acknowledges nothing new for the client (all client data
//! was acknowledged before it), so the client's last reading equals its
//! srtt from then on, which is what `ss` shows. Every segment the client
//! receives once established is one reading; the SYN-ACK arrives before
//! that and is counted in `segs_in` only, hence `segs_in - 1` readings.
//! Messages are small and sent in lock step with TCP_NODELAY, so no two
//! segments are ever merged by GRO (which `segs_in` would count as two).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use support::agent::{AgentConfig, Flow, FlowQuery};
use support::in_netns::in_netns;
use support::netns::IpVersion;
use support::{missing_prerequisites, run, TestNode, TOPOLOGY_TOOLS};

const ROUNDS: usize = 50;
const MESSAGE_BYTES: usize = 100;

/// An established connection from pod `a` to pod `b` after `ROUNDS`
/// request/response rounds and a final unsolicited byte from the server
/// (see the module documentation). Returns the client and server ends.
fn converse(node: &TestNode, version: IpVersion, port: u16) -> (TcpStream, TcpStream) {
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let server_addr = SocketAddr::new(b.ip(version), port);
    let listener = in_netns(b.ns_name(), || TcpListener::bind(server_addr)).expect("listen");
    let mut client = in_netns(a.ns_name(), || TcpStream::connect(server_addr)).expect("connect");
    let (mut server, _) = listener.accept().expect("accept");
    for stream in [&client, &server] {
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
    }
    let request = [7u8; MESSAGE_BYTES];
    let mut buffer = [0u8; MESSAGE_BYTES];
    for _ in 0..ROUNDS {
        client.write_all(&request).expect("request");
        server.read_exact(&mut buffer).expect("server read");
        server.write_all(&buffer).expect("response");
        client.read_exact(&mut buffer).expect("client read");
    }
    // Every response carried the ACK of its request; the wait lets any
    // delayed ACK go out, so the next segment acknowledges nothing new.
    std::thread::sleep(Duration::from_millis(300));
    server.write_all(&[1]).expect("final byte");
    client
        .read_exact(&mut buffer[..1])
        .expect("client final read");
    (client, server)
}

/// `rtt` (µs) and `segs_in` of one socket, from `ss -tin` in its namespace.
fn ss_rtt_and_segments_in(ns: &str, local: SocketAddr, peer: SocketAddr) -> (u64, u64) {
    let filter = format!("sport = :{} and dport = :{}", local.port(), peer.port());
    let out = run(Command::new("ip").args(["netns", "exec", ns, "ss", "-tinH", &filter]));
    let field = |name: &str| {
        out.split_whitespace()
            .find_map(|word| word.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in ss output: {out}"))
    };
    let rtt_ms: f64 = field("rtt:")
        .split('/')
        .next()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("unreadable rtt in {out}"));
    let segs_in: u64 = field("segs_in:").parse().expect("segs_in");
    // ss prints tcpi_rtt / 1000 with %g: six significant digits, exact
    // below one second.
    ((rtt_ms * 1000.0).round() as u64, segs_in)
}

fn flow_of(node: &TestNode, client: SocketAddr, readings: Option<u64>) -> Flow {
    let query = FlowQuery::new()
        .ip(client.ip())
        .port(client.port())
        .protocol("tcp");
    let flows = node
        .agent
        .wait_for_flows(&query, Duration::from_secs(10), |flows| match flows {
            [flow] if flow.rtt_samples == readings => Ok(()),
            _ => Err(format!(
                "waiting for one flow with {readings:?} RTT readings"
            )),
        });
    flows[0].clone()
}

fn check_rtt_is_the_client_sockets_srtt(version: IpVersion, port: u16) {
    let node = TestNode::start(AgentConfig::default());
    let (client, server) = converse(&node, version, port);
    let local = client.local_addr().expect("client address");
    let peer = client.peer_addr().expect("server address");
    let (srtt_us, segs_in) = ss_rtt_and_segments_in(node.topology.pod("a").ns_name(), local, peer);

    let flow = flow_of(&node, local, Some(segs_in - 1));
    let (min, max, last, mean) = (
        flow.rtt_min_us.expect("min"),
        flow.rtt_max_us.expect("max"),
        flow.rtt_last_us.expect("last"),
        flow.rtt_mean_us.expect("mean"),
    );
    assert_eq!(
        last, srtt_us,
        "the last reading is the client socket's srtt as ss shows it"
    );
    assert!(
        min <= mean && mean <= max && min <= last && last <= max,
        "min {min} <= mean {mean}, last {last} <= max {max}"
    );
    assert_eq!(
        flow.rtt_socket.as_deref(),
        Some("initiator"),
        "both sockets are on this node: the initiator's is reported"
    );
    assert_eq!((flow.src_ip, flow.src_port), (local.ip(), local.port()));
    drop((client, server));
}

#[test]
fn an_ipv4_flow_carries_its_client_sockets_srtt_and_one_reading_per_segment_received() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    check_rtt_is_the_client_sockets_srtt(IpVersion::V4, 5101);
}

#[test]
fn an_ipv6_flow_carries_its_client_sockets_srtt_and_one_reading_per_segment_received() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    check_rtt_is_the_client_sockets_srtt(IpVersion::V6, 5102);
}

#[test]
fn with_rtt_off_flows_carry_no_rtt_and_the_histogram_stays_empty() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig {
        features_yaml: "  latency_tracking:\n    rtt: false\n".into(),
        ..AgentConfig::default()
    });
    let (client, server) = converse(&node, IpVersion::V4, 5103);
    let local = client.local_addr().expect("client address");
    let query = FlowQuery::new()
        .ip(local.ip())
        .port(local.port())
        .protocol("tcp");
    // Counted: the request bytes all went through at least one drain.
    let payload = (ROUNDS * MESSAGE_BYTES) as u64;
    let flows = node
        .agent
        .wait_for_flows(&query, Duration::from_secs(10), |flows| match flows {
            [flow] if flow.tx_bytes > payload && flow.rx_bytes > payload => Ok(()),
            _ => Err("waiting for the exchange to be counted".to_string()),
        });
    assert_eq!(
        (
            flows[0].rtt_last_us,
            flows[0].rtt_samples,
            &flows[0].rtt_socket
        ),
        (None, None, &None)
    );
    assert_eq!(
        node.agent
            .metrics()
            .value("netmon_tcp_rtt_seconds_count", &[]),
        Some(0.0),
        "no tracepoint, no observation"
    );
    assert!(node
        .agent
        .log()
        .contains("TCP RTT tracking is off (features.latency_tracking.rtt: false)"));
    drop((client, server));
}
