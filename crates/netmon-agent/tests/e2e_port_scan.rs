//! End-to-end: scans made by a test pod are reported once per episode, with
//! exactly the figures of the scan the test made; a busy ordinary client is
//! not reported at all.
//!
//! The agent runs with a 3 s window, so that "quiet for a window" takes
//! seconds, and the default thresholds (more than 100 ports of one host,
//! more than 50 hosts).

mod support;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::json;
use support::agent::{Agent, AgentConfig, FlowQuery};
use support::in_netns::{in_netns, join, spawn_in_netns};
use support::netns::{IpVersion, Netns, Offloads, Topology};
use support::{eventually, missing_prerequisites, TestNode, TOPOLOGY_TOOLS};

const WINDOW: Duration = Duration::from_secs(3);
const DISTINCT_PORTS: u64 = 100;
const DISTINCT_HOSTS: u64 = 50;

/// The TCP tracepoint hands every agent the connections of every namespace
/// on the machine: a scan made by one of these tests would also reach the
/// agent of another running alongside it, and count there. So they run one
/// at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    // A failed test must not fail the others.
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

fn start_node() -> TestNode {
    let topology = Topology::build(&["a", "b"], Offloads::Off);
    let config = AgentConfig {
        features_yaml: format!(
            "  port_scan:\n    enabled: true\n    distinct_ports: {DISTINCT_PORTS}\n    \
             distinct_hosts: {DISTINCT_HOSTS}\n    window: {}s\n    max_sources: 1000\n",
            WINDOW.as_secs()
        ),
        ..AgentConfig::default()
    };
    let agent = Agent::start(topology.node(), config);
    TestNode { agent, topology }
}

/// The events whose source or scanned host is `ip`: this test's own. The
/// agent also hears of TCP connections in other tests' namespaces, so a
/// scan made there at the same time would be listed (and counted) too,
/// under its own addresses.
fn events_naming(agent: &Agent, ip: IpAddr) -> Vec<serde_json::Value> {
    agent.security_events(&format!("?ip={ip}"))
}

/// Waits until exactly `count` events name `ip`.
fn wait_for_events_naming(agent: &Agent, ip: IpAddr, count: usize) {
    eventually(
        Duration::from_secs(10),
        &format!("{count} events naming {ip}"),
        || match events_naming(agent, ip).len() {
            n if n == count => Ok(()),
            n => Err(format!("{n} events")),
        },
    );
}

/// Asserts that `netmon_security_events_total` counts exactly the listed
/// events of each type: with nothing else scanning on the machine, the
/// events of this test alone.
fn assert_metric_counts_every_listed_event(agent: &Agent) {
    let listed = agent.security_events("");
    let metrics = agent.metrics();
    for kind in ["port_scan", "host_scan"] {
        let count = listed.iter().filter(|e| e["type"] == kind).count() as f64;
        assert_eq!(
            metrics.value("netmon_security_events_total", &[("type", kind)]),
            Some(count),
            "netmon_security_events_total{{type={kind:?}}} vs the listed events: {listed:#?}"
        );
    }
}

/// Waits until the agent has completed two more drains than now: every
/// change of flows already visible in the API has then been published,
/// detection included (the table is updated before its changes are
/// published, so the API can show a flow a moment before that).
fn wait_for_two_drains(agent: &Agent) {
    let drains = || {
        agent
            .metrics()
            .value(
                "netmon_processing_duration_seconds_count",
                &[("stage", "merge")],
            )
            .unwrap_or(0.0)
    };
    let start = drains();
    eventually(Duration::from_secs(10), "two more drains", || {
        let now = drains();
        if now >= start + 2.0 {
            Ok(())
        } else {
            Err(format!("{now} drains, {start} before"))
        }
    });
}

/// Connects from `ns` to each port of `host` in turn; each must be refused
/// (nothing listens there).
fn connect_to_closed_ports(ns: &str, host: IpAddr, ports: &[u16]) {
    in_netns(ns, || {
        for &port in ports {
            let address = SocketAddr::new(host, port);
            match TcpStream::connect_timeout(&address, Duration::from_secs(5)) {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                other => panic!("expected {address} to refuse, got {other:?}"),
            }
        }
    });
}

