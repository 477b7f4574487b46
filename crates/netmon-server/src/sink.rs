//! The sink: takes queued batches in order, inserts them into ClickHouse in
//! one INSERT per chunk, and only then drops them from the queue and the
//! spool. A failed exchange is retried (with backoff) forever: the spool
//! and, beyond it, the agents' buffers hold the data meanwhile.
//!
//! Idempotency: a chunk whose batches may already be in the table (a
//! previous attempt failed without a clear outcome, the batch was replayed
//! from the spool, or an agent re-sent it) is first checked with one query,
//! and rows of (batch, month) pairs already there are not sent again. The
//! argument that this never counts a row twice is in docs/server.md.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::batch::Batch;
use crate::clickhouse::{encode_row, ClickHouseError, FlowTable};
use crate::metrics::Metrics;
use crate::store::{Pending, Store};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub struct Sink {
    pub store: Arc<Store>,
    pub table: FlowTable,
    pub metrics: Arc<Metrics>,
    pub max_rows: usize,
    pub max_delay: Duration,
}

/// What one successful attempt did.
#[derive(Debug, Default, PartialEq, Eq)]
struct Done {
    rows_inserted: usize,
    batches_inserted: usize,
    batches_already_there: usize,
}

impl Sink {
    /// Runs until `stop` turns true. An INSERT under way is finished first
    /// (or times out); whatever is still queued stays in the spool for the
    /// next start.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut schema_ready = false;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let chunk = tokio::select! {
                chunk = self.store.next_chunk(self.max_rows, self.max_delay) => chunk,
                _ = stop.wait_for(|stop| *stop) => return,
            };
            let mut chunk = chunk;
            // Read once: retries during an outage must not re-read the disk.
            let batches = self.load(&chunk).await;
            loop {
                match self.attempt(&chunk, &batches, &mut schema_ready).await {
                    Ok(done) => {
                        self.metrics.clickhouse_up.set(1);
                        self.metrics
                            .records_inserted
                            .inc_by(done.rows_inserted as u64);
                        self.metrics
                            .batches_inserted
                            .inc_by(done.batches_inserted as u64);
                        self.metrics
                            .batches_duplicate
                            .with_label_values(&["clickhouse"])
                            .inc_by(done.batches_already_there as u64);
                        let store = Arc::clone(&self.store);
                        let count = chunk.len();
                        if tokio::task::spawn_blocking(move || store.commit(count))
                            .await
                            .is_err()
                        {
                            tracing::error!("committing inserted batches panicked");
                        }
                        backoff = FIRST_BACKOFF;
                        break;
                    }
                    Err(error) => {
                        schema_ready = false;
                        self.metrics.insert_failures.inc();
                        self.metrics.clickhouse_up.set(0);
                        tracing::warn!(%error, batches = chunk.len(), retry_in = ?backoff, "insert into ClickHouse failed; will check and retry");
                        // Whether it took effect is unknown: look before the next try.
                        self.store.mark_needs_check(chunk.len());
                        for pending in &mut chunk {
                            pending.needs_check = true;
                        }
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            _ = stop.wait_for(|stop| *stop) => return,
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        }
    }

    async fn attempt(
        &self,
        chunk: &[Pending],
        batches: &[Option<Arc<Batch>>],
        schema_ready: &mut bool,
    ) -> Result<Done, ClickHouseError> {
        if !*schema_ready {
            let features = self.table.ensure_schema().await?;
            tracing::info!(table = %self.table.name(), ?features, "ClickHouse table ready");
            *schema_ready = true;
        }

        let to_check: Vec<&Pending> = chunk.iter().filter(|p| p.needs_check).collect();
        let already = match (
            to_check.iter().map(|p| p.first_day).min(),
            to_check.iter().map(|p| p.last_day).max(),
        ) {
            (Some(first_day), Some(last_day)) => {
                let ids: Vec<Arc<str>> = to_check.iter().map(|p| Arc::clone(&p.batch_id)).collect();
                self.table.inserted(&ids, first_day, last_day).await?
            }
            _ => HashSet::new(),
        };

        let mut done = Done::default();
        let mut data = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for batch in batches.iter().flatten() {
            // The queue never holds an id twice; this guard keeps one INSERT
            // from carrying a batch twice should that ever change.
            if !seen.insert(&batch.batch_id) {
                continue;
            }
            let before = done.rows_inserted;
            for row in &batch.rows {
                if already.contains(&(Arc::clone(&batch.batch_id), row.month())) {
                    continue;
                }
                encode_row(&mut data, row, &batch.batch_id);
                done.rows_inserted += 1;
            }
            if done.rows_inserted > before || batch.rows.is_empty() {
                done.batches_inserted += 1;
            } else {
                done.batches_already_there += 1;
            }
        }
        if done.rows_inserted > 0 {
            let started = Instant::now();
            self.table.insert(data, done.rows_inserted).await?;
            self.metrics
                .insert_duration
                .observe(started.elapsed().as_secs_f64());
        }
        Ok(done)
    }

    /// The chunk's batches, from memory or read back from the spool. A
    /// batch that cannot be read back is lost to disk damage: it is counted
    /// and skipped so that the batches behind it are not held up forever.
    async fn load(&self, chunk: &[Pending]) -> Vec<Option<Arc<Batch>>> {
        let mut batches = Vec::with_capacity(chunk.len());
        for pending in chunk {
            if let Some(cached) = &pending.cached {
                batches.push(Some(Arc::clone(cached)));
                continue;
            }
            let store = Arc::clone(&self.store);
            let position = pending.clone();
            let loaded = tokio::task::spawn_blocking(move || store.load(&position))
                .await
                .unwrap_or_else(|_| Err("reading the spool panicked".to_owned()));
            match loaded {
                Ok(batch) => batches.push(Some(Arc::new(batch))),
                Err(error) => {
                    tracing::error!(batch_id = %pending.batch_id, %error, "a spooled batch cannot be read back; skipping it");
                    self.metrics.spool_corrupt_records.inc();
                    batches.push(None);
                }
            }
        }
        batches
    }
}
