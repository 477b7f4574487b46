//! Per-connection smoothed RTT: attaching the tcp:tcp_probe program and
//! draining its maps.
//!
//! The program writes into the RTT map of `control.generation`, the same
//! generation as the flow maps, so [`NetmonEbpf::drain_flows`]'s flip and
//! grace period also retire an RTT map: [`NetmonEbpf::drain_rtt`] then
//! empties it with no writer left, exactly as the flow maps are emptied.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use aya::programs::TracePoint;
use netmon_common::{names, FlowKey, RttStats, Stat};
use thiserror::Error;

use crate::{
    drain::{drain_batched, drain_per_key},
    error::EbpfError,
    loader::{program, NetmonEbpf},
};

/// The srtt readings of one socket since the previous drain. The key is in
/// the socket's own view: `src` is its local end, `dst` the remote one.
pub type RttEntry = (FlowKey, RttStats);

const TRACEFS_ROOTS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Fields of the tcp_probe record the program reads, with the offset and
/// size it was compiled for (`struct netmon_tcp_probe_args`).
const TCP_PROBE_FIELDS: [(&str, usize, usize); 6] = [
    ("saddr", 8, 28),
    ("daddr", 36, 28),
    ("sport", 64, 2),
    ("dport", 66, 2),
    ("family", 68, 2),
    ("srtt", 100, 4),
];

/// Why the tcp_probe record of this kernel cannot be read by the program.
/// Tracepoint records are not relocated by CO-RE, so a kernel whose layout
/// differs would be read wrongly rather than fail: it is refused instead.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TracepointLayoutError {
    #[error("the kernel has no tcp:tcp_probe tracepoint (no format file under {0})")]
    Missing(String),
    #[error("tcp:tcp_probe has no field {field}")]
    MissingField { field: &'static str },
    #[error("tcp:tcp_probe field {field} is at offset {offset}, size {size}; netmon reads it at offset {expected_offset}, size {expected_size}")]
    Moved {
        field: &'static str,
        offset: usize,
        size: usize,
        expected_offset: usize,
        expected_size: usize,
    },
}

/// Checks a tcp_probe `format` file against the layout the program reads.
pub fn check_tcp_probe_layout(format: &str) -> Result<(), TracepointLayoutError> {
    for (field, expected_offset, expected_size) in TCP_PROBE_FIELDS {
        let (offset, size) =
            field_layout(format, field).ok_or(TracepointLayoutError::MissingField { field })?;
        if (offset, size) != (expected_offset, expected_size) {
            return Err(TracepointLayoutError::Moved {
                field,
                offset,
                size,
                expected_offset,
                expected_size,
            });
        }
    }
    Ok(())
}

/// Offset and size of `name` in a format file line such as
/// `field:__u32 srtt;<TAB>offset:100;<TAB>size:4;<TAB>signed:0;` (tab-separated).
fn field_layout(format: &str, name: &str) -> Option<(usize, usize)> {
    format.lines().find_map(|line| {
        let mut parts = line.trim().split(';').map(str::trim);
        let declaration = parts.next()?.strip_prefix("field:")?;
        // The name is the declaration's last word, without an array suffix.
        let declared = declaration.rsplit(' ').next()?;
        if declared.split('[').next()? != name {
            return None;
        }
        let mut value =
            |key: &str| -> Option<usize> { parts.next()?.strip_prefix(key)?.parse().ok() };
        Some((value("offset:")?, value("size:")?))
    })
}

fn read_tcp_probe_format() -> Result<String, TracepointLayoutError> {
    TRACEFS_ROOTS
        .iter()
        .find_map(|root| {
            std::fs::read_to_string(Path::new(root).join("events/tcp/tcp_probe/format")).ok()
        })
        .ok_or_else(|| TracepointLayoutError::Missing(TRACEFS_ROOTS.join(" or ")))
}

impl NetmonEbpf {
    /// Attaches the tcp:tcp_probe program after checking that this kernel's
    /// record has the layout it reads. The agent treats an error as "RTT
    /// off" and keeps counting flows.
    pub fn attach_tcp_rtt(&mut self) -> Result<(), EbpfError> {
        check_tcp_probe_layout(&read_tcp_probe_format()?)?;
        let name = names::TCP_RTT_PROG;
        let prog: &mut TracePoint = program(&mut self.ebpf, name)?;
        prog.load().map_err(|source| EbpfError::Program {
            program: name,
            source,
        })?;
        prog.attach("tcp", "tcp_probe")
            .map_err(|source| EbpfError::Program {
                program: name,
                source,
            })?;
        self.tcp_rtt_attached = true;
        Ok(())
    }

