//! Accepted batches on their way to ClickHouse: the spool (durable) and the
//! ordered queue of batches not yet inserted, with their rows kept in
//! memory while `queue.max_rows` allows.
//!
//! Locks are always taken spool first, then queue: the writer appends and
//! queues under both, so whoever holds both sees every spooled record in the
//! queue, which is what lets the sink delete segments safely.

use std::collections::{HashSet, VecDeque};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;
use netmon_proto::flows::v1::ExportRequest;
use prost::Message;
use tokio::sync::Notify;

use crate::batch::Batch;
use crate::metrics::Metrics;
use crate::spool::{Opened, Position, Spool, SpoolError};

/// Batch ids remembered after insertion, to answer re-sends `duplicate`
/// without asking ClickHouse. A re-send older than this is still caught:
/// re-sends are checked against the table before they are inserted.
pub const RECENT_BATCHES: usize = 100_000;

/// A batch in the queue.
#[derive(Debug, Clone)]
pub struct Pending {
    pub batch_id: Arc<str>,
    pub position: Position,
    pub rows: usize,
    /// The days its rows fall on, to narrow the "already inserted?" check.
    pub first_day: u16,
    pub last_day: u16,
    /// Its rows, unless memory was full when it was accepted.
    pub cached: Option<Arc<Batch>>,
    /// An earlier attempt may have inserted it: look before inserting.
    pub needs_check: bool,
    pub queued_at: Instant,
}

/// Why a batch is not queued a second time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateOf {
    /// Inserted recently.
    Inserted,
    /// Accepted, not yet inserted.
    Queued,
}

impl DuplicateOf {
    pub fn label(self) -> &'static str {
        match self {
            DuplicateOf::Inserted => "recent",
            DuplicateOf::Queued => "queued",
        }
    }
}

struct Queue {
    entries: VecDeque<Pending>,
    /// Ids queued or being written to the spool.
    known: HashSet<Arc<str>>,
    recent: LruCache<Arc<str>, ()>,
    rows: usize,
    memory_rows: usize,
}

/// What became of an accepted batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Queued,
    Duplicate(DuplicateOf),
}

/// A batch ready to be spooled and queued.
pub struct Accepted {
    pub batch: Arc<Batch>,
    pub payload: Vec<u8>,
    pub needs_check: bool,
}

pub struct Store {
    spool: Mutex<Spool>,
    queue: Mutex<Queue>,
    max_memory_rows: usize,
    wake_sink: Notify,
    metrics: Arc<Metrics>,
}

impl Store {
    /// The store over an opened spool: every record found is queued again,
    /// to be checked against the table before it is inserted (the previous
    /// process may have inserted it and not yet deleted its segment).
    pub fn recover(
        spool: Spool,
        opened: Opened,
        max_memory_rows: usize,
        metrics: Arc<Metrics>,
    ) -> Store {
        metrics.spool_corrupt_records.inc_by(opened.corrupt);
        let store = Store {
            spool: Mutex::new(spool),
            queue: Mutex::new(Queue {
                entries: VecDeque::new(),
                known: HashSet::new(),
                recent: LruCache::new(
                    NonZeroUsize::new(RECENT_BATCHES).expect("a positive constant"),
                ),
                rows: 0,
                memory_rows: 0,
            }),
            max_memory_rows,
            wake_sink: Notify::new(),
            metrics,
        };
        // Replayed batches are due at once, not after a batching delay.
        let long_ago = Instant::now()
            .checked_sub(Duration::from_secs(3600))
            .unwrap_or_else(Instant::now);
        let spool_bytes = store.lock_spool().bytes();
        {
            let mut queue = store.lock_queue();
            for record in opened.records {
                let batch = match ExportRequest::decode(record.payload.as_slice())
                    .map_err(|error| error.to_string())
                    .and_then(|request| Batch::from_request(&request).map_err(|e| e.to_string()))
                {
                    Ok(batch) => batch,
                    Err(error) => {
                        tracing::warn!(segment = record.position.segment, offset = record.position.offset, %error, "skipping a spool record that does not hold a valid batch");
                        store.metrics.spool_corrupt_records.inc();
                        continue;
                    }
                };
                if queue.known.contains(&batch.batch_id) {
                    store
                        .metrics
                        .batches_duplicate
                        .with_label_values(&["queued"])
                        .inc();
                    continue;
                }
                store.push(&mut queue, Arc::new(batch), record.position, true, long_ago);
            }
            store.update_gauges(&queue, spool_bytes);
        }
        store
    }

