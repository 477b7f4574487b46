//! End-to-end: the real agent in a node namespace counts pod-to-pod flows
//! exactly as nftables in the pods counts them (plus the Ethernet header
//! per packet), and reports their fate.
//!
//! Each test owns its namespaces, so the agent sees nothing but the test's
//! traffic and every number can be compared exactly.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::agent::{AgentConfig, FlowQuery};
use support::netns::{IpVersion, Offloads};
use support::nft::{count_flow, count_timing_out_connect, FlowMatch};
use support::traffic::{
    connect_refused, connect_timing_out, ping, tcp_exchange, udp_echo, TcpServer,
};
use support::{eventually, missing_prerequisites, FlowCounts, TestNode, TOPOLOGY_TOOLS};

const REQUEST_BYTES: usize = 1_000_000;
const RESPONSE_BYTES: usize = 300_000;

fn a_tcp_connection_between_pods_is_one_closed_flow_with_exact_counts(
    version: IpVersion,
    config: AgentConfig,
) -> TestNode {
    let node = TestNode::start(config);
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let links_when_ready = node.node_link_counters();
    let server = SocketAddr::new(b.ip(version), 5001);
    let client = a.ip(version);
    let truth = count_flow(&a.ns, &b.ns, "tcp", FlowMatch::Tcp { client, server });

    let ends = tcp_exchange(
        a.ns_name(),
        b.ns_name(),
        server,
        REQUEST_BYTES,
        RESPONSE_BYTES,
    );

    let expected = truth.read_when_quiet().link_layer();
    let query = FlowQuery::new()
        .ip(client)
        .port(server.port())
        .protocol("tcp");
    // Exactly one flow, although every packet crossed two node interfaces.
    let flow = node.agent.wait_for_flow_with(&query, "closed", expected);
    assert_eq!(
        (flow.src_ip, flow.src_port),
        (ends.client.ip(), ends.client.port())
    );
    assert_eq!((flow.dst_ip, flow.dst_port), (server.ip(), server.port()));
    assert_eq!(flow.protocol, "tcp");
    assert_eq!(
        flow.direction, "forwarded",
        "pod to pod is routed through the node"
    );
    assert!(
        flow.has_tcp_flags(&["SYN", "ACK", "FIN"]),
        "a full connection shows SYN, ACK and FIN: {:?}",
        flow.tcp_flags
    );
    assert!(
        !flow.has_tcp_flags(&["RST"]),
        "nothing was reset: {:?}",
        flow.tcp_flags
    );

    node.assert_interface_metrics_match_links_since(&links_when_ready);
    node
}

#[test]
fn a_tcp_connection_over_ipv4_is_one_closed_flow_with_exact_counts() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    a_tcp_connection_between_pods_is_one_closed_flow_with_exact_counts(
        IpVersion::V4,
        AgentConfig::default(),
    );
}

#[test]
fn with_legacy_clsact_attachment_the_counts_are_just_as_exact() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let config = AgentConfig {
        attach_mode: Some("tc"),
        ..AgentConfig::default()
    };
    let node =
        a_tcp_connection_between_pods_is_one_closed_flow_with_exact_counts(IpVersion::V4, config);
    let metrics = node.agent.metrics();
    assert_eq!(
        metrics.value("netmon_attached_interfaces", &[("mode", "tc")]),
        Some(2.0),
        "both node interfaces are attached through clsact"
    );
    assert_eq!(
        metrics.value("netmon_attached_interfaces", &[("mode", "tcx")]),
        Some(0.0)
    );
}

#[test]
fn a_tcp_connection_over_ipv6_is_one_closed_flow_with_exact_counts() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    a_tcp_connection_between_pods_is_one_closed_flow_with_exact_counts(
        IpVersion::V6,
        AgentConfig::default(),
    );
}

