//! The running kernel's version, from uname(2), against what netmon's
//! features need.

use std::{cmp::Ordering, fmt};

use crate::doctor::report::Check;

/// A kernel version as `major.minor.patch`; what follows in the release
/// string (`-28-amd64`) is the distribution's and is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KernelVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        KernelVersion {
            major,
            minor,
            patch,
        }
    }

    /// Ring buffer maps (`BPF_MAP_TYPE_RINGBUF`), which netmon's events use.
    pub const RING_BUFFER: KernelVersion = KernelVersion::new(5, 8, 0);
    /// TCX links (`bpf_mprog`); older kernels attach through TC clsact.
    pub const TCX: KernelVersion = KernelVersion::new(6, 6, 0);
    /// Maps charged to the memory cgroup instead of RLIMIT_MEMLOCK.
    pub const MEMCG_ACCOUNTING: KernelVersion = KernelVersion::new(5, 11, 0);

    pub fn at_least(self, other: KernelVersion) -> bool {
        self.cmp(&other) != Ordering::Less
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Parses the leading `major.minor[.patch]` of a release such as
/// `6.1.0-18-amd64` or `4.18.0-513.el8.x86_64`; a missing patch is 0.
pub fn parse_release(release: &str) -> Option<KernelVersion> {
    let numeric_end = release
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(release.len());
    let mut parts = release[..numeric_end]
        .split('.')
        .filter(|part| !part.is_empty());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some(KernelVersion::new(major, minor, patch))
}

/// The release string uname(2) reports (`uname -r`).
pub fn uname_release() -> Option<String> {
    // SAFETY: utsname is plain data; uname fills it and NUL-terminates
    // each field.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uts is a valid, writable utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    // SAFETY: the kernel NUL-terminates release inside the array.
    let release = unsafe { std::ffi::CStr::from_ptr(uts.release.as_ptr()) };
    Some(release.to_string_lossy().into_owned())
}

/// The running kernel, when its release parses.
pub fn running() -> Option<(String, KernelVersion)> {
    let release = uname_release()?;
    let version = parse_release(&release)?;
    Some((release, version))
}

pub fn check(running: Option<&(String, KernelVersion)>) -> Check {
    const NAME: &str = "kernel";
    let Some((release, version)) = running else {
        return Check::warn(
            NAME,
            "cannot read the kernel version from uname(2)",
            "check `uname -r`: netmon needs Linux 5.8 or newer",
        );
    };
    let version = *version;
    if !version.at_least(KernelVersion::RING_BUFFER) {
        Check::fail(
            NAME,
            format!(
                "Linux {release}: older than {}, which netmon's ring buffers need",
                KernelVersion::RING_BUFFER
            ),
            "upgrade to Linux 5.8 or newer (6.6+ for TCX)",
        )
    } else if !version.at_least(KernelVersion::TCX) {
        Check::warn(
            NAME,
            format!(
                "Linux {release}: older than {}, netmon falls back to TC clsact",
                KernelVersion::TCX
            ),
            "upgrade to Linux 6.6 or newer for TCX attach",
        )
    } else {
        Check::pass(
            NAME,
            format!("Linux {release}: ring buffers (5.8+) and TCX (6.6+)"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Status;

    #[test]
    fn releases_parse_up_to_the_distribution_suffix() {
        assert_eq!(
            parse_release("6.18.44-fc-v1147"),
            Some(KernelVersion::new(6, 18, 44))
        );
        assert_eq!(
            parse_release("5.10.0-28-amd64"),
            Some(KernelVersion::new(5, 10, 0))
        );
        assert_eq!(
            parse_release("4.18.0-513.el8.x86_64"),
            Some(KernelVersion::new(4, 18, 0))
        );
        assert_eq!(parse_release("6.6"), Some(KernelVersion::new(6, 6, 0)));
        assert_eq!(parse_release("6.9.0+"), Some(KernelVersion::new(6, 9, 0)));
    }

    #[test]
    fn releases_without_major_and_minor_do_not_parse() {
        assert_eq!(parse_release(""), None);
        assert_eq!(parse_release("6"), None);
        assert_eq!(parse_release("linux"), None);
        assert_eq!(parse_release("99999999999.1"), None);
    }

    #[test]
    fn versions_compare_by_major_then_minor_then_patch() {
        let v = KernelVersion::new;
        assert!(v(6, 6, 0).at_least(KernelVersion::TCX));
        assert!(v(6, 10, 0).at_least(v(6, 6, 0)));
        assert!(!v(6, 5, 99).at_least(KernelVersion::TCX));
        assert!(v(5, 8, 0).at_least(KernelVersion::RING_BUFFER));
        assert!(!v(5, 7, 19).at_least(KernelVersion::RING_BUFFER));
        assert!(v(10, 0, 0).at_least(v(6, 18, 44)));
    }

    #[test]
    fn kernels_below_5_8_fail_below_6_6_warn_and_newer_pass() {
        let status = |release: &str| {
            let version = parse_release(release).expect("parses");
            check(Some(&(release.to_string(), version))).status
        };
        assert_eq!(status("5.4.0-150-generic"), Status::Fail);
        assert_eq!(status("5.15.0-100-generic"), Status::Warn);
        assert_eq!(status("6.6.0"), Status::Pass);
        assert_eq!(
            check(Some(&(
                "6.1.0-18-amd64".to_string(),
                KernelVersion::new(6, 1, 0)
            )))
            .detail,
            "Linux 6.1.0-18-amd64: older than 6.6.0, netmon falls back to TC clsact"
        );
    }
}
