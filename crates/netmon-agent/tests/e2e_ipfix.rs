//! End-to-end: the agent exports its flows over IPFIX to a real collector,
//! nfcapd (Debian's `nfdump` package), and what `nfdump` reads back from
//! the collector's files is, per flow and direction, exactly what the
//! agent's API reports, which is exactly what nftables in the pods counted.
//!
//! nfcapd runs in the node namespace, where the agent runs, on loopback
//! (which the agent does not watch). The test stops the agent before the
//! collector: the agent's last drain and final export round must reach
//! nfcapd, or flows still active would be missing.

mod support;

use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::agent::{Agent, AgentConfig, Flow, FlowQuery};
use support::netns::{IpVersion, Netns, Offloads, Topology};
use support::nft::{count_flow, FlowMatch};
use support::traffic::{tcp_exchange, udp_echo, TcpServer};
use support::{eventually, missing_prerequisites, run, FlowCounts, TempDir, TOPOLOGY_TOOLS};

/// IPFIX's registered port, inside the node namespace, which belongs to
/// this test alone.
const COLLECTOR_PORT: u16 = 4739;
const COLLECTOR_TOOLS: &[&str] = &["nfcapd", "nfdump", "ss"];

fn prerequisites_missing() -> bool {
    let tools: Vec<&str> = TOPOLOGY_TOOLS
        .iter()
        .chain(COLLECTOR_TOOLS)
        .copied()
        .collect();
    missing_prerequisites(&tools)
}

/// `export.ipfix` pointing at the test's nfcapd, with `extra` keys.
fn agent_config(extra: &str) -> AgentConfig {
    AgentConfig::default().with_export_section(
        "ipfix",
        &format!(
            "    enabled: true\n    collector: 127.0.0.1:{COLLECTOR_PORT}\n    observation_domain_id: 7\n{extra}"
        ),
    )
}

/// One flow record as `nfdump -o json` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NfdumpRecord {
    source: SocketAddr,
    destination: SocketAddr,
    protocol: u8,
    packets: u64,
    bytes: u64,
    /// nfdump's spelling: `...AP.SF`, a letter per flag seen.
    tcp_flags: String,
}

/// What nfcapd wrote and said when it stopped.
struct Collected {
    records: Vec<NfdumpRecord>,
    log: String,
}

impl Collected {
    /// The records from `source` to `destination`, one per export window.
    fn direction(&self, source: SocketAddr, destination: SocketAddr) -> Vec<&NfdumpRecord> {
        self.records
            .iter()
            .filter(|r| r.source == source && r.destination == destination)
            .collect()
    }

    /// `flow`'s counters summed over its records: initiator → responder as
    /// `tx`, the reverse as `rx`.
    fn counts_of(&self, flow: &Flow) -> FlowCounts {
        let initiator = SocketAddr::new(flow.src_ip, flow.src_port);
        let responder = SocketAddr::new(flow.dst_ip, flow.dst_port);
        let sum = |records: Vec<&NfdumpRecord>| {
            records
                .iter()
                .fold((0, 0), |(b, p), r| (b + r.bytes, p + r.packets))
        };
        let (tx_bytes, tx_packets) = sum(self.direction(initiator, responder));
        let (rx_bytes, rx_packets) = sum(self.direction(responder, initiator));
        FlowCounts {
            tx_bytes,
            tx_packets,
            rx_bytes,
            rx_packets,
        }
    }
}

/// nfcapd in the node namespace, collecting into a temporary directory;
/// killed by its pid when dropped without [`Nfcapd::stop`].
struct Nfcapd {
    child: Option<Child>,
    flows: PathBuf,
    log: PathBuf,
    _dir: TempDir,
}

