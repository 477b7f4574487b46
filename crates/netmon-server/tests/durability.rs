//! Zero lost, zero doubled: ClickHouse down for 30 s under steady sending,
//! netmon-server killed mid-stream, a damaged spool tail. The client
//! re-sends unanswered batches with the same batch_id, as the agent does.

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::client::{batch, connect, send_until_accepted, tx_bytes_of};
use support::server::Stack;
use tokio::sync::Mutex;

const RECORDS: u64 = 50;
const WAIT: Duration = Duration::from_secs(60);
/// How long a counter the server moves after an insert may lag the rows.
const SETTLE: Duration = Duration::from_secs(5);

/// Sends batches 1, 2, ... every `every` until `stop` is set; each send
/// (with its retries) holds `turn`, so a test holding it sees no batch
/// half-sent. Returns how many batches were accepted.
fn steady_sender(
    url: String,
    every: Duration,
    accepted: Arc<AtomicU64>,
    turn: Arc<Mutex<()>>,
    stop: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut grpc = connect(&url);
        let mut sequence = 0;
        while stop.load(Ordering::SeqCst) == 0 {
            sequence += 1;
            {
                let _turn = turn.lock().await;
                let (answer, _) =
                    send_until_accepted(&mut grpc, batch("node-a", sequence, RECORDS), WAIT).await;
                assert_eq!(answer.accepted, RECORDS);
                accepted.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(every).await;
        }
    })
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_down_for_30_seconds_under_steady_sending_loses_and_doubles_nothing() {
    let mut stack = blocking(|| {
        Stack::start(&[
            ("NETMON_SERVER_BATCHING_MAX_ROWS", "500"),
            ("NETMON_SERVER_QUEUE_MAX_ROWS", "1000"),
            ("NETMON_SERVER_CLICKHOUSE_TIMEOUT", "2s"),
        ])
    });
    let accepted = Arc::new(AtomicU64::new(0));
    let turn = Arc::new(Mutex::new(()));
    let stop = Arc::new(AtomicU64::new(0));
    let sender = steady_sender(
        stack.server.grpc_url(),
        Duration::from_millis(100),
        Arc::clone(&accepted),
        Arc::clone(&turn),
        Arc::clone(&stop),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    blocking(|| stack.clickhouse.stop());
    tokio::time::sleep(Duration::from_secs(27)).await;
    {
        // Nothing is in flight: every accepted batch is either inserted or queued.
        let _turn = turn.lock().await;
        let server = &stack.server;
        let (queued, inserted, spool_bytes, spilled) = blocking(|| {
            (
                server.metric("netmon_server_queue_batches"),
                server.metric("netmon_server_batches_inserted_total"),
                server.metric("netmon_server_spool_bytes"),
                server.metric("netmon_server_queue_spilled_batches_total"),
            )
        });
        let accepted_so_far = accepted.load(Ordering::SeqCst) as f64;
        assert_eq!(queued + inserted, accepted_so_far);
        assert!(queued > 20.0, "{queued} batches queued during the outage");
        assert!(spool_bytes > 0.0);
        assert_eq!(
            spilled,
            queued - 20.0,
            "memory holds 1000 rows = 20 batches, the rest only the spool"
        );
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    blocking(|| stack.clickhouse.restart());
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(1, Ordering::SeqCst);
    sender.await.unwrap();

    let sent = accepted.load(Ordering::SeqCst);
    blocking(|| stack.wait_for_rows(sent * RECORDS, WAIT));
    let server = &stack.server;
    blocking(|| {
        assert_eq!(
            stack.totals(),
            (sent * RECORDS, tx_bytes_of(1..=sent, RECORDS))
        );
        let inserted = (sent * RECORDS) as f64;
        assert_eq!(
            server.settled_metric("netmon_server_records_inserted_total", inserted, SETTLE),
            inserted
        );
        assert_eq!(
            server.metric("netmon_server_spool_written_records_total"),
            sent as f64
        );
        assert_eq!(
            server.settled_metric("netmon_server_spool_bytes", 0.0, SETTLE),
            0.0
        );
        assert_eq!(
            server.metric("netmon_server_spool_read_records_total"),
            server.metric("netmon_server_queue_spilled_batches_total"),
            "every batch kept only on disk was read back exactly once"
        );
        assert!(server.metric("netmon_server_insert_failures_total") >= 1.0);
        assert_eq!(server.metric("netmon_server_clickhouse_up"), 1.0);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netmon_server_killed_mid_stream_and_restarted_on_its_spool_loses_and_doubles_nothing() {
    let mut stack = blocking(|| Stack::start(&[]));
    let accepted = Arc::new(AtomicU64::new(0));
    let turn = Arc::new(Mutex::new(()));
    let stop = Arc::new(AtomicU64::new(0));
    let sender = steady_sender(
        stack.server.grpc_url(),
        Duration::from_millis(20),
        Arc::clone(&accepted),
        Arc::clone(&turn),
        Arc::clone(&stop),
    );
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        // SIGKILL while batches are being sent, spooled and inserted.
        blocking(|| stack.server.kill());
        tokio::time::sleep(Duration::from_millis(500)).await;
        blocking(|| stack.server.restart());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(1, Ordering::SeqCst);
    sender.await.unwrap();

    let sent = accepted.load(Ordering::SeqCst);
    assert!(sent > 50, "only {sent} batches sent");
    blocking(|| stack.wait_for_rows(sent * RECORDS, WAIT));
    blocking(|| {
        assert_eq!(
            stack.totals(),
            (sent * RECORDS, tx_bytes_of(1..=sent, RECORDS))
        );
        let distinct = stack
            .clickhouse
            .row("SELECT uniqExact(batch_id) FROM netmon.flows FORMAT TabSeparated");
        assert_eq!(distinct, [sent.to_string()]);
        assert_eq!(stack.server.metric("netmon_server_spool_bytes"), 0.0);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_spool_tail_is_counted_and_skipped_and_the_intact_batches_inserted() {
    let mut stack = blocking(|| Stack::start(&[]));
    blocking(|| stack.clickhouse.stop());
    let mut grpc = connect(&stack.server.grpc_url());
    for sequence in 1..=3 {
        let answer = grpc
            .export(batch("node-a", sequence, RECORDS))
            .await
            .unwrap()
            .into_inner();
        assert!(!answer.duplicate);
    }
    blocking(|| stack.server.kill());
    let segment = std::fs::read_dir(stack.spool_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "log"))
        .expect("a spool segment");
    // A record whose write never finished: a header promising 999 bytes.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap();
    file.write_all(&[0xe7, 0x03, 0, 0, 1, 2, 3, 4, 5]).unwrap();
    drop(file);

    blocking(|| {
        stack.clickhouse.restart();
        stack.server.restart();
        stack.wait_for_rows(3 * RECORDS, WAIT);
        assert_eq!(stack.totals(), (3 * RECORDS, tx_bytes_of(1..=3, RECORDS)));
        assert_eq!(
            stack
                .server
                .metric("netmon_server_spool_corrupt_records_total"),
            1.0
        );
        assert_eq!(stack.server.metric("netmon_server_spool_bytes"), 0.0);
    });
}
