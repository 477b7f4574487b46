//! Bookkeeping for series with per-flow labels (`flow_labels`), so that
//! they can be removed once no flow uses them. Without it every connection
//! ever seen would stay in `/metrics` forever.
//!
//! Several flows may share one series (with only `dst_port`, every
//! connection to port 443 does), so a series is removed only when none of
//! its flows is live and the last one ended at least `retention` ago.

use std::collections::HashMap;
use std::time::Duration;

use ahash::RandomState;

use crate::flow::UnixNanos;

/// Label values of one series, in label-name order.
pub(crate) type SeriesKey = Vec<String>;

struct SeriesUse {
    live_flows: usize,
    last_ended: UnixNanos,
}

pub(crate) struct FlowSeries {
    retention_ns: u64,
    /// The series each live flow counts into. Bounded by the flow table.
    live: HashMap<u64, SeriesKey, RandomState>,
    /// Bounded by live flows plus flows ended within `retention`.
    series: HashMap<SeriesKey, SeriesUse, RandomState>,
}

impl FlowSeries {
    pub(crate) fn new(retention: Duration) -> Self {
        FlowSeries {
            retention_ns: u64::try_from(retention.as_nanos()).unwrap_or(u64::MAX),
            live: HashMap::default(),
            series: HashMap::default(),
        }
    }

    /// Notes that flow `flow_id` counted into `key` at `now`, and whether
    /// the flow has ended with this change. A flow seen again after it ended
    /// (a late packet) only refreshes its series' end time.
    pub(crate) fn observe(&mut self, flow_id: u64, key: &[String], ended: bool, now: UnixNanos) {
        if !ended
            && self
                .live
                .get(&flow_id)
                .is_some_and(|current| current.as_slice() == key)
        {
            return;
        }
        // The flow ended, or its labels changed (its direction was decided
        // differently): it no longer keeps its previous series alive.
        if let Some(previous) = self.live.remove(&flow_id) {
            self.release(&previous, now);
        }
        // Looked up by reference first: most changes count into a series
        // that exists, and `entry` would copy every label value each time.
        let usage = match self.series.get_mut(key) {
            Some(usage) => usage,
            None => self.series.entry(key.to_vec()).or_insert(SeriesUse {
                live_flows: 0,
                last_ended: now,
            }),
        };
        if ended {
            usage.last_ended = usage.last_ended.max(now);
        } else {
            usage.live_flows += 1;
            self.live.insert(flow_id, key.to_vec());
        }
    }

    fn release(&mut self, key: &[String], now: UnixNanos) {
        if let Some(usage) = self.series.get_mut(key) {
            usage.live_flows = usage.live_flows.saturating_sub(1);
            usage.last_ended = usage.last_ended.max(now);
        }
    }

    /// Forgets and returns the series whose flows all ended at least
    /// `retention` before `now`; the caller removes them from the metrics.
    pub(crate) fn expire(&mut self, now: UnixNanos) -> Vec<SeriesKey> {
        let retention_ns = self.retention_ns;
        let mut expired = Vec::new();
        self.series.retain(|key, usage| {
            let keep = usage.live_flows > 0 || now.saturating_sub(usage.last_ended) < retention_ns;
            if !keep {
                expired.push(key.clone());
            }
            keep
        });
        expired
    }

    #[cfg(test)]
    pub(crate) fn series_count(&self) -> usize {
        self.series.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn key(port: &str) -> Vec<String> {
        vec!["tcp".into(), "egress".into(), port.into()]
    }

    #[test]
    fn a_series_is_kept_while_any_of_its_flows_is_live() {
        let mut series = FlowSeries::new(Duration::from_secs(60));
        series.observe(1, &key("443"), false, 0);
        series.observe(2, &key("443"), false, 0);
        series.observe(1, &key("443"), true, SECOND);
        assert!(series.expire(1_000 * SECOND).is_empty());
        assert_eq!(series.series_count(), 1);
    }

    #[test]
    fn a_series_is_removed_retention_after_its_last_flow_ended() {
        let mut series = FlowSeries::new(Duration::from_secs(60));
        series.observe(1, &key("443"), false, 0);
        series.observe(1, &key("443"), true, 10 * SECOND);
        assert!(series.expire(69 * SECOND).is_empty());
        assert_eq!(series.expire(70 * SECOND), vec![key("443")]);
        assert_eq!(series.series_count(), 0);
    }

    #[test]
    fn a_late_change_to_an_ended_flow_does_not_make_it_live_again() {
        let mut series = FlowSeries::new(Duration::from_secs(60));
        series.observe(1, &key("443"), false, 0);
        series.observe(1, &key("443"), true, 10 * SECOND);
        series.observe(1, &key("443"), true, 20 * SECOND);
        assert!(series.expire(79 * SECOND).is_empty());
        assert_eq!(series.expire(80 * SECOND), vec![key("443")]);
    }

    #[test]
    fn a_flow_that_moves_to_other_labels_releases_its_old_series() {
        let mut series = FlowSeries::new(Duration::from_secs(60));
        series.observe(1, &key("443"), false, 0);
        series.observe(1, &key("8443"), false, 5 * SECOND);
        assert_eq!(series.expire(65 * SECOND), vec![key("443")]);
        assert_eq!(series.series_count(), 1);
    }
}
