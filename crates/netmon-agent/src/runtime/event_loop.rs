//! Reads TCP lifecycle events from the ring buffer as they come and merges
//! them into the flow table right away (a refused connect shows at once,
//! without waiting for the next drain).
//!
//! Reading and merging are joined by a queue ([`EventPipe`]). The ring is
//! read by a thread of its own that does nothing else, so it keeps up
//! whatever the rest of the agent does: merging needs the flow table's
//! lock, which a drain holds for as long as it merges a whole interval
//! (hundreds of milliseconds under a connection storm on a busy node), and
//! a tokio worker blocked on that lock cannot read the ring either. With the
//! read behind the lock, the 1 MiB ring (~12,000 events, ~0.1 s of a
//! 30,000 connections/s storm) overflowed during such drains and lost 17 %
//! of a 30 s storm's events (BENCHMARKS.md, 2026-12-06).
//!
//! A drain merges the events pending in the ring and the queue before it
//! applies the flow counters it read ([`merge_pending`]). Otherwise a
//! connection that reuses a finished connection's ports could reach the
//! table first through its packets (a SYN after the old record's end: a new
//! record) and then again through its events, still in the queue: two
//! records for one connection. That counted up to 30 % too many closed
//! connections in a storm with a 200 ms flush interval.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netmon_common::TcpEvent as RawTcpEvent;
use netmon_ebpf::EventReader;
use tokio::sync::{watch, Notify};
use tracing::{trace, warn};

use crate::{
    export::prometheus::{AgentMetrics, Stage},
    source::kernel::{self, ClockMap},
};

use super::{nat, AgentState};

const MAX_EVENTS_PER_READ: usize = 8192;
/// Events gather in the ring buffer and are read every 10 ms (the kernel
/// side submits them without a wakeup). Waking up per event cost most of
/// the agent's CPU under a connection storm (epoll and scheduler work, seen
/// in `perf`); 10 ms delays what the API shows by at most that, and the
/// 4 MiB ring (~48,000 events) leaves room for > 4M events/s, or for a
/// reader thread that the scheduler runs late.
const EVENT_BATCH_DELAY: Duration = Duration::from_millis(10);
/// Events read from the ring and waiting for the flow table: ~2 s of a
/// 25,000 connections/s storm (5 events each), ~21 MB at most. Beyond it
/// events are dropped and counted (`netmon_ebpf_events_queue_dropped_total`).
const MAX_QUEUED_EVENTS: usize = 262_144;

/// The ring, the events read from it and not merged yet, and the order in
/// which they reach the table.
pub struct EventPipe {
    reader: Mutex<EventReader>,
    queue: Mutex<VecDeque<Vec<RawTcpEvent>>>,
    queued: AtomicUsize,
    /// Held while taking batches from the queue and merging them, so that
    /// they reach the table in ring order whoever merges them (the merge
    /// task or a drain).
    merging: Mutex<()>,
    ready: Notify,
    stopped: AtomicBool,
    metrics: Arc<AgentMetrics>,
}

impl EventPipe {
    /// Moves everything the ring holds into the queue; returns how many
    /// events the last read took.
    fn read_ring(&self) -> usize {
        let mut reader = self.reader.lock().expect("event reader lock");
        loop {
            let mut batch = Vec::new();
            reader.read_available(&mut batch, MAX_EVENTS_PER_READ);
            let n = batch.len();
            if n > 0 {
                if self.queued.load(Ordering::Relaxed) + n > MAX_QUEUED_EVENTS {
                    self.metrics.add_events_queue_dropped(n as u64);
                } else {
                    self.queued.fetch_add(n, Ordering::Relaxed);
                    // Pushed while the reader is held: the queue keeps ring order.
                    self.queue
                        .lock()
                        .expect("event queue lock")
                        .push_back(batch);
                    self.ready.notify_one();
                }
            }
            // Until the ring is empty: a drain must see every event
            // submitted before it read the flow counters.
            if n < MAX_EVENTS_PER_READ {
                return n;
            }
        }
    }

