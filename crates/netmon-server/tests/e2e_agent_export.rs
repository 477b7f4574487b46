//! End-to-end: traffic between test pods → the real agent (`export.grpc`)
//! → the real netmon-server → a real ClickHouse. What ClickHouse holds per
//! flow equals, to the byte, what the agent counted and what nftables in the
//! pods counted, through a ClickHouse outage, a netmon-server SIGKILL and
//! broken connections; and with a buffer too small for an outage, what is
//! missing is exactly what the agent counted as dropped. Also over mutual
//! TLS, with certificates made by `openssl`.
//!
//! ClickHouse and netmon-server run on the host's loopback (this crate's
//! test support); the agent runs in the test's node namespace, which has
//! its own loopback, so a relay in the test joins the two: it listens in the
//! node namespace and forwards each connection to netmon-server. Cutting the
//! relay's connections breaks the agent's connection like a network fault.
//!
//! Needs root, `ip`, `nft`, `ethtool`, `clickhouse-server`, `openssl`, and the agent
//! binary (`cargo build -p netmon-agent`).

mod support;

#[path = "../../netmon-agent/tests/support/mod.rs"]
mod agent_support;

use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use agent_support::agent::{Agent, AgentConfig, FlowQuery};
use agent_support::in_netns::in_netns;
use agent_support::netns::{IpVersion, Offloads, Topology};
use agent_support::nft::{count_flow, FlowMatch};
use agent_support::traffic::{tcp_exchange, udp_echo, TcpServer};
use agent_support::{eventually, missing_prerequisites, run, FlowCounts, TempDir, TOPOLOGY_TOOLS};
use support::server::Stack;

/// How long ClickHouse may take to hold what the agent sent: the server
/// batches for 100 ms, and replays its spool after an outage.
const CLICKHOUSE_WAIT: Duration = Duration::from_secs(60);
/// Ethernet + IPv4 + UDP headers around a datagram, as the agent counts it.
const UDP_V4_OVERHEAD: u64 = 14 + 20 + 8;

