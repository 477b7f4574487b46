//! Adding what the kernel lost (retransmitted segments, dropped packets) to
//! the connections of the flow table.
//!
//! Rules, in the spirit of the table's own (see its module documentation):
//!
//! * Loss is counted on the connection whatever the direction of the lost
//!   packet: a delta finds its record by the unordered pair of endpoints.
//! * Loss never creates a record. The kernel reports loss of every socket
//!   and namespace on the machine, loopback included; the table holds the
//!   connections TC counted on monitored interfaces and the TCP connections
//!   the lifecycle tracepoint reported, and a loss belongs to one of those
//!   or to nothing netmon shows. A delta without a record is returned as
//!   unattributed, so it can be counted.
//! * Loss does not change a record's status, times or packet counters, and
//!   a terminal record still takes it (a drop at close, a last
//!   retransmitted FIN). Each record touched gets one `Updated` change
//!   per call, with zero added packets.

use std::collections::HashSet;

use super::{FlowTable, PairKey};
use crate::flow::model::{LossDelta, LossKind, UnixNanos};

/// Loss that found no connection in the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnattributedLoss {
    pub retransmits: u64,
    pub drops: u64,
}

impl FlowTable {
    /// Adds one drain of per-flow loss; call after the same drain's
    /// [`apply_deltas`](Self::apply_deltas), so a connection whose first
    /// packets were dropped already has its record.
    pub fn apply_loss(&mut self, deltas: &[LossDelta], now: UnixNanos) -> UnattributedLoss {
        let mut unattributed = UnattributedLoss::default();
        // Touched pairs in first-touch order, so changes come out in the
        // order of the deltas.
        let mut touched: Vec<PairKey> = Vec::new();
        let mut seen: HashSet<PairKey> = HashSet::new();
        for delta in deltas {
            let pair = PairKey::new(delta.key.protocol, delta.key.src, delta.key.dst);
            let Some(record) = self.record_mut(&pair) else {
                match delta.kind {
                    LossKind::Retransmits => unattributed.retransmits += delta.count,
                    LossKind::Drops { .. } => unattributed.drops += delta.count,
                }
                continue;
            };
            let extras = record.extras_mut();
            match &delta.kind {
                LossKind::Retransmits => {
                    extras.retransmits = extras.retransmits.saturating_add(delta.count);
                }
                LossKind::Drops { reason } => {
                    extras.drops = extras.drops.saturating_add(delta.count);
                    let by_reason = extras.drop_reasons.entry(reason.clone()).or_default();
                    *by_reason = by_reason.saturating_add(delta.count);
                }
            }
            record.updated_at = now;
            if seen.insert(pair) {
                touched.push(pair);
            }
        }
        self.push_updated(touched);
        unattributed
    }
}

#[cfg(test)]
#[path = "table_loss_tests.rs"]
mod tests;
