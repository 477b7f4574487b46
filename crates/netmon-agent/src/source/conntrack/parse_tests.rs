use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

const NLA_F_NESTED: u16 = 0x8000;
const NLA_F_NET_BYTEORDER: u16 = 0x4000;

// A small encoder of the kernel's layout, for building test datagrams.

fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out
}

fn nested(kind: u16, children: &[Vec<u8>]) -> Vec<u8> {
    attr(kind | NLA_F_NESTED, &children.concat())
}

fn tuple_attr(kind: u16, key: &DirectionalKey) -> Vec<u8> {
    let ip = match (key.src.ip, key.dst.ip) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => vec![
            attr(CTA_IP_V4_SRC | NLA_F_NET_BYTEORDER, &src.octets()),
            attr(CTA_IP_V4_DST | NLA_F_NET_BYTEORDER, &dst.octets()),
        ],
        (IpAddr::V6(src), IpAddr::V6(dst)) => vec![
            attr(CTA_IP_V6_SRC | NLA_F_NET_BYTEORDER, &src.octets()),
            attr(CTA_IP_V6_DST | NLA_F_NET_BYTEORDER, &dst.octets()),
        ],
        _ => panic!("mixed families"),
    };
    let number = key.protocol.number();
    let mut proto = vec![attr(CTA_PROTO_NUM, &[number])];
    match key.protocol {
        Protocol::Icmp | Protocol::Icmpv6 => {
            let v6 = key.protocol == Protocol::Icmpv6;
            let (id, kind) = if key.dst.port == 0 {
                (key.src.port, if v6 { 128 } else { 8 })
            } else {
                (key.dst.port, if v6 { 129 } else { 0 })
            };
            let (id_attr, type_attr) = if v6 {
                (CTA_PROTO_ICMPV6_ID, CTA_PROTO_ICMPV6_TYPE)
            } else {
                (CTA_PROTO_ICMP_ID, CTA_PROTO_ICMP_TYPE)
            };
            proto.push(attr(id_attr | NLA_F_NET_BYTEORDER, &id.to_be_bytes()));
            proto.push(attr(type_attr, &[kind]));
            proto.push(attr(type_attr + 1, &[0])); // code
        }
        _ => {
            proto.push(attr(
                CTA_PROTO_SRC_PORT | NLA_F_NET_BYTEORDER,
                &key.src.port.to_be_bytes(),
            ));
            proto.push(attr(
                CTA_PROTO_DST_PORT | NLA_F_NET_BYTEORDER,
                &key.dst.port.to_be_bytes(),
            ));
        }
    }
    nested(
        kind,
        &[nested(CTA_TUPLE_IP, &ip), nested(CTA_TUPLE_PROTO, &proto)],
    )
}

fn message(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((NLMSG_HEADER_LEN + payload.len()) as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&0u16.to_ne_bytes()); // flags
    out.extend_from_slice(&7u32.to_ne_bytes()); // sequence
    out.extend_from_slice(&0u32.to_ne_bytes()); // port
    out.extend_from_slice(payload);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out
}

/// A conntrack event as the kernel sends it: status, mark and timeout
/// attributes around the tuples, which the parser must skip.
fn event(msg: u16, original: &DirectionalKey, reply: &DirectionalKey) -> Vec<u8> {
    let family = if original.src.ip.is_ipv4() { 2u8 } else { 10 };
    let mut payload = vec![family, 0, 0, 0];
    payload.extend(tuple_attr(CTA_TUPLE_ORIG, original));
    payload.extend(tuple_attr(CTA_TUPLE_REPLY, reply));
    payload.extend(attr(3 | NLA_F_NET_BYTEORDER, &0x1b8u32.to_be_bytes())); // CTA_STATUS
    payload.extend(attr(7 | NLA_F_NET_BYTEORDER, &120u32.to_be_bytes())); // CTA_TIMEOUT
    message(NFNL_SUBSYS_CTNETLINK << 8 | msg, &payload)
}

fn all(datagram: &[u8]) -> Vec<Result<Message, Malformed>> {
    messages(datagram).collect()
}

fn v4(host: u8, port: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)),
        port,
    }
}

