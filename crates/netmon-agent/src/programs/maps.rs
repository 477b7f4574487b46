//! Reading every entry of a custom program's map as raw bytes: the key and
//! value layouts are only known at run time (from the YAML and the map's
//! info), so aya's typed maps do not fit. Reading does not delete: the
//! kernel keeps aggregating and metrics are cumulative, as in ebpf_exporter.

use std::io;

use netmon_ebpf::{get_next_key_bytes, lookup_bytes};

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
        // SAFETY: `key` and `next` are key_size bytes, as the map's keys.
        if !unsafe { get_next_key_bytes(fd, key.as_deref(), &mut next) }? {
            break;
        }
        // SAFETY: `values` holds 8 bytes per possible CPU, what the kernel
        // writes for a per-CPU map with 8-byte values (8 for a plain one).
        // Deleted between the two calls: carry on from it all the same.
        if unsafe { lookup_bytes(fd, &next, &mut values) }? {
            entries.push((
                next.clone(),
                values.iter().copied().fold(0u64, u64::wrapping_add),
            ));
        }
        key = Some(next.clone());
    }
    Ok(Read {
        entries,
        truncated: false,
    })
}