/// Waits for exactly `count` refused TCP flows from `scanner`, one per port
/// of `ports`, and returns the earliest first packet and the latest last
/// packet among them.
fn wait_for_refused_flows(agent: &Agent, scanner: IpAddr, ports: &[u16]) -> (u64, u64) {
    let query = FlowQuery::new()
        .ip(scanner)
        .protocol("tcp")
        .status(&["refused"]);
    let flows = agent.wait_for_flows(&query, Duration::from_secs(15), |flows| {
        let mut seen: Vec<u16> = flows
            .iter()
            .filter(|f| f.src_ip == scanner)
            .map(|f| f.dst_port)
            .collect();
        seen.sort_unstable();
        if seen == ports {
            Ok(())
        } else {
            Err(format!(
                "{} of {} refused ports so far",
                seen.len(),
                ports.len()
            ))
        }
    });
    let first = flows.iter().map(|f| f.first_seen_ns).min().expect("flows");
    let last = flows.iter().map(|f| f.last_seen_ns).max().expect("flows");
    (first, last)
}

/// Reads the follow stream until a security line arrives.
fn next_security_line(follow: &mut support::agent::FollowStream) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut other = 0;
    while Instant::now() < deadline {
        if let Some(line) = follow.next_line(deadline - Instant::now()) {
            if line["event"] == "security" {
                return line;
            }
            other += 1;
        }
    }
    panic!("no security line on the follow stream within 15 s ({other} other lines)")
}

/// `event` without the time fields, which are checked against the flows.
fn figures(event: &serde_json::Value) -> serde_json::Value {
    let mut figures = event.clone();
    let object = figures.as_object_mut().expect("an object");
    for field in [
        "first_seen",
        "first_seen_ns",
        "detected_at",
        "detected_at_ns",
    ] {
        object.remove(field);
    }
    object.retain(|key, _| !key.starts_with("src_") && !key.starts_with("dst_"));
    object.insert("src_ip".into(), event["src_ip"].clone());
    object.insert("dst_ip".into(), event["dst_ip"].clone());
    figures
}

#[test]
fn a_busy_client_making_500_connections_to_5_ports_is_not_a_scan() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let node = start_node();
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let (client, server) = (a.ip(IpVersion::V4), b.ip(IpVersion::V4));
    let ports: Vec<u16> = (7001..=7005).collect();
    let servers: Vec<_> = ports
        .iter()
        .map(|&port| {
            let listener = in_netns(b.ns_name(), || TcpListener::bind((server, port)))
                .unwrap_or_else(|e| panic!("listen on {port}: {e}"));
            std::thread::spawn(move || {
                for _ in 0..100 {
                    let (mut stream, _) = listener.accept().expect("accept");
                    // Until the client's FIN, so the server closes second.
                    let _ = stream.read_to_end(&mut Vec::new());
                }
            })
        })
        .collect();
    let opens_before = a.ns.snmp_counter("Tcp", "ActiveOpens");
    let fails_before = a.ns.snmp_counter("Tcp", "AttemptFails");

    let connecting = spawn_in_netns(a.ns_name(), move || {
        for i in 0..500 {
            let address = SocketAddr::new(server, 7001 + (i % 5) as u16);
            let stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("connect {i} to {address}: {e}"));
            drop(stream);
        }
    });
    join(connecting);
    for server in servers {
        server.join().expect("server thread");
    }
    assert_eq!(
        a.ns.snmp_counter("Tcp", "ActiveOpens") - opens_before,
        500,
        "the client opened 500 connections"
    );
    assert_eq!(a.ns.snmp_counter("Tcp", "AttemptFails") - fails_before, 0);

    let query = FlowQuery::new().ip(client).protocol("tcp");
    node.agent
        .wait_for_flows(&query, Duration::from_secs(15), |flows| {
            let per_port: Vec<usize> = ports
                .iter()
                .map(|&p| {
                    flows
                        .iter()
                        .filter(|f| f.src_ip == client && f.dst_port == p)
                        .count()
                })
                .collect();
            if per_port == [100; 5] {
                Ok(())
            } else {
                Err(format!("connections per port so far: {per_port:?}"))
            }
        });
    wait_for_two_drains(&node.agent);

    for end in [client, server] {
        assert_eq!(
            events_naming(&node.agent, end),
            Vec::<serde_json::Value>::new()
        );
    }
    // Both series at 0, unless another test scanned at the same time.
    assert_metric_counts_every_listed_event(&node.agent);
}

