//! End-to-end: DNS decoded from the data path. A real resolver (dnsmasq)
//! in one pod answers a real client (dig) in another; the agent in the node
//! namespace sees the exchange on the pods' veths and must count every
//! transaction by rcode and type exactly as dig reported it, with a latency
//! no longer than dig itself took, and name the addresses it resolved.

mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use support::agent::{AgentConfig, Flow, FlowQuery};
use support::apps::{dig, dnsmasq, DigResult};
use support::netns::IpVersion;
use support::traffic::tcp_exchange;
use support::{eventually, missing_prerequisites, TestNode, TOPOLOGY_TOOLS};

const NAME: &str = "svc.netmon.test";
const MISSING: &str = "missing.netmon.test";

fn prerequisites_missing() -> bool {
    let mut tools = TOPOLOGY_TOOLS.to_vec();
    tools.extend(["dnsmasq", "dig", "ss"]);
    missing_prerequisites(&tools)
}

/// The `dns` object of a flow: (name, type, rcode, latency).
fn dns_of(flow: &Flow) -> Option<(String, String, String, Option<f64>)> {
    let dns = flow.other.get("dns")?.as_object()?;
    Some((
        dns["name"].as_str()?.to_string(),
        dns["type"].as_str()?.to_string(),
        dns["rcode"].as_str()?.to_string(),
        dns["latency_seconds"].as_f64(),
    ))
}

#[test]
fn every_dns_transaction_is_counted_by_rcode_and_type_with_its_name_and_latency() {
    if prerequisites_missing() {
        return;
    }
    let mut node = TestNode::start(AgentConfig::default());
    let target = node.topology.add_pod("c").ip(IpVersion::V4);
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let resolver = b.ip(IpVersion::V4);
    let _dnsmasq = dnsmasq(b, resolver, NAME, target);

    // (name, type, over TCP), each a dig run of its own: its own socket, so
    // its own flow.
    let asked = [
        (NAME, "A", false),
        (NAME, "A", false),
        (NAME, "A", false),
        (MISSING, "A", false),
        (MISSING, "A", false),
        (NAME, "AAAA", false),
        (NAME, "A", true),
    ];
    let results: Vec<(&str, &str, DigResult)> = asked
        .iter()
        .map(|(name, qtype, tcp)| (*name, *qtype, dig(a, resolver, name, qtype, *tcp)))
        .collect();
    // The ground truth is what the resolver told dig.
    let mut expected: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (_, qtype, result) in &results {
        *expected
            .entry((result.status.clone(), qtype.to_string()))
            .or_default() += 1;
    }
    assert_eq!(
        expected,
        BTreeMap::from([
            (("NOERROR".into(), "A".into()), 4),
            (("NXDOMAIN".into(), "A".into()), 2),
            // --local makes dnsmasq authoritative: no AAAA for the name
            // means the name does not exist for that type.
            (("NXDOMAIN".into(), "AAAA".into()), 1),
        ]),
        "dnsmasq answered differently than this test expects: {results:?}"
    );
    assert_eq!(results[0].2.answers, vec![target.to_string()]);
    let slowest = results.iter().map(|(_, _, r)| r.took).max().unwrap();

    eventually(Duration::from_secs(10), "DNS metrics", || {
        let metrics = node.agent.metrics();
        for ((rcode, qtype), count) in &expected {
            let seen = metrics.value_or_zero(
                "netmon_dns_requests_total",
                &[("rcode", rcode), ("qtype", qtype)],
            );
            if seen != *count {
                return Err(format!("{rcode} {qtype}: {seen}, expected {count}"));
            }
        }
        let observed = metrics.value_or_zero("netmon_dns_latency_seconds_count", &[]);
        if observed != asked.len() as u64 {
            return Err(format!("latency observations: {observed}"));
        }
        Ok(())
    });

    let query = FlowQuery::new().ip(a.ip(IpVersion::V4)).port(53);
    let flows = eventually(Duration::from_secs(10), "DNS on every flow", || {
        let flows = node.agent.flows(&query);
        let with_dns = flows.iter().filter(|f| dns_of(f).is_some()).count();
        if with_dns == asked.len() {
            Ok(flows)
        } else {
            Err(format!(
                "{with_dns} of {} flows carry DNS: {flows:?}",
                flows.len()
            ))
        }
    });
    assert_eq!(flows.len(), asked.len(), "one flow per dig run: {flows:?}");
    let mut seen: Vec<(String, String, String, String)> = Vec::new();
    for flow in &flows {
        let (name, qtype, rcode, latency) = dns_of(flow).unwrap();
        let latency = latency.expect("the query was seen, so the latency was measured");
        assert!(
            latency > 0.0 && latency <= slowest.as_secs_f64(),
            "latency {latency} s is not within (0, {slowest:?}], the slowest dig run"
        );
        assert_eq!(flow.other["dns_transactions"], 1, "{flow:?}");
        assert_eq!(flow.other["app_protocol"], "dns", "{flow:?}");
        assert_eq!((flow.dst_ip, flow.dst_port), (resolver, 53));
        seen.push((name, qtype, rcode, flow.protocol.clone()));
    }
    let mut wanted: Vec<(String, String, String, String)> = results
        .iter()
        .zip(asked)
        .map(|((name, qtype, result), (_, _, tcp))| {
            (
                name.to_string(),
                qtype.to_string(),
                result.status.clone(),
                if tcp { "tcp" } else { "udp" }.to_string(),
            )
        })
        .collect();
    seen.sort();
    wanted.sort();
    assert_eq!(seen, wanted);
    node.agent.stop_and_expect_clean_exit();
}

