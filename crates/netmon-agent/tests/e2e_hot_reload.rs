//! End-to-end: the configuration of a running agent changes without a
//! restart, from its rewritten file or from `PUT /api/v1/config`. A live
//! setting changes what the agent does (an idle flow times out sooner), a
//! bad change is refused with its reason and the old value stays in force,
//! and a setting that needs a restart is reported and not applied.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::agent::{Agent, AgentConfig, FlowQuery};
use support::netns::IpVersion;
use support::nft::{count_flow, FlowMatch};
use support::traffic::udp_echo;
use support::{eventually, missing_prerequisites, FlowCounts, TestNode, TOPOLOGY_TOOLS};

/// The timeout the agent starts with: nothing the test does is idle for
/// that long, so a flow that times out did so under the new timeout.
const STARTUP_FLOW_TIMEOUT: Duration = Duration::from_secs(120);
/// The timeout changed to while the agent runs.
const LIVE_FLOW_TIMEOUT: Duration = Duration::from_secs(2);
/// Enough for the watcher's poll (1 s), a drain (1 s) and the timeout.
const TIMED_OUT_WITHIN: Duration = Duration::from_secs(15);

const BANANA_PROBLEM: &str =
    "flow.flow_timeout: invalid value \"banana\": expected a duration such as 5s, 1m30s or 250ms";

fn startup_config() -> AgentConfig {
    AgentConfig::default().with_flow_timeout(STARTUP_FLOW_TIMEOUT)
}

/// Sends a few UDP echoes from pod a to pod b on `port` and waits for the
/// agent to hold their flow, active, with the exact counts.
fn idle_udp_flow(node: &TestNode, port: u16) -> (FlowQuery, FlowCounts) {
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let server = SocketAddr::new(b.ip(IpVersion::V4), port);
    let client = a.ip(IpVersion::V4);
    let truth = count_flow(
        &a.ns,
        &b.ns,
        &format!("udp{port}"),
        FlowMatch::Udp { client, server },
    );
    udp_echo(a.ns_name(), b.ns_name(), server, 3, 100);
    let expected = truth.read_when_quiet().link_layer();
    let query = FlowQuery::new().ip(client).port(port).protocol("udp");
    node.agent.wait_for_flow_with(&query, "active", expected);
    (query, expected)
}

fn reloads(agent: &Agent, result: &str) -> u64 {
    agent
        .metrics()
        .value_or_zero("netmon_config_reloads_total", &[("result", result)])
}

fn wait_for_reloads(agent: &Agent, result: &str, count: u64) {
    eventually(
        Duration::from_secs(10),
        &format!("{count} {result} reloads"),
        || match reloads(agent, result) {
            n if n == count => Ok(()),
            n => Err(format!("{n} so far")),
        },
    );
}

fn setting(agent: &Agent, key: &str) -> Value {
    agent.api_json(&format!("/api/v1/config?key={key}"))["value"].clone()
}

fn log_lines(agent: &Agent) -> Vec<String> {
    let logs = agent.api_json("/api/v1/logs?lines=10000");
    logs["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| line.as_str().expect("a line is text").to_owned())
        .collect()
}

fn put_config(agent: &Agent, set: Value) -> (u16, Value) {
    let body = json!({ "set": set }).to_string();
    let response = agent.api_request("PUT", "/api/v1/config", Some(&body));
    let json = serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("PUT /api/v1/config is not JSON ({e}): {}", response.body));
    (response.status, json)
}

