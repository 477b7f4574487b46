//! Addresses and the names DNS answers gave them, as this node saw them:
//! what `dst_dns_name` on a flow shows. Pure (times passed in).
//!
//! An entry lives for the record's TTL but at least `retention`: clients
//! cache answers and keep using an address well after a 5 s TTL (CoreDNS's
//! default for Services). When several names resolve to one address the
//! latest answer wins. At most `max_names` addresses are held; the one whose
//! entry expires first is forgotten first, and counted.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub struct ResolvedNames {
    by_ip: HashMap<IpAddr, (Arc<str>, u64)>,
    /// `(expires_at, ip)` of every entry, soonest first.
    by_expiry: BTreeSet<(u64, IpAddr)>,
    max_names: usize,
    retention_ns: u64,
    evicted: u64,
}

impl ResolvedNames {
    pub fn new(max_names: usize, retention: Duration) -> Self {
        ResolvedNames {
            by_ip: HashMap::new(),
            by_expiry: BTreeSet::new(),
            max_names: max_names.max(1),
            retention_ns: retention.as_nanos().min(u64::MAX as u128) as u64,
            evicted: 0,
        }
    }

    /// Names `ip` after `name` from an answer with `ttl_s` seen at `now`.
    pub fn insert(&mut self, ip: IpAddr, name: &str, ttl_s: u32, now_mono_ns: u64) {
        let ttl_ns = u64::from(ttl_s).saturating_mul(1_000_000_000);
        let expires = now_mono_ns.saturating_add(ttl_ns.max(self.retention_ns));
        let name: Arc<str> = match self.by_ip.get(&ip) {
            Some((old, _)) if &**old == name => old.clone(),
            _ => Arc::from(name),
        };
        if let Some((_, old_expiry)) = self.by_ip.insert(ip, (name, expires)) {
            self.by_expiry.remove(&(old_expiry, ip));
        }
        self.by_expiry.insert((expires, ip));
        while self.by_ip.len() > self.max_names {
            let Some((_, oldest)) = self.by_expiry.pop_first() else {
                break;
            };
            self.by_ip.remove(&oldest);
            self.evicted += 1;
        }
    }

    /// The name of `ip`, if an answer gave it one that has not expired.
    pub fn lookup(&self, ip: &IpAddr, now_mono_ns: u64) -> Option<Arc<str>> {
        self.by_ip
            .get(ip)
            .filter(|(_, expires)| *expires > now_mono_ns)
            .map(|(name, _)| name.clone())
    }

    /// Forgets the entries expired at `now`.
    pub fn expire(&mut self, now_mono_ns: u64) {
        while let Some(&(expires, ip)) = self.by_expiry.first() {
            if expires > now_mono_ns {
                break;
            }
            self.by_expiry.pop_first();
            self.by_ip.remove(&ip);
        }
    }

    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// Entries forgotten to stay within `max_names`, since the start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_name_lives_for_its_ttl_but_at_least_the_retention() {
        let mut names = ResolvedNames::new(10, Duration::from_secs(60));
        names.insert(ip(1), "short.test", 5, 100 * SEC);
        names.insert(ip(2), "long.test", 3600, 100 * SEC);
        assert_eq!(
            names.lookup(&ip(1), 159 * SEC).as_deref(),
            Some("short.test")
        );
        assert_eq!(names.lookup(&ip(1), 160 * SEC), None);
        assert_eq!(
            names.lookup(&ip(2), 3699 * SEC).as_deref(),
            Some("long.test")
        );
        names.expire(160 * SEC);
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn the_latest_answer_names_an_address() {
        let mut names = ResolvedNames::new(10, Duration::from_secs(60));
        names.insert(ip(1), "a.test", 30, SEC);
        names.insert(ip(1), "b.test", 30, 2 * SEC);
        assert_eq!(names.lookup(&ip(1), 3 * SEC).as_deref(), Some("b.test"));
        assert_eq!(names.len(), 1);
        // The first answer's expiry no longer removes the second.
        names.expire(61 * SEC + 1);
        assert_eq!(
            names.lookup(&ip(1), 61 * SEC + 1).as_deref(),
            Some("b.test")
        );
    }

    #[test]
    fn beyond_max_names_the_soonest_to_expire_is_forgotten_and_counted() {
        let mut names = ResolvedNames::new(2, Duration::from_secs(1));
        names.insert(ip(1), "one.test", 100, 0);
        names.insert(ip(2), "two.test", 10, 0);
        names.insert(ip(3), "three.test", 50, 0);
        assert_eq!(names.len(), 2);
        assert_eq!(names.evicted(), 1);
        assert_eq!(names.lookup(&ip(2), 1), None);
        assert!(names.lookup(&ip(1), 1).is_some() && names.lookup(&ip(3), 1).is_some());
    }
}
