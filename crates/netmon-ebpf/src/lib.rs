//! netmon's eBPF side in user space: the compiled object, feature probes,
//! loading, attaching to interfaces and the tracepoint, and draining maps.

pub mod attach;
pub mod btf;
pub mod drain;
pub mod error;
pub mod events;
pub mod features;
pub mod loader;
pub mod loss;
pub mod payload;
pub mod raw_program;
pub mod rtt;
pub mod stats;
mod sys;

pub use attach::{AttachMode, AttachedInterface};
pub use drain::{DrainedFlows, FlowEntry};
pub use error::EbpfError;
pub use events::{EventReader, PayloadReader, RingReader, RingRecord};
pub use features::KernelFeatures;
pub use loader::{LoadOptions, NetmonEbpf};
pub use loss::{DrainedLoss, DropTotal, LossStats};
pub use raw_program::{load_raw_program, Insn, RawProgram, RawProgramError};
pub use rtt::{RttEntry, TracepointLayoutError};
pub use stats::{IcmpCount, InterfaceCounters, KernelStats, SizeBucketTotals};
pub use sys::{bpf_syscall, get_next_key_bytes, lookup_bytes, BatchAttr};

/// The compiled eBPF object (bpf/netmon.bpf.c), aligned as aya requires.
pub static NETMON_BPF_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/netmon.bpf.o"));
