//! End-to-end: DNS decoded from the data path. A real resolver (dnsmasq)
//! in one pod answers a real client (dig) in another; the agent in the node
//! namespace sees the exchange on the pods' veths and must count every
//! transaction by rcode and type exactly as dig reported it, with a latency
//! no longer than that dig run took, and name the addresses it resolved.
//!
//! Each dig run sends from a source port the test chose, so every query is
//! its own flow and the test knows which flow is which query's.

mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use support::agent::{Agent, AgentConfig, Flow, FlowQuery};
use support::apps::{dig, dnsmasq, DigResult, DNS_TOOLS};
use support::netns::{IpVersion, Offloads, Pod, Topology};
use support::traffic::tcp_exchange;
use support::{eventually, missing_prerequisites, TestNode, TOPOLOGY_TOOLS};

const NAME: &str = "svc.netmon.test";
const MISSING: &str = "missing.netmon.test";

fn prerequisites_missing() -> bool {
    let mut tools = TOPOLOGY_TOOLS.to_vec();
    tools.extend(DNS_TOOLS);
    missing_prerequisites(&tools)
}

/// Pods a (the client), b (the resolver) and c (the address the name
/// resolves to), with the agent in the node namespace.
fn start_node(config: AgentConfig) -> TestNode {
    let topology = Topology::build(&["a", "b", "c"], Offloads::Off);
    let agent = Agent::start(topology.node(), config);
    TestNode { agent, topology }
}

/// One query of a test: name, type, over TCP, and the source port dig
/// sends it from.
type Query = (&'static str, &'static str, bool, u16);

/// Three A queries for a name that exists, two for one that does not, one
/// AAAA query and one A query over TCP: seven transactions, each a dig run
/// of its own, so each its own flow.
const QUERIES: [Query; 7] = [
    (NAME, "A", false, 40001),
    (NAME, "A", false, 40002),
    (NAME, "A", false, 40003),
    (MISSING, "A", false, 40004),
    (MISSING, "A", false, 40005),
    (NAME, "AAAA", false, 40006),
    (NAME, "A", true, 40007),
];

/// Runs [`QUERIES`] from `client` against `resolver`.
fn ask_all(client: &Pod, resolver: IpAddr) -> Vec<(Query, DigResult)> {
    QUERIES
        .iter()
        .map(|&query| {
            let (name, qtype, tcp, port) = query;
            (query, dig(client, resolver, name, qtype, tcp, port))
        })
        .collect()
}

/// The `dns` object of a flow: (name, type, rcode, latency).
fn dns_of(flow: &Flow) -> Option<(String, String, String, Option<f64>)> {
    let dns = flow.dns.as_ref()?;
    Some((
        dns.name.clone(),
        dns.qtype.clone(),
        dns.rcode.clone(),
        dns.latency_seconds,
    ))
}

/// The flows of `client`'s queries to `resolver`, by source port, once
/// there is one per query and each passes `ready`.
fn query_flows(
    agent: &Agent,
    client: IpAddr,
    resolver: IpAddr,
    ready: impl Fn(&Flow) -> bool,
) -> BTreeMap<u16, Flow> {
    let query = FlowQuery::new().ip(client).port(53);
    let ports: Vec<u16> = QUERIES.iter().map(|q| q.3).collect();
    let flows = agent.wait_for_flows(&query, Duration::from_secs(15), |flows| {
        let ours: Vec<&Flow> = flows
            .iter()
            .filter(|f| f.src_ip == client && f.dst_ip == resolver && f.dst_port == 53)
            .collect();
        let mut seen: Vec<u16> = ours.iter().map(|f| f.src_port).collect();
        seen.sort_unstable();
        if seen != ports {
            return Err(format!("flows from ports {seen:?}, expected {ports:?}"));
        }
        match ours.iter().filter(|f| !ready(f)).count() {
            0 => Ok(()),
            n => Err(format!("{n} flows not ready yet")),
        }
    });
    flows
        .into_iter()
        .filter(|f| f.src_ip == client && f.dst_ip == resolver && f.dst_port == 53)
        .map(|f| (f.src_port, f))
        .collect()
}

