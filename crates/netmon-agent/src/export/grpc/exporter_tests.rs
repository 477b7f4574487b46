//! The exporter against a scripted server: batch ids across retries,
//! what each answer does to the buffer, and what the metrics then say.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netmon_proto::flows::v1::{ExportRequest, ExportResponse};
use tonic::Status;

use super::client::BatchSender;
use super::exporter::{ExporterSettings, GrpcExporter};
use super::feed::GrpcFeed;
use super::records::IntervalRecords;
use crate::export::prometheus::{AgentMetrics, FlowContext, MetricsOptions};
use crate::flow::{
    ConnectionKey, Counters, Direction, Endpoint, FlowChange, FlowChangeKind, FlowRecord, Protocol,
};

const STARTED: u64 = 1_733_240_000_000_000_000;

/// Answers requests from a script (then accepts everything) and keeps
/// every request it was sent.
#[derive(Clone, Default)]
struct ScriptedServer {
    answers: Arc<Mutex<VecDeque<Result<(), Status>>>>,
    requests: Arc<Mutex<Vec<ExportRequest>>>,
}

impl ScriptedServer {
    fn answering(answers: Vec<Result<(), Status>>) -> Self {
        ScriptedServer {
            answers: Arc::new(Mutex::new(answers.into())),
            requests: Arc::default(),
        }
    }

    /// (batch id, attempt, records) of every request, in order.
    fn sent(&self) -> Vec<(String, u32, usize)> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| (r.batch_id.clone(), r.attempt, r.records.len()))
            .collect()
    }
}

impl BatchSender for ScriptedServer {
    fn send(
        &self,
        request: ExportRequest,
    ) -> impl Future<Output = Result<ExportResponse, Status>> + Send + 'static {
        let answer = self.answers.lock().unwrap().pop_front().unwrap_or(Ok(()));
        let accepted = request.records.len() as u64;
        self.requests.lock().unwrap().push(request);
        async move {
            answer.map(|()| ExportResponse {
                accepted,
                duplicate: false,
            })
        }
    }
}

struct Setup {
    exporter: GrpcExporter<ScriptedServer>,
    feed: Arc<GrpcFeed>,
    metrics: Arc<AgentMetrics>,
    server: ScriptedServer,
}

fn setup(server: ScriptedServer, batch_size: usize, buffer_records: usize) -> Setup {
    let feed = Arc::new(GrpcFeed::new(IntervalRecords::new("node-a", 10)));
    let metrics = Arc::new(AgentMetrics::new(&MetricsOptions::default()).unwrap());
    metrics.grpc_export().start();
    let exporter = GrpcExporter::new(
        feed.clone(),
        server.clone(),
        metrics.clone(),
        ExporterSettings {
            agent_id: "node-a".into(),
            server: "http://netmon-server:9095".into(),
            flush_interval: Duration::from_secs(10),
            batch_size,
            buffer_records,
            shutdown_flush: Duration::from_millis(300),
            started_unix_ns: STARTED,
        },
    );
    Setup {
        exporter,
        feed,
        metrics,
        server,
    }
}

/// `flows` flows of 100 bytes each into the feed.
fn publish_flows(feed: &GrpcFeed, first_id: u64, flows: u64) {
    let changes: Vec<FlowChange> = (first_id..first_id + flows)
        .map(|id| {
            let end = |last: u8, port| Endpoint {
                ip: std::net::IpAddr::from([10, 0, 0, last]),
                port,
            };
            let mut record = FlowRecord::new(
                ConnectionKey {
                    protocol: Protocol::Udp,
                    initiator: end(1, 10_000 + id as u16),
                    responder: end(2, 53),
                },
                STARTED,
                STARTED,
                1,
                STARTED,
            );
            record.id = id;
            record.tx = Counters {
                bytes: 100,
                packets: 1,
            };
            FlowChange {
                kind: FlowChangeKind::Opened,
                added_tx: record.tx,
                added_rx: Counters::default(),
                record,
            }
        })
        .collect();
    feed.observe(&changes, |_| FlowContext::from(Direction::Egress));
}

