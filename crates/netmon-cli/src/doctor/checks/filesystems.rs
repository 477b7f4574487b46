//! The pseudo-filesystems around eBPF: tracefs (tracepoints are attached by
//! the id tracefs lists), cgroup v2 and bpffs.

use std::{
    ffi::CString,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
};

use crate::doctor::report::Check;

const BPF_FS_MAGIC: u64 = 0xcafe_4a11;
const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;

/// The filesystem type (`statfs.f_type`) of the mount holding `path`.
fn filesystem_type(path: &Path) -> std::io::Result<u64> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: statfs is plain data; the kernel fills it.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is NUL-terminated and stat is writable.
    if unsafe { libc::statfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // f_type is a signed word on some targets; the magic numbers are its
    // unsigned 32-bit value.
    Ok(stat.f_type as u64 & 0xffff_ffff)
}

/// A tracepoint netmon attaches, and what is off without it.
struct Tracepoint {
    category: &'static str,
    event: &'static str,
    feature: &'static str,
}

const TRACEPOINTS: &[Tracepoint] = &[
    Tracepoint {
        category: "sock",
        event: "inet_sock_set_state",
        feature: "TCP lifecycle tracking (opens, closes, resets, refusals)",
    },
    Tracepoint {
        category: "tcp",
        event: "tcp_probe",
        feature: "TCP RTT",
    },
    Tracepoint {
        category: "tcp",
        event: "tcp_retransmit_skb",
        feature: "TCP retransmission counts",
    },
    Tracepoint {
        category: "tcp",
        event: "tcp_retransmit_synack",
        feature: "SYN-ACK retransmission counts",
    },
];

fn tracefs_fix(tracefs: &Path) -> String {
    format!("mount -t tracefs tracefs {}", tracefs.display())
}

