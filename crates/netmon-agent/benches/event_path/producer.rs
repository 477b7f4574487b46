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
use std::os::fd::{OwnedFd, RawFd};

use netmon_ebpf::{bpf_syscall, load_raw_program, Insn, RawProgram, RawProgramError};

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
        Insn::new(LD_IMM64, R1, BPF_PSEUDO_MAP_FD, 0, ring_fd),
        Insn::new(0, 0, 0, 0, 0),
        Insn::new(MOV64_REG, R2, FP, 0, 0),
        Insn::new(ADD64_IMM, R2, 0, 0, EVENT_SIZE.wrapping_neg()),
        Insn::new(MOV64_IMM, R3, 0, 0, EVENT_SIZE),
        Insn::new(MOV64_IMM, R4, 0, 0, BPF_RB_NO_WAKEUP),
        Insn::new(CALL, 0, 0, 0, HELPER_RINGBUF_OUTPUT),
    ]);
}

fn program(ring_fd: RawFd) -> Vec<Insn> {
    let mut p = vec![
        // timestamp_ns = bpf_ktime_get_ns(), as the tracepoint program does.
        Insn::new(CALL, 0, 0, 0, HELPER_KTIME_GET_NS),
        Insn::new(STX_DW, FP, R0, at(0), 0),
        // sock_id and the local port from one random draw (kept in r6,
        // which helper calls preserve).
        Insn::new(CALL, 0, 0, 0, HELPER_GET_PRANDOM_U32),
        Insn::new(MOV64_REG, R6, R0, 0, 0),
        Insn::new(STX_DW, FP, R6, at(8), 0),
        Insn::new(ST_DW, FP, 0, at(16), 0),       // duration_ns
        Insn::new(ST_DW, FP, 0, at(24), 150_000), // connect_latency_ns
        // src_addr ::ffff:10.77.R.R (the random's high 16 bits),
        // dst_addr ::ffff:10.78.0.1
        Insn::new(ST_DW, FP, 0, at(32), 0),
        Insn::new(ST_W, FP, 0, at(40), MAPPED_HI),
        Insn::new(MOV64_REG, R1, R6, 0, 0),
        Insn::new(RSH64_IMM, R1, 0, 0, 16),
        Insn::new(LSH64_IMM, R1, 0, 0, 16),
        Insn::new(OR64_IMM, R1, 0, 0, ipv4_word(10, 77, 0, 0)),
        Insn::new(STX_W, FP, R1, at(44), 0),
        Insn::new(ST_DW, FP, 0, at(48), 0),
        Insn::new(ST_W, FP, 0, at(56), MAPPED_HI),
        Insn::new(ST_W, FP, 0, at(60), ipv4_word(10, 78, 0, 1)),
        // src_port: 32768..65535 (ephemeral), dst_port 8080
        Insn::new(MOV64_REG, R1, R6, 0, 0),
        Insn::new(AND64_IMM, R1, 0, 0, 0x7fff),
        Insn::new(OR64_IMM, R1, 0, 0, 0x8000),
        Insn::new(STX_H, FP, R1, at(64), 0),
        Insn::new(ST_H, FP, 0, at(66), 8080),
        Insn::new(ST_W, FP, 0, at(68), 4_026_531_840_u32 as i32), // netns_ino
        Insn::new(ST_B, FP, 0, at(72), KIND_ESTABLISHED_ACTIVE),
        Insn::new(ST_B, FP, 0, at(73), 4), // ip_version
        Insn::new(ST_B, FP, 0, at(74), TCP_SYN_SENT),
        Insn::new(ST_B, FP, 0, at(75), TCP_ESTABLISHED),
        Insn::new(ST_W, FP, 0, at(76), 0), // sk_err
    ];
    submit(ring_fd, &mut p);
    p.extend([
        // The same socket, closed.
        Insn::new(CALL, 0, 0, 0, HELPER_KTIME_GET_NS),
        Insn::new(STX_DW, FP, R0, at(0), 0),
        Insn::new(ST_DW, FP, 0, at(16), 2_000_000), // duration_ns
        Insn::new(ST_B, FP, 0, at(72), KIND_CLOSED),
        Insn::new(ST_B, FP, 0, at(74), TCP_ESTABLISHED),
        Insn::new(ST_B, FP, 0, at(75), TCP_CLOSE),
    ]);
    submit(ring_fd, &mut p);
    p.extend([
        Insn::new(MOV64_IMM, R0, 0, 0, 0),
        Insn::new(EXIT, 0, 0, 0, 0),
    ]);
    p
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
        let program = RawProgram {
            prog_type: BPF_PROG_TYPE_SOCKET_FILTER,
            expected_attach_type: 0,
            attach_btf_id: 0,
            insns: &insns,
        };
        match load_raw_program(&program, 64 * 1024) {
            Ok(prog) => Ok(Producer { prog }),
            Err(RawProgramError::Load { source, log }) => Err(io::Error::new(
                source.kind(),
                format!("loading the producer failed: {source}\n{log}"),
            )),
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
