//! netmon-server against a real ClickHouse: batches in, exact totals out;
//! re-sends counted once; bad input answered with an error while the server
//! keeps serving.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::client::{self, batch, connect, send_until_accepted, tx_bytes_of};
use support::server::{server_binary, Stack};

const WAIT: Duration = Duration::from_secs(30);
/// How long a counter the server moves after an insert may lag the rows.
const SETTLE: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_batches_arrive_in_clickhouse_with_exact_totals() {
    let stack = Stack::start(&[]);
    let mut grpc = connect(&stack.server.grpc_url());
    for sequence in 1..=20 {
        let (answer, sends) =
            send_until_accepted(&mut grpc, batch("node-a", sequence, 50), WAIT).await;
        assert_eq!((answer.accepted, answer.duplicate, sends), (50, false, 1));
    }
    stack.wait_for_rows(1000, WAIT);

    assert_eq!(stack.totals(), (1000, tx_bytes_of(1..=20, 50)));
    let other_sums = stack.clickhouse.row(
        "SELECT sum(tx_packets), sum(rx_bytes), sum(rx_packets), sum(retransmits), uniqExact(batch_id) FROM netmon.flows FORMAT TabSeparated",
    );
    assert_eq!(other_sums, ["3000", "500000", "2000", "1000", "20"]);
    let first = stack.clickhouse.row(
        "SELECT date, interval_start, node, direction, protocol, status, IPv6NumToString(src_ip), src_port, src_pod, src_namespace, IPv6NumToString(dst_ip), dst_port, dst_service, connect_latency_us, rtt_us FROM netmon.flows WHERE batch_id = 'node-a-1-1' AND src_port = 1124 FORMAT TabSeparated",
    );
    assert_eq!(
        first,
        [
            "2026-12-03",
            "2026-12-03 18:00:00",
            "node-a",
            "egress",
            "6",
            "active",
            "::ffff:10.0.0.1",
            "1124",
            "client",
            "test",
            "::ffff:10.0.0.2",
            "443",
            "api",
            "120",
            "80"
        ]
    );
    let server = &stack.server;
    assert_eq!(
        server.metric("netmon_server_records_received_total"),
        1000.0
    );
    assert_eq!(
        server.settled_metric("netmon_server_records_inserted_total", 1000.0, SETTLE),
        1000.0
    );
    assert_eq!(
        server.metric("netmon_server_spool_written_records_total"),
        20.0
    );
    assert_eq!(server.metric("netmon_server_spool_bytes"), 0.0);
    assert_eq!(
        server.metric(r#"netmon_server_requests_total{outcome="accepted"}"#),
        20.0
    );
    assert_eq!(server.metric("netmon_server_insert_failures_total"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_sent_twice_is_counted_once_also_after_the_server_forgot_it() {
    let mut stack = Stack::start(&[]);
    let mut grpc = connect(&stack.server.grpc_url());
    let first = grpc
        .export(batch("node-a", 7, 10))
        .await
        .unwrap()
        .into_inner();
    let mut again = batch("node-a", 7, 10);
    again.attempt = 2;
    let second = grpc.export(again.clone()).await.unwrap().into_inner();
    assert_eq!((first.accepted, first.duplicate), (10, false));
    assert_eq!((second.accepted, second.duplicate), (10, true));
    stack.wait_for_rows(10, WAIT);
    let third = grpc.export(again.clone()).await.unwrap().into_inner();
    assert!(third.duplicate, "answered from the recently inserted ids");

    // A new process remembers no ids: the re-send is accepted, then found
    // in the table by its batch_id and not inserted again.
    stack.server.restart();
    let mut grpc = connect(&stack.server.grpc_url());
    let fourth = grpc.export(again).await.unwrap().into_inner();
    assert!(!fourth.duplicate);
    stack.wait_for_rows(10, WAIT);
    assert_eq!(stack.totals(), (10, tx_bytes_of([7], 10)));
    assert_eq!(
        stack
            .server
            .metric(r#"netmon_server_batches_duplicate_total{found="clickhouse"}"#),
        1.0
    );
    assert_eq!(
        stack.server.metric("netmon_server_records_inserted_total"),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_an_error_answer_and_the_next_good_batch_is_still_served() {
    let stack = Stack::start(&[("NETMON_SERVER_GRPC_MAX_MESSAGE_BYTES", "65536")]);
    let mut grpc = connect(&stack.server.grpc_url());

    let mut future_version = batch("node-a", 1, 1);
    future_version.schema_version = 2;
    let status = grpc.export(future_version).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "schema_version 2 is not supported: this server accepts schema_version 1 (netmon.flows.v1)"
    );

    let mut bad_ip = batch("node-a", 2, 3);
    bad_ip.records[2].src.as_mut().unwrap().ip = vec![1, 2, 3];
    let status = grpc.export(bad_ip).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "records[2].src.ip: is 3 bytes; expected 16 (IPv6 or IPv4-mapped) or 4"
    );

    let oversized = batch("node-a", 3, 2000);
    let status = grpc.export(oversized).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status}");

    let undecodable = client::raw_export(&stack.server.grpc_url(), vec![0xff; 64])
        .await
        .unwrap_err();
    assert_eq!(undecodable.code(), tonic::Code::Internal, "{undecodable}");

    // Not HTTP/2 at all: the connection is closed, nothing else happens.
    let mut garbage = TcpStream::connect(("127.0.0.1", stack.server.grpc_port)).unwrap();
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef])
        .unwrap();
    garbage.write_all(&[0u8; 4096]).unwrap();
    garbage
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = garbage.read_to_end(&mut answer);

    let good = grpc
        .export(batch("node-a", 4, 5))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((good.accepted, good.duplicate), (5, false));
    stack.wait_for_rows(5, WAIT);
    assert_eq!(stack.totals(), (5, tx_bytes_of([4], 5)));
    assert_eq!(
        stack
            .server
            .metric(r#"netmon_server_requests_total{outcome="invalid_argument"}"#),
        2.0
    );
}

#[test]
fn a_bad_configuration_exits_2_with_one_line_per_problem() {
    let dir = support::temp::TempDir::new("netmon-server-config");
    let config = dir.path().join("server.yaml");
    std::fs::write(
        &config,
        "grpc:\n  address: 127.0.0.1:1\n  max_message_bytes: 0\nclickhouse:\n  url: ftp://x\n  table: \"1\"\nbatching:\n  max_delay: soon\n",
    )
    .unwrap();
    let output = std::process::Command::new(server_binary())
        .arg("--config")
        .arg(&config)
        .env("NETMON_SERVER_SPOOL_MAX_BYTES", "lots")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).lines().collect::<Vec<_>>(),
        [
            "batching.max_delay: invalid value \"soon\": expected a duration such as 5s, 1m30s or 250ms",
            "env NETMON_SERVER_SPOOL_MAX_BYTES: invalid value \"lots\" for spool.max_bytes: expected a positive integer",
            "grpc.max_message_bytes: must be from 1024 to 1073741824, got 0",
            "clickhouse.url: \"ftp://x\" must start with http://",
            "clickhouse.table: \"1\" is not a plain identifier (letters, digits and '_', not starting with a digit)",
        ]
    );
}

#[test]
fn check_config_prints_the_effective_configuration_with_the_password_redacted() {
    let output = std::process::Command::new(server_binary())
        .arg("--check-config")
        .env("NETMON_SERVER_CLICKHOUSE_PASSWORD", "hunter2")
        .env("NETMON_SERVER_BATCHING_MAX_ROWS", "123")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("  password: <redacted>\n"), "{stdout}");
    assert!(stdout.contains("  max_rows: 123\n"), "{stdout}");
    assert!(!stdout.contains("hunter2"));
}
