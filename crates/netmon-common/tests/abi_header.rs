//! Checks the Rust mirrors against the C header itself: the sizes clang
//! computes for the BPF target must equal the Rust sizes. Skipped (with the
//! reason printed) where clang-19 is not installed.

use std::process::Command;

fn clang_sizes() -> Option<String> {
    let header = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bpf/netmon_abi.h");
    let program = format!(
        r#"#include <linux/types.h>
#include "{header}"
#define P(t) int size_##t = sizeof(struct t);
P(netmon_flow_key) P(netmon_flow_counters) P(netmon_iface_counters)
P(netmon_iface_config) P(netmon_control) P(netmon_tcp_event) P(netmon_conn_state)
P(netmon_size_bucket) P(netmon_icmp_key) P(netmon_rtt_stats)
#define V(n, v) int size_value_##n = v;
V(stat_max, NETMON_STAT_MAX) V(size_buckets, NETMON_PACKET_SIZE_BUCKETS)
V(icmp_entries, NETMON_ICMP_MAP_ENTRIES) V(rtt_entries, NETMON_DEFAULT_RTT_MAP_ENTRIES)
V(bound_0, NETMON_PACKET_SIZE_BOUND_0) V(bound_1, NETMON_PACKET_SIZE_BOUND_1)
V(bound_2, NETMON_PACKET_SIZE_BOUND_2) V(bound_3, NETMON_PACKET_SIZE_BOUND_3)
V(bound_4, NETMON_PACKET_SIZE_BOUND_4) V(bound_5, NETMON_PACKET_SIZE_BOUND_5)
V(bound_6, NETMON_PACKET_SIZE_BOUND_6) V(bound_7, NETMON_PACKET_SIZE_BOUND_7)
V(bound_8, NETMON_PACKET_SIZE_BOUND_8)
P(netmon_flow_drop_key) P(netmon_drop_reason_key)
"#
    );
    let dir = std::env::temp_dir().join(format!("netmon-abi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let src = dir.join("sizes.c");
    std::fs::write(&src, program).ok()?;
    let out = Command::new("clang-19")
        .args([
            "-target",
            "bpf",
            "-I/usr/include/x86_64-linux-gnu",
            "-S",
            "-emit-llvm",
            "-o",
            "-",
        ])
        .arg(&src)
        .output()
        .ok()?;
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        out.status.success(),
        "clang-19 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn size_in_ir(ir: &str, name: &str) -> usize {
    let needle = format!("@size_{name} = ");
    let line = ir
        .lines()
        .find(|l| l.starts_with(&needle))
        .unwrap_or_else(|| panic!("{name} missing"));
    line.split_whitespace()
        .find_map(|w| w.trim_end_matches(',').parse().ok())
        .unwrap()
}

#[test]
fn every_rust_mirror_has_the_size_clang_gives_its_c_struct() {
    let Some(ir) = clang_sizes() else {
        eprintln!("skipped: clang-19 is not installed (scripts/setup.sh installs it)");
        return;
    };
    use netmon_common::*;
    use std::mem::size_of;
    assert_eq!(size_in_ir(&ir, "netmon_flow_key"), size_of::<FlowKey>());
    assert_eq!(
        size_in_ir(&ir, "netmon_flow_counters"),
        size_of::<FlowCounters>()
    );
    assert_eq!(
        size_in_ir(&ir, "netmon_iface_counters"),
        size_of::<IfaceCounters>()
    );
    assert_eq!(
        size_in_ir(&ir, "netmon_iface_config"),
        size_of::<IfaceConfig>()
    );
    assert_eq!(size_in_ir(&ir, "netmon_control"), size_of::<Control>());
    assert_eq!(size_in_ir(&ir, "netmon_tcp_event"), size_of::<TcpEvent>());
    assert_eq!(size_in_ir(&ir, "netmon_conn_state"), size_of::<ConnState>());
    assert_eq!(
        size_in_ir(&ir, "netmon_size_bucket"),
        size_of::<SizeBucket>()
    );
    assert_eq!(size_in_ir(&ir, "netmon_icmp_key"), size_of::<IcmpKey>());
    assert_eq!(
        size_in_ir(&ir, "netmon_flow_drop_key"),
        size_of::<FlowDropKey>()
    );
    assert_eq!(
        size_in_ir(&ir, "netmon_drop_reason_key"),
        size_of::<DropReasonKey>()
    );
    assert_eq!(size_in_ir(&ir, "netmon_rtt_stats"), size_of::<RttStats>());
    assert_eq!(
        size_in_ir(&ir, "value_rtt_entries"),
        DEFAULT_RTT_MAP_ENTRIES as usize
    );
}

#[test]
fn the_constants_are_the_same_on_both_sides() {
    let Some(ir) = clang_sizes() else {
        eprintln!("skipped: clang-19 is not installed (scripts/setup.sh installs it)");
        return;
    };
    use netmon_common::*;
    assert_eq!(size_in_ir(&ir, "value_stat_max"), STAT_COUNT as usize);
    assert_eq!(
        size_in_ir(&ir, "value_size_buckets"),
        PACKET_SIZE_BUCKETS as usize
    );
    assert_eq!(
        size_in_ir(&ir, "value_icmp_entries"),
        ICMP_MAP_ENTRIES as usize
    );
    for (i, bound) in PACKET_SIZE_BOUNDS.iter().enumerate() {
        assert_eq!(size_in_ir(&ir, &format!("value_bound_{i}")) as u64, *bound);
    }
}

#[test]
fn a_tcp_event_decodes_from_its_ring_buffer_bytes() {
    let mut bytes = [0u8; 80];
    bytes[64] = 0x1f; // src_port = 8080 little-endian
    bytes[65] = 0x90;
    bytes[72] = netmon_common::tcp_event_kind::CLOSED;
    bytes[76..80].copy_from_slice(&104i32.to_le_bytes());
    let ev = netmon_common::TcpEvent::from_bytes(&bytes).unwrap();
    assert_eq!(ev.src_port, 0x901f);
    assert_eq!(ev.kind, netmon_common::tcp_event_kind::CLOSED);
    assert_eq!(ev.sk_err, 104);
    assert!(netmon_common::TcpEvent::from_bytes(&bytes[..79]).is_none());
}
