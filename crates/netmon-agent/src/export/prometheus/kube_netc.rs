//! kube-netc compatible metrics, for dashboards built on kube-netc:
//! `active_connections` and per-connection byte rates. Their names break
//! netmon's naming scheme on purpose, and they are only registered when
//! `kube_netc_compat` is on.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{GaugeVec, IntGauge, Registry};

use super::register::{gauge_vec, int_gauge, lock, to_i64};
use crate::flow::{FlowChange, FlowChangeKind, FlowRecord};

#[derive(Default)]
struct State {
    /// kube-netc `id` label of every live flow, by flow id.
    live: HashMap<u64, String>,
    /// `id` labels currently exported.
    exported: HashSet<String>,
}

pub(crate) struct KubeNetc {
    active_connections: IntGauge,
    sent: GaugeVec,
    recv: GaugeVec,
    state: Mutex<State>,
}

/// kube-netc's connection id: `<src_ip>:<src_port>-<dst_ip>:<dst_port>`.
fn connection_id(record: &FlowRecord) -> String {
    let (src, dst) = (&record.key.initiator, &record.key.responder);
    format!(
        "{}:{}-{}:{}",
        src.ip.to_canonical(),
        src.port,
        dst.ip.to_canonical(),
        dst.port
    )
}

fn has_ended(change: &FlowChange) -> bool {
    change.kind == FlowChangeKind::Evicted || change.record.status.is_terminal()
}

impl KubeNetc {
    pub(crate) fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(KubeNetc {
            active_connections: int_gauge(
                registry,
                "active_connections",
                "Connections currently tracked (kube-netc compatible).",
            )?,
            sent: gauge_vec(
                registry,
                "bytes_sent_per_second",
                "Bytes per second from initiator to responder over the last flush interval (kube-netc compatible).",
                &["id"],
            )?,
            recv: gauge_vec(
                registry,
                "bytes_recv_per_second",
                "Bytes per second from responder to initiator over the last flush interval (kube-netc compatible).",
                &["id"],
            )?,
            state: Mutex::new(State::default()),
        })
    }

    /// Sets every live connection's rate from the bytes `changes` added
    /// during `interval` (a connection without changes gets 0), and removes
    /// the series of connections that ended. A zero interval sets rates to 0
    /// rather than dividing by zero.
    pub(crate) fn update(&self, changes: &[FlowChange], interval: Duration) {
        let mut state = lock(&self.state);
        let mut added: HashMap<String, (u64, u64)> = HashMap::new();
        for change in changes {
            let id = connection_id(&change.record);
            let bytes = added.entry(id.clone()).or_default();
            bytes.0 += change.added_tx.bytes;
            bytes.1 += change.added_rx.bytes;
            if has_ended(change) {
                state.live.remove(&change.record.id);
            } else {
                state.live.insert(change.record.id, id);
            }
        }

        let seconds = interval.as_secs_f64();
        let rate = |bytes: u64| {
            if seconds > 0.0 {
                bytes as f64 / seconds
            } else {
                0.0
            }
        };
        let live_ids: HashSet<String> = state.live.values().cloned().collect();
        for id in &live_ids {
            let (sent, recv) = added.get(id).copied().unwrap_or_default();
            self.sent.with_label_values(&[id]).set(rate(sent));
            self.recv.with_label_values(&[id]).set(rate(recv));
        }
        for id in state.exported.difference(&live_ids) {
            // NotFound cannot happen (we exported it); nothing to do if it did.
            let _ = self.sent.remove_label_values(&[id]);
            let _ = self.recv.remove_label_values(&[id]);
        }
        self.active_connections.set(to_i64(state.live.len() as u64));
        state.exported = live_ids;
    }
}
