//! Packet loss: the TCP retransmission tracepoints and the kfree_skb drop
//! tracepoint (bpf/tcp_retransmit.bpf.h, bpf/skb_drop.bpf.h), their
//! per-flow maps (drained with the flow maps, same generation) and their
//! cumulative counters.

use std::os::fd::{AsFd, AsRawFd};

use aya::{
    maps::{MapData, PerCpuArray, PerCpuHashMap},
    programs::{BtfTracePoint, TracePoint},
    Ebpf,
};
use netmon_common::{names, DropReasonKey, FlowDropKey, FlowKey, LossStat};

use crate::{
    drain::{drain_batched, drain_per_key},
    error::EbpfError,
    features,
    loader::{program, NetmonEbpf},
};

/// Retransmitted segments of one flow direction (`src` = the socket's
/// local end) since the previous drain.
pub type RetransmitEntry = (FlowKey, u64);
/// Dropped packets of one flow direction and reason since the previous drain.
pub type FlowDropEntry = (FlowDropKey, u64);

/// Per-flow loss over one flush interval.
#[derive(Debug, Default)]
pub struct DrainedLoss {
    pub retransmits: Vec<RetransmitEntry>,
    pub drops: Vec<FlowDropEntry>,
}

/// Cumulative loss counters since the programs were loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LossStats {
    /// TCP segments retransmitted by any socket on the machine.
    pub retransmits: u64,
    /// Retransmitted segments not counted per flow: map full.
    pub retransmit_map_full: u64,
    /// Drops not counted per flow: map full.
    pub drop_flow_map_full: u64,
    /// Drops not counted by reason: map full.
    pub drop_reason_map_full: u64,
    /// `QUEUE_PURGE` frees of skbs without data left (a FIN segment still
    /// queued when its socket was destroyed): not counted as drops.
    pub empty_purges: u64,
}

/// Drops of one reason and protocol class since the programs were loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropTotal {
    /// The running kernel's `enum skb_drop_reason` value.
    pub reason: u32,
    /// An IPPROTO_* number or a `netmon_common::drop_protocol` class.
    pub protocol: u8,
    pub packets: u64,
}

/// The loss maps, taken out of the object at load time.
pub(crate) struct LossMaps {
    retransmits: [MapData; 2],
    flow_drops: [MapData; 2],
    drop_reasons: PerCpuHashMap<MapData, DropReasonKey, u64>,
    stats: PerCpuArray<MapData, u64>,
    pub(crate) retransmits_attached: bool,
    pub(crate) drops_attached: bool,
}

fn map_error(map: &'static str) -> impl Fn(aya::maps::MapError) -> EbpfError {
    move |source| EbpfError::Map { map, source }
}

fn take_hash(ebpf: &mut Ebpf, name: &'static str) -> Result<MapData, EbpfError> {
    match ebpf.take_map(name).ok_or(EbpfError::MissingMap(name))? {
        aya::maps::Map::HashMap(data) => Ok(data),
        _ => Err(EbpfError::MissingMap(name)),
    }
}

