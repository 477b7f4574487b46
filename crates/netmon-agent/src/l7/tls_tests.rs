use proptest::prelude::*;

use super::*;
use crate::l7::test_samples::{self, client_hello, hex, HelloParts};

fn client(payload: &[u8]) -> ClientHello {
    match parse_hello(payload) {
        Ok(Hello::Client(hello)) => hello,
        other => panic!("not a ClientHello: {other:?}"),
    }
}

fn server(payload: &[u8]) -> ServerHello {
    match parse_hello(payload) {
        Ok(Hello::Server(hello)) => hello,
        other => panic!("not a ServerHello: {other:?}"),
    }
}

fn tls13_hello(server_name: Option<&str>, padding_before: usize) -> Vec<u8> {
    client_hello(&HelloParts {
        server_name,
        versions: Some(&[0x2a2a, 0x0304, 0x0303]),
        padding_before,
    })
}

#[test]
fn openssl_3_client_hello_offers_tls_1_3_for_its_server_name() {
    let hello = client(&hex(test_samples::OPENSSL_CLIENT_HELLO));
    assert_eq!(
        hello,
        ClientHello {
            legacy_version: 0x0303,
            max_version: Some(TlsVersion::Tls13),
            server_name: Some("svc.netmon.test".into()),
            complete: true,
        }
    );
}

#[test]
fn an_assembled_client_hello_skips_grease_in_supported_versions() {
    let hello = client(&tls13_hello(Some("svc.netmon.test"), 0));
    assert_eq!(hello.max_version, Some(TlsVersion::Tls13));
    assert_eq!(hello.server_name.as_deref(), Some("svc.netmon.test"));
    assert!(hello.complete);
}

#[test]
fn a_client_hello_without_supported_versions_offers_its_legacy_version() {
    let hello = client(&client_hello(&HelloParts {
        server_name: Some("old.netmon.test"),
        versions: None,
        padding_before: 0,
    }));
    assert_eq!(hello.max_version, Some(TlsVersion::Tls12));
}

#[test]
fn only_grease_and_drafts_offered_is_an_unknown_version() {
    let hello = client(&client_hello(&HelloParts {
        server_name: None,
        versions: Some(&[0x0a0a, 0x7f1c]),
        padding_before: 0,
    }));
    assert_eq!(hello.max_version, None);
}

#[test]
fn the_server_name_is_lowercased() {
    let hello = client(&tls13_hello(Some("API.Netmon.TEST"), 0));
    assert_eq!(hello.server_name.as_deref(), Some("api.netmon.test"));
}

#[test]
fn a_server_name_that_is_not_dns_like_is_not_reported() {
    for name in ["with space.test", "nul\0.test", ""] {
        let hello = client(&tls13_hello(Some(name), 0));
        assert_eq!(hello.server_name, None, "{name:?}");
    }
    let long = "a".repeat(254);
    assert_eq!(client(&tls13_hello(Some(&long), 0)).server_name, None);
}

#[test]
fn a_client_hello_cut_after_the_server_name_reports_it_without_a_version() {
    // Header, version, random, session id, suites and compression take 90
    // bytes, the server_name extension the next 24: a cut at 120 falls in
    // supported_groups, before supported_versions.
    let full = tls13_hello(Some("svc.netmon.test"), 0);
    let hello = client(&full[..120]);
    assert_eq!(hello.server_name.as_deref(), Some("svc.netmon.test"));
    assert_eq!(hello.max_version, None);
    assert!(!hello.complete);
    assert_eq!(client(&full[..113]).server_name, None);
}

#[test]
fn a_server_name_beyond_the_capture_is_not_reported() {
    let full = tls13_hello(Some("svc.netmon.test"), 600);
    let hello = client(&full[..512]);
    assert_eq!(hello.server_name, None);
    assert_eq!(hello.max_version, None);
    assert!(!hello.complete);
    assert_eq!(
        client(&full).server_name.as_deref(),
        Some("svc.netmon.test")
    );
}

