//! Loads the real object into the running kernel: the verifier accepts every
//! program, CO-RE relocations resolve, the tracepoint attaches, and an empty
//! drain works. Needs root (CAP_BPF); says so and returns otherwise, unless
//! NMTEST_REQUIRE_ROOT=1 (CI) makes that a failure.

use netmon_ebpf::{KernelFeatures, LoadOptions, NetmonEbpf};

fn root_or_skip() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let why = "needs root to load eBPF programs";
    if std::env::var("NMTEST_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    false
}

#[test]
fn the_object_loads_and_the_tcp_tracepoint_attaches_on_this_kernel() {
    if !root_or_skip() {
        return;
    }
    let features = KernelFeatures::probe();
    assert!(features.btf, "this kernel has no BTF: CO-RE cannot work");
    let mut ebpf = NetmonEbpf::load(
        &LoadOptions {
            sampling_rate: 1,
            flow_map_entries: 1024,
            payload_flags: netmon_common::payload_flags::DNS | netmon_common::payload_flags::FIRST,
        },
        features,
    )
    .unwrap();
    ebpf.attach_tcp_lifecycle().unwrap();
    assert!(ebpf.tcp_lifecycle_attached());
    let drained = ebpf.drain_flows().unwrap();
    assert!(drained.entries.is_empty());
    let stats = ebpf.kernel_stats().unwrap();
    assert_eq!(stats.flow_map_full_packets, 0);
}

#[test]
fn the_retransmit_and_drop_programs_pass_the_verifier_and_attach_on_this_kernel() {
    if !root_or_skip() {
        return;
    }
    let mut ebpf = NetmonEbpf::load(
        &LoadOptions {
            flow_map_entries: 1024,
            sampling_rate: 1,
            payload_flags: 0,
        },
        KernelFeatures::probe(),
    )
    .unwrap();
    assert!(!ebpf.retransmits_attached() && !ebpf.drops_attached());
    ebpf.attach_retransmits().unwrap();
    ebpf.attach_drops().unwrap();
    assert!(ebpf.retransmits_attached() && ebpf.drops_attached());
    // Other processes may retransmit or drop meanwhile: what is drained is
    // theirs, so only the reads themselves are checked here (the e2e tests
    // check figures).
    ebpf.drain_flows().unwrap();
    ebpf.loss_stats().unwrap();
    ebpf.drop_totals().unwrap();
}
