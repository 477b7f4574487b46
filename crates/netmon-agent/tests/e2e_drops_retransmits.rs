//! End-to-end: packets the kernel drops and segments TCP retransmits, from
//! the real tracepoints, counted on the flows they belong to. Ground truth
//! is the kernel's own: the counter of the nftables rule that dropped the
//! packets, and `TcpRetransSegs` of the pods' namespaces.
//!
//! The tracepoints see every namespace on the machine, and other tests drop
//! and retransmit in parallel (the connect-timeout test drops TCP SYNs; every
//! topology drops MLD reports, which are ICMPv6). Per-flow figures are the
//! test's own by construction; the one machine-wide figure checked,
//! `netmon_drops_total{reason="NETFILTER_DROP",protocol="udp"}`, is exact
//! because no other test drops UDP with a netfilter rule and the agent
//! starts counting when this test starts it.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use support::agent::{AgentConfig, Flow, FlowQuery};
use support::in_netns::in_netns;
use support::netns::{IpVersion, Netns};
use support::nft::{count_flow, drop_incoming, read_counter, FlowMatch};
use support::traffic::tcp_exchange;
use support::{eventually, missing_prerequisites, TestNode, TOPOLOGY_TOOLS};

const DATAGRAMS: usize = 20;
const DATAGRAM_BYTES: usize = 200;

/// Sends `DATAGRAMS` datagrams from `client_ns` to `server`, where a
/// socket reads every one that is not dropped (so none is left unread to
/// be purged, which the kernel would report as another drop). Returns the
/// client's address.
fn send_datagrams(
    client_ns: &str,
    server_ns: &str,
    server: SocketAddr,
    delivered: usize,
) -> SocketAddr {
    let socket = in_netns(server_ns, || UdpSocket::bind(server))
        .unwrap_or_else(|e| panic!("bind {server}: {e}"));
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 2048];
        for i in 0..delivered {
            socket
                .recv(&mut buffer)
                .unwrap_or_else(|e| panic!("datagram {i} of {delivered}: {e}"));
        }
    });
    let any: SocketAddr = match server {
        SocketAddr::V4(_) => "0.0.0.0:0".parse().expect("address"),
        SocketAddr::V6(_) => "[::]:0".parse().expect("address"),
    };
    let client = in_netns(client_ns, || UdpSocket::bind(any)).expect("bind client");
    // Connected, so the local address names the client's own IP.
    client.connect(server).expect("connect");
    let payload = [0x5au8; DATAGRAM_BYTES];
    for _ in 0..DATAGRAMS {
        client.send(&payload).expect("send");
    }
    reader.join().expect("reader thread");
    client.local_addr().expect("client address")
}

/// The flows that have `end` as one of their ends.
fn query_of(end: SocketAddr, protocol: &str) -> FlowQuery {
    FlowQuery::new()
        .ip(end.ip())
        .port(end.port())
        .protocol(protocol)
}

fn only_flow(flows: &[Flow]) -> Result<&Flow, String> {
    match flows {
        [flow] => Ok(flow),
        _ => Err(format!("expected one flow, got {}", flows.len())),
    }
}

#[test]
fn udp_datagrams_an_nft_rule_drops_count_on_their_flow_as_netfilter_drops() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let mut dropped_total = 0;
    for (version, port) in [(IpVersion::V4, 6100), (IpVersion::V6, 6106)] {
        let server = SocketAddr::new(b.ip(version), port);
        let counter = format!("udp_{port}");
        let truth = count_flow(
            &a.ns,
            &b.ns,
            &format!("flow_{port}"),
            FlowMatch::Udp {
                client: a.ip(version),
                server,
            },
        );
        // Every other datagram (the first, third, ...) is dropped in the
        // server pod, after the truth counter saw it arrive.
        drop_incoming(
            &b.ns,
            &counter,
            &format!("udp dport {port} numgen inc mod 2 == 0"),
        );
        let client = send_datagrams(a.ns_name(), b.ns_name(), server, DATAGRAMS / 2);
        let dropped = read_counter(&b.ns, &counter).packets;
        assert_eq!(
            dropped,
            (DATAGRAMS / 2) as u64,
            "the rule dropped every other datagram"
        );
        dropped_total += dropped;

        let arrived = truth.read().tx.packets;
        let query = query_of(client, "udp");
        let flows = node
            .agent
            .wait_for_flows(&query, Duration::from_secs(10), |flows| {
                let flow = only_flow(flows)?;
                if flow.tx_packets == arrived && flow.drops == dropped {
                    Ok(())
                } else {
                    Err(format!(
                        "want {arrived} packets and {dropped} drops, have {} and {}",
                        flow.tx_packets, flow.drops
                    ))
                }
            });
        let flow = &flows[0];
        assert_eq!(
            flow.drop_reasons,
            [("NETFILTER_DROP".to_string(), dropped)].into(),
            "{version:?}: every drop has the netfilter reason"
        );
        assert_eq!((flow.src_ip, flow.dst_port), (a.ip(version), port));
        assert_eq!(flow.retransmits, 0);
    }

    let metric = eventually(
        Duration::from_secs(10),
        "netmon_drops_total counts the rules' drops",
        || {
            let value = node.agent.metrics().value_or_zero(
                "netmon_drops_total",
                &[("reason", "NETFILTER_DROP"), ("protocol", "udp")],
            );
            if value == dropped_total {
                Ok(value)
            } else {
                Err(format!("metric {value}, rules dropped {dropped_total}"))
            }
        },
    );
    assert_eq!(metric, dropped_total);
}

