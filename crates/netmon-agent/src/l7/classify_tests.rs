use proptest::prelude::*;

use super::*;
use crate::l7::test_samples::{self, all_samples, frame, hex, Sample};

fn fields(build: impl FnOnce(&mut AppFields)) -> AppFields {
    let mut fields = AppFields::default();
    build(&mut fields);
    fields
}

fn classify_sample(sample: &Sample, enabled: ProtocolSet) -> Option<Classification> {
    classify(&sample.bytes, sample.side, sample.known, enabled)
}

/// Bytes that look random, the same on every run.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

#[test]
fn every_sample_is_classified_with_its_fields() {
    let get = fields(|f| f.http_method = Some("GET".into()));
    let post = fields(|f| f.http_method = Some("POST".into()));
    let tls13_offer = fields(|f| {
        f.tls_version = Some(TlsVersion::Tls13);
        f.tls_sni = Some("svc.netmon.test".into());
    });
    let expected: Vec<(&str, AppFields)> = vec![
        ("curl h2c request", get.clone()),
        ("curl GET", get),
        (
            "HTTP/1.1 200 response",
            fields(|f| f.http_status = Some(200)),
        ),
        ("openssl ClientHello", tls13_offer.clone()),
        ("assembled ClientHello", tls13_offer),
        (
            "openssl TLS 1.3 ServerHello",
            fields(|f| f.tls_version = Some(TlsVersion::Tls13)),
        ),
        (
            "openssl TLS 1.2 ServerHello",
            fields(|f| f.tls_version = Some(TlsVersion::Tls12)),
        ),
        ("psql SSLRequest", AppFields::default()),
        ("psql StartupMessage", AppFields::default()),
        (
            "MySQL 8 greeting",
            fields(|f| f.server_version = Some("8.0.36".into())),
        ),
        ("MySQL handshake response", AppFields::default()),
        ("redis-cli PING", AppFields::default()),
        ("redis-cli SET", AppFields::default()),
        ("redis-cli COMMAND DOCS", AppFields::default()),
        ("dig query", AppFields::default()),
        ("dig query over TCP", AppFields::default()),
        ("CNAME and A response", AppFields::default()),
        ("NXDOMAIN response", AppFields::default()),
        ("gRPC request, Huffman", post.clone()),
        ("gRPC request, raw literals", post.clone()),
        ("gRPC request, padded and continued", post),
        ("gRPC response", fields(|f| f.http_status = Some(200))),
    ];
    let samples = all_samples();
    assert_eq!(samples.len(), expected.len());
    for (sample, (name, fields)) in samples.iter().zip(expected) {
        assert_eq!(sample.name, name);
        assert_eq!(
            classify_sample(sample, ProtocolSet::all()),
            Some(Classification {
                protocol: sample.protocol,
                fields,
            }),
            "{name}"
        );
    }
}

#[test]
fn unknown_inputs_stay_unknown() {
    let unknown: Vec<(&str, Vec<u8>)> = vec![
        ("SSH banner", b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()),
        ("SMTP banner", b"220 mail ESMTP\r\n".to_vec()),
        ("SMTP EHLO", b"EHLO client.test\r\n".to_vec()),
        ("hello", b"hello\n".to_vec()),
        ("one byte", vec![0x16]),
        ("one letter", b"S".to_vec()),
        ("zeros", vec![0; 512]),
        ("ones", vec![0xff; 512]),
        ("a short zero run", vec![0; 12]),
        ("empty", vec![]),
    ];
    let random = (0..64).map(|seed| ("random", noise(512, seed * 7919 + 1)));
    for (what, bytes) in unknown.into_iter().chain(random) {
        for side in [Side::Initiator, Side::Responder] {
            assert_eq!(
                classify(&bytes, side, None, ProtocolSet::all()),
                None,
                "{what} from {side:?}"
            );
        }
    }
}

