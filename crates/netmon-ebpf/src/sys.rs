//! Raw bpf(2) map commands that aya 0.14 does not expose: batch
//! lookup-and-delete, and the per-key commands used where the kernel has no
//! batch support (before 5.6).

use std::{io, os::fd::RawFd};

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_MAP_LOOKUP_AND_DELETE_BATCH: libc::c_long = 25;

/// `union bpf_attr` for the element commands.
#[repr(C)]
#[derive(Default)]
struct ElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value_or_next_key: u64,
    flags: u64,
}

/// `union bpf_attr` for the batch commands (public for the load
/// generator's `BPF_MAP_UPDATE_BATCH`, through [`bpf_syscall`]).
#[repr(C)]
#[derive(Default)]
pub struct BatchAttr {
    pub in_batch: u64,
    pub out_batch: u64,
    pub keys: u64,
    pub values: u64,
    pub count: u32,
    pub map_fd: u32,
    pub elem_flags: u64,
    pub flags: u64,
}

/// bpf(2) with `cmd` and `attr`; what the kernel returned (a new fd, for
/// the commands that create something).
///
/// # Safety
/// `attr` must be the `union bpf_attr` prefix that `cmd` takes, and every
/// pointer in it must point at live memory as large as the command will
/// read or write there: the kernel follows them.
pub unsafe fn bpf_syscall<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: attr's own size is passed, so the kernel reads and writes only
    // inside it; the pointers in it are the caller's promise.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<()> {
    // SAFETY: every caller here builds attr as the prefix cmd takes, from
    // keys, values and cursors it borrows for the length of the call.
    unsafe { bpf_syscall(cmd, attr) }.map(drop)
}

/// Outcome of one batch call.
pub(crate) struct BatchResult {
    pub count: usize,
    pub done: bool,
}

/// Looks up and deletes up to `keys.len()` entries starting after `token`.
/// `token` is the kernel's opaque batch cursor (a bucket index for hashes).
pub(crate) fn lookup_and_delete_batch<K, V>(
    fd: RawFd,
    first: bool,
    token: &mut u64,
    keys: &mut [K],
    values: &mut [V],
) -> io::Result<BatchResult> {
    let mut out_token: u64 = 0;
    let mut attr = BatchAttr {
        in_batch: if first { 0 } else { token as *mut u64 as u64 },
        out_batch: &mut out_token as *mut u64 as u64,
        keys: keys.as_mut_ptr() as u64,
        values: values.as_mut_ptr() as u64,
        count: keys.len().min(values.len()) as u32,
        map_fd: fd as u32,
        ..Default::default()
    };
    match bpf(BPF_MAP_LOOKUP_AND_DELETE_BATCH, &mut attr) {
        Ok(()) => {
            *token = out_token;
            Ok(BatchResult {
                count: attr.count as usize,
                done: false,
            })
        }
        // ENOENT: the map has no more entries; `count` still says how many
        // this last call returned.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(BatchResult {
            count: attr.count as usize,
            done: true,
        }),
        Err(e) => Err(e),
    }
}

pub(crate) fn get_next_key<K: Copy>(fd: RawFd, key: Option<&K>, next: &mut K) -> io::Result<bool> {
    get_next_key_at(
        fd,
        key.map_or(0, |k| k as *const K as u64),
        next as *mut K as u64,
    )
}

pub(crate) fn lookup<K, V>(fd: RawFd, key: &K, value: &mut V) -> io::Result<bool> {
    lookup_at(fd, key as *const K as u64, value as *mut V as u64)
}

/// The key after `key` (the first key for `None`) of a map whose key layout
/// is only known at run time (custom programs' maps); false at the end.
///
/// # Safety
/// The kernel writes the map's key size into `next`: `key` and `next` must
/// be exactly that long.
pub unsafe fn get_next_key_bytes(
    fd: RawFd,
    key: Option<&[u8]>,
    next: &mut [u8],
) -> io::Result<bool> {
    get_next_key_at(
        fd,
        key.map_or(0, |k| k.as_ptr() as u64),
        next.as_mut_ptr() as u64,
    )
}

/// The value of `key` in a map whose layout is only known at run time;
/// false when the key is gone.
///
/// # Safety
/// The kernel writes the map's value size (for a per-CPU map, one value per
/// possible CPU) into `values`, and reads the key size from `key`: both
/// must be at least that long.
pub unsafe fn lookup_bytes<V: Copy>(fd: RawFd, key: &[u8], values: &mut [V]) -> io::Result<bool> {
    lookup_at(fd, key.as_ptr() as u64, values.as_mut_ptr() as u64)
}

fn get_next_key_at(fd: RawFd, key: u64, next: u64) -> io::Result<bool> {
    let mut attr = ElemAttr {
        map_fd: fd as u32,
        key,
        value_or_next_key: next,
        ..Default::default()
    };
    found(bpf(BPF_MAP_GET_NEXT_KEY, &mut attr))
}

fn lookup_at(fd: RawFd, key: u64, value: u64) -> io::Result<bool> {
    let mut attr = ElemAttr {
        map_fd: fd as u32,
        key,
        value_or_next_key: value,
        ..Default::default()
    };
    found(bpf(BPF_MAP_LOOKUP_ELEM, &mut attr))
}

/// ENOENT from an element command means "no such key", not a failure.
fn found(result: io::Result<()>) -> io::Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) fn delete<K>(fd: RawFd, key: &K) -> io::Result<()> {
    let mut attr = ElemAttr {
        map_fd: fd as u32,
        key: key as *const K as u64,
        ..Default::default()
    };
    match bpf(BPF_MAP_DELETE_ELEM, &mut attr) {
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => Err(e),
        _ => Ok(()),
    }
}

/// Waits for an RCU grace period: every eBPF program that was running when
/// this is called has finished when it returns. membarrier(GLOBAL) is
/// implemented with synchronize_rcu(); where it is unavailable (nohz_full
/// kernels) a sleep far longer than any TC program run stands in.
pub(crate) fn wait_for_running_programs() {
    const MEMBARRIER_CMD_GLOBAL: libc::c_int = 1;
    // SAFETY: membarrier takes plain integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) };
    if ret != 0 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
