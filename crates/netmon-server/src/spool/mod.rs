//! The spool: an append-only log of accepted batches in segment files.
//!
//! Every batch is written here and fsynced before the agent is told it was
//! accepted, so an acknowledged batch survives a crash of the server (or of
//! the machine, as far as the disk keeps its promise). Segments are deleted
//! once every batch in them is in ClickHouse; what is left at startup is
//! replayed in order.

mod frame;
mod lock;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use frame::Next;

const SEGMENT_PREFIX: &str = "segment-";
const SEGMENT_SUFFIX: &str = ".log";
/// Segments are at most this big (or a sixteenth of the spool), so a
/// drained prefix of the log can be deleted without waiting for the rest.
const MAX_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Where a record is: its segment, the offset of its header, its payload length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
    pub len: u32,
}

impl Position {
    fn frame_bytes(&self) -> u64 {
        frame::HEADER_BYTES + u64::from(self.len)
    }
}

#[derive(Debug, Error)]
pub enum SpoolError {
    #[error("spool full: {used} of {max} bytes used, {needed} more needed")]
    Full { used: u64, needed: u64, max: u64 },
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("spool.dir {0} is used by another netmon-server")]
    Locked(PathBuf),
    #[error("spool record at {path} offset {offset} is corrupt")]
    Corrupt { path: PathBuf, offset: u64 },
}

/// A record found when the spool was opened.
#[derive(Debug)]
pub struct Recovered {
    pub position: Position,
    pub payload: Vec<u8>,
}

/// What opening found.
#[derive(Debug, Default)]
pub struct Opened {
    /// Intact records, in log order.
    pub records: Vec<Recovered>,
    /// Records skipped: a bad checksum, or a tail cut short (then cut off).
    pub corrupt: u64,
}

struct Active {
    segment: u64,
    file: File,
    bytes: u64,
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// Every segment on disk, with its size.
    segments: BTreeMap<u64, u64>,
    active: Option<Active>,
    next_segment: u64,
    _lock: lock::DirLock,
}

impl Spool {
    /// Opens (creating) `dir`, locks it, and reads back every record left
    /// in it. New records go to a new segment.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Spool, Opened), SpoolError> {
        let io_error = |source| SpoolError::Io {
            path: dir.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(io_error)?;
        let lock = lock::DirLock::acquire(dir)?;
        let mut found: Vec<u64> = fs::read_dir(dir)
            .map_err(io_error)?
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_prefix(SEGMENT_PREFIX)?
                    .strip_suffix(SEGMENT_SUFFIX)?
                    .parse()
                    .ok()
            })
            .collect();
        found.sort_unstable();

        let mut opened = Opened::default();
        let mut segments = BTreeMap::new();
        for segment in &found {
            let path = segment_path(dir, *segment);
            let bytes = scan_segment(&path, *segment, &mut opened)?;
            segments.insert(*segment, bytes);
        }
        let spool = Spool {
            dir: dir.to_owned(),
            max_bytes,
            segment_bytes: (max_bytes / 16).clamp(1024 * 1024, MAX_SEGMENT_BYTES),
            next_segment: found.last().map_or(1, |last| last + 1),
            segments,
            active: None,
            _lock: lock,
        };
        Ok((spool, opened))
    }

    /// Bytes of every segment on disk.
    pub fn bytes(&self) -> u64 {
        self.segments.values().sum()
    }

    /// Appends `payloads` and fsyncs once for all of them. Each gets its
    /// position, or `Full` when it does not fit; when writing fails, every
    /// payload of the call fails and none of them is in the log.
    pub fn append(&mut self, payloads: &[&[u8]]) -> Vec<Result<Position, SpoolError>> {
        if payloads.is_empty() {
            return Vec::new();
        }
        let mut outcomes = Vec::with_capacity(payloads.len());
        let mut buffer = Vec::new();
        let mut used = self.bytes();
        let (segment, start) = match self.active_segment() {
            Ok(active) => (active.segment, active.bytes),
            Err(error) => return payloads.iter().map(|_| Err(clone_io(&error))).collect(),
        };
        for payload in payloads {
            let needed = frame::HEADER_BYTES + payload.len() as u64;
            if used + needed > self.max_bytes {
                outcomes.push(Err(SpoolError::Full {
                    used,
                    needed,
                    max: self.max_bytes,
                }));
                continue;
            }
            let offset = start + buffer.len() as u64;
            frame::encode(&mut buffer, payload);
            used += needed;
            outcomes.push(Ok(Position {
                segment,
                offset,
                len: payload.len() as u32,
            }));
        }
        if buffer.is_empty() {
            return outcomes;
        }
        let active = self
            .active
            .as_mut()
            .expect("active_segment left a segment open");
        let written = active
            .file
            .write_all(&buffer)
            .and_then(|()| active.file.sync_data());
        match written {
            Ok(()) => {
                active.bytes += buffer.len() as u64;
                let bytes = active.bytes;
                self.segments.insert(segment, bytes);
                outcomes
            }
            Err(error) => {
                // Cut off what may have reached the file, so a restart does
                // not replay batches their agents were told failed; if even
                // that fails, move on to a fresh segment (a replayed copy is
                // then caught by the sink's check, not counted twice).
                if active.file.set_len(start).is_err() {
                    self.active = None;
                }
                let error = SpoolError::Io {
                    path: segment_path(&self.dir, segment),
                    source: error,
                };
                outcomes
                    .into_iter()
                    .map(|outcome| outcome.and(Err(clone_io(&error))))
                    .collect()
            }
        }
    }

    /// The payload at `position`, checked against its checksum.
    pub fn read(&self, position: Position) -> Result<Vec<u8>, SpoolError> {
        let path = segment_path(&self.dir, position.segment);
        let io_error = |source| SpoolError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io_error)?;
        let mut frame = vec![0u8; position.frame_bytes() as usize];
        file.read_exact_at(&mut frame, position.offset)
            .map_err(io_error)?;
        match frame::decode(&frame) {
            Some(payload) => Ok(payload.to_vec()),
            None => Err(SpoolError::Corrupt {
                path,
                offset: position.offset,
            }),
        }
    }

    /// Deletes the segments before `first_needed` (the segment of the oldest
    /// record not yet in ClickHouse), or every segment when nothing is
    /// needed any more.
    pub fn release_before(&mut self, first_needed: Option<u64>) {
        let done: Vec<u64> = self
            .segments
            .keys()
            .copied()
            .filter(|segment| first_needed.is_none_or(|needed| *segment < needed))
            .collect();
        for segment in done {
            if self.active.as_ref().is_some_and(|a| a.segment == segment) {
                self.active = None;
            }
            let path = segment_path(&self.dir, segment);
            // A segment that cannot be deleted is replayed at the next start,
            // where the sink finds its batches already inserted.
            if let Err(error) = fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), %error, "cannot delete a drained spool segment");
            }
            self.segments.remove(&segment);
        }
    }

    fn active_segment(&mut self) -> Result<&mut Active, SpoolError> {
        if self
            .active
            .as_ref()
            .is_some_and(|active| active.bytes >= self.segment_bytes)
        {
            self.active = None;
        }
        if self.active.is_none() {
            let segment = self.next_segment;
            let path = segment_path(&self.dir, segment);
            let io_error = |source| SpoolError::Io {
                path: path.clone(),
                source,
            };
            let file = OpenOptions::new()
                .append(true)
                .create_new(true)
                .open(&path)
                .map_err(io_error)?;
            // The new name must be durable before records in it are acknowledged.
            File::open(&self.dir)
                .and_then(|dir| dir.sync_all())
                .map_err(io_error)?;
            self.next_segment += 1;
            self.segments.insert(segment, 0);
            self.active = Some(Active {
                segment,
                file,
                bytes: 0,
            });
        }
        Ok(self
            .active
            .as_mut()
            .expect("the active segment was just opened"))
    }
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{SEGMENT_PREFIX}{segment:020}{SEGMENT_SUFFIX}"))
}