#[test]
fn with_offloads_on_packets_are_segments_and_bytes_are_skb_bytes() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start_with(AgentConfig::default(), Offloads::On);
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let server = SocketAddr::new(b.ip(IpVersion::V4), 5002);
    let client = a.ip(IpVersion::V4);
    let truth = count_flow(&a.ns, &b.ns, "gso", FlowMatch::Tcp { client, server });
    let client_segments_before = a.ns.snmp_counter("Tcp", "OutSegs");
    let server_segments_before = b.ns.snmp_counter("Tcp", "OutSegs");

    tcp_exchange(
        a.ns_name(),
        b.ns_name(),
        server,
        REQUEST_BYTES,
        RESPONSE_BYTES,
    );

    let skbs = truth.read_when_quiet().link_layer();
    let expected = FlowCounts {
        tx_bytes: skbs.tx_bytes,
        tx_packets: a.ns.snmp_counter("Tcp", "OutSegs") - client_segments_before,
        rx_bytes: skbs.rx_bytes,
        rx_packets: b.ns.snmp_counter("Tcp", "OutSegs") - server_segments_before,
    };
    let query = FlowQuery::new()
        .ip(client)
        .port(server.port())
        .protocol("tcp");
    node.agent.wait_for_flow_with(&query, "closed", expected);
}

#[test]
fn udp_datagrams_are_counted_exactly_and_the_flow_closes_after_the_idle_timeout() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let flow_timeout = Duration::from_secs(3);
    let node = TestNode::start(AgentConfig::default().with_flow_timeout(flow_timeout));
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let server = SocketAddr::new(b.ip(IpVersion::V4), 6001);
    let client = a.ip(IpVersion::V4);
    let truth = count_flow(&a.ns, &b.ns, "udp", FlowMatch::Udp { client, server });
    let (datagrams, size) = (20, 1200);

    let ends = udp_echo(a.ns_name(), b.ns_name(), server, datagrams, size);

    let expected = truth.read_when_quiet().link_layer();
    let per_datagram = 14 + 20 + 8 + size as u64;
    assert_eq!(
        expected,
        FlowCounts {
            tx_bytes: datagrams as u64 * per_datagram,
            tx_packets: datagrams as u64,
            rx_bytes: datagrams as u64 * per_datagram,
            rx_packets: datagrams as u64,
        },
        "every datagram and every echo crossed the node once"
    );
    let query = FlowQuery::new()
        .ip(client)
        .port(server.port())
        .protocol("udp");
    let active = node.agent.wait_for_flow_with(&query, "active", expected);
    assert_eq!(
        (active.src_ip, active.src_port),
        (ends.client.ip(), ends.client.port())
    );
    assert_eq!(
        (active.dst_ip, active.dst_port),
        (server.ip(), server.port())
    );

    let closed = node.agent.wait_for_flow_with(&query, "closed", expected);
    assert_eq!(closed.id, active.id, "the same flow ended");
    assert!(
        closed.last_seen_ns > active.first_seen_ns,
        "the flow has a lifetime: {closed:?}"
    );
}

#[test]
fn icmp_echo_over_ipv4_and_ipv6_is_three_requests_and_three_replies() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));

    for (version, protocol, identifier) in [
        (IpVersion::V4, "icmp", 4242),
        (IpVersion::V6, "icmpv6", 4343),
    ] {
        let (client, server) = (a.ip(version), b.ip(version));
        let echo = FlowMatch::Echo {
            client,
            server,
            identifier,
        };
        let truth = count_flow(&a.ns, &b.ns, &format!("echo_{identifier}"), echo);

        assert_eq!(
            ping(a.ns_name(), server, 3, identifier),
            3,
            "three replies ({protocol})"
        );

        let expected = truth.read_when_quiet().link_layer();
        assert_eq!((expected.tx_packets, expected.rx_packets), (3, 3));
        let query = FlowQuery::new().ip(client).protocol(protocol);
        let flow = node.agent.wait_for_flow_with(&query, "active", expected);
        assert_eq!(
            flow.src_port, identifier,
            "the echo identifier is the source port"
        );
        assert_eq!(flow.dst_port, 0);
        assert_eq!(flow.dst_ip, server);
    }
}

