//! One server per spool directory: two writers interleaving records in the
//! same segments would corrupt both logs.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

use super::SpoolError;

const LOCK_FILE: &str = "LOCK";

/// Held for the spool's lifetime; the kernel releases it when the process
/// ends, however it ends.
pub struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<DirLock, SpoolError> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| SpoolError::Io {
                path: path.clone(),
                source,
            })?;
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if locked != 0 {
            return Err(SpoolError::Locked(dir.to_owned()));
        }
        Ok(DirLock { _file: file })
    }
}
