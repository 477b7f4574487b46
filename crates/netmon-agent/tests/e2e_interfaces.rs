//! End-to-end: the agent watches interfaces that appear after it started,
//! as pods come and go on a Kubernetes node.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::agent::{AgentConfig, FlowQuery};
use support::netns::IpVersion;
use support::nft::{count_flow, FlowMatch};
use support::traffic::tcp_exchange;
use support::{missing_prerequisites, TestNode, TOPOLOGY_TOOLS};

/// How quickly the agent must attach to a new interface.
const ATTACH_WITHIN: Duration = Duration::from_secs(2);

#[test]
fn a_pod_interface_added_after_start_is_counted_exactly() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let mut node = TestNode::start(AgentConfig::default());
    let links_when_ready = node.node_link_counters();

    node.topology.add_pod("c");
    std::thread::sleep(ATTACH_WITHIN);

    let (b, c) = (node.topology.pod("b"), node.topology.pod("c"));
    let server = SocketAddr::new(b.ip(IpVersion::V4), 5005);
    let client = c.ip(IpVersion::V4);
    let truth = count_flow(&c.ns, &b.ns, "from_c", FlowMatch::Tcp { client, server });

    tcp_exchange(c.ns_name(), b.ns_name(), server, 200_000, 50_000);

    let expected = truth.read_when_quiet().link_layer();
    let query = FlowQuery::new()
        .ip(client)
        .port(server.port())
        .protocol("tcp");
    node.agent.wait_for_flow_with(&query, "closed", expected);

    // The new link is missing from the baseline, so it counts from zero:
    // it was quiet until the test's traffic, and the agent must have
    // counted it from that first packet on.
    node.assert_interface_metrics_match_links_since(&links_when_ready);

    // The pod goes away: its node-side veth vanishes with the link. The
    // agent drops it once, quietly, and keeps running.
    let gone = node.topology.pod("c").node_interface.clone();
    node.topology.node().ip(&["link", "del", &gone]);
    std::thread::sleep(ATTACH_WITHIN);
    let metrics = node.agent.metrics();
    assert_eq!(
        metrics.value(
            "netmon_interface_bytes_total",
            &[("interface", &gone), ("hook", "ingress")]
        ),
        None,
        "the vanished interface's series is removed"
    );
    let log = node.agent.log();
    assert_eq!(
        log.matches("interface gone, detached").count(),
        1,
        "one log line for the vanished interface:\n{log}"
    );
    assert!(
        !log.contains(" WARN ") && !log.contains(" ERROR "),
        "no warnings or errors after the interface vanished:\n{log}"
    );
    assert_eq!(
        node.agent.flows(&FlowQuery::new().ip(client)).len(),
        1,
        "its flow stays visible"
    );
}
