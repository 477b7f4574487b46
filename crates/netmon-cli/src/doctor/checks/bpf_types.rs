//! Every map and program type netmon's object uses (bpf/maps.h, bpf/loss.h,
//! bpf/tcp_rtt.bpf.h and the programs' SEC() names), probed by creating a
//! tiny map and loading a two-instruction program of each type. Nothing is
//! attached; every fd is closed before the check returns.

use aya_obj::btf::BtfKind;
use netmon_ebpf::btf::KERNEL_BTF_PATH;

use crate::doctor::{
    bpf_sys::{self, ProgramSpec},
    report::{Check, Status},
};

/// What the doctor says when the kernel refuses for lack of privilege.
pub const PERMISSION_FIX: &str = "run as root or with CAP_BPF+CAP_PERFMON+CAP_NET_ADMIN";

struct MapProbe {
    name: &'static str,
    map_type: u32,
    key_size: u32,
    value_size: u32,
    /// Zero means one page (a ring buffer's size must be a power-of-two
    /// number of pages).
    max_entries: u32,
    used_for: &'static str,
    needs: &'static str,
}

const MAP_PROBES: &[MapProbe] = &[
    MapProbe {
        name: "hash",
        map_type: bpf_sys::BPF_MAP_TYPE_HASH,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        used_for: "its flow, connection, RTT and loss maps",
        needs: "Linux 4.x with CONFIG_BPF_SYSCALL",
    },
    MapProbe {
        name: "lru_hash",
        map_type: bpf_sys::BPF_MAP_TYPE_LRU_HASH,
        key_size: 4,
        value_size: 8,
        max_entries: 16,
        used_for: "its payload-done map",
        needs: "Linux 4.10",
    },
    MapProbe {
        name: "percpu_hash",
        map_type: bpf_sys::BPF_MAP_TYPE_PERCPU_HASH,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        used_for: "its ICMP and drop-reason counters",
        needs: "Linux 4.6",
    },
    MapProbe {
        name: "array",
        map_type: bpf_sys::BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        used_for: "its control map",
        needs: "Linux 4.x with CONFIG_BPF_SYSCALL",
    },
    MapProbe {
        name: "percpu_array",
        map_type: bpf_sys::BPF_MAP_TYPE_PERCPU_ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        used_for: "its interface, packet-size and loss counters",
        needs: "Linux 4.6",
    },
    MapProbe {
        name: "ringbuf",
        map_type: bpf_sys::BPF_MAP_TYPE_RINGBUF,
        key_size: 0,
        value_size: 0,
        max_entries: 0,
        used_for: "its TCP events and payload samples",
        needs: "Linux 5.8",
    },
];

/// One check per map type, named `map:<type>`. Each is a fail when
/// refused: the loader creates every map of the object, so one missing
/// type stops netmon from loading at all.
pub fn map_checks() -> Vec<Check> {
    MAP_PROBES.iter().map(map_check).collect()
}

fn page_size() -> u32 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u32::try_from(size).unwrap_or(4096)
}

fn map_check(probe: &MapProbe) -> Check {
    let name = format!("map:{}", probe.name);
    let max_entries = match probe.max_entries {
        0 => page_size(),
        n => n,
    };
    match bpf_sys::create_map(
        probe.map_type,
        probe.key_size,
        probe.value_size,
        max_entries,
    ) {
        Ok(_map) => Check::pass(
            name,
            format!(
                "created a test map; netmon uses this type for {}",
                probe.used_for
            ),
        ),
        Err(e) if bpf_sys::is_permission_error(&e) => Check::fail(
            name,
            format!("not allowed to create a test map of this type: {e}"),
            PERMISSION_FIX,
        ),
        Err(e) => Check::fail(
            name,
            format!(
                "the kernel refused a test map of this type ({e}); netmon needs it for {}",
                probe.used_for
            ),
            format!(
                "use a kernel with {} map support ({} or newer)",
                probe.name, probe.needs
            ),
        ),
    }
}

/// What a program type's absence costs netmon.
struct ProgramProbe {
    name: &'static str,
    prog_type: u32,
    expected_attach_type: u32,
    /// For a BTF-typed program, the vmlinux typedef of its hook: the probe
    /// needs the hook's BTF id, so it also proves the kernel has the hook.
    btf_hook: Option<&'static str>,
    /// Fail when netmon cannot count flows without it, warn when only a
    /// feature goes off.
    unsupported: Status,
    /// What netmon attaches programs of this type to.
    uses: &'static str,
    consequence: &'static str,
    fix: &'static str,
}

