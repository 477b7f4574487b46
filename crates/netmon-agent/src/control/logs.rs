//! The agent's recent log lines, kept in memory for `GET /api/v1/logs` and
//! support bundles: a ring of the last [`LOG_RING_LINES`] lines, fed by a
//! `tracing` layer that formats each event exactly as stderr gets it (no
//! colours). An old line pushed out of the ring is simply gone.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::fmt::MakeWriter;

/// Lines kept, and the most `GET /api/v1/logs` returns.
pub const LOG_RING_LINES: usize = 10_000;

/// The last lines logged, oldest first. Clones share the ring.
#[derive(Clone, Debug)]
pub struct LogRing {
    lines: Arc<Mutex<VecDeque<String>>>,
    capacity: usize,
}

impl Default for LogRing {
    fn default() -> Self {
        Self::with_capacity(LOG_RING_LINES)
    }
}

impl LogRing {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            lines: Arc::new(Mutex::new(VecDeque::with_capacity(capacity.min(1024)))),
            capacity,
        }
    }

    pub fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.len() == self.capacity {
            lines.pop_front();
        }
        if self.capacity > 0 {
            lines.push_back(line);
        }
    }

    /// The newest `count` lines, oldest first.
    pub fn last(&self, count: usize) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let skip = lines.len().saturating_sub(count);
        lines.iter().skip(skip).cloned().collect()
    }
}

impl<'a> MakeWriter<'a> for LogRing {
    type Writer = RingWriter;

    fn make_writer(&'a self) -> RingWriter {
        RingWriter {
            ring: self.clone(),
            pending: Vec::new(),
        }
    }
}

/// Collects what the formatter writes for one event and pushes it to the
/// ring as one line when dropped (the formatter makes one writer per event).
pub struct RingWriter {
    ring: LogRing,
    pending: Vec<u8>,
}

impl io::Write for RingWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for RingWriter {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.pending);
        let line = text.trim_end_matches(['\n', '\r']);
        if !line.is_empty() {
            self.ring.push(line.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_lines_oldest_first() {
        let ring = LogRing::with_capacity(3);
        for n in 1..=5 {
            ring.push(format!("line {n}"));
        }
        assert_eq!(ring.last(10), ["line 3", "line 4", "line 5"]);
        assert_eq!(ring.last(2), ["line 4", "line 5"]);
        assert!(ring.last(0).is_empty());
    }

    #[test]
    fn each_event_becomes_one_formatted_line() {
        let ring = LogRing::with_capacity(10);
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .without_time()
                .with_writer(ring.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(applied = 2, "config reloaded");
            tracing::warn!("second");
        });
        assert_eq!(
            ring.last(10),
            [
                " INFO netmon_agent::control::logs::tests: config reloaded applied=2",
                " WARN netmon_agent::control::logs::tests: second",
            ]
        );
    }
}