#[test]
fn a_scan_of_200_closed_ports_is_reported_once_naming_the_scanner_and_101_ports() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let node = start_node();
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let (scanner, target) = (a.ip(IpVersion::V4), b.ip(IpVersion::V4));
    let mut follow = node.agent.follow(&FlowQuery::new().ip(scanner));
    let fails_before = a.ns.snmp_counter("Tcp", "AttemptFails");
    let resets_before = b.ns.snmp_counter("Tcp", "OutRsts");

    let ports: Vec<u16> = (20_001..=20_200).collect();
    connect_to_closed_ports(a.ns_name(), target, &ports);
    assert_eq!(a.ns.snmp_counter("Tcp", "AttemptFails") - fails_before, 200);
    assert_eq!(b.ns.snmp_counter("Tcp", "OutRsts") - resets_before, 200);
    let (first_packet, last_packet) = wait_for_refused_flows(&node.agent, scanner, &ports);

    let line = next_security_line(&mut follow);
    wait_for_two_drains(&node.agent);
    let events = events_naming(&node.agent, scanner);
    assert_eq!(events.len(), 1, "one scan, one event: {events:#?}");
    let event = &events[0];
    assert_eq!(
        figures(event),
        json!({
            "id": event["id"],
            "type": "port_scan",
            "src_ip": scanner.to_string(),
            "dst_ip": target.to_string(),
            // The 101st distinct port crossed the threshold of 100.
            "distinct_ports": DISTINCT_PORTS + 1,
            "distinct_hosts": 1,
            "threshold": DISTINCT_PORTS,
            "window_s": WINDOW.as_secs_f64(),
        })
    );
    let (began, detected) = (
        event["first_seen_ns"].as_u64().unwrap(),
        event["detected_at_ns"].as_u64().unwrap(),
    );
    assert!(
        first_packet <= began && began < detected && detected <= last_packet,
        "the scan began and was detected within its connections' packets: \
         {first_packet} <= {began} < {detected} <= {last_packet}"
    );
    let mut streamed = line.clone();
    streamed.as_object_mut().unwrap().remove("event");
    assert_eq!(&streamed, event, "the follow line is the listed event");
    // 1 port_scan and 0 host_scan, unless another test scanned meanwhile.
    assert_metric_counts_every_listed_event(&node.agent);
}

#[test]
fn a_scan_after_a_quiet_window_is_a_new_episode_and_reported_again() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let node = start_node();
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let (scanner, target) = (a.ip(IpVersion::V4), b.ip(IpVersion::V4));

    let first: Vec<u16> = (30_001..=30_150).collect();
    connect_to_closed_ports(a.ns_name(), target, &first);
    let (_, first_ended) = wait_for_refused_flows(&node.agent, scanner, &first);
    wait_for_events_naming(&node.agent, scanner, 1);

    // Quiet for longer than the window, then scan other ports.
    std::thread::sleep(WINDOW + Duration::from_millis(500));
    let second: Vec<u16> = (31_001..=31_150).collect();
    connect_to_closed_ports(a.ns_name(), target, &second);
    let all: Vec<u16> = first.iter().chain(&second).copied().collect();
    wait_for_refused_flows(&node.agent, scanner, &all);
    wait_for_events_naming(&node.agent, scanner, 2);
    wait_for_two_drains(&node.agent);

    let events = events_naming(&node.agent, scanner);
    assert_eq!(events.len(), 2, "{events:#?}");
    for event in &events {
        assert_eq!(
            (&event["type"], &event["src_ip"], &event["distinct_ports"]),
            (
                &json!("port_scan"),
                &json!(scanner.to_string()),
                &json!(DISTINCT_PORTS + 1)
            )
        );
    }
    let second_began = events[1]["first_seen_ns"].as_u64().unwrap();
    assert!(
        second_began >= first_ended + WINDOW.as_nanos() as u64,
        "the second episode began after a whole quiet window"
    );
    // 2 port_scan, unless another test scanned meanwhile.
    assert_metric_counts_every_listed_event(&node.agent);
}

