//! Self-tests of the end-to-end harness: the topology, the traffic helpers
//! and the ground truth must be right on their own before they can judge the
//! agent. None of these tests runs the agent.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use support::agent::{parse_response, Metrics};
use support::bpf::BpfObjects;
use support::netns::{
    existing_namespaces, parse_snmp, IpVersion, LinkCounters, Offloads, Topology,
};
use support::nft::{count_flow, count_timing_out_connect, read_counter, Counter, FlowMatch};
use support::traffic::{
    connect_refused, connect_timing_out, ping, tcp_exchange, udp_echo, TcpServer,
    PING_PAYLOAD_BYTES,
};
use support::{missing_prerequisites, TOPOLOGY_TOOLS};

const REQUEST_BYTES: usize = 1_000_000;
const RESPONSE_BYTES: usize = 300_000;

/// IP plus TCP header with the timestamp option, as Linux sends on every
/// segment of a connection after the handshake.
fn tcp_header_bytes(version: IpVersion) -> u64 {
    let ip = match version {
        IpVersion::V4 => 20,
        IpVersion::V6 => 40,
    };
    ip + 20 + 12
}

/// A SYN or SYN-ACK carries MSS, SACK-permitted and window-scale options on
/// top of the timestamp: 8 bytes more than later segments.
const HANDSHAKE_OPTION_BYTES: u64 = 8;

fn server_address(topology: &Topology, pod: &str, version: IpVersion, port: u16) -> SocketAddr {
    SocketAddr::new(topology.pod(pod).ip(version), port)
}

#[test]
fn the_topology_routes_between_pods_and_its_links_stay_silent() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let topology = Topology::build(&["a", "b"], Offloads::Off);
    let (a, b) = (topology.pod("a"), topology.pod("b"));

    assert_eq!(topology.node().sysctl("net.ipv4.ip_forward"), "1");
    assert_eq!(topology.node().sysctl("net.ipv6.conf.all.forwarding"), "1");
    for pod in [a, b] {
        assert_eq!(pod.ns.sysctl("net.ipv6.conf.eth0.accept_dad"), "0");
        assert!(pod.node_interface.len() <= 15);
    }

    // Nothing may cross a link unless a test sends it: not right after the
    // build, and not a while later (MLD retransmissions come within ~1 s).
    let silent = LinkCounters::default();
    for pod in [a, b] {
        assert_eq!(topology.node().link_counters(&pod.node_interface), silent);
    }
    std::thread::sleep(Duration::from_millis(1500));
    for pod in [a, b] {
        assert_eq!(
            topology.node().link_counters(&pod.node_interface),
            silent,
            "link of pod {} stays silent while idle",
            pod.name
        );
    }

    for version in [IpVersion::V4, IpVersion::V6] {
        assert_eq!(
            ping(a.ns_name(), b.ip(version), 2, 7),
            2,
            "a reaches b over {version:?}"
        );
        assert_eq!(
            ping(b.ns_name(), a.ip(version), 2, 8),
            2,
            "b reaches a over {version:?}"
        );
    }
}

#[test]
fn the_topology_is_deleted_when_it_goes_out_of_scope() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let topology = Topology::build(&["a", "b"], Offloads::Off);
    let names = topology.namespace_names();
    assert_eq!(names.len(), 3);
    assert!(names.iter().all(|n| existing_namespaces().contains(n)));

    drop(topology);

    let remaining = existing_namespaces();
    assert!(
        names.iter().all(|n| !remaining.contains(n)),
        "no namespace of {names:?} is left in {remaining:?}"
    );
}

#[test]
fn the_topology_is_deleted_when_a_test_panics() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let names = std::sync::Mutex::new(Vec::new());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut topology = Topology::build(&["a"], Offloads::Off);
        topology.add_pod("b");
        *names.lock().unwrap() = topology.namespace_names();
        panic!("a deliberate failure while the topology exists");
    }));
    assert!(outcome.is_err());

    let names = names.into_inner().unwrap();
    let remaining = existing_namespaces();
    assert_eq!(names.len(), 3);
    assert!(
        names.iter().all(|n| !remaining.contains(n)),
        "no namespace of {names:?} is left in {remaining:?}"
    );
}

