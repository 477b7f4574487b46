//! End-to-end: `netmon-cli flows dump` and `flows observe` against the real
//! agent in a node namespace, with traffic between pods `a` and `b` whose
//! every byte nftables counted. Each check selects the test's own flows by
//! pod `a`'s address (topologies get subnets of their own), and asserts
//! exactly which flows come back and with exactly which counts.

#[path = "../../netmon-agent/tests/support/mod.rs"]
mod support;

mod cli_support;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::Value;

use cli_support::{parse_csv, run, RunningCli};
use support::agent::{AgentConfig, FlowQuery};
use support::netns::IpVersion;
use support::nft::{count_flow, FlowMatch};
use support::traffic::{tcp_exchange, udp_echo};
use support::{eventually, missing_prerequisites, FlowCounts, TestNode, TOPOLOGY_TOOLS};

const FIRST_TCP_PORT: u16 = 5101;
const SECOND_TCP_PORT: u16 = 5102;
const UDP_PORT: u16 = 6103;

/// One flow the test made, as the agent must report it.
#[derive(Debug, Clone, Copy)]
struct KnownFlow {
    protocol: &'static str,
    client: SocketAddr,
    server: SocketAddr,
    counts: FlowCounts,
}

/// Two TCP connections on different ports and one UDP exchange from `a` to
/// `b`, each counted by nftables and waited for until the agent reports
/// exactly those counts.
struct KnownTraffic {
    client_ip: IpAddr,
    server_ip: IpAddr,
    first_tcp: KnownFlow,
    second_tcp: KnownFlow,
    udp: KnownFlow,
}

fn make_known_traffic(node: &TestNode) -> KnownTraffic {
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let (client_ip, server_ip) = (a.ip(IpVersion::V4), b.ip(IpVersion::V4));
    let tcp = |port: u16, name: &str, request: usize, response: usize| {
        let server = SocketAddr::new(server_ip, port);
        let truth = count_flow(
            &a.ns,
            &b.ns,
            name,
            FlowMatch::Tcp {
                client: client_ip,
                server,
            },
        );
        let ends = tcp_exchange(a.ns_name(), b.ns_name(), server, request, response);
        let counts = truth.read_when_quiet().link_layer();
        let query = FlowQuery::new().ip(client_ip).port(port).protocol("tcp");
        node.agent.wait_for_flow_with(&query, "closed", counts);
        KnownFlow {
            protocol: "tcp",
            client: ends.client,
            server,
            counts,
        }
    };
    let first_tcp = tcp(FIRST_TCP_PORT, "first", 100_000, 30_000);
    let second_tcp = tcp(SECOND_TCP_PORT, "second", 2_000, 50_000);

    let server = SocketAddr::new(server_ip, UDP_PORT);
    let truth = count_flow(
        &a.ns,
        &b.ns,
        "udp",
        FlowMatch::Udp {
            client: client_ip,
            server,
        },
    );
    let ends = udp_echo(a.ns_name(), b.ns_name(), server, 5, 300);
    let counts = truth.read_when_quiet().link_layer();
    let query = FlowQuery::new()
        .ip(client_ip)
        .port(UDP_PORT)
        .protocol("udp");
    node.agent.wait_for_flow_with(&query, "active", counts);
    let udp = KnownFlow {
        protocol: "udp",
        client: ends.client,
        server,
        counts,
    };
    KnownTraffic {
        client_ip,
        server_ip,
        first_tcp,
        second_tcp,
        udp,
    }
}

/// A UDP flow stays active this long without packets: longer than the test.
fn agent_config() -> AgentConfig {
    AgentConfig::default().with_flow_timeout(Duration::from_secs(300))
}

fn counts_of(flow: &Value) -> FlowCounts {
    let number = |key: &str| {
        flow[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} is not a number in {flow}"))
    };
    FlowCounts {
        tx_bytes: number("tx_bytes"),
        tx_packets: number("tx_packets"),
        rx_bytes: number("rx_bytes"),
        rx_packets: number("rx_packets"),
    }
}

