//! End-to-end: the agent's API on its unix socket (`--api-socket`), as
//! `netmon-cli` uses it. The real agent runs in a node namespace; the test
//! makes known traffic between two pods and reads everything back over the
//! socket: the socket's permissions, the status (which interfaces, how
//! attached), flow stats that add up to the flow listing, the `not_` and
//! one-end filters, and the socket's removal at shutdown.

mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::agent::{Agent, AgentConfig, Flow};
use support::netns::{IpVersion, Offloads, Topology};
use support::traffic::{tcp_exchange, udp_echo};
use support::{eventually, missing_prerequisites, TempDir, TOPOLOGY_TOOLS};

/// Flows through the socket matching `query` (`"?port=80"`, or `""`).
fn flows(agent: &Agent, socket: &Path, query: &str) -> Vec<Flow> {
    let body = agent.socket_json(socket, &format!("/api/v1/flows{query}"));
    serde_json::from_value(body).expect("flows parse")
}

fn ids(flows: &[Flow]) -> Vec<u64> {
    let mut ids: Vec<u64> = flows.iter().map(|f| f.id).collect();
    ids.sort_unstable();
    ids
}

/// The node interface's index, as `ip link` reports it.
fn ifindex(topology: &Topology, interface: &str) -> u64 {
    let links: Value = serde_json::from_str(
        &topology
            .node()
            .ip(&["-j", "link", "show", "dev", interface]),
    )
    .expect("ip -j link parses");
    links[0]["ifindex"].as_u64().expect("an ifindex")
}

/// `flows` counted by one of their fields, as the stats endpoint counts them.
fn count_by(flows: &[Flow], field: impl Fn(&Flow) -> String) -> Value {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for flow in flows {
        *counts.entry(field(flow)).or_default() += 1;
    }
    serde_json::to_value(counts).expect("counts serialize")
}

