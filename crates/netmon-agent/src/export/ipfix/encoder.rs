//! IPFIX messages (RFC 7011 §3) from records: header, the template set when
//! asked for, then data sets, split so that no message exceeds the size
//! limit. Pure: the export time comes in as an argument.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::elements::Element;
use super::record::IpfixRecord;
use super::templates::{self, Template};

pub const IPFIX_VERSION: u16 = 10;
pub const HEADER_LENGTH: usize = 16;
pub const SET_HEADER_LENGTH: usize = 4;
/// Set ID of a template set (RFC 7011 §3.3.2).
pub const TEMPLATE_SET_ID: u16 = 2;
/// The encoder never makes messages smaller than this, whatever it is
/// told: the template set and one record of each template must fit.
pub const MIN_MESSAGE_SIZE: usize = 512;

/// One encoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub bytes: Vec<u8>,
    /// Data records in it (the amount the sequence number moved by).
    pub data_records: u32,
}

/// Encodes the messages of one Observation Domain, keeping its sequence
/// number: the count of data records encoded before each message
/// (RFC 7011 §3.1), modulo 2^32.
#[derive(Debug)]
pub struct MessageEncoder {
    observation_domain_id: u32,
    max_message_size: usize,
    sequence_number: u32,
}

impl MessageEncoder {
    pub fn new(observation_domain_id: u32, max_message_size: usize) -> Self {
        MessageEncoder {
            observation_domain_id,
            max_message_size: max_message_size.clamp(MIN_MESSAGE_SIZE, usize::from(u16::MAX)),
            sequence_number: 0,
        }
    }

    /// The sequence number the next message will carry.
    pub fn sequence_number(&self) -> u32 {
        self.sequence_number
    }

    #[cfg(test)]
    pub(super) fn set_sequence_number(&mut self, sequence_number: u32) {
        self.sequence_number = sequence_number;
    }

    /// `records` as messages of at most `max_message_size` bytes, the first
    /// one starting with the template set when `with_templates` is set.
    /// Records are grouped by template, otherwise in the order given.
    /// Nothing to send (no records, no templates) is no message.
    pub fn encode(
        &mut self,
        records: &[IpfixRecord],
        with_templates: bool,
        export_time: u32,
    ) -> Vec<Message> {
        let mut ordered: Vec<(&'static Template, &IpfixRecord)> = records
            .iter()
            .map(|record| (templates::for_record(record), record))
            .collect();
        ordered.sort_by_key(|(template, _)| template.id);

        let mut messages = Vec::new();
        let mut message = self.start_message(export_time);
        if with_templates {
            message.write_template_set();
        }
        for (template, record) in ordered {
            if !message.fits(template, self.max_message_size) {
                messages.push(self.finish_message(message));
                message = self.start_message(export_time);
            }
            message.write_record(template, record);
        }
        if !message.is_empty() {
            messages.push(self.finish_message(message));
        }
        messages
    }

    fn start_message(&self, export_time: u32) -> MessageBuilder {
        MessageBuilder::new(
            self.observation_domain_id,
            self.sequence_number,
            export_time,
        )
    }

    fn finish_message(&mut self, builder: MessageBuilder) -> Message {
        let message = builder.finish();
        self.sequence_number = self.sequence_number.wrapping_add(message.data_records);
        message
    }
}

/// A message being written; set and message lengths are filled in when
/// they are closed.
struct MessageBuilder {
    bytes: Vec<u8>,
    /// The data set being written: its template ID and where it starts.
    open_set: Option<(u16, usize)>,
    data_records: u32,
}

impl MessageBuilder {
    fn new(observation_domain_id: u32, sequence_number: u32, export_time: u32) -> Self {
        let mut bytes = Vec::with_capacity(MIN_MESSAGE_SIZE);
        bytes.extend_from_slice(&IPFIX_VERSION.to_be_bytes());
        // Length, filled in by `finish`.
        bytes.extend_from_slice(&0u16.to_be_bytes());
        bytes.extend_from_slice(&export_time.to_be_bytes());
        bytes.extend_from_slice(&sequence_number.to_be_bytes());
        bytes.extend_from_slice(&observation_domain_id.to_be_bytes());
        MessageBuilder {
            bytes,
            open_set: None,
            data_records: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.bytes.len() == HEADER_LENGTH
    }

    /// Whether one more record of `template` fits within `limit`; an empty
    /// message always takes one, so encoding always progresses.
    fn fits(&self, template: &Template, limit: usize) -> bool {
        let set_header = match self.open_set {
            Some((id, _)) if id == template.id => 0,
            _ => SET_HEADER_LENGTH,
        };
        self.is_empty() || self.bytes.len() + set_header + template.record_length() <= limit
    }

    fn write_template_set(&mut self) {
        self.close_set();
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&TEMPLATE_SET_ID.to_be_bytes());
        self.bytes.extend_from_slice(&0u16.to_be_bytes());
        for template in templates::ALL {
            self.bytes.extend_from_slice(&template.id.to_be_bytes());
            let count = u16::try_from(template.fields.len()).unwrap_or(u16::MAX);
            self.bytes.extend_from_slice(&count.to_be_bytes());
            for field in template.fields {
                self.bytes.extend_from_slice(&field.id().to_be_bytes());
                self.bytes.extend_from_slice(&field.length().to_be_bytes());
            }
        }
        self.patch_length(start);
    }