#[test]
fn every_cut_of_every_sample_is_its_protocol_or_unknown() {
    for sample in all_samples() {
        for cut in 0..=sample.bytes.len() {
            let bytes = &sample.bytes[..cut];
            let found = classify(bytes, sample.side, sample.known, ProtocolSet::all());
            let allowed = match sample.protocol {
                // The content type may not have been captured yet.
                AppProtocol::Grpc => vec![AppProtocol::Grpc, AppProtocol::Http2],
                protocol => vec![protocol],
            };
            if let Some(found) = &found {
                assert!(
                    allowed.contains(&found.protocol),
                    "{} cut at {cut}: {found:?}",
                    sample.name
                );
            }
            // Nor does a cut become some other protocol on a fresh flow.
            if let Some(fresh) = classify(bytes, sample.side, None, ProtocolSet::all()) {
                assert!(
                    allowed.contains(&fresh.protocol),
                    "{} cut at {cut} on a fresh flow: {fresh:?}",
                    sample.name
                );
            }
        }
    }
}

#[test]
fn the_whole_sample_from_the_other_side_is_not_misread() {
    for sample in all_samples() {
        let other = match sample.side {
            Side::Initiator => Side::Responder,
            Side::Responder => Side::Initiator,
        };
        if let Some(found) = classify(&sample.bytes, other, None, ProtocolSet::all()) {
            panic!("{} from the wrong side: {found:?}", sample.name);
        }
    }
}

#[test]
fn disabled_protocols_are_not_reported() {
    for sample in all_samples() {
        let without: ProtocolSet = AppProtocol::ALL
            .into_iter()
            .filter(|&p| p != sample.protocol)
            .collect();
        let found = classify_sample(&sample, without);
        match sample.protocol {
            // gRPC without "grpc" is still HTTP/2.
            AppProtocol::Grpc => assert_eq!(
                found.map(|c| c.protocol),
                Some(AppProtocol::Http2),
                "{}",
                sample.name
            ),
            _ => assert_eq!(found, None, "{}", sample.name),
        }
        assert_eq!(classify_sample(&sample, ProtocolSet::empty()), None);
    }
}

#[test]
fn grpc_needs_http2_enabled_too() {
    let only_grpc = ProtocolSet::from_iter([AppProtocol::Grpc]);
    assert!(!only_grpc.reports_grpc());
    let request = test_samples::grpc_request(true);
    assert_eq!(classify(&request, Side::Initiator, None, only_grpc), None);
    let both = ProtocolSet::from_iter([AppProtocol::Grpc, AppProtocol::Http2]);
    assert_eq!(
        classify(&request, Side::Initiator, None, both).map(|c| c.protocol),
        Some(AppProtocol::Grpc)
    );
}

#[test]
fn a_later_http2_segment_upgrades_the_flow_to_grpc() {
    // The preface and SETTINGS alone say HTTP/2.
    let mut first = http2::PREFACE.to_vec();
    first.extend(frame(4, 0, 0, &hex("0004 00400000")));
    let known = classify(&first, Side::Initiator, None, ProtocolSet::all());
    assert_eq!(
        known,
        Some(Classification {
            protocol: AppProtocol::Http2,
            fields: AppFields::default()
        })
    );
    // The HEADERS frame comes in the next segment, without the preface.
    let headers = frame(1, 0x4, 1, &test_samples::grpc_request_block(true));
    let later = classify(
        &headers,
        Side::Initiator,
        Some(AppProtocol::Http2),
        ProtocolSet::all(),
    );
    assert_eq!(
        later,
        Some(Classification {
            protocol: AppProtocol::Grpc,
            fields: fields(|f| f.http_method = Some("POST".into())),
        })
    );
    // Without the flow being known, frames alone are nothing.
    assert_eq!(
        classify(&headers, Side::Initiator, None, ProtocolSet::all()),
        None
    );
    // Once gRPC, plain frames keep it gRPC.
    let data = frame(0, 0, 1, &[0, 0, 0, 0, 2, 8, 1]);
    assert_eq!(
        classify(
            &data,
            Side::Initiator,
            Some(AppProtocol::Grpc),
            ProtocolSet::all()
        )
        .map(|c| c.protocol),
        Some(AppProtocol::Grpc)
    );
}

#[test]
fn an_h2c_upgrade_turns_an_http_flow_into_http2() {
    let preface = hex(test_samples::CURL_H2C_REQUEST);
    let found = classify(
        &preface,
        Side::Initiator,
        Some(AppProtocol::Http),
        ProtocolSet::all(),
    );
    assert_eq!(
        found,
        Some(Classification {
            protocol: AppProtocol::Http2,
            fields: fields(|f| f.http_method = Some("GET".into())),
        })
    );
}