#[test]
fn nft_counts_a_tcp_transfer_as_payload_plus_headers_and_matches_the_links() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let topology = Topology::build(&["a", "b"], Offloads::Off);
    let (a, b) = (topology.pod("a"), topology.pod("b"));

    for (version, port) in [(IpVersion::V4, 5001), (IpVersion::V6, 5002)] {
        let server = server_address(&topology, "b", version, port);
        let client = a.ip(version);
        let truth = count_flow(
            &a.ns,
            &b.ns,
            &format!("tcp_{port}"),
            FlowMatch::Tcp { client, server },
        );
        let node_link_before = topology.node().link_counters(&a.node_interface);

        tcp_exchange(
            a.ns_name(),
            b.ns_name(),
            server,
            REQUEST_BYTES,
            RESPONSE_BYTES,
        );
        // The last ACK leaves with the client's read of EOF; let it land.
        std::thread::sleep(Duration::from_millis(200));

        let counted = truth.read();
        let header = tcp_header_bytes(version);
        assert_eq!(
            counted.tx.bytes,
            REQUEST_BYTES as u64 + header * counted.tx.packets + HANDSHAKE_OPTION_BYTES,
            "the client sent its payload plus one header per packet ({version:?}): {counted:?}"
        );
        assert_eq!(
            counted.rx.bytes,
            RESPONSE_BYTES as u64 + header * counted.rx.packets + HANDSHAKE_OPTION_BYTES,
            "the client received the response plus one header per packet ({version:?}): {counted:?}"
        );
        let mss = 1500 - header + 12;
        assert!(
            counted.tx.packets > REQUEST_BYTES as u64 / mss,
            "offloads are off: {counted:?}"
        );

        // The node's end of pod a's link saw exactly these packets, each
        // with its Ethernet header: the links carry nothing else.
        let on_link = topology
            .node()
            .link_counters(&a.node_interface)
            .since(&node_link_before);
        let expected = counted.link_layer();
        assert_eq!(
            (on_link.rx_bytes, on_link.rx_packets),
            (expected.tx_bytes, expected.tx_packets),
            "the node link received what the client sent ({version:?})"
        );
        assert_eq!(
            (on_link.tx_bytes, on_link.tx_packets),
            (expected.rx_bytes, expected.rx_packets),
            "the node link sent what the client received ({version:?})"
        );
    }
}

#[test]
fn nft_counts_udp_echo_and_ping_exactly() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let topology = Topology::build(&["a", "b"], Offloads::Off);
    let (a, b) = (topology.pod("a"), topology.pod("b"));

    let server = server_address(&topology, "b", IpVersion::V4, 6001);
    let client = a.ip(IpVersion::V4);
    let truth = count_flow(&a.ns, &b.ns, "udp", FlowMatch::Udp { client, server });
    udp_echo(a.ns_name(), b.ns_name(), server, 5, 1000);
    let per_datagram = 20 + 8 + 1000;
    let expected = Counter {
        packets: 5,
        bytes: 5 * per_datagram,
    };
    assert_eq!(truth.read().tx, expected, "five datagrams went out");
    assert_eq!(truth.read().rx, expected, "five echoes came back");

    for (version, identifier, ip_header) in [(IpVersion::V4, 4242, 20), (IpVersion::V6, 4343, 40)] {
        let (client, server) = (a.ip(version), b.ip(version));
        let echo = FlowMatch::Echo {
            client,
            server,
            identifier,
        };
        let truth = count_flow(&a.ns, &b.ns, &format!("echo_{identifier}"), echo);
        assert_eq!(ping(a.ns_name(), server, 3, identifier), 3);
        let expected = Counter {
            packets: 3,
            bytes: 3 * (ip_header + 8 + PING_PAYLOAD_BYTES as u64),
        };
        assert_eq!(truth.read().tx, expected, "three requests ({version:?})");
        assert_eq!(truth.read().rx, expected, "three replies ({version:?})");
    }
}

#[test]
fn a_connect_to_a_closed_port_is_one_syn_answered_by_one_reset() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let topology = Topology::build(&["a", "b"], Offloads::Off);
    let (a, b) = (topology.pod("a"), topology.pod("b"));
    let closed = server_address(&topology, "b", IpVersion::V4, 7001);
    let client = a.ip(IpVersion::V4);
    let truth = count_flow(
        &a.ns,
        &b.ns,
        "refused",
        FlowMatch::Tcp {
            client,
            server: closed,
        },
    );

    connect_refused(a.ns_name(), closed);

    let counted = truth.read();
    assert_eq!(
        counted.tx,
        Counter {
            packets: 1,
            bytes: 60
        },
        "one SYN with options"
    );
    assert_eq!(
        counted.rx,
        Counter {
            packets: 1,
            bytes: 40
        },
        "one bare RST"
    );
}

#[test]
fn a_connect_to_a_port_that_drops_syns_times_out_after_the_syn_retries() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let topology = Topology::build(&["a", "b"], Offloads::Off);
    let (a, b) = (topology.pod("a"), topology.pod("b"));
    let silent = server_address(&topology, "b", IpVersion::V4, 7002);
    let client = a.ip(IpVersion::V4);
    let truth = count_timing_out_connect(&a.ns, &b.ns, client, silent);

    let took = connect_timing_out(a.ns_name(), silent);

    eprintln!("connect timed out after {took:?}");
    assert!(
        took < Duration::from_secs(6),
        "one SYN retry gives up within seconds: {took:?}"
    );
    let counted = truth.read();
    assert!(
        counted.tx.packets >= 2,
        "the SYN was retransmitted: {counted:?}"
    );
    assert_eq!(
        counted.tx.bytes,
        60 * counted.tx.packets,
        "only SYNs went out"
    );
    assert_eq!(counted.rx, Counter::default(), "nothing came back");
    assert_eq!(
        read_counter(&b.ns, "dropped").packets,
        counted.tx.packets,
        "pod b dropped every SYN"
    );
}