#[test]
fn every_dns_transaction_is_counted_by_rcode_and_type_with_its_name_and_latency() {
    if prerequisites_missing() {
        return;
    }
    let node = start_node(AgentConfig::default());
    let (a, b, c) = (
        node.topology.pod("a"),
        node.topology.pod("b"),
        node.topology.pod("c"),
    );
    let (client, resolver) = (a.ip(IpVersion::V4), b.ip(IpVersion::V4));
    let target = [c.ip(IpVersion::V4), c.ip(IpVersion::V6)];
    let _dnsmasq = dnsmasq(b, resolver, &[(NAME, &target)]);

    let results = ask_all(a, resolver);
    // The ground truth is what the resolver told dig.
    let mut expected: BTreeMap<(String, String), u64> = BTreeMap::new();
    for ((_, qtype, _, _), result) in &results {
        *expected
            .entry((result.status.clone(), qtype.to_string()))
            .or_default() += 1;
    }
    assert_eq!(
        expected,
        BTreeMap::from([
            (("NOERROR".into(), "A".into()), 4),
            (("NXDOMAIN".into(), "A".into()), 2),
            (("NOERROR".into(), "AAAA".into()), 1),
        ]),
        "dnsmasq answered differently than this test expects: {results:#?}"
    );
    for ((name, qtype, _, _), result) in &results {
        let wanted: Vec<String> = match (*name, *qtype) {
            (NAME, "A") => vec![target[0].to_string()],
            (NAME, "AAAA") => vec![target[1].to_string()],
            _ => Vec::new(),
        };
        assert_eq!(result.answers, wanted, "answers to {name} {qtype}");
    }

    eventually(Duration::from_secs(10), "DNS metrics", || {
        let metrics = node.agent.metrics();
        let counted: BTreeMap<(String, String), u64> = metrics
            .series("netmon_dns_requests_total")
            .into_iter()
            .filter(|s| s.value > 0.0)
            .map(|s| {
                let label = |k: &str| s.labels.get(k).cloned().unwrap_or_default();
                ((label("rcode"), label("qtype")), s.value as u64)
            })
            .collect();
        if counted != expected {
            return Err(format!("netmon_dns_requests_total: {counted:?}"));
        }
        let observed = metrics.value_or_zero("netmon_dns_latency_seconds_count", &[]);
        if observed != QUERIES.len() as u64 {
            return Err(format!("{observed} latency observations"));
        }
        Ok(())
    });
    let metrics = node.agent.metrics();
    let latency_sum = metrics
        .value("netmon_dns_latency_seconds_sum", &[])
        .expect("netmon_dns_latency_seconds_sum");
    let dig_time: f64 = results.iter().map(|(_, r)| r.took.as_secs_f64()).sum();
    assert!(
        latency_sum > 0.0 && latency_sum <= dig_time,
        "latency sum {latency_sum} s is not within (0, {dig_time}], the dig runs' time"
    );

    let flows = query_flows(&node.agent, client, resolver, |f| f.dns.is_some());
    for ((name, qtype, tcp, port), result) in &results {
        let flow = &flows[port];
        let (seen_name, seen_type, rcode, latency) = dns_of(flow).expect("ready");
        assert_eq!(
            (seen_name.as_str(), seen_type.as_str(), rcode.as_str()),
            (*name, *qtype, result.status.as_str()),
            "the DNS transaction of the query from port {port}: {flow:#?}"
        );
        let latency = latency.expect("the query was seen, so the latency was measured");
        assert!(
            latency > 0.0 && latency <= result.took.as_secs_f64(),
            "latency {latency} s of {name} {qtype} is not within (0, {:?}], its dig run",
            result.took
        );
        assert_eq!(flow.protocol, if *tcp { "tcp" } else { "udp" });
        assert_eq!(flow.dns_transactions, Some(1), "{flow:#?}");
        assert_eq!(flow.app_protocol.as_deref(), Some("dns"), "{flow:#?}");
    }
    node.agent.stop_and_expect_clean_exit();
}

/// The flow from `client` to `to`, once it is closed and two more drains
/// have passed (any finding about it has then been applied).
fn settled_flow(agent: &Agent, client: IpAddr, to: SocketAddr) -> Flow {
    let query = FlowQuery::new().ip(to.ip()).port(to.port()).protocol("tcp");
    let wanted = |f: &Flow| f.src_ip == client && f.dst_ip == to.ip() && f.dst_port == to.port();
    agent.wait_for_flows(&query, Duration::from_secs(15), |flows| {
        match flows.iter().filter(|f| wanted(f)).collect::<Vec<_>>()[..] {
            [flow] if flow.status == "closed" => Ok(()),
            [flow] => Err(format!("status {}", flow.status)),
            ref other => Err(format!("{} flows", other.len())),
        }
    });
    agent.wait_for_drains(2);
    agent
        .flows(&query)
        .into_iter()
        .find(wanted)
        .expect("the flow is still listed")
}