    /// Whether the server already has `batch_id`: the quick answer for a
    /// re-send. [`Store::spool_and_queue`] decides again, authoritatively.
    pub fn duplicate_of(&self, batch_id: &str) -> Option<DuplicateOf> {
        let queue = self.lock_queue();
        if queue.recent.contains(batch_id) {
            Some(DuplicateOf::Inserted)
        } else if queue.known.contains(batch_id) {
            Some(DuplicateOf::Queued)
        } else {
            None
        }
    }

    /// Writes the `batches` the server does not have yet to the spool with
    /// one fsync, and queues them. Blocks on disk IO; called by the single
    /// writer thread only, so a batch id reserved here is always either
    /// queued or released again.
    pub fn spool_and_queue(&self, batches: &[Accepted]) -> Vec<Result<Outcome, SpoolError>> {
        let duplicates: Vec<Option<DuplicateOf>> = {
            let mut queue = self.lock_queue();
            batches
                .iter()
                .map(|accepted| {
                    let id = &accepted.batch.batch_id;
                    if queue.recent.contains(id) {
                        Some(DuplicateOf::Inserted)
                    } else if !queue.known.insert(Arc::clone(id)) {
                        Some(DuplicateOf::Queued)
                    } else {
                        None
                    }
                })
                .collect()
        };
        let new: Vec<&Accepted> = batches
            .iter()
            .zip(&duplicates)
            .filter(|(_, duplicate)| duplicate.is_none())
            .map(|(accepted, _)| accepted)
            .collect();
        let mut spool = self.lock_spool();
        let payloads: Vec<&[u8]> = new.iter().map(|b| b.payload.as_slice()).collect();
        let mut written = spool.append(&payloads).into_iter();
        let mut queue = self.lock_queue();
        let now = Instant::now();
        let results = batches
            .iter()
            .zip(duplicates)
            .map(|(accepted, duplicate)| {
                if let Some(of) = duplicate {
                    return Ok(Outcome::Duplicate(of));
                }
                let outcome = written.next().unwrap_or_else(|| {
                    Err(SpoolError::Io {
                        path: Default::default(),
                        source: std::io::Error::other("the spool gave fewer answers than records"),
                    })
                });
                match outcome {
                    Ok(position) => {
                        self.metrics.spool_written_records.inc();
                        self.push(
                            &mut queue,
                            Arc::clone(&accepted.batch),
                            position,
                            accepted.needs_check,
                            now,
                        );
                        Ok(Outcome::Queued)
                    }
                    Err(error) => {
                        queue.known.remove(&accepted.batch.batch_id);
                        Err(error)
                    }
                }
            })
            .collect();
        self.update_gauges(&queue, spool.bytes());
        drop(queue);
        drop(spool);
        self.wake_sink.notify_one();
        results
    }

    /// Waits until an INSERT is due (`max_rows` waiting, or the oldest has
    /// waited `max_delay`) and returns the batches for it, oldest first,
    /// left in the queue until [`Store::commit`]. At least one batch; more
    /// while their rows stay within `max_rows`.
    pub async fn next_chunk(&self, max_rows: usize, max_delay: Duration) -> Vec<Pending> {
        loop {
            let woken = self.wake_sink.notified();
            let deadline = {
                let queue = self.lock_queue();
                match queue.entries.front() {
                    None => None,
                    Some(front) => {
                        let due_at = front.queued_at + max_delay;
                        if queue.rows >= max_rows || due_at <= Instant::now() {
                            return take_chunk(&queue.entries, max_rows);
                        }
                        Some(due_at)
                    }
                }
            };
            match deadline {
                Some(due_at) => {
                    tokio::select! {
                        () = woken => {}
                        () = tokio::time::sleep_until(due_at.into()) => {}
                    }
                }
                None => woken.await,
            }
        }
    }

