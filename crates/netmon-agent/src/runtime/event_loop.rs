//! Reads TCP lifecycle events from the ring buffer as they come and merges
//! them into the flow table right away (a refused connect shows at once,
//! without waiting for the next drain).

use std::sync::Arc;

use netmon_common as abi;
use netmon_ebpf::EventReader;
use tokio::sync::watch;
use tracing::{trace, warn};

use crate::{
    export::prometheus::Stage,
    source::kernel::{self, ClockMap},
};

use super::{nat, AgentState};

const MAX_EVENTS_PER_WAKEUP: usize = 8192;
/// Events gather in the ring buffer and are read every 10 ms (the kernel
/// side submits them without a wakeup unless the ring is a quarter full).
/// Waking up per event cost most of the agent's CPU under a connection
/// storm (epoll and scheduler work, seen in `perf`); 10 ms delays what the
/// API shows by at most that, and the 1 MiB ring (13,000 events) leaves
/// room for > 1M events/s.
const EVENT_BATCH_DELAY: std::time::Duration = std::time::Duration::from_millis(10);

pub async fn run(
    state: Arc<AgentState>,
    mut reader: EventReader,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut batch = Vec::with_capacity(MAX_EVENTS_PER_WAKEUP);
    loop {
        batch.clear();
        // Read what gathered in the ring every EVENT_BATCH_DELAY; the kernel
        // wakes the reader earlier only when the ring is filling up.
        tokio::select! {
            read = reader.read(&mut batch, MAX_EVENTS_PER_WAKEUP) => {
                if let Err(e) = read {
                    warn!(error = %e, "TCP event ring buffer read failed; lifecycle tracking stops");
                    return;
                }
            }
            _ = tokio::time::sleep(EVENT_BATCH_DELAY) => {
                reader.read_available(&mut batch, MAX_EVENTS_PER_WAKEUP);
                if batch.is_empty() {
                    continue;
                }
            }
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        process_events(&state, &batch);
    }
}

/// Merges one batch of ring-buffer records into the flow table and
/// publishes the changes: the agent's whole per-event work after the read.
/// Public so that the event-path benchmark (`benches/event_path.rs`) times
/// exactly this code.
pub fn process_events(state: &AgentState, batch: &[abi::TcpEvent]) {
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
