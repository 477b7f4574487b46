//! DNS messages (RFC 1035 §4.1), over UDP or TCP.
//!
//! netmon reads the header, the first question and the address and alias
//! records of the answer section: enough to count queries and response
//! codes per query type and to learn which names an address was resolved
//! from. The authority and additional sections are not read.
//!
//! Names are decoded with compression pointers followed; a pointer loop or
//! a name over 255 bytes is an error, never a hang. Names come out
//! lowercased without the trailing dot (the root is "."); a byte that is
//! not visible ASCII, or a '.' inside a label, becomes '?', so that a name
//! is always at most 253 bytes of printable text.
//!
//! A capture may stop anywhere: parsing then stops at the first question or
//! record cut short and says so in [`DnsMessage::truncated_capture`]; only a
//! header cut short is an error.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

/// Bytes in a DNS header.
pub const HEADER_LEN: usize = 12;
/// Most answer records kept per message.
pub const MAX_ANSWERS: usize = 32;
/// Longest name on the wire, length octets and the root label included.
const MAX_NAME_WIRE_LEN: usize = 255;
/// Most compression pointers followed in one name. A name has at most 127
/// labels, so a well-formed name never needs more.
const MAX_POINTER_JUMPS: usize = 128;

const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_AAAA: u16 = 28;

/// Why bytes are not a DNS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DnsError {
    #[error("{have} bytes are fewer than a DNS header")]
    TooShort { have: usize },
    /// The TCP length prefix is shorter than a header.
    #[error("TCP length prefix {length} is shorter than a DNS header")]
    BadTcpLength { length: u16 },
    #[error("name longer than 255 bytes")]
    NameTooLong,
    /// More compression pointers than a name can need: a loop.
    #[error("more than 128 compression pointers in one name")]
    TooManyPointers,
    /// Label types 01 and 10 (RFC 6891 §5) are not in use.
    #[error("label type {label:#04x} is not in use")]
    BadLabelType { label: u8 },
    /// A record whose data does not fit its type.
    #[error("record of type {rtype} with {length} bytes of data")]
    BadRdata { rtype: u16, length: u16 },
}

/// A DNS message, as far as it was captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    pub id: u16,
    /// QR: a response rather than a query.
    pub is_response: bool,
    pub opcode: u8,
    /// The 4-bit header RCODE (extended codes live in an OPT record).
    pub rcode: u8,
    /// TC: the sender truncated the message (the answer did not fit UDP).
    pub truncated_flag: bool,
    /// The first question, when present and captured whole.
    pub question: Option<DnsQuestion>,
    /// A, AAAA and CNAME records of the answer section, at most
    /// [`MAX_ANSWERS`], in order.
    pub answers: Vec<DnsAnswer>,
    /// The capture ended before the end of the question or answer section.
    pub truncated_capture: bool,
}

/// A question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuestion {
    /// Lowercased, without the trailing dot; "." for the root.
    pub name: String,
    /// See [`qtype_name`] and [`qtype_label`].
    pub qtype: u16,
    pub qclass: u16,
}

/// The data of a kept answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsRecordData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// The canonical name the owner is an alias of.
    Cname(String),
}

/// An answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsAnswer {
    /// The owner name.
    pub name: String,
    /// Seconds the record may be cached.
    pub ttl: u32,
    pub data: DnsRecordData,
}

/// Whether a message is a query or a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsDirection {
    Query,
    Response,
}

/// Why reading stopped: the capture ended, or the message is malformed.
enum Stop {
    CutShort,
    Invalid(DnsError),
}

impl From<DnsError> for Stop {
    fn from(error: DnsError) -> Self {
        Stop::Invalid(error)
    }
}

/// A decoded name.
struct Name {
    text: String,
    /// Only letters, digits, '-' and '_' in its labels (or the root): what
    /// host names and service labels are made of.
    host_like: bool,
}

/// The fixed header fields.
struct Header {
    id: u16,
    flags: u16,
    qdcount: u16,
    ancount: u16,
}

impl Header {
    fn parse(bytes: &[u8]) -> Result<Header, DnsError> {
        let word = |i: usize| u16::from_be_bytes([bytes[i], bytes[i + 1]]);
        if bytes.len() < HEADER_LEN {
            return Err(DnsError::TooShort { have: bytes.len() });
        }
        Ok(Header {
            id: word(0),
            flags: word(2),
            qdcount: word(4),
            ancount: word(6),
        })
    }

    fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0f) as u8
    }

    /// The Z bit, which must be zero (RFC 1035 §4.1.1; AD and CD, its
    /// former neighbours, are separate bits).
    fn z(&self) -> bool {
        self.flags & 0x0040 != 0
    }

    fn rcode(&self) -> u8 {
        (self.flags & 0x000f) as u8
    }
}

/// Parses a DNS message as carried by UDP.
pub fn parse_message(bytes: &[u8]) -> Result<DnsMessage, DnsError> {
    let header = Header::parse(bytes)?;
    let mut message = DnsMessage {
        id: header.id,
        is_response: header.is_response(),
        opcode: header.opcode(),
        rcode: header.rcode(),
        truncated_flag: header.flags & 0x0200 != 0,
        question: None,
        answers: Vec::new(),
        truncated_capture: false,
    };
    let mut pos = HEADER_LEN;
    for index in 0..header.qdcount {
        match read_question(bytes, pos) {
            Ok((question, _, next)) => {
                if index == 0 {
                    message.question = Some(question);
                }
                pos = next;
            }
            Err(Stop::CutShort) => {
                message.truncated_capture = true;
                return Ok(message);
            }
            Err(Stop::Invalid(error)) => return Err(error),
        }
    }
    for _ in 0..header.ancount {
        if message.answers.len() == MAX_ANSWERS {
            break;
        }
        match read_record(bytes, pos) {
            Ok((answer, next)) => {
                message.answers.extend(answer);
                pos = next;
            }
            Err(Stop::CutShort) => {
                message.truncated_capture = true;
                break;
            }
            Err(Stop::Invalid(error)) => return Err(error),
        }
    }
    Ok(message)
}

/// Parses a DNS message as carried by TCP: a 2-byte length, then the
/// message, of which the capture may hold only the start.
pub fn parse_tcp_message(bytes: &[u8]) -> Result<DnsMessage, DnsError> {
    parse_message(split_tcp(bytes)?)
}

/// The (captured part of the) message after the length prefix.
fn split_tcp(bytes: &[u8]) -> Result<&[u8], DnsError> {
    let [hi, lo, rest @ ..] = bytes else {
        return Err(DnsError::TooShort { have: bytes.len() });
    };
    let length = u16::from_be_bytes([*hi, *lo]);
    if usize::from(length) < HEADER_LEN {
        return Err(DnsError::BadTcpLength { length });
    }
    Ok(&rest[..rest.len().min(usize::from(length))])
}

/// Whether `bytes` (a UDP payload) look like a DNS query or response, and
/// which: a header with one question, the standard query opcode, the Z bit
/// clear and a valid response code, then that question complete, with a
/// host-name-like name and a class in use (IN, CH, HS or ANY; mDNS's
/// unicast-response bit allowed). Strict on purpose: it runs on UDP
/// payloads of any port.
pub fn sniff(bytes: &[u8]) -> Option<DnsDirection> {
    let header = Header::parse(bytes).ok()?;
    let direction = if header.is_response() {
        DnsDirection::Response
    } else {
        DnsDirection::Query
    };
    let rcode_ok = match direction {
        DnsDirection::Query => header.rcode() == 0,
        DnsDirection::Response => header.rcode() <= 10,
    };
    if header.qdcount != 1 || header.opcode() != 0 || header.z() || !rcode_ok {
        return None;
    }
    let (question, host_like, _) = read_question(bytes, HEADER_LEN).ok()?;
    let class_ok = matches!(question.qclass & 0x7fff, 1 | 3 | 4 | 255);
    (host_like && class_ok && question.qtype != 0).then_some(direction)
}

/// [`sniff`] for a TCP payload (length prefix first).
pub fn sniff_tcp(bytes: &[u8]) -> Option<DnsDirection> {
    sniff(split_tcp(bytes).ok()?)
}

/// Reads a question at `pos`: the question, whether its name is host-like,
/// and the offset after it.
fn read_question(message: &[u8], pos: usize) -> Result<(DnsQuestion, bool, usize), Stop> {
    let (name, pos) = read_name(message, pos)?;
    let qtype = read_u16(message, pos)?;
    let qclass = read_u16(message, pos + 2)?;
    let question = DnsQuestion {
        name: name.text,
        qtype,
        qclass,
    };
    Ok((question, name.host_like, pos + 4))
}

