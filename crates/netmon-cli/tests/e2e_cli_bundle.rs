//! End-to-end: `netmon-cli support bundle` against the real agent: the
//! archive holds exactly the documented files, none empty, the
//! configuration equals the agent's own (redacted) view, a part that
//! cannot be had is an error file, and flows are never included.

#[path = "../../netmon-agent/tests/support/mod.rs"]
mod support;

mod cli_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use cli_support::{run, CLI};
use support::agent::AgentConfig;
use support::netns::IpVersion;
use support::traffic::tcp_exchange;
use support::{missing_prerequisites, TempDir, TestNode, TOPOLOGY_TOOLS};

const PARTS: [&str; 9] = [
    "versions.txt",
    "status.json",
    "config.yaml",
    "doctor.txt",
    "doctor.json",
    "programs.txt",
    "metrics.prom",
    "logs.txt",
    "stats.json",
];

/// The archive's top directory and its files by name.
fn read_bundle(path: &Path) -> (String, BTreeMap<String, String>) {
    let file = std::fs::File::open(path).expect("open the bundle");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut tops = BTreeSet::new();
    let mut files = BTreeMap::new();
    for entry in archive.entries().expect("a tar archive") {
        let mut entry = entry.expect("an archive entry");
        let name = entry
            .path()
            .expect("an entry path")
            .to_string_lossy()
            .into_owned();
        let (top, file) = name
            .split_once('/')
            .expect("every file is under the top directory");
        tops.insert(top.to_owned());
        let mut content = String::new();
        entry.read_to_string(&mut content).expect("a text file");
        files.insert(file.to_owned(), content);
    }
    assert_eq!(tops.len(), 1, "one top directory: {tops:?}");
    (tops.into_iter().next().expect("a top directory"), files)
}

fn is_utc_stamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 16
        && bytes[8] == b'T'
        && bytes[15] == b'Z'
        && bytes[..8]
            .iter()
            .chain(&bytes[9..15])
            .all(u8::is_ascii_digit)
}

#[test]
fn the_bundle_holds_every_documented_part_and_no_flows() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let server = SocketAddr::new(b.ip(IpVersion::V4), 5401);
    let ends = tcp_exchange(a.ns_name(), b.ns_name(), server, 10_000, 10_000);
    let dir = TempDir::new("bundle");
    let output = dir.path().join("support.tar.gz");

    let result = run(
        &node,
        &[
            "support",
            "bundle",
            "--output",
            output.to_str().expect("utf-8"),
        ],
    )
    .expect_success("support bundle");
    let (top, files) = read_bundle(&output);
    assert!(
        top.strip_prefix("netmon-support-")
            .is_some_and(is_utc_stamp),
        "netmon-support-<UTC time>: {top}"
    );
    assert_eq!(
        files.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(PARTS),
        "stderr: {}",
        result.stderr
    );
    for (name, content) in &files {
        assert!(!content.trim().is_empty(), "{name} is empty");
    }
    assert_eq!(result.stderr, "", "no part failed");
    let mode = std::fs::metadata(&output)
        .expect("the bundle")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "only its owner may read the bundle");

    // The summary names the archive and every file in it.
    let listed: Vec<&str> = result.stdout.lines().collect();
    assert_eq!(listed[0], format!("wrote {}", output.display()));
    assert_eq!(listed[1], format!("{top}/"));
    let names: Vec<&str> = listed[2..]
        .iter()
        .map(|line| line.split_whitespace().next().unwrap_or_default())
        .collect();
    assert_eq!(names, PARTS);

    let config: Value = serde_yaml::from_str(&files["config.yaml"]).expect("config.yaml is YAML");
    assert_eq!(
        config,
        node.agent.api_json("/api/v1/config"),
        "the agent's configuration, as its API shows it"
    );

    let versions: Vec<&str> = files["versions.txt"].lines().collect();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("kernel release");
    assert_eq!(
        versions[0],
        concat!("netmon-cli ", env!("CARGO_PKG_VERSION"))
    );
    assert!(versions[1].starts_with(concat!(
        "netmon agent ",
        env!("CARGO_PKG_VERSION"),
        " (node "
    )));
    assert_eq!(versions[2], format!("kernel (uname -r) {}", kernel.trim()));

    let status: Value = serde_json::from_str(&files["status.json"]).expect("status.json is JSON");
    let stats: Value = serde_json::from_str(&files["stats.json"]).expect("stats.json is JSON");
    assert!(stats["flows"].is_u64(), "{stats}");
    let doctor: Value = serde_json::from_str(&files["doctor.json"]).expect("doctor.json is JSON");
    assert!(doctor["checks"].is_array(), "{doctor}");
    for pod in node.topology.pods() {
        let interface = &pod.node_interface;
        assert!(
            status["interfaces"]
                .as_array()
                .expect("interfaces")
                .iter()
                .any(|i| i["name"] == *interface),
            "{status}"
        );
        assert!(
            files["programs.txt"]
                .lines()
                .any(|line| line.starts_with(&format!("{interface} ifindex "))),
            "{interface} in programs.txt:\n{}",
            files["programs.txt"]
        );
        assert!(
            files["metrics.prom"].contains(&format!("interface=\"{interface}\"")),
            "the metrics snapshot has {interface}'s series"
        );
    }
    assert!(
        files["logs.txt"].contains("netmon_agent"),
        "{}",
        files["logs.txt"]
    );

    // Flows are left out: the test connection's client port appears in no
    // file but the logs (which the agent writes at debug level here).
    let client = format!("{}:{}", ends.client.ip(), ends.client.port());
    let port_field = format!("\"src_port\":{}", ends.client.port());
    for (name, content) in files.iter().filter(|(name, _)| name.as_str() != "logs.txt") {
        assert!(
            !content.contains(&client) && !content.contains(&port_field),
            "{name} holds a flow"
        );
    }
}

