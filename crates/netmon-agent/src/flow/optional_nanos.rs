//! A nanosecond time or duration that may be absent, in 8 bytes.
//!
//! `Option<u64>` takes 16: a flow record holds two (when the connection
//! ended, its handshake time), and the 16 bytes they waste put the flow
//! table's boxed entry in glibc's 192-byte chunk instead of 160 (32 B per
//! flow, 32 MB at a million flows; BENCHMARKS.md, section 3). `u64::MAX`
//! stands for "none": no wall-clock time or handshake duration reaches it.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OptionalNanos(u64);

impl OptionalNanos {
    pub const NONE: OptionalNanos = OptionalNanos(u64::MAX);

    /// `nanos`, saturated one below the "none" value.
    pub const fn some(nanos: u64) -> OptionalNanos {
        OptionalNanos(if nanos == u64::MAX {
            u64::MAX - 1
        } else {
            nanos
        })
    }

    pub const fn get(self) -> Option<u64> {
        if self.0 == u64::MAX {
            None
        } else {
            Some(self.0)
        }
    }
}

impl Default for OptionalNanos {
    fn default() -> Self {
        OptionalNanos::NONE
    }
}

impl From<Option<u64>> for OptionalNanos {
    fn from(value: Option<u64>) -> Self {
        value.map_or(OptionalNanos::NONE, OptionalNanos::some)
    }
}

/// Compared as the `Option` it stands for.
impl PartialEq<Option<u64>> for OptionalNanos {
    fn eq(&self, other: &Option<u64>) -> bool {
        self.get() == *other
    }
}

impl fmt::Debug for OptionalNanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stands_for_an_option_of_u64_in_half_its_size() {
        assert_eq!(std::mem::size_of::<OptionalNanos>(), 8);
        assert_eq!(OptionalNanos::default().get(), None);
        assert_eq!(OptionalNanos::from(Some(0)).get(), Some(0));
        assert_eq!(OptionalNanos::from(Some(42)), Some(42));
        assert_eq!(OptionalNanos::from(None), None);
        assert_eq!(OptionalNanos::some(u64::MAX).get(), Some(u64::MAX - 1));
        assert_eq!(format!("{:?}", OptionalNanos::some(7)), "Some(7)");
    }
}
