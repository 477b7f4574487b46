//! One IPFIX data record: one direction of one flow over one export window,
//! in plain values. Both the encoder and the flow tracker speak this type.

use std::net::IpAddr;

/// `flowDirection` (IE 61): the record's direction at this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowDirection {
    /// Towards one of the node's addresses (or a pod of the node).
    Ingress,
    /// From one of the node's addresses (or a pod of the node).
    Egress,
}

impl FlowDirection {
    pub const fn code(self) -> u8 {
        match self {
            FlowDirection::Ingress => 0,
            FlowDirection::Egress => 1,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(FlowDirection::Ingress),
            1 => Some(FlowDirection::Egress),
            _ => None,
        }
    }
}

/// `flowEndReason` (IE 136): why the record was exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The flow ended by idling out (`flow.flow_timeout`), or its opening
    /// SYN was never answered.
    IdleTimeout,
    /// The flow is still active; `export.ipfix.active_timeout` passed.
    ActiveTimeout,
    /// FIN in both directions, a RST, or a refused connection.
    EndOfFlow,
    /// The agent is shutting down.
    ForcedEnd,
    /// The flow table was full and evicted the flow (`flow.max_flows`).
    LackOfResources,
}

impl EndReason {
    pub const fn code(self) -> u8 {
        match self {
            EndReason::IdleTimeout => 1,
            EndReason::ActiveTimeout => 2,
            EndReason::EndOfFlow => 3,
            EndReason::ForcedEnd => 4,
            EndReason::LackOfResources => 5,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(EndReason::IdleTimeout),
            2 => Some(EndReason::ActiveTimeout),
            3 => Some(EndReason::EndOfFlow),
            4 => Some(EndReason::ForcedEnd),
            5 => Some(EndReason::LackOfResources),
            _ => None,
        }
    }
}

/// One unidirectional flow record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpfixRecord {
    pub source: IpAddr,
    pub destination: IpAddr,
    pub source_port: u16,
    pub destination_port: u16,
    /// IANA protocol number (6 TCP, 17 UDP, ...).
    pub protocol: u8,
    /// TCP flags seen in this direction (RFC 7125 bit layout); 0 for
    /// other protocols.
    pub tcp_flags: u16,
    /// Bytes as netmon counts them: the link-layer length of each packet.
    pub octets: u64,
    pub packets: u64,
    /// First and last packet of the window, milliseconds since the epoch.
    pub start_ms: u64,
    pub end_ms: u64,
    /// `None` for flows the node only forwards: they are neither.
    pub direction: Option<FlowDirection>,
    pub end_reason: EndReason,
}

impl IpfixRecord {
    /// Whether both ends are IPv4, so the record fits an IPv4 template.
    pub fn is_ipv4(&self) -> bool {
        self.source.is_ipv4() && self.destination.is_ipv4()
    }
}