#[test]
fn the_servers_settings_need_the_flow_to_be_known() {
    let response = test_samples::grpc_response();
    assert_eq!(
        classify(&response, Side::Responder, None, ProtocolSet::all()),
        None
    );
    let settings_only = frame(4, 0, 0, &hex("0005 00004000"));
    assert_eq!(
        classify(
            &settings_only,
            Side::Responder,
            Some(AppProtocol::Http2),
            ProtocolSet::all()
        )
        .map(|c| c.protocol),
        Some(AppProtocol::Http2)
    );
    // Bytes that are no valid frame teach nothing.
    assert_eq!(
        classify(
            b"hello\n",
            Side::Responder,
            Some(AppProtocol::Http2),
            ProtocolSet::all()
        ),
        None
    );
}

#[test]
fn a_tls_upgrade_keeps_the_protocol_and_adds_the_tls_fields() {
    let hello = hex(test_samples::OPENSSL_CLIENT_HELLO);
    for known in [
        AppProtocol::Postgresql,
        AppProtocol::Mysql,
        AppProtocol::Http,
    ] {
        let found = classify(&hello, Side::Initiator, Some(known), ProtocolSet::all()).unwrap();
        assert_eq!(found.protocol, known);
        assert_eq!(found.fields.tls_sni.as_deref(), Some("svc.netmon.test"));
    }
    let without_tls: ProtocolSet = AppProtocol::ALL
        .into_iter()
        .filter(|&p| p != AppProtocol::Tls)
        .collect();
    assert_eq!(
        classify(
            &hello,
            Side::Initiator,
            Some(AppProtocol::Postgresql),
            without_tls
        ),
        None
    );
}

#[test]
fn weak_signals_count_only_on_known_flows() {
    let cases: [(&[u8], Side, AppProtocol); 5] = [
        (b"+PONG\r\n", Side::Responder, AppProtocol::Redis),
        (b"N", Side::Responder, AppProtocol::Postgresql),
        (b"S", Side::Responder, AppProtocol::Postgresql),
        (
            b"\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00",
            Side::Responder,
            AppProtocol::Mysql,
        ),
        (
            b"\x09\x00\x00\x00\x03select 1",
            Side::Initiator,
            AppProtocol::Mysql,
        ),
    ];
    for (bytes, side, protocol) in cases {
        assert_eq!(classify(bytes, side, None, ProtocolSet::all()), None);
        assert_eq!(
            classify(bytes, side, Some(protocol), ProtocolSet::all()).map(|c| c.protocol),
            Some(protocol)
        );
    }
}

#[test]
fn a_known_flow_stays_its_protocol_whatever_the_bytes() {
    let ssh = b"SSH-2.0-OpenSSH_9.2\r\n";
    for known in AppProtocol::ALL {
        for side in [Side::Initiator, Side::Responder] {
            if let Some(found) = classify(ssh, side, Some(known), ProtocolSet::all()) {
                panic!("{known} from {side:?}: {found:?}");
            }
        }
    }
    // A ClientHello on a known Redis flow is not a new protocol.
    let hello = hex(test_samples::OPENSSL_CLIENT_HELLO);
    assert_eq!(
        classify(
            &hello,
            Side::Initiator,
            Some(AppProtocol::Redis),
            ProtocolSet::all()
        ),
        None
    );
}

#[test]
fn a_postgres_authentication_request_identifies_postgres_alone() {
    let mut sasl = hex("52 00000017 0000000a");
    sasl.extend(b"SCRAM-SHA-256\0\0");
    assert_eq!(
        classify(&sasl, Side::Responder, None, ProtocolSet::all()).map(|c| c.protocol),
        Some(AppProtocol::Postgresql)
    );
}

#[test]
fn dns_direction_must_match_the_side() {
    let query = hex(test_samples::DIG_QUERY);
    assert_eq!(
        classify(&query, Side::Responder, None, ProtocolSet::all()),
        None
    );
    // On a known DNS flow either direction is DNS.
    assert_eq!(
        classify(
            &query,
            Side::Responder,
            Some(AppProtocol::Dns),
            ProtocolSet::all()
        )
        .map(|c| c.protocol),
        Some(AppProtocol::Dns)
    );
}

