//! What the API reads from: a snapshot of the current flows and a stream of
//! flow events. The agent's main loop implements [`FlowSource`]; the API never
//! touches the flow table itself, so a slow HTTP client cannot hold its lock.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

use super::query::FlowQuery;
use super::security::SecurityEventView;
use super::stats::FlowCounts;
use super::view::FlowView;
use crate::flow::FlowChangeKind;

/// Provider of flows for the API.
pub trait FlowSource: Send + Sync + 'static {
    /// Every flow currently known, in any order (the API sorts).
    fn snapshot(&self) -> Vec<FlowView>;
    /// The answer to a non-follow flow query ([`FlowQuery::select`] over
    /// the snapshot). A source with many flows overrides it to build views
    /// only for flows that may be part of the answer (`select.rs`).
    fn select(&self, query: &FlowQuery) -> Vec<FlowView> {
        query.select(self.snapshot())
    }
    /// The current flows counted by protocol, status and direction
    /// (`/api/v1/stats/flows`). A source with many flows overrides it to
    /// count without building a view per flow.
    fn counts(&self) -> FlowCounts {
        let mut counts = FlowCounts::default();
        for flow in self.snapshot() {
            counts.add(flow.protocol, flow.status, flow.direction);
        }
        counts
    }
    /// A receiver for events published from now on. Events are `Arc`ed so
    /// that many follow clients share one copy.
    fn subscribe(&self) -> broadcast::Receiver<Arc<FlowEvent>>;
    /// The recent security events, oldest first; none from a source that
    /// does not look for them.
    fn security_events(&self) -> Vec<Arc<SecurityEventView>> {
        Vec::new()
    }
    /// A receiver for security events from now on, or `None` from a source
    /// that does not look for them.
    fn subscribe_security(&self) -> Option<broadcast::Receiver<Arc<SecurityEventView>>> {
        None
    }
}

/// What happened to a flow, as written on the follow stream.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FlowEventKind {
    Opened,
    Updated,
    Closed,
    Evicted,
}

impl From<&FlowChangeKind> for FlowEventKind {
    fn from(kind: &FlowChangeKind) -> Self {
        match kind {
            FlowChangeKind::Opened => FlowEventKind::Opened,
            FlowChangeKind::Updated => FlowEventKind::Updated,
            FlowChangeKind::Closed => FlowEventKind::Closed,
            FlowChangeKind::Evicted => FlowEventKind::Evicted,
        }
    }
}

/// One follow-stream line: the flow's fields plus `"event"`, flattened so
/// that `jq 'select(.dst_port == 443)'` works the same on both endpoints.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct FlowEvent {
    pub event: FlowEventKind,
    #[serde(flatten)]
    pub flow: FlowView,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_kind_maps_to_the_event_of_the_same_name() {
        assert_eq!(
            FlowEventKind::from(&FlowChangeKind::Opened),
            FlowEventKind::Opened
        );
        assert_eq!(
            FlowEventKind::from(&FlowChangeKind::Updated),
            FlowEventKind::Updated
        );
        assert_eq!(
            FlowEventKind::from(&FlowChangeKind::Closed),
            FlowEventKind::Closed
        );
        assert_eq!(
            FlowEventKind::from(&FlowChangeKind::Evicted),
            FlowEventKind::Evicted
        );
    }
}
