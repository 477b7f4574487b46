//! `cgroup`: a cgroup v2 id (what `bpf_get_current_cgroup_id()` returns) →
//! the cgroup's path; and `majorminor`: a kernel `dev_t` → the block
//! device's name. Both take the decimal text of a `uint`.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A cgroup id missing from the cache makes the tree be walked again, at
/// most this often: a scrape full of ids of cgroups that are gone must not
/// walk cgroupfs once per id.
const REWALK_INTERVAL: Duration = Duration::from_secs(1);

/// Cgroup ids → paths under the cgroup v2 mount. On cgroup v2 a cgroup's id
/// is its directory's inode number, so one walk of the tree maps them all.
pub struct CgroupPaths {
    /// Where the tree is walked.
    root: PathBuf,
    /// How paths are spelt: the mount point as the host sees it.
    shown: PathBuf,
    cache: Mutex<Cache>,
    /// The detached mount `root` points into, when the agent made one.
    _mount: Option<OwnedFd>,
}

#[derive(Default)]
struct Cache {
    paths: HashMap<u64, String>,
    walked: Option<Instant>,
}

impl CgroupPaths {
    /// The machine's cgroup v2 tree (`/sys/fs/cgroup`, or
    /// `/sys/fs/cgroup/unified` on hybrid systems) from the agent's own
    /// mounts. `ip netns exec` (and some container set-ups) give the agent a
    /// fresh /sys without the cgroup mounts: the tree is then reached
    /// through a detached mount of its own, which is visible nowhere else
    /// and goes away with the agent. Paths are then spelt under
    /// `/sys/fs/cgroup`.
    pub fn system() -> Self {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        if let Some(mount) = cgroup2_mount(&mountinfo) {
            return Self::under(mount);
        }
        match detached_cgroup2() {
            Ok(fd) => CgroupPaths {
                root: PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
                shown: PathBuf::from("/sys/fs/cgroup"),
                cache: Mutex::new(Cache::default()),
                _mount: Some(fd),
            },
            Err(error) => {
                tracing::warn!(%error, "no cgroup v2 tree: the cgroup and kubernetes decoders will name nothing");
                Self::under("/sys/fs/cgroup")
            }
        }
    }

    pub fn under(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        CgroupPaths {
            shown: root.clone(),
            root,
            cache: Mutex::new(Cache::default()),
            _mount: None,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The cgroup's path (mount point included, as ebpf_exporter spells
    /// it), or `unknown_cgroup_id:<id>`.
    pub fn path(&self, id: u64) -> String {
        self.lookup(id)
            .unwrap_or_else(|| format!("unknown_cgroup_id:{id}"))
    }

    /// The cgroup's path, if it exists (or existed at the last walk).
    pub fn lookup(&self, id: u64) -> Option<String> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = cache.paths.get(&id) {
            return Some(path.clone());
        }
        if cache
            .walked
            .is_some_and(|at| at.elapsed() < REWALK_INTERVAL)
        {
            return None;
        }
        let mut paths = HashMap::new();
        walk(&self.root, &self.root, &self.shown, &mut paths);
        cache.paths = paths;
        cache.walked = Some(Instant::now());
        cache.paths.get(&id).cloned()
    }
}

fn walk(dir: &Path, root: &Path, shown: &Path, out: &mut HashMap<u64, String>) {
    let Ok(metadata) = std::fs::metadata(dir) else {
        return;
    };
    let relative = dir.strip_prefix(root).unwrap_or(dir);
    let path = if relative.as_os_str().is_empty() {
        shown.to_path_buf()
    } else {
        shown.join(relative)
    };
    out.insert(metadata.ino(), path.display().to_string());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&entry.path(), root, shown, out);
        }
    }
}

/// A cgroup2 mount attached nowhere (fsopen/fsconfig/fsmount, Linux 5.2+):
/// the whole tree, reachable only through the returned descriptor.
fn detached_cgroup2() -> std::io::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    let check = |ret: libc::c_long| {
        if ret < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(ret as RawFd)
        }
    };
    // SAFETY: the file system name is a NUL-terminated literal; each call
    // returns a new descriptor that is owned right away.
    let context = unsafe {
        OwnedFd::from_raw_fd(check(libc::syscall(
            libc::SYS_fsopen,
            c"cgroup2".as_ptr(),
            FSOPEN_CLOEXEC,
        ))?)
    };
    // SAFETY: CMD_CREATE takes no key or value.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            context.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    // SAFETY: as above; the mount descriptor is owned by the caller.
    let mount = unsafe {
        OwnedFd::from_raw_fd(check(libc::syscall(
            libc::SYS_fsmount,
            context.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            0,
        ))?)
    };
    Ok(mount)
}

/// The mount point of the first cgroup2 file system in `mountinfo`.
fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let fstype = after.split_whitespace().next()?;
        let mount_point = before.split_whitespace().nth(4)?;
        (fstype == "cgroup2").then(|| PathBuf::from(mount_point))
    })
}

/// A kernel-internal `dev_t` (major in the top 12 bits of 32, minor in the
/// low 20, as block tracepoints report it) → `loop3`, or `major:minor`
/// when the device is gone.
pub(super) fn major_minor(dev: u64) -> String {
    let (major, minor) = (dev >> 20, dev & 0xfffff);
    let uevent = std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent"))
        .unwrap_or_default();
    uevent
        .lines()
        .find_map(|line| line.strip_prefix("DEVNAME="))
        .map(str::to_string)
        .unwrap_or_else(|| format!("{major}:{minor}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cgroup2_mount_is_found_in_mountinfo() {
        let hybrid = "\
25 30 0:23 / /sys rw,nosuid shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
34 33 0:29 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(
            cgroup2_mount("25 30 0:23 / /sys rw - sysfs sysfs rw\n"),
            None
        );
    }

    #[test]
    fn ids_are_the_directories_inodes_and_unknown_ids_say_so() {
        // Any directory tree maps the same way cgroupfs does: by inode.
        let root = std::env::temp_dir().join(format!("nmtest-cgroups-{}", std::process::id()));
        let leaf = root.join("kubepods.slice").join("cri-containerd-abc.scope");
        std::fs::create_dir_all(&leaf).unwrap();
        let paths = CgroupPaths::under(&root);
        let id = std::fs::metadata(&leaf).unwrap().ino();
        assert_eq!(paths.path(id), leaf.display().to_string());
        let root_id = std::fs::metadata(&root).unwrap().ino();
        assert_eq!(paths.path(root_id), root.display().to_string());
        assert_eq!(paths.path(1), "unknown_cgroup_id:1");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn devices_that_do_not_exist_are_named_by_their_numbers() {
        // Major 4095 is never assigned to a block driver.
        assert_eq!(major_minor((4095 << 20) | 7), "4095:7");
    }
}