/// Reads a resource record at `pos`: the answer when it is a kept type, and
/// the offset after it.
fn read_record(message: &[u8], pos: usize) -> Result<(Option<DnsAnswer>, usize), Stop> {
    let (owner, pos) = read_name(message, pos)?;
    let rtype = read_u16(message, pos)?;
    let ttl = u32::from(read_u16(message, pos + 4)?) << 16 | u32::from(read_u16(message, pos + 6)?);
    let length = read_u16(message, pos + 8)?;
    let start = pos + 10;
    let end = start + usize::from(length);
    let rdata = message.get(start..end).ok_or(Stop::CutShort)?;
    let bad = Stop::Invalid(DnsError::BadRdata { rtype, length });
    let data = match rtype {
        TYPE_A => DnsRecordData::A(Ipv4Addr::from(<[u8; 4]>::try_from(rdata).map_err(|_| bad)?)),
        TYPE_AAAA => DnsRecordData::Aaaa(Ipv6Addr::from(
            <[u8; 16]>::try_from(rdata).map_err(|_| bad)?,
        )),
        TYPE_CNAME => {
            let (target, after) = read_name(message, start)?;
            if after != end {
                return Err(bad);
            }
            DnsRecordData::Cname(target.text)
        }
        _ => return Ok((None, end)),
    };
    let answer = DnsAnswer {
        name: owner.text,
        ttl,
        data,
    };
    Ok((Some(answer), end))
}

fn read_u16(message: &[u8], pos: usize) -> Result<u16, Stop> {
    match message.get(pos..pos + 2) {
        Some(&[hi, lo]) => Ok(u16::from_be_bytes([hi, lo])),
        _ => Err(Stop::CutShort),
    }
}

/// Reads the name at `pos` (RFC 1035 §4.1.4); returns it and the offset
/// after its in-place part (after the first pointer, if any).
fn read_name(message: &[u8], mut pos: usize) -> Result<(Name, usize), Stop> {
    let mut text = String::new();
    let mut host_like = true;
    let mut wire_len = 0;
    let mut jumps = 0;
    let mut after = None;
    loop {
        let len = *message.get(pos).ok_or(Stop::CutShort)?;
        match len & 0xc0 {
            0x00 => {
                let len = usize::from(len);
                wire_len += 1 + len;
                if wire_len > MAX_NAME_WIRE_LEN {
                    return Err(DnsError::NameTooLong.into());
                }
                if len == 0 {
                    break;
                }
                let label = message.get(pos + 1..pos + 1 + len).ok_or(Stop::CutShort)?;
                if !text.is_empty() {
                    text.push('.');
                }
                for &byte in label {
                    host_like &= byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_';
                    let printable = byte.is_ascii_graphic() && byte != b'.';
                    text.push(if printable {
                        char::from(byte.to_ascii_lowercase())
                    } else {
                        '?'
                    });
                }
                pos += 1 + len;
            }
            0xc0 => {
                let low = *message.get(pos + 1).ok_or(Stop::CutShort)?;
                after.get_or_insert(pos + 2);
                jumps += 1;
                if jumps > MAX_POINTER_JUMPS {
                    return Err(DnsError::TooManyPointers.into());
                }
                pos = usize::from(len & 0x3f) << 8 | usize::from(low);
            }
            _ => return Err(DnsError::BadLabelType { label: len }.into()),
        }
    }
    if text.is_empty() {
        text.push('.');
    }
    let after = after.unwrap_or(pos + 1);
    Ok((Name { text, host_like }, after))
}

/// The mnemonic of a query type (RFC 3597 `TYPEn` for unnamed ones):
/// unbounded, for logs and the API. Metric labels use [`qtype_label`].
pub fn qtype_name(qtype: u16) -> Cow<'static, str> {
    match known_qtype(qtype) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(format!("TYPE{qtype}")),
    }
}

/// The mnemonic of a query type, or "OTHER": a bounded set for metric
/// labels.
pub fn qtype_label(qtype: u16) -> &'static str {
    known_qtype(qtype).unwrap_or("OTHER")
}

fn known_qtype(qtype: u16) -> Option<&'static str> {
    Some(match qtype {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        43 => "DS",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => return None,
    })
}

/// The mnemonic of a header RCODE (RFC 6895 §2.3), "OTHER" for the
/// unassigned 11..=15: a bounded set for metric labels.
pub fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => "OTHER",
    }
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;
