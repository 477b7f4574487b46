//! The four templates netmon sends: IPv4 and IPv6 flows, each with and
//! without `flowDirection`. Flows the node only forwards have no direction
//! at the node, and a value would have to lie, so their records use the
//! templates without the field.

use super::elements::Element;
use super::record::IpfixRecord;

/// A template: its ID (256 and up are data templates) and its fields in
/// record order.
#[derive(Debug, PartialEq, Eq)]
pub struct Template {
    pub id: u16,
    pub fields: &'static [Element],
}

impl Template {
    /// Bytes of one data record of this template.
    pub fn record_length(&self) -> usize {
        self.fields
            .iter()
            .map(|field| usize::from(field.length()))
            .sum()
    }

    /// Bytes of this template's template record: ID and field count, then
    /// one (element, length) pair per field.
    pub fn template_record_length(&self) -> usize {
        4 + 4 * self.fields.len()
    }
}

/// The fields after the addresses, shared by every template.
macro_rules! flow_fields {
    ($source:expr, $destination:expr $(, $extra:expr)*) => {
        &[
            $source,
            $destination,
            Element::SourceTransportPort,
            Element::DestinationTransportPort,
            Element::ProtocolIdentifier,
            Element::TcpControlBits,
            Element::OctetDeltaCount,
            Element::PacketDeltaCount,
            Element::FlowStartMilliseconds,
            Element::FlowEndMilliseconds,
            Element::FlowEndReason,
            $($extra,)*
        ]
    };
}

pub const IPV4: Template = Template {
    id: 256,
    fields: flow_fields!(
        Element::SourceIpv4Address,
        Element::DestinationIpv4Address,
        Element::FlowDirection
    ),
};

pub const IPV6: Template = Template {
    id: 257,
    fields: flow_fields!(
        Element::SourceIpv6Address,
        Element::DestinationIpv6Address,
        Element::FlowDirection
    ),
};

pub const IPV4_FORWARDED: Template = Template {
    id: 258,
    fields: flow_fields!(Element::SourceIpv4Address, Element::DestinationIpv4Address),
};

pub const IPV6_FORWARDED: Template = Template {
    id: 259,
    fields: flow_fields!(Element::SourceIpv6Address, Element::DestinationIpv6Address),
};

/// Every template, in the order the template set lists them.
pub const ALL: [&Template; 4] = [&IPV4, &IPV6, &IPV4_FORWARDED, &IPV6_FORWARDED];

/// The template `record` is encoded with. A record with one IPv4 and one
/// IPv6 end (which netmon's flow table never makes) goes in an IPv6
/// template, its IPv4 address mapped.
pub fn for_record(record: &IpfixRecord) -> &'static Template {
    match (record.is_ipv4(), record.direction.is_some()) {
        (true, true) => &IPV4,
        (false, true) => &IPV6,
        (true, false) => &IPV4_FORWARDED,
        (false, false) => &IPV6_FORWARDED,
    }
}
