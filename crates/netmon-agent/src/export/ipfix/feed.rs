//! Where the agent's flow changes meet the IPFIX exporter: the runtime
//! hands every published change to the feed, the exporter takes records
//! out of it. One lock, held for a batch of changes or one take.

use std::sync::Mutex;
use std::time::Duration;

use super::record::IpfixRecord;
use super::tracker::FlowTracker;
use crate::export::prometheus::{AgentMetrics, IpfixDropReason};
use crate::flow::{Direction, FlowChange, FlowRecord, UnixNanos};

#[derive(Debug)]
pub struct IpfixFeed {
    tracker: Mutex<FlowTracker>,
}

impl IpfixFeed {
    pub fn new(active_timeout: Duration, capacity: usize) -> Self {
        IpfixFeed {
            tracker: Mutex::new(FlowTracker::new(active_timeout, capacity)),
        }
    }

    /// Takes in a batch of the flow table's changes; `direction_of` gives
    /// each flow's direction at this node.
    pub fn observe(
        &self,
        changes: &[FlowChange],
        metrics: &AgentMetrics,
        mut direction_of: impl FnMut(&FlowRecord) -> Direction,
    ) {
        let mut tracker = self.lock();
        let lost: u64 = changes
            .iter()
            .map(|change| tracker.observe(change, direction_of(&change.record)))
            .sum();
        drop(tracker);
        metrics
            .ipfix()
            .add_dropped(IpfixDropReason::TrackerFull, lost);
    }

    pub(super) fn take_due(&self, now: UnixNanos) -> Vec<IpfixRecord> {
        self.lock().take_due(now)
    }

    pub(super) fn take_all(&self) -> Vec<IpfixRecord> {
        self.lock().take_all()
    }

    pub(super) fn pending_flows(&self) -> usize {
        self.lock().len()
    }

    /// A panic while holding the lock leaves the tracker consistent (each
    /// operation finishes its bookkeeping before returning), so a poisoned
    /// lock is still used rather than stopping the export.
    fn lock(&self) -> std::sync::MutexGuard<'_, FlowTracker> {
        self.tracker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
