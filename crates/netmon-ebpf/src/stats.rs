//! Reading the kernel's cumulative counters: the per-CPU stats array and the
//! per-interface counters.

use aya::maps::PerCpuValues;
use netmon_common::{
    names, IcmpKey, IfaceCounters, Stat, HOOK_EGRESS, HOOK_INGRESS, PACKET_SIZE_BUCKETS,
};

use crate::{error::EbpfError, loader::NetmonEbpf};

/// Totals of the kernel's stats array since the programs were loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelStats {
    pub flow_map_full_packets: u64,
    pub flow_map_full_bytes: u64,
    pub parse_truncated_packets: u64,
    pub non_ip_packets: u64,
    pub events_sent: u64,
    pub events_dropped: u64,
    pub conn_map_full: u64,
    pub forwarded_skipped: u64,
    pub icmp_map_full: u64,
    /// Payload samples sent to user space (DNS, first payloads).
    pub payload_samples_sent: u64,
    /// Payload samples lost because their ring buffer was full.
    pub payload_samples_dropped: u64,
}

/// Packets and bytes of one bucket of the packet size histogram (bounds in
/// `netmon_common::PACKET_SIZE_BOUNDS`), since the programs were loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SizeBucketTotals {
    pub packets: u64,
    pub bytes: u64,
}

/// ICMP or ICMPv6 messages of one type and code since the programs were loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IcmpCount {
    pub ip_version: u8,
    pub icmp_type: u8,
    pub code: u8,
    pub packets: u64,
}

/// Cumulative counters of one interface and hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceCounters {
    pub ifindex: u32,
    pub ingress: bool,
    pub bytes: u64,
    pub packets: u64,
}

impl NetmonEbpf {
    pub fn kernel_stats(&self) -> Result<KernelStats, EbpfError> {
        let mut totals = [0u64; netmon_common::STAT_COUNT as usize];
        for stat in Stat::ALL {
            let values = self
                .stats
                .get(&(stat as u32), 0)
                .map_err(|source| EbpfError::Map {
                    map: names::STATS_MAP,
                    source,
                })?;
            totals[stat as usize] = values.iter().sum();
        }
        Ok(KernelStats {
            flow_map_full_packets: totals[Stat::FlowMapFull as usize],
            flow_map_full_bytes: totals[Stat::FlowMapFullBytes as usize],
            parse_truncated_packets: totals[Stat::ParseTruncated as usize],
            non_ip_packets: totals[Stat::NonIp as usize],
            events_sent: totals[Stat::EventsSent as usize],
            events_dropped: totals[Stat::EventsDropped as usize],
            conn_map_full: totals[Stat::ConnMapFull as usize],
            forwarded_skipped: totals[Stat::ForwardedSkipped as usize],
            icmp_map_full: totals[Stat::IcmpMapFull as usize],
            payload_samples_sent: totals[Stat::PayloadSent as usize],
            payload_samples_dropped: totals[Stat::PayloadDropped as usize],
        })
    }

    /// The packet size histogram's buckets, summed over CPUs.
    pub fn packet_sizes(&self) -> Result<Vec<SizeBucketTotals>, EbpfError> {
        (0..PACKET_SIZE_BUCKETS)
            .map(|bucket| {
                let values =
                    self.packet_sizes
                        .get(&bucket, 0)
                        .map_err(|source| EbpfError::Map {
                            map: names::PACKET_SIZES_MAP,
                            source,
                        })?;
                Ok(values
                    .iter()
                    .fold(SizeBucketTotals::default(), |total, b| SizeBucketTotals {
                        packets: total.packets + b.packets,
                        bytes: total.bytes + b.bytes,
                    }))
            })
            .collect()
    }

    /// Every ICMP type/code seen, summed over CPUs, sorted.
    pub fn icmp_counts(&self) -> Result<Vec<IcmpCount>, EbpfError> {
        let mut out = Vec::new();
        for entry in self.icmp.iter() {
            let (key, values): (IcmpKey, _) = entry.map_err(|source| EbpfError::Map {
                map: names::ICMP_MAP,
                source,
            })?;
            out.push(IcmpCount {
                ip_version: key.ip_version,
                icmp_type: key.icmp_type,
                code: key.code,
                packets: values.iter().sum(),
            });
        }
        out.sort();
        Ok(out)
    }

    /// Totals of every packet the TC programs saw, per attached interface.
    pub fn interface_counters(&self) -> Result<Vec<InterfaceCounters>, EbpfError> {
        let mut out = Vec::new();
        for attached in self.attached.values() {
            for hook in [HOOK_INGRESS, HOOK_EGRESS] {
                let index = attached.slot * 2 + hook as u32;
                let values = self
                    .iface_stats
                    .get(&index, 0)
                    .map_err(|source| EbpfError::Map {
                        map: names::IFACE_STATS_MAP,
                        source,
                    })?;
                let (bytes, packets) = values
                    .iter()
                    .fold((0, 0), |(b, p), v| (b + v.bytes, p + v.packets));
                out.push(InterfaceCounters {
                    ifindex: attached.ifindex,
                    ingress: hook == HOOK_INGRESS,
                    bytes,
                    packets,
                });
            }
        }
        Ok(out)
    }

    /// Zeroes a detached interface's counters and frees its slot, so the
    /// next interface given the slot starts from zero.
    pub(crate) fn release_slot(&mut self, slot: u32) {
        if let Ok(cpus) = aya::util::nr_cpus() {
            for hook in [HOOK_INGRESS, HOOK_EGRESS] {
                let zeros = vec![IfaceCounters::default(); cpus];
                if let Ok(values) = PerCpuValues::try_from(zeros) {
                    let _ = self.iface_stats.set(slot * 2 + hook as u32, values, 0);
                }
            }
        }
        self.free_slots.push(slot);
    }
}