fn metric(metrics: &AgentMetrics, name: &str, label: Option<(&str, &str)>) -> f64 {
    let text = metrics.encode();
    let series = match label {
        Some((key, value)) => format!("{name}{{{key}=\"{value}\"}} "),
        None => format!("{name} "),
    };
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_batch_that_failed_is_sent_again_under_the_same_id_until_acknowledged() {
    let server = ScriptedServer::answering(vec![
        Err(Status::unavailable("connection refused")),
        Err(Status::cancelled("Timeout expired")),
        Ok(()),
    ]);
    let mut s = setup(server, 5_000, 100_000);
    publish_flows(&s.feed, 1, 3);
    s.exporter.close_interval(STARTED);

    // A failure asks for a wait before the next attempt; success does not.
    let mut waits = Vec::new();
    for _ in 0..3 {
        waits.push(s.exporter.send_once().await.is_some());
    }
    assert_eq!(waits, [true, true, false]);
    let id = "node-a-1733240000000000000-1".to_owned();
    assert_eq!(
        s.server.sent(),
        [(id.clone(), 1, 3), (id.clone(), 2, 3), (id, 3, 3)]
    );
    // The next batch has the next id.
    publish_flows(&s.feed, 4, 1);
    s.exporter.close_interval(STARTED + 10_000_000_000);
    s.exporter.send_once().await;
    assert_eq!(
        s.server.sent()[3],
        ("node-a-1733240000000000000-2".to_owned(), 1, 1)
    );

    let m = &s.metrics;
    assert_eq!(metric(m, "netmon_export_records_total", None), 4.0);
    assert_eq!(
        metric(m, "netmon_export_batches_total", Some(("result", "failed"))),
        2.0
    );
    assert_eq!(
        metric(
            m,
            "netmon_export_batches_total",
            Some(("result", "accepted"))
        ),
        2.0
    );
    assert_eq!(metric(m, "netmon_export_buffer_records", None), 0.0);
    assert_eq!(
        metric(m, "netmon_export_send_duration_seconds_count", None),
        4.0
    );
}

#[tokio::test]
async fn records_beyond_the_buffer_bound_are_dropped_oldest_first_and_counted() {
    let server = ScriptedServer::answering(vec![Err(Status::unavailable("down"))]);
    let mut s = setup(server, 4, 10);
    publish_flows(&s.feed, 1, 6);
    s.exporter.close_interval(STARTED);
    // The first batch (flows 1-4) goes out and fails: it stays in flight.
    assert!(s.exporter.send_once().await.is_some());
    publish_flows(&s.feed, 7, 7);
    s.exporter.close_interval(STARTED + 10_000_000_000);
    let m = &s.metrics;
    // 4 in flight + 2 queued + 7 new = 13 for 10 places: flows 5, 6, 7 go.
    assert_eq!(
        metric(
            m,
            "netmon_export_dropped_records_total",
            Some(("reason", "buffer_full"))
        ),
        3.0
    );
    assert_eq!(metric(m, "netmon_export_buffer_records", None), 10.0);
    for _ in 0..3 {
        assert!(s.exporter.send_once().await.is_none());
    }
    let ports: Vec<u32> = s
        .server
        .requests
        .lock()
        .unwrap()
        .iter()
        .skip(1)
        .flat_map(|r| r.records.iter().map(|f| f.src.as_ref().unwrap().port))
        .collect();
    assert_eq!(
        ports,
        [10_001, 10_002, 10_003, 10_004, 10_008, 10_009, 10_010, 10_011, 10_012, 10_013]
    );
    assert_eq!(metric(m, "netmon_export_records_total", None), 10.0);
}

#[tokio::test]
async fn a_refused_batch_is_dropped_and_counted_and_the_next_one_goes_on() {
    let server = ScriptedServer::answering(vec![Err(Status::invalid_argument(
        "schema_version 1 is not supported",
    ))]);
    let mut s = setup(server, 2, 100);
    publish_flows(&s.feed, 1, 3);
    s.exporter.close_interval(STARTED);
    assert!(s.exporter.send_once().await.is_none());
    assert!(s.exporter.send_once().await.is_none());
    let m = &s.metrics;
    assert_eq!(
        metric(
            m,
            "netmon_export_dropped_records_total",
            Some(("reason", "rejected"))
        ),
        2.0
    );
    assert_eq!(
        metric(
            m,
            "netmon_export_batches_total",
            Some(("result", "rejected"))
        ),
        1.0
    );
    assert_eq!(metric(m, "netmon_export_records_total", None), 1.0);
}

#[tokio::test]
async fn a_batch_too_large_is_sent_again_as_two_halves_under_new_ids() {
    let server = ScriptedServer::answering(vec![Err(Status::resource_exhausted("too large"))]);
    let mut s = setup(server, 4, 100);
    publish_flows(&s.feed, 1, 4);
    s.exporter.close_interval(STARTED);
    for _ in 0..3 {
        assert!(s.exporter.send_once().await.is_none());
    }
    let prefix = "node-a-1733240000000000000";
    assert_eq!(
        s.server.sent(),
        [
            (format!("{prefix}-1"), 1, 4),
            (format!("{prefix}-2"), 1, 2),
            (format!("{prefix}-3"), 1, 2),
        ]
    );
    assert_eq!(metric(&s.metrics, "netmon_export_records_total", None), 4.0);
}

#[tokio::test]
async fn at_shutdown_what_the_server_never_took_is_counted_as_dropped() {
    let server = ScriptedServer::answering(
        (0..1000)
            .map(|_| Err(Status::unavailable("down")))
            .collect(),
    );
    let mut s = setup(server, 2, 100);
    publish_flows(&s.feed, 1, 5);
    s.exporter.close_interval(STARTED);
    s.exporter.flush_before_exit(None).await;
    let m = &s.metrics;
    assert_eq!(
        metric(
            m,
            "netmon_export_dropped_records_total",
            Some(("reason", "shutdown"))
        ),
        5.0
    );
    assert_eq!(metric(m, "netmon_export_buffer_records", None), 0.0);
    // Every attempt was the first batch, until the time was up.
    let sent = s.server.sent();
    assert!(sent.len() >= 2, "{sent:?}");
    assert!(sent
        .iter()
        .all(|(id, _, records)| id.ends_with("-1") && *records == 2));
}

#[tokio::test]
async fn at_shutdown_a_reachable_server_gets_everything_buffered() {
    let mut s = setup(ScriptedServer::default(), 2, 100);
    publish_flows(&s.feed, 1, 5);
    s.exporter.close_interval(STARTED);
    s.exporter.flush_before_exit(None).await;
    assert_eq!(metric(&s.metrics, "netmon_export_records_total", None), 5.0);
    assert_eq!(
        metric(
            &s.metrics,
            "netmon_export_dropped_records_total",
            Some(("reason", "shutdown"))
        ),
        0.0
    );
    assert_eq!(s.server.sent().len(), 3);
}
