//! Behaviour of the live configuration as a whole: reloads, `config set`,
//! and the endpoints, over a real file and a fake flow table.

use std::time::Duration;

use serde_json::json;

use super::testing::{request, JsonResponse, TestControl};
use super::*;
use crate::config::{AttachMode, LogLevel};

const START: &str = "flow:\n  flow_timeout: 60s\n  flush_interval: 5s\n";

/// Reloads `yaml` as if the watcher had read it (not the first read).
fn reload(test: &TestControl, yaml: &str) {
    tracing::dispatcher::with_default(&test.dispatch, || {
        test.control.reload_file(Ok(yaml.to_owned()), false)
    });
}

fn log_lines(test: &TestControl) -> Vec<String> {
    test.control.log_ring().last(100)
}

fn set(test: &TestControl, pairs: &[(&str, &str)]) -> Result<Outcome, SetError> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tracing::dispatcher::with_default(&test.dispatch, || test.control.set(&pairs))
}

#[test]
fn a_valid_file_change_puts_live_settings_in_force_and_holds_back_the_others() {
    let test = TestControl::start(START, &[], &[]);
    let mut flush = test.control.flush_interval();
    reload(
        &test,
        "flow:\n  flow_timeout: 5s\n  flush_interval: 2s\ncapture:\n  attach_mode: tc\n",
    );

    let in_force = test.control.in_force();
    assert_eq!(in_force.flow.flow_timeout, Duration::from_secs(5));
    assert_eq!(in_force.flow.flush_interval, Duration::from_secs(2));
    assert_eq!(in_force.capture.attach_mode, AttachMode::Auto);
    assert_eq!(test.control.restart_required(), ["capture.attach_mode"]);
    assert_eq!(
        *test.restart_required.lock().unwrap(),
        ["capture.attach_mode"]
    );

    let tables = test.table.configs.lock().unwrap().clone();
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0].flow_timeout, Duration::from_secs(5));
    assert!(flush.has_changed().unwrap());
    assert_eq!(*flush.borrow_and_update(), Duration::from_secs(2));

    let reloads = test.control.reloads();
    assert_eq!((reloads.applied, reloads.rejected), (1, 0));
    assert_eq!(reloads.last_error, None);
    assert!(reloads.last_reload_at.is_some());
    assert_eq!(test.reloads_metric("applied"), Some(1.0));
    assert_eq!(test.reloads_metric("rejected"), Some(0.0));
    let lines = log_lines(&test);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].ends_with(
            "config reloaded applied=[flow.flow_timeout, flow.flush_interval] restart_required=[capture.attach_mode]"
        ),
        "{lines:?}"
    );
}

#[test]
fn an_invalid_file_is_refused_with_its_reasons_and_the_running_config_stays() {
    let test = TestControl::start(START, &[], &[]);
    reload(&test, "flow:\n  flow_timeout: banana\n  max_flows: 0\n");

    assert_eq!(
        test.control.in_force().flow.flow_timeout,
        Duration::from_secs(60)
    );
    assert!(test.table.configs.lock().unwrap().is_empty());
    let reloads = test.control.reloads();
    assert_eq!((reloads.applied, reloads.rejected), (0, 1));
    let reason = reloads.last_error.unwrap();
    assert!(
        reason.starts_with(
            "flow.flow_timeout: invalid value \"banana\": expected a duration such as 5s, 1m30s or 250ms; flow.max_flows: "
        ),
        "{reason}"
    );
    assert_eq!(test.reloads_metric("rejected"), Some(1.0));
    assert_eq!(test.reloads_metric("applied"), Some(0.0));
    let lines = log_lines(&test);
    assert_eq!(lines.len(), 2, "one line per problem: {lines:?}");
    assert!(lines.iter().all(|l| l.contains(" WARN ")
        && l.contains("config reload rejected, the running configuration stays")));
    assert!(lines[0].contains("problem=flow.flow_timeout: invalid value \"banana\""));
}

#[test]
fn flags_and_environment_still_win_over_a_reloaded_file() {
    let test = TestControl::start(
        START,
        &["--log-level", "warn"],
        &[("NETMON_FLOW_MAX_FLOWS", "77")],
    );
    reload(
        &test,
        "flow: {max_flows: 5, flow_timeout: 9s}\nlog: {level: debug}\n",
    );
    let in_force = test.control.in_force();
    assert_eq!(in_force.flow.max_flows, 77);
    assert_eq!(in_force.log.level, LogLevel::Warn);
    assert_eq!(in_force.flow.flow_timeout, Duration::from_secs(9));
}