#[test]
fn protocols_have_config_names_and_serialize_as_them() {
    let names: Vec<&str> = AppProtocol::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(
        names,
        [
            "http",
            "http2",
            "grpc",
            "tls",
            "dns",
            "redis",
            "mysql",
            "postgresql"
        ]
    );
    for protocol in AppProtocol::ALL {
        assert_eq!(AppProtocol::from_name(protocol.as_str()), Some(protocol));
        assert_eq!(
            serde_json::to_string(&protocol).unwrap(),
            format!("\"{}\"", protocol.as_str())
        );
    }
    assert_eq!(AppProtocol::from_name("HTTP"), None);
    assert_eq!(AppProtocol::from_name("postgres"), None);
}

#[test]
fn a_protocol_set_holds_what_was_put_in() {
    let set = ProtocolSet::from_iter([AppProtocol::Dns, AppProtocol::Tls]);
    assert_eq!(
        set.iter().collect::<Vec<_>>(),
        [AppProtocol::Tls, AppProtocol::Dns]
    );
    assert!(!set.contains(AppProtocol::Http));
    assert_eq!(ProtocolSet::all().iter().count(), 8);
    assert!(ProtocolSet::empty().is_empty());
}

#[test]
fn merging_keeps_earlier_fields_but_prefers_the_negotiated_tls_version() {
    let mut flow = fields(|f| {
        f.tls_version = Some(TlsVersion::Tls13);
        f.tls_sni = Some("svc.netmon.test".into());
    });
    flow.merge(
        fields(|f| f.tls_version = Some(TlsVersion::Tls12)),
        Side::Responder,
    );
    assert_eq!(flow.tls_version, Some(TlsVersion::Tls12));
    flow.merge(
        fields(|f| {
            f.tls_version = Some(TlsVersion::Tls13);
            f.tls_sni = Some("other.test".into());
        }),
        Side::Initiator,
    );
    assert_eq!(flow.tls_version, Some(TlsVersion::Tls12));
    assert_eq!(flow.tls_sni.as_deref(), Some("svc.netmon.test"));
}

fn any_known() -> impl Strategy<Value = Option<AppProtocol>> {
    proptest::option::of(proptest::sample::select(AppProtocol::ALL.to_vec()))
}

fn any_side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Initiator), Just(Side::Responder)]
}

fn any_enabled() -> impl Strategy<Value = ProtocolSet> {
    proptest::collection::vec(proptest::sample::select(AppProtocol::ALL.to_vec()), 0..8)
        .prop_map(ProtocolSet::from_iter)
}

/// What a classification may never say, whatever the input.
fn check(found: Option<Classification>, enabled: ProtocolSet) -> Result<(), TestCaseError> {
    if let Some(found) = found {
        prop_assert!(enabled.contains(found.protocol), "{found:?}");
        if found.protocol == AppProtocol::Grpc {
            prop_assert!(enabled.reports_grpc());
        }
        let f = &found.fields;
        prop_assert!(f.http_status.is_none_or(|s| (100..=599).contains(&s)));
        prop_assert!(f.tls_sni.as_ref().is_none_or(|s| s.len() <= 253));
        prop_assert!(f.server_version.as_ref().is_none_or(|s| s.len() <= 64));
        prop_assert!(f
            .http_method
            .as_ref()
            .is_none_or(|m| http1::METHODS.contains(&m.as_str())));
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_on_any_side_or_flow(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        side in any_side(),
        known in any_known(),
        enabled in any_enabled(),
    ) {
        check(classify(&bytes, side, known, enabled), enabled)?;
        check(classify(&bytes, side, known, ProtocolSet::all()), ProtocolSet::all())?;
    }

    #[test]
    fn mutated_samples_never_panic_on_any_side_or_flow(
        index in 0usize..600,
        byte in any::<u8>(),
        cut in 0usize..700,
        side in any_side(),
        known in any_known(),
    ) {
        for sample in all_samples() {
            let mut bytes = sample.bytes.clone();
            let len = bytes.len();
            bytes[index % len] = byte;
            bytes.truncate(cut);
            check(classify(&bytes, side, known, ProtocolSet::all()), ProtocolSet::all())?;
            check(classify(&bytes, sample.side, sample.known, ProtocolSet::all()), ProtocolSet::all())?;
        }
    }
}
