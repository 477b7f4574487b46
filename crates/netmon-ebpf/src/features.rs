//! Kernel feature probes, run once at start: a missing feature turns the
//! part of netmon that needs it off, with one log line, instead of failing.

use std::path::Path;

use aya::util::KernelVersion;

/// What this kernel offers netmon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFeatures {
    pub kernel_version: String,
    /// /sys/kernel/btf/vmlinux exists: CO-RE relocations can be resolved.
    pub btf: bool,
    /// TCX attach (`bpf_mprog`, Linux 6.6+); otherwise legacy clsact.
    pub tcx: bool,
    /// The sock:inet_sock_set_state tracepoint (TCP lifecycle).
    pub inet_sock_set_state: bool,
}

impl KernelFeatures {
    pub fn probe() -> Self {
        let version = KernelVersion::current().ok();
        let kernel_version = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".to_string());
        KernelFeatures {
            kernel_version,
            btf: Path::new("/sys/kernel/btf/vmlinux").exists(),
            tcx: version.is_some_and(|v| v >= KernelVersion::new(6, 6, 0)),
            inet_sock_set_state: tracepoint_exists("sock", "inet_sock_set_state"),
        }
    }
}

/// Tracepoints are listed in tracefs, mounted at one of two places.
fn tracepoint_exists(category: &str, name: &str) -> bool {
    [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ]
    .iter()
    .any(|root| Path::new(root).join(category).join(name).exists())
}
