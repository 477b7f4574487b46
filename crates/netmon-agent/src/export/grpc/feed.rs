//! Where the agent's flow changes meet the gRPC exporter: the runtime
//! hands every published change to the feed, the exporter takes an
//! interval's records out of it. One lock, held for a batch of changes or
//! one take.

use std::sync::{Mutex, MutexGuard, PoisonError};

use netmon_proto::flows::v1::FlowRecord as ProtoRecord;

use super::records::{Interval, IntervalRecords};
use crate::export::prometheus::FlowContext;
use crate::flow::{FlowChange, FlowRecord};

#[derive(Debug)]
pub struct GrpcFeed {
    records: Mutex<IntervalRecords>,
}

impl GrpcFeed {
    pub fn new(records: IntervalRecords) -> Self {
        GrpcFeed {
            records: Mutex::new(records),
        }
    }

    /// Takes in a batch of the flow table's changes; `context_of` gives each
    /// flow's direction and names at this node.
    pub fn observe(
        &self,
        changes: &[FlowChange],
        mut context_of: impl FnMut(&FlowRecord) -> FlowContext,
    ) {
        let mut records = self.lock();
        for change in changes {
            records.observe(change, context_of(&change.record));
        }
    }

    pub(super) fn take(&self, interval: Interval) -> Vec<ProtoRecord> {
        self.lock().take(interval)
    }

    /// Each operation finishes its bookkeeping before it returns, so after
    /// a panic elsewhere the records are still consistent and the export
    /// goes on rather than stopping.
    fn lock(&self) -> MutexGuard<'_, IntervalRecords> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