/// Forwards connections made to `address` (loopback of the node
/// namespace) to netmon-server's port on the host's loopback.
struct Relay {
    address: SocketAddr,
    open: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Relay {
    fn start(node_ns: &str, upstream_port: u16) -> Relay {
        let listener = in_netns(node_ns, || TcpListener::bind("127.0.0.1:0"))
            .expect("listen in the node namespace");
        listener.set_nonblocking(true).expect("non-blocking accept");
        let address = listener.local_addr().expect("relay address");
        let open = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        // Spawned from a thread in the host's namespace, so its connections
        // upstream are made there.
        let acceptor = {
            let (open, stop) = (open.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((downstream, _)) => relay_connection(downstream, upstream_port, &open),
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Relay {
            address,
            open,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// Breaks every relayed connection, both ways, at once.
    fn cut(&self) -> usize {
        let streams: Vec<TcpStream> = std::mem::take(&mut *self.open.lock().unwrap());
        for stream in &streams {
            let _ = stream.shutdown(Shutdown::Both);
        }
        streams.len() / 2
    }
}

/// Joins `downstream` to a new connection to the upstream port; with the
/// server down the agent's connection is closed at once, as a refused one.
fn relay_connection(downstream: TcpStream, upstream_port: u16, open: &Mutex<Vec<TcpStream>>) {
    downstream
        .set_nonblocking(false)
        .expect("blocking relay socket");
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
        let _ = downstream.shutdown(Shutdown::Both);
        return;
    };
    let clone = |s: &TcpStream| s.try_clone().expect("clone relay socket");
    open.lock()
        .unwrap()
        .extend([clone(&downstream), clone(&upstream)]);
    for (mut from, mut to) in [
        (clone(&downstream), clone(&upstream)),
        (upstream, downstream),
    ] {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        });
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cut();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// One test's world. Field order is drop order: the agent stops before the
/// relay, the namespaces and the servers go.
struct Setup {
    agent: Option<Agent>,
    relay: Relay,
    topology: Topology,
    stack: Stack,
}

impl Setup {
    /// `grpc_keys`: extra `export.grpc` keys, YAML lines indented by 4.
    fn start(grpc_keys: &str, flow_timeout: Duration, server_env: &[(&str, &str)]) -> Setup {
        Setup::start_with("http", grpc_keys, flow_timeout, server_env)
    }

    /// [`Setup::start`] with the agent using `scheme` (`https`: TLS).
    fn start_with(
        scheme: &str,
        grpc_keys: &str,
        flow_timeout: Duration,
        server_env: &[(&str, &str)],
    ) -> Setup {
        let stack = Stack::start(server_env);
        let topology = Topology::build(&["a", "b"], Offloads::Off);
        let relay = Relay::start(topology.node().name(), stack.server.grpc_port);
        let keys = format!(
            "    enabled: true\n    address: {scheme}://{}\n    flush_interval: 1s\n    timeout: 2s\n{grpc_keys}",
            relay.address
        );
        let config = AgentConfig::default()
            .with_flow_timeout(flow_timeout)
            .with_export_section("grpc", &keys);
        let agent = Agent::start(topology.node(), config);
        Setup {
            agent: Some(agent),
            relay,
            topology,
            stack,
        }
    }

    fn agent(&self) -> &Agent {
        self.agent.as_ref().expect("the agent runs")
    }

    /// Sum of a metric's series of the running agent, whatever their labels.
    fn agent_metric(&self, name: &str) -> u64 {
        self.agent()
            .metrics()
            .series(name)
            .iter()
            .map(|sample| sample.value as u64)
            .sum()
    }

    /// The flow's counters summed over its rows in ClickHouse.
    fn clickhouse_counts(&self, src_port: u16, dst_port: u16) -> FlowCounts {
        if !self.table_exists() {
            return FlowCounts::default();
        }
        let row = self.stack.clickhouse.row(&format!(
            "SELECT sum(tx_bytes), sum(tx_packets), sum(rx_bytes), sum(rx_packets) \
             FROM netmon.flows WHERE src_port = {src_port} AND dst_port = {dst_port} \
             FORMAT TabSeparated"
        ));
        let number = |i: usize| row[i].parse::<u64>().expect("a sum");
        FlowCounts {
            tx_bytes: number(0),
            tx_packets: number(1),
            rx_bytes: number(2),
            rx_packets: number(3),
        }
    }

    fn table_exists(&self) -> bool {
        self.stack
            .clickhouse
            .query("EXISTS TABLE netmon.flows")
            .trim()
            == "1"
    }

    /// Waits until ClickHouse holds `expected` for the flow, then checks
    /// that nothing more arrives: a batch stored twice would show up late.
    fn assert_clickhouse_has(
        &self,
        what: &str,
        src_port: u16,
        dst_port: u16,
        expected: FlowCounts,
    ) {
        eventually(CLICKHOUSE_WAIT, what, || {
            match self.clickhouse_counts(src_port, dst_port) {
                counts if counts == expected => Ok(()),
                counts => Err(format!("ClickHouse has {counts:?}, expected {expected:?}")),
            }
        });
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(
            self.clickhouse_counts(src_port, dst_port),
            expected,
            "{what}: ClickHouse changed after it was complete"
        );
    }
}

/// A TCP connection between the pods exchanging `chunk` bytes each way
/// every 100 ms on its own thread, until [`SteadyTraffic::finish`].
struct SteadyTraffic {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    client: SocketAddr,
}

impl SteadyTraffic {
    fn start(server: &TcpServer, client_ns: &str, chunk: usize) -> SteadyTraffic {
        let mut connection = server.accept_connection_from(client_ns);
        let client = connection.client_address();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    connection.exchange(chunk);
                    std::thread::sleep(Duration::from_millis(100));
                }
                connection.close();
            })
        };
        SteadyTraffic {
            stop,
            thread,
            client,
        }
    }

    /// Stops, closing the connection with a FIN each way.
    fn finish(self) -> SocketAddr {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("traffic thread");
        self.client
    }
}

/// Steady traffic through `disturb`: afterwards the agent's flow equals
/// nftables' count, ClickHouse holds exactly that, and the agent dropped
/// nothing. Returns the setup for further checks.
fn steady_traffic_survives(mut setup: Setup, disturb: impl FnOnce(&mut Stack, &Relay)) -> Setup {
    let (a, b) = (setup.topology.pod("a"), setup.topology.pod("b"));
    let server_address = SocketAddr::new(b.ip(IpVersion::V4), 6000);
    let truth = count_flow(
        &a.ns,
        &b.ns,
        "steady",
        FlowMatch::Tcp {
            client: a.ip(IpVersion::V4),
            server: server_address,
        },
    );
    let server = TcpServer::listen(b.ns_name(), server_address);
    let traffic = SteadyTraffic::start(&server, a.ns_name(), 10_000);
    std::thread::sleep(Duration::from_secs(3));
    disturb(&mut setup.stack, &setup.relay);
    std::thread::sleep(Duration::from_secs(3));
    let client = traffic.finish();
    let expected = truth.read_when_quiet().link_layer();

    let query = FlowQuery::new()
        .ip(client.ip())
        .port(client.port())
        .protocol("tcp");
    let flow = setup.agent().wait_for_flow_with(&query, "closed", expected);
    assert_eq!(flow.counts(), expected);
    setup.assert_clickhouse_has(
        "the steady connection's counters",
        client.port(),
        server_address.port(),
        expected,
    );
    eventually(
        Duration::from_secs(10),
        "the agent's buffer is empty",
        || match setup.agent_metric("netmon_export_buffer_records") {
            0 => Ok(()),
            held => Err(format!("{held} records buffered")),
        },
    );
    assert_eq!(setup.agent_metric("netmon_export_dropped_records_total"), 0);
    setup
}