fn key(src: Endpoint, dst: Endpoint, protocol: Protocol) -> DirectionalKey {
    DirectionalKey { src, dst, protocol }
}

#[test]
fn a_dnat_event_decodes_to_its_original_and_reply_tuples() {
    let original = key(v4(1, 40000), v4(100, 80), Protocol::Tcp);
    let reply = key(v4(2, 8080), v4(1, 40000), Protocol::Tcp);
    let datagram = event(IPCTNL_MSG_CT_NEW, &original, &reply);
    assert_eq!(
        all(&datagram),
        vec![Ok(Message::New(NatBinding::translated(original, reply)))]
    );
    let destroyed = event(IPCTNL_MSG_CT_DELETE, &original, &reply);
    assert_eq!(
        all(&destroyed),
        vec![Ok(Message::Destroy(NatBinding::translated(
            original, reply
        )))]
    );
}

#[test]
fn an_untranslated_entry_has_no_binding() {
    let original = key(v4(1, 40000), v4(2, 80), Protocol::Udp);
    let datagram = event(IPCTNL_MSG_CT_NEW, &original, &original.reversed());
    assert_eq!(all(&datagram), vec![Ok(Message::New(None))]);
}

#[test]
fn ipv6_and_icmp_echo_tuples_are_keyed_like_the_kernel_flow_maps() {
    let host = |last: u16, port| Endpoint {
        ip: IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, last)),
        port,
    };
    let original = key(host(1, 5353), host(0x100, 53), Protocol::Udp);
    let reply = key(host(2, 53), host(1, 5353), Protocol::Udp);
    assert_eq!(
        all(&event(IPCTNL_MSG_CT_NEW, &original, &reply)),
        vec![Ok(Message::New(NatBinding::translated(original, reply)))]
    );

    // A masqueraded ping: request id 7 from 10.0.0.1, reply to the
    // node's address with the id conntrack chose.
    let request = key(v4(1, 7), v4(9, 0), Protocol::Icmp);
    let answer = key(v4(9, 0), v4(254, 9), Protocol::Icmp);
    let binding = NatBinding::translated(request, answer);
    assert!(binding.is_some());
    assert_eq!(
        all(&event(IPCTNL_MSG_CT_NEW, &request, &answer)),
        vec![Ok(Message::New(binding))]
    );
}

#[test]
fn protocols_without_port_keys_are_decoded_without_a_binding() {
    let gre = key(v4(1, 0), v4(2, 0), Protocol::Other(47));
    let mut payload = vec![2u8, 0, 0, 0];
    for (kind, k) in [(CTA_TUPLE_ORIG, gre), (CTA_TUPLE_REPLY, gre.reversed())] {
        let ip = vec![
            attr(CTA_IP_V4_SRC, &[10, 0, 0, 1]),
            attr(CTA_IP_V4_DST, &[10, 0, 0, 2]),
        ];
        let _ = k;
        let proto = vec![attr(CTA_PROTO_NUM, &[47])];
        payload.extend(nested(
            kind,
            &[nested(CTA_TUPLE_IP, &ip), nested(CTA_TUPLE_PROTO, &proto)],
        ));
    }
    let datagram = message(NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW, &payload);
    assert_eq!(all(&datagram), vec![Ok(Message::New(None))]);
}

#[test]
fn a_dump_datagram_holds_several_messages_then_done_and_errors_carry_their_code() {
    let original = key(v4(1, 40000), v4(100, 80), Protocol::Tcp);
    let reply = key(v4(2, 8080), v4(1, 40000), Protocol::Tcp);
    let mut datagram = event(IPCTNL_MSG_CT_NEW, &original, &reply);
    datagram.extend(event(IPCTNL_MSG_CT_NEW, &reply.reversed(), &reply));
    datagram.extend(message(NLMSG_DONE, &0i32.to_ne_bytes()));
    let decoded = all(&datagram);
    assert_eq!(decoded.len(), 3);
    assert_eq!(decoded[2], Ok(Message::Done));
    assert_eq!(decoded[1], Ok(Message::New(None)));

    let mut error = (-1i32).to_ne_bytes().to_vec();
    error.extend([0u8; 16]);
    assert_eq!(
        all(&message(NLMSG_ERROR, &error)),
        vec![Ok(Message::Error(-1))]
    );
    assert_eq!(all(&message(1, &[])), vec![Ok(Message::Ignored)], "NOOP");
    assert_eq!(
        all(&message(
            NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET,
            &[2, 0, 0, 0]
        )),
        vec![Ok(Message::Ignored)]
    );
}

