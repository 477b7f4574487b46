//! End-to-end: each connection's application protocol, recognised from its
//! first payload bytes as the kernel copies them on the pods' veths. Every
//! connection is made by a real client in pod a against a real server in
//! pod b (curl, nghttpd, gRPC C-core, OpenSSL, Redis, PostgreSQL, MariaDB),
//! and the fields the agent reports are compared, all of them at once, with
//! what the client or the server itself said.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use support::agent::{Agent, AgentConfig, Flow, FlowQuery};
use support::apps::{self, app_tools_missing, APP_TOOLS};
use support::in_netns::in_netns;
use support::netns::{IpVersion, Pod};
use support::traffic::tcp_exchange;
use support::{eventually, missing_prerequisites_with, TestNode, TOPOLOGY_TOOLS};

fn prerequisites_missing() -> bool {
    let mut tools = TOPOLOGY_TOOLS.to_vec();
    tools.extend(APP_TOOLS);
    missing_prerequisites_with(&tools, app_tools_missing())
}

fn pods(node: &TestNode) -> (&Pod, &Pod, IpAddr) {
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    (a, b, b.ip(IpVersion::V4))
}

/// The application fields of one flow, as a comparable whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
struct AppFields {
    app_protocol: Option<String>,
    http_method: Option<String>,
    http_status: Option<u16>,
    tls_version: Option<String>,
    tls_sni: Option<String>,
    server_version: Option<String>,
}

impl AppFields {
    fn of(flow: &Flow) -> AppFields {
        AppFields {
            app_protocol: flow.app_protocol.clone(),
            http_method: flow.http_method.clone(),
            http_status: flow.http_status,
            tls_version: flow.tls_version.clone(),
            tls_sni: flow.tls_sni.clone(),
            server_version: flow.server_version.clone(),
        }
    }

    fn protocol(protocol: &str) -> AppFields {
        AppFields {
            app_protocol: Some(protocol.to_string()),
            ..AppFields::default()
        }
    }

    fn http(protocol: &str, method: &str, status: u16) -> AppFields {
        AppFields {
            http_method: Some(method.to_string()),
            http_status: Some(status),
            ..AppFields::protocol(protocol)
        }
    }

    fn tls(version: &str, sni: &str) -> AppFields {
        AppFields {
            tls_version: Some(version.to_string()),
            tls_sni: Some(sni.to_string()),
            ..AppFields::protocol("tls")
        }
    }
}

/// Waits for exactly `expected.len()` TCP flows from `client` to
/// `server:port`, all ended; then for two more drains (a finding about a
/// connection is applied by then, so a field still null stays null); then
/// until their fields are exactly `expected` (in any order). Returns the
/// flows.
fn assert_connections(
    agent: &Agent,
    client: IpAddr,
    server: IpAddr,
    port: u16,
    expected: &[AppFields],
) -> Vec<Flow> {
    let query = FlowQuery::new().ip(server).port(port).protocol("tcp");
    let ours = |flows: Vec<Flow>| -> Vec<Flow> {
        flows
            .into_iter()
            .filter(|f| f.src_ip == client && f.dst_ip == server && f.dst_port == port)
            .collect()
    };
    eventually(
        Duration::from_secs(15),
        &format!("{} ended connections to {server}:{port}", expected.len()),
        || {
            let flows = ours(agent.flows(&query));
            let ended = flows.iter().filter(|f| f.status != "active").count();
            if flows.len() == expected.len() && ended == flows.len() {
                Ok(())
            } else {
                Err(format!("{ended} ended of {}: {flows:#?}", flows.len()))
            }
        },
    );
    agent.wait_for_drains(2);
    let mut wanted = expected.to_vec();
    wanted.sort();
    eventually(
        Duration::from_secs(10),
        &format!("the application fields of the connections to {server}:{port}"),
        || {
            let flows = ours(agent.flows(&query));
            let mut seen: Vec<AppFields> = flows.iter().map(AppFields::of).collect();
            seen.sort();
            if seen == wanted {
                Ok(flows)
            } else {
                Err(format!(
                    "fields {seen:#?}, expected {wanted:#?}; flows: {flows:#?}"
                ))
            }
        },
    )
}

/// Waits until `netmon_app_protocol_flows_total` is exactly `expected` for
/// each protocol listed, and 0 for every other.
fn assert_classified_connections(agent: &Agent, expected: &[(&str, u64)]) {
    eventually(
        Duration::from_secs(10),
        "netmon_app_protocol_flows_total",
        || {
            let metrics = agent.metrics();
            let mut counted: Vec<(String, u64)> = metrics
                .series("netmon_app_protocol_flows_total")
                .into_iter()
                .filter(|s| s.value != 0.0)
                .map(|s| {
                    let protocol = s.labels.get("protocol").cloned().unwrap_or_default();
                    (protocol, s.value as u64)
                })
                .collect();
            counted.sort();
            let mut wanted: Vec<(String, u64)> =
                expected.iter().map(|(p, n)| (p.to_string(), *n)).collect();
            wanted.sort();
            if counted == wanted {
                Ok(())
            } else {
                Err(format!("counted {counted:?}, expected {wanted:?}"))
            }
        },
    );
}