const PROGRAM_PROBES: &[ProgramProbe] = &[
    ProgramProbe {
        name: "sched_cls",
        prog_type: bpf_sys::BPF_PROG_TYPE_SCHED_CLS,
        expected_attach_type: 0,
        btf_hook: None,
        unsupported: Status::Fail,
        uses: "netmon's flow counters on TC ingress and egress",
        consequence: "netmon counts flows with TC classifiers and cannot run",
        fix: "use a kernel with CONFIG_NET_CLS_BPF and CONFIG_NET_SCH_INGRESS",
    },
    ProgramProbe {
        name: "tracepoint",
        prog_type: bpf_sys::BPF_PROG_TYPE_TRACEPOINT,
        expected_attach_type: 0,
        btf_hook: None,
        unsupported: Status::Warn,
        uses: "netmon's TCP lifecycle, RTT and retransmit programs",
        consequence: "TCP lifecycle, RTT and retransmit tracking will be off",
        fix: "use a kernel with CONFIG_BPF_EVENTS",
    },
    ProgramProbe {
        name: "tp_btf",
        prog_type: bpf_sys::BPF_PROG_TYPE_TRACING,
        expected_attach_type: bpf_sys::BPF_TRACE_RAW_TP,
        btf_hook: Some("btf_trace_kfree_skb"),
        unsupported: Status::Warn,
        uses: "on kfree_skb, like netmon's drop tracking",
        consequence: "drop tracking (tp_btf/kfree_skb) will be off",
        fix: "use a kernel with BTF-typed tracepoints (Linux 5.5+; drop reasons 5.17+)",
    },
];

/// One check per program type, named `program:<type>`.
pub fn program_checks() -> Vec<Check> {
    PROGRAM_PROBES.iter().map(program_check).collect()
}

fn hook_btf_id(hook: &str) -> Result<u32, String> {
    let btf = aya::Btf::parse_file(KERNEL_BTF_PATH, aya::Endianness::default())
        .map_err(|e| e.to_string())?;
    btf.id_by_type_name_kind(hook, BtfKind::Typedef)
        .map_err(|e| e.to_string())
}

fn program_check(probe: &ProgramProbe) -> Check {
    let name = format!("program:{}", probe.name);
    let unsupported = |detail: String, fix: &str| match probe.unsupported {
        Status::Fail => Check::fail(name.clone(), detail, fix),
        _ => Check::warn(name.clone(), detail, fix),
    };
    let attach_btf_id = match probe.btf_hook.map(hook_btf_id) {
        None => 0,
        Some(Ok(id)) => id,
        Some(Err(e)) => {
            return unsupported(
                format!(
                    "cannot find its hook in {KERNEL_BTF_PATH} ({e}): {}",
                    probe.consequence
                ),
                probe.fix,
            )
        }
    };
    let spec = ProgramSpec {
        prog_type: probe.prog_type,
        expected_attach_type: probe.expected_attach_type,
        attach_btf_id,
        ret: 0,
    };
    match bpf_sys::load_program(&spec) {
        Ok(_prog) => Check::pass(
            name,
            format!("loaded a test program of this type ({})", probe.uses),
        ),
        Err(e) if bpf_sys::is_permission_error(&e.error) && e.verifier.is_none() => Check::fail(
            name,
            format!(
                "not allowed to load a test program of this type: {}",
                e.error
            ),
            PERMISSION_FIX,
        ),
        Err(e) => unsupported(
            format!(
                "the kernel refused a test program of this type: {}{}: {}",
                e.error,
                e.verifier
                    .map(|line| format!(" ({line})"))
                    .unwrap_or_default(),
                probe.consequence
            ),
            probe.fix,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C sources netmon's object is built from.
    fn bpf_sources() -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bpf");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .expect("bpf/ is readable")
            .map(|entry| entry.expect("entry").path())
            .collect();
        names.sort();
        names
            .iter()
            .map(|path| std::fs::read_to_string(path).expect("source is readable"))
            .collect()
    }

    #[test]
    fn the_probed_map_types_are_exactly_those_in_netmons_bpf_sources() {
        let mut used: Vec<String> = bpf_sources()
            .split("__uint(type, BPF_MAP_TYPE_")
            .skip(1)
            .map(|rest| rest[..rest.find(')').expect("closed")].to_lowercase())
            .collect();
        used.sort();
        used.dedup();
        let mut probed: Vec<String> = MAP_PROBES.iter().map(|p| p.name.to_string()).collect();
        probed.sort();
        assert_eq!(probed, used);
    }

    #[test]
    fn the_probed_program_types_are_exactly_those_in_netmons_bpf_sources() {
        let mut used: Vec<String> = bpf_sources()
            .split("SEC(\"")
            .skip(1)
            .map(|rest| rest[..rest.find('"').expect("closed")].to_string())
            .filter(|section| section != "license" && section != ".maps")
            .map(|section| match section.split('/').next() {
                Some("classifier") => "sched_cls".to_string(),
                Some(kind) => kind.to_string(),
                None => section,
            })
            .collect();
        used.sort();
        used.dedup();
        let mut probed: Vec<&str> = PROGRAM_PROBES.iter().map(|p| p.name).collect();
        probed.sort();
        assert_eq!(probed, used);
    }
}
