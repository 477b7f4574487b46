//! The BPF maps a running agent holds, found through its file descriptors
//! (`/proc/PID/fdinfo`), not by name across the whole machine: other agents
//! (other test runs) may have maps of the same names loaded at the same time.

use std::fs;
use std::io::{self, ErrorKind};
use std::os::fd::{FromRawFd, OwnedFd};

use netmon_ebpf::bpf_syscall;
use serde::Serialize;

const BPF_MAP_GET_FD_BY_ID: libc::c_long = 14;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;

/// `union bpf_attr` for `BPF_MAP_GET_FD_BY_ID`.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `union bpf_attr` for `BPF_OBJ_GET_INFO_BY_FD`.
#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The leading fields of `struct bpf_map_info`: the kernel fills in at most
/// `info_len` bytes, so a prefix is enough.
#[repr(C)]
#[derive(Default)]
struct MapInfo {
    map_type: u32,
    id: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    name: [u8; 16],
}

/// One of the agent's maps, with what the kernel charges for it.
#[derive(Debug, Serialize)]
pub struct AgentMap {
    pub name: String,
    pub id: u32,
    pub max_entries: u32,
    pub key_size: u32,
    pub value_size: u32,
    /// `memlock:` of the map's fdinfo: the kernel's own estimate of the
    /// memory the map uses (for a preallocated hash: every element, used or
    /// not, plus the buckets; for one that is not: the buckets and the
    /// elements it holds).
    pub memlock_bytes: u64,
    #[serde(skip)]
    pub fd: OwnedFd,
}

/// Every BPF map the process `pid` has open, each once.
pub fn agent_maps(pid: u32) -> io::Result<Vec<AgentMap>> {
    let mut seen: Vec<u32> = Vec::new();
    let mut maps = Vec::new();
    for entry in fs::read_dir(format!("/proc/{pid}/fdinfo"))? {
        // A descriptor closed while we read is simply not one of its maps.
        let Ok(text) = fs::read_to_string(entry?.path()) else {
            continue;
        };
        let field = |name: &str| -> Option<u64> {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
        };
        let (Some(id), Some(memlock)) = (field("map_id:"), field("memlock:")) else {
            continue;
        };
        let id = u32::try_from(id).map_err(io::Error::other)?;
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        let fd = map_fd_by_id(id)?;
        let info = map_info(&fd)?;
        let len = info.name.iter().position(|&b| b == 0).unwrap_or(16);
        maps.push(AgentMap {
            name: String::from_utf8_lossy(&info.name[..len]).into_owned(),
            id,
            max_entries: info.max_entries,
            key_size: info.key_size,
            value_size: info.value_size,
            memlock_bytes: memlock,
            fd,
        });
    }
    Ok(maps)
}

/// The agent's map called `name`; an error naming it when there is none.
pub fn take_map(maps: &mut Vec<AgentMap>, name: &str) -> io::Result<AgentMap> {
    let index = maps.iter().position(|m| m.name == name).ok_or_else(|| {
        let names: Vec<&str> = maps.iter().map(|m| m.name.as_str()).collect();
        io::Error::new(
            ErrorKind::NotFound,
            format!("the agent has no map named {name} (it has: {names:?})"),
        )
    })?;
    Ok(maps.swap_remove(index))
}

fn map_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdAttr {
        id,
        ..Default::default()
    };
    // SAFETY: GetFdAttr is the prefix BPF_MAP_GET_FD_BY_ID reads; no pointers.
    let fd = unsafe { bpf_syscall(BPF_MAP_GET_FD_BY_ID, &mut attr) }?;
    // SAFETY: the kernel just returned this new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn map_info(fd: &OwnedFd) -> io::Result<MapInfo> {
    use std::os::fd::AsRawFd;
    let mut info = MapInfo::default();
    let mut attr = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: size_of::<MapInfo>() as u32,
        info: &mut info as *mut MapInfo as u64,
    };
    // SAFETY: `info` points at info_len writable bytes that outlive the call.
    unsafe { bpf_syscall(BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
    Ok(info)
}
