//! The exporter task. Export intervals are aligned on the wall clock
//! (`flush_interval` 10s: :00, :10, :20, ...), so that the records of every
//! agent for one interval carry the same start. When an interval ends, its
//! records go into the buffer; batches are sent from it one at a time, in
//! order, each until the server acknowledges it (a failed send is repeated
//! under the same batch id after a backoff). At shutdown, after the last
//! drain, what is buffered is sent for at most `timeout` more; what is left
//! then is counted as dropped.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netmon_proto::flows::v1::ExportResponse;
use tokio::sync::watch;
use tokio::time::Instant;
use tonic::Status;
use tracing::{debug, info, warn};

use super::backoff::Backoff;
use super::batch::BatchIds;
use super::buffer::ExportBuffer;
use super::client::{Answer, BatchSender};
use super::feed::GrpcFeed;
use super::records::Interval;
use crate::export::prometheus::{AgentMetrics, BatchResult, ExportDropReason};

/// An `Export` call on its way, and when it was made.
pub(super) struct InFlight {
    answer: Pin<Box<dyn Future<Output = Result<ExportResponse, Status>> + Send>>,
    sent_at: Instant,
}

/// How the exporter is set up; see `export.grpc` in docs/configuration.md.
#[derive(Debug, Clone)]
pub struct ExporterSettings {
    pub agent_id: String,
    /// Shown in log lines.
    pub server: String,
    pub flush_interval: Duration,
    pub batch_size: usize,
    pub buffer_records: usize,
    /// How long the last flush at shutdown may take.
    pub shutdown_flush: Duration,
    /// When this run of the agent started: part of every batch id.
    pub started_unix_ns: u64,
}

pub struct GrpcExporter<S> {
    feed: Arc<GrpcFeed>,
    sender: S,
    metrics: Arc<AgentMetrics>,
    agent_id: String,
    server: String,
    flush_interval: Duration,
    shutdown_flush: Duration,
    buffer: ExportBuffer,
    ids: BatchIds,
    backoff: Backoff,
    /// The buffer overflowed since the server last took a batch: logged once.
    dropping: bool,
}

impl<S: BatchSender> GrpcExporter<S> {
    pub fn new(
        feed: Arc<GrpcFeed>,
        sender: S,
        metrics: Arc<AgentMetrics>,
        settings: ExporterSettings,
    ) -> Self {
        let seed = settings
            .agent_id
            .bytes()
            .fold(settings.started_unix_ns, |hash, byte| {
                hash.rotate_left(5) ^ u64::from(byte)
            });
        GrpcExporter {
            feed,
            sender,
            metrics,
            ids: BatchIds::new(&settings.agent_id, settings.started_unix_ns),
            agent_id: settings.agent_id,
            server: settings.server,
            flush_interval: settings.flush_interval,
            shutdown_flush: settings.shutdown_flush,
            buffer: ExportBuffer::new(settings.buffer_records, settings.batch_size),
            backoff: Backoff::new(seed),
            dropping: false,
        }
    }