#[test]
fn with_offloads_on_the_sender_hands_out_fewer_skbs_than_segments() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let topology = Topology::build(&["a", "b"], Offloads::On);
    let (a, b) = (topology.pod("a"), topology.pod("b"));
    let server = server_address(&topology, "b", IpVersion::V4, 5003);
    let client = a.ip(IpVersion::V4);
    let truth = count_flow(&a.ns, &b.ns, "gso", FlowMatch::Tcp { client, server });
    let segments_before = a.ns.snmp_counter("Tcp", "OutSegs");

    tcp_exchange(a.ns_name(), b.ns_name(), server, REQUEST_BYTES, 1000);
    std::thread::sleep(Duration::from_millis(200));

    let segments = a.ns.snmp_counter("Tcp", "OutSegs") - segments_before;
    let skbs = truth.read().tx.packets;
    assert!(
        segments > REQUEST_BYTES as u64 / 1448,
        "TcpOutSegs counts wire segments: {segments}"
    );
    assert!(
        skbs < segments,
        "GSO packs several segments per skb: {skbs} skbs for {segments} segments"
    );
}

#[test]
fn a_program_started_with_ip_netns_exec_keeps_its_pid() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let topology = Topology::build(&[], Offloads::Off);
    let mut child = Command::new("ip")
        .args(["netns", "exec", topology.node().name(), "sleep", "30"])
        .spawn()
        .expect("spawn sleep");
    let comm = format!("/proc/{}/comm", child.id());
    support::eventually(Duration::from_secs(5), "the child execs sleep", || {
        let name = std::fs::read_to_string(&comm).map_err(|e| e.to_string())?;
        (name.trim() == "sleep").then_some(()).ok_or(name)
    });
    let own_netns = std::fs::read_link("/proc/self/ns/net").expect("own netns");
    let child_netns = std::fs::read_link(format!("/proc/{}/ns/net", child.id())).expect("netns");
    assert_ne!(
        own_netns, child_netns,
        "the program runs in the node namespace"
    );

    // SAFETY: kill(2) on our own, not yet reaped, child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGTERM),
        "SIGTERM reached the program itself"
    );
}

#[test]
fn sockets_made_in_a_namespace_stay_there_when_used_elsewhere() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let topology = Topology::build(&["a", "b"], Offloads::Off);
    let (a, b) = (topology.pod("a"), topology.pod("b"));
    let server = TcpServer::listen(
        b.ns_name(),
        server_address(&topology, "b", IpVersion::V6, 5004),
    );
    let mut connection = server.accept_connection_from(a.ns_name());
    assert_eq!(connection.client_address().ip(), a.ip(IpVersion::V6));
    connection.exchange(1000);
    connection.close();
}

#[test]
fn bpf_snapshots_can_be_taken_and_compared() {
    if missing_prerequisites(&["bpftool"]) {
        return;
    }
    let before = BpfObjects::snapshot();
    let after = BpfObjects::snapshot();
    assert!(after
        .added_since(&before)
        .programs
        .keys()
        .all(|id| !before.programs.contains_key(id)));
    assert!(BpfObjects::leaked_from(&BpfObjects::default()).is_empty());
}

#[test]
fn metrics_text_is_parsed_with_labels_and_escapes() {
    let metrics = Metrics::parse(
        "# HELP netmon_flows_active Active flows\n\
         # TYPE netmon_flows_active gauge\n\
         netmon_flows_active{protocol=\"tcp\",direction=\"forwarded\"} 2\n\
         netmon_interface_bytes_total{interface=\"va1\",hook=\"ingress\"} 1.234e6\n\
         netmon_odd{note=\"a \\\"quoted\\\" } value\"} 1\n\
         process_start_time_seconds 17\n",
    );
    assert_eq!(
        metrics.value(
            "netmon_flows_active",
            &[("protocol", "tcp"), ("direction", "forwarded")]
        ),
        Some(2.0)
    );
    assert_eq!(
        metrics.value_or_zero("netmon_interface_bytes_total", &[("interface", "va1")]),
        1_234_000
    );
    assert_eq!(
        metrics.value("netmon_odd", &[("note", "a \"quoted\" } value")]),
        Some(1.0)
    );
    assert_eq!(metrics.value("process_start_time_seconds", &[]), Some(17.0));
    assert_eq!(
        metrics.value_or_zero("netmon_flows_active", &[("protocol", "udp")]),
        0
    );
}

#[test]
fn http_responses_are_parsed_whether_chunked_or_not() {
    let plain = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n[]").unwrap();
    assert_eq!((plain.status, plain.body.as_str()), (200, "[]"));
    let chunked = parse_response(
        b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnot \r\n5\r\nready\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!((chunked.status, chunked.body.as_str()), (503, "not ready"));
}

#[test]
fn snmp_counters_are_found_by_group_and_name() {
    let snmp =
        "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm InSegs OutSegs\nTcp: 1 10 12\n";
    assert_eq!(parse_snmp(snmp, "Tcp", "OutSegs"), Some(12));
    assert_eq!(parse_snmp(snmp, "Tcp", "Missing"), None);
}
