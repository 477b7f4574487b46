//! Adding what payload samples taught (application protocol, DNS) to the
//! connections of the flow table.
//!
//! Rules, like the loss rules (`table_loss.rs`):
//!
//! * An observation finds its record by the unordered pair of endpoints of
//!   its key, after NAT attribution (a request sampled before DNAT and a
//!   response sampled before un-NAT belong to the one translated record).
//! * An observation never creates a record. Samples are read within
//!   milliseconds, the packets' counts only at the next drain, so an
//!   observation that finds no record is handed back to be tried at the
//!   next drain; the caller gives up after that and counts it.
//! * Status, times and counters are untouched; each record whose
//!   application layer changed gets one `Updated` change per call.

use std::collections::HashSet;

use super::{FlowTable, PairKey};
use crate::flow::app::{AppInfo, AppObservation};
use crate::flow::model::UnixNanos;
use crate::flow::nat::NatTable;

impl FlowTable {
    /// Applies observations; returns those that found no record, in order.
    pub fn apply_app(
        &mut self,
        observations: Vec<AppObservation>,
        nat: &NatTable,
        now: UnixNanos,
    ) -> Vec<AppObservation> {
        let mut missed = Vec::new();
        let mut touched: Vec<PairKey> = Vec::new();
        let mut seen: HashSet<PairKey> = HashSet::new();
        for observation in observations {
            let key = nat
                .attribute(&observation.key)
                .map_or(observation.key, |(key, _)| key);
            let pair = PairKey::new(key.protocol, key.src, key.dst);
            let Some(record) = self.record_mut(&pair) else {
                missed.push(observation);
                continue;
            };
            let app = record
                .extras_mut()
                .app
                .get_or_insert_with(Box::<AppInfo>::default);
            if app.merge(&observation.update) {
                record.updated_at = now;
                if seen.insert(pair) {
                    touched.push(pair);
                }
            }
        }
        self.push_updated(touched);
        missed
    }
}

#[cfg(test)]
#[path = "table_app_tests.rs"]
mod tests;
