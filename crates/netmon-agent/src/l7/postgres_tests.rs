use proptest::prelude::*;

use super::*;
use crate::l7::test_samples::{self, hex};

#[test]
fn psqls_first_messages_are_recognised() {
    assert_eq!(
        parse_startup(&hex(test_samples::PSQL_SSL_REQUEST)),
        Ok(StartupKind::SslRequest)
    );
    assert_eq!(
        parse_startup(&hex(test_samples::PSQL_STARTUP)),
        Ok(StartupKind::Startup { major: 3, minor: 0 })
    );
    assert_eq!(
        parse_startup(&hex("00000008 04d21630")),
        Ok(StartupKind::GssEncRequest)
    );
    assert_eq!(
        parse_startup(&hex("00000010 04d2162e 00001234 89abcdef")),
        Ok(StartupKind::CancelRequest)
    );
}

#[test]
fn request_codes_need_their_exact_lengths() {
    assert_eq!(
        parse_startup(&hex("00000009 04d2162f 00")),
        Err(PostgresError::BadLength { length: 9 })
    );
    assert_eq!(
        parse_startup(&hex("00000008 04d2162e")),
        Err(PostgresError::BadLength { length: 8 })
    );
}

#[test]
fn a_startup_message_needs_sane_parameters() {
    let refused = [
        // Protocol 2.0.
        "0000000c 00020000 7573657200",
        // Length over the server's limit.
        "00002711 00030000 7573657200",
        // No parameters, only the terminator.
        "00000009 00030000 00",
        // A name that is not an identifier.
        "0000000e 00030000 5553455200 7800",
        // A control character in a value.
        "0000000e 00030000 7573657200 0700",
    ];
    for hex_bytes in refused {
        assert!(parse_startup(&hex(hex_bytes)).is_err(), "{hex_bytes}");
    }
}

#[test]
fn every_cut_of_the_startup_is_postgres_once_the_first_name_is_in() {
    let startup = hex(test_samples::PSQL_STARTUP);
    // Length, code and "user\0".
    for cut in 0..=startup.len() {
        let result = parse_startup(&startup[..cut]);
        assert_eq!(result.is_ok(), cut >= 13, "cut at {cut}: {result:?}");
    }
}

#[test]
fn authentication_requests_are_read() {
    let cases = [
        ("52 00000008 00000000", Authentication::Ok),
        ("52 00000008 00000003", Authentication::CleartextPassword),
        ("52 0000000c 00000005 01020304", Authentication::Md5Password),
        (
            "52 00000016 0000000a 5343524d2d5348412d32353600 00",
            Authentication::Sasl { scram: false },
        ),
    ];
    for (hex_bytes, expected) in cases {
        assert_eq!(
            parse_authentication(&hex(hex_bytes)),
            Ok(expected),
            "{hex_bytes}"
        );
    }
    let mut sasl = hex("52 00000017 0000000a");
    sasl.extend(b"SCRAM-SHA-256\0\0");
    assert_eq!(
        parse_authentication(&sasl),
        Ok(Authentication::Sasl { scram: true })
    );
    assert!(Authentication::Sasl { scram: true }.is_distinctive());
    assert!(!Authentication::SaslContinue.is_distinctive());
    assert_eq!(
        parse_authentication(&hex("52 00000009 00000000")),
        Err(PostgresError::BadLength { length: 9 })
    );
    assert_eq!(
        parse_authentication(b"S"),
        Err(PostgresError::NotAuthentication)
    );
}

#[test]
fn the_one_byte_answers_and_errors_are_recognised() {
    assert!(is_encryption_response(b"S"));
    assert!(is_encryption_response(b"N"));
    assert!(!is_encryption_response(b"SN"));
    let mut error = hex("45 00000050");
    error.extend(b"SFATAL\0");
    assert!(is_error_response(&error));
    assert!(!is_error_response(b"E\0\0\0\0"));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_startup(&bytes);
        let _ = parse_authentication(&bytes);
        let _ = is_error_response(&bytes);
    }

    #[test]
    fn arbitrary_parameters_behind_a_startup_header_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        bytes.extend(hex("00030000"));
        bytes.extend(body);
        let _ = parse_startup(&bytes);
    }
}
