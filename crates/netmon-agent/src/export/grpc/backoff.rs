//! How long to wait before sending a failed batch again: doubling from
//! 100 ms to at most 5 s, each wait shortened by a random part of up to
//! half, so that agents that lost the same server do not come back in step.

use std::time::Duration;

pub const FIRST_RETRY: Duration = Duration::from_millis(100);
/// Short enough that a restarted server is noticed within seconds, long
/// enough that a node's agent costs an unreachable server nothing.
pub const MAX_RETRY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Backoff {
    failures: u32,
    /// xorshift64 state: the jitter needs to differ between agents, not to
    /// be unpredictable.
    random: u64,
}

impl Backoff {
    /// `seed` differs per agent (any value; 0 is replaced).
    pub fn new(seed: u64) -> Self {
        Backoff {
            failures: 0,
            random: seed.max(1),
        }
    }

    /// The wait after one more failure, before jitter.
    pub fn next_delay(&mut self) -> Duration {
        let doublings = self.failures.min(16);
        self.failures = self.failures.saturating_add(1);
        FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
    }

    /// The wait after one more failure: [`Backoff::next_delay`] less a
    /// random part of up to half.
    pub fn next_jittered(&mut self) -> Duration {
        let delay = self.next_delay();
        let fraction = self.next_random() as f64 / u64::MAX as f64;
        jittered(delay, fraction)
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random = x;
        x
    }
}

/// `delay` less `fraction` (0..=1) of its half.
pub fn jittered(delay: Duration, fraction: f64) -> Duration {
    delay.saturating_sub(delay.mul_f64(fraction.clamp(0.0, 1.0) / 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_100ms_up_to_5s_and_start_over_after_a_success() {
        let mut backoff = Backoff::new(7);
        let waits: Vec<u64> = (0..9)
            .map(|_| backoff.next_delay().as_millis() as u64)
            .collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(backoff.failures(), 9);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn a_long_outage_stays_at_the_cap() {
        let mut backoff = Backoff::new(7);
        for _ in 0..1000 {
            backoff.next_delay();
        }
        assert_eq!(backoff.next_delay(), MAX_RETRY);
    }

    #[test]
    fn jitter_takes_off_at_most_half_of_the_wait() {
        let delay = Duration::from_millis(1000);
        assert_eq!(jittered(delay, 0.0), Duration::from_millis(1000));
        assert_eq!(jittered(delay, 0.5), Duration::from_millis(750));
        assert_eq!(jittered(delay, 1.0), Duration::from_millis(500));
        assert_eq!(jittered(delay, 7.0), Duration::from_millis(500));
        let mut backoff = Backoff::new(42);
        for expected_max in [100, 200, 400] {
            let wait = backoff.next_jittered();
            assert!(
                wait >= Duration::from_millis(expected_max / 2)
                    && wait <= Duration::from_millis(expected_max),
                "{wait:?} outside [{}, {expected_max}] ms",
                expected_max / 2
            );
        }
    }
}