#[test]
fn http_requests_show_their_method_and_status_and_are_counted_once_each() {
    if prerequisites_missing() {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b, server) = pods(&node);
    let _http = apps::http1_server(b, 8080);
    let found = apps::curl(a, &format!("http://{server}:8080/"), &[]);
    let missing = apps::curl(a, &format!("http://{server}:8080/missing"), &[]);
    assert_eq!((found.status, missing.status), (200, 404));

    let flows = assert_connections(
        &node.agent,
        a.ip(IpVersion::V4),
        server,
        8080,
        &[
            AppFields::http("http", "GET", 200),
            AppFields::http("http", "GET", 404),
        ],
    );
    // Each request's status is on its own connection's flow.
    for (request, status) in [(found, 200), (missing, 404)] {
        let flow = flows
            .iter()
            .find(|f| f.src_port == request.local_port)
            .unwrap_or_else(|| panic!("no flow from curl's port {}", request.local_port));
        assert_eq!(flow.http_status, Some(status), "{flow:#?}");
    }
    assert_classified_connections(&node.agent, &[("http", 2)]);
    node.agent.stop_and_expect_clean_exit();
}

/// One HTTP/1.1 GET of `path` from `client` (a fixed address and port) to
/// `server`, read to the end before closing: the server's
/// `Connection: close` makes it close first, so its end keeps the
/// TIME_WAIT and the client's port is free again at once. Returns the
/// status code.
fn get_from(client_ns: &str, client: SocketAddr, server: SocketAddr, path: &str) -> u16 {
    use socket2::{Domain, Socket, Type};
    use std::io::{Read, Write};
    let mut stream: std::net::TcpStream = in_netns(client_ns, || {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.bind(&client.into())?;
        socket.connect_timeout(&server.into(), Duration::from_secs(5))?;
        std::io::Result::Ok(socket.into())
    })
    .unwrap_or_else(|e| panic!("connect from {client} to {server}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // One write, so the request line leaves in one segment (write! would
    // send each formatted piece as its own).
    let request = format!("GET {path} HTTP/1.1\r\nHost: svc\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"))
}

/// The kernel stops sampling a flow direction once the agent has
/// classified it, until a SYN (or SYN-ACK) starts a new connection on the
/// same ports; the agent then takes the new connection's samples as a new
/// connection's, not as more of the old one's.
#[test]
fn a_new_connection_on_the_same_ports_is_classified_again() {
    if prerequisites_missing() {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b, server) = pods(&node);
    let _http = apps::http1_server(b, 8082);
    let client = SocketAddr::new(a.ip(IpVersion::V4), 41082);
    let server_end = SocketAddr::new(server, 8082);
    assert_eq!(get_from(a.ns_name(), client, server_end, "/"), 200);
    // Long enough for the first connection's samples to be read and its
    // directions marked classified in the kernel (the payload ring is read
    // every few ms, the marks written right after).
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(get_from(a.ns_name(), client, server_end, "/missing"), 404);

    // The table keeps the latest connection of a 5-tuple: the second.
    let flows = assert_connections(
        &node.agent,
        a.ip(IpVersion::V4),
        server,
        8082,
        &[AppFields::http("http", "GET", 404)],
    );
    assert_eq!(flows[0].src_port, 41082);
    assert_classified_connections(&node.agent, &[("http", 2)]);
}

#[test]
fn cleartext_http2_is_http2_with_its_method_and_status() {
    if prerequisites_missing() {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b, server) = pods(&node);
    let _nghttpd = apps::nghttpd(b, 8081);
    let url = format!("http://{server}:8081/index.html");
    let response = apps::curl(a, &url, &["--http2-prior-knowledge"]);
    assert_eq!(response.status, 200);

    assert_connections(
        &node.agent,
        a.ip(IpVersion::V4),
        server,
        8081,
        &[AppFields::http("http2", "GET", 200)],
    );
    assert_classified_connections(&node.agent, &[("http2", 1)]);
}

#[test]
fn a_grpc_call_is_grpc() {
    if prerequisites_missing() {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b, server) = pods(&node);
    let _grpc = apps::grpc_server(b, 50051);
    assert_eq!(
        apps::grpc_call(a, server, 50051),
        "ping from netmon's test".len()
    );

    // gRPC is HTTP/2 POSTs; a served call's HTTP status is 200.
    assert_connections(
        &node.agent,
        a.ip(IpVersion::V4),
        server,
        50051,
        &[AppFields::http("grpc", "POST", 200)],
    );
    assert_classified_connections(&node.agent, &[("grpc", 1)]);
}

#[test]
fn tls_shows_the_negotiated_version_and_the_client_s_server_name() {
    if prerequisites_missing() {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b, server) = pods(&node);
    let _tls = apps::tls_server(b, 4433);
    // The two connections are told apart by their server names.
    let tls13 = apps::tls_handshake(a, server, 4433, "svc.netmon.test", &[]);
    let tls12 = apps::tls_handshake(a, server, 4433, "legacy.netmon.test", &["-tls1_2"]);
    assert_eq!((tls13.as_str(), tls12.as_str()), ("TLSv1.3", "TLSv1.2"));

    assert_connections(
        &node.agent,
        a.ip(IpVersion::V4),
        server,
        4433,
        &[
            AppFields::tls("TLS 1.3", "svc.netmon.test"),
            AppFields::tls("TLS 1.2", "legacy.netmon.test"),
        ],
    );
    assert_classified_connections(&node.agent, &[("tls", 2)]);
}

#[test]
fn redis_commands_are_redis() {
    if prerequisites_missing() {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b, server) = pods(&node);
    let _redis = apps::redis_server(b, 6380);
    assert_eq!(apps::redis_cli(a, server, 6380, &["PING"]), "PONG");
    assert_eq!(
        apps::redis_cli(a, server, 6380, &["SET", "netmon", "test"]),
        "OK"
    );

    assert_connections(
        &node.agent,
        a.ip(IpVersion::V4),
        server,
        6380,
        &[AppFields::protocol("redis"), AppFields::protocol("redis")],
    );
    assert_classified_connections(&node.agent, &[("redis", 2)]);
}

#[test]
fn postgresql_sessions_are_postgresql_with_and_without_an_ssl_request() {
    if prerequisites_missing() {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b, server) = pods(&node);
    let _postgres = apps::postgres_server(b, 5433);
    // `disable` opens with the startup message, `prefer` with an
    // SSLRequest, which this server (without SSL) declines with 'N'.
    assert_eq!(apps::psql(a, server, 5433, "disable"), "1");
    assert_eq!(apps::psql(a, server, 5433, "prefer"), "1");

    assert_connections(
        &node.agent,
        a.ip(IpVersion::V4),
        server,
        5433,
        &[
            AppFields::protocol("postgresql"),
            AppFields::protocol("postgresql"),
        ],
    );
    assert_classified_connections(&node.agent, &[("postgresql", 2)]);
}

#[test]
fn a_mariadb_session_is_mysql_with_the_server_s_own_version() {
    if prerequisites_missing() {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b, server) = pods(&node);
    let _mariadb = apps::mariadb_server(b, 3307);
    // The ground truth: the version the server reports to SQL.
    let version = apps::mariadb_version(a, server, 3307);
    assert!(
        version.contains("MariaDB"),
        "SELECT VERSION() gave {version:?}"
    );

    assert_connections(
        &node.agent,
        a.ip(IpVersion::V4),
        server,
        3307,
        &[AppFields {
            server_version: Some(version),
            ..AppFields::protocol("mysql")
        }],
    );
    assert_classified_connections(&node.agent, &[("mysql", 1)]);
}

#[test]
fn protocols_netmon_does_not_know_stay_unknown() {
    if prerequisites_missing() {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b, server) = pods(&node);
    let _banner = apps::banner_server(b, 2222);
    assert!(apps::banner_exchange(a, server, 2222).starts_with("SSH-2.0-"));
    // The harness's exchange: bytes of no protocol in both directions.
    tcp_exchange(
        a.ns_name(),
        b.ns_name(),
        (server, 5001).into(),
        10_000,
        10_000,
    );

    for port in [2222, 5001] {
        assert_connections(
            &node.agent,
            a.ip(IpVersion::V4),
            server,
            port,
            &[AppFields::default()],
        );
    }
    assert_classified_connections(&node.agent, &[]);
    node.agent.stop_and_expect_clean_exit();
}

#[test]
fn a_protocol_left_out_of_the_configuration_is_not_reported() {
    if prerequisites_missing() {
        return;
    }
    let config = AgentConfig {
        features_yaml: "  protocol_detection:\n    protocols: [http]\n".into(),
        ..AgentConfig::default()
    };
    let node = TestNode::start(config);
    let (a, b, server) = pods(&node);
    let _http = apps::http1_server(b, 8080);
    let _tls = apps::tls_server(b, 4433);
    assert_eq!(
        apps::curl(a, &format!("http://{server}:8080/"), &[]).status,
        200
    );
    assert_eq!(
        apps::tls_handshake(a, server, 4433, "svc.netmon.test", &[]),
        "TLSv1.3"
    );

    let client = a.ip(IpVersion::V4);
    assert_connections(
        &node.agent,
        client,
        server,
        8080,
        &[AppFields::http("http", "GET", 200)],
    );
    // Not even the TLS fields: TLS is not listed.
    assert_connections(&node.agent, client, server, 4433, &[AppFields::default()]);
    assert_classified_connections(&node.agent, &[("http", 1)]);
}
