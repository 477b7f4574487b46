//! End-to-end: connections the node translates are reported as one flow.
//!
//! The node namespace DNATs a virtual IP to pod `b` (as kube-proxy does for
//! a Service) or SNATs pod `a`'s traffic to its own address. TC counts the
//! request before the translation and the reply before the node translates
//! it back, so without conntrack one connection shows as two half flows.
//! These tests check that the agent, reading conntrack over netlink, joins
//! them: one flow, exact counts both ways (nftables in the pods is the
//! ground truth), the address the client used and the one translation
//! chose.

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use serde_json::{json, Value};
use support::agent::{AgentConfig, Flow, FlowQuery};
use support::in_netns::in_netns;
use support::netns::{IpVersion, Pod};
use support::nft::{count_flow, FlowMatch};
use support::traffic::{tcp_exchange_via, udp_echo_via};
use support::{missing_prerequisites, FlowCounts, TestNode, TOPOLOGY_TOOLS};

const SERVICE_PORT: u16 = 80;
const TARGET_PORT: u16 = 8080;
const DNS_PORT: u16 = 53;
const DNS_TARGET_PORT: u16 = 5353;

/// A virtual IP in this topology's own /24 that no interface has, so
/// concurrent tests (whose agents see every namespace's TCP events) never
/// share it.
fn virtual_ip(pod: &Pod) -> Ipv4Addr {
    let [a, b, c, _] = pod.gateway_ipv4.octets();
    Ipv4Addr::new(a, b, c, 250)
}

/// kube-proxy's part: the node translates the virtual IP to pod `b`, TCP
/// port 80 to 8080 and UDP port 53 to 5353.
fn install_dnat(node: &TestNode, vip: Ipv4Addr) {
    let b = node.topology.pod("b").ipv4;
    node.topology.node().exec_with_stdin(
        "nft",
        &["-f", "-"],
        &format!(
            "table ip nmt_nat {{
               chain pre {{
                 type nat hook prerouting priority dstnat;
                 ip daddr {vip} tcp dport {SERVICE_PORT} dnat to {b}:{TARGET_PORT}
                 ip daddr {vip} udp dport {DNS_PORT} dnat to {b}:{DNS_TARGET_PORT}
               }}
             }}"
        ),
    );
}

fn field(flow: &Flow, name: &str) -> Value {
    flow.other.get(name).cloned().unwrap_or(Value::Null)
}

fn translated(flow: &Flow) -> [Value; 4] {
    [
        field(flow, "src_translated_ip"),
        field(flow, "src_translated_port"),
        field(flow, "dst_translated_ip"),
        field(flow, "dst_translated_port"),
    ]
}

#[test]
fn a_tcp_connection_to_a_dnat_virtual_ip_is_one_flow_with_the_backend_and_exact_counts() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let vip = virtual_ip(a);
    // After the agent started: conntrack only becomes active in the node
    // namespace with its first NAT rule, and the agent must still see it.
    install_dnat(&node, vip);

    let backend = SocketAddr::new(b.ip(IpVersion::V4), TARGET_PORT);
    let service = SocketAddr::new(IpAddr::V4(vip), SERVICE_PORT);
    // Requests arrive at b from a, after DNAT; replies arrive at a from the
    // virtual IP, after the node translated them back.
    let requests = count_flow(
        &a.ns,
        &b.ns,
        "viareq",
        FlowMatch::Tcp {
            client: a.ip(IpVersion::V4),
            server: backend,
        },
    );
    let replies = count_flow(
        &a.ns,
        &b.ns,
        "viarep",
        FlowMatch::Tcp {
            client: a.ip(IpVersion::V4),
            server: service,
        },
    );
    let ends = tcp_exchange_via(a.ns_name(), b.ns_name(), backend, service, 150_000, 40_000);
    let sent = requests.read_when_quiet().link_layer();
    let received = replies.read_when_quiet().link_layer();
    let expected = FlowCounts {
        tx_bytes: sent.tx_bytes,
        tx_packets: sent.tx_packets,
        rx_bytes: received.rx_bytes,
        rx_packets: received.rx_packets,
    };

    let flow = node.agent.wait_for_flow_with(
        &FlowQuery::new()
            .ip(IpAddr::V4(vip))
            .port(ends.client.port()),
        "closed",
        expected,
    );
    assert_eq!(
        (flow.src_ip, flow.src_port, flow.dst_ip, flow.dst_port),
        (
            ends.client.ip(),
            ends.client.port(),
            IpAddr::V4(vip),
            SERVICE_PORT
        ),
        "the flow is keyed as the client addressed it"
    );
    assert_eq!(
        translated(&flow),
        [
            Value::Null,
            Value::Null,
            json!(b.ip(IpVersion::V4).to_string()),
            json!(TARGET_PORT)
        ]
    );
    assert!(flow.has_tcp_flags(&["SYN", "ACK", "FIN"]), "{flow:#?}");

    // The backend's address finds the same flow, and no second half exists.
    let by_backend = node.agent.flows(
        &FlowQuery::new()
            .ip(b.ip(IpVersion::V4))
            .port(ends.client.port()),
    );
    assert_eq!(
        by_backend.iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![flow.id]
    );

    // One translated connection in the node's conntrack (kept in TIME_WAIT).
    let metrics = node.agent.metrics();
    assert_eq!(metrics.value("netmon_nat_up", &[]), Some(1.0));
    assert_eq!(metrics.value("netmon_nat_translations", &[]), Some(1.0));
    assert_eq!(
        metrics.value("netmon_nat_translations_dropped_total", &[]),
        Some(0.0)
    );
}