#[test]
fn a_message_missing_a_tuple_is_malformed_and_the_next_one_still_decodes() {
    let original = key(v4(1, 40000), v4(100, 80), Protocol::Tcp);
    let reply = key(v4(2, 8080), v4(1, 40000), Protocol::Tcp);
    let mut payload = vec![2u8, 0, 0, 0];
    payload.extend(tuple_attr(CTA_TUPLE_ORIG, &original));
    let mut datagram = message(NFNL_SUBSYS_CTNETLINK << 8, &payload);
    datagram.extend(event(IPCTNL_MSG_CT_NEW, &original, &reply));
    let decoded = all(&datagram);
    assert_eq!(
        decoded[0],
        Err(Malformed("conntrack entry without both tuples"))
    );
    assert!(matches!(decoded[1], Ok(Message::New(Some(_)))));
}

#[test]
fn a_length_past_the_datagram_ends_it() {
    let original = key(v4(1, 40000), v4(100, 80), Protocol::Tcp);
    let reply = key(v4(2, 8080), v4(1, 40000), Protocol::Tcp);
    let whole = event(IPCTNL_MSG_CT_NEW, &original, &reply);
    let cut = &whole[..whole.len() - 5];
    assert_eq!(
        all(cut),
        vec![Err(Malformed("message length outside the datagram"))]
    );
    assert_eq!(
        all(&whole[..10]),
        vec![Err(Malformed("datagram ends inside a message header"))]
    );
}

// ---------------------------------------------------------------------------
// Properties: decoding inverts encoding, and no input makes it panic.

fn endpoint(v6: bool) -> impl Strategy<Value = Endpoint> {
    (any::<[u8; 16]>(), any::<u16>()).prop_map(move |(bytes, port)| Endpoint {
        ip: if v6 {
            IpAddr::V6(Ipv6Addr::from(bytes))
        } else {
            IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
        },
        port,
    })
}

fn tuple_pair() -> impl Strategy<Value = (DirectionalKey, DirectionalKey)> {
    (
        any::<bool>(),
        prop::sample::select(vec![Protocol::Tcp, Protocol::Udp, Protocol::Sctp]),
    )
        .prop_flat_map(|(v6, protocol)| {
            (endpoint(v6), endpoint(v6), endpoint(v6), endpoint(v6))
                .prop_map(move |(a, b, c, d)| (key(a, b, protocol), key(c, d, protocol)))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn every_encoded_event_decodes_to_its_tuples(
        events in prop::collection::vec((tuple_pair(), any::<bool>()), 1..5)
    ) {
        let mut datagram = Vec::new();
        let mut expected = Vec::new();
        for ((original, reply), destroyed) in events {
            let binding = NatBinding::translated(original, reply);
            if destroyed {
                datagram.extend(event(IPCTNL_MSG_CT_DELETE, &original, &reply));
                expected.push(Ok(Message::Destroy(binding)));
            } else {
                datagram.extend(event(IPCTNL_MSG_CT_NEW, &original, &reply));
                expected.push(Ok(Message::New(binding)));
            }
        }
        prop_assert_eq!(all(&datagram), expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = all(&bytes);
    }

    #[test]
    fn corrupted_events_never_panic_nor_invent_messages(
        (original, reply) in tuple_pair(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
    ) {
        let mut datagram = event(IPCTNL_MSG_CT_NEW, &original, &reply);
        for (at, value) in flips {
            let at = at.index(datagram.len());
            datagram[at] = value;
        }
        let cut = cut.index(datagram.len() + 1);
        // Every message takes at least a header's worth of bytes.
        prop_assert!(all(&datagram[..cut]).len() <= cut / NLMSG_HEADER_LEN + 1);
    }
}
