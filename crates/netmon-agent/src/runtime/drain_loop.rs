//! Every flush interval: swap and drain the kernel flow maps, merge into the
//! flow table, age it, and publish the changes and the kernel's counters.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::watch;
use tracing::{debug, warn};

use crate::{
    api::Readiness,
    export::prometheus::{Hook, Stage},
    flow::{Direction, FlowDelta, Protocol, RttReading},
    source::{
        drop_reasons::DropReasons,
        kernel::{self, ClockMap},
        loss,
        rtt::rtt_reading,
    },
};

use super::{event_loop, nat, state::context, AgentState};

/// Drains every `flush_interval`, which can change while it runs
/// (`flow.flush_interval` is a live setting): the next drain is then one
/// new interval after the change.
pub async fn run(
    state: Arc<AgentState>,
    mut flush_interval: watch::Receiver<Duration>,
    drop_reasons: Arc<DropReasons>,
    readiness: Readiness,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut interval = *flush_interval.borrow_and_update();
    let mut ticker = ticker(tokio::time::Instant::now(), interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            Ok(()) = flush_interval.changed() => {
                interval = *flush_interval.borrow_and_update();
                ticker = ticker_after(interval);
                debug!(interval = %humantime::format_duration(interval), "flush interval changed");
                continue;
            }
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
        let state2 = state.clone();
        let reasons = drop_reasons.clone();
        // The drain waits for an RCU grace period and walks maps: blocking
        // work, kept off the async workers.
        match tokio::task::spawn_blocking(move || drain_once(&state2, interval, &reasons)).await {
            Ok(Ok(())) => {
                if !readiness.is_ready() {
                    readiness.set_ready();
                }
            }
            Ok(Err(e)) => {
                warn!(error = %e, "drain failed");
                readiness.set_not_ready(format!("drain failed: {e}"));
            }
            Err(e) => warn!(error = %e, "drain task panicked"),
        }
    }
    // What the kernel counted since the last drain goes into the table too,
    // so that exporters stopping after this loop send it.
    match tokio::task::spawn_blocking(move || drain_once(&state, interval, &drop_reasons)).await {
        Ok(Ok(())) => debug!("last drain before shutdown done"),
        Ok(Err(e)) => warn!(error = %e, "last drain before shutdown failed"),
        Err(e) => warn!(error = %e, "last drain task panicked"),
    }
}