impl Nfcapd {
    fn start(node: &Netns) -> Nfcapd {
        let dir = TempDir::new("nfcapd");
        let flows = dir.path().join("flows");
        std::fs::create_dir(&flows).expect("create the flow directory");
        let log = dir.path().join("nfcapd.log");
        let output = File::create(&log).expect("create the nfcapd log");
        // `ip netns exec` execs nfcapd in place: the child's pid is nfcapd's.
        let child = Command::new("ip")
            .args(["netns", "exec", node.name(), "nfcapd", "-w"])
            .arg(&flows)
            .args(["-b", "127.0.0.1", "-p", &COLLECTOR_PORT.to_string()])
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("clone the log handle"))
            .stderr(output)
            .spawn()
            .expect("start nfcapd");
        let nfcapd = Nfcapd {
            child: Some(child),
            flows,
            log,
            _dir: dir,
        };
        let listening = format!("127.0.0.1:{COLLECTOR_PORT}");
        eventually(Duration::from_secs(10), "nfcapd listens", || {
            let sockets = node.exec("ss", &["-Hnul"]);
            if sockets.contains(&listening) {
                Ok(())
            } else {
                Err(format!(
                    "ss -Hnul: {sockets}; nfcapd log: {}",
                    nfcapd.log_text()
                ))
            }
        });
        nfcapd
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, which makes nfcapd write its last file, then reads every
    /// file with `nfdump -R`.
    fn stop(mut self) -> Collected {
        let mut child = self.child.take().expect("nfcapd is running");
        signal(&child, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().expect("wait for nfcapd").is_none() {
            assert!(
                Instant::now() < deadline,
                "nfcapd did not exit within 10 s of SIGTERM; its log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let json = run(Command::new("nfdump")
            .arg("-R")
            .arg(&self.flows)
            .args(["-o", "json"]));
        Collected {
            records: parse_nfdump_json(&json),
            log: self.log_text(),
        }
    }
}

impl Drop for Nfcapd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() {
                eprintln!("---- nfcapd log ----\n{}", self.log_text());
            }
        }
    }
}

fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: kill(2) on our own child, not reaped yet, so the pid is still
    // nfcapd's.
    unsafe { libc::kill(pid, signal) };
}

/// `nfdump -o json`: a JSON array of flow objects (nothing at all when the
/// files hold no flow).
fn parse_nfdump_json(json: &str) -> Vec<NfdumpRecord> {
    if json.trim().is_empty() {
        return Vec::new();
    }
    let flows: Vec<serde_json::Value> = serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("nfdump -o json is not a JSON array ({e}):\n{json}"));
    flows
        .iter()
        .map(|flow| {
            let text = |key: &str| flow.get(key).and_then(|v| v.as_str());
            let number = |key: &str| {
                flow.get(key)
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or_else(|| panic!("no number {key} in {flow}"))
            };
            let address = |v4: &str, v6: &str| -> IpAddr {
                text(v4)
                    .or_else(|| text(v6))
                    .unwrap_or_else(|| panic!("no {v4} or {v6} in {flow}"))
                    .parse()
                    .unwrap_or_else(|e| panic!("{v4}/{v6} of {flow}: {e}"))
            };
            let port = |key: &str| u16::try_from(number(key)).expect("a port");
            NfdumpRecord {
                source: SocketAddr::new(address("src4_addr", "src6_addr"), port("src_port")),
                destination: SocketAddr::new(address("dst4_addr", "dst6_addr"), port("dst_port")),
                protocol: u8::try_from(number("proto")).expect("a protocol number"),
                packets: number("in_packets"),
                bytes: number("in_bytes"),
                tcp_flags: text("tcp_flags").unwrap_or_default().to_owned(),
            }
        })
        .collect()
}

/// Asserts nfcapd received every message in sequence and none it could not read.
fn assert_no_sequence_errors(collected: &Collected) {
    assert!(
        collected.log.contains("Sequence Errors: 0, Bad Packets: 0"),
        "nfcapd saw sequence errors or bad packets:\n{}",
        collected.log
    );
}

