//! Decoding ctnetlink datagrams (conntrack events and dump replies) into
//! the few facts netmon needs: which connection, its original and reply
//! tuples, and whether it was created or destroyed.
//!
//! Parsed by hand, attribute by attribute, without allocating: a busy node
//! sends two events per connection, and only five attributes of each
//! matter. Anything that does not fit the layout below is reported as
//! [`Malformed`] and skipped, never trusted and never a panic (see the
//! property tests).
//!
//! ```text
//! nlmsghdr (16) | nfgenmsg (4) | attributes...
//!   CTA_TUPLE_ORIG / CTA_TUPLE_REPLY (nested)
//!     CTA_TUPLE_IP (nested): CTA_IP_V4_SRC/DST (4 bytes) or CTA_IP_V6_SRC/DST (16)
//!     CTA_TUPLE_PROTO (nested): CTA_PROTO_NUM (u8), CTA_PROTO_SRC/DST_PORT (be16),
//!                               CTA_PROTO_ICMP[V6]_ID (be16), _TYPE (u8)
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::flow::{DirectionalKey, Endpoint, NatBinding, Protocol};

pub(crate) const NLMSG_HEADER_LEN: usize = 16;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
const NLMSG_MIN_TYPE: u16 = 0x10;
/// `NFNL_SUBSYS_CTNETLINK << 8`: the high byte of a conntrack message type.
pub(crate) const NFNL_SUBSYS_CTNETLINK: u16 = 1;
pub(crate) const IPCTNL_MSG_CT_NEW: u16 = 0;
pub(crate) const IPCTNL_MSG_CT_GET: u16 = 1;
pub(crate) const IPCTNL_MSG_CT_DELETE: u16 = 2;
pub(crate) const NFGENMSG_LEN: usize = 4;

pub(crate) const CTA_TUPLE_ORIG: u16 = 1;
pub(crate) const CTA_TUPLE_REPLY: u16 = 2;
pub(crate) const CTA_TUPLE_IP: u16 = 1;
pub(crate) const CTA_TUPLE_PROTO: u16 = 2;
pub(crate) const CTA_IP_V4_SRC: u16 = 1;
pub(crate) const CTA_IP_V4_DST: u16 = 2;
pub(crate) const CTA_IP_V6_SRC: u16 = 3;
pub(crate) const CTA_IP_V6_DST: u16 = 4;
pub(crate) const CTA_PROTO_NUM: u16 = 1;
pub(crate) const CTA_PROTO_SRC_PORT: u16 = 2;
pub(crate) const CTA_PROTO_DST_PORT: u16 = 3;
pub(crate) const CTA_PROTO_ICMP_ID: u16 = 4;
pub(crate) const CTA_PROTO_ICMP_TYPE: u16 = 5;
pub(crate) const CTA_PROTO_ICMPV6_ID: u16 = 7;
pub(crate) const CTA_PROTO_ICMPV6_TYPE: u16 = 8;
/// `nla_type` carries two flag bits (nested, network byte order).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// One netlink message of a ctnetlink datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// A connection conntrack created (event) or holds (dump reply);
    /// `binding` is `None` when it is not translated or its protocol is
    /// one netmon does not key flows by ports or echo identifiers.
    New(Option<NatBinding>),
    /// A connection conntrack removed.
    Destroy(Option<NatBinding>),
    /// The end of a dump.
    Done,
    /// An acknowledgement (0) or a request's failure (a negative errno).
    Error(i32),
    /// Anything else (other conntrack message types, `NLMSG_NOOP`, ...).
    Ignored,
}

/// Why a message (or the rest of a datagram) could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed ctnetlink message: {0}")]
pub struct Malformed(pub &'static str);

/// The messages of one datagram, in order. A message whose attributes do
/// not decode yields `Err` and the next one is read; a header that does not
/// fit ends the datagram after its `Err`.
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages { rest: datagram }
}

pub struct Messages<'a> {
    rest: &'a [u8],
}