#[test]
fn udp_datagrams_to_a_dnat_virtual_ip_are_one_flow_with_exact_counts_both_ways() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let vip = virtual_ip(a);
    install_dnat(&node, vip);

    let backend = SocketAddr::new(b.ip(IpVersion::V4), DNS_TARGET_PORT);
    let service = SocketAddr::new(IpAddr::V4(vip), DNS_PORT);
    let requests = count_flow(
        &a.ns,
        &b.ns,
        "udpreq",
        FlowMatch::Udp {
            client: a.ip(IpVersion::V4),
            server: backend,
        },
    );
    let replies = count_flow(
        &a.ns,
        &b.ns,
        "udprep",
        FlowMatch::Udp {
            client: a.ip(IpVersion::V4),
            server: service,
        },
    );
    let ends = udp_echo_via(a.ns_name(), b.ns_name(), backend, service, 20, 300);
    let sent = requests.read_when_quiet().link_layer();
    let received = replies.read_when_quiet().link_layer();
    assert_eq!(
        (sent.tx_packets, received.rx_packets),
        (20, 20),
        "the ground truth saw every datagram and echo"
    );

    let flow = node.agent.wait_for_flow_with(
        &FlowQuery::new()
            .protocol("udp")
            .ip(IpAddr::V4(vip))
            .port(ends.client.port()),
        "active",
        FlowCounts {
            tx_bytes: sent.tx_bytes,
            tx_packets: sent.tx_packets,
            rx_bytes: received.rx_bytes,
            rx_packets: received.rx_packets,
        },
    );
    assert_eq!(
        (flow.src_ip, flow.src_port, flow.dst_ip, flow.dst_port),
        (
            ends.client.ip(),
            ends.client.port(),
            IpAddr::V4(vip),
            DNS_PORT
        )
    );
    assert_eq!(
        translated(&flow),
        [
            Value::Null,
            Value::Null,
            json!(b.ip(IpVersion::V4).to_string()),
            json!(DNS_TARGET_PORT)
        ]
    );
}

#[test]
fn a_masqueraded_connection_keeps_the_pod_as_initiator_and_reports_the_source_it_was_given() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let server = SocketAddr::new(b.ip(IpVersion::V4), 9000);
    // The node hides a behind its own address on b's link.
    node.topology.node().exec_with_stdin(
        "nft",
        &["-f", "-"],
        &format!(
            "table ip nmt_snat {{
               chain post {{
                 type nat hook postrouting priority srcnat;
                 ip saddr {} ip daddr {} tcp dport 9000 snat to {}
               }}
             }}",
            a.ipv4, b.ipv4, b.gateway_ipv4
        ),
    );
    // b sees the node's address; a sees b's replies as they are.
    let arriving = count_flow(
        &a.ns,
        &b.ns,
        "snatreq",
        FlowMatch::Tcp {
            client: IpAddr::V4(b.gateway_ipv4),
            server,
        },
    );
    let returning = count_flow(
        &a.ns,
        &b.ns,
        "snatrep",
        FlowMatch::Tcp {
            client: a.ip(IpVersion::V4),
            server,
        },
    );
    let (client, seen_by_server) = exchange_seen_by_server(a.ns_name(), b.ns_name(), server);
    let sent = arriving.read_when_quiet().link_layer();
    let received = returning.read_when_quiet().link_layer();

    let flow = node.agent.wait_for_flow_with(
        &FlowQuery::new().ip(client.ip()).port(client.port()),
        "closed",
        FlowCounts {
            tx_bytes: sent.tx_bytes,
            tx_packets: sent.tx_packets,
            rx_bytes: received.rx_bytes,
            rx_packets: received.rx_packets,
        },
    );
    assert_eq!(
        (flow.src_ip, flow.src_port, flow.dst_ip, flow.dst_port),
        (client.ip(), client.port(), server.ip(), server.port()),
        "the pod initiated, whatever address b saw"
    );
    assert_eq!(seen_by_server.ip(), IpAddr::V4(b.gateway_ipv4));
    assert_eq!(
        translated(&flow),
        [
            json!(seen_by_server.ip().to_string()),
            json!(seen_by_server.port()),
            Value::Null,
            Value::Null
        ]
    );
}

