//! The IANA information elements netmon's templates use: their numbers and
//! the lengths netmon encodes them with (each its type's natural length, no
//! reduced-size encoding, so a collector needs no special cases).

/// One information element of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Element {
    OctetDeltaCount,
    PacketDeltaCount,
    ProtocolIdentifier,
    TcpControlBits,
    SourceTransportPort,
    SourceIpv4Address,
    DestinationTransportPort,
    DestinationIpv4Address,
    SourceIpv6Address,
    DestinationIpv6Address,
    FlowDirection,
    FlowEndReason,
    FlowStartMilliseconds,
    FlowEndMilliseconds,
}

impl Element {
    /// The element's number in the IANA IPFIX registry.
    pub const fn id(self) -> u16 {
        match self {
            Element::OctetDeltaCount => 1,
            Element::PacketDeltaCount => 2,
            Element::ProtocolIdentifier => 4,
            Element::TcpControlBits => 6,
            Element::SourceTransportPort => 7,
            Element::SourceIpv4Address => 8,
            Element::DestinationTransportPort => 11,
            Element::DestinationIpv4Address => 12,
            Element::SourceIpv6Address => 27,
            Element::DestinationIpv6Address => 28,
            Element::FlowDirection => 61,
            Element::FlowEndReason => 136,
            Element::FlowStartMilliseconds => 152,
            Element::FlowEndMilliseconds => 153,
        }
    }

    /// Bytes of the field in a data record.
    pub const fn length(self) -> u16 {
        match self {
            Element::ProtocolIdentifier | Element::FlowDirection | Element::FlowEndReason => 1,
            // tcpControlBits is unsigned16 since RFC 7125 (ECN nonce and
            // reserved bits above the classic eight).
            Element::TcpControlBits
            | Element::SourceTransportPort
            | Element::DestinationTransportPort => 2,
            Element::SourceIpv4Address | Element::DestinationIpv4Address => 4,
            Element::OctetDeltaCount
            | Element::PacketDeltaCount
            | Element::FlowStartMilliseconds
            | Element::FlowEndMilliseconds => 8,
            Element::SourceIpv6Address | Element::DestinationIpv6Address => 16,
        }
    }

    /// The element with IANA number `id`, if netmon uses it.
    pub fn from_id(id: u16) -> Option<Element> {
        ALL.iter().copied().find(|element| element.id() == id)
    }
}

/// Every element netmon uses.
pub const ALL: [Element; 14] = [
    Element::OctetDeltaCount,
    Element::PacketDeltaCount,
    Element::ProtocolIdentifier,
    Element::TcpControlBits,
    Element::SourceTransportPort,
    Element::SourceIpv4Address,
    Element::DestinationTransportPort,
    Element::DestinationIpv4Address,
    Element::SourceIpv6Address,
    Element::DestinationIpv6Address,
    Element::FlowDirection,
    Element::FlowEndReason,
    Element::FlowStartMilliseconds,
    Element::FlowEndMilliseconds,
];
