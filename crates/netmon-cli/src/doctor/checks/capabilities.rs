//! This process's effective capabilities (CapEff in /proc/self/status),
//! against what loading and attaching netmon's programs takes.

use super::{bpf_types::PERMISSION_FIX, kernel::KernelVersion};
use crate::doctor::report::Check;

const NAME: &str = "capabilities";

pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_RESOURCE: u32 = 24;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// The capabilities netmon cares about, in the order they are listed.
const RELEVANT: [(u32, &str); 5] = [
    (CAP_BPF, "CAP_BPF"),
    (CAP_PERFMON, "CAP_PERFMON"),
    (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
    (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
    (CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE"),
];

/// CAP_BPF and CAP_PERFMON split from CAP_SYS_ADMIN in this release.
const CAP_BPF_KERNEL: KernelVersion = KernelVersion::new(5, 8, 0);

/// The `CapEff:` mask of a /proc/<pid>/status text.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    let hex = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

fn has(mask: u64, cap: u32) -> bool {
    mask & (1u64 << cap) != 0
}

fn names(mask: u64, present: bool) -> Vec<&'static str> {
    RELEVANT
        .iter()
        .filter(|(cap, _)| has(mask, *cap) == present)
        .map(|(_, name)| *name)
        .collect()
}

/// Whether the memory netmon's maps take is limited by RLIMIT_MEMLOCK:
/// only before Linux 5.11, and not when the limit is already unlimited.
pub fn memlock_is_limited() -> bool {
    // SAFETY: rlimit is plain data; getrlimit fills it.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: limit is writable.
    let ret = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    ret != 0 || limit.rlim_cur != libc::RLIM_INFINITY
}

/// `capabilities`: fail without what loading and attaching need, warn
/// when only the memlock limit (old kernels) may get in the way.
pub fn evaluate(mask: u64, kernel: Option<KernelVersion>, memlock_limited: bool) -> Check {
    let split_caps = kernel.is_none_or(|v| v.at_least(CAP_BPF_KERNEL));
    let bpf_ok =
        has(mask, CAP_SYS_ADMIN) || (split_caps && has(mask, CAP_BPF) && has(mask, CAP_PERFMON));
    let present = names(mask, true);
    let listed = if present.is_empty() {
        "no BPF-related capabilities".to_string()
    } else {
        present.join(", ")
    };
    let detail = format!("{listed} (CapEff {mask:016x})");
    let mut missing = Vec::new();
    if !has(mask, CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if !bpf_ok {
        missing.push(if split_caps {
            "CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN)"
        } else {
            "CAP_SYS_ADMIN (this kernel has no CAP_BPF)"
        });
    }
    if !missing.is_empty() {
        let fix = if split_caps {
            PERMISSION_FIX
        } else {
            "run as root or with CAP_SYS_ADMIN+CAP_NET_ADMIN"
        };
        return Check::fail(
            NAME,
            format!("{detail}; missing {}", missing.join(" and ")),
            fix,
        );
    }
    let old_kernel = kernel.is_some_and(|v| !v.at_least(KernelVersion::MEMCG_ACCOUNTING));
    if old_kernel && memlock_limited && !has(mask, CAP_SYS_RESOURCE) {
        return Check::warn(
            NAME,
            format!(
                "{detail}; before Linux 5.11 maps count against RLIMIT_MEMLOCK, which is limited"
            ),
            "add CAP_SYS_RESOURCE or run with `ulimit -l unlimited`",
        );
    }
    Check::pass(NAME, detail)
}

pub fn check(kernel: Option<KernelVersion>) -> Check {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    match parse_cap_eff(&status) {
        Some(mask) => evaluate(mask, kernel, memlock_is_limited()),
        None => Check::warn(
            NAME,
            "cannot read CapEff from /proc/self/status",
            PERMISSION_FIX,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Status;

    const MODERN: Option<KernelVersion> = Some(KernelVersion::new(6, 6, 0));

    #[test]
    fn cap_eff_is_read_as_hex_from_the_status_text() {
        let status = "Name:\tcat\nCapInh:\t0000000000000000\nCapPrm:\t000001fffeffffff\nCapEff:\t000001fffeffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x0000_01ff_feff_ffff));
        assert_eq!(parse_cap_eff("CapEff:\tzz\n"), None);
        assert_eq!(parse_cap_eff("Name:\tcat\n"), None);
    }

    #[test]
    fn full_root_passes_and_lists_every_capability() {
        let check = evaluate(0x0000_01ff_ffff_ffff, MODERN, false);
        assert_eq!(check.status, Status::Pass);
        assert_eq!(
            check.detail,
            "CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_SYS_RESOURCE (CapEff 000001ffffffffff)"
        );
    }

    #[test]
    fn root_without_sys_resource_passes_on_a_memcg_accounting_kernel() {
        // This machine's container root: every capability but CAP_SYS_RESOURCE.
        let check = evaluate(0x0000_01ff_feff_ffff, MODERN, true);
        assert_eq!(check.status, Status::Pass);
        assert_eq!(
            check.detail,
            "CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_ADMIN (CapEff 000001fffeffffff)"
        );
    }

    #[test]
    fn bpf_perfmon_and_net_admin_are_enough_on_5_8_and_later() {
        let mask = (1 << CAP_BPF) | (1 << CAP_PERFMON) | (1 << CAP_NET_ADMIN);
        assert_eq!(evaluate(mask, MODERN, true).status, Status::Pass);
        assert_eq!(
            evaluate(mask, Some(KernelVersion::new(5, 4, 0)), true).status,
            Status::Fail
        );
    }

    #[test]
    fn without_net_admin_it_fails_naming_what_is_missing() {
        let mask = (1 << CAP_BPF) | (1 << CAP_PERFMON);
        let check = evaluate(mask, MODERN, false);
        assert_eq!(check.status, Status::Fail);
        assert_eq!(
            check.detail,
            "CAP_BPF, CAP_PERFMON (CapEff 000000c000000000); missing CAP_NET_ADMIN"
        );
        assert_eq!(check.fix.as_deref(), Some(PERMISSION_FIX));
    }

    #[test]
    fn no_capabilities_fail_naming_both_requirements() {
        let check = evaluate(0, MODERN, true);
        assert_eq!(
            check.detail,
            "no BPF-related capabilities (CapEff 0000000000000000); missing CAP_NET_ADMIN and CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN)"
        );
    }

    #[test]
    fn old_kernels_warn_about_memlock_without_sys_resource() {
        let mask = (1 << CAP_SYS_ADMIN) | (1 << CAP_NET_ADMIN);
        let old = Some(KernelVersion::new(5, 10, 0));
        assert_eq!(evaluate(mask, old, true).status, Status::Warn);
        assert_eq!(evaluate(mask, old, false).status, Status::Pass);
    }
}