#[test]
fn with_nat_off_a_dnat_connection_stays_two_halves_and_the_metric_says_so() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig {
        features_yaml: "  nat:\n    enabled: false\n".into(),
        ..AgentConfig::default()
    });
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let vip = virtual_ip(a);
    install_dnat(&node, vip);
    let backend = SocketAddr::new(b.ip(IpVersion::V4), TARGET_PORT);
    let service = SocketAddr::new(IpAddr::V4(vip), SERVICE_PORT);
    let requests = count_flow(
        &a.ns,
        &b.ns,
        "offreq",
        FlowMatch::Tcp {
            client: a.ip(IpVersion::V4),
            server: backend,
        },
    );
    let ends = tcp_exchange_via(a.ns_name(), b.ns_name(), backend, service, 20_000, 5_000);
    let sent = requests.read_when_quiet().link_layer();

    // The request half, counted before DNAT, has no replies.
    let half = node.agent.wait_for_flow_with(
        &FlowQuery::new()
            .ip(IpAddr::V4(vip))
            .port(ends.client.port()),
        "closed",
        FlowCounts {
            tx_bytes: sent.tx_bytes,
            tx_packets: sent.tx_packets,
            rx_bytes: 0,
            rx_packets: 0,
        },
    );
    assert_eq!(
        translated(&half),
        [Value::Null, Value::Null, Value::Null, Value::Null]
    );
    let both = node.agent.flows(
        &FlowQuery::new()
            .ip(a.ip(IpVersion::V4))
            .port(ends.client.port()),
    );
    assert_eq!(
        both.len(),
        2,
        "the reply half is a flow of its own: {both:#?}"
    );
    assert_eq!(node.agent.metrics().value("netmon_nat_up", &[]), Some(0.0));
    assert!(
        node.agent
            .log()
            .contains("NAT joining is off (features.nat.enabled is false)"),
        "{}",
        node.agent.log()
    );
}

/// One TCP exchange (1 KiB each way, FIN both ways) from `client_ns` to
/// `server`; returns the client's address and the peer address the server
/// saw (after SNAT).
fn exchange_seen_by_server(
    client_ns: &str,
    server_ns: &str,
    server: SocketAddr,
) -> (SocketAddr, SocketAddr) {
    let timeout = Some(Duration::from_secs(10));
    let listener = in_netns(server_ns, || TcpListener::bind(server)).expect("listen");
    let server_thread = std::thread::spawn(move || {
        let (mut stream, peer) = listener.accept().expect("accept");
        stream.set_read_timeout(timeout).expect("timeout");
        let mut request = Vec::new();
        stream.read_to_end(&mut request).expect("server read");
        assert_eq!(request.len(), 1024);
        stream.write_all(&[0x5a; 1024]).expect("server write");
        peer
    });
    let mut stream = in_netns(client_ns, || {
        TcpStream::connect_timeout(&server, Duration::from_secs(10))
    })
    .expect("connect");
    stream.set_read_timeout(timeout).expect("timeout");
    let client = stream.local_addr().expect("local address");
    stream.write_all(&[0x5a; 1024]).expect("client write");
    stream.shutdown(Shutdown::Write).expect("half-close");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("client read");
    assert_eq!(response.len(), 1024);
    drop(stream);
    (client, server_thread.join().expect("server thread"))
}