#[test]
fn pod_traffic_reaches_clickhouse_exactly_as_the_agent_and_nftables_counted_it() {
    if missing_prerequisites(&[TOPOLOGY_TOOLS, &["clickhouse-server"]].concat()) {
        return;
    }
    let mut setup = Setup::start("", Duration::from_secs(30), &[]);
    let (a, b) = (setup.topology.pod("a"), setup.topology.pod("b"));

    let tcp_server = SocketAddr::new(b.ip(IpVersion::V4), 5001);
    let tcp_truth = count_flow(
        &a.ns,
        &b.ns,
        "tcp",
        FlowMatch::Tcp {
            client: a.ip(IpVersion::V4),
            server: tcp_server,
        },
    );
    let tcp = tcp_exchange(a.ns_name(), b.ns_name(), tcp_server, 1_000_000, 300_000);
    let udp_server = SocketAddr::new(b.ip(IpVersion::V6), 5353);
    let udp_truth = count_flow(
        &a.ns,
        &b.ns,
        "udp",
        FlowMatch::Udp {
            client: a.ip(IpVersion::V6),
            server: udp_server,
        },
    );
    let udp = udp_echo(a.ns_name(), b.ns_name(), udp_server, 20, 700);

    let tcp_expected = tcp_truth.read_when_quiet().link_layer();
    let udp_expected = udp_truth.read_when_quiet().link_layer();
    let agent = setup.agent();
    let tcp_flow = agent.wait_for_flow_with(
        &FlowQuery::new().ip(tcp.client.ip()).port(tcp.client.port()),
        "closed",
        tcp_expected,
    );
    let udp_flow = agent.wait_for_flow_with(
        &FlowQuery::new().ip(udp.client.ip()).port(udp.client.port()),
        "active",
        udp_expected,
    );
    // The agent's own numbers are the ground truth's, so ClickHouse must
    // match both.
    assert_eq!(
        (tcp_flow.counts(), udp_flow.counts()),
        (tcp_expected, udp_expected)
    );

    // SIGTERM: the last drain and the last flush happen before it exits.
    let status = setup.agent.take().expect("the agent runs").stop();
    assert!(status.success(), "the agent exited with {status}");
    setup.assert_clickhouse_has("the TCP flow", tcp.client.port(), 5001, tcp_expected);
    setup.assert_clickhouse_has("the UDP flow", udp.client.port(), 5353, udp_expected);

    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("host name");
    let describe = |src_port: u16| {
        setup.stack.clickhouse.row(&format!(
            "SELECT any(node), any(direction), any(protocol), any(ip_version), \
             IPv6NumToString(any(src_ip)), IPv6NumToString(any(dst_ip)), argMax(status, interval_start) \
             FROM netmon.flows WHERE src_port = {src_port} FORMAT TabSeparated"
        ))
    };
    let v4 = |ip: IpAddr| format!("::ffff:{ip}");
    assert_eq!(
        describe(tcp.client.port()),
        [
            host_name.trim().to_owned(),
            "forwarded".into(),
            "6".into(),
            "4".into(),
            v4(tcp.client.ip()),
            v4(tcp_server.ip()),
            "closed".into(),
        ]
    );
    assert_eq!(
        describe(udp.client.port()),
        [
            host_name.trim().to_owned(),
            "forwarded".into(),
            "17".into(),
            "6".into(),
            udp.client.ip().to_string(),
            udp_server.ip().to_string(),
            "active".into(),
        ]
    );
}

