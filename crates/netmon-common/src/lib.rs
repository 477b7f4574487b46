//! Rust mirrors of `bpf/netmon_abi.h`, the one definition of the ABI between
//! netmon's eBPF programs and the agent. Every type is `#[repr(C)]` with the
//! same explicit padding as the C struct, and its size and field offsets are
//! asserted at compile time, so a drift between the two sides fails the
//! build instead of producing wrong numbers.
//!
//! Also the one home of rules both user-space sides (agent and CLI) must
//! apply alike: [`redact`].

#![no_std]

extern crate alloc;

pub mod redact;

use core::mem::{offset_of, size_of};

pub const ABI_VERSION: u32 = 1;

pub const DEFAULT_FLOW_MAP_ENTRIES: u32 = 65536;
pub const IFACE_MAP_ENTRIES: u32 = 4096;
pub const IFACE_SLOTS: u32 = 4096;
pub const FLOW_GENERATIONS: u32 = 2;

/// Names of the maps and programs in the object, as the loader looks them up.
pub mod names {
    pub const FLOW_MAPS: [&str; 2] = ["netmon_flows_0", "netmon_flows_1"];
    pub const CONTROL_MAP: &str = "netmon_control";
    pub const IFACES_MAP: &str = "netmon_ifaces";
    pub const IFACE_STATS_MAP: &str = "netmon_iface_stats";
    pub const STATS_MAP: &str = "netmon_stats";
    pub const EVENTS_MAP: &str = "netmon_events";
    pub const CONNS_MAP: &str = "netmon_conns";
    pub const TC_INGRESS_PROG: &str = "netmon_tc_ingress";
    pub const TC_EGRESS_PROG: &str = "netmon_tc_egress";
    pub const TCP_STATE_PROG: &str = "netmon_tcp_state";
    pub const PACKET_SIZES_MAP: &str = "netmon_packet_sizes";
    pub const ICMP_MAP: &str = "netmon_icmp";
    pub const RTT_MAPS: [&str; 2] = ["netmon_rtt_0", "netmon_rtt_1"];
    pub const TCP_RTT_PROG: &str = "netmon_tcp_rtt";
    pub const RETRANSMIT_MAPS: [&str; 2] = ["netmon_retransmits_0", "netmon_retransmits_1"];
    pub const FLOW_DROP_MAPS: [&str; 2] = ["netmon_flow_drops_0", "netmon_flow_drops_1"];
    pub const DROP_REASONS_MAP: &str = "netmon_drop_reasons";
    pub const LOSS_STATS_MAP: &str = "netmon_loss_stats";
    pub const TCP_RETRANSMIT_PROG: &str = "netmon_tcp_retransmit";
    pub const TCP_RETRANSMIT_SYNACK_PROG: &str = "netmon_tcp_retransmit_synack";
    pub const SKB_DROP_PROG: &str = "netmon_skb_drop";
    pub const PAYLOADS_MAP: &str = "netmon_payloads";
    pub const PAYLOAD_DONE_MAP: &str = "netmon_payload_done";
}

/// `struct netmon_flow_key`: one direction of a flow.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    pub src_addr: [u8; 16],
    pub dst_addr: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub ip_version: u8,
    pub _pad: [u8; 2],
}

const _: () = assert!(size_of::<FlowKey>() == 40);
const _: () = assert!(offset_of!(FlowKey, dst_addr) == 16);
const _: () = assert!(offset_of!(FlowKey, src_port) == 32);
const _: () = assert!(offset_of!(FlowKey, dst_port) == 34);
const _: () = assert!(offset_of!(FlowKey, protocol) == 36);
const _: () = assert!(offset_of!(FlowKey, ip_version) == 37);

/// TCP flag bits in `FlowCounters::tcp_flags` (`NETMON_TCP_*`).
pub mod tcp_flags {
    pub const FIN: u32 = 0x01;
    pub const SYN: u32 = 0x02;
    pub const RST: u32 = 0x04;
    pub const PSH: u32 = 0x08;
    pub const ACK: u32 = 0x10;
    pub const URG: u32 = 0x20;
    pub const ECE: u32 = 0x40;
    pub const CWR: u32 = 0x80;
    pub const SYN_ONLY: u32 = 0x100;
    pub const SYN_ACK: u32 = 0x200;
}

