//! Loading a program given as raw instructions (`BPF_PROG_LOAD`), for what
//! the compiled C object does not hold: `netmon-cli doctor`'s feature
//! probes (two instructions per program type) and the event-path bench's
//! ring-buffer producer. aya 0.14 loads programs only from an object.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use thiserror::Error;

use crate::sys::bpf_syscall;

const BPF_PROG_LOAD: libc::c_long = 5;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// Destination register in the low nibble, source in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: dst | (src << 4),
            off,
            imm,
        }
    }
}

/// A program to load: its type, its hook where the type needs one, and
/// its instructions.
#[derive(Debug, Clone, Copy)]
pub struct RawProgram<'a> {
    pub prog_type: u32,
    pub expected_attach_type: u32,
    /// For BTF-typed programs: the vmlinux BTF id of the hook.
    pub attach_btf_id: u32,
    pub insns: &'a [Insn],
}

#[derive(Debug, Error)]
pub enum RawProgramError {
    #[error("loading the program: {source}")]
    Load {
        #[source]
        source: io::Error,
        /// What the verifier wrote (empty when it said nothing).
        log: String,
    },
}

/// The `BPF_PROG_LOAD` prefix of `union bpf_attr`, up to `attach_btf_id`;
/// the kernel zero-fills the fields after it.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
}

/// Loads `program` (GPL, so every helper is allowed), keeping up to
/// `log_size` bytes of the verifier's log for the error.
pub fn load_raw_program(
    program: &RawProgram<'_>,
    log_size: usize,
) -> Result<OwnedFd, RawProgramError> {
    let license = c"GPL";
    let mut log = vec![0u8; log_size.max(1)];
    let mut attr = ProgLoadAttr {
        prog_type: program.prog_type,
        insn_cnt: program.insns.len() as u32,
        insns: program.insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        expected_attach_type: program.expected_attach_type,
        attach_btf_id: program.attach_btf_id,
        ..Default::default()
    };
    // SAFETY: the instructions, the licence and the log outlive the call and
    // are as large as the sizes given.
    match unsafe { bpf_syscall(BPF_PROG_LOAD, &mut attr) } {
        Ok(fd) => {
            let fd = libc::c_int::try_from(fd).map_err(|_| RawProgramError::Load {
                source: io::Error::other("fd out of range"),
                log: String::new(),
            })?;
            // SAFETY: a new descriptor, owned by nobody else.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }
        Err(source) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err(RawProgramError::Load {
                source,
                log: String::from_utf8_lossy(&log[..end]).into_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_attribute_prefix_has_the_kernels_offsets() {
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, attach_btf_id), 108);
    }

    #[test]
    fn an_instruction_is_the_kernels_eight_bytes_with_registers_in_nibbles() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        let insn = Insn::new(0x18, 1, 1, 0, 7);
        assert_eq!((insn.regs & 0x0f, insn.regs >> 4), (1, 1));
    }
}
