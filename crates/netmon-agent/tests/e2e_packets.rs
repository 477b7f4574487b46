//! End-to-end: the packet size histogram and the ICMP type/code counters
//! count exactly the packets the test sent, each once although it crossed
//! two node interfaces. Echo requests of chosen payloads give frames of
//! known sizes (Ethernet 14 + IP header + ICMP 8 + payload), and their
//! replies are the same size.

mod support;

use std::time::Duration;

use support::agent::{AgentConfig, Metrics};
use support::netns::IpVersion;
use support::traffic::ping_with_payload;
use support::{eventually, missing_prerequisites, TestNode, TOPOLOGY_TOOLS};

const BOUNDS: [&str; 10] = [
    "64", "128", "256", "512", "1024", "1514", "2048", "4096", "9018", "+Inf",
];

/// Cumulative bucket counts, then count and sum.
fn histogram(metrics: &Metrics) -> (Vec<u64>, u64, u64) {
    let buckets = BOUNDS
        .iter()
        .map(|le| metrics.value_or_zero("netmon_packet_size_bytes_bucket", &[("le", le)]))
        .collect();
    (
        buckets,
        metrics.value_or_zero("netmon_packet_size_bytes_count", &[]),
        metrics.value_or_zero("netmon_packet_size_bytes_sum", &[]),
    )
}

fn icmp(metrics: &Metrics, version: &str, icmp_type: &str) -> u64 {
    metrics.value_or_zero(
        "netmon_icmp_messages_total",
        &[("ip_version", version), ("type", icmp_type), ("code", "0")],
    )
}

#[test]
fn packet_sizes_and_icmp_types_are_counted_exactly_once_per_packet() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let node = TestNode::start(AgentConfig::default());
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let before = node.agent.metrics();
    let (buckets_before, count_before, sum_before) = histogram(&before);

    // (version, payload, pings): frame = 14 + IP header + 8 + payload.
    let plan = [
        (IpVersion::V4, 18, 5),   // 60 bytes: le 64
        (IpVersion::V4, 1000, 3), // 1042: le 1514
        (IpVersion::V6, 100, 4),  // 162: le 256
        (IpVersion::V6, 1200, 2), // 1262: le 1514
    ];
    let mut expected_buckets = [0u64; 10];
    let mut expected_sum = 0;
    for (index, (version, payload, pings)) in plan.iter().enumerate() {
        let replies = ping_with_payload(
            a.ns_name(),
            b.ip(*version),
            *pings,
            700 + index as u16,
            *payload,
        );
        assert_eq!(replies, *pings, "every echo request was answered");
        let ip_header = if *version == IpVersion::V4 { 20 } else { 40 };
        let frame = 14 + ip_header + 8 + *payload as u64;
        let bucket = BOUNDS
            .iter()
            .position(|b| b.parse::<u64>().is_ok_and(|bound| frame <= bound))
            .unwrap_or(9);
        // Each request and its reply.
        expected_buckets[bucket] += 2 * u64::from(*pings);
        expected_sum += 2 * u64::from(*pings) * frame;
    }
    let expected_count: u64 = expected_buckets.iter().sum();

    let after = eventually(
        Duration::from_secs(10),
        "the pings in the histogram",
        || {
            let metrics = node.agent.metrics();
            let (_, count, _) = histogram(&metrics);
            if count - count_before >= expected_count {
                Ok(metrics)
            } else {
                Err(format!(
                    "{} of {expected_count} packets",
                    count - count_before
                ))
            }
        },
    );
    let (buckets_after, count_after, sum_after) = histogram(&after);
    assert_eq!(count_after - count_before, expected_count);
    assert_eq!(sum_after - sum_before, expected_sum);
    let mut cumulative = 0;
    for (i, le) in BOUNDS.iter().enumerate() {
        cumulative += expected_buckets[i];
        assert_eq!(
            buckets_after[i] - buckets_before[i],
            cumulative,
            "bucket le={le}"
        );
    }

    for (version, request, reply, pings) in [("4", "8", "0", 8), ("6", "128", "129", 6)] {
        assert_eq!(
            icmp(&after, version, request) - icmp(&before, version, request),
            pings,
            "ICMPv{version} echo requests"
        );
        assert_eq!(
            icmp(&after, version, reply) - icmp(&before, version, reply),
            pings,
            "ICMPv{version} echo replies"
        );
    }
}