#[test]
fn a_udp_sweep_of_60_hosts_is_one_host_scan_and_no_port_scan() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let _serial = one_at_a_time();
    let node = start_node();
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let scanner = a.ip(IpVersion::V4);
    // 64 addresses nobody uses in this topology's /24, routed by the node to
    // pod b, which takes them all as its own (a local route), like 60
    // hosts behind it.
    let IpAddr::V4(b_ip) = b.ip(IpVersion::V4) else {
        unreachable!()
    };
    let [net, r, third, _] = b_ip.octets();
    let prefix = format!("{net}.{r}.{third}.128/26");
    node.topology
        .node()
        .ip(&["route", "add", &prefix, "via", &b_ip.to_string()]);
    b.ns.ip(&["route", "add", "local", &prefix, "dev", "lo"]);
    let hosts: Vec<IpAddr> = (129..=188)
        .map(|last| IpAddr::V4(Ipv4Addr::new(net, r, third, last)))
        .collect();
    let sent_before = a.ns.snmp_counter("Udp", "OutDatagrams");
    let unanswered_before = b.ns.snmp_counter("Udp", "NoPorts");

    send_one_datagram_to_each(&a.ns, &hosts, 9);
    assert_eq!(a.ns.snmp_counter("Udp", "OutDatagrams") - sent_before, 60);
    eventually(Duration::from_secs(5), "b received all 60", || {
        match b.ns.snmp_counter("Udp", "NoPorts") - unanswered_before {
            60 => Ok(()),
            n => Err(format!("{n} datagrams")),
        }
    });

    let query = FlowQuery::new().ip(scanner).protocol("udp");
    let flows = node
        .agent
        .wait_for_flows(&query, Duration::from_secs(15), |flows| {
            match flows.iter().filter(|f| f.src_ip == scanner).count() {
                60 => Ok(()),
                n => Err(format!("{n} UDP flows from the scanner")),
            }
        });
    let mut reached: Vec<IpAddr> = flows.iter().map(|f| f.dst_ip).collect();
    reached.sort();
    assert_eq!(reached, hosts, "one flow per host");
    wait_for_events_naming(&node.agent, scanner, 1);
    wait_for_two_drains(&node.agent);

    let events = events_naming(&node.agent, scanner);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(
        figures(&events[0]),
        json!({
            "id": events[0]["id"],
            "type": "host_scan",
            "src_ip": scanner.to_string(),
            "dst_ip": null,
            "distinct_ports": 1,
            "distinct_hosts": DISTINCT_HOSTS + 1,
            "threshold": DISTINCT_HOSTS,
            "window_s": WINDOW.as_secs_f64(),
        })
    );
    // 1 host_scan and 0 port_scan, unless another test scanned meanwhile.
    assert_metric_counts_every_listed_event(&node.agent);
}

/// One datagram from one socket in `ns` to `port` of each host, 1 ms apart
/// so that the receiving pod's backlog never overflows.
fn send_one_datagram_to_each(ns: &Netns, hosts: &[IpAddr], port: u16) {
    in_netns(ns.name(), || {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
        for host in hosts {
            socket
                .send_to(b"probe", SocketAddr::new(*host, port))
                .unwrap_or_else(|e| panic!("send to {host}: {e}"));
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}
