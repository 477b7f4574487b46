//! Smoothed RTT of a connection, as the kernel's `srtt` of one of its
//! sockets, merged across drains.
//!
//! Each drain brings, per socket on this node, the srtt readings taken since
//! the previous drain (one per segment the socket received): min, max, last,
//! sum and count. A connection between two pods of this node has a socket at
//! each end, and each measures its own RTT (the sender's view of the time to
//! an ACK, which includes the peer's delayed ACKs); mixing them in one
//! min/max/mean would describe neither. So a record keeps the readings of
//! one socket: the initiator's when it is on this node (the client's view of
//! the connection), otherwise the responder's. Responder readings kept so
//! far are replaced as soon as the initiator's arrive; the choice does not
//! depend on the order of the readings within a drain.

use serde::Serialize;

use super::model::Endpoint;

/// Which end's socket measured a record's RTT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RttSocket {
    Initiator,
    Responder,
}

/// One socket's srtt readings since the previous drain; `local` is the
/// socket's own end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttReading {
    pub local: Endpoint,
    pub remote: Endpoint,
    pub min_us: u32,
    pub max_us: u32,
    /// srtt at the latest segment of the interval.
    pub last_us: u32,
    pub sum_us: u64,
    pub samples: u64,
}

/// RTT of a connection across drains, from one socket (see the module
/// documentation). Sums saturate: at a million readings a second of one
/// second each, `sum_us` reaches `u64::MAX` after 200 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttStats {
    pub socket: RttSocket,
    pub min_us: u32,
    pub max_us: u32,
    pub last_us: u32,
    pub sum_us: u64,
    pub samples: u64,
}

impl RttStats {
    fn of(socket: RttSocket, reading: &RttReading) -> Self {
        RttStats {
            socket,
            min_us: reading.min_us,
            max_us: reading.max_us,
            last_us: reading.last_us,
            sum_us: reading.sum_us,
            samples: reading.samples,
        }
    }

    /// Mean of all readings, truncated to whole microseconds.
    pub fn mean_us(&self) -> u64 {
        self.sum_us.checked_div(self.samples).unwrap_or(0)
    }
}

/// `current` after one drain's `reading` from the socket of `socket`. The
/// caller applies at most one reading per socket and drain, which is what
/// the kernel map holds.
pub fn merge_rtt(
    current: Option<RttStats>,
    socket: RttSocket,
    reading: &RttReading,
) -> Option<RttStats> {
    if reading.samples == 0 {
        return current;
    }
    match current {
        None => Some(RttStats::of(socket, reading)),
        Some(stats) if stats.socket == socket => Some(RttStats {
            socket,
            min_us: stats.min_us.min(reading.min_us),
            max_us: stats.max_us.max(reading.max_us),
            last_us: reading.last_us,
            sum_us: stats.sum_us.saturating_add(reading.sum_us),
            samples: stats.samples.saturating_add(reading.samples),
        }),
        Some(_) if socket == RttSocket::Initiator => Some(RttStats::of(socket, reading)),
        // The initiator's readings are kept; the responder's are ignored.
        Some(stats) => Some(stats),
    }
}
