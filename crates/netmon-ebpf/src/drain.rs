//! Draining the kernel flow maps.
//!
//! The programs write into the flow map chosen by `control.generation`. A
//! drain flips the generation, waits until every program that may still
//! hold the old map has finished (an RCU grace period), then empties the
//! old map with batch lookup-and-delete. No writer touches a map while it is
//! drained, so no increment is lost between the copy and the delete, which
//! is what makes netmon's counts exact.

use std::os::fd::{AsFd, AsRawFd};

use netmon_common::{names, FlowCounters, FlowKey};
use tracing::info;

use crate::{error::EbpfError, loader::NetmonEbpf, loss::DrainedLoss, sys};

/// One kernel flow-map entry: one direction of one flow.
pub type FlowEntry = (FlowKey, FlowCounters);

/// The result of a drain.
#[derive(Debug, Default)]
pub struct DrainedFlows {
    pub entries: Vec<FlowEntry>,
    /// Whether the batch command was used (false: per-key fallback).
    pub batched: bool,
    /// Retransmissions and drops per flow over the same interval.
    pub loss: DrainedLoss,
}

const BATCH_SIZE: usize = 4096;

impl NetmonEbpf {
    /// Swaps the flow maps and returns everything counted since the last
    /// drain.
    pub fn drain_flows(&mut self) -> Result<DrainedFlows, EbpfError> {
        let draining = (self.generation & 1) as usize;
        self.generation = self.generation.wrapping_add(1);
        self.control
            .set(0, self.control_value(), 0)
            .map_err(|source| EbpfError::Map {
                map: names::CONTROL_MAP,
                source,
            })?;
        sys::wait_for_running_programs();

        let mut out = self.drain_flow_map(draining)?;
        // The loss maps share the generation, so they cover the same
        // interval; drained after the flows, so a failure there never holds
        // the flows back.
        out.loss = self.loss.drain(draining, self.batch_supported)?;
        Ok(out)
    }

    /// Empties generation `draining` of the flow maps.
    fn drain_flow_map(&mut self, draining: usize) -> Result<DrainedFlows, EbpfError> {
        let fd = self.flow_maps[draining].fd().as_fd().as_raw_fd();
        let map = names::FLOW_MAPS[draining];
        let mut out = DrainedFlows {
            entries: Vec::new(),
            batched: self.batch_supported,
            loss: DrainedLoss::default(),
        };
        if self.batch_supported {
            match drain_batched(fd, &mut out.entries) {
                Ok(()) => return Ok(out),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTSUP | 524)) => {
                    // 524 is ENOTSUPP, the kernel-internal "not supported"
                    // that older kernels return for batch commands.
                    info!(error = %e, "batch map operations unavailable, draining key by key");
                    self.batch_supported = false;
                    out.batched = false;
                }
                Err(source) => {
                    return Err(EbpfError::Syscall {
                        call: "lookup_and_delete_batch",
                        map,
                        source,
                    })
                }
            }
        }
        drain_per_key(fd, &mut out.entries).map_err(|source| EbpfError::Syscall {
            call: "per-key drain",
            map,
            source,
        })?;
        Ok(out)
    }
}

/// Empties a hash map with batch lookup-and-delete, appending its entries.
pub(crate) fn drain_batched<K: Copy + Default, V: Copy + Default>(
    fd: i32,
    entries: &mut Vec<(K, V)>,
) -> std::io::Result<()> {
    let mut keys = vec![K::default(); BATCH_SIZE];
    let mut values = vec![V::default(); BATCH_SIZE];
    let mut token = 0u64;
    let mut first = true;
    loop {
        let result =
            match sys::lookup_and_delete_batch(fd, first, &mut token, &mut keys, &mut values) {
                Ok(r) => r,
                // ENOSPC: a hash bucket holds more entries than the batch; the
                // kernel asks for a bigger buffer.
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                    let bigger = keys.len() * 2;
                    keys.resize(bigger, K::default());
                    values.resize(bigger, V::default());
                    continue;
                }
                Err(e) => return Err(e),
            };
        first = false;
        entries.extend(
            keys[..result.count]
                .iter()
                .copied()
                .zip(values[..result.count].iter().copied()),
        );
        if result.done {
            return Ok(());
        }
    }
}

/// Empties a hash map key by key (kernels without batch commands).
pub(crate) fn drain_per_key<K: Copy + Default, V: Copy + Default>(
    fd: i32,
    entries: &mut Vec<(K, V)>,
) -> std::io::Result<()> {
    let mut next = K::default();
    // Each round takes the map's first key and deletes it, so the walk never
    // depends on a deleted key; no writer adds keys to this generation while
    // it is drained, so the loop ends.
    while sys::get_next_key::<K>(fd, None, &mut next)? {
        let mut value = V::default();
        if sys::lookup(fd, &next, &mut value)? {
            entries.push((next, value));
        }
        sys::delete(fd, &next)?;
    }
    Ok(())
}
