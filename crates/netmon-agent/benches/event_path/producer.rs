//! Puts real records into the agent's real TCP event ring buffer, from the
//! kernel, as fast as the kernel can: a tiny BPF program (written here as
//! raw instructions: this workspace compiles C programs only in
//! netmon-ebpf's build script) that submits two `struct netmon_tcp_event`
//! per run with `bpf_ringbuf_output`, run `repeat` times by one
//! `BPF_PROG_TEST_RUN` call. The two events are one connection's life as
//! the tracepoint reports it: established (active open), then closed; each
//! run draws a new random local address (10.77.0.0/16) and port (31 random
//! bits), so nearly every pair is a new connection for the flow table, which
//! fills up to `flow.max_flows` and then makes room for each new one.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use netmon_ebpf::bpf_syscall;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;
const BPF_PSEUDO_MAP_FD: u8 = 1;
/// `BPF_RB_NO_WAKEUP`: the agent's tracepoint program submits this way
/// too, and the agent reads on a timer.
const BPF_RB_NO_WAKEUP: i32 = 1;

const HELPER_KTIME_GET_NS: i32 = 5;
const HELPER_GET_PRANDOM_U32: i32 = 7;
const HELPER_RINGBUF_OUTPUT: i32 = 130;

/// Events each program run submits.
pub const EVENTS_PER_RUN: u32 = 2;
/// `sizeof(struct netmon_tcp_event)`.
const EVENT_SIZE: i32 = 80;

#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8, // dst in the low nibble, src in the high one
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

// Opcodes (include/uapi/linux/bpf.h, bpf_common.h).
const MOV64_IMM: u8 = 0xb7;
const MOV64_REG: u8 = 0xbf;
const ADD64_IMM: u8 = 0x07;
const AND64_IMM: u8 = 0x57;
const OR64_IMM: u8 = 0x47;
const STX_DW: u8 = 0x7b;
const STX_W: u8 = 0x63;
const STX_H: u8 = 0x6b;
const RSH64_IMM: u8 = 0x77;
const LSH64_IMM: u8 = 0x67;
const ST_DW: u8 = 0x7a;
const ST_W: u8 = 0x62;
const ST_H: u8 = 0x6a;
const ST_B: u8 = 0x72;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;
const LD_IMM64: u8 = 0x18;
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R6: u8 = 6;
const FP: u8 = 10;

/// Stack offset of the event (`fp - 80`) and of its fields.
const EV: i16 = -EVENT_SIZE as i16;
const fn at(field_offset: i16) -> i16 {
    EV + field_offset
}

/// IPv4-mapped address bytes 8..16 as two little-endian words: `::ffff:a.b.c.d`.
const MAPPED_HI: i32 = 0xffff_0000_u32 as i32;
const fn ipv4_word(a: u8, b: u8, c: u8, d: u8) -> i32 {
    i32::from_le_bytes([a, b, c, d])
}

/// Kind and states of `enum netmon_tcp_event_kind` / include/net/tcp_states.h.
const KIND_ESTABLISHED_ACTIVE: i32 = 2;
const KIND_CLOSED: i32 = 5;
const TCP_ESTABLISHED: i32 = 1;
const TCP_SYN_SENT: i32 = 2;
const TCP_CLOSE: i32 = 7;

fn submit(ring_fd: RawFd, out: &mut Vec<Insn>) {
    out.extend([
        insn(LD_IMM64, R1, BPF_PSEUDO_MAP_FD, 0, ring_fd),
        insn(0, 0, 0, 0, 0),
        insn(MOV64_REG, R2, FP, 0, 0),
        insn(ADD64_IMM, R2, 0, 0, EVENT_SIZE.wrapping_neg()),
        insn(MOV64_IMM, R3, 0, 0, EVENT_SIZE),
        insn(MOV64_IMM, R4, 0, 0, BPF_RB_NO_WAKEUP),
        insn(CALL, 0, 0, 0, HELPER_RINGBUF_OUTPUT),
    ]);
}

