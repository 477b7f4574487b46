//! End-to-end: `netmon-cli status` and `stats flows` against the real agent
//! in a node namespace: the interfaces it attached are the test's, and the
//! counts equal what the flow listing holds.

#[path = "../../netmon-agent/tests/support/mod.rs"]
mod support;

mod cli_support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use cli_support::run;
use support::agent::AgentConfig;
use support::netns::IpVersion;
use support::traffic::{connect_refused, tcp_exchange, udp_echo};
use support::{eventually, missing_prerequisites, TestNode, TOPOLOGY_TOOLS};

#[test]
fn status_shows_the_test_interfaces_attached_and_the_agent_version() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let node_interfaces: BTreeSet<String> = node
        .topology
        .pods()
        .iter()
        .map(|pod| pod.node_interface.clone())
        .collect();

    let json = run(&node, &["status", "-o", "json"]).expect_success("status -o json");
    let status: Value = serde_json::from_str(&json.stdout).expect("status is JSON");
    let attached: BTreeSet<String> = status["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .map(|i| i["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(attached, node_interfaces, "{status:#}");
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));

    let table = run(&node, &["status"]).expect_success("status");
    assert!(
        table.stdout.starts_with(&format!(
            "Agent            netmon {} on ",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        table.stdout
    );
    // The interface table: one row per attached interface, in name order.
    let rows: Vec<Vec<&str>> = table
        .stdout
        .lines()
        .skip_while(|line| !line.starts_with("INTERFACE "))
        .skip(1)
        .take_while(|line| !line.is_empty())
        .map(|line| line.split_whitespace().collect())
        .collect();
    let names: Vec<&str> = rows.iter().map(|row| row[0]).collect();
    assert_eq!(
        names,
        node_interfaces
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "{}",
        table.stdout
    );
    for row in &rows {
        assert_eq!(
            row[2], "tcx",
            "attached through TCX on this kernel: {row:?}"
        );
        assert_eq!(
            row[3..],
            ["netmon_tc_ingress,", "netmon_tc_egress"],
            "{row:?}"
        );
    }
}

#[test]
fn stats_flows_counts_equal_the_flows_the_agent_lists() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default().with_flow_timeout(Duration::from_secs(300)));
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let server = b.ip(IpVersion::V4);
    tcp_exchange(
        a.ns_name(),
        b.ns_name(),
        SocketAddr::new(server, 5301),
        5_000,
        5_000,
    );
    udp_echo(
        a.ns_name(),
        b.ns_name(),
        SocketAddr::new(server, 6301),
        3,
        100,
    );
    connect_refused(a.ns_name(), SocketAddr::new(server, 5302));

    // The agent also sees lifecycle events of other tests' namespaces, so
    // its flows may change between two requests: compare a stats answer
    // with the listings taken right before and after it, once they agree.
    eventually(
        Duration::from_secs(20),
        "stats equal the flow listing",
        || {
            let before = run(&node, &["flows", "dump", "-o", "json"]).expect_success("dump");
            let stats = run(&node, &["stats", "flows", "-o", "json"]).expect_success("stats");
            let after = run(&node, &["flows", "dump", "-o", "json"]).expect_success("dump");
            if before.stdout != after.stdout {
                return Err("the flows changed during the comparison".into());
            }
            let flows = before.json_lines();
            let stats: Value = serde_json::from_str(&stats.stdout).expect("stats are JSON");
            let tally = |field: &str| {
                let mut counts: BTreeMap<String, u64> = BTreeMap::new();
                for flow in &flows {
                    *counts
                        .entry(flow[field].as_str().unwrap_or_default().to_owned())
                        .or_default() += 1;
                }
                serde_json::to_value(counts).expect("counts")
            };
            let ours = [("tcp", 5301), ("udp", 6301), ("tcp", 5302)];
            let listed: BTreeSet<(String, u64)> = flows
                .iter()
                .filter(|f| f["src_ip"] == a.ip(IpVersion::V4).to_string())
                .map(|f| {
                    (
                        f["protocol"].as_str().unwrap_or_default().to_owned(),
                        f["dst_port"].as_u64().unwrap_or(0),
                    )
                })
                .collect();
            let expected_ours: BTreeSet<(String, u64)> = ours
                .iter()
                .map(|(p, port)| (p.to_string(), *port))
                .collect();
            let found = (
                stats["flows"].as_u64(),
                &stats["by_protocol"],
                &stats["by_status"],
                &stats["by_direction"],
                &listed,
            );
            let wanted = (
                Some(flows.len() as u64),
                &tally("protocol"),
                &tally("status"),
                &tally("direction"),
                &expected_ours,
            );
            if found == wanted {
                Ok(())
            } else {
                Err(format!("stats {found:?}, listing {wanted:?}"))
            }
        },
    );

    let table = run(&node, &["stats", "flows"]).expect_success("stats flows");
    let labels: Vec<&str> = table
        .stdout
        .lines()
        .map(|line| line.split("  ").next().unwrap_or_default())
        .collect();
    assert_eq!(
        labels,
        [
            "Flows",
            "By protocol",
            "By status",
            "By direction",
            "Flow table",
            "Kernel map",
            "Evictions",
            "Since start"
        ],
        "{}",
        table.stdout
    );
}
