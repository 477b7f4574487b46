//! Reading every entry of a custom program's map as raw bytes: the key and
//! value layouts are only known at run time (from the YAML and the map's
//! info), so aya's typed maps do not fit. Reading does not delete: the
//! kernel keeps aggregating and metrics are cumulative, as in ebpf_exporter.

use std::io;

use netmon_ebpf::bpf_syscall;

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;

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

/// Most entries read from one map in one scrape: a runaway key space (a
/// label on a PID) must not make a scrape take forever.
pub const MAX_ENTRIES_PER_SCRAPE: usize = 1 << 20;

/// The entries of one read.
pub struct Read {
    /// (key, value); a per-CPU map's values are summed.
    pub entries: Vec<(Vec<u8>, u64)>,
    /// The map held more than [`MAX_ENTRIES_PER_SCRAPE`]: the rest is unread.
    pub truncated: bool,
}

/// Every entry of the map, up to [`MAX_ENTRIES_PER_SCRAPE`]. `value_size`
/// is 8 (checked at load); `cpus` is the possible CPU count.
pub fn read_all(fd: i32, key_size: usize, per_cpu: bool, cpus: usize) -> io::Result<Read> {
    let slots = if per_cpu { cpus.max(1) } else { 1 };
    let mut entries = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    let mut next = vec![0u8; key_size];
    let mut values = vec![0u64; slots];
    loop {
        if entries.len() == MAX_ENTRIES_PER_SCRAPE {
            return Ok(Read {
                entries,
                truncated: true,
            });
        }
        let mut attr = ElemAttr {
            map_fd: fd as u32,
            key: key.as_ref().map_or(0, |k| k.as_ptr() as u64),
            value_or_next_key: next.as_mut_ptr() as u64,
            ..Default::default()
        };
        // SAFETY: `key` and `next` are key_size bytes, as the map's keys.
        match unsafe { bpf_syscall(BPF_MAP_GET_NEXT_KEY, &mut attr) } {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
            Err(e) => return Err(e),
        }
        let mut attr = ElemAttr {
            map_fd: fd as u32,
            key: next.as_ptr() as u64,
            value_or_next_key: values.as_mut_ptr() as u64,
            ..Default::default()
        };
        // SAFETY: `values` holds 8 bytes per possible CPU, what the kernel
        // writes for a per-CPU map with 8-byte values (8 for a plain one).
        match unsafe { bpf_syscall(BPF_MAP_LOOKUP_ELEM, &mut attr) } {
            Ok(_) => entries.push((
                next.clone(),
                values.iter().copied().fold(0u64, u64::wrapping_add),
            )),
            // Deleted between the two calls: carry on from it all the same.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        key = Some(next.clone());
    }
    Ok(Read {
        entries,
        truncated: false,
    })
}
