//! End-to-end: `netmon-cli config get`, `config set` and `debug trace`
//! against the real agent: a good change is in force and shown, a bad one
//! is refused with its reason and changes nothing, a malformed argument is
//! a usage error.

#[path = "../../netmon-agent/tests/support/mod.rs"]
mod support;

mod cli_support;

use serde_json::Value;

use cli_support::run;
use support::agent::AgentConfig;
use support::{missing_prerequisites, TestNode, TOPOLOGY_TOOLS};

#[test]
fn config_set_applies_a_good_value_and_refuses_a_bad_one_keeping_the_old() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let started_with = run(&node, &["config", "get", "flow.flow_timeout"]).expect_success("get");
    assert_eq!(
        started_with.stdout, "10s\n",
        "the harness starts the agent with 10s"
    );

    let set = run(&node, &["config", "set", "flow.flow_timeout=45s"]).expect_success("set");
    assert_eq!(set.stdout, "applied: flow.flow_timeout\n");
    let now = run(&node, &["config", "get", "flow.flow_timeout"]).expect_success("get");
    assert_eq!(now.stdout, "45s\n");
    let in_agent = node.agent.api_json("/api/v1/config?key=flow.flow_timeout");
    assert_eq!(in_agent["value"], "45s", "the agent itself has it in force");

    let refused = run(&node, &["config", "set", "flow.flow_timeout=banana"]);
    assert_eq!(
        (refused.code(), refused.stdout.as_str(), refused.stderr.as_str()),
        (
            Some(1),
            "",
            "netmon-cli: the agent refused the change (HTTP 400 Bad Request); nothing was applied:\n  \
             flow.flow_timeout: invalid value \"banana\": expected a duration such as 5s, 1m30s or 250ms\n"
        )
    );
    let kept = run(&node, &["config", "get", "flow.flow_timeout"]).expect_success("get");
    assert_eq!(
        kept.stdout, "45s\n",
        "a refused change leaves the running value"
    );

    // Two settings, one of them bad: neither is applied.
    let mixed = run(
        &node,
        &["config", "set", "log.level=info", "flow.max_flows=0"],
    );
    assert_eq!(mixed.code(), Some(1), "{mixed:?}");
    assert!(
        mixed.stderr.contains("\n  flow.max_flows: "),
        "{}",
        mixed.stderr
    );
    let level = run(&node, &["config", "get", "log.level"]).expect_success("get");
    assert_eq!(
        level.stdout, "debug\n",
        "the harness's --log-level debug is still in force"
    );
}

#[test]
fn malformed_arguments_and_unknown_keys_are_told_apart() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let no_equals = run(&node, &["config", "set", "nokey"]);
    assert_eq!(
        (no_equals.code(), no_equals.stderr.as_str()),
        (
            Some(2),
            "netmon-cli: \"nokey\": expected KEY=VALUE, e.g. flow.flow_timeout=60s\n"
        )
    );
    let nothing = run(&node, &["config", "set"]);
    assert_eq!(
        nothing.code(),
        Some(2),
        "clap asks for an assignment: {nothing:?}"
    );

    let unknown = run(&node, &["config", "get", "flow.flow_timeout2"]);
    assert_eq!(unknown.code(), Some(1), "{unknown:?}");
    assert!(
        unknown.stderr.starts_with("netmon-cli: the agent refused /api/v1/config?key=flow.flow_timeout2: flow.flow_timeout2: "),
        "{}",
        unknown.stderr
    );
}

#[test]
fn config_get_prints_the_agents_configuration_as_yaml_or_json() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let agent = node.agent.api_json("/api/v1/config");

    let yaml = run(&node, &["config", "get"]).expect_success("get");
    let first_line = yaml.stdout.lines().next().unwrap_or_default();
    assert_eq!(
        first_line,
        format!(
            "# netmon configuration in force (file: {})",
            agent["path"].as_str().expect("the harness gives a file")
        )
    );
    let parsed: Value = serde_yaml::from_str(&yaml.stdout).expect("the output is YAML");
    assert_eq!(parsed, agent["config"]);

    let json = run(&node, &["config", "get", "-o", "json"]).expect_success("get -o json");
    let parsed: Value = serde_json::from_str(&json.stdout).expect("the output is JSON");
    assert_eq!(parsed, agent);

    let section = run(&node, &["config", "get", "flow"]).expect_success("get flow");
    let parsed: Value = serde_yaml::from_str(&section.stdout).expect("a section is YAML");
    assert_eq!(parsed, agent["config"]["flow"]);
}

#[test]
fn debug_trace_switches_trace_logging_on_and_back_to_the_configured_level() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let on = run(&node, &["debug", "trace", "on"]).expect_success("trace on");
    assert_eq!(on.stdout, "trace logging on (log level: trace)\n");
    let state = node.agent.api_json("/api/v1/debug/trace");
    assert_eq!(
        (state["enabled"].as_bool(), state["log_level"].as_str()),
        (Some(true), Some("trace"))
    );

    let off = run(&node, &["debug", "trace", "off"]).expect_success("trace off");
    assert_eq!(off.stdout, "trace logging off (log level: debug)\n");
    let state = node.agent.api_json("/api/v1/debug/trace");
    assert_eq!(
        (state["enabled"].as_bool(), state["log_level"].as_str()),
        (Some(false), Some("debug"))
    );

    let bad = run(&node, &["debug", "trace", "maybe"]);
    assert_eq!(bad.code(), Some(2), "{bad:?}");
}