#[test]
fn tcp_and_udp_flows_over_ipv4_and_ipv6_reach_nfdump_with_the_agents_exact_counts() {
    if prerequisites_missing() {
        return;
    }
    let topology = Topology::build(&["a", "b"], Offloads::Off);
    let nfcapd = Nfcapd::start(topology.node());
    let agent = Agent::start(topology.node(), agent_config(""));
    let (a, b) = (topology.pod("a"), topology.pod("b"));

    // (protocol, IP version, server port, payloads); every flow is counted
    // by nftables in the pods.
    let cases = [
        ("tcp", IpVersion::V4, 5001, (1_000_000, 300_000)),
        ("tcp", IpVersion::V6, 5002, (200_000, 100_000)),
        ("udp", IpVersion::V4, 6001, (20, 1200)),
        ("udp", IpVersion::V6, 6002, (10, 500)),
    ];
    let mut flows = Vec::new();
    for (index, (protocol, version, port, (first, second))) in cases.into_iter().enumerate() {
        let server = SocketAddr::new(b.ip(version), port);
        let client = a.ip(version);
        let name = format!("flow{index}");
        let truth = match protocol {
            "tcp" => {
                let truth = count_flow(&a.ns, &b.ns, &name, FlowMatch::Tcp { client, server });
                tcp_exchange(a.ns_name(), b.ns_name(), server, first, second);
                truth
            }
            _ => {
                let truth = count_flow(&a.ns, &b.ns, &name, FlowMatch::Udp { client, server });
                udp_echo(a.ns_name(), b.ns_name(), server, first, second);
                truth
            }
        };
        let expected = truth.read_when_quiet().link_layer();
        let query = FlowQuery::new().ip(client).port(port).protocol(protocol);
        // TCP flows are closed by their FINs and exported at once; the UDP
        // ones stay active and go out in the final round at shutdown.
        let status = if protocol == "tcp" {
            "closed"
        } else {
            "active"
        };
        flows.push((protocol, agent.wait_for_flow_with(&query, status, expected)));
    }

    // Datagrams right before SIGTERM, likely before any drain saw them: the
    // agent drains once more on its way out, and exports what it found.
    let last_server = SocketAddr::new(b.ip(IpVersion::V4), 6003);
    let last_client = a.ip(IpVersion::V4);
    let last_truth = count_flow(
        &a.ns,
        &b.ns,
        "last",
        FlowMatch::Udp {
            client: last_client,
            server: last_server,
        },
    );
    let last = udp_echo(a.ns_name(), b.ns_name(), last_server, 5, 100);
    let last_expected = last_truth.read_when_quiet().link_layer();

    agent.stop_and_expect_clean_exit();
    let collected = nfcapd.stop();

    let sum = |from: SocketAddr, to: SocketAddr| {
        collected
            .direction(from, to)
            .iter()
            .fold((0, 0), |(b, p), r| (b + r.bytes, p + r.packets))
    };
    assert_eq!(
        (sum(last.client, last_server), sum(last_server, last.client)),
        (
            (last_expected.tx_bytes, last_expected.tx_packets),
            (last_expected.rx_bytes, last_expected.rx_packets)
        ),
        "the flow counted just before the stop"
    );

    for (protocol, flow) in &flows {
        assert_eq!(
            collected.counts_of(flow),
            flow.counts(),
            "{protocol} {}:{} → {}:{}: nfdump's records vs the agent; records: {:#?}",
            flow.src_ip,
            flow.src_port,
            flow.dst_ip,
            flow.dst_port,
            collected.records
        );
        let initiator = SocketAddr::new(flow.src_ip, flow.src_port);
        let responder = SocketAddr::new(flow.dst_ip, flow.dst_port);
        let number = if *protocol == "tcp" { 6 } else { 17 };
        for record in collected
            .direction(initiator, responder)
            .into_iter()
            .chain(collected.direction(responder, initiator))
        {
            assert_eq!(record.protocol, number, "{record:?}");
        }
        if *protocol == "tcp" {
            let forward: String = collected
                .direction(initiator, responder)
                .iter()
                .map(|r| r.tcp_flags.as_str())
                .collect();
            for flag in ['S', 'A', 'F'] {
                assert!(forward.contains(flag), "{flag} missing from {forward:?}");
            }
            assert!(!forward.contains('R'), "nothing was reset: {forward:?}");
        }
    }
    assert_no_sequence_errors(&collected);
}

#[test]
fn a_long_connection_is_exported_in_windows_that_add_up_to_its_counts() {
    if prerequisites_missing() {
        return;
    }
    let topology = Topology::build(&["a", "b"], Offloads::Off);
    let nfcapd = Nfcapd::start(topology.node());
    let agent = Agent::start(topology.node(), agent_config("    active_timeout: 1s\n"));
    let (a, b) = (topology.pod("a"), topology.pod("b"));
    let server = SocketAddr::new(b.ip(IpVersion::V4), 5003);
    let client = a.ip(IpVersion::V4);
    let truth = count_flow(&a.ns, &b.ns, "long", FlowMatch::Tcp { client, server });

    let listener = TcpServer::listen(b.ns_name(), server);
    let mut connection = listener.accept_connection_from(a.ns_name());
    // An exchange every 3.5 s: longer than the drain (1 s), the active
    // timeout (1 s) and the exporter's next look (1 s) together, so each
    // lands in a window of its own.
    for round in 0..3 {
        if round > 0 {
            std::thread::sleep(Duration::from_millis(3500));
        }
        connection.exchange(20_000);
    }
    connection.close();

    let expected = truth.read_when_quiet().link_layer();
    let query = FlowQuery::new()
        .ip(client)
        .port(server.port())
        .protocol("tcp");
    let flow = agent.wait_for_flow_with(&query, "closed", expected);
    agent.stop_and_expect_clean_exit();
    let collected = nfcapd.stop();

    assert_eq!(collected.counts_of(&flow), expected);
    let forward = collected.direction(SocketAddr::new(flow.src_ip, flow.src_port), server);
    assert!(
        forward.len() >= 3,
        "three exchanges far apart are at least three records, got {}: {forward:#?}",
        forward.len()
    );
    assert!(
        forward.iter().all(|r| r.packets > 0 && r.bytes > 0),
        "no record is empty: {forward:#?}"
    );
    assert_no_sequence_errors(&collected);
}
