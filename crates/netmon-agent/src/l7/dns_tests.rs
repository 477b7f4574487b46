use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::l7::test_samples::{self, hex};

fn question(name: &str, qtype: u16) -> Option<DnsQuestion> {
    Some(DnsQuestion {
        name: name.into(),
        qtype,
        qclass: 1,
    })
}

/// A header with `qdcount`/`ancount`, then `body`.
fn message(id: u16, flags: u16, qdcount: u16, ancount: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [id, flags, qdcount, ancount, 0, 0] {
        out.extend(word.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

#[test]
fn a_dig_query_has_its_question_and_no_answers() {
    assert_eq!(
        parse_message(&hex(test_samples::DIG_QUERY)),
        Ok(DnsMessage {
            id: 0x1a2b,
            is_response: false,
            opcode: 0,
            rcode: 0,
            truncated_flag: false,
            question: question("example.com", 1),
            answers: vec![],
            truncated_capture: false,
        })
    );
}

#[test]
fn a_response_follows_compression_pointers_and_chains_of_them() {
    let parsed = parse_message(&hex(test_samples::WWW_RESPONSE)).unwrap();
    assert!(parsed.is_response);
    assert_eq!(parsed.rcode, 0);
    assert_eq!(parsed.question, question("www.example.com", 1));
    assert_eq!(
        parsed.answers,
        [
            DnsAnswer {
                name: "www.example.com".into(),
                ttl: 3600,
                data: DnsRecordData::Cname("example.com".into()),
            },
            DnsAnswer {
                name: "example.com".into(),
                ttl: 300,
                data: DnsRecordData::A(Ipv4Addr::new(93, 184, 215, 14)),
            },
        ]
    );
    assert!(!parsed.truncated_capture);
}

#[test]
fn an_nxdomain_response_has_rcode_3_and_no_answers() {
    let parsed = parse_message(&hex(test_samples::NXDOMAIN_RESPONSE)).unwrap();
    assert_eq!(
        (parsed.id, parsed.rcode, rcode_name(parsed.rcode)),
        (0xbeef, 3, "NXDOMAIN")
    );
    assert_eq!(parsed.question, question("nope.netmon.test", 1));
    assert_eq!(parsed.answers, []);
}

#[test]
fn aaaa_records_are_kept_and_other_types_skipped() {
    let mut body = hex("04 686f7374 00 001c 0001");
    // A TXT record (skipped), then the AAAA.
    body.extend(hex("c00c 0010 0001 0000003c 0004 03 616263"));
    body.extend(hex(
        "c00c 001c 0001 0000003c 0010 20010db8000000000000000000000001",
    ));
    let parsed = parse_message(&message(7, 0x8180, 1, 2, &body)).unwrap();
    assert_eq!(
        parsed.answers,
        [DnsAnswer {
            name: "host".into(),
            ttl: 60,
            data: DnsRecordData::Aaaa(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        }]
    );
}

#[test]
fn names_are_lowercased_and_the_root_is_a_dot() {
    let body = hex("07 4558414d504c45 03 434f4d 00 0001 0001");
    let parsed = parse_message(&message(1, 0x0100, 1, 0, &body)).unwrap();
    assert_eq!(parsed.question, question("example.com", 1));
    let root = parse_message(&message(1, 0x0100, 1, 0, &hex("00 0002 0001"))).unwrap();
    assert_eq!(root.question, question(".", 2));
}

#[test]
fn unprintable_label_bytes_become_question_marks() {
    let body = hex("03 61002e 00 0001 0001");
    let parsed = parse_message(&message(1, 0x0100, 1, 0, &body)).unwrap();
    assert_eq!(parsed.question.unwrap().name, "a??");
}

#[test]
fn a_pointer_loop_is_an_error() {
    // The question's name is a pointer to itself.
    let looped = message(1, 0x0100, 1, 0, &hex("c00c 0001 0001"));
    assert_eq!(parse_message(&looped), Err(DnsError::TooManyPointers));
    // Two pointers pointing at each other.
    let ping_pong = message(1, 0x8180, 1, 1, &hex("c00e c00c 0001 0001"));
    assert_eq!(parse_message(&ping_pong), Err(DnsError::TooManyPointers));
}

#[test]
fn a_name_over_255_bytes_is_an_error() {
    let mut body = Vec::new();
    for _ in 0..4 {
        body.push(63);
        body.extend([b'a'; 63]);
    }
    body.extend(hex("00 0001 0001"));
    assert_eq!(
        parse_message(&message(1, 0x0100, 1, 0, &body)),
        Err(DnsError::NameTooLong)
    );
}

#[test]
fn a_name_of_exactly_255_bytes_is_253_characters() {
    let mut body = Vec::new();
    for _ in 0..3 {
        body.push(63);
        body.extend([b'a'; 63]);
    }
    body.push(61);
    body.extend([b'b'; 61]);
    body.extend(hex("00 0001 0001"));
    let parsed = parse_message(&message(1, 0x0100, 1, 0, &body)).unwrap();
    assert_eq!(parsed.question.unwrap().name.len(), 253);
}

#[test]
fn reserved_label_types_are_errors() {
    let body = hex("40 0001 0001");
    assert_eq!(
        parse_message(&message(1, 0x0100, 1, 0, &body)),
        Err(DnsError::BadLabelType { label: 0x40 })
    );
}

#[test]
fn an_a_record_with_the_wrong_length_is_an_error() {
    let body = hex("00 0001 0001 00 0001 0001 0000003c 0003 010203");
    assert_eq!(
        parse_message(&message(1, 0x8180, 1, 1, &body)),
        Err(DnsError::BadRdata {
            rtype: 1,
            length: 3
        })
    );
}

#[test]
fn a_capture_cut_inside_the_answers_keeps_the_whole_records_before() {
    let full = hex(test_samples::WWW_RESPONSE);
    let cut = parse_message(&full[..full.len() - 1]).unwrap();
    assert!(cut.truncated_capture);
    assert_eq!(cut.answers.len(), 1);
    assert_eq!(cut.question, question("www.example.com", 1));
}

#[test]
fn every_cut_of_every_sample_parses_to_a_prefix_of_the_whole() {
    for sample in [
        test_samples::DIG_QUERY,
        test_samples::WWW_RESPONSE,
        test_samples::NXDOMAIN_RESPONSE,
    ] {
        let full = hex(sample);
        let whole = parse_message(&full).unwrap();
        for cut in 0..full.len() {
            match parse_message(&full[..cut]) {
                Err(DnsError::TooShort { have }) => assert!(have == cut && cut < HEADER_LEN),
                Ok(parsed) => {
                    assert_eq!(parsed.id, whole.id);
                    assert!(whole.answers.starts_with(&parsed.answers), "cut at {cut}");
                    if parsed.question.is_some() {
                        assert_eq!(parsed.question, whole.question);
                    }
                    let complete =
                        parsed.question == whole.question && parsed.answers == whole.answers;
                    assert!(complete || parsed.truncated_capture, "cut at {cut}");
                }
                Err(error) => panic!("cut at {cut}: {error}"),
            }
        }
    }
}

#[test]
fn over_tcp_the_length_prefix_comes_first_and_may_exceed_the_capture() {
    let query = hex(test_samples::DIG_QUERY);
    let mut tcp = (query.len() as u16).to_be_bytes().to_vec();
    tcp.extend(&query);
    assert_eq!(parse_tcp_message(&tcp), parse_message(&query));
    let response = hex(test_samples::WWW_RESPONSE);
    let mut cut = (response.len() as u16).to_be_bytes().to_vec();
    cut.extend(&response[..40]);
    let parsed = parse_tcp_message(&cut).unwrap();
    assert!(parsed.truncated_capture);
    assert_eq!(parsed.question, question("www.example.com", 1));
    assert_eq!(
        parse_tcp_message(&[0, 5, 1, 2, 3, 4, 5]),
        Err(DnsError::BadTcpLength { length: 5 })
    );
}

#[test]
fn at_most_32_answers_are_kept() {
    let mut body = hex("00 0001 0001");
    for i in 0..40u8 {
        body.extend(hex("00 0001 0001 0000003c 0004 0a000000"));
        *body.last_mut().unwrap() = i;
    }
    let parsed = parse_message(&message(1, 0x8180, 1, 40, &body)).unwrap();
    assert_eq!(parsed.answers.len(), MAX_ANSWERS);
}

#[test]
fn sniffing_accepts_queries_and_responses_and_rejects_near_misses() {
    assert_eq!(
        sniff(&hex(test_samples::DIG_QUERY)),
        Some(DnsDirection::Query)
    );
    assert_eq!(
        sniff(&hex(test_samples::NXDOMAIN_RESPONSE)),
        Some(DnsDirection::Response)
    );
    let mut tcp = vec![0, hex(test_samples::DIG_QUERY).len() as u8];
    tcp.extend(hex(test_samples::DIG_QUERY));
    assert_eq!(sniff_tcp(&tcp), Some(DnsDirection::Query));
    assert_eq!(sniff(&tcp), None);

    let q = "07 6578616d706c65 03 636f6d 00 0001 0001";
    let near_misses = [
        ("two questions", message(1, 0x0100, 2, 0, &hex(q))),
        ("opcode 2 (STATUS)", message(1, 0x1100, 1, 0, &hex(q))),
        ("Z bit set", message(1, 0x0140, 1, 0, &hex(q))),
        ("query with an rcode", message(1, 0x0103, 1, 0, &hex(q))),
        (
            "class 7",
            message(
                1,
                0x0100,
                1,
                0,
                &hex("07 6578616d706c65 03 636f6d 00 0001 0007"),
            ),
        ),
        (
            "qtype 0",
            message(
                1,
                0x0100,
                1,
                0,
                &hex("07 6578616d706c65 03 636f6d 00 0000 0001"),
            ),
        ),
        (
            "name with spaces",
            message(1, 0x0100, 1, 0, &hex("03 612062 00 0001 0001")),
        ),
        (
            "question cut short",
            message(1, 0x0100, 1, 0, &hex("07 6578616d706c65 03 636f")),
        ),
        ("all zeros", vec![0; 64]),
    ];
    for (what, bytes) in near_misses {
        assert_eq!(sniff(&bytes), None, "{what}");
    }
}

#[test]
fn type_and_rcode_names_are_bounded_for_labels() {
    assert_eq!(qtype_name(1), "A");
    assert_eq!(qtype_name(65), "HTTPS");
    assert_eq!(qtype_name(64), "SVCB");
    assert_eq!(qtype_name(255), "ANY");
    assert_eq!(qtype_name(65280), "TYPE65280");
    assert_eq!(qtype_label(65280), "OTHER");
    assert_eq!(qtype_label(28), "AAAA");
    let labels: std::collections::BTreeSet<&str> = (0..=u16::MAX).map(qtype_label).collect();
    assert!(labels.len() <= 20);
    assert_eq!(rcode_name(0), "NOERROR");
    assert_eq!(rcode_name(3), "NXDOMAIN");
    assert_eq!(rcode_name(10), "NOTZONE");
    assert_eq!(rcode_name(11), "OTHER");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_names_stay_short(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        for parsed in [parse_message(&bytes), parse_tcp_message(&bytes)].into_iter().flatten() {
            let names = parsed.question.iter().map(|q| q.name.as_str()).chain(
                parsed.answers.iter().flat_map(|a| {
                    let target = match &a.data {
                        DnsRecordData::Cname(target) => Some(target.as_str()),
                        _ => None,
                    };
                    std::iter::once(a.name.as_str()).chain(target)
                }),
            );
            for name in names {
                prop_assert!(name.len() <= 255, "{} bytes", name.len());
            }
            prop_assert!(parsed.answers.len() <= MAX_ANSWERS);
        }
        let _ = sniff(&bytes);
        let _ = sniff_tcp(&bytes);
    }

    #[test]
    fn arbitrary_bodies_behind_a_valid_header_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        qdcount in 0u16..4,
        ancount in any::<u16>(),
    ) {
        let bytes = message(1, 0x8180, qdcount, ancount, &body);
        if let Ok(parsed) = parse_message(&bytes) {
            prop_assert!(parsed.question.is_none_or(|q| q.name.len() <= 255));
        }
    }

    #[test]
    fn mutated_samples_never_panic(index in 0usize..200, byte in any::<u8>(), cut in 0usize..200) {
        for sample in [test_samples::DIG_QUERY, test_samples::WWW_RESPONSE, test_samples::NXDOMAIN_RESPONSE] {
            let mut bytes = hex(sample);
            let len = bytes.len();
            bytes[index % len] = byte;
            bytes.truncate(cut);
            let _ = parse_message(&bytes);
            let _ = sniff(&bytes);
        }
    }
}