pub const HOOK_INGRESS: u8 = 0;
pub const HOOK_EGRESS: u8 = 1;

/// `struct netmon_flow_counters`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowCounters {
    pub bytes: u64,
    pub packets: u64,
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    pub tcp_flags: u32,
    pub ifindex: u32,
    pub first_hook: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// Payload samples sent for this direction in this generation.
    pub payload_samples: u8,
    pub _pad: [u8; 4],
}

const _: () = assert!(size_of::<FlowCounters>() == 48);
const _: () = assert!(offset_of!(FlowCounters, packets) == 8);
const _: () = assert!(offset_of!(FlowCounters, first_seen_ns) == 16);
const _: () = assert!(offset_of!(FlowCounters, last_seen_ns) == 24);
const _: () = assert!(offset_of!(FlowCounters, tcp_flags) == 32);
const _: () = assert!(offset_of!(FlowCounters, ifindex) == 36);
const _: () = assert!(offset_of!(FlowCounters, first_hook) == 40);
const _: () = assert!(offset_of!(FlowCounters, icmp_type) == 41);
const _: () = assert!(offset_of!(FlowCounters, icmp_code) == 42);
const _: () = assert!(offset_of!(FlowCounters, payload_samples) == 43);

/// `struct netmon_iface_counters`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IfaceCounters {
    pub bytes: u64,
    pub packets: u64,
}

const _: () = assert!(size_of::<IfaceCounters>() == 16);

pub const IFACE_ACCOUNT_FLOWS: u32 = 0x1;

/// `struct netmon_iface_config`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IfaceConfig {
    pub flags: u32,
    /// Index into the per-interface counters (entries `slot * 2 + hook`).
    pub slot: u32,
}

const _: () = assert!(size_of::<IfaceConfig>() == 8);
const _: () = assert!(offset_of!(IfaceConfig, slot) == 4);

/// `struct netmon_control`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Control {
    pub generation: u32,
    /// One packet in `sampling_rate` is counted for flows (0, 1: all).
    pub sampling_rate: u32,
    /// [`payload_flags`] bits: which payload samples the programs send.
    pub payload_flags: u32,
    pub _pad: u32,
}

const _: () = assert!(size_of::<Control>() == 16);
const _: () = assert!(offset_of!(Control, payload_flags) == 8);

/// Bits of `Control::payload_flags` (`NETMON_PAYLOAD_CAPTURE_*`).
pub mod payload_flags {
    /// Every TCP/UDP packet to or from port 53.
    pub const DNS: u32 = 0x1;
    /// The first payloads of each flow direction.
    pub const FIRST: u32 = 0x2;
}

/// Indexes of the per-CPU stats array (`enum netmon_stat`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    FlowMapFull = 0,
    FlowMapFullBytes = 1,
    ParseTruncated = 2,
    NonIp = 3,
    EventsSent = 4,
    EventsDropped = 5,
    ConnMapFull = 6,
    ForwardedSkipped = 7,
    IcmpMapFull = 8,
    RttMapFull = 9,
    PayloadSent = 10,
    PayloadDropped = 11,
}

pub const STAT_COUNT: u32 = 12;

impl Stat {
    pub const ALL: [Stat; STAT_COUNT as usize] = [
        Stat::FlowMapFull,
        Stat::FlowMapFullBytes,
        Stat::ParseTruncated,
        Stat::NonIp,
        Stat::EventsSent,
        Stat::EventsDropped,
        Stat::ConnMapFull,
        Stat::ForwardedSkipped,
        Stat::IcmpMapFull,
        Stat::RttMapFull,
        Stat::PayloadSent,
        Stat::PayloadDropped,
    ];
}

/// Upper bounds of the packet size histogram's buckets in link-layer bytes
/// (`NETMON_PACKET_SIZE_BOUND_*`); the last of the
/// [`PACKET_SIZE_BUCKETS`] buckets has none.
pub const PACKET_SIZE_BOUNDS: [u64; 9] = [64, 128, 256, 512, 1024, 1514, 2048, 4096, 9018];
pub const PACKET_SIZE_BUCKETS: u32 = 10;
const _: () = assert!(PACKET_SIZE_BOUNDS.len() as u32 + 1 == PACKET_SIZE_BUCKETS);