/// `TcpRetransSegs` of both pods' namespaces, which hold no socket but the
/// test's own.
fn retransmitted_segments(client: &Netns, server: &Netns) -> (u64, u64) {
    (
        client.snmp_counter("Tcp", "RetransSegs"),
        server.snmp_counter("Tcp", "RetransSegs"),
    )
}

#[test]
fn tcp_retransmissions_after_nft_losses_equal_the_kernels_retrans_segs() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let port = 7100;
    let server = SocketAddr::new(b.ip(IpVersion::V6), port);
    // The client loses the server's first SYN-ACK (a SYN-ACK retransmission,
    // which only tcp_retransmit_synack reports) and the server loses every
    // seventh data segment (data retransmissions, by fast retransmit, RACK or
    // timeout).
    drop_incoming(
        &a.ns,
        "lost_synack",
        &format!("tcp sport {port} tcp flags & (syn | ack) == syn | ack numgen inc mod 2 == 0"),
    );
    drop_incoming(
        &b.ns,
        "lost_data",
        &format!("tcp dport {port} meta length > 100 numgen inc mod 7 == 3"),
    );
    let before = retransmitted_segments(&a.ns, &b.ns);

    let ends = tcp_exchange(a.ns_name(), b.ns_name(), server, 300_000, 1_000);

    // Both sockets are closed and every FIN acknowledged: nothing more is
    // retransmitted. Read once quiet, so a last timer has fired.
    let after = eventually(
        Duration::from_secs(5),
        "retransmission counters settle",
        || {
            let first = retransmitted_segments(&a.ns, &b.ns);
            std::thread::sleep(Duration::from_millis(300));
            let second = retransmitted_segments(&a.ns, &b.ns);
            if first == second {
                Ok(second)
            } else {
                Err(format!("{first:?} then {second:?}"))
            }
        },
    );
    let (client_retransmits, server_retransmits) = (after.0 - before.0, after.1 - before.1);
    assert!(
        server_retransmits >= 1,
        "the lost SYN-ACK was sent again (the test's premise)"
    );
    assert!(
        client_retransmits >= 1,
        "lost data was sent again (the test's premise)"
    );
    let retransmits = client_retransmits + server_retransmits;
    let netfilter_drops =
        read_counter(&a.ns, "lost_synack").packets + read_counter(&b.ns, "lost_data").packets;
    eprintln!(
        "ground truth: {client_retransmits} segments retransmitted by the client, \
         {server_retransmits} by the server, {netfilter_drops} dropped by nftables"
    );

    let query = query_of(ends.client, "tcp");
    let flows = node
        .agent
        .wait_for_flows(&query, Duration::from_secs(10), |flows| {
            let flow = only_flow(flows)?;
            let dropped = flow
                .drop_reasons
                .get("NETFILTER_DROP")
                .copied()
                .unwrap_or(0);
            if flow.retransmits == retransmits && dropped == netfilter_drops {
                Ok(())
            } else {
                Err(format!(
                    "want {retransmits} retransmits ({client_retransmits} by the client, \
                     {server_retransmits} by the server) and {netfilter_drops} netfilter drops, \
                     have {} and {dropped}",
                    flow.retransmits
                ))
            }
        });
    assert_eq!(
        (flows[0].src_ip, flows[0].src_port),
        (ends.client.ip(), ends.client.port())
    );
}

const CLOSES: usize = 5;

