//! `netmon_packet_size_bytes` and `netmon_icmp_messages_total`, from the
//! kernel's cumulative per-CPU counters. The histogram's buckets are counted
//! in the kernel (a handful of fixed bounds), so it is exported as read at
//! each drain through a collector of its own rather than re-observed here.

use std::collections::HashMap;
use std::sync::Mutex;

use netmon_common::PACKET_SIZE_BOUNDS;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Bucket, Histogram, Metric, MetricFamily, MetricType};
use prometheus::{IntCounterVec, Registry};

use super::register::{int_counter_vec, lock};

pub use netmon_ebpf::{IcmpCount, SizeBucketTotals};

const SIZE_NAME: &str = "netmon_packet_size_bytes";
const SIZE_HELP: &str = "Sizes of the packets crossing the node's monitored interfaces (link-layer bytes, each packet once; a GSO packet counts as its segments of equal size).";

/// The last kernel reading of the size histogram.
struct PacketSizes {
    desc: Desc,
    buckets: Mutex<Vec<SizeBucketTotals>>,
}

impl Collector for PacketSizes {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let buckets = lock(&self.buckets);
        let mut cumulative = 0;
        let mut proto_buckets = Vec::with_capacity(PACKET_SIZE_BOUNDS.len());
        // The kernel's last bucket has no bound: it is the +Inf bucket,
        // which the format derives from the sample count.
        for (bound, bucket) in PACKET_SIZE_BOUNDS.iter().zip(buckets.iter()) {
            cumulative += bucket.packets;
            let mut b = Bucket::default();
            b.set_upper_bound(*bound as f64);
            b.set_cumulative_count(cumulative);
            proto_buckets.push(b);
        }
        let mut histogram = Histogram::default();
        histogram.set_sample_count(buckets.iter().map(|b| b.packets).sum());
        histogram.set_sample_sum(buckets.iter().map(|b| b.bytes).sum::<u64>() as f64);
        histogram.set_bucket(proto_buckets);
        let mut metric = Metric::default();
        metric.set_histogram(histogram);
        let mut family = MetricFamily::default();
        family.set_name(SIZE_NAME.to_owned());
        family.set_help(SIZE_HELP.to_owned());
        family.set_field_type(MetricType::HISTOGRAM);
        family.set_metric(vec![metric]);
        vec![family]
    }
}

pub(crate) struct PacketMetrics {
    sizes: std::sync::Arc<PacketSizes>,
    icmp: IntCounterVec,
    /// Last cumulative reading per (version, type, code).
    icmp_seen: Mutex<HashMap<(u8, u8, u8), u64>>,
}

/// A Collector handle the registry can own while we keep updating it.
struct SharedSizes(std::sync::Arc<PacketSizes>);

impl Collector for SharedSizes {
    fn desc(&self) -> Vec<&Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.0.collect()
    }
}

impl PacketMetrics {
    pub(crate) fn register(r: &Registry) -> Result<Self, prometheus::Error> {
        let sizes = std::sync::Arc::new(PacketSizes {
            desc: Desc::new(
                SIZE_NAME.to_owned(),
                SIZE_HELP.to_owned(),
                Vec::new(),
                HashMap::new(),
            )?,
            buckets: Mutex::new(Vec::new()),
        });
        r.register(Box::new(SharedSizes(sizes.clone())))?;
        Ok(PacketMetrics {
            sizes,
            icmp: int_counter_vec(
                r,
                "netmon_icmp_messages_total",
                "ICMP (ip_version 4) and ICMPv6 (6) messages crossing the node's monitored interfaces, by type and code.",
                &["ip_version", "type", "code"],
            )?,
            icmp_seen: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a cumulative reading of the size histogram.
    pub(crate) fn set_sizes(&self, buckets: &[SizeBucketTotals]) {
        *lock(&self.sizes.buckets) = buckets.to_vec();
    }

    /// Takes cumulative readings of the ICMP counts; adds the increments.
    pub(crate) fn set_icmp(&self, counts: &[IcmpCount]) {
        let mut seen = lock(&self.icmp_seen);
        for count in counts {
            let key = (count.ip_version, count.icmp_type, count.code);
            let previous = seen.insert(key, count.packets).unwrap_or(0);
            // A lower reading means the programs were reloaded: count in full.
            let added = count.packets.checked_sub(previous).unwrap_or(count.packets);
            self.icmp
                .with_label_values(&[
                    &count.ip_version.to_string(),
                    &count.icmp_type.to_string(),
                    &count.code.to_string(),
                ])
                .inc_by(added);
        }
    }
}
