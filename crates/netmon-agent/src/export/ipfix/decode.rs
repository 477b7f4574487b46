//! A collector's side of the encoding, for tests: reads messages back into
//! records with the templates the messages themselves carried, the way a
//! collector must (a data set of an unknown template cannot be read).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::elements::Element;
use super::record::{EndReason, FlowDirection, IpfixRecord};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedMessage {
    pub version: u16,
    pub length: u16,
    pub export_time: u32,
    pub sequence_number: u32,
    pub observation_domain_id: u32,
    /// Template IDs defined by this message's template sets.
    pub templates: Vec<u16>,
    /// Data records with the ID of the template they were read with.
    pub records: Vec<(u16, IpfixRecord)>,
}

/// Templates learnt so far, by ID: their (element, length) pairs.
#[derive(Debug, Default)]
pub struct Decoder {
    templates: HashMap<u16, Vec<(u16, u16)>>,
}

impl Decoder {
    pub fn decode(&mut self, bytes: &[u8]) -> Result<DecodedMessage, String> {
        let mut reader = Reader { bytes, at: 0 };
        let version = reader.u16()?;
        let length = reader.u16()?;
        if usize::from(length) != bytes.len() {
            return Err(format!(
                "length field {length}, message {} bytes",
                bytes.len()
            ));
        }
        let mut message = DecodedMessage {
            version,
            length,
            export_time: reader.u32()?,
            sequence_number: reader.u32()?,
            observation_domain_id: reader.u32()?,
            templates: Vec::new(),
            records: Vec::new(),
        };
        while reader.at < bytes.len() {
            let set_start = reader.at;
            let set_id = reader.u16()?;
            let set_length = usize::from(reader.u16()?);
            let set_end = set_start + set_length;
            if set_length < 4 || set_end > bytes.len() {
                return Err(format!(
                    "set {set_id} of length {set_length} at {set_start}"
                ));
            }
            match set_id {
                2 => {
                    while reader.at < set_end {
                        let id = reader.u16()?;
                        let count = reader.u16()?;
                        let mut fields = Vec::new();
                        for _ in 0..count {
                            fields.push((reader.u16()?, reader.u16()?));
                        }
                        self.templates.insert(id, fields);
                        message.templates.push(id);
                    }
                }
                id if id >= 256 => {
                    let fields = self
                        .templates
                        .get(&id)
                        .ok_or_else(|| format!("data set of unknown template {id}"))?
                        .clone();
                    let record_length: usize = fields.iter().map(|(_, l)| usize::from(*l)).sum();
                    while set_end - reader.at >= record_length {
                        message
                            .records
                            .push((id, read_record(&mut reader, &fields)?));
                    }
                    reader.at = set_end;
                }
                other => return Err(format!("unexpected set id {other}")),
            }
            if reader.at != set_end {
                return Err(format!(
                    "set {set_id} ended at {}, not {set_end}",
                    reader.at
                ));
            }
        }
        Ok(message)
    }
}

fn read_record(reader: &mut Reader<'_>, fields: &[(u16, u16)]) -> Result<IpfixRecord, String> {
    let mut record = IpfixRecord {
        source: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        destination: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        source_port: 0,
        destination_port: 0,
        protocol: 0,
        tcp_flags: 0,
        octets: 0,
        packets: 0,
        start_ms: 0,
        end_ms: 0,
        direction: None,
        end_reason: EndReason::ForcedEnd,
    };
    for &(id, length) in fields {
        let value = reader.take(usize::from(length))?;
        let element = Element::from_id(id).ok_or_else(|| format!("unknown element {id}"))?;
        if length != element.length() {
            return Err(format!("{element:?} with length {length}"));
        }
        let number = value.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
        match element {
            Element::SourceIpv4Address => record.source = ipv4(value),
            Element::DestinationIpv4Address => record.destination = ipv4(value),
            Element::SourceIpv6Address => record.source = ipv6(value),
            Element::DestinationIpv6Address => record.destination = ipv6(value),
            Element::SourceTransportPort => record.source_port = number as u16,
            Element::DestinationTransportPort => record.destination_port = number as u16,
            Element::ProtocolIdentifier => record.protocol = number as u8,
            Element::TcpControlBits => record.tcp_flags = number as u16,
            Element::OctetDeltaCount => record.octets = number,
            Element::PacketDeltaCount => record.packets = number,
            Element::FlowStartMilliseconds => record.start_ms = number,
            Element::FlowEndMilliseconds => record.end_ms = number,
            Element::FlowDirection => record.direction = FlowDirection::from_code(number as u8),
            Element::FlowEndReason => {
                record.end_reason = EndReason::from_code(number as u8)
                    .ok_or_else(|| format!("flowEndReason {number}"))?
            }
        }
    }
    Ok(record)
}

fn ipv4(value: &[u8]) -> IpAddr {
    let octets: [u8; 4] = value.try_into().unwrap_or_default();
    IpAddr::V4(Ipv4Addr::from(octets))
}

fn ipv6(value: &[u8]) -> IpAddr {
    let octets: [u8; 16] = value.try_into().unwrap_or_default();
    IpAddr::V6(Ipv6Addr::from(octets))
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at + n;
        let slice = self
            .bytes
            .get(self.at..end)
            .ok_or_else(|| format!("message ends before byte {end}"))?;
        self.at = end;
        Ok(slice)
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}
