//! Harness shared by netmon's end-to-end tests.
//!
//! The tests build the shape of a Kubernetes node out of network namespaces
//! (a `node` namespace routing between pod namespaces over veth pairs), run
//! the real `netmon` binary in the node namespace, make traffic between the
//! pods from the test's own threads, and compare what the agent reports with
//! ground truth counted independently by nftables and the links' counters.
//!
//! Running them needs root, `ip`, `nft`, `ethtool` (and `bpftool` for the
//! life-cycle test):
//!
//! ```text
//! cargo test -p netmon-agent --test 'e2e_*'
//! ```
//!
//! Without root or a tool each test prints why and passes, unless
//! `NMTEST_REQUIRE_ROOT=1` (CI) turns that into a failure.
//! `NMTEST_AGENT=/path/to/netmon` runs the suite against another build.
//!
//! Every test binary compiles this module and each uses only part of it, so
//! unused items are expected here.
#![allow(dead_code)]

pub mod agent;
pub mod apps;
pub mod bpf;
pub mod in_netns;
pub mod netns;
pub mod nft;
pub mod traffic;

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use agent::{Agent, AgentConfig};
use netns::{LinkCounters, Offloads, Topology};

/// CI sets this so that a test which cannot run fails instead of skipping.
pub const REQUIRE_ROOT_TESTS_ENV: &str = "NMTEST_REQUIRE_ROOT";

/// Tools every namespace-building test needs.
pub const TOPOLOGY_TOOLS: &[&str] = &["ip", "nft", "ethtool"];

/// Set by CI (with [`REQUIRE_ROOT_TESTS_ENV`]): a tool a test needs that
/// is missing fails the test instead of skipping it.
pub const REQUIRE_TOOLS_ENV: &str = "NMTEST_REQUIRE_TOOLS";

/// Returns true (after printing why) when this test cannot run here: it is
/// not root or a tool it needs is missing. With
/// `NMTEST_REQUIRE_ROOT=1` it panics with the reason instead, so a CI
/// job cannot go green by skipping everything; with `NMTEST_REQUIRE_TOOLS=1`
/// a missing tool panics too.
pub fn missing_prerequisites(tools: &[&str]) -> bool {
    missing_prerequisites_with(tools, Vec::new())
}

/// Like [`missing_prerequisites`], with missing things the caller found
/// itself (a binary off `PATH`, a Python module), which count as missing
/// tools. A tool may also be named by its absolute path.
pub fn missing_prerequisites_with(tools: &[&str], missing_tools: Vec<String>) -> bool {
    let mut reasons = Vec::new();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        reasons.push("it must run as root (namespaces, nftables, eBPF)".to_string());
    }
    let mut tool_reasons: Vec<String> = tools
        .iter()
        .filter(|tool| !tool_on_path(tool))
        .map(|tool| format!("`{tool}` is not on PATH"))
        .collect();
    tool_reasons.extend(missing_tools);
    let tool_missing = !tool_reasons.is_empty();
    reasons.extend(tool_reasons);
    if reasons.is_empty() {
        return false;
    }
    let why = reasons.join("; ");
    if std::env::var(REQUIRE_ROOT_TESTS_ENV).as_deref() == Ok("1") {
        panic!("{REQUIRE_ROOT_TESTS_ENV}=1 but this end-to-end test cannot run: {why}");
    }
    if tool_missing && std::env::var(REQUIRE_TOOLS_ENV).as_deref() == Ok("1") {
        panic!("{REQUIRE_TOOLS_ENV}=1 but this end-to-end test cannot run: {why}");
    }
    eprintln!(
        "skipping end-to-end test because {why} (set {REQUIRE_ROOT_TESTS_ENV}=1 to fail instead)"
    );
    true
}

fn tool_on_path(tool: &str) -> bool {
    if tool.contains('/') {
        return Path::new(tool).is_file();
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false)
}

/// Runs a command to completion and returns its stdout; panics with the
/// command line and its stderr when it fails, because a harness step that
/// failed silently would make every later assertion misleading.
pub fn run(command: &mut Command) -> String {
    run_with_stdin(command, None)
}

/// Like [`run`], feeding `stdin` to the command.
pub fn run_with_stdin(command: &mut Command, stdin: Option<&str>) -> String {
    match try_run_with_stdin(command, stdin) {
        Ok(stdout) => stdout,
        Err(error) => panic!("{error}"),
    }
}

/// Like [`run`], returning the failure instead of panicking (for cleanup
/// paths, which must not panic while a test is already unwinding).
pub fn try_run(command: &mut Command) -> Result<String, String> {
    try_run_with_stdin(command, None)
}

