//! Plain data types of the flow stage. They carry no kernel ABI detail
//! (`source::ebpf` converts from `netmon_common`), so the flow table can be
//! tested and benchmarked without a kernel.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

/// Nanoseconds since the UNIX epoch (wall clock). The source converts the
/// kernel's monotonic timestamps once, at drain time.
pub type UnixNanos = u64;

/// Transport protocol of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Sctp,
    Other(u8),
}

impl Protocol {
    pub fn from_number(n: u8) -> Self {
        match n {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            1 => Protocol::Icmp,
            58 => Protocol::Icmpv6,
            132 => Protocol::Sctp,
            other => Protocol::Other(other),
        }
    }

    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Icmp => 1,
            Protocol::Icmpv6 => 58,
            Protocol::Sctp => 132,
            Protocol::Other(n) => n,
        }
    }

    /// Lower-case name used in JSON, query filters and metric labels
    /// ("tcp", "udp", "icmp", "icmpv6", "sctp", "other").
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::Icmpv6 => "icmpv6",
            Protocol::Sctp => "sctp",
            Protocol::Other(_) => "other",
        }
    }
}

/// One end of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// A flow as the kernel counts it: one direction, source to destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DirectionalKey {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub protocol: Protocol,
}

impl DirectionalKey {
    pub fn reversed(&self) -> Self {
        DirectionalKey {
            src: self.dst,
            dst: self.src,
            protocol: self.protocol,
        }
    }
}

/// TCP flag bits as stored in the kernel's `tcp_flags` (bpf/netmon_abi.h):
/// the ABI's one definition.
pub use netmon_common::tcp_flags;

/// Counters for one direction of one flow, accumulated by the kernel since
/// the previous drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowDelta {
    pub key: DirectionalKey,
    pub bytes: u64,
    pub packets: u64,
    pub first_seen: UnixNanos,
    pub last_seen: UnixNanos,
    /// Union of `tcp_flags::*` seen in this direction during the interval.
    pub tcp_flags: u32,
    /// Interface where this direction was first counted.
    pub ifindex: u32,
    /// Last ICMP type/code seen (ICMP and ICMPv6 flows only).
    pub icmp: Option<(u8, u8)>,
}

/// What the kernel lost of one direction of a flow since the previous
/// drain: segments TCP sent again, or packets it dropped for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LossDelta {
    /// For retransmits the socket's local end is `src`; for drops it is the
    /// dropped packet's source.
    pub key: DirectionalKey,
    pub kind: LossKind,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LossKind {
    /// TCP segments retransmitted.
    Retransmits,
    /// Packets dropped, with the kernel's reason (`NETFILTER_DROP`, ...).
    Drops { reason: Arc<str> },
}

/// What happened to a TCP socket, from the kernel's state changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpEventKind {
    /// connect() sent a SYN.
    OpenedActive,
    /// The SYN-ACK arrived; `connect_latency_ns` is the handshake time.
    EstablishedActive,
    /// A passive open reached ESTABLISHED.
    Accepted,
    /// The peer answered the SYN with a RST.
    Refused,
    /// The connection never established for another reason (SYN timeout,
    /// aborted connect).
    TimedOut,
    /// An established connection was reset.
    Reset,
    /// An established connection closed normally.
    Closed,
}

impl TcpEventKind {
    pub const ALL: [TcpEventKind; 7] = [
        TcpEventKind::OpenedActive,
        TcpEventKind::EstablishedActive,
        TcpEventKind::Accepted,
        TcpEventKind::Refused,
        TcpEventKind::TimedOut,
        TcpEventKind::Reset,
        TcpEventKind::Closed,
    ];
}

/// One TCP lifecycle event. `local`/`remote` are the socket's own view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpEvent {
    pub kind: TcpEventKind,
    pub local: Endpoint,
    pub remote: Endpoint,
    pub timestamp: UnixNanos,
    pub connect_latency_ns: Option<u64>,
    pub duration_ns: Option<u64>,
    pub netns_ino: u32,
}

/// Life state of a connection as reported by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowStatus {
    /// Still exchanging packets (or not yet idle for `flow.flow_timeout`).
    Active,
    /// Ended by FIN, by a close the kernel reported, or by idling out.
    Closed,
    /// Ended by a RST after it was established.
    Reset,
    /// The responder answered the opening SYN with a RST.
    Refused,
    /// The opening SYN was never answered.
    Timeout,
}

impl FlowStatus {
    pub fn name(self) -> &'static str {
        match self {
            FlowStatus::Active => "active",
            FlowStatus::Closed => "closed",
            FlowStatus::Reset => "reset",
            FlowStatus::Refused => "refused",
            FlowStatus::Timeout => "timeout",
        }
    }

    pub fn is_terminal(self) -> bool {
        self != FlowStatus::Active
    }
}

/// Direction of a connection relative to this node: an end is local when
/// it is one of the node's addresses or, with Kubernetes, a pod on this
/// node. A local initiator makes it egress (so pod to pod on one node is
/// the initiator's egress), else a local responder ingress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Initiated from elsewhere towards an address of this node.
    Ingress,
    /// Initiated by an address of this node.
    Egress,
    /// Neither end is an address of this node: routed or bridged through it
    /// (pod to pod on a Kubernetes node, before enrichment knows the pods).
    #[default]
    Forwarded,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
            Direction::Forwarded => "forwarded",
        }
    }
}
