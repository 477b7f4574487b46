//! The encoder against bytes computed by hand from RFC 7011, and read back
//! with the test decoder.

use std::net::IpAddr;

use super::decode::Decoder;
use super::encoder::MessageEncoder;
use super::record::{EndReason, FlowDirection, IpfixRecord};

/// 2023-11-14T22:13:20Z.
const EXPORT_TIME: u32 = 1_700_000_000;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn tcp_record() -> IpfixRecord {
    IpfixRecord {
        source: ip("10.0.0.1"),
        destination: ip("10.0.0.2"),
        source_port: 40000,
        destination_port: 443,
        protocol: 6,
        // FIN, SYN, PSH, ACK.
        tcp_flags: 0x1b,
        octets: 1000,
        packets: 10,
        start_ms: 1_700_000_000_000,
        end_ms: 1_700_000_001_500,
        direction: Some(FlowDirection::Egress),
        end_reason: EndReason::EndOfFlow,
    }
}

fn udp6_record(source_port: u16) -> IpfixRecord {
    IpfixRecord {
        source: ip("fd00::1"),
        destination: ip("fd00::2"),
        source_port,
        destination_port: 53,
        protocol: 17,
        tcp_flags: 0,
        octets: 300,
        packets: 3,
        start_ms: 1_700_000_000_000,
        end_ms: 1_700_000_000_000,
        direction: None,
        end_reason: EndReason::ActiveTimeout,
    }
}

#[test]
fn an_ipv4_record_is_a_header_a_set_header_and_its_fields_in_template_order() {
    let mut encoder = MessageEncoder::new(7, 1400);
    let messages = encoder.encode(&[tcp_record()], false, EXPORT_TIME);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].data_records, 1);
    #[rustfmt::skip]
    let expected: Vec<u8> = vec![
        // Message header: version 10, length 69, export time, sequence 0, domain 7.
        0x00, 0x0a, 0x00, 0x45,
        0x65, 0x53, 0xf1, 0x00,
        0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x07,
        // Data set of template 256, length 4 + 49.
        0x01, 0x00, 0x00, 0x35,
        // sourceIPv4Address, destinationIPv4Address.
        10, 0, 0, 1,
        10, 0, 0, 2,
        // sourceTransportPort 40000, destinationTransportPort 443.
        0x9c, 0x40, 0x01, 0xbb,
        // protocolIdentifier 6, tcpControlBits 0x001b.
        0x06, 0x00, 0x1b,
        // octetDeltaCount 1000, packetDeltaCount 10.
        0, 0, 0, 0, 0, 0, 0x03, 0xe8,
        0, 0, 0, 0, 0, 0, 0, 0x0a,
        // flowStartMilliseconds, flowEndMilliseconds.
        0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,
        0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x6d, 0xdc,
        // flowEndReason 3 (end of flow), flowDirection 1 (egress).
        0x03, 0x01,
    ];
    assert_eq!(messages[0].bytes, expected);
}