/// Reads every record of one segment into `opened`; returns the segment's
/// size afterwards (a cut-short tail is cut off).
fn scan_segment(path: &Path, segment: u64, opened: &mut Opened) -> Result<u64, SpoolError> {
    let io_error = |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();
    let mut reader = BufReader::new(&file);
    let mut offset = 0u64;
    loop {
        match frame::read_next(&mut reader, size - offset).map_err(io_error)? {
            Next::End => return Ok(size),
            Next::Record(payload) => {
                let len = payload.len() as u32;
                opened.records.push(Recovered {
                    position: Position {
                        segment,
                        offset,
                        len,
                    },
                    payload,
                });
                offset += frame::HEADER_BYTES + u64::from(len);
            }
            Next::BadChecksum { len } => {
                tracing::warn!(path = %path.display(), offset, "skipping a spool record with a bad checksum");
                opened.corrupt += 1;
                offset += frame::HEADER_BYTES + u64::from(len);
                reader.seek(SeekFrom::Start(offset)).map_err(io_error)?;
            }
            Next::TruncatedTail => {
                tracing::warn!(path = %path.display(), offset, size, "cutting off an incomplete record at the end of a spool segment");
                opened.corrupt += 1;
                file.set_len(offset)
                    .and_then(|()| file.sync_all())
                    .map_err(io_error)?;
                return Ok(offset);
            }
        }
    }
}

/// `SpoolError` holds an `io::Error`, which is not `Clone`; a batch of
/// callers each get the same description.
fn clone_io(error: &SpoolError) -> SpoolError {
    match error {
        SpoolError::Io { path, source } => SpoolError::Io {
            path: path.clone(),
            source: io::Error::new(source.kind(), source.to_string()),
        },
        SpoolError::Full { used, needed, max } => SpoolError::Full {
            used: *used,
            needed: *needed,
            max: *max,
        },
        SpoolError::Locked(path) => SpoolError::Locked(path.clone()),
        SpoolError::Corrupt { path, offset } => SpoolError::Corrupt {
            path: path.clone(),
            offset: *offset,
        },
    }
}

#[cfg(test)]
mod tests;