    fn take(&self) -> VecDeque<Vec<RawTcpEvent>> {
        let batches = std::mem::take(&mut *self.queue.lock().expect("event queue lock"));
        let n: usize = batches.iter().map(Vec::len).sum();
        self.queued.fetch_sub(n, Ordering::Relaxed);
        batches
    }
}

pub async fn run(state: Arc<AgentState>, reader: EventReader, mut shutdown: watch::Receiver<bool>) {
    let pipe = Arc::new(EventPipe {
        reader: Mutex::new(reader),
        queue: Mutex::new(VecDeque::new()),
        queued: AtomicUsize::new(0),
        merging: Mutex::new(()),
        ready: Notify::new(),
        stopped: AtomicBool::new(false),
        metrics: state.metrics.clone(),
    });
    let spawned = std::thread::Builder::new()
        .name("netmon-events".into())
        .spawn({
            let pipe = pipe.clone();
            move || {
                while !pipe.stopped.load(Ordering::Relaxed) {
                    pipe.read_ring();
                    std::thread::sleep(EVENT_BATCH_DELAY);
                }
            }
        });
    if let Err(e) = spawned {
        warn!(error = %e, "TCP event reader thread did not start; lifecycle tracking stops");
        return;
    }
    let _ = state.event_pipe.set(pipe.clone());
    loop {
        tokio::select! {
            _ = pipe.ready.notified() => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
        let _order = pipe.merging.lock().expect("event merge lock");
        for batch in pipe.take() {
            process_events(&state, &batch);
        }
    }
    pipe.stopped.store(true, Ordering::Relaxed);
}

/// Merges every event already in the ring or the queue. A drain calls it
/// after reading the kernel's flow counters and before applying them: the
/// events of a connection those counters include are then in the table
/// first (see the module's documentation).
pub fn merge_pending(state: &AgentState) {
    let Some(pipe) = state.event_pipe.get() else {
        return;
    };
    let _order = pipe.merging.lock().expect("event merge lock");
    pipe.read_ring();
    for batch in pipe.take() {
        process_events(state, &batch);
    }
}

/// Merges one batch of ring-buffer records into the flow table and
/// publishes the changes: the agent's whole per-event work after the read.
/// Public so that the event-path benchmark (`benches/event_path`) times
/// exactly this code.
pub fn process_events(state: &AgentState, batch: &[RawTcpEvent]) {
    let started = std::time::Instant::now();
    let clock = ClockMap::now();
    let events: Vec<_> = batch
        .iter()
        .filter_map(|e| kernel::tcp_event(e, &clock))
        .collect();
    // A backend's socket reports a translated connection; its conntrack
    // event may still be in the socket.
    nat::lock(&state.nat).pump();
    let changes = {
        let mut table = state.table.lock().expect("table lock");
        let nat = nat::lock(&state.nat);
        // connect() enters SYN_SENT before it picks the source port, so
        // the "opened" event carries local port 0: it counts in the
        // metrics but must not create a flow (the SYN's flow follows).
        for event in events.iter().filter(|e| e.local.port != 0) {
            table.apply_tcp_event_with_nat(event, nat.table(), clock.wall_now());
        }
        table.take_changes()
    };
    for event in &events {
        state
            .metrics
            .record_tcp_event(event.kind, event.connect_latency_ns);
        // One line per connection event: only with `debug trace on`
        // (or log.level trace), never at the levels a node runs with.
        trace!(kind = ?event.kind, local = %endpoint(event.local), remote = %endpoint(event.remote),
               connect_latency_ns = event.connect_latency_ns, netns = event.netns_ino, "tcp event");
    }
    state.metrics.add_events_processed(batch.len() as u64);
    state.publish(&changes);
    state
        .metrics
        .observe_processing(Stage::Events, started.elapsed());
}

fn endpoint(end: crate::flow::Endpoint) -> std::net::SocketAddr {
    std::net::SocketAddr::new(end.ip, end.port)
}
