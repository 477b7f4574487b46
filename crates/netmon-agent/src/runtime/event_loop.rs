//! Reads TCP lifecycle events from the ring buffer as they come and merges
//! them into the flow table right away (a refused connect shows at once,
//! without waiting for the next drain).

use std::sync::Arc;

use netmon_ebpf::EventReader;
use tokio::sync::watch;
use tracing::warn;

use crate::{
    export::prometheus::Stage,
    source::kernel::{self, ClockMap},
};

use super::AgentState;

const MAX_EVENTS_PER_WAKEUP: usize = 1024;

pub async fn run(
    state: Arc<AgentState>,
    mut reader: EventReader,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut batch = Vec::with_capacity(MAX_EVENTS_PER_WAKEUP);
    loop {
        batch.clear();
        tokio::select! {
            read = reader.read(&mut batch, MAX_EVENTS_PER_WAKEUP) => {
                if let Err(e) = read {
                    warn!(error = %e, "TCP event ring buffer read failed; lifecycle tracking stops");
                    return;
                }
            }
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let started = std::time::Instant::now();
        let clock = ClockMap::now();
        let events: Vec<_> = batch
            .iter()
            .filter_map(|e| kernel::tcp_event(e, &clock))
            .collect();
        let changes = {
            let mut table = state.table.lock().expect("table lock");
            for event in &events {
                table.apply_tcp_event(event, clock.wall_now());
            }
            table.take_changes()
        };
        for event in &events {
            state
                .metrics
                .record_tcp_event(event.kind, event.connect_latency_ns);
        }
        state.metrics.add_events_processed(batch.len() as u64);
        state.publish(&changes);
        state
            .metrics
            .observe_processing(Stage::Events, started.elapsed());
    }
}
