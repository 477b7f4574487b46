//! Injected faults: what makes the fake a bad API server on purpose.

use std::time::Duration;

/// Fault settings shared by the request handler and open watch streams.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    outage: bool,
    fail_remaining: u32,
    fail_code: u16,
    pub latency: Duration,
    /// Bumped when an outage starts. A watch stream remembers the value it
    /// started under and aborts its connection when it changes, the way
    /// streams die when a real API server goes away.
    pub cut_generation: u64,
    /// Bumped by `close_watches`: streams end cleanly, as at a watch timeout.
    pub close_generation: u64,
}

impl Faults {
    pub fn set_outage(&mut self, down: bool) {
        if down && !self.outage {
            self.cut_generation += 1;
        }
        self.outage = down;
    }

    pub fn fail_next(&mut self, n: u32, code: u16) {
        self.fail_remaining = n;
        self.fail_code = code;
    }

    /// The error a request must get instead of an answer, if any. Counts the
    /// request against `fail_next` (an outage does not use those up).
    pub fn take_failure(&mut self) -> Option<(u16, &'static str)> {
        if self.outage {
            return Some((
                503,
                "the server is currently unable to handle the request (fake API server outage)",
            ));
        }
        if self.fail_remaining > 0 {
            self.fail_remaining -= 1;
            return Some((
                self.fail_code,
                "injected failure (fake API server fail_next)",
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_next_counts_down_and_outage_takes_precedence() {
        let mut f = Faults::default();
        f.fail_next(2, 500);
        f.set_outage(true);
        assert_eq!(f.take_failure().map(|(c, _)| c), Some(503));
        f.set_outage(false);
        assert_eq!(f.take_failure().map(|(c, _)| c), Some(500));
        assert_eq!(f.take_failure().map(|(c, _)| c), Some(500));
        assert_eq!(f.take_failure(), None);
        assert_eq!(f.cut_generation, 1);
    }
}