#[test]
fn a_part_that_cannot_be_had_becomes_an_error_file_and_the_rest_is_written() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let dir = TempDir::new("bundle");
    let output = dir.path().join("support.tar.gz");
    let output_arg = output.to_str().expect("utf-8");

    // Nothing listens on port 1 of the node namespace.
    let result = run(
        &node,
        &[
            "support",
            "bundle",
            "--output",
            output_arg,
            "--metrics-url",
            "http://127.0.0.1:1/metrics",
        ],
    )
    .expect_success("support bundle");
    let (_, files) = read_bundle(&output);
    let expected: BTreeSet<String> = PARTS
        .iter()
        .map(|part| match *part {
            "metrics.prom" => "metrics.prom.error.txt".to_owned(),
            other => other.to_owned(),
        })
        .collect();
    assert_eq!(files.keys().cloned().collect::<BTreeSet<_>>(), expected);
    let reason = &files["metrics.prom.error.txt"];
    assert!(
        reason.starts_with("scraping http://127.0.0.1:1/metrics: cannot reach "),
        "{reason}"
    );
    assert_eq!(result.stderr, format!("netmon-cli: metrics.prom: {reason}"));
}

#[test]
fn without_an_agent_the_bundle_has_the_local_parts_and_the_exit_status_is_1() {
    let dir = TempDir::new("bundle");
    let output = dir.path().join("support.tar.gz");
    let socket = dir.path().join("no-agent.sock");
    let result = Command::new(CLI)
        .arg("--agent")
        .arg(&socket)
        .args(["support", "bundle", "--output"])
        .arg(&output)
        .output()
        .expect("run netmon-cli");
    assert_eq!(result.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.ends_with(&format!(
            "netmon-cli: the agent at {} could not be reached: the bundle holds only what this machine could tell\n",
            socket.display()
        )),
        "{stderr}"
    );
    let (_, files) = read_bundle(&output);
    let names: BTreeSet<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "versions.txt",
            "status.json.error.txt",
            "config.yaml.error.txt",
            "doctor.txt",
            "doctor.json",
            if bpftool_installed() {
                "programs.txt"
            } else {
                "programs.txt.error.txt"
            },
            "metrics.prom.error.txt",
            "logs.txt.error.txt",
            "stats.json.error.txt",
        ])
    );
}

fn bpftool_installed() -> bool {
    Command::new("bpftool").arg("version").output().is_ok()
}