fn program(ring_fd: RawFd) -> Vec<Insn> {
    let mut p = vec![
        // timestamp_ns = bpf_ktime_get_ns(), as the tracepoint program does.
        insn(CALL, 0, 0, 0, HELPER_KTIME_GET_NS),
        insn(STX_DW, FP, R0, at(0), 0),
        // sock_id and the local port from one random draw (kept in r6,
        // which helper calls preserve).
        insn(CALL, 0, 0, 0, HELPER_GET_PRANDOM_U32),
        insn(MOV64_REG, R6, R0, 0, 0),
        insn(STX_DW, FP, R6, at(8), 0),
        insn(ST_DW, FP, 0, at(16), 0),       // duration_ns
        insn(ST_DW, FP, 0, at(24), 150_000), // connect_latency_ns
        // src_addr ::ffff:10.77.R.R (the random's high 16 bits),
        // dst_addr ::ffff:10.78.0.1
        insn(ST_DW, FP, 0, at(32), 0),
        insn(ST_W, FP, 0, at(40), MAPPED_HI),
        insn(MOV64_REG, R1, R6, 0, 0),
        insn(RSH64_IMM, R1, 0, 0, 16),
        insn(LSH64_IMM, R1, 0, 0, 16),
        insn(OR64_IMM, R1, 0, 0, ipv4_word(10, 77, 0, 0)),
        insn(STX_W, FP, R1, at(44), 0),
        insn(ST_DW, FP, 0, at(48), 0),
        insn(ST_W, FP, 0, at(56), MAPPED_HI),
        insn(ST_W, FP, 0, at(60), ipv4_word(10, 78, 0, 1)),
        // src_port: 32768..65535 (ephemeral), dst_port 8080
        insn(MOV64_REG, R1, R6, 0, 0),
        insn(AND64_IMM, R1, 0, 0, 0x7fff),
        insn(OR64_IMM, R1, 0, 0, 0x8000),
        insn(STX_H, FP, R1, at(64), 0),
        insn(ST_H, FP, 0, at(66), 8080),
        insn(ST_W, FP, 0, at(68), 4_026_531_840_u32 as i32), // netns_ino
        insn(ST_B, FP, 0, at(72), KIND_ESTABLISHED_ACTIVE),
        insn(ST_B, FP, 0, at(73), 4), // ip_version
        insn(ST_B, FP, 0, at(74), TCP_SYN_SENT),
        insn(ST_B, FP, 0, at(75), TCP_ESTABLISHED),
        insn(ST_W, FP, 0, at(76), 0), // sk_err
    ];
    submit(ring_fd, &mut p);
    p.extend([
        // The same socket, closed.
        insn(CALL, 0, 0, 0, HELPER_KTIME_GET_NS),
        insn(STX_DW, FP, R0, at(0), 0),
        insn(ST_DW, FP, 0, at(16), 2_000_000), // duration_ns
        insn(ST_B, FP, 0, at(72), KIND_CLOSED),
        insn(ST_B, FP, 0, at(74), TCP_ESTABLISHED),
        insn(ST_B, FP, 0, at(75), TCP_CLOSE),
    ]);
    submit(ring_fd, &mut p);
    p.extend([insn(MOV64_IMM, R0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)]);
    p
}

/// `union bpf_attr` for `BPF_PROG_LOAD` (the fields up to `log_buf`).
#[repr(C)]
#[derive(Default)]
struct LoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
}

/// `union bpf_attr` for `BPF_PROG_TEST_RUN`.
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
}

/// The loaded producer program.
pub struct Producer {
    prog: OwnedFd,
}

impl Producer {
    /// Loads the program writing into the ring buffer map `ring_fd`; the
    /// program keeps its own reference to the map.
    pub fn load(ring_fd: RawFd) -> io::Result<Self> {
        let insns = program(ring_fd);
        let license = c"GPL";
        let mut log = vec![0u8; 64 * 1024];
        let mut attr = LoadAttr {
            prog_type: BPF_PROG_TYPE_SOCKET_FILTER,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 1,
            log_size: log.len() as u32,
            log_buf: log.as_mut_ptr() as u64,
        };
        // SAFETY: insns, license and log outlive the call and are as large
        // as the sizes given.
        match unsafe { bpf_syscall(BPF_PROG_LOAD, &mut attr) } {
            // SAFETY: a new descriptor, owned by nobody else.
            Ok(fd) => Ok(Producer {
                prog: unsafe { OwnedFd::from_raw_fd(fd as RawFd) },
            }),
            Err(e) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                Err(io::Error::new(
                    e.kind(),
                    format!(
                        "loading the producer failed: {e}\n{}",
                        String::from_utf8_lossy(&log[..end])
                    ),
                ))
            }
        }
    }

    /// Runs the program `runs` times in the kernel: `runs * EVENTS_PER_RUN`
    /// events, unless the ring is full.
    pub fn run(&self, runs: u32) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // A socket filter's test run needs at least an Ethernet header.
        let packet = [0u8; 64];
        let mut attr = TestRunAttr {
            prog_fd: self.prog.as_raw_fd() as u32,
            data_size_in: packet.len() as u32,
            data_in: packet.as_ptr() as u64,
            repeat: runs,
            ..Default::default()
        };
        // SAFETY: the packet outlives the call; no output buffer is given.
        unsafe { bpf_syscall(BPF_PROG_TEST_RUN, &mut attr) }.map(drop)
    }
}
