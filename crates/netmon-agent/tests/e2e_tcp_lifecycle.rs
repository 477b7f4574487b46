//! End-to-end: TCP lifecycle events from the kernel tracepoint reach the
//! flow table through the ring buffer, independently of the flow drain.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::agent::{AgentConfig, FlowQuery};
use support::in_netns::in_netns;
use support::netns::IpVersion;
use support::traffic::{connect_refused, TcpServer};
use support::{missing_prerequisites, FlowCounts, TestNode, TOPOLOGY_TOOLS};

#[test]
fn a_refused_connect_is_reported_by_the_kernel_event_before_any_packet_is_drained() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    // The first drain runs at start; the next one only after 60 s. Anything
    // the API says about the connect within the test comes from the event.
    let config = AgentConfig {
        flush_interval: Duration::from_secs(60),
        flow_timeout: Duration::from_secs(120),
        ..AgentConfig::default()
    };
    let node = TestNode::start(config);
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let closed_port = SocketAddr::new(b.ip(IpVersion::V4), 5998);

    connect_refused(a.ns_name(), closed_port);

    let query = FlowQuery::new()
        .ip(a.ip(IpVersion::V4))
        .port(closed_port.port())
        .protocol("tcp");
    let flows = node
        .agent
        .wait_for_flows(&query, Duration::from_secs(5), |flows| match flows {
            [flow] if flow.status == "refused" => Ok(()),
            _ => Err("waiting for one refused flow".to_string()),
        });
    assert_eq!(
        flows[0].counts(),
        FlowCounts::default(),
        "no packet was drained yet: the status came from the lifecycle event"
    );
    assert_eq!(
        flows[0].src_ip,
        a.ip(IpVersion::V4),
        "the connecting socket initiated"
    );
}

#[test]
fn an_established_connection_carries_its_handshake_latency_measured_in_the_kernel() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let server_addr = SocketAddr::new(b.ip(IpVersion::V6), 5002);
    let server = TcpServer::listen(b.ns_name(), server_addr);

    // The kernel's SYN_SENT -> ESTABLISHED time lies inside the time the
    // test's own connect() call took: that is the ground truth's bound.
    let (stream, connect_took) = in_netns(a.ns_name(), || {
        let started = Instant::now();
        let stream = TcpStream::connect(server_addr).expect("connect");
        (stream, started.elapsed())
    });
    let client = stream.local_addr().expect("local address");
    drop(server);
    drop(stream);

    let query = FlowQuery::new()
        .ip(client.ip())
        .port(client.port())
        .protocol("tcp");
    let flows = node
        .agent
        .wait_for_flows(&query, Duration::from_secs(10), |flows| match flows {
            [flow] if flow.connect_latency_us.is_some() => Ok(()),
            _ => Err("waiting for one flow with a connect latency".to_string()),
        });
    let latency = Duration::from_micros(flows[0].connect_latency_us.expect("latency"));
    assert!(
        latency <= connect_took,
        "handshake latency {latency:?} must lie within the connect() call ({connect_took:?})"
    );
    assert_eq!(
        (flows[0].src_ip, flows[0].src_port),
        (client.ip(), client.port())
    );
}
