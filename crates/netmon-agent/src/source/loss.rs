//! Converts what the kernel reports about loss (netmon_common ABI types,
//! reason numbers) into the flow stage's [`LossDelta`]s and the exporter's
//! named drop totals.

use netmon_common::drop_protocol;
use netmon_ebpf::{DrainedLoss, DropTotal, EbpfError, LossStats, NetmonEbpf};

use super::drop_reasons::DropReasons;
use super::kernel::directional_key;
use crate::flow::{LossDelta, LossKind, Protocol};

/// One delta per kernel entry: per flow direction for retransmits, per
/// flow direction and reason for drops.
pub fn loss_deltas(drained: &DrainedLoss, reasons: &DropReasons) -> Vec<LossDelta> {
    let retransmits = drained.retransmits.iter().map(|(key, count)| LossDelta {
        key: directional_key(key),
        kind: LossKind::Retransmits,
        count: *count,
    });
    let drops = drained.drops.iter().map(|(key, count)| LossDelta {
        key: directional_key(&key.flow),
        kind: LossKind::Drops {
            reason: reasons.name(key.reason),
        },
        count: *count,
    });
    retransmits.chain(drops).collect()
}

/// The kernel's cumulative loss counters, read at one drain.
#[derive(Debug, Clone, Default)]
pub struct LossTotals {
    pub stats: LossStats,
    pub drops: Vec<DropTotal>,
}

pub fn read_totals(ebpf: &NetmonEbpf) -> Result<LossTotals, EbpfError> {
    Ok(LossTotals {
        stats: ebpf.loss_stats()?,
        // Walking the map costs syscalls per key; without the program it
        // stays empty.
        drops: if ebpf.drops_attached() {
            ebpf.drop_totals()?
        } else {
            Vec::new()
        },
    })
}

/// Label value of `netmon_drops_total{protocol}` for a kernel protocol
/// class: the flow protocols' names, `other` for another IP protocol (or
/// headers that could not be read) and `non_ip`.
pub fn drop_protocol_label(protocol: u8) -> &'static str {
    match protocol {
        drop_protocol::NON_IP => "non_ip",
        drop_protocol::OTHER => "other",
        n => Protocol::from_number(n).name(),
    }
}

/// A cumulative drop count with its labels' values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedDropTotal {
    pub reason: std::sync::Arc<str>,
    pub protocol: &'static str,
    pub packets: u64,
}

pub fn named_drop_totals(totals: &[DropTotal], reasons: &DropReasons) -> Vec<NamedDropTotal> {
    totals
        .iter()
        .map(|total| NamedDropTotal {
            reason: reasons.name(total.reason),
            protocol: drop_protocol_label(total.protocol),
            packets: total.packets,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use netmon_common::{FlowDropKey, FlowKey};
    use netmon_ebpf::btf::EnumVariant;

    use super::*;

    fn mapped(v4: [u8; 4]) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[10] = 0xff;
        b[11] = 0xff;
        b[12..].copy_from_slice(&v4);
        b
    }

    fn reasons() -> DropReasons {
        DropReasons::from_variants(&[EnumVariant {
            name: "SKB_DROP_REASON_NETFILTER_DROP".into(),
            value: 12,
        }])
    }

    #[test]
    fn kernel_entries_become_deltas_with_named_reasons() {
        let key = FlowKey {
            src_addr: mapped([10, 0, 0, 1]),
            dst_addr: mapped([10, 0, 0, 2]),
            src_port: 5353,
            dst_port: 53,
            protocol: 17,
            ip_version: 4,
            _pad: [0; 2],
        };
        let drained = DrainedLoss {
            retransmits: vec![(FlowKey { protocol: 6, ..key }, 3)],
            drops: vec![
                (
                    FlowDropKey {
                        flow: key,
                        reason: 12,
                        _pad: 0,
                    },
                    5,
                ),
                (
                    FlowDropKey {
                        flow: key,
                        reason: 77,
                        _pad: 0,
                    },
                    1,
                ),
            ],
        };
        let deltas = loss_deltas(&drained, &reasons());
        let summary: Vec<(String, Protocol, String, u64)> = deltas
            .iter()
            .map(|d| {
                let kind = match &d.kind {
                    LossKind::Retransmits => "retransmits".to_string(),
                    LossKind::Drops { reason } => reason.to_string(),
                };
                (d.key.src.ip.to_string(), d.key.protocol, kind, d.count)
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("10.0.0.1".into(), Protocol::Tcp, "retransmits".into(), 3),
                ("10.0.0.1".into(), Protocol::Udp, "NETFILTER_DROP".into(), 5),
                ("10.0.0.1".into(), Protocol::Udp, "reason_77".into(), 1),
            ]
        );
        assert_eq!(deltas[1].key.dst.port, 53);
    }

    #[test]
    fn protocol_classes_have_labels() {
        let labels: Vec<&str> = [6, 17, 1, 58, 132, 47, 0, 255]
            .into_iter()
            .map(drop_protocol_label)
            .collect();
        assert_eq!(
            labels,
            ["tcp", "udp", "icmp", "icmpv6", "sctp", "other", "non_ip", "other"]
        );
    }
}