#[test]
fn the_first_read_of_the_file_startup_loaded_is_no_reload() {
    let test = TestControl::start(START, &[], &[]);
    test.control.reload_file(Ok(START.to_owned()), true);
    assert_eq!(test.control.reloads(), ReloadStats::default());
    // A file that changed before the first read is a reload.
    test.control
        .reload_file(Ok("flow: {flow_timeout: 30s}\n".into()), true);
    assert_eq!(test.control.reloads().applied, 1);
    assert_eq!(
        test.control.in_force().flow.flow_timeout,
        Duration::from_secs(30)
    );
}

#[test]
fn a_config_set_made_before_the_first_read_survives_that_read() {
    let test = TestControl::start(START, &[], &[]);
    set(&test, &[("flow.flow_timeout", "10s")]).unwrap();
    test.control.reload_file(Ok(START.to_owned()), true);
    assert_eq!(test.control.reloads(), ReloadStats::default());
    assert_eq!(
        test.control.in_force().flow.flow_timeout,
        Duration::from_secs(10)
    );
}

#[test]
fn a_restart_only_setting_changed_back_no_longer_waits_for_a_restart() {
    let test = TestControl::start(START, &[], &[]);
    reload(&test, "flow: {kernel_map_entries: 1024}\n");
    assert_eq!(test.control.restart_required(), ["flow.kernel_map_entries"]);
    reload(&test, START);
    assert!(test.control.restart_required().is_empty());
    assert!(test.restart_required.lock().unwrap().is_empty());
}

#[test]
fn interface_changes_reach_the_interface_watcher() {
    let test = TestControl::start(START, &[], &[]);
    let mut interfaces = test.control.interfaces();
    reload(
        &test,
        "capture: {interfaces: [eth1], exclude_interfaces: [docker*]}\n",
    );
    assert!(interfaces.has_changed().unwrap());
    let selection = interfaces.borrow_and_update().clone();
    assert_eq!(selection.include, ["eth1"]);
    assert_eq!(selection.exclude, ["docker*"]);
}

#[test]
fn config_set_applies_live_settings_and_reports_each_one() {
    let test = TestControl::start(START, &[], &[]);
    let outcome = set(
        &test,
        &[
            ("log.level", "debug"),
            ("flow.flow_timeout", "60s"),
            ("performance.workers", "4"),
        ],
    )
    .unwrap();
    assert_eq!(
        outcome,
        Outcome {
            applied: vec!["log.level".into()],
            restart_required: vec!["performance.workers".into()],
            unchanged: vec!["flow.flow_timeout".into()],
        }
    );
    assert_eq!(test.control.in_force().log.level, LogLevel::Debug);
    assert_eq!(test.control.in_force().performance.workers, 2);
    assert_eq!(test.control.restart_required(), ["performance.workers"]);
    assert_eq!(test.control.verbosity().state().log_level, "debug");
    // Not a reload of the file.
    assert_eq!(test.reloads_metric("applied"), Some(0.0));
}

#[test]
fn a_refused_config_set_changes_nothing() {
    let test = TestControl::start(START, &[], &[]);
    let error = set(
        &test,
        &[("log.level", "debug"), ("flow.flow_timeout", "banana")],
    )
    .unwrap_err();
    assert!(matches!(error, SetError::Invalid(_)));
    assert_eq!(test.control.in_force().log.level, LogLevel::Info);
    assert!(test.table.configs.lock().unwrap().is_empty());
}

#[test]
fn a_file_reload_replaces_what_config_set_changed() {
    let test = TestControl::start(START, &[], &[]);
    set(&test, &[("flow.flow_timeout", "10s")]).unwrap();
    reload(
        &test,
        "flow:\n  flow_timeout: 60s\n  flush_interval: 5s\n  max_flows: 500\n",
    );
    let in_force = test.control.in_force();
    assert_eq!(in_force.flow.flow_timeout, Duration::from_secs(60));
    assert_eq!(in_force.flow.max_flows, 500);
}