#[test]
fn a_rewritten_config_file_applies_live_refuses_bad_values_and_holds_back_restart_settings() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(startup_config());
    let agent = &node.agent;
    let pid = agent.pid();
    assert_eq!(reloads(agent, "applied"), 0);
    assert_eq!(reloads(agent, "rejected"), 0);
    let (query, counts) = idle_udp_flow(&node, 6101);

    // A shorter timeout: the idle flow times out without a restart.
    let live = startup_config().with_flow_timeout(LIVE_FLOW_TIMEOUT);
    let rewritten = Instant::now();
    agent.rewrite_config(&live.to_yaml());
    wait_for_reloads(agent, "applied", 1);
    agent.wait_for_flow_with(&query, "closed", counts);
    assert!(
        rewritten.elapsed() < TIMED_OUT_WITHIN,
        "timed out {:?} after the rewrite",
        rewritten.elapsed()
    );
    assert_eq!(agent.pid(), pid, "the same process");
    assert_eq!(setting(agent, "flow.flow_timeout"), "2s");
    let reloaded: Vec<String> = log_lines(agent)
        .into_iter()
        .filter(|line| line.contains("config reloaded"))
        .collect();
    assert_eq!(reloaded.len(), 1, "{reloaded:#?}");
    assert!(
        reloaded[0].ends_with("config reloaded applied=[flow.flow_timeout] restart_required=[]"),
        "{reloaded:#?}"
    );

    // A bad value: refused with its reason, the old value stays in force.
    agent.rewrite_config("flow:\n  flow_timeout: banana\n");
    wait_for_reloads(agent, "rejected", 1);
    // Several polls later the same bad content is still one rejection.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(reloads(agent, "rejected"), 1);
    assert_eq!(reloads(agent, "applied"), 1);
    let debug = agent.api_json("/debug/config");
    assert_eq!(debug["reloads"]["applied"], 1);
    assert_eq!(debug["reloads"]["rejected"], 1);
    assert_eq!(debug["reloads"]["last_error"], BANANA_PROBLEM);
    let warnings: Vec<String> = log_lines(agent)
        .into_iter()
        .filter(|line| line.contains("config reload rejected"))
        .collect();
    assert_eq!(warnings.len(), 1, "one line per problem: {warnings:#?}");
    assert!(warnings[0].contains(" WARN "), "{warnings:#?}");
    assert!(
        warnings[0].contains(&format!("problem={BANANA_PROBLEM}")),
        "{warnings:#?}"
    );
    assert!(agent.log().contains(BANANA_PROBLEM), "and on stderr");
    assert_eq!(setting(agent, "flow.flow_timeout"), "2s");

    // A setting that needs a restart: reported, not applied.
    let sampled = AgentConfig {
        sampling_rate: Some(4),
        ..live
    };
    agent.rewrite_config(&sampled.to_yaml());
    wait_for_reloads(agent, "applied", 2);
    let config = agent.api_json("/api/v1/config");
    assert_eq!(config["restart_required"], json!(["capture.sampling_rate"]));
    assert_eq!(config["config"]["capture"]["sampling_rate"], 1);
    assert_eq!(config["config"]["flow"]["flow_timeout"], "2s");
    let status = agent.api_json("/api/v1/status");
    assert_eq!(
        status["config"]["restart_required"],
        json!(["capture.sampling_rate"])
    );
    assert!(log_lines(agent).iter().any(|line| line
        .ends_with("config reloaded applied=[] restart_required=[capture.sampling_rate]")));
    let debug = agent.api_json("/debug/config");
    assert_eq!(debug["reloads"]["last_error"], Value::Null);
    assert_eq!(agent.pid(), pid, "never restarted");
}

#[test]
fn put_config_applies_a_good_value_at_once_and_refuses_bad_ones_whole() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(startup_config());
    let agent = &node.agent;
    let (query, counts) = idle_udp_flow(&node, 6102);

    let set_at = Instant::now();
    let (status, body) = put_config(agent, json!({"flow.flow_timeout": "2s"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"applied": ["flow.flow_timeout"], "restart_required": [], "unchanged": []})
    );
    agent.wait_for_flow_with(&query, "closed", counts);
    assert!(
        set_at.elapsed() < TIMED_OUT_WITHIN,
        "{:?}",
        set_at.elapsed()
    );

    let (status, body) = put_config(
        agent,
        json!({"flow.flow_timeout": "banana", "flow.max_flows": "10"}),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        json!({"error": BANANA_PROBLEM, "problems": [BANANA_PROBLEM]})
    );
    assert_eq!(setting(agent, "flow.flow_timeout"), "2s");
    assert_eq!(
        setting(agent, "flow.max_flows"),
        100_000,
        "nothing of it applied"
    );

    // The harness starts the agent with --log-level debug, which wins.
    let (status, body) = put_config(agent, json!({"log.level": "trace"}));
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"],
        "log.level: given by a command-line flag, which wins over config set; restart without the flag to change it"
    );

    let (status, body) = put_config(agent, json!({"capture.attach_mode": "tc"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"applied": [], "restart_required": ["capture.attach_mode"], "unchanged": []})
    );
    assert_eq!(setting(agent, "capture.attach_mode"), "auto");
    let metrics = agent.metrics();
    assert_eq!(
        metrics.value("netmon_attached_interfaces", &[("mode", "tc")]),
        Some(0.0),
        "still attached as at startup"
    );
    // config set is not a reload of the file.
    assert_eq!(reloads(agent, "applied"), 0);
    assert_eq!(reloads(agent, "rejected"), 0);

    let trace = |enabled: bool| {
        let body = json!({ "enabled": enabled }).to_string();
        let response = agent.api_request("POST", "/api/v1/debug/trace", Some(&body));
        assert_eq!(response.status, 200, "{}", response.body);
        serde_json::from_str::<Value>(&response.body).expect("JSON")
    };
    assert_eq!(trace(true), json!({"enabled": true, "log_level": "trace"}));
    assert_eq!(
        agent.api_json("/api/v1/debug/trace"),
        json!({"enabled": true, "log_level": "trace"})
    );
    assert_eq!(
        trace(false),
        json!({"enabled": false, "log_level": "debug"})
    );
}