/// One connection whose client closes first, with nothing left to read:
/// its socket is orphaned in FIN_WAIT2 when the server's FIN arrives, and
/// the kernel frees that FIN segment (no data, headers pulled) with reason
/// QUEUE_PURGE as it destroys the socket. Returns the client's address.
fn close_before_the_peer(
    client_ns: &str,
    listener: &TcpListener,
    server: SocketAddr,
) -> SocketAddr {
    let client = in_netns(client_ns, || TcpStream::connect(server)).expect("connect");
    let address = client.local_addr().expect("client address");
    let (mut accepted, _) = listener.accept().expect("accept");
    (&client).write_all(b"bye").expect("client write");
    drop(client);
    let mut received = Vec::new();
    accepted
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    accepted.read_to_end(&mut received).expect("server read");
    assert_eq!(received, b"bye", "the server read the request and the FIN");
    drop(accepted);
    address
}

#[test]
fn a_fin_reaching_a_closed_socket_is_no_drop_of_its_connection() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let server = SocketAddr::new(b.ip(IpVersion::V4), 6300);
    let listener = in_netns(b.ns_name(), || TcpListener::bind(server)).expect("listen");
    let purges_before = node
        .agent
        .metrics()
        .value_or_zero("netmon_kernel_empty_purges_total", &[]);
    let clients: Vec<SocketAddr> = (0..CLOSES)
        .map(|_| close_before_the_peer(a.ns_name(), &listener, server))
        .collect();

    for client in &clients {
        let query = query_of(*client, "tcp");
        node.agent
            .wait_for_flows(&query, Duration::from_secs(10), |flows| {
                let flow = only_flow(flows)?;
                if flow.status == "closed" && flow.tx_bytes > 0 {
                    Ok(())
                } else {
                    Err(format!(
                        "status {}, {} bytes sent",
                        flow.status, flow.tx_bytes
                    ))
                }
            });
    }
    // The premise: the kernel freed each connection's last FIN with
    // QUEUE_PURGE (the counter is machine-wide, so other tests' closes may
    // add to it; at least ours are there).
    let purges = eventually(
        Duration::from_secs(10),
        "each orphaned client socket purged the server's FIN",
        || {
            let now = node
                .agent
                .metrics()
                .value_or_zero("netmon_kernel_empty_purges_total", &[]);
            if now - purges_before >= CLOSES as u64 {
                Ok(now - purges_before)
            } else {
                Err(format!("{} purges since the start", now - purges_before))
            }
        },
    );
    eprintln!("{purges} empty QUEUE_PURGE frees during the test (machine-wide)");
    // Drops are drained with the packets of their interval or the next one
    // (flush_interval is 1 s): after two more, any would show.
    std::thread::sleep(Duration::from_secs(2));
    for client in &clients {
        let query = query_of(*client, "tcp");
        let flows = node.agent.flows(&query);
        let flow = only_flow(&flows).expect("one flow per connection");
        assert_eq!(
            (flow.drops, flow.drop_reasons.len()),
            (0, 0),
            "{client}: a FIN its closed socket never read is not a drop: {:?}",
            flow.drop_reasons
        );
    }
}

#[test]
fn switched_off_features_attach_nothing_and_count_nothing() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let config = AgentConfig {
        features_yaml: "  drops:\n    enabled: false\n  retransmits:\n    enabled: false\n".into(),
        ..AgentConfig::default()
    };
    let node = TestNode::start(config);
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let port = 6200;
    let server = SocketAddr::new(b.ip(IpVersion::V4), port);
    drop_incoming(
        &b.ns,
        "udp_off",
        &format!("udp dport {port} numgen inc mod 2 == 0"),
    );
    let client = send_datagrams(a.ns_name(), b.ns_name(), server, DATAGRAMS / 2);
    assert_eq!(
        read_counter(&b.ns, "udp_off").packets,
        (DATAGRAMS / 2) as u64
    );

    let query = query_of(client, "udp");
    node.agent
        .wait_for_flows(&query, Duration::from_secs(10), |flows| {
            let flow = only_flow(flows)?;
            if flow.tx_packets == DATAGRAMS as u64 {
                Ok(())
            } else {
                Err(format!("{} of {DATAGRAMS} packets", flow.tx_packets))
            }
        });
    // Drops are drained with the packets of their interval or the next one
    // (flush_interval is 1 s): after two more, any would show.
    std::thread::sleep(Duration::from_secs(2));
    let flows = node.agent.flows(&query);
    assert_eq!(flows.len(), 1);
    assert_eq!((flows[0].drops, flows[0].retransmits), (0, 0));
    let metrics = node.agent.metrics();
    assert!(
        !metrics
            .samples
            .iter()
            .any(|s| s.name == "netmon_drops_total"),
        "no drop series without the tracepoint"
    );
    let log = node.agent.log();
    for line in [
        "drop tracking is off (features.drops.enabled: false)",
        "TCP retransmission tracking is off (features.retransmits.enabled: false)",
    ] {
        assert!(log.contains(line), "log misses {line:?}:\n{log}");
    }
}
