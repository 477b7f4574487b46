//! `netmon_tcp_rtt_seconds` and `netmon_kernel_rtt_map_full_total`.
//!
//! The histogram takes one observation per socket and drain: the socket's
//! srtt at the last segment it received in the interval. The kernel's srtt
//! is already a moving average, so its latest value is the socket's current
//! estimate; one observation per socket per interval weighs connections
//! alike, where one per segment would let a bulk transfer drown every
//! interactive connection (and the mean of an interval's readings would mix
//! in the estimate's stale past). Every socket the tracepoint saw counts,
//! both ends of a connection between two pods of this node included: each
//! is a socket on this node with its own RTT.

use std::sync::Mutex;

use prometheus::{Histogram, IntCounter, Registry};

use super::kernel::increments;
use super::register::{histogram, int_counter, lock};

pub(crate) struct RttMetrics {
    rtt: Histogram,
    map_full: IntCounter,
    last_map_full: Mutex<Option<[u64; 1]>>,
}

impl RttMetrics {
    /// `buckets`: upper bounds in seconds, already validated.
    pub(crate) fn register(r: &Registry, buckets: Vec<f64>) -> Result<Self, prometheus::Error> {
        Ok(RttMetrics {
            rtt: histogram(
                r,
                "netmon_tcp_rtt_seconds",
                "Smoothed RTT of the TCP sockets on this node, measured by the kernel: each socket's latest srtt, once per flush interval in which it received a segment.",
                buckets,
            )?,
            map_full: int_counter(
                r,
                "netmon_kernel_rtt_map_full_total",
                "srtt readings lost because the kernel RTT map had no room for their socket.",
            )?,
            last_map_full: Mutex::new(None),
        })
    }

    /// Observes each socket's last srtt (microseconds) of one drain.
    pub(crate) fn observe_last(&self, last_us: impl IntoIterator<Item = u32>) {
        for us in last_us {
            self.rtt.observe(f64::from(us) / 1e6);
        }
    }

    /// Takes a cumulative reading of the kernel's RTT-map-full counter.
    pub(crate) fn set_map_full(&self, total: u64) {
        let current = [total];
        let mut last = lock(&self.last_map_full);
        self.map_full.inc_by(increments(last.as_ref(), &current)[0]);
        *last = Some(current);
    }
}