/// Every flow `flows dump <args> -o json` prints.
fn dumped(node: &TestNode, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["flows", "dump"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    run(node, &full)
        .expect_success(&format!("netmon-cli {}", full.join(" ")))
        .json_lines()
}

fn keys(flows: &[Value]) -> BTreeSet<(String, u64)> {
    flows
        .iter()
        .map(|f| {
            (
                f["protocol"].as_str().unwrap_or_default().to_owned(),
                f["dst_port"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

fn key(protocol: &str, port: u16) -> (String, u64) {
    (protocol.to_owned(), u64::from(port))
}

/// The flow `expected` describes, exactly: its ends, protocol and counts.
fn assert_is(flow: &Value, expected: &KnownFlow) {
    assert_eq!(
        (
            flow["src_ip"].as_str(),
            flow["src_port"].as_u64(),
            flow["dst_ip"].as_str(),
            flow["dst_port"].as_u64(),
            flow["protocol"].as_str(),
        ),
        (
            Some(expected.client.ip().to_string().as_str()),
            Some(u64::from(expected.client.port())),
            Some(expected.server.ip().to_string().as_str()),
            Some(u64::from(expected.server.port())),
            Some(expected.protocol),
        ),
        "{flow}"
    );
    assert_eq!(counts_of(flow), expected.counts, "{flow}");
}

#[test]
fn dump_filters_select_exactly_the_expected_flows_with_exact_counts() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(agent_config());
    let traffic = make_known_traffic(&node);
    let client = traffic.client_ip.to_string();
    let server = traffic.server_ip.to_string();
    let first_port = FIRST_TCP_PORT.to_string();

    let all = dumped(&node, &["--ip", &client]);
    assert_eq!(
        keys(&all),
        BTreeSet::from([
            key("tcp", FIRST_TCP_PORT),
            key("tcp", SECOND_TCP_PORT),
            key("udp", UDP_PORT)
        ]),
        "every flow of pod a, and nothing else: {all:#?}"
    );

    let first = dumped(&node, &["--ip", &client, "--port", &first_port]);
    assert_eq!(first.len(), 1, "{first:#?}");
    assert_is(&first[0], &traffic.first_tcp);
    assert_eq!(first[0]["status"], "closed");

    let others = dumped(&node, &["--ip", &client, "--not", "--port", &first_port]);
    assert_eq!(
        keys(&others),
        BTreeSet::from([key("tcp", SECOND_TCP_PORT), key("udp", UDP_PORT)]),
        "{others:#?}"
    );
    for flow in &others {
        let expected = match flow["protocol"].as_str() {
            Some("udp") => &traffic.udp,
            _ => &traffic.second_tcp,
        };
        assert_is(flow, expected);
    }

    // Direction: a initiated every flow, b answered.
    assert_eq!(
        dumped(&node, &["--from-ip", &client, "--port", &first_port]).len(),
        1
    );
    assert_eq!(
        dumped(&node, &["--to-ip", &server, "--to-port", &first_port]).len(),
        1
    );
    assert_eq!(
        dumped(&node, &["--from-ip", &server, "--port", &first_port]).len(),
        0
    );
    assert_eq!(
        dumped(&node, &["--to-ip", &client, "--port", &first_port]).len(),
        0
    );
    assert_eq!(
        dumped(&node, &["--from-ip", &client, "--from-port", &first_port]).len(),
        0,
        "the client's port is an ephemeral one, not the server's"
    );

    assert_eq!(
        keys(&dumped(&node, &["--ip", &client, "--protocol", "udp"])),
        BTreeSet::from([key("udp", UDP_PORT)])
    );
    assert_eq!(
        keys(&dumped(
            &node,
            &["--ip", &client, "--not", "--protocol", "udp"]
        )),
        BTreeSet::from([key("tcp", FIRST_TCP_PORT), key("tcp", SECOND_TCP_PORT)])
    );
    assert_eq!(
        keys(&dumped(&node, &["--ip", &client, "--status", "active"])),
        BTreeSet::from([key("udp", UDP_PORT)])
    );
    assert_eq!(
        dumped(
            &node,
            &["--ip", &client, "--status", "active", "--status", "closed"]
        )
        .len(),
        3,
        "repeated statuses are any of them"
    );
    let newest = dumped(&node, &["--ip", &client, "--last", "1"]);
    assert_eq!(
        keys(&newest),
        BTreeSet::from([key("udp", UDP_PORT)]),
        "the UDP flow started last"
    );
}

#[test]
fn dump_prints_csv_table_and_compact_forms_of_the_same_flow() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(agent_config());
    let traffic = make_known_traffic(&node);
    let client = traffic.client_ip.to_string();
    let first = traffic.first_tcp;

    let csv = run(&node, &["flows", "dump", "--ip", &client, "-o", "csv"]).expect_success("csv");
    let records = parse_csv(&csv.stdout);
    let header = "id,first_seen,last_seen,src_ip,src_port,dst_ip,dst_port,protocol,direction,\
                  interface,status,tx_bytes,rx_bytes,tx_packets,rx_packets,connect_latency_us,\
                  rtt_mean_us,retransmits,drops,app_protocol,src_pod,src_namespace,src_workload,\
                  dst_pod,dst_namespace,dst_workload,dst_service,dst_dns_name";
    assert_eq!(records[0], header.split(',').collect::<Vec<_>>());
    assert_eq!(records.len(), 4, "a header and three flows: {records:#?}");
    assert!(records.iter().all(|r| r.len() == 28), "{records:#?}");
    let column = |name: &str| records[0].iter().position(|h| h == name).expect("column");
    let row = records
        .iter()
        .find(|r| r[column("dst_port")] == FIRST_TCP_PORT.to_string())
        .expect("the first connection's row");
    assert_eq!(
        [
            &row[column("src_ip")],
            &row[column("src_port")],
            &row[column("protocol")],
            &row[column("status")],
            &row[column("tx_bytes")],
            &row[column("rx_bytes")],
            &row[column("tx_packets")],
            &row[column("rx_packets")],
        ],
        [
            &client,
            &first.client.port().to_string(),
            "tcp",
            "closed",
            &first.counts.tx_bytes.to_string(),
            &first.counts.rx_bytes.to_string(),
            &first.counts.tx_packets.to_string(),
            &first.counts.rx_packets.to_string(),
        ]
    );

    let port = FIRST_TCP_PORT.to_string();
    let table =
        run(&node, &["flows", "dump", "--ip", &client, "--port", &port]).expect_success("table");
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one row:\n{}", table.stdout);
    assert!(lines[0].starts_with("SRC "), "{}", lines[0]);
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        cells[..4],
        [
            first.client.to_string().as_str(),
            first.server.to_string().as_str(),
            "tcp",
            "closed"
        ],
        "{}",
        lines[1]
    );

    let compact = run(
        &node,
        &[
            "flows", "dump", "--ip", &client, "--port", &port, "-o", "compact",
        ],
    )
    .expect_success("compact");
    let expected_middle = format!("  {} -> {}  tcp  closed  tx ", first.client, first.server);
    assert_eq!(compact.stdout.lines().count(), 1, "{}", compact.stdout);
    assert!(
        compact.stdout.contains(&expected_middle),
        "{}",
        compact.stdout
    );
}

#[test]
fn misused_filter_flags_are_usage_errors_with_exit_status_2() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(agent_config());
    let cases: [(&[&str], &str); 4] = [
        (
            &["flows", "dump", "--port", "80", "--not"],
            "netmon-cli: --not must be followed by a filter flag (e.g. --not --port 53)\n",
        ),
        (
            &["flows", "dump", "--port", "80", "--port", "443"],
            "netmon-cli: --port: given twice (\"80\" and \"443\"); the agent matches one value per filter, so give it once\n",
        ),
        (
            &["flows", "dump", "--from-ip", "10.0.0"],
            "netmon-cli: --from-ip: \"10.0.0\" is not an IPv4 or IPv6 address\n",
        ),
        (
            &["flows", "observe", "--status", "open"],
            "netmon-cli: the agent does not accept the filters: status: \"open\" is not a flow status (active, closed, reset, refused, timeout; comma-separated for several)\n",
        ),
    ];
    for (args, stderr) in cases {
        let result = run(&node, args);
        assert_eq!(
            (
                result.code(),
                result.stdout.as_str(),
                result.stderr.as_str()
            ),
            (Some(2), "", stderr),
            "netmon-cli {}",
            args.join(" ")
        );
    }
}

#[test]
fn observe_follow_started_before_a_connection_delivers_it_line_by_line() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(agent_config());
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let (client_ip, server) = (
        a.ip(IpVersion::V4),
        SocketAddr::new(b.ip(IpVersion::V4), 5201),
    );
    let (client, port) = (client_ip.to_string(), server.port().to_string());
    let follow_args = [
        "flows", "observe", "--follow", "--ip", &client, "--port", &port, "-o", "json",
    ];

    let follower = RunningCli::spawn(&node, &follow_args);
    wait_for_follow_subscribers(&node, 1);
    let truth = count_flow(
        &a.ns,
        &b.ns,
        "follow",
        FlowMatch::Tcp {
            client: client_ip,
            server,
        },
    );
    let ends = tcp_exchange(a.ns_name(), b.ns_name(), server, 40_000, 8_000);
    let expected = truth.read_when_quiet().link_layer();

    // Events carry the flow's counts as they grow; the last ones have all
    // of the connection's packets.
    let line = follower.wait_for_line(
        Duration::from_secs(15),
        "with the connection's exact counts",
        |line| {
            let event: Value = serde_json::from_str(line).expect("a JSON line");
            event["src_port"].as_u64() == Some(u64::from(ends.client.port()))
                && counts_of(&event) == expected
        },
    );
    let event: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(
        (
            event["dst_ip"].as_str(),
            event["dst_port"].as_u64(),
            event["protocol"].as_str()
        ),
        (
            Some(server.ip().to_string().as_str()),
            Some(5201),
            Some("tcp")
        )
    );
    assert!(
        event["event"].is_string(),
        "a stream line names its event: {event}"
    );
    let (status, stderr) = follower.stop_with(libc::SIGINT, Duration::from_secs(5));
    assert_eq!(
        status.code(),
        Some(0),
        "Ctrl-C ends a follow normally; stderr: {stderr}"
    );

    let listed = run(
        &node,
        &[
            "flows", "observe", "--ip", &client, "--port", &port, "-o", "json",
        ],
    )
    .expect_success("observe without --follow");
    let flows = listed.json_lines();
    assert_eq!(flows.len(), 1, "{}", listed.stdout);
    assert_eq!(counts_of(&flows[0]), expected);

    // A reader that stops reading (`| head -1`) ends the follow with exit 0.
    let mut head = RunningCli::spawn(&node, &follow_args);
    let snapshot = head.next_line(Duration::from_secs(10));
    assert!(
        snapshot.is_some(),
        "the follow first lists the existing flow"
    );
    head.close_stdout();
    tcp_exchange(a.ns_name(), b.ns_name(), server, 1_000, 1_000);
    let (status, stderr) = head.wait(Duration::from_secs(10));
    assert_eq!(
        (status.code(), stderr.as_str()),
        (Some(0), ""),
        "a closed stdout ends the follow quietly"
    );
}

/// Waits until the agent has `count` follow streams open: from then on
/// every new event reaches the followers.
fn wait_for_follow_subscribers(node: &TestNode, count: u64) {
    eventually(Duration::from_secs(10), "the follow stream is open", || {
        let runtime = node.agent.api_json("/debug/runtime");
        match runtime["follow_subscribers"].as_u64() {
            Some(n) if n >= count => Ok(()),
            other => Err(format!("follow_subscribers is {other:?}")),
        }
    });
}