/// `tracefs`, then one `tracepoint:<category>/<event>` check each. Every
/// one is a warning at worst: netmon runs without tracepoints and loses
/// only the features they feed (and it mounts tracefs itself when it can).
pub fn tracefs_checks(tracefs: &Path) -> Vec<Check> {
    let events = tracefs.join("events");
    let (mounted, tracefs_check) = match std::fs::metadata(&events) {
        Ok(meta) if meta.is_dir() => (
            true,
            Check::pass("tracefs", format!("tracefs at {}", tracefs.display())),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => (
            false,
            Check::warn(
                "tracefs",
                format!(
                    "{}: permission denied: tracepoints cannot be looked up as this user",
                    events.display()
                ),
                "run as root (netmon itself needs root or CAP_BPF+CAP_PERFMON+CAP_NET_ADMIN)",
            ),
        ),
        _ => (
            false,
            Check::warn(
                "tracefs",
                format!(
                    "no tracefs at {} (no events/): without it TCP lifecycle, RTT and retransmit tracking are off",
                    tracefs.display()
                ),
                tracefs_fix(tracefs),
            ),
        ),
    };
    let unchecked_fix = tracefs_check.fix.clone().unwrap_or_default();
    let mut checks = vec![tracefs_check];
    for tracepoint in TRACEPOINTS {
        let name = format!("tracepoint:{}/{}", tracepoint.category, tracepoint.event);
        let path = events.join(tracepoint.category).join(tracepoint.event);
        checks.push(if !mounted {
            Check::warn(
                name,
                format!(
                    "not checked without tracefs: {} will be off",
                    tracepoint.feature
                ),
                unchecked_fix.clone(),
            )
        } else if path.is_dir() {
            Check::pass(name, format!("present, for {}", tracepoint.feature))
        } else {
            Check::warn(
                name,
                format!(
                    "{} is missing: {} will be off",
                    path.display(),
                    tracepoint.feature
                ),
                "use a kernel that has this tracepoint (Linux 4.16+ for sock:inet_sock_set_state)",
            )
        });
    }
    checks
}

/// `cgroup_v2`: netmon's programs attach to interfaces and tracepoints,
/// not cgroups, so a missing cgroup v2 is a warning.
pub fn cgroup_check(cgroup: &Path) -> Check {
    const NAME: &str = "cgroup_v2";
    let is_v2 = filesystem_type(cgroup).is_ok_and(|t| t == CGROUP2_SUPER_MAGIC)
        && cgroup.join("cgroup.controllers").is_file();
    if is_v2 {
        return Check::pass(NAME, format!("cgroup v2 at {}", cgroup.display()));
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let detail = format!(
        "{} is not a cgroup v2 mount (netmon does not need one today)",
        cgroup.display()
    );
    match cgroup2_mounts(&mounts).first() {
        Some(elsewhere) => Check::warn(
            NAME,
            format!("{detail}; cgroup v2 is mounted at {}", elsewhere.display()),
            format!("pass --cgroup {}", elsewhere.display()),
        ),
        None => Check::warn(
            NAME,
            detail,
            format!("mount -t cgroup2 none {}", cgroup.display()),
        ),
    }
}

/// Mount points of cgroup2 filesystems in a /proc/<pid>/mountinfo text.
pub fn cgroup2_mounts(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, filesystem) = line.split_once(" - ")?;
            let mount_point = mount.split(' ').nth(4)?;
            (filesystem.split(' ').next()? == "cgroup2")
                .then(|| PathBuf::from(unescape(mount_point)))
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes[i] == b'\\')
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match octal {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `bpffs`: netmon pins nothing, so a missing bpffs is a warning (bpftool
/// and pinned-map debugging need it).
pub fn bpffs_check(bpffs: &Path) -> Check {
    const NAME: &str = "bpffs";
    match filesystem_type(bpffs) {
        Ok(BPF_FS_MAGIC) => Check::pass(NAME, format!("bpffs at {}", bpffs.display())),
        Ok(other) => Check::warn(
            NAME,
            format!(
                "{} is not bpffs (filesystem type {other:#x}); netmon pins nothing, bpftool pinning needs it",
                bpffs.display()
            ),
            format!("mount -t bpf bpf {}", bpffs.display()),
        ),
        Err(e) => Check::warn(
            NAME,
            format!(
                "{}: {e}; netmon pins nothing, bpftool pinning needs it",
                bpffs.display()
            ),
            format!("mount -t bpf bpf {}", bpffs.display()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Status;

    #[test]
    fn cgroup2_mounts_are_found_in_mountinfo_with_escapes_decoded() {
        let mountinfo = "\
25 30 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime shared:7 - cgroup cgroup rw,cpu
35 25 0:31 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
36 25 0:32 / /mnt/my\\040cgroup rw - cgroup2 none rw
";
        assert_eq!(
            cgroup2_mounts(mountinfo),
            [
                PathBuf::from("/sys/fs/cgroup/unified"),
                PathBuf::from("/mnt/my cgroup")
            ]
        );
    }

    #[test]
    fn a_missing_tracefs_warns_for_itself_and_every_tracepoint() {
        let checks = tracefs_checks(Path::new("/nonexistent-tracefs"));
        let summary: Vec<_> = checks
            .iter()
            .map(|c| (c.name.as_str(), c.status, c.fix.as_deref()))
            .collect();
        let fix = Some("mount -t tracefs tracefs /nonexistent-tracefs");
        assert_eq!(
            summary,
            [
                ("tracefs", Status::Warn, fix),
                ("tracepoint:sock/inet_sock_set_state", Status::Warn, fix),
                ("tracepoint:tcp/tcp_probe", Status::Warn, fix),
                ("tracepoint:tcp/tcp_retransmit_skb", Status::Warn, fix),
                ("tracepoint:tcp/tcp_retransmit_synack", Status::Warn, fix),
            ]
        );
    }

    #[test]
    fn a_directory_that_is_not_bpffs_warns_with_the_mount_command() {
        let check = bpffs_check(Path::new("/proc"));
        assert_eq!(check.status, Status::Warn);
        assert_eq!(check.fix.as_deref(), Some("mount -t bpf bpf /proc"));
    }
}