#[test]
fn clickhouse_down_for_30_seconds_under_steady_traffic_loses_and_doubles_nothing() {
    if missing_prerequisites(&[TOPOLOGY_TOOLS, &["clickhouse-server"]].concat()) {
        return;
    }
    let setup = Setup::start(
        "",
        Duration::from_secs(60),
        &[("NETMON_SERVER_CLICKHOUSE_TIMEOUT", "2s")],
    );
    let setup = steady_traffic_survives(setup, |stack, _| {
        stack.clickhouse.stop();
        std::thread::sleep(Duration::from_secs(30));
        stack.clickhouse.restart();
    });
    // The server took every batch while ClickHouse was down (its spool), so
    // the agent never had to send one twice.
    assert_eq!(
        setup
            .agent()
            .metrics()
            .value_or_zero("netmon_export_batches_total", &[("result", "failed")]),
        0
    );
}

#[test]
fn netmon_server_killed_and_restarted_mid_stream_loses_and_doubles_nothing() {
    if missing_prerequisites(&[TOPOLOGY_TOOLS, &["clickhouse-server"]].concat()) {
        return;
    }
    let setup = Setup::start("", Duration::from_secs(60), &[]);
    let setup = steady_traffic_survives(setup, |stack, _| {
        stack.server.kill();
        std::thread::sleep(Duration::from_secs(4));
        stack.server.restart();
    });
    // The agent noticed: sends failed while the server was gone, and it
    // reconnected on its own.
    let metrics = setup.agent().metrics();
    assert!(
        metrics.value_or_zero("netmon_export_batches_total", &[("result", "failed")]) >= 1,
        "no send failed while netmon-server was down:\n{}",
        setup.agent().log()
    );
}

#[test]
fn a_broken_connection_is_reconnected_and_nothing_is_lost_or_doubled() {
    if missing_prerequisites(&[TOPOLOGY_TOOLS, &["clickhouse-server"]].concat()) {
        return;
    }
    let setup = Setup::start("", Duration::from_secs(60), &[]);
    let cuts = Arc::new(Mutex::new(0));
    let counted = cuts.clone();
    steady_traffic_survives(setup, move |_, relay| {
        for _ in 0..3 {
            *counted.lock().unwrap() += relay.cut();
            std::thread::sleep(Duration::from_millis(1500));
        }
    });
    assert!(
        *cuts.lock().unwrap() >= 1,
        "the agent had no connection to cut"
    );
}

#[test]
fn with_a_tiny_buffer_and_the_server_down_what_is_missing_is_exactly_what_was_counted_dropped() {
    if missing_prerequisites(&[TOPOLOGY_TOOLS, &["clickhouse-server"]].concat()) {
        return;
    }
    const FLOWS: usize = 30;
    const PAYLOAD: usize = 100;
    // No flow idles out during the test: each makes exactly one record.
    let mut setup = Setup::start(
        "    buffer_records: 3\n    batch_size: 1\n",
        Duration::from_secs(120),
        &[],
    );
    let (a, b) = (setup.topology.pod("a"), setup.topology.pod("b"));
    let sink = SocketAddr::new(b.ip(IpVersion::V4), 7000);
    let _receiver = in_netns(b.ns_name(), || UdpSocket::bind(sink)).expect("bind the sink");

    setup.stack.server.kill();
    // One datagram per flow, from its own socket: each flow is counted
    // once, by one drain, and so becomes exactly one record.
    let mut ports = Vec::new();
    for _ in 0..FLOWS {
        let socket = in_netns(a.ns_name(), || UdpSocket::bind("0.0.0.0:0")).expect("bind");
        socket
            .send_to(&[0x5a; PAYLOAD], sink)
            .expect("send a datagram");
        ports.push(socket.local_addr().expect("local address").port());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Every record is made: buffered, or dropped for room.
    eventually(Duration::from_secs(20), "every record made", || {
        let held = setup.agent_metric("netmon_export_buffer_records");
        let dropped = setup.agent_metric("netmon_export_dropped_records_total");
        match held + dropped {
            made if made == FLOWS as u64 => Ok(()),
            made => Err(format!("{held} buffered + {dropped} dropped = {made}")),
        }
    });
    setup.stack.server.restart();
    eventually(
        Duration::from_secs(30),
        "the agent's buffer is empty",
        || match setup.agent_metric("netmon_export_buffer_records") {
            0 => Ok(()),
            held => Err(format!("{held} records buffered")),
        },
    );
    let dropped = setup.agent_metric("netmon_export_dropped_records_total");
    let full = setup.agent().metrics().value_or_zero(
        "netmon_export_dropped_records_total",
        &[("reason", "buffer_full")],
    );
    assert_eq!((dropped, full), (FLOWS as u64 - 3, FLOWS as u64 - 3));

    // Three records survive: the two newest, and the one that was in flight
    // (the oldest still buffered when the first send began), never dropped
    // for room because the server may already have had it.
    let rows = eventually(
        CLICKHOUSE_WAIT,
        "the surviving records in ClickHouse",
        || {
            if !setup.table_exists() {
                return Err("no table yet".into());
            }
            let rows: Vec<(u16, u64, u64)> = setup
                .stack
                .clickhouse
                .query(
                    "SELECT src_port, sum(tx_bytes), sum(tx_packets) FROM netmon.flows \
                 WHERE dst_port = 7000 GROUP BY src_port FORMAT TabSeparated",
                )
                .lines()
                .map(|line| {
                    let fields: Vec<&str> = line.split('\t').collect();
                    (
                        fields[0].parse().expect("a port"),
                        fields[1].parse().expect("bytes"),
                        fields[2].parse().expect("packets"),
                    )
                })
                .collect();
            match rows.len() {
                3 => Ok(rows),
                n => Err(format!(
                    "{n} flows in ClickHouse: {rows:?} (sent, oldest first: {ports:?})"
                )),
            }
        },
    );
    let datagram = PAYLOAD as u64 + UDP_V4_OVERHEAD;
    let position = |port: u16| ports.iter().position(|&p| p == port);
    let mut found: Vec<(Option<usize>, u64, u64)> = rows
        .iter()
        .map(|&(port, bytes, packets)| (position(port), bytes, packets))
        .collect();
    found.sort();
    let in_flight = found[0].0.expect("a port the test sent from");
    assert!(in_flight < FLOWS - 2, "{found:?}");
    assert_eq!(
        found,
        [
            (Some(in_flight), datagram, 1),
            (Some(FLOWS - 2), datagram, 1),
            (Some(FLOWS - 1), datagram, 1),
        ]
    );
    // What is missing from ClickHouse is what the counter says, no more.
    let stored = setup
        .stack
        .clickhouse
        .row("SELECT count() FROM netmon.flows WHERE dst_port = 7000 FORMAT TabSeparated");
    assert_eq!(stored, [(FLOWS as u64 - dropped).to_string()]);
}

/// A CA, a server certificate for `netmon-server.test` and a client
/// certificate, all signed by the CA, made with `openssl` in `dir`.
fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        run(Command::new("openssl").current_dir(dir).args(args));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=netmon test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    for (name, extensions) in [
        (
            "server",
            "subjectAltName=DNS:netmon-server.test\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), extensions).expect("write extensions");
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN=netmon-{name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-days",
            "1",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ]);
    }
}