#[test]
fn a_connection_to_an_address_the_node_resolved_carries_the_name() {
    if prerequisites_missing() {
        return;
    }
    let node = start_node(AgentConfig::default());
    let (a, b, c) = (
        node.topology.pod("a"),
        node.topology.pod("b"),
        node.topology.pod("c"),
    );
    let resolver = b.ip(IpVersion::V4);
    let target = [c.ip(IpVersion::V4), c.ip(IpVersion::V6)];
    let _dnsmasq = dnsmasq(b, resolver, &[(NAME, &target)]);
    let answer = dig(a, resolver, NAME, "A", false, 40001);
    assert_eq!(answer.answers, vec![target[0].to_string()]);
    let answer = dig(a, resolver, NAME, "AAAA", false, 40002);
    assert_eq!(answer.answers, vec![target[1].to_string()]);

    // The client connects to the addresses the answers gave it, over IPv4
    // and IPv6, and to b, whose address was never in an answer.
    let resolved_v4 = SocketAddr::new(target[0], 5001);
    let resolved_v6 = SocketAddr::new(target[1], 5001);
    let unresolved = SocketAddr::new(b.ip(IpVersion::V4), 5002);
    tcp_exchange(a.ns_name(), c.ns_name(), resolved_v4, 1_000, 1_000);
    tcp_exchange(a.ns_name(), c.ns_name(), resolved_v6, 1_000, 1_000);
    tcp_exchange(a.ns_name(), b.ns_name(), unresolved, 1_000, 1_000);

    for (to, client) in [
        (resolved_v4, a.ip(IpVersion::V4)),
        (resolved_v6, a.ip(IpVersion::V6)),
    ] {
        let flow = settled_flow(&node.agent, client, to);
        assert_eq!(
            flow.dst_dns_name.as_deref(),
            Some(NAME),
            "the flow to {to}: {flow:#?}"
        );
    }
    let flow = settled_flow(&node.agent, a.ip(IpVersion::V4), unresolved);
    assert_eq!(
        flow.dst_dns_name, None,
        "the flow to {unresolved}: {flow:#?}"
    );
    node.agent.stop_and_expect_clean_exit();
}

#[test]
fn with_dns_off_nothing_of_port_53_is_decoded() {
    if prerequisites_missing() {
        return;
    }
    let config = AgentConfig {
        features_yaml: "  dns:\n    enabled: false\n".into(),
        ..AgentConfig::default()
    };
    let node = start_node(config);
    let (a, b, c) = (
        node.topology.pod("a"),
        node.topology.pod("b"),
        node.topology.pod("c"),
    );
    let (client, resolver) = (a.ip(IpVersion::V4), b.ip(IpVersion::V4));
    let target = [c.ip(IpVersion::V4), c.ip(IpVersion::V6)];
    let _dnsmasq = dnsmasq(b, resolver, &[(NAME, &target)]);
    let results = ask_all(a, resolver);
    assert_eq!(results[0].1.status, "NOERROR");
    assert_eq!(results[3].1.status, "NXDOMAIN");

    // Protocol detection still runs and recognises every flow as DNS: once
    // it did, and two more drains passed, every finding has been applied.
    let flows = query_flows(&node.agent, client, resolver, |f| {
        f.app_protocol.as_deref() == Some("dns")
    });
    node.agent.wait_for_drains(2);
    let flows: Vec<Flow> = node
        .agent
        .flows(&FlowQuery::new().ip(client).port(53))
        .into_iter()
        .filter(|f| flows.contains_key(&f.src_port))
        .collect();
    assert_eq!(flows.len(), QUERIES.len());
    for flow in &flows {
        assert_eq!(flow.dns, None, "{flow:#?}");
        assert_eq!(flow.dns_transactions, Some(0), "{flow:#?}");
    }
    let metrics = node.agent.metrics();
    let counted: Vec<_> = metrics
        .series("netmon_dns_requests_total")
        .into_iter()
        .filter(|s| s.value != 0.0)
        .collect();
    assert!(counted.is_empty(), "DNS counted while off: {counted:#?}");
    assert_eq!(
        metrics.value_or_zero("netmon_dns_latency_seconds_count", &[]),
        0
    );
    node.agent.stop_and_expect_clean_exit();
}