    fn write_record(&mut self, template: &Template, record: &IpfixRecord) {
        if self.open_set.map(|(id, _)| id) != Some(template.id) {
            self.close_set();
            self.open_set = Some((template.id, self.bytes.len()));
            self.bytes.extend_from_slice(&template.id.to_be_bytes());
            self.bytes.extend_from_slice(&0u16.to_be_bytes());
        }
        for field in template.fields {
            write_field(&mut self.bytes, *field, record);
        }
        self.data_records += 1;
    }

    fn close_set(&mut self) {
        if let Some((_, start)) = self.open_set.take() {
            self.patch_length(start);
        }
    }

    /// Writes the length of the set or message starting at `start` into
    /// its length field (bytes 2..4 of either).
    fn patch_length(&mut self, start: usize) {
        let length = u16::try_from(self.bytes.len() - start).unwrap_or(u16::MAX);
        self.bytes[start + 2..start + 4].copy_from_slice(&length.to_be_bytes());
    }

    fn finish(mut self) -> Message {
        self.close_set();
        self.patch_length(0);
        Message {
            bytes: self.bytes,
            data_records: self.data_records,
        }
    }
}

fn write_field(out: &mut Vec<u8>, field: Element, record: &IpfixRecord) {
    match field {
        Element::SourceIpv4Address => out.extend_from_slice(&ipv4(record.source).octets()),
        Element::DestinationIpv4Address => {
            out.extend_from_slice(&ipv4(record.destination).octets())
        }
        Element::SourceIpv6Address => out.extend_from_slice(&ipv6(record.source).octets()),
        Element::DestinationIpv6Address => {
            out.extend_from_slice(&ipv6(record.destination).octets())
        }
        Element::SourceTransportPort => out.extend_from_slice(&record.source_port.to_be_bytes()),
        Element::DestinationTransportPort => {
            out.extend_from_slice(&record.destination_port.to_be_bytes())
        }
        Element::ProtocolIdentifier => out.push(record.protocol),
        Element::TcpControlBits => out.extend_from_slice(&record.tcp_flags.to_be_bytes()),
        Element::OctetDeltaCount => out.extend_from_slice(&record.octets.to_be_bytes()),
        Element::PacketDeltaCount => out.extend_from_slice(&record.packets.to_be_bytes()),
        Element::FlowStartMilliseconds => out.extend_from_slice(&record.start_ms.to_be_bytes()),
        Element::FlowEndMilliseconds => out.extend_from_slice(&record.end_ms.to_be_bytes()),
        Element::FlowEndReason => out.push(record.end_reason.code()),
        // Templates with this field are only chosen for records with a
        // direction.
        Element::FlowDirection => out.push(record.direction.map_or(0, |d| d.code())),
    }
}

/// Only called for records whose ends are both IPv4 (`is_ipv4`).
fn ipv4(address: IpAddr) -> Ipv4Addr {
    match address {
        IpAddr::V4(address) => address,
        IpAddr::V6(address) => address.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
    }
}

fn ipv6(address: IpAddr) -> Ipv6Addr {
    match address {
        IpAddr::V4(address) => address.to_ipv6_mapped(),
        IpAddr::V6(address) => address,
    }
}