#[tokio::test]
async fn the_watcher_reloads_a_rewritten_file_within_its_poll_interval() {
    let test = TestControl::start(START, &[], &[]);
    let (stop, shutdown) = watch::channel(false);
    let watcher = tokio::spawn(reload::watch_file(
        test.control.clone(),
        test.path.clone(),
        Duration::from_millis(50),
        shutdown,
    ));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        test.control.reloads(),
        ReloadStats::default(),
        "startup's own file"
    );
    std::fs::write(&test.path, "flow: {flow_timeout: 40s}\n").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while test.control.reloads().applied == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        test.control.in_force().flow.flow_timeout,
        Duration::from_secs(40)
    );
    assert_eq!(test.control.reloads().applied, 1);
    stop.send(true).unwrap();
    watcher.await.unwrap();
}

// ---- endpoints ----

async fn serve(test: &TestControl) -> std::net::SocketAddr {
    crate::api::testing::start(test.control.router()).await
}

async fn put_config(addr: std::net::SocketAddr, body: &str) -> JsonResponse {
    request(addr, "PUT", "/api/v1/config", Some(body)).await
}

async fn post_trace(addr: std::net::SocketAddr, body: &str) -> JsonResponse {
    request(addr, "POST", "/api/v1/debug/trace", Some(body)).await
}

#[tokio::test]
async fn get_config_shows_the_config_in_force_and_what_waits_for_a_restart() {
    let test = TestControl::start(START, &[], &[]);
    reload(
        &test,
        "flow: {flow_timeout: 30s, kernel_map_entries: 1024}\n",
    );
    let addr = serve(&test).await;
    let response = request(addr, "GET", "/api/v1/config", None).await;
    assert_eq!(response.status, 200);
    let body = response.body;
    assert_eq!(body["path"], json!(test.path.display().to_string()));
    assert_eq!(body["restart_required"], json!(["flow.kernel_map_entries"]));
    assert_eq!(body["config"]["flow"]["flow_timeout"], "30s");
    assert_eq!(body["config"]["flow"]["kernel_map_entries"], 65536);
    assert_eq!(
        body["config"],
        redact(&diff::tree(&test.control.in_force()))
    );
}

#[tokio::test]
async fn get_config_with_a_key_returns_one_setting_or_a_section() {
    let test = TestControl::start(START, &[], &[]);
    let addr = serve(&test).await;
    let setting = request(addr, "GET", "/api/v1/config?key=flow.flow_timeout", None).await;
    assert_eq!(setting.status, 200);
    assert_eq!(
        setting.body,
        json!({"key": "flow.flow_timeout", "value": "1m"})
    );
    let section = request(addr, "GET", "/api/v1/config?key=log", None).await;
    assert_eq!(
        section.body,
        json!({"key": "log", "value": {"level": "info", "format": "text"}})
    );
    let unknown = request(addr, "GET", "/api/v1/config?key=flow.flow_timeout2", None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.body,
        json!({"error": "flow.flow_timeout2: unknown setting (did you mean flow.flow_timeout?)"})
    );
    let bad = request(addr, "GET", "/api/v1/config?keys=log", None).await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body,
        json!({"error": "keys: unknown parameter (known: key)"})
    );
}