#[test]
fn the_unix_socket_serves_status_stats_and_filtered_flows_of_known_traffic() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let socket_dir = TempDir::new("api-socket");
    // A directory that does not exist yet: the agent creates it.
    let socket = socket_dir.path().join("run").join("netmon.sock");
    let topology = Topology::build(&["a", "b"], Offloads::Off);
    let agent = Agent::start_with_flags(
        topology.node(),
        AgentConfig::default(),
        &[OsStr::new("--api-socket"), socket.as_os_str()],
    );

    // Root only: the socket shows every flow of the node.
    let metadata = std::fs::symlink_metadata(&socket).expect("the socket exists");
    assert!(
        metadata.file_type().is_socket(),
        "{} is a socket",
        socket.display()
    );
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    let parent = std::fs::metadata(socket.parent().unwrap()).unwrap();
    assert_eq!(parent.permissions().mode() & 0o777, 0o755);

    // Exactly the node's ends of the pod links, attached through TCX (this
    // kernel has it and attach_mode is auto), sorted by name.
    let status = agent.socket_json(&socket, "/api/v1/status");
    let mut node_interfaces: Vec<&str> = topology
        .pods()
        .iter()
        .map(|pod| pod.node_interface.as_str())
        .collect();
    node_interfaces.sort_unstable();
    let expected_interfaces: Vec<Value> = node_interfaces
        .iter()
        .map(|name| {
            serde_json::json!({
                "name": name,
                "ifindex": ifindex(&topology, name),
                "attach_mode": "tcx",
                "programs": ["netmon_tc_ingress", "netmon_tc_egress"],
            })
        })
        .collect();
    assert_eq!(status["interfaces"], Value::Array(expected_interfaces));
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        status["kernel"]["release"],
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap()
            .trim()
    );
    assert_eq!(
        status["kubernetes"],
        serde_json::json!({"enabled": false, "state": "off", "synced": false})
    );
    assert_eq!(status["features"]["tcp_lifecycle"], true);
    assert_eq!(status["maps"][0]["name"], "netmon_flows");
    assert_eq!(status["maps"][0]["capacity"], 65_536);
    assert_eq!(status["flow_table"]["capacity"], 100_000);
    assert_eq!(status["config"]["restart_required"], serde_json::json!([]));

    // Known traffic: two TCP connections and one UDP exchange, a to b.
    let (a, b) = (topology.pod("a"), topology.pod("b"));
    let b_ip = b.ip(IpVersion::V4);
    let first = tcp_exchange(
        a.ns_name(),
        b.ns_name(),
        SocketAddr::new(b_ip, 5001),
        10_000,
        2_000,
    );
    let second = tcp_exchange(
        a.ns_name(),
        b.ns_name(),
        SocketAddr::new(b_ip, 5002),
        3_000,
        1_000,
    );
    let udp = udp_echo(
        a.ns_name(),
        b.ns_name(),
        SocketAddr::new(b_ip, 6001),
        5,
        200,
    );
    let a_query = format!("?ip={}", a.ip(IpVersion::V4));
    let ours = eventually(Duration::from_secs(15), "the test's three flows", || {
        let found = flows(&agent, &socket, &a_query);
        let closed_tcp = found
            .iter()
            .filter(|f| f.protocol == "tcp" && f.status == "closed")
            .count();
        let udp_flows = found.iter().filter(|f| f.protocol == "udp").count();
        if found.len() == 3 && closed_tcp == 2 && udp_flows == 1 {
            Ok(found)
        } else {
            Err(format!("flows of pod a: {found:#?}"))
        }
    });
    let id_of = |port: u16| {
        ours.iter()
            .find(|f| f.dst_port == port)
            .unwrap_or_else(|| panic!("a flow to port {port}: {ours:#?}"))
            .id
    };
    let (first_id, second_id, udp_id) = (id_of(5001), id_of(5002), id_of(6001));

    // Filters: exactly the flows they describe.
    let not_5001 = flows(&agent, &socket, &format!("{a_query}&not_port=5001"));
    assert_eq!(ids(&not_5001), {
        let mut expected = vec![second_id, udp_id];
        expected.sort_unstable();
        expected
    });
    let by_client_port = flows(
        &agent,
        &socket,
        &format!("?src_port={}", first.client.port()),
    );
    assert_eq!(ids(&by_client_port), vec![first_id]);
    let to_udp = flows(
        &agent,
        &socket,
        &format!("?src_port={}&dst_port=6001", udp.client.port()),
    );
    assert_eq!(ids(&to_udp), vec![udp_id]);
    let not_tcp = flows(&agent, &socket, &format!("{a_query}&not_protocol=tcp"));
    assert_eq!(ids(&not_tcp), vec![udp_id]);
    let second_by_both_ends = flows(
        &agent,
        &socket,
        &format!(
            "?src_ip={}&src_port={}&dst_ip={b_ip}",
            a.ip(IpVersion::V4),
            second.client.port()
        ),
    );
    assert_eq!(ids(&second_by_both_ends), vec![second_id]);

    // The stats count the same flows the listing shows. Other flows of the
    // node (IPv6 neighbour discovery) may still come and go, so the two are
    // compared when the listing is the same before and after the stats.
    eventually(
        Duration::from_secs(10),
        "stats equal to the flow listing",
        || {
            let before = flows(&agent, &socket, "");
            let stats = agent.socket_json(&socket, "/api/v1/stats/flows");
            let after = flows(&agent, &socket, "");
            if ids(&before) != ids(&after) {
                return Err("the flows changed meanwhile".to_string());
            }
            let expected = serde_json::json!({
                "flows": after.len(),
                "by_protocol": count_by(&after, |f| f.protocol.clone()),
                "by_status": count_by(&after, |f| f.status.clone()),
                "by_direction": count_by(&after, |f| f.direction.clone()),
            });
            let got = serde_json::json!({
                "flows": stats["flows"],
                "by_protocol": stats["by_protocol"],
                "by_status": stats["by_status"],
                "by_direction": stats["by_direction"],
            });
            if got != expected {
                return Err(format!("stats {got} but the listing says {expected}"));
            }
            if stats["flow_table"]["flows"] != after.len() {
                return Err(format!(
                    "flow_table {} vs {}",
                    stats["flow_table"],
                    after.len()
                ));
            }
            Ok(())
        },
    );

    // The debug listing carries our flows with their kernel-side fields.
    let debug = agent.socket_json(&socket, "/debug/flows");
    let first_debug = debug["flows"]
        .as_array()
        .expect("a list of flows")
        .iter()
        .find(|f| f["id"] == first_id)
        .expect("the first connection in /debug/flows");
    assert_eq!(first_debug["internal"]["protocol_number"], 6);
    assert_eq!(
        first_debug["internal"]["initiator"],
        first.client.to_string()
    );

    agent.stop_and_expect_clean_exit();
    assert!(
        !socket.exists(),
        "the agent removes its socket when it stops"
    );
}