#[test]
fn every_cut_of_a_client_hello_is_a_hello_or_too_short_and_never_wrong() {
    let full = hex(test_samples::OPENSSL_CLIENT_HELLO);
    for cut in 0..=full.len() {
        match parse_hello(&full[..cut]) {
            Err(TlsError::TooShort { have }) => assert!(cut < 11 && have == cut),
            Ok(Hello::Client(hello)) => {
                assert!(cut >= 11);
                if let Some(name) = &hello.server_name {
                    assert_eq!(name, "svc.netmon.test", "cut at {cut}");
                }
                assert!(
                    hello.max_version.is_none() || hello.max_version == Some(TlsVersion::Tls13)
                );
                assert_eq!(hello.complete, cut == full.len());
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn a_tls_1_3_server_hello_names_the_version_from_supported_versions() {
    let hello = server(&hex(test_samples::OPENSSL_SERVER_HELLO_TLS13));
    assert_eq!(
        hello,
        ServerHello {
            legacy_version: 0x0303,
            version: Some(TlsVersion::Tls13),
            complete: true,
        }
    );
}

#[test]
fn a_tls_1_2_server_hello_names_its_legacy_version() {
    let hello = server(&hex(test_samples::OPENSSL_SERVER_HELLO_TLS12));
    assert_eq!(hello.version, Some(TlsVersion::Tls12));
    assert!(hello.complete);
}

#[test]
fn a_server_hello_cut_before_its_extensions_has_no_version_yet() {
    let full = hex(test_samples::OPENSSL_SERVER_HELLO_TLS13);
    // Record (5) + handshake header (4) + version, random, session id (67).
    let hello = server(&full[..80]);
    assert_eq!(hello.version, None);
    assert!(!hello.complete);
}

#[test]
fn a_tls_1_0_server_hello_is_tls_1_0_even_cut_short() {
    let mut hello = hex(test_samples::OPENSSL_SERVER_HELLO_TLS12);
    hello[9..11].copy_from_slice(&[0x03, 0x01]);
    assert_eq!(server(&hello[..20]).version, Some(TlsVersion::Tls10));
}

#[test]
fn other_records_and_handshakes_are_not_hellos() {
    let mut application_data = hex(test_samples::OPENSSL_CLIENT_HELLO);
    application_data[0] = 0x17;
    assert_eq!(
        parse_hello(&application_data),
        Err(TlsError::NotHandshake { content_type: 0x17 })
    );
    let mut certificate = hex(test_samples::OPENSSL_CLIENT_HELLO);
    certificate[5] = 11;
    assert_eq!(
        parse_hello(&certificate),
        Err(TlsError::NotHello { handshake_type: 11 })
    );
    let mut bad_version = hex(test_samples::OPENSSL_CLIENT_HELLO);
    bad_version[2] = 0x05;
    assert_eq!(
        parse_hello(&bad_version),
        Err(TlsError::BadVersion { version: 0x0305 })
    );
}

#[test]
fn an_inconsistent_length_is_malformed_not_tls() {
    let mut hello = hex(test_samples::OPENSSL_CLIENT_HELLO);
    // Session id length 33.
    hello[43] = 33;
    assert_eq!(
        parse_hello(&hello),
        Err(TlsError::Malformed {
            field: "session id"
        })
    );
}

#[test]
fn versions_have_names_and_serialize_as_them() {
    let names: Vec<&str> = TlsVersion::ALL.iter().map(|v| v.as_str()).collect();
    assert_eq!(
        names,
        ["SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"]
    );
    for version in TlsVersion::ALL {
        assert_eq!(TlsVersion::from_wire(version.wire()), Some(version));
    }
    assert_eq!(
        serde_json::to_string(&TlsVersion::Tls13).unwrap(),
        "\"TLS 1.3\""
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_hello(&bytes);
    }

    #[test]
    fn arbitrary_bytes_behind_a_hello_header_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        handshake_type in 1u8..=2,
    ) {
        let mut payload = vec![0x16, 0x03, 0x01, 0x02, 0x00, handshake_type, 0x00, 0x01, 0xfc, 0x03, 0x03];
        payload.extend(body);
        if let Ok(Hello::Client(hello)) = parse_hello(&payload) {
            prop_assert!(hello.server_name.is_none_or(|n| n.len() <= 253));
        }
    }

    #[test]
    fn mutated_hellos_never_panic(
        index in 0usize..600,
        byte in any::<u8>(),
        cut in 0usize..700,
    ) {
        for sample in [test_samples::OPENSSL_CLIENT_HELLO, test_samples::OPENSSL_SERVER_HELLO_TLS13] {
            let mut bytes = hex(sample);
            let len = bytes.len();
            bytes[index % len] = byte;
            bytes.truncate(cut);
            let _ = parse_hello(&bytes);
        }
    }
}
