//! The few bpf(2) commands the probes need: create a map, load a program
//! (netmon-ebpf's raw loader), create a TCX link. Each returns an owned fd,
//! so whatever a probe made is closed (and a link detached) when the probe
//! returns.

use std::{
    io,
    os::fd::{FromRawFd, OwnedFd},
};

use netmon_ebpf::{bpf_syscall, load_raw_program, Insn, RawProgram, RawProgramError};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_LINK_CREATE: libc::c_long = 28;

pub const BPF_MAP_TYPE_HASH: u32 = 1;
pub const BPF_MAP_TYPE_ARRAY: u32 = 2;
pub const BPF_MAP_TYPE_PERCPU_HASH: u32 = 5;
pub const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;
pub const BPF_MAP_TYPE_LRU_HASH: u32 = 9;
pub const BPF_MAP_TYPE_RINGBUF: u32 = 27;

pub const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
pub const BPF_PROG_TYPE_TRACEPOINT: u32 = 5;
pub const BPF_PROG_TYPE_TRACING: u32 = 26;

pub const BPF_TRACE_RAW_TP: u32 = 23;
pub const BPF_TCX_INGRESS: u32 = 46;

/// The `BPF_MAP_CREATE` prefix of `union bpf_attr`; the kernel zero-fills
/// the fields after it.
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

/// The `BPF_LINK_CREATE` prefix of `union bpf_attr`; the TCX fields after
/// it (relative program, expected revision) stay zero: append at the end.
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<OwnedFd> {
    // SAFETY: every caller here passes the bpf_attr prefix cmd takes, its
    // pointers into buffers (instructions, licence, log) that outlive the
    // call.
    let ret = unsafe { bpf_syscall(cmd, attr) }?;
    let fd = libc::c_int::try_from(ret).map_err(|_| io::Error::other("fd out of range"))?;
    // SAFETY: on success these commands return a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates a map; `Ok` proves the kernel has the map type and lets this
/// process create it.
pub fn create_map(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type,
        key_size,
        value_size,
        max_entries,
        ..Default::default()
    };
    bpf(BPF_MAP_CREATE, &mut attr)
}

/// What a program load needs besides its type.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProgramSpec {
    pub prog_type: u32,
    pub expected_attach_type: u32,
    /// For BTF-typed programs: the vmlinux BTF id of the hook.
    pub attach_btf_id: u32,
    /// What the program returns: it is loaded as `r0 = ret; exit`.
    pub ret: i32,
}

/// Why a program load failed: the errno, and the verifier's first line
/// when it said anything.
#[derive(Debug)]
pub struct LoadError {
    pub error: io::Error,
    pub verifier: Option<String>,
}

const BPF_ALU64_MOV_K: u8 = 0x07 | 0xb0;
const BPF_JMP_EXIT: u8 = 0x05 | 0x90;

/// Loads a two-instruction program of `spec`'s type: `r0 = ret; exit`,
/// the smallest valid program.
pub fn load_program(spec: &ProgramSpec) -> Result<OwnedFd, LoadError> {
    let insns = [
        Insn::new(BPF_ALU64_MOV_K, 0, 0, 0, spec.ret),
        Insn::new(BPF_JMP_EXIT, 0, 0, 0, 0),
    ];
    let program = RawProgram {
        prog_type: spec.prog_type,
        expected_attach_type: spec.expected_attach_type,
        attach_btf_id: spec.attach_btf_id,
        insns: &insns,
    };
    load_raw_program(&program, 4096).map_err(|RawProgramError::Load { source, log }| LoadError {
        error: source,
        verifier: first_log_line(&log),
    })
}

fn first_log_line(log: &str) -> Option<String> {
    log.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(str::to_string)
}

/// Attaches `prog` to `ifindex`'s TCX ingress; dropping the returned link
/// detaches it.
pub fn create_tcx_ingress_link(prog: &OwnedFd, ifindex: u32) -> io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_TCX_INGRESS,
        flags: 0,
    };
    bpf(BPF_LINK_CREATE, &mut attr)
}

/// The errno values that mean "this process may not do that".
pub fn is_permission_error(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_prefixes_have_the_kernels_offsets() {
        assert_eq!(std::mem::size_of::<MapCreateAttr>(), 20);
        assert_eq!(std::mem::size_of::<LinkCreateAttr>(), 16);
    }

    #[test]
    fn the_verifier_logs_first_non_empty_line_is_kept() {
        assert_eq!(
            first_log_line("\nfunc#0 @0\nmore\n"),
            Some("func#0 @0".to_string())
        );
        assert_eq!(first_log_line(""), None);
    }
}
