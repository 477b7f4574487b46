//! Keeps the TC programs attached to the right interfaces: at start, and
//! every 500 ms after, so an interface that appears is counted within a
//! second and one that disappears is dropped without an error storm.

use std::{collections::HashSet, sync::Arc, time::Duration};

use netmon_ebpf::attach::AttachPreference;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::source::links::{self, InterfaceSelection};

use super::AgentState;

const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Reconciles every poll, and at once when the selection changes
/// (`capture.interfaces` and `capture.exclude_interfaces` are live
/// settings): interfaces it no longer selects are detached like ones gone.
pub async fn watch(
    state: Arc<AgentState>,
    mut selection: watch::Receiver<InterfaceSelection>,
    preference: AttachPreference,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            Ok(()) = selection.changed() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let state = state.clone();
        let selection = selection.borrow_and_update().clone();
        let _ =
            tokio::task::spawn_blocking(move || sync_once(&state, &selection, preference)).await;
    }
}

/// One reconciliation: attach to new interfaces, detach from gone ones,
/// refresh flow accounting flags and the node's addresses.
pub fn sync_once(state: &AgentState, selection: &InterfaceSelection, preference: AttachPreference) {
    let links = match links::list_links() {
        Ok(links) => links,
        Err(e) => {
            warn!(error = %e, "listing interfaces failed");
            return;
        }
    };
    if let Ok(addresses) = links::list_local_addresses() {
        state.set_local_addresses(addresses.into_iter().collect());
    }
    let wanted = links::select_interfaces(&links, selection);
    let mut guard = state.ebpf.lock().expect("ebpf lock");
    let Some(ebpf) = guard.as_mut() else { return };

    let wanted_indexes: HashSet<u32> = wanted.iter().map(|w| w.index).collect();
    let gone: Vec<u32> = ebpf
        .attached_interfaces()
        .map(|a| a.ifindex)
        .filter(|i| !wanted_indexes.contains(i))
        .collect();
    for ifindex in gone {
        if let Some(name) = ebpf.detach_interface(ifindex) {
            state.metrics.remove_interface(&name);
            info!(interface = %name, ifindex, "interface gone, detached");
        }
    }
    for iface in &wanted {
        let already = ebpf.attached_interfaces().any(|a| {
            a.ifindex == iface.index
                && a.name == iface.name
                && a.account_flows == iface.account_flows
        });
        if already {
            continue;
        }
        state.remember_interface(iface.index, &iface.name);
        let failure_key = (iface.index, iface.name.clone());
        match ebpf.attach_interface(iface.index, &iface.name, iface.account_flows, preference) {
            Ok(mode) => {
                state
                    .attach_failures
                    .lock()
                    .expect("failures lock")
                    .remove(&failure_key);
                info!(interface = %iface.name, ifindex = iface.index, mode = mode.name(),
                      account_flows = iface.account_flows, "attached");
            }
            // Retried every poll (an interface can vanish between listing
            // and attaching, or come up later), but logged once.
            Err(e) => {
                if state
                    .attach_failures
                    .lock()
                    .expect("failures lock")
                    .insert(failure_key)
                {
                    warn!(interface = %iface.name, error = %e, "attach failed");
                }
            }
        }
    }
    let (mut tcx, mut tc) = (0, 0);
    for a in ebpf.attached_interfaces() {
        match a.mode {
            netmon_ebpf::AttachMode::Tcx => tcx += 1,
            netmon_ebpf::AttachMode::Tc => tc += 1,
        }
    }
    state
        .metrics
        .set_attached_interfaces(netmon_ebpf::AttachMode::Tcx, tcx);
    state
        .metrics
        .set_attached_interfaces(netmon_ebpf::AttachMode::Tc, tc);
}
