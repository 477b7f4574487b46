//! Values the API server fills into `metadata` on create: a uid and a
//! creation timestamp. Written here instead of pulling in uuid/chrono for two
//! small formats.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// Generates version-4-shaped UUIDs. Random keys per server (from std's
/// `RandomState`) mixed with a counter, so uids differ between objects and
/// between server instances, as real uids do.
pub(crate) struct UidGenerator {
    keys: RandomState,
    counter: u64,
}

impl UidGenerator {
    pub fn new() -> Self {
        UidGenerator {
            keys: RandomState::new(),
            counter: 0,
        }
    }

    pub fn next_uid(&mut self) -> String {
        self.counter += 1;
        let half = |salt: u64| {
            let mut h = self.keys.build_hasher();
            h.write_u64(self.counter);
            h.write_u64(salt);
            h.finish()
        };
        let (hi, lo) = (half(1), half(2));
        // Set the version (4) and variant (10xx) bits like a random UUID.
        let hi = (hi & !0xf000) | 0x4000;
        let lo = (lo & !(0xc << 60)) | (0x8 << 60);
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xffff,
            lo >> 48,
            lo & 0xffff_ffff_ffff
        )
    }
}

/// The current time as Kubernetes writes timestamps: RFC 3339, UTC, whole
/// seconds (`2024-05-01T12:00:00Z`).
pub(crate) fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

fn rfc3339(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), by
/// counting 400-year eras that start on March 1st (so leap days fall last).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_714_564_800 + 3723), "2024-05-01T13:02:03Z");
    }

    #[test]
    fn uids_are_distinct_and_uuid_shaped() {
        let mut g = UidGenerator::new();
        let a = g.next_uid();
        let b = g.next_uid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }
}