    /// Runs until `stop` turns true, then closes the current interval and
    /// makes the last flush.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut interval_start = aligned(unix_now_ns(), self.flush_interval);
        let mut in_flight: Option<InFlight> = None;
        let mut retry_at: Option<Instant> = None;
        loop {
            if in_flight.is_none() && retry_at.is_none_or(|at| at <= Instant::now()) {
                retry_at = None;
                in_flight = self.send_next();
            }
            let interval_end = interval_start.saturating_add(duration_ns(self.flush_interval));
            let until_end = Duration::from_nanos(interval_end.saturating_sub(unix_now_ns()));
            tokio::select! {
                result = answer_of(&mut in_flight), if in_flight.is_some() => {
                    let sent_at = in_flight.take().map_or_else(Instant::now, |f| f.sent_at);
                    retry_at = self.handle(result, sent_at.elapsed()).map(|wait| Instant::now() + wait);
                }
                _ = tokio::time::sleep(until_end) => {
                    self.close_interval(interval_start);
                    interval_start = aligned(unix_now_ns(), self.flush_interval);
                }
                _ = sleep_until_some(retry_at), if retry_at.is_some() => {}
                _ = stop.wait_for(|stop| *stop) => break,
            }
        }
        self.close_interval(interval_start);
        self.flush_before_exit(in_flight).await;
    }

    /// The interval starting at `start_unix_ns` is over: its records join
    /// the buffer.
    pub fn close_interval(&mut self, start_unix_ns: u64) {
        let records = self.feed.take(Interval {
            start_unix_ns,
            seconds: u32::try_from(self.flush_interval.as_secs().max(1)).unwrap_or(u32::MAX),
        });
        if records.is_empty() {
            return;
        }
        let count = records.len();
        let dropped = self.buffer.push(records);
        if dropped > 0 {
            self.metrics
                .grpc_export()
                .add_dropped(ExportDropReason::BufferFull, dropped as u64);
            if !self.dropping {
                warn!(server = %self.server, dropped, buffered = self.buffer.len(),
                      "gRPC export buffer full (export.grpc.buffer_records): dropping the oldest records");
            }
            self.dropping = true;
        }
        debug!(
            records = count,
            dropped,
            buffered = self.buffer.len(),
            "export interval closed"
        );
        self.update_gauge();
    }

    /// Sends the batch in flight, or the next one, and waits for its answer;
    /// returns how long to wait before the next send when it failed. For
    /// tests; the task runs sends beside its interval timer.
    pub async fn send_once(&mut self) -> Option<Duration> {
        let in_flight = self.send_next()?;
        let result = in_flight.answer.await;
        self.handle(result, in_flight.sent_at.elapsed())
    }

    fn send_next(&mut self) -> Option<InFlight> {
        let batch = self.buffer.next_batch(&mut self.ids)?;
        let request = batch.next_request(&self.agent_id);
        Some(InFlight {
            answer: Box::pin(self.sender.send(request)),
            sent_at: Instant::now(),
        })
    }

    /// Acts on the answer to the batch in flight; returns the wait before
    /// sending again when it must be sent again.
    fn handle(
        &mut self,
        result: Result<ExportResponse, Status>,
        elapsed: Duration,
    ) -> Option<Duration> {
        let metrics = self.metrics.grpc_export();
        let retry = match Answer::of(result) {
            Answer::Acknowledged { duplicate } => {
                let records = self.buffer.finish_in_flight().map_or(0, |b| b.len());
                let result = if duplicate {
                    BatchResult::Duplicate
                } else {
                    BatchResult::Accepted
                };
                metrics.record_batch(result, elapsed);
                metrics.add_delivered(records as u64);
                if self.backoff.failures() > 0 {
                    info!(server = %self.server, failed_attempts = self.backoff.failures(),
                          buffered = self.buffer.len(), "netmon-server takes batches again");
                }
                self.backoff.reset();
                self.dropping = false;
                None
            }
            Answer::Refused(why) => {
                self.drop_in_flight(&why, elapsed);
                None
            }
            Answer::TooLarge(why) => {
                if self.buffer.halve_in_flight() {
                    metrics.record_batch(BatchResult::Failed, elapsed);
                    warn!(server = %self.server, error = %why, batch_size = self.buffer.batch_size(),
                          "netmon-server refused a batch as too large: sending smaller batches");
                } else {
                    self.drop_in_flight(&why, elapsed);
                }
                None
            }
            Answer::Retry(why) => {
                metrics.record_batch(BatchResult::Failed, elapsed);
                let wait = self.backoff.next_jittered();
                if self.backoff.failures() == 1 {
                    warn!(server = %self.server, error = %why, buffered = self.buffer.len(),
                          "cannot send to netmon-server: keeping the records and trying again");
                } else {
                    debug!(server = %self.server, error = %why, failures = self.backoff.failures(),
                           wait_ms = wait.as_millis() as u64, "send to netmon-server failed again");
                }
                Some(wait)
            }
        };
        self.update_gauge();
        retry
    }

    fn drop_in_flight(&mut self, why: &str, elapsed: Duration) {
        let records = self.buffer.finish_in_flight().map_or(0, |b| b.len());
        let metrics = self.metrics.grpc_export();
        metrics.record_batch(BatchResult::Rejected, elapsed);
        metrics.add_dropped(ExportDropReason::Rejected, records as u64);
        warn!(server = %self.server, error = %why, records,
              "netmon-server refused a batch for good: its records are dropped");
        self.backoff.reset();
    }

    /// Sends what is buffered until it is all acknowledged or
    /// `shutdown_flush` has passed; the rest is counted as dropped (the
    /// batch in flight too, although the server may have got it).
    pub(super) async fn flush_before_exit(&mut self, mut in_flight: Option<InFlight>) {
        let deadline = Instant::now() + self.shutdown_flush;
        loop {
            if in_flight.is_none() {
                in_flight = self.send_next();
            }
            let Some(sending) = in_flight.take() else {
                break;
            };
            let Ok(result) = tokio::time::timeout_at(deadline, sending.answer).await else {
                break;
            };
            if let Some(wait) = self.handle(result, sending.sent_at.elapsed()) {
                if Instant::now() + wait >= deadline {
                    break;
                }
                tokio::time::sleep(wait).await;
            }
        }
        let left = self.buffer.clear();
        self.metrics
            .grpc_export()
            .add_dropped(ExportDropReason::Shutdown, left as u64);
        self.update_gauge();
        if left > 0 {
            warn!(server = %self.server, records = left,
                  "gRPC export stopped with records netmon-server did not acknowledge: counted as dropped");
        } else {
            info!("gRPC export flushed every record before stopping");
        }
    }

    fn update_gauge(&self) {
        self.metrics
            .grpc_export()
            .set_buffer_records(self.buffer.len() as u64);
    }
}

async fn answer_of(in_flight: &mut Option<InFlight>) -> Result<ExportResponse, Status> {
    match in_flight {
        Some(sending) => sending.answer.as_mut().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The start of the interval of length `interval` that holds `now_ns`.
pub fn aligned(now_ns: u64, interval: Duration) -> u64 {
    let length = duration_ns(interval).max(1);
    now_ns - now_ns % length
}

fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

pub fn unix_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, duration_ns)
}