#[test]
fn a_connection_to_an_address_the_node_resolved_carries_the_name() {
    if prerequisites_missing() {
        return;
    }
    let mut node = TestNode::start(AgentConfig::default());
    let target = node.topology.add_pod("c").ip(IpVersion::V4);
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let c = node.topology.pod("c");
    let resolver = b.ip(IpVersion::V4);
    let _dnsmasq = dnsmasq(b, resolver, NAME, target);
    assert_eq!(
        dig(a, resolver, NAME, "A", false).answers,
        vec![target.to_string()]
    );

    let resolved = SocketAddr::new(target, 5001);
    tcp_exchange(a.ns_name(), c.ns_name(), resolved, 1_000, 1_000);
    // b's address was never in an answer.
    let unresolved = SocketAddr::new(resolver, 5002);
    tcp_exchange(a.ns_name(), b.ns_name(), unresolved, 1_000, 1_000);

    let named = |to: SocketAddr| {
        let query = FlowQuery::new().ip(to.ip()).port(to.port()).protocol("tcp");
        eventually(Duration::from_secs(10), "the TCP flow", || {
            node.agent
                .flows(&query)
                .into_iter()
                .next()
                .ok_or_else(|| "no flow yet".to_string())
        })
    };
    assert_eq!(named(resolved).other["dst_dns_name"], NAME);
    assert_eq!(
        named(unresolved).other["dst_dns_name"],
        serde_json::Value::Null
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
    let node = TestNode::start(config);
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let resolver: IpAddr = b.ip(IpVersion::V4);
    let _dnsmasq = dnsmasq(b, resolver, NAME, a.ip(IpVersion::V4));
    assert_eq!(dig(a, resolver, NAME, "A", false).status, "NOERROR");

    let query = FlowQuery::new().ip(a.ip(IpVersion::V4)).port(53);
    let flow = eventually(Duration::from_secs(10), "the DNS flow", || {
        // Protocol detection still runs and recognises the flow: once it
        // did, every finding of the drain has been applied.
        node.agent
            .flows(&query)
            .into_iter()
            .find(|f| f.other["app_protocol"] == "dns")
            .ok_or_else(|| "no classified flow yet".to_string())
    });
    assert_eq!(flow.other["dns"], serde_json::Value::Null);
    assert_eq!(flow.other["dns_transactions"], 0);
    let metrics = node.agent.metrics();
    assert_eq!(
        metrics.value("netmon_dns_latency_seconds_count", &[]),
        Some(0.0)
    );
    assert_eq!(
        metrics.value_or_zero(
            "netmon_dns_requests_total",
            &[("rcode", "NOERROR"), ("qtype", "A")]
        ),
        0
    );
}