    pub fn tcp_rtt_attached(&self) -> bool {
        self.tcp_rtt_attached
    }

    /// tcp_probe readings lost since the programs were loaded because the
    /// RTT map had no room for their socket.
    pub fn rtt_map_full(&self) -> Result<u64, EbpfError> {
        let values = self
            .stats
            .get(&(Stat::RttMapFull as u32), 0)
            .map_err(|source| EbpfError::Map {
                map: names::STATS_MAP,
                source,
            })?;
        Ok(values.iter().sum())
    }

    /// Empties the RTT map that the latest [`drain_flows`](Self::drain_flows)
    /// retired: call it right after that drain, before the next one. Before
    /// the first flow drain it empties the generation no program writes to
    /// yet, which is empty.
    pub fn drain_rtt(&mut self) -> Result<Vec<RttEntry>, EbpfError> {
        let mut entries = Vec::new();
        if !self.tcp_rtt_attached {
            return Ok(entries);
        }
        let retired = (self.generation.wrapping_sub(1) & 1) as usize;
        let fd = self.rtt_maps[retired].fd().as_fd().as_raw_fd();
        let map = names::RTT_MAPS[retired];
        if self.batch_supported {
            return drain_batched(fd, &mut entries)
                .map(|()| entries)
                .map_err(|source| EbpfError::Syscall {
                    call: "lookup_and_delete_batch",
                    map,
                    source,
                });
        }
        drain_per_key(fd, &mut entries).map_err(|source| EbpfError::Syscall {
            call: "per-key drain",
            map,
            source,
        })?;
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The format file of Linux 6.18, as read on the build machine.
    const FORMAT_6_18: &str = "name: tcp_probe
ID: 2273
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:__u8 saddr[28];\toffset:8;\tsize:28;\tsigned:0;
\tfield:__u8 daddr[28];\toffset:36;\tsize:28;\tsigned:0;
\tfield:__u16 sport;\toffset:64;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:66;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:68;\tsize:2;\tsigned:0;
\tfield:__u32 mark;\toffset:72;\tsize:4;\tsigned:0;
\tfield:__u16 data_len;\toffset:76;\tsize:2;\tsigned:0;
\tfield:__u32 snd_nxt;\toffset:80;\tsize:4;\tsigned:0;
\tfield:__u32 snd_una;\toffset:84;\tsize:4;\tsigned:0;
\tfield:__u32 snd_cwnd;\toffset:88;\tsize:4;\tsigned:0;
\tfield:__u32 ssthresh;\toffset:92;\tsize:4;\tsigned:0;
\tfield:__u32 snd_wnd;\toffset:96;\tsize:4;\tsigned:0;
\tfield:__u32 srtt;\toffset:100;\tsize:4;\tsigned:0;
\tfield:__u32 rcv_wnd;\toffset:104;\tsize:4;\tsigned:0;
\tfield:__u64 sock_cookie;\toffset:112;\tsize:8;\tsigned:0;
";

    #[test]
    fn the_layout_of_linux_6_18_is_accepted() {
        assert_eq!(check_tcp_probe_layout(FORMAT_6_18), Ok(()));
    }

    #[test]
    fn a_kernel_without_the_family_field_is_refused_by_name() {
        // Kernels before 5.x recorded no family: everything after moved.
        let old = FORMAT_6_18.replace(
            "\tfield:__u16 family;\toffset:68;\tsize:2;\tsigned:0;\n",
            "",
        );
        assert_eq!(
            check_tcp_probe_layout(&old),
            Err(TracepointLayoutError::MissingField { field: "family" })
        );
    }

    #[test]
    fn a_moved_srtt_is_refused_with_both_offsets() {
        let moved = FORMAT_6_18.replace("srtt;\toffset:100", "srtt;\toffset:96");
        assert_eq!(
            check_tcp_probe_layout(&moved),
            Err(TracepointLayoutError::Moved {
                field: "srtt",
                offset: 96,
                size: 4,
                expected_offset: 100,
                expected_size: 4,
            })
        );
    }

    #[test]
    fn the_running_kernel_matches_when_it_has_the_tracepoint() {
        match read_tcp_probe_format() {
            Ok(format) => assert_eq!(check_tcp_probe_layout(&format), Ok(())),
            Err(why) => eprintln!("skipped: {why}"),
        }
    }
}