    /// Marks the first `count` batches as possibly inserted, after an
    /// INSERT whose outcome is unknown.
    pub fn mark_needs_check(&self, count: usize) {
        let mut queue = self.lock_queue();
        for entry in queue.entries.iter_mut().take(count) {
            entry.needs_check = true;
        }
    }

    /// Reads a batch that is not in memory back from the spool. Blocks on disk IO.
    pub fn load(&self, pending: &Pending) -> Result<Batch, String> {
        let payload = self
            .lock_spool()
            .read(pending.position)
            .map_err(|error| error.to_string())?;
        self.metrics.spool_read_records.inc();
        let request =
            ExportRequest::decode(payload.as_slice()).map_err(|error| error.to_string())?;
        Batch::from_request(&request).map_err(|error| error.to_string())
    }

    /// The first `count` batches are in ClickHouse: forget them, remember
    /// their ids, delete the spool segments nothing needs any more. Blocks
    /// on disk IO.
    pub fn commit(&self, count: usize) {
        let mut spool = self.lock_spool();
        let mut queue = self.lock_queue();
        for _ in 0..count {
            let Some(entry) = queue.entries.pop_front() else {
                break;
            };
            queue.known.remove(&entry.batch_id);
            queue.rows -= entry.rows;
            if entry.cached.is_some() {
                queue.memory_rows -= entry.rows;
            }
            queue.recent.put(entry.batch_id, ());
        }
        let first_needed = queue.entries.front().map(|entry| entry.position.segment);
        spool.release_before(first_needed);
        self.update_gauges(&queue, spool.bytes());
    }

    fn push(
        &self,
        queue: &mut Queue,
        batch: Arc<Batch>,
        position: Position,
        needs_check: bool,
        queued_at: Instant,
    ) {
        let rows = batch.rows.len();
        let first_day = batch.rows.iter().map(|row| row.date).min().unwrap_or(0);
        let last_day = batch.rows.iter().map(|row| row.date).max().unwrap_or(0);
        let cached = if queue.memory_rows + rows <= self.max_memory_rows {
            queue.memory_rows += rows;
            Some(Arc::clone(&batch))
        } else {
            self.metrics.queue_spilled_batches.inc();
            None
        };
        queue.known.insert(Arc::clone(&batch.batch_id));
        queue.rows += rows;
        queue.entries.push_back(Pending {
            batch_id: Arc::clone(&batch.batch_id),
            position,
            rows,
            first_day,
            last_day,
            cached,
            needs_check,
            queued_at,
        });
    }

    fn update_gauges(&self, queue: &Queue, spool_bytes: u64) {
        self.metrics.queue_batches.set(queue.entries.len() as i64);
        self.metrics.queue_rows.set(queue.rows as i64);
        self.metrics.queue_memory_rows.set(queue.memory_rows as i64);
        self.metrics.spool_bytes.set(spool_bytes as i64);
    }

    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        // The queue holds plain data, valid after any panic elsewhere.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_spool(&self) -> MutexGuard<'_, Spool> {
        self.spool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn take_chunk(entries: &VecDeque<Pending>, max_rows: usize) -> Vec<Pending> {
    let mut rows = 0;
    let mut chunk = Vec::new();
    for entry in entries {
        if !chunk.is_empty() && rows + entry.rows > max_rows {
            break;
        }
        rows += entry.rows;
        chunk.push(entry.clone());
    }
    chunk
}