#[test]
fn over_mutual_tls_a_flow_reaches_clickhouse_with_its_exact_counters() {
    if missing_prerequisites(&[TOPOLOGY_TOOLS, &["clickhouse-server", "openssl"]].concat()) {
        return;
    }
    let certificates = TempDir::new("grpc-tls");
    make_certificates(certificates.path());
    let file = |name: &str| certificates.path().join(name).display().to_string();
    let agent_keys = format!(
        "    tls:\n      ca_file: {}\n      cert_file: {}\n      key_file: {}\n      \
         server_name: netmon-server.test\n",
        file("ca.pem"),
        file("client.pem"),
        file("client.key"),
    );
    let (cert, key, client_ca) = (file("server.pem"), file("server.key"), file("ca.pem"));
    let mut setup = Setup::start_with(
        "https",
        &agent_keys,
        Duration::from_secs(30),
        &[
            ("NETMON_SERVER_GRPC_TLS_CERT", &cert),
            ("NETMON_SERVER_GRPC_TLS_KEY", &key),
            ("NETMON_SERVER_GRPC_TLS_CLIENT_CA", &client_ca),
        ],
    );
    let (a, b) = (setup.topology.pod("a"), setup.topology.pod("b"));
    let server = SocketAddr::new(b.ip(IpVersion::V4), 5001);
    let truth = count_flow(
        &a.ns,
        &b.ns,
        "tls",
        FlowMatch::Tcp {
            client: a.ip(IpVersion::V4),
            server,
        },
    );
    let ends = tcp_exchange(a.ns_name(), b.ns_name(), server, 200_000, 50_000);
    let expected = truth.read_when_quiet().link_layer();
    setup.agent().wait_for_flow_with(
        &FlowQuery::new()
            .ip(ends.client.ip())
            .port(ends.client.port()),
        "closed",
        expected,
    );
    let status = setup.agent.take().expect("the agent runs").stop();
    assert!(status.success(), "the agent exited with {status}");
    setup.assert_clickhouse_has(
        "the flow sent over mutual TLS",
        ends.client.port(),
        5001,
        expected,
    );
}
