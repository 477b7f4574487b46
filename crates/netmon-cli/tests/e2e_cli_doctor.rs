//! `netmon-cli doctor` run as a real binary on this machine: it passes
//! here, and names the missing piece when a flag points it at one.
//!
//! The probes create maps, load programs and attach a TCX link to lo, so
//! these tests need root. Without it each test prints why and passes,
//! unless `NMTEST_REQUIRE_ROOT=1` (CI) turns that into a failure, as in
//! the agent's e2e suite.

use std::{
    net::TcpListener,
    process::{Command, Output},
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::Value;

const REQUIRE_ROOT_TESTS_ENV: &str = "NMTEST_REQUIRE_ROOT";

/// True (after printing why) when the test cannot run here.
fn not_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return false;
    }
    let reason = "the doctor's BPF probes need root";
    if std::env::var(REQUIRE_ROOT_TESTS_ENV).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_ROOT_TESTS_ENV}=1 but {reason}");
    }
    eprintln!("skipping: {reason}");
    true
}

fn netmon_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netmon-cli"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("netmon-cli runs")
}

/// Runs `args` with `-o json`; returns the exit code and the report.
fn doctor_json(args: &[&str]) -> (i32, Value) {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let output = netmon_cli(&all);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().expect("exited"), report)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks is an array")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

fn names(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .expect("checks is an array")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_string())
        .collect()
}

/// A path that exists on no machine.
fn nonexistent(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("/nonexistent-{what}-{}-{nanos}", std::process::id())
}

/// A port nothing listens on right now: bound, read and released.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// What a check gives on this machine.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Here {
    /// What PLATFORM.md says this machine has.
    Passes,
    /// Depends on how the machine is set up at the moment (cgroup layout,
    /// sysctls other tests change).
    MayWarn,
}

/// Every check before the port checks, in the order the doctor runs them.
const CHECKS: &[(&str, Here)] = &[
    ("kernel", Here::Passes),
    ("btf", Here::Passes),
    ("capabilities", Here::Passes),
    ("map:hash", Here::Passes),
    ("map:lru_hash", Here::Passes),
    ("map:percpu_hash", Here::Passes),
    ("map:array", Here::Passes),
    ("map:percpu_array", Here::Passes),
    ("map:ringbuf", Here::Passes),
    ("program:sched_cls", Here::Passes),
    ("program:tracepoint", Here::Passes),
    ("program:tp_btf", Here::Passes),
    ("netmon_object", Here::Passes),
    ("tcx", Here::Passes),
    ("clsact", Here::MayWarn),
    ("tracefs", Here::Passes),
    ("tracepoint:sock/inet_sock_set_state", Here::Passes),
    ("tracepoint:tcp/tcp_probe", Here::Passes),
    ("tracepoint:tcp/tcp_retransmit_skb", Here::Passes),
    ("tracepoint:tcp/tcp_retransmit_synack", Here::Passes),
    ("cgroup_v2", Here::MayWarn),
    ("bpffs", Here::MayWarn),
    ("nf_conntrack_acct", Here::MayWarn),
];

fn expected_names(port: u16) -> Vec<String> {
    CHECKS
        .iter()
        .map(|(name, _)| name.to_string())
        .chain([format!("port:{port}")])
        .collect()
}

fn passes_here(name: &str) -> bool {
    CHECKS.contains(&(name, Here::Passes))
}

#[test]
fn doctor_passes_on_this_machine_with_every_check_pass_or_warn() {
    if not_root() {
        return;
    }
    let port = free_port();
    let (code, report) = doctor_json(&["doctor", "--ports", &port.to_string()]);
    assert_eq!(names(&report), expected_names(port));
    for c in report["checks"].as_array().expect("checks") {
        let name = c["name"].as_str().expect("name");
        let status = c["status"].as_str().expect("status");
        if passes_here(name) {
            assert_eq!(status, "pass", "{c:#}");
            assert_eq!(c["fix"], Value::Null, "{c:#}");
        } else {
            assert!(status == "pass" || status == "warn", "{c:#}");
        }
    }
    assert_eq!(
        check(&report, &format!("port:{port}"))["detail"],
        format!("{port} is free")
    );
    assert_eq!(report["ok"], true);
    assert_eq!(code, 0);
}