impl Iterator for Messages<'_> {
    type Item = Result<Message, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some(header) = self.rest.get(..NLMSG_HEADER_LEN) else {
            self.rest = &[];
            return Some(Err(Malformed("datagram ends inside a message header")));
        };
        let length = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = u16::from_ne_bytes([header[4], header[5]]);
        if length < NLMSG_HEADER_LEN || length > self.rest.len() {
            self.rest = &[];
            return Some(Err(Malformed("message length outside the datagram")));
        }
        let payload = &self.rest[NLMSG_HEADER_LEN..length];
        self.rest = self.rest.get(align4(length)..).unwrap_or_default();
        Some(decode(kind, payload))
    }
}

fn align4(length: usize) -> usize {
    length.saturating_add(3) & !3
}

fn decode(kind: u16, payload: &[u8]) -> Result<Message, Malformed> {
    match kind {
        NLMSG_DONE => return Ok(Message::Done),
        NLMSG_ERROR => {
            let code = payload
                .get(..4)
                .ok_or(Malformed("error message without an error code"))?;
            return Ok(Message::Error(i32::from_ne_bytes([
                code[0], code[1], code[2], code[3],
            ])));
        }
        kind if kind < NLMSG_MIN_TYPE => return Ok(Message::Ignored),
        _ => {}
    }
    if kind >> 8 != NFNL_SUBSYS_CTNETLINK {
        return Ok(Message::Ignored);
    }
    let destroyed = match kind & 0xff {
        IPCTNL_MSG_CT_NEW => false,
        IPCTNL_MSG_CT_DELETE => true,
        _ => return Ok(Message::Ignored),
    };
    let attributes = payload
        .get(NFGENMSG_LEN..)
        .ok_or(Malformed("conntrack message without its nfgenmsg header"))?;
    let mut original = None;
    let mut reply = None;
    for attribute in Attributes::new(attributes) {
        let (kind, value) = attribute?;
        match kind {
            CTA_TUPLE_ORIG => original = Some(tuple(value)?),
            CTA_TUPLE_REPLY => reply = Some(tuple(value)?),
            _ => {}
        }
    }
    let (Some(original), Some(reply)) = (original, reply) else {
        return Err(Malformed("conntrack entry without both tuples"));
    };
    let binding = match (original, reply) {
        (Some(original), Some(reply)) => NatBinding::translated(original, reply),
        _ => None,
    };
    Ok(if destroyed {
        Message::Destroy(binding)
    } else {
        Message::New(binding)
    })
}

/// The attributes of one nesting level as `(type, value)`.
struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Attributes<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Attributes { rest: bytes }
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<(u16, &'a [u8]), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some(header) = self.rest.get(..4) else {
            self.rest = &[];
            return Some(Err(Malformed("attribute header cut short")));
        };
        let length = usize::from(u16::from_ne_bytes([header[0], header[1]]));
        let kind = u16::from_ne_bytes([header[2], header[3]]) & NLA_TYPE_MASK;
        if length < 4 || length > self.rest.len() {
            self.rest = &[];
            return Some(Err(Malformed("attribute length outside its parent")));
        }
        let value = &self.rest[4..length];
        self.rest = self.rest.get(align4(length)..).unwrap_or_default();
        Some(Ok((kind, value)))
    }
}

/// A tuple as a flow key, keyed like the kernel flow maps key packets
/// (`bpf/netmon_abi.h`); `Ok(None)` for protocols and ICMP messages whose
/// flows are not keyed that way (GRE, ICMP other than echo, ...).
fn tuple(bytes: &[u8]) -> Result<Option<DirectionalKey>, Malformed> {
    let mut addresses = None;
    let mut proto = None;
    for attribute in Attributes::new(bytes) {
        let (kind, value) = attribute?;
        match kind {
            CTA_TUPLE_IP => addresses = Some(tuple_ip(value)?),
            CTA_TUPLE_PROTO => proto = Some(tuple_proto(value)?),
            _ => {}
        }
    }
    let (Some((src_ip, dst_ip)), Some(proto)) = (addresses, proto) else {
        return Err(Malformed("tuple without addresses or protocol"));
    };
    let Some((protocol, src_port, dst_port)) = proto.key_ports() else {
        return Ok(None);
    };
    Ok(Some(DirectionalKey {
        src: Endpoint {
            ip: src_ip,
            port: src_port,
        },
        dst: Endpoint {
            ip: dst_ip,
            port: dst_port,
        },
        protocol,
    }))
}

