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
            inet_sock_set_state: ensure_tracefs()
                && tracepoint_exists("sock", "inet_sock_set_state"),
        }
    }
}

/// Tracepoints are attached by id, read from tracefs. `ip netns exec` and
/// some container set-ups give the agent a /sys without tracefs mounted, so
/// it is mounted here when missing (as bpftool does).
fn ensure_tracefs() -> bool {
    const TRACEFS: &str = "/sys/kernel/tracing";
    if Path::new(TRACEFS).join("events").exists()
        || Path::new("/sys/kernel/debug/tracing/events").exists()
    {
        return true;
    }
    let (Ok(source), Ok(target), Ok(fstype)) = (
        std::ffi::CString::new("tracefs"),
        std::ffi::CString::new(TRACEFS),
        std::ffi::CString::new("tracefs"),
    ) else {
        return false;
    };
    // SAFETY: all pointers are valid NUL-terminated strings; no data arg.
    let ret = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if ret == 0 {
        tracing::info!(path = TRACEFS, "mounted tracefs");
    }
    ret == 0
}

/// Tracepoints are listed in tracefs, mounted at one of two places.
pub(crate) fn tracepoint_exists(category: &str, name: &str) -> bool {
    [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ]
    .iter()
    .any(|root| Path::new(root).join(category).join(name).exists())
}