#[test]
fn a_connect_to_a_closed_port_is_a_refused_flow_of_one_packet_each_way() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let closed_port = SocketAddr::new(b.ip(IpVersion::V4), 7001);
    let client = a.ip(IpVersion::V4);
    let truth = count_flow(
        &a.ns,
        &b.ns,
        "refused",
        FlowMatch::Tcp {
            client,
            server: closed_port,
        },
    );

    connect_refused(a.ns_name(), closed_port);

    let expected = truth.read_when_quiet().link_layer();
    assert_eq!(
        (expected.tx_packets, expected.rx_packets),
        (1, 1),
        "a SYN and a RST"
    );
    let query = FlowQuery::new()
        .ip(client)
        .port(closed_port.port())
        .protocol("tcp");
    let flow = node.agent.wait_for_flow_with(&query, "refused", expected);
    assert!(flow.has_tcp_flags(&["SYN", "RST"]), "{:?}", flow.tcp_flags);
}

#[test]
fn a_connect_whose_syns_are_dropped_is_a_timeout_flow_without_replies() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let silent_port = SocketAddr::new(b.ip(IpVersion::V4), 7002);
    let client = a.ip(IpVersion::V4);
    let truth = count_timing_out_connect(&a.ns, &b.ns, client, silent_port);

    connect_timing_out(a.ns_name(), silent_port);

    let expected = truth.read_when_quiet().link_layer();
    assert!(
        expected.tx_packets >= 2,
        "the SYN was retransmitted: {expected:?}"
    );
    assert_eq!(expected.rx_packets, 0);
    let query = FlowQuery::new()
        .ip(client)
        .port(silent_port.port())
        .protocol("tcp");
    let flow = node.agent.wait_for_flow_with(&query, "timeout", expected);
    assert_eq!(flow.rx_packets, 0, "nothing came back");
}

#[test]
fn the_active_flows_gauge_counts_exactly_the_open_connections() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let active_tcp = || {
        node.agent.metrics().value_or_zero(
            "netmon_flows_active",
            &[("protocol", "tcp"), ("direction", "forwarded")],
        )
    };
    let gauge_reaches = |expected: u64| {
        eventually(
            Duration::from_secs(10),
            &format!("netmon_flows_active{{protocol=tcp,direction=forwarded}} = {expected}"),
            || match active_tcp() {
                value if value == expected => Ok(()),
                value => Err(format!("gauge is {value}")),
            },
        )
    };
    gauge_reaches(0);

    let server = TcpServer::listen(b.ns_name(), SocketAddr::new(b.ip(IpVersion::V4), 5003));
    let mut first = server.accept_connection_from(a.ns_name());
    let mut second = server.accept_connection_from(a.ns_name());
    first.exchange(100);
    second.exchange(100);
    gauge_reaches(2);

    first.close();
    gauge_reaches(1);

    second.close();
    gauge_reaches(0);
}

#[test]
fn the_follow_stream_reports_a_connection_opening_and_closing() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let server = SocketAddr::new(b.ip(IpVersion::V4), 5004);
    let client = a.ip(IpVersion::V4);
    let truth = count_flow(&a.ns, &b.ns, "followed", FlowMatch::Tcp { client, server });
    let mut stream = node.agent.follow(&FlowQuery::new().port(server.port()));

    let ends = tcp_exchange(a.ns_name(), b.ns_name(), server, 20_000, 5_000);

    let is_our_connection = |flow: &support::agent::Flow| {
        (flow.src_ip, flow.src_port, flow.dst_port) == (client, ends.client.port(), server.port())
    };
    let first = stream.wait_for(Duration::from_secs(10), "for the new connection", |e| {
        is_our_connection(&e.flow)
    });
    assert!(
        matches!(first.event.as_str(), "opened" | "updated" | "closed"),
        "a known event kind: {first:?}"
    );
    let closed = if first.event == "closed" {
        first.clone()
    } else {
        stream.wait_for(Duration::from_secs(10), "closing the connection", |e| {
            is_our_connection(&e.flow) && e.event == "closed"
        })
    };
    assert_eq!(
        closed.flow.id, first.flow.id,
        "one flow from opening to closing"
    );
    assert_eq!(closed.flow.status, "closed");

    let query = FlowQuery::new()
        .ip(client)
        .port(server.port())
        .protocol("tcp");
    node.agent
        .wait_for_flow_with(&query, "closed", truth.read_when_quiet().link_layer());
}
