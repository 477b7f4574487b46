//! `fill-flows`: writes synthetic flows straight into a running agent's
//! kernel flow map, the one its TC programs are writing into, so that the
//! agent drains, merges, serves and exports them exactly as it would flows
//! counted from packets. This is how `benches/scale.sh` puts a million
//! concurrent flows into an agent on a two-core machine, where no traffic
//! generator could open them within one flush interval.
//!
//! Flow `i` (0-based) is one UDP direction
//! `10.A.B.C:40000 → 192.0.2.1:(1 + i % ports)` with `A.B.C` the 24 low bits
//! of `i`: every key is distinct, none is another's reverse (so each is one
//! record in the agent's table), and `ports` sets how many distinct
//! destination ports, hence Prometheus series with a `dst_port` label, the
//! flows spread over. UDP because the agent's TCP lifecycle tracepoint sees
//! every namespace of the machine: TCP records of other processes' sockets
//! could join the table, UDP records only come from the flow maps.

use std::io::{self, ErrorKind};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use netmon_common::{names, Control, FlowCounters, FlowKey};
use netmon_ebpf::{bpf_syscall, lookup_bytes, BatchAttr};
use serde::Serialize;

use crate::agent_maps::{agent_maps, take_map, AgentMap};

const BPF_MAP_UPDATE_BATCH: libc::c_long = 26;

/// Entries per `BPF_MAP_UPDATE_BATCH` call: large enough that the syscall
/// cost vanishes, small enough to keep the generator's memory flat.
const CHUNK: usize = 65_536;
/// Bytes and packets each flow counts per `fill-flows` run.
pub const BYTES_PER_FLOW: u64 = 1000;
pub const PACKETS_PER_FLOW: u64 = 10;
const IPPROTO_UDP: u8 = 17;

pub struct FillOptions {
    pub pid: u32,
    pub flows: usize,
    pub ports: u16,
    /// Wait for the agent's next drain (a generation change) before
    /// writing, so that all the flows land in one drain.
    pub after_drain: bool,
    pub timeout: Duration,
}

#[derive(Serialize)]
pub struct FillReport {
    pub flows: usize,
    /// The flow map written, `netmon_flows_0` or `_1`.
    pub map: String,
    pub generation: u32,
    /// Time spent writing (after the wait for a drain).
    pub seconds: f64,
    /// Every map the agent holds, with its memlock read after the write.
    pub maps: Vec<AgentMap>,
}

pub fn fill_flows(options: &FillOptions) -> io::Result<FillReport> {
    if options.ports == 0 {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "--ports must be at least 1",
        ));
    }
    if options.flows >= 1 << 24 {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "--flows must be below 2^24 (the keys' source addresses are 10.0.0.0/8)",
        ));
    }
    let mut maps = agent_maps(options.pid)?;
    let control = take_map(&mut maps, names::CONTROL_MAP)?;
    let flow_maps = [
        take_map(&mut maps, names::FLOW_MAPS[0])?,
        take_map(&mut maps, names::FLOW_MAPS[1])?,
    ];
    let mut generation = read_generation(&control.fd)?;
    if options.after_drain {
        let deadline = Instant::now() + options.timeout;
        let before = generation;
        while generation == before {
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    "the agent did not drain within --timeout-seconds",
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
            generation = read_generation(&control.fd)?;
        }
    }
    // The map the programs write into now; see `netmon_ebpf::drain`.
    let target = &flow_maps[(generation & 1) as usize];
    let started = Instant::now();
    write_flows(&target.fd, options.flows, options.ports)?;
    let seconds = started.elapsed().as_secs_f64();
    let map = target.name.clone();
    drop((maps, control, flow_maps));
    // Read again now that the flows are in: a map that is not preallocated
    // (the flow maps) is charged for the elements it holds, so the reading
    // taken before the write would show it empty.
    let mut maps = agent_maps(options.pid)?;
    maps.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(FillReport {
        flows: options.flows,
        map,
        generation,
        seconds,
        maps,
    })
}

fn read_generation(control: &OwnedFd) -> io::Result<u32> {
    let key = 0u32.to_ne_bytes();
    let mut value = [Control::default()];
    // SAFETY: the control map's key is a u32 and its value one Control.
    unsafe { lookup_bytes(control.as_raw_fd(), &key, &mut value) }?;
    Ok(value[0].generation)
}

/// Key `i` of the synthetic flows (see the module documentation).
pub fn flow_key(i: usize, ports: u16) -> FlowKey {
    let mut src_addr = [0u8; 16];
    src_addr[10] = 0xff;
    src_addr[11] = 0xff;
    src_addr[12..].copy_from_slice(&[10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
    let mut dst_addr = [0u8; 16];
    dst_addr[10] = 0xff;
    dst_addr[11] = 0xff;
    dst_addr[12..].copy_from_slice(&[192, 0, 2, 1]);
    FlowKey {
        src_addr,
        dst_addr,
        src_port: 40000,
        dst_port: 1 + (i % usize::from(ports)) as u16,
        protocol: IPPROTO_UDP,
        ip_version: 4,
        _pad: [0; 2],
    }
}

fn write_flows(map: &OwnedFd, flows: usize, ports: u16) -> io::Result<()> {
    // The programs' clock: bpf_ktime_get_ns() is CLOCK_MONOTONIC.
    let now = monotonic_ns();
    let value = FlowCounters {
        bytes: BYTES_PER_FLOW,
        packets: PACKETS_PER_FLOW,
        first_seen_ns: now,
        last_seen_ns: now,
        ifindex: 1,
        ..Default::default()
    };
    let mut keys = Vec::with_capacity(CHUNK);
    let values = vec![value; CHUNK];
    let mut start = 0;
    while start < flows {
        let end = (start + CHUNK).min(flows);
        keys.clear();
        keys.extend((start..end).map(|i| flow_key(i, ports)));
        let mut attr = BatchAttr {
            keys: keys.as_ptr() as u64,
            values: values.as_ptr() as u64,
            count: keys.len() as u32,
            map_fd: map.as_raw_fd() as u32,
            ..Default::default()
        };
        // SAFETY: keys and values hold `count` elements each, of the map's
        // key and value types (their sizes are asserted in netmon-common).
        unsafe { bpf_syscall(BPF_MAP_UPDATE_BATCH, &mut attr) }.map_err(|e| {
            let hint = if e.raw_os_error() == Some(libc::E2BIG) {
                " (the map is full: raise flow.kernel_map_entries)"
            } else {
                ""
            };
            io::Error::new(
                e.kind(),
                format!("writing flows {start}..{end} failed: {e}{hint}"),
            )
        })?;
        start = end;
    }
    Ok(())
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec for the kernel to fill in.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