fn try_run_with_stdin(command: &mut Command, stdin: Option<&str>) -> Result<String, String> {
    let line = format!("{command:?}");
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {line}: {e}"))?;
    if let Some(input) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin was piped");
        pipe.write_all(input.as_bytes())
            .map_err(|e| format!("cannot write stdin of {line}: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("cannot wait for {line}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{line} failed with {}:\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            stdin
                .map(|s| format!("\nstdin was:\n{s}"))
                .unwrap_or_default()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Polls `check` until it returns `Ok` or `timeout` passes; on timeout panics
/// with `what` and the last reason `check` gave. The agent reports in
/// batches (every `flow.flush_interval`), so the tests wait for the exact
/// expected value to appear rather than sleeping a guessed amount.
pub fn eventually<T>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(value) => return value,
            Err(reason) if Instant::now() >= deadline => {
                panic!("{what}: still not true after {timeout:?}: {reason}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Names unique to this test process and call: `<pid>x<counter><random>`.
/// The pid makes names from concurrent test runs distinct and lets a later
/// run recognise leftovers of a run that was killed; the random part keeps
/// names distinct if a pid is reused.
pub fn unique_tag() -> UniqueTag {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    UniqueTag {
        pid: std::process::id(),
        counter: COUNTER.fetch_add(1, Ordering::Relaxed),
        random: random_u64(),
    }
}

#[derive(Debug, Clone, Copy)]
pub struct UniqueTag {
    pub pid: u32,
    pub counter: u32,
    pub random: u64,
}

impl fmt::Display for UniqueTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{}{:04x}",
            self.pid,
            self.counter,
            self.random & 0xffff
        )
    }
}

pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    u64::from_ne_bytes(bytes)
}

/// A scratch directory for one test (agent config, agent log), removed on
/// drop.
pub struct TempDir {
    path: std::path::PathBuf,
}

impl TempDir {
    pub fn new(purpose: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("netmon-e2e-{purpose}-{}", unique_tag()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Traffic counters of one flow in the agent's terms: link-layer bytes,
/// `tx` from the initiator to the responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowCounts {
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub rx_packets: u64,
}

/// Bytes the agent counts per packet on top of what nftables counts:
/// nftables sees the L3 packet, TC sees `skb->len` with the Ethernet header.
pub const ETHERNET_HEADER_BYTES: u64 = 14;

/// A node namespace routing between pods `a` and `b`, with the agent
/// running in the node namespace. Field order matters: the agent is stopped
/// before the namespaces it watches are deleted.
pub struct TestNode {
    pub agent: Agent,
    pub topology: Topology,
}

impl TestNode {
    /// Builds the topology with offloads off (packets = wire packets) and
    /// starts the agent with `config`.
    pub fn start(config: AgentConfig) -> TestNode {
        Self::start_with(config, Offloads::Off)
    }

    pub fn start_with(config: AgentConfig, offloads: Offloads) -> TestNode {
        let topology = Topology::build(&["a", "b"], offloads);
        let agent = Agent::start(topology.node(), config);
        TestNode { agent, topology }
    }
}

impl TestNode {
    /// Kernel counters of the node's end of every pod link, by interface.
    pub fn node_link_counters(&self) -> BTreeMap<String, LinkCounters> {
        self.topology
            .pods()
            .iter()
            .map(|pod| {
                let counters = self.topology.node().link_counters(&pod.node_interface);
                (pod.node_interface.clone(), counters)
            })
            .collect()
    }

    /// Waits until the agent's per-interface counters of every node link
    /// equal what the link's own counters gained since `baseline` (taken
    /// once the agent was ready; links missing from it count from zero).
    /// The links carry only the test's packets, so both must agree exactly:
    /// ingress = what the link received, egress = what it sent.
    pub fn assert_interface_metrics_match_links_since(
        &self,
        baseline: &BTreeMap<String, LinkCounters>,
    ) {
        let links: BTreeMap<String, LinkCounters> = self
            .node_link_counters()
            .into_iter()
            .map(|(name, now)| {
                let since = now.since(&baseline.get(&name).copied().unwrap_or_default());
                (name, since)
            })
            .collect();
        eventually(
            Duration::from_secs(10),
            "per-interface metrics equal the links' counters",
            || {
                let metrics = self.agent.metrics();
                let mismatches: Vec<String> = links
                    .iter()
                    .flat_map(|(interface, link)| {
                        let agent = |name: &str, hook: &str| {
                            metrics.value_or_zero(name, &[("interface", interface), ("hook", hook)])
                        };
                        [
                            (
                                "bytes",
                                "ingress",
                                agent("netmon_interface_bytes_total", "ingress"),
                                link.rx_bytes,
                            ),
                            (
                                "bytes",
                                "egress",
                                agent("netmon_interface_bytes_total", "egress"),
                                link.tx_bytes,
                            ),
                            (
                                "packets",
                                "ingress",
                                agent("netmon_interface_packets_total", "ingress"),
                                link.rx_packets,
                            ),
                            (
                                "packets",
                                "egress",
                                agent("netmon_interface_packets_total", "egress"),
                                link.tx_packets,
                            ),
                        ]
                        .into_iter()
                        .filter(|(_, _, agent, link)| agent != link)
                        .map(move |(what, hook, agent, link)| {
                            format!("{interface} {hook} {what}: agent {agent}, link {link}")
                        })
                    })
                    .collect();
                if mismatches.is_empty() {
                    Ok(())
                } else {
                    Err(mismatches.join("; "))
                }
            },
        );
    }
}