#[test]
fn check_system_is_the_same_command() {
    if not_root() {
        return;
    }
    let port = free_port();
    let (code, report) = doctor_json(&["check-system", "--ports", &port.to_string()]);
    assert_eq!(names(&report), expected_names(port));
    assert_eq!(report["ok"], true);
    assert_eq!(code, 0);
}

#[test]
fn a_missing_tracefs_warns_with_the_mount_command_and_netmon_can_still_run() {
    if not_root() {
        return;
    }
    let tracefs = nonexistent("tracefs");
    let port = free_port().to_string();
    let (code, report) = doctor_json(&["doctor", "--tracefs", &tracefs, "--ports", &port]);
    let fix = format!("mount -t tracefs tracefs {tracefs}");
    let tracefs_check = check(&report, "tracefs");
    assert_eq!(tracefs_check["status"], "warn");
    assert_eq!(
        tracefs_check["detail"],
        format!("no tracefs at {tracefs} (no events/): without it TCP lifecycle, RTT and retransmit tracking are off")
    );
    assert_eq!(tracefs_check["fix"], fix.as_str());
    let lifecycle = check(&report, "tracepoint:sock/inet_sock_set_state");
    assert_eq!(lifecycle["status"], "warn");
    assert_eq!(
        lifecycle["detail"],
        "not checked without tracefs: TCP lifecycle tracking (opens, closes, resets, refusals) will be off"
    );
    assert_eq!(lifecycle["fix"], fix.as_str());
    assert_eq!(report["ok"], true);
    assert_eq!(code, 0);
}

#[test]
fn a_missing_btf_fails_and_the_exit_status_says_so() {
    if not_root() {
        return;
    }
    let btf = nonexistent("btf");
    let port = free_port().to_string();
    let (code, report) = doctor_json(&["doctor", "--btf", &btf, "--ports", &port]);
    let btf_check = check(&report, "btf");
    assert_eq!(btf_check["status"], "fail");
    assert_eq!(
        btf_check["detail"],
        format!("{btf}: not found: this kernel has no BTF, and netmon's CO-RE programs cannot be relocated")
    );
    assert_eq!(
        btf_check["fix"],
        "use a kernel built with CONFIG_DEBUG_INFO_BTF=y"
    );
    assert_eq!(report["ok"], false);
    assert_eq!(code, 1);
}

#[test]
fn a_port_this_test_holds_is_reported_in_use_by_this_tests_pid() {
    if not_root() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let comm = std::fs::read_to_string("/proc/self/comm").expect("comm");
    let (code, report) = doctor_json(&["doctor", "--ports", &port.to_string()]);
    let port_check = check(&report, &format!("port:{port}"));
    assert_eq!(port_check["status"], "fail");
    assert_eq!(
        port_check["detail"],
        format!(
            "127.0.0.1:{port} held by pid {} ({})",
            std::process::id(),
            comm.trim_end()
        )
    );
    assert_eq!(
        port_check["fix"],
        "stop the process holding it, or give netmon another port (api.address, export.prometheus.port, doctor --ports)"
    );
    assert_eq!(report["ok"], false);
    assert_eq!(code, 1);
    drop(listener);
}

#[test]
fn the_table_lists_every_check_aligned_and_ends_with_the_verdict() {
    if not_root() {
        return;
    }
    let port = free_port();
    let output = netmon_cli(&["--color", "never", "doctor", "--ports", &port.to_string()]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("pass  ") || l.starts_with("warn  ") || l.starts_with("fail  "))
        .collect();
    let row_names: Vec<String> = rows
        .iter()
        .map(|row| {
            row[6..]
                .split_whitespace()
                .next()
                .expect("name")
                .to_string()
        })
        .collect();
    assert_eq!(row_names, expected_names(port));
    // Every detail starts in the same column.
    let width = expected_names(port)
        .iter()
        .map(String::len)
        .max()
        .expect("names");
    for row in &rows {
        let detail_column = &row[6 + width..];
        assert!(detail_column.starts_with("  "), "{row:?}");
        assert!(!detail_column[2..].starts_with(' '), "{row:?}");
    }
    assert!(!text.contains('\x1b'), "no colours with --color never");
    let last = text.lines().last().expect("a summary line");
    assert!(
        last.ends_with(", 0 failed: netmon can run here"),
        "{last:?}"
    );
}