/// `struct netmon_size_bucket`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SizeBucket {
    pub packets: u64,
    pub bytes: u64,
}

const _: () = assert!(size_of::<SizeBucket>() == 16);

pub const ICMP_MAP_ENTRIES: u32 = 1024;

/// `struct netmon_icmp_key`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct IcmpKey {
    pub ip_version: u8,
    pub icmp_type: u8,
    pub code: u8,
    pub _pad: u8,
}

const _: () = assert!(size_of::<IcmpKey>() == 4);

/// `enum netmon_tcp_event_kind`.
pub mod tcp_event_kind {
    pub const OPENED_ACTIVE: u8 = 1;
    pub const ESTABLISHED_ACTIVE: u8 = 2;
    pub const ACCEPTED: u8 = 3;
    pub const FAILED: u8 = 4;
    pub const CLOSED: u8 = 5;
}

/// `struct netmon_tcp_event`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpEvent {
    pub timestamp_ns: u64,
    pub sock_id: u64,
    pub duration_ns: u64,
    pub connect_latency_ns: u64,
    pub src_addr: [u8; 16],
    pub dst_addr: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    pub netns_ino: u32,
    pub kind: u8,
    pub ip_version: u8,
    pub old_state: u8,
    pub new_state: u8,
    pub sk_err: i32,
}

const _: () = assert!(size_of::<TcpEvent>() == 80);
const _: () = assert!(offset_of!(TcpEvent, src_addr) == 32);
const _: () = assert!(offset_of!(TcpEvent, dst_addr) == 48);
const _: () = assert!(offset_of!(TcpEvent, src_port) == 64);
const _: () = assert!(offset_of!(TcpEvent, netns_ino) == 68);
const _: () = assert!(offset_of!(TcpEvent, kind) == 72);
const _: () = assert!(offset_of!(TcpEvent, sk_err) == 76);

impl TcpEvent {
    /// Decodes an event from the ring buffer's bytes; `None` if too short.
    pub fn from_bytes(bytes: &[u8]) -> Option<TcpEvent> {
        if bytes.len() < size_of::<TcpEvent>() {
            return None;
        }
        // SAFETY: TcpEvent is repr(C), every bit pattern is valid for its
        // integer fields, and the length was checked; read_unaligned because
        // the ring buffer only guarantees 8-byte alignment of the record.
        Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr() as *const TcpEvent) })
    }
}

/// `struct netmon_conn_state`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnState {
    pub opened_ns: u64,
    pub connect_latency_ns: u64,
    pub active: u8,
    pub _pad: [u8; 7],
}

const _: () = assert!(size_of::<ConnState>() == 24);

pub const DEFAULT_RTT_MAP_ENTRIES: u32 = 65536;

/// `struct netmon_rtt_stats`: the srtt readings of one socket since the
/// previous drain, keyed by a [`FlowKey`] in the socket's own view (src:
/// local end, dst: remote end).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RttStats {
    pub sum_us: u64,
    pub samples: u64,
    pub min_us: u32,
    pub max_us: u32,
    pub last_us: u32,
    pub _pad: u32,
}

const _: () = assert!(size_of::<RttStats>() == 32);
const _: () = assert!(offset_of!(RttStats, samples) == 8);
const _: () = assert!(offset_of!(RttStats, min_us) == 16);
const _: () = assert!(offset_of!(RttStats, max_us) == 20);
const _: () = assert!(offset_of!(RttStats, last_us) == 24);
pub const LOSS_FLOW_MAP_ENTRIES: u32 = 8192;
pub const DROP_REASON_MAP_ENTRIES: u32 = 1024;

/// `struct netmon_flow_drop_key`: one flow direction and one drop reason.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowDropKey {
    /// The dropped packet's own direction.
    pub flow: FlowKey,
    /// The running kernel's `enum skb_drop_reason` value.
    pub reason: u32,
    pub _pad: u32,
}

const _: () = assert!(size_of::<FlowDropKey>() == 48);
const _: () = assert!(offset_of!(FlowDropKey, reason) == 40);

/// Protocol classes of `DropReasonKey::protocol` besides the IPPROTO_*
/// numbers of TCP, UDP, ICMP, ICMPv6 and SCTP (`NETMON_DROP_PROTO_*`).
pub mod drop_protocol {
    pub const NON_IP: u8 = 0;
    pub const OTHER: u8 = 255;
}

