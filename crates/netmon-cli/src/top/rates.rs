//! Per-flow byte and packet rates from two successive polls of the agent's
//! cumulative counters. Pure: the caller says when each poll was taken.
//!
//! A rate is the counter's growth between the two polls divided by the time
//! between them (measured with `Instant`, so a clock step cannot bend it).
//! A flow the previous poll did not contain is one of two kinds:
//! - first seen (`first_seen_ns`) at or after the previous poll: all of its
//!   counters grew within the interval, so the whole count is its growth;
//! - first seen before it (the agent published it late, or it just started
//!   to match the filter): how much of its count falls in the interval is
//!   unknown, so its rate is unknown (`None`, shown as `-`) until the next
//!   poll.

use std::time::Instant;

use crate::model::Flow;

/// One answer of `GET /api/v1/flows` and when it was asked for.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub flows: Vec<Flow>,
    /// When the request was sent: the interval between two snapshots.
    pub taken_at: Instant,
    /// The same moment on the wall clock (nanoseconds since the UNIX
    /// epoch), to compare with the agent's `first_seen_ns`: the agent runs
    /// on this machine, so both read the same clock.
    pub taken_at_unix_ns: u64,
}

/// A flow with its rates over the last interval; `None` while unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRate {
    pub flow: Flow,
    pub bytes_per_second: Option<f64>,
    pub packets_per_second: Option<f64>,
}

/// Rates of every flow in `current`, in its order. Without a `previous`
/// snapshot (the first poll) every rate is unknown.
pub fn flow_rates(previous: Option<&Snapshot>, current: &Snapshot) -> Vec<FlowRate> {
    let Some(previous) = previous else {
        return current.flows.iter().map(unknown_rate).collect();
    };
    let seconds = current
        .taken_at
        .saturating_duration_since(previous.taken_at)
        .as_secs_f64();
    if seconds <= 0.0 {
        return current.flows.iter().map(unknown_rate).collect();
    }
    let before: std::collections::HashMap<u64, &Flow> =
        previous.flows.iter().map(|flow| (flow.id, flow)).collect();
    current
        .flows
        .iter()
        .map(|flow| {
            let growth = match before.get(&flow.id) {
                Some(earlier) => Some((
                    flow.bytes().saturating_sub(earlier.bytes()),
                    flow.packets().saturating_sub(earlier.packets()),
                )),
                None if flow.first_seen_ns >= previous.taken_at_unix_ns => {
                    Some((flow.bytes(), flow.packets()))
                }
                None => None,
            };
            match growth {
                Some((bytes, packets)) => FlowRate {
                    flow: flow.clone(),
                    bytes_per_second: Some(bytes as f64 / seconds),
                    packets_per_second: Some(packets as f64 / seconds),
                },
                None => unknown_rate(flow),
            }
        })
        .collect()
}

fn unknown_rate(flow: &Flow) -> FlowRate {
    FlowRate {
        flow: flow.clone(),
        bytes_per_second: None,
        packets_per_second: None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;

    /// A TCP flow 10.0.0.1:40000 -> 10.0.0.2:5001 with these counters.
    pub(crate) fn flow(
        id: u64,
        bytes: (u64, u64),
        packets: (u64, u64),
        first_seen_ns: u64,
    ) -> Flow {
        serde_json::from_value(serde_json::json!({
            "id": id,
            "src_ip": "10.0.0.1", "src_port": 40000 + id,
            "dst_ip": "10.0.0.2", "dst_port": 5001,
            "protocol": "tcp", "direction": "forwarded",
            "tx_bytes": bytes.0, "rx_bytes": bytes.1,
            "tx_packets": packets.0, "rx_packets": packets.1,
            "status": "active",
            "first_seen": "", "last_seen": "",
            "first_seen_ns": first_seen_ns, "last_seen_ns": first_seen_ns,
        }))
        .expect("a valid flow")
    }

    const T0_NS: u64 = 1_000_000_000_000;

    fn snapshots(before: Vec<Flow>, after: Vec<Flow>, apart: Duration) -> (Snapshot, Snapshot) {
        let start = Instant::now();
        let first = Snapshot {
            flows: before,
            taken_at: start,
            taken_at_unix_ns: T0_NS,
        };
        let second = Snapshot {
            flows: after,
            taken_at: start + apart,
            taken_at_unix_ns: T0_NS + apart.as_nanos() as u64,
        };
        (first, second)
    }

    #[test]
    fn a_flow_in_both_snapshots_grows_by_the_difference_over_the_interval() {
        let (first, second) = snapshots(
            vec![flow(1, (1_000, 500), (10, 5), T0_NS - 5)],
            vec![flow(1, (5_000, 1_500), (50, 15), T0_NS - 5)],
            Duration::from_secs(2),
        );
        let rates = flow_rates(Some(&first), &second);
        assert_eq!(rates.len(), 1);
        // (5000 + 1500 - 1500) / 2 s, (50 + 15 - 15) / 2 s
        assert_eq!(rates[0].bytes_per_second, Some(2_500.0));
        assert_eq!(rates[0].packets_per_second, Some(25.0));
    }

    #[test]
    fn a_flow_that_started_after_the_previous_poll_counts_its_whole_total() {
        let (first, second) = snapshots(
            vec![],
            vec![flow(7, (300, 100), (3, 1), T0_NS + 10)],
            Duration::from_millis(500),
        );
        let rates = flow_rates(Some(&first), &second);
        assert_eq!(rates[0].bytes_per_second, Some(800.0));
        assert_eq!(rates[0].packets_per_second, Some(8.0));
    }

    #[test]
    fn a_flow_new_to_the_view_but_older_than_the_previous_poll_has_no_rate_yet() {
        let (first, second) = snapshots(
            vec![],
            vec![flow(7, (300, 100), (3, 1), T0_NS - 1)],
            Duration::from_secs(1),
        );
        let rates = flow_rates(Some(&first), &second);
        assert_eq!(rates[0].bytes_per_second, None);
        assert_eq!(rates[0].packets_per_second, None);
    }

    #[test]
    fn the_first_poll_has_no_rates() {
        let (_, only) = snapshots(
            vec![],
            vec![flow(1, (10, 10), (1, 1), T0_NS)],
            Duration::from_secs(1),
        );
        let rates = flow_rates(None, &only);
        assert_eq!(rates[0].bytes_per_second, None);
        assert_eq!(rates[0].flow.id, 1);
    }

    #[test]
    fn a_flow_that_went_quiet_has_a_rate_of_zero() {
        let (first, second) = snapshots(
            vec![flow(3, (900, 0), (9, 0), T0_NS - 5)],
            vec![flow(3, (900, 0), (9, 0), T0_NS - 5)],
            Duration::from_secs(1),
        );
        let rates = flow_rates(Some(&first), &second);
        assert_eq!(rates[0].bytes_per_second, Some(0.0));
        assert_eq!(rates[0].packets_per_second, Some(0.0));
    }
}