fn tuple_ip(bytes: &[u8]) -> Result<(IpAddr, IpAddr), Malformed> {
    let (mut src, mut dst) = (None, None);
    for attribute in Attributes::new(bytes) {
        let (kind, value) = attribute?;
        let address = match kind {
            CTA_IP_V4_SRC | CTA_IP_V4_DST => IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(value).map_err(|_| Malformed("IPv4 address not 4 bytes"))?,
            )),
            CTA_IP_V6_SRC | CTA_IP_V6_DST => IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(value).map_err(|_| Malformed("IPv6 address not 16 bytes"))?,
            )),
            _ => continue,
        };
        if matches!(kind, CTA_IP_V4_SRC | CTA_IP_V6_SRC) {
            src = Some(address);
        } else {
            dst = Some(address);
        }
    }
    match (src, dst) {
        (Some(src), Some(dst)) if src.is_ipv4() == dst.is_ipv4() => Ok((src, dst)),
        (Some(_), Some(_)) => Err(Malformed("tuple mixes IPv4 and IPv6")),
        _ => Err(Malformed("tuple without both addresses")),
    }
}

#[derive(Default)]
struct Proto {
    number: Option<u8>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    icmp_id: Option<u16>,
    icmp_type: Option<u8>,
}

impl Proto {
    /// The protocol and the ports a flow key of this tuple has.
    fn key_ports(&self) -> Option<(Protocol, u16, u16)> {
        let protocol = Protocol::from_number(self.number?);
        match protocol {
            Protocol::Tcp | Protocol::Udp | Protocol::Sctp => {
                Some((protocol, self.src_port?, self.dst_port?))
            }
            // Echo requests carry the identifier as the source port, echo
            // replies as the destination port (so a reply's key is the
            // request's reversed).
            Protocol::Icmp | Protocol::Icmpv6 => {
                let id = self.icmp_id?;
                match (protocol, self.icmp_type?) {
                    (Protocol::Icmp, 8) | (Protocol::Icmpv6, 128) => Some((protocol, id, 0)),
                    (Protocol::Icmp, 0) | (Protocol::Icmpv6, 129) => Some((protocol, 0, id)),
                    _ => None,
                }
            }
            Protocol::Other(_) => None,
        }
    }
}

fn tuple_proto(bytes: &[u8]) -> Result<Proto, Malformed> {
    let mut proto = Proto::default();
    for attribute in Attributes::new(bytes) {
        let (kind, value) = attribute?;
        match kind {
            CTA_PROTO_NUM => proto.number = Some(u8_of(value)?),
            CTA_PROTO_SRC_PORT => proto.src_port = Some(be16_of(value)?),
            CTA_PROTO_DST_PORT => proto.dst_port = Some(be16_of(value)?),
            CTA_PROTO_ICMP_ID | CTA_PROTO_ICMPV6_ID => proto.icmp_id = Some(be16_of(value)?),
            CTA_PROTO_ICMP_TYPE | CTA_PROTO_ICMPV6_TYPE => proto.icmp_type = Some(u8_of(value)?),
            _ => {}
        }
    }
    if proto.number.is_none() {
        return Err(Malformed("tuple without a protocol number"));
    }
    Ok(proto)
}

fn u8_of(value: &[u8]) -> Result<u8, Malformed> {
    value
        .first()
        .copied()
        .ok_or(Malformed("empty one-byte attribute"))
}

fn be16_of(value: &[u8]) -> Result<u16, Malformed> {
    match value {
        [high, low, ..] => Ok(u16::from_be_bytes([*high, *low])),
        _ => Err(Malformed("two-byte attribute cut short")),
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