/// `struct netmon_drop_reason_key`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DropReasonKey {
    pub reason: u32,
    pub protocol: u8,
    pub _pad: [u8; 3],
}

const _: () = assert!(size_of::<DropReasonKey>() == 8);
const _: () = assert!(offset_of!(DropReasonKey, protocol) == 4);

/// Indexes of the per-CPU loss stats array (`enum netmon_loss_stat`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossStat {
    Retransmits = 0,
    RetransmitMapFull = 1,
    DropFlowMapFull = 2,
    DropReasonMapFull = 3,
    EmptyPurges = 4,
}

pub const LOSS_STAT_COUNT: u32 = 5;

impl LossStat {
    pub const ALL: [LossStat; LOSS_STAT_COUNT as usize] = [
        LossStat::Retransmits,
        LossStat::RetransmitMapFull,
        LossStat::DropFlowMapFull,
        LossStat::DropReasonMapFull,
        LossStat::EmptyPurges,
    ];
}

pub const PAYLOAD_CAPTURE_BYTES: usize = 512;
pub const PAYLOAD_SAMPLES_PER_DIRECTION: u8 = 4;

/// `enum netmon_payload_kind`.
pub mod payload_kind {
    /// One of a flow direction's first payloads.
    pub const FIRST: u8 = 1;
    /// A packet to or from port 53.
    pub const DNS: u8 = 2;
}

/// `struct netmon_payload_sample`: the first bytes of one packet's L4
/// payload.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadSample {
    pub timestamp_ns: u64,
    /// The packet's own direction.
    pub key: FlowKey,
    pub ifindex: u32,
    /// The packet's whole L4 payload length.
    pub payload_len: u32,
    /// Bytes of `data` filled.
    pub captured_len: u16,
    pub kind: u8,
    pub hook: u8,
    pub _pad: u32,
    pub data: [u8; PAYLOAD_CAPTURE_BYTES],
}

const _: () = assert!(size_of::<PayloadSample>() == 64 + PAYLOAD_CAPTURE_BYTES);
const _: () = assert!(offset_of!(PayloadSample, key) == 8);
const _: () = assert!(offset_of!(PayloadSample, ifindex) == 48);
const _: () = assert!(offset_of!(PayloadSample, payload_len) == 52);
const _: () = assert!(offset_of!(PayloadSample, captured_len) == 56);
const _: () = assert!(offset_of!(PayloadSample, kind) == 58);
const _: () = assert!(offset_of!(PayloadSample, hook) == 59);
const _: () = assert!(offset_of!(PayloadSample, data) == 64);

impl PayloadSample {
    /// Decodes a sample from the ring buffer's bytes; `None` if too short.
    pub fn from_bytes(bytes: &[u8]) -> Option<PayloadSample> {
        if bytes.len() < size_of::<PayloadSample>() {
            return None;
        }
        // SAFETY: as for TcpEvent::from_bytes: repr(C) integers and byte
        // arrays, length checked, unaligned read.
        Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr() as *const PayloadSample) })
    }

    /// The captured bytes (at most the capture size, whatever the kernel
    /// wrote in `captured_len`).
    pub fn captured(&self) -> &[u8] {
        &self.data[..(self.captured_len as usize).min(PAYLOAD_CAPTURE_BYTES)]
    }
}

#[cfg(feature = "aya")]
mod pod {
    // SAFETY: all of these are repr(C) plain integers and byte arrays with
    // explicit padding fields, so any byte pattern is a valid value.
    unsafe impl aya::Pod for super::FlowKey {}
    unsafe impl aya::Pod for super::FlowCounters {}
    unsafe impl aya::Pod for super::IfaceCounters {}
    unsafe impl aya::Pod for super::IfaceConfig {}
    unsafe impl aya::Pod for super::Control {}
    unsafe impl aya::Pod for super::ConnState {}
    unsafe impl aya::Pod for super::SizeBucket {}
    unsafe impl aya::Pod for super::IcmpKey {}
    unsafe impl aya::Pod for super::RttStats {}
    unsafe impl aya::Pod for super::FlowDropKey {}
    unsafe impl aya::Pod for super::DropReasonKey {}
}