#[test]
fn a_forwarded_ipv6_record_uses_the_template_without_direction() {
    let mut encoder = MessageEncoder::new(1, 1400);
    let messages = encoder.encode(&[udp6_record(5353)], false, EXPORT_TIME);
    let bytes = &messages[0].bytes;
    // 16 header + 4 set header + 72 record.
    assert_eq!(bytes.len(), 92);
    assert_eq!(&bytes[2..4], &[0x00, 0x5c]);
    assert_eq!(
        &bytes[16..20],
        &[0x01, 0x03, 0x00, 0x4c],
        "template 259, 76 bytes"
    );
    #[rustfmt::skip]
    let expected_record: Vec<u8> = [
        &[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1][..],
        &[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        &[0x14, 0xe9, 0x00, 0x35],
        &[17, 0x00, 0x00],
        &[0, 0, 0, 0, 0, 0, 0x01, 0x2c],
        &[0, 0, 0, 0, 0, 0, 0, 0x03],
        &[0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00],
        &[0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00],
        // flowEndReason 2 (active timeout), and no flowDirection.
        &[0x02],
    ]
    .concat();
    assert_eq!(&bytes[20..], &expected_record[..]);
}

#[test]
fn the_template_set_defines_the_four_templates_field_by_field() {
    let mut encoder = MessageEncoder::new(1, 1400);
    let messages = encoder.encode(&[], true, EXPORT_TIME);
    assert_eq!(messages.len(), 1, "templates alone are one message");
    assert_eq!(messages[0].data_records, 0);
    let bytes = &messages[0].bytes;
    // 16 header + 4 set header + 52 + 52 + 48 + 48 template records.
    assert_eq!(bytes.len(), 220);
    assert_eq!(&bytes[0..4], &[0x00, 0x0a, 0x00, 0xdc]);
    assert_eq!(
        &bytes[16..20],
        &[0x00, 0x02, 0x00, 0xcc],
        "set 2, 204 bytes"
    );
    #[rustfmt::skip]
    let ipv4_template: Vec<u8> = vec![
        0x01, 0x00, 0x00, 0x0c, // template 256, 12 fields
        0x00, 0x08, 0x00, 0x04, // sourceIPv4Address
        0x00, 0x0c, 0x00, 0x04, // destinationIPv4Address
        0x00, 0x07, 0x00, 0x02, // sourceTransportPort
        0x00, 0x0b, 0x00, 0x02, // destinationTransportPort
        0x00, 0x04, 0x00, 0x01, // protocolIdentifier
        0x00, 0x06, 0x00, 0x02, // tcpControlBits
        0x00, 0x01, 0x00, 0x08, // octetDeltaCount
        0x00, 0x02, 0x00, 0x08, // packetDeltaCount
        0x00, 0x98, 0x00, 0x08, // flowStartMilliseconds
        0x00, 0x99, 0x00, 0x08, // flowEndMilliseconds
        0x00, 0x88, 0x00, 0x01, // flowEndReason
        0x00, 0x3d, 0x00, 0x01, // flowDirection
    ];
    assert_eq!(&bytes[20..72], &ipv4_template[..]);
    assert_eq!(
        &bytes[72..80],
        &[0x01, 0x01, 0x00, 0x0c, 0x00, 0x1b, 0x00, 0x10]
    );
    assert_eq!(&bytes[124..128], &[0x01, 0x02, 0x00, 0x0b]);
    assert_eq!(
        &bytes[172..180],
        &[0x01, 0x03, 0x00, 0x0b, 0x00, 0x1b, 0x00, 0x10]
    );
}

#[test]
fn nothing_to_send_is_no_message() {
    let mut encoder = MessageEncoder::new(1, 1400);
    assert!(encoder.encode(&[], false, EXPORT_TIME).is_empty());
}

#[test]
fn records_are_split_so_that_no_message_exceeds_the_size_limit() {
    let mut encoder = MessageEncoder::new(1, 512);
    let records = vec![tcp_record(); 30];
    let messages = encoder.encode(&records, true, EXPORT_TIME);
    // 220 of templates + 4 + 5 x 49; then 16 + 4 + 10 x 49 = 510 per message.
    let shape: Vec<(usize, u32)> = messages
        .iter()
        .map(|m| (m.bytes.len(), m.data_records))
        .collect();
    assert_eq!(shape, [(469, 5), (510, 10), (510, 10), (265, 5)]);
}

#[test]
fn the_sequence_number_counts_the_data_records_sent_before_each_message() {
    let mut encoder = MessageEncoder::new(1, 512);
    let messages = encoder.encode(&vec![tcp_record(); 30], true, EXPORT_TIME);
    let sequence = |bytes: &[u8]| u32::from_be_bytes(bytes[8..12].try_into().unwrap());
    let numbers: Vec<u32> = messages.iter().map(|m| sequence(&m.bytes)).collect();
    assert_eq!(numbers, [0, 5, 15, 25]);
    assert_eq!(encoder.sequence_number(), 30);
    // A message of templates only carries the count and does not move it.
    let templates = encoder.encode(&[], true, EXPORT_TIME);
    assert_eq!(sequence(&templates[0].bytes), 30);
    let next = encoder.encode(&[tcp_record()], false, EXPORT_TIME);
    assert_eq!(sequence(&next[0].bytes), 30);
    assert_eq!(encoder.sequence_number(), 31);
}

#[test]
fn the_sequence_number_wraps_modulo_two_to_the_32() {
    let mut encoder = MessageEncoder::new(1, 1400);
    encoder.set_sequence_number(u32::MAX - 1);
    encoder.encode(&vec![tcp_record(); 3], false, EXPORT_TIME);
    assert_eq!(encoder.sequence_number(), 1);
}

#[test]
fn records_of_different_templates_go_in_one_set_each() {
    let mut encoder = MessageEncoder::new(1, 1400);
    let records = [udp6_record(1), tcp_record(), udp6_record(2), tcp_record()];
    let messages = encoder.encode(&records, false, EXPORT_TIME);
    assert_eq!(messages.len(), 1);
    let bytes = &messages[0].bytes;
    // Template 256 first (2 x 49), then 259 (2 x 72).
    assert_eq!(bytes.len(), 16 + 4 + 98 + 4 + 144);
    assert_eq!(&bytes[16..20], &[0x01, 0x00, 0x00, 0x66]);
    assert_eq!(&bytes[118..122], &[0x01, 0x03, 0x00, 0x94]);
}

#[test]
fn messages_read_back_into_the_records_they_were_made_of() {
    let mut encoder = MessageEncoder::new(42, 600);
    let mut records = Vec::new();
    for n in 0..20u16 {
        let mut v4 = tcp_record();
        v4.source_port = 30000 + n;
        v4.octets = 1_000_000_000_000 + u64::from(n);
        v4.direction = if n % 2 == 0 {
            Some(FlowDirection::Ingress)
        } else {
            None
        };
        records.push(v4);
        let mut v6 = udp6_record(n);
        v6.direction = Some(FlowDirection::Egress);
        v6.end_reason = EndReason::LackOfResources;
        records.push(v6);
    }
    let messages = encoder.encode(&records, true, EXPORT_TIME);
    assert!(messages.len() > 1, "600 bytes cannot hold 40 records");
    let mut decoder = Decoder::default();
    let mut read = Vec::new();
    let mut expected_sequence = 0;
    for message in &messages {
        assert!(message.bytes.len() <= 600);
        let decoded = decoder.decode(&message.bytes).unwrap();
        assert_eq!(decoded.version, 10);
        assert_eq!(decoded.observation_domain_id, 42);
        assert_eq!(decoded.export_time, EXPORT_TIME);
        assert_eq!(decoded.sequence_number, expected_sequence);
        expected_sequence += decoded.records.len() as u32;
        read.extend(decoded.records.into_iter().map(|(_, record)| record));
    }
    let template_of = |r: &IpfixRecord| super::templates::for_record(r).id;
    let mut expected = records.clone();
    expected.sort_by_key(template_of);
    assert_eq!(read, expected);
}

#[test]
fn a_record_with_one_ipv4_and_one_ipv6_end_is_sent_as_ipv6_with_the_ipv4_address_mapped() {
    let mut record = tcp_record();
    record.destination = ip("fd00::2");
    let mut encoder = MessageEncoder::new(1, 1400);
    let messages = encoder.encode(&[record], true, EXPORT_TIME);
    let decoded = Decoder::default().decode(&messages[0].bytes).unwrap();
    assert_eq!(decoded.records[0].0, 257);
    assert_eq!(decoded.records[0].1.source, ip("::ffff:10.0.0.1"));
    assert_eq!(decoded.records[0].1.destination, ip("fd00::2"));
}