fn ticker(start: tokio::time::Instant, interval: Duration) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval_at(start, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

/// A ticker whose first tick is one `interval` from now.
fn ticker_after(interval: Duration) -> tokio::time::Interval {
    ticker(tokio::time::Instant::now() + interval, interval)
}

/// Payload findings wait for their connection's record: one found no
/// record in this drain is tried once more at the next, then counted.
fn apply_app(state: &AgentState, table: &mut crate::flow::FlowTable, now: u64) {
    let observations = state.take_app_observations();
    if observations.is_empty() {
        return;
    }
    let missed = {
        let nat = nat::lock(&state.nat);
        table.apply_app(observations, nat.table(), now)
    };
    let (retry, given_up): (Vec<_>, Vec<_>) = missed.into_iter().partition(|o| o.misses == 0);
    state.metrics.app().add_unattributed(given_up.len() as u64);
    state.requeue_app_observations(retry.into_iter().map(|mut o| {
        o.misses += 1;
        o
    }));
}

fn drain_once(
    state: &AgentState,
    interval: Duration,
    drop_reasons: &DropReasons,
) -> Result<(), netmon_ebpf::EbpfError> {
    let started = Instant::now();
    // Before the maps are swapped: translations ended before this point
    // have all their packets in this drain (see `flow::nat`).
    let nat_generation = nat::lock(&state.nat).begin_drain();
    let (
        drained,
        rtt,
        rtt_map_full,
        kernel_stats,
        iface_counters,
        packet_sizes,
        icmp_counts,
        loss_reading,
    ) = {
        let mut guard = state.ebpf.lock().expect("ebpf lock");
        let Some(ebpf) = guard.as_mut() else {
            return Ok(());
        };
        let drained = ebpf.drain_flows()?;
        // Right after the flow drain: it retired this RTT generation too.
        let rtt = ebpf.drain_rtt()?;
        (
            drained,
            rtt,
            ebpf.rtt_map_full()?,
            ebpf.kernel_stats()?,
            ebpf.interface_counters()?,
            ebpf.packet_sizes()?,
            ebpf.icmp_counts()?,
            loss::read_totals(ebpf)?,
        )
    };
    let clock = ClockMap::now();
    let deltas: Vec<FlowDelta> = drained
        .entries
        .iter()
        .map(|(k, v)| kernel::flow_delta(k, v, &clock))
        .collect();
    let rtt_readings: Vec<RttReading> = rtt.iter().map(|(k, v)| rtt_reading(k, v)).collect();
    let loss_deltas = loss::loss_deltas(&drained.loss, drop_reasons);
    // Converted: freed before the merge rather than at the end of the
    // drain, since the merge's own memory (the table's growth, the change
    // list) peaks on top of it. 1M new flows: ~100 MB less at the peak.
    drop(drained);
    let metrics = &state.metrics;
    metrics.observe_processing(Stage::Drain, started.elapsed());
    let drained_entries = deltas.len();
    metrics.set_kernel_flow_map_entries(drained_entries as u64);

    // The events of the connections these counters include go first: a
    // reused port's SYN must find its connection's record, not the one
    // its ports had before (see `event_loop`).
    event_loop::merge_pending(state);
    let merge_started = Instant::now();
    let now = clock.wall_now();
    // Conntrack events still in the socket: a connection this drain counted
    // may have been announced just now.
    nat::lock(&state.nat).pump();
    let (changes, active, stats) = {
        let mut table = state.table.lock().expect("table lock");
        {
            let mut nat = nat::lock(&state.nat);
            table.apply_deltas_with_nat(&deltas, nat.table(), now);
            // In the table now; what follows (the change list) peaks
            // without them.
            drop(deltas);
            nat.end_drain(nat_generation);
            metrics.set_nat(&nat.reading());
        }
        let unattributed = table.apply_loss(&loss_deltas, now);
        metrics.loss().add_unattributed(unattributed);
        // After the deltas, so a connection first counted in this interval
        // already has its record.
        table.apply_rtt(&rtt_readings, now);
        apply_app(state, &mut table, now);
        table.expire(now);
        let changes = table.take_changes();
        let mut active: HashMap<(Protocol, Direction), u64> = HashMap::new();
        let local = state.local_addresses();
        let mut resolver = state.enricher.resolver();
        for record in table.records().filter(|r| !r.status.is_terminal()) {
            let direction = context(record, &local, &mut resolver).direction;
            *active.entry((record.key.protocol, direction)).or_default() += 1;
        }
        drop((local, resolver));
        if state.enricher.is_on() {
            // Names are kept per flow; forget those of flows that left.
            let live = table.records().map(|r| r.id).collect();
            state.enricher.retain(&live);
        }
        (changes, active, table.stats())
    };
    state.publish(&changes);
    if let Some(port_scans) = &state.port_scans {
        // Only after this drain's connections were observed: they started
        // up to a flush interval before `now`, and may continue the episode
        // of a source that would otherwise look quiet by now.
        port_scans.expire(now, metrics);
    }
    metrics.update_kube_netc(&changes, interval);
    metrics.expire_flow_series(now);
    metrics.observe_processing(Stage::Merge, merge_started.elapsed());

    let active: Vec<(Protocol, Direction, u64)> =
        active.into_iter().map(|((p, d), n)| (p, d, n)).collect();
    metrics.set_active_flows(&active);
    metrics.set_flow_table_flows(stats.flows as u64);
    metrics.set_kernel_counters(&kernel_stats);
    metrics.set_packet_sizes(&packet_sizes);
    metrics.set_icmp_counts(&icmp_counts);
    metrics.observe_tcp_rtt(rtt_readings.iter().map(|r| r.last_us));
    metrics.set_kernel_rtt_map_full(rtt_map_full);
    metrics.loss().set_stats(&loss_reading.stats);
    metrics
        .loss()
        .set_drop_totals(&loss::named_drop_totals(&loss_reading.drops, drop_reasons));
    let per_interface: Vec<(String, Hook, u64, u64)> = iface_counters
        .iter()
        .filter_map(|c| {
            let name = state.interface_name(c.ifindex)?;
            let hook = if c.ingress {
                Hook::Ingress
            } else {
                Hook::Egress
            };
            Some((name, hook, c.bytes, c.packets))
        })
        .collect();
    metrics.set_interface_counters(&per_interface);
    debug!(
        entries = drained_entries,
        changes = changes.len(),
        flows = stats.flows,
        "drained"
    );
    Ok(())
}