fn take(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map, EbpfError> {
    ebpf.take_map(name).ok_or(EbpfError::MissingMap(name))
}

impl LossMaps {
    pub(crate) fn take(ebpf: &mut Ebpf) -> Result<Self, EbpfError> {
        let [r0, r1] = names::RETRANSMIT_MAPS;
        let [d0, d1] = names::FLOW_DROP_MAPS;
        Ok(LossMaps {
            retransmits: [take_hash(ebpf, r0)?, take_hash(ebpf, r1)?],
            flow_drops: [take_hash(ebpf, d0)?, take_hash(ebpf, d1)?],
            drop_reasons: PerCpuHashMap::try_from(take(ebpf, names::DROP_REASONS_MAP)?)
                .map_err(map_error(names::DROP_REASONS_MAP))?,
            stats: PerCpuArray::try_from(take(ebpf, names::LOSS_STATS_MAP)?)
                .map_err(map_error(names::LOSS_STATS_MAP))?,
            retransmits_attached: false,
            drops_attached: false,
        })
    }

    /// Empties generation `draining` of the per-flow maps. The caller has
    /// flipped the generation and waited for running programs, as for the
    /// flow maps.
    pub(crate) fn drain(&self, draining: usize, batch: bool) -> Result<DrainedLoss, EbpfError> {
        // Drained whether or not the programs are attached: a program that
        // attached before its sibling failed still writes. An empty map costs
        // one syscall.
        let mut out = DrainedLoss::default();
        drain_map(
            &self.retransmits[draining],
            names::RETRANSMIT_MAPS[draining],
            batch,
            &mut out.retransmits,
        )?;
        drain_map(
            &self.flow_drops[draining],
            names::FLOW_DROP_MAPS[draining],
            batch,
            &mut out.drops,
        )?;
        Ok(out)
    }
}

fn drain_map<K: Copy + Default, V: Copy + Default>(
    map: &MapData,
    name: &'static str,
    batch: bool,
    out: &mut Vec<(K, V)>,
) -> Result<(), EbpfError> {
    let fd = map.fd().as_fd().as_raw_fd();
    let syscall = |call| {
        move |source| EbpfError::Syscall {
            call,
            map: name,
            source,
        }
    };
    if batch {
        match drain_batched(fd, out) {
            Ok(()) => return Ok(()),
            // The flow-map drain before this one has noticed the missing
            // batch support too, and logged it.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTSUP | 524)) => {}
            Err(e) => return Err(syscall("lookup_and_delete_batch")(e)),
        }
    }
    drain_per_key(fd, out).map_err(syscall("per-key drain"))
}

impl NetmonEbpf {
    /// Attaches the retransmission tracepoints (`tcp:tcp_retransmit_skb`,
    /// `tcp:tcp_retransmit_synack`). The agent treats an error as
    /// "retransmits off" and carries on.
    pub fn attach_retransmits(&mut self) -> Result<(), EbpfError> {
        for (name, event) in [
            (names::TCP_RETRANSMIT_PROG, "tcp_retransmit_skb"),
            (names::TCP_RETRANSMIT_SYNACK_PROG, "tcp_retransmit_synack"),
        ] {
            if !features::tracepoint_exists("tcp", event) {
                return Err(EbpfError::MissingTracepoint {
                    category: "tcp",
                    name: event,
                });
            }
            let prog: &mut TracePoint = program(&mut self.ebpf, name)?;
            prog.load().map_err(program_error(name))?;
            prog.attach("tcp", event).map_err(program_error(name))?;
        }
        self.loss.retransmits_attached = true;
        Ok(())
    }

    /// Attaches the drop tracepoint (`kfree_skb` as a BTF tracepoint; it
    /// carries a reason since Linux 5.17, and the program does not load on
    /// an older kernel). The agent treats an error as "drops off".
    pub fn attach_drops(&mut self) -> Result<(), EbpfError> {
        let name = names::SKB_DROP_PROG;
        let btf = aya::Btf::from_sys_fs().map_err(|source| EbpfError::Btf { source })?;
        let prog: &mut BtfTracePoint = program(&mut self.ebpf, name)?;
        prog.load("kfree_skb", &btf).map_err(program_error(name))?;
        prog.attach().map_err(program_error(name))?;
        self.loss.drops_attached = true;
        Ok(())
    }

    pub fn retransmits_attached(&self) -> bool {
        self.loss.retransmits_attached
    }

    pub fn drops_attached(&self) -> bool {
        self.loss.drops_attached
    }

    /// Totals of the loss stats array since the programs were loaded.
    pub fn loss_stats(&self) -> Result<LossStats, EbpfError> {
        let mut totals = [0u64; netmon_common::LOSS_STAT_COUNT as usize];
        for stat in LossStat::ALL {
            let values = self
                .loss
                .stats
                .get(&(stat as u32), 0)
                .map_err(map_error(names::LOSS_STATS_MAP))?;
            totals[stat as usize] = values.iter().sum();
        }
        Ok(LossStats {
            retransmits: totals[LossStat::Retransmits as usize],
            retransmit_map_full: totals[LossStat::RetransmitMapFull as usize],
            drop_flow_map_full: totals[LossStat::DropFlowMapFull as usize],
            drop_reason_map_full: totals[LossStat::DropReasonMapFull as usize],
            empty_purges: totals[LossStat::EmptyPurges as usize],
        })
    }

    /// Every drop counted so far, by reason and protocol class (cumulative;
    /// the map is never emptied, so a reading never misses an increment).
    pub fn drop_totals(&self) -> Result<Vec<DropTotal>, EbpfError> {
        let mut out = Vec::new();
        for item in self.loss.drop_reasons.iter() {
            let (key, values) = item.map_err(map_error(names::DROP_REASONS_MAP))?;
            out.push(DropTotal {
                reason: key.reason,
                protocol: key.protocol,
                packets: values.iter().sum(),
            });
        }
        Ok(out)
    }
}

fn program_error(program: &'static str) -> impl Fn(aya::programs::ProgramError) -> EbpfError {
    move |source| EbpfError::Program { program, source }
}