#[tokio::test]
async fn put_config_applies_good_values_and_refuses_bad_ones_whole() {
    let test = TestControl::start(START, &["--log-level", "info"], &[]);
    let addr = serve(&test).await;
    let good = put_config(
        addr,
        r#"{"set": {"flow.flow_timeout": "30s", "flow.max_flows": 500, "capture.attach_mode": "tc"}}"#,
    )
    .await;
    assert_eq!(good.status, 200, "{:?}", good.body);
    assert_eq!(
        good.body,
        json!({
            "applied": ["flow.max_flows", "flow.flow_timeout"],
            "restart_required": ["capture.attach_mode"],
            "unchanged": [],
        })
    );

    let bad = put_config(
        addr,
        r#"{"set": {"flow.flow_timeout": "banana", "flow.max_flowz": "1"}}"#,
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body,
        json!({
            "error": "flow.max_flowz: unknown setting (did you mean flow.max_flows?)",
            "problems": ["flow.max_flowz: unknown setting (did you mean flow.max_flows?)"],
        })
    );
    let bad_value = put_config(addr, r#"{"set": {"flow.flow_timeout": "banana"}}"#).await;
    assert_eq!(bad_value.status, 400);
    assert_eq!(
        bad_value.body["error"],
        "flow.flow_timeout: invalid value \"banana\": expected a duration such as 5s, 1m30s or 250ms"
    );
    assert_eq!(
        test.control.in_force().flow.flow_timeout,
        Duration::from_secs(30)
    );

    let flagged = put_config(addr, r#"{"set": {"log.level": "debug"}}"#).await;
    assert_eq!(flagged.status, 409);
    assert_eq!(
        flagged.body["error"],
        "log.level: given by a command-line flag, which wins over config set; restart without the flag to change it"
    );

    let malformed = put_config(addr, r#"{"flow.flow_timeout": "1s"}"#).await;
    assert_eq!(malformed.status, 400);
    assert!(
        malformed.body["error"]
            .as_str()
            .unwrap()
            .starts_with(r#"body: expected {"set": {"flow.flow_timeout": "60s", ...}}"#),
        "{:?}",
        malformed.body
    );
    let list = put_config(addr, r#"{"set": {"capture.interfaces": ["eth0"]}}"#).await;
    assert_eq!(list.status, 400);
    assert_eq!(
        list.body["error"],
        r#"capture.interfaces: the value must be a string such as "60s" or "eth0,eth1", not ["eth0"]"#
    );
}

#[tokio::test]
async fn the_trace_switch_answers_its_state() {
    let test = TestControl::start(START, &[], &[]);
    let addr = serve(&test).await;
    let off = request(addr, "GET", "/api/v1/debug/trace", None).await;
    assert_eq!(off.body, json!({"enabled": false, "log_level": "info"}));
    let on = post_trace(addr, r#"{"enabled": true}"#).await;
    assert_eq!(on.status, 200);
    assert_eq!(on.body, json!({"enabled": true, "log_level": "trace"}));
    let still = request(addr, "GET", "/api/v1/debug/trace", None).await;
    assert_eq!(still.body, json!({"enabled": true, "log_level": "trace"}));
    let back = post_trace(addr, r#"{"enabled": false}"#).await;
    assert_eq!(back.body, json!({"enabled": false, "log_level": "info"}));
    let bad = post_trace(addr, r#"{"enabled": "yes"}"#).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body["error"]
        .as_str()
        .unwrap()
        .starts_with("body: expected {\"enabled\": true}"));
}

#[tokio::test]
async fn logs_returns_the_newest_lines_oldest_first() {
    let test = TestControl::start(START, &[], &[]);
    for n in 1..=300 {
        test.control.log_ring().push(format!("line {n}"));
    }
    let addr = serve(&test).await;
    let default = request(addr, "GET", "/api/v1/logs", None).await;
    let lines = default.body["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 200);
    assert_eq!(lines[0], "line 101");
    assert_eq!(lines[199], "line 300");
    let two = request(addr, "GET", "/api/v1/logs?lines=2", None).await;
    assert_eq!(two.body, json!({"lines": ["line 299", "line 300"]}));
    let too_many = request(addr, "GET", "/api/v1/logs?lines=10001", None).await;
    assert_eq!(too_many.status, 400);
    assert_eq!(
        too_many.body,
        json!({"error": "lines: \"10001\" is not a number of lines from 0 to 10000"})
    );
}

#[tokio::test]
async fn debug_config_names_the_sources_and_counts_reloads() {
    let test = TestControl::start(
        START,
        &["--log-level", "info"],
        &[("NETMON_FLOW_MAX_FLOWS", "500")],
    );
    reload(&test, "flow: {flow_timeout: banana}\n");
    let addr = serve(&test).await;
    let response = request(addr, "GET", "/debug/config", None).await;
    assert_eq!(response.status, 200);
    let body = response.body;
    let path = test.path.display().to_string();
    assert_eq!(body["path"], json!(path));
    assert_eq!(
        body["sources"],
        json!({"file": path, "env": ["NETMON_FLOW_MAX_FLOWS"], "flags": ["--log-level"]})
    );
    assert_eq!(body["config"]["flow"]["max_flows"], 500);
    assert_eq!(body["reloads"]["applied"], 0);
    assert_eq!(body["reloads"]["rejected"], 1);
    assert_eq!(
        body["reloads"]["last_error"],
        "flow.flow_timeout: invalid value \"banana\": expected a duration such as 5s, 1m30s or 250ms"
    );
    assert!(body["reloads"]["last_reload_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
}
