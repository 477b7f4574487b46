use proptest::prelude::*;

use super::*;
use crate::l7::test_samples::{self, hex};

#[test]
fn the_mysql_8_greeting_gives_the_server_version() {
    assert_eq!(
        parse_greeting(&hex(test_samples::MYSQL8_GREETING)),
        Ok(Greeting {
            server_version: "8.0.36".into(),
            connection_id: Some(8),
        })
    );
}

#[test]
fn a_mariadb_greeting_gives_its_version_without_the_replication_prefix() {
    let version = b"5.5.5-10.11.6-MariaDB-0+deb12u1";
    let mut payload = vec![10];
    payload.extend(version);
    payload.push(0);
    payload.extend(hex(
        "03000000 2a2a2a2a2a2a2a2a 00 feff 2d 0200 ff81 15 00000000000000000000",
    ));
    let mut packet = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    packet.push(0);
    packet.extend(payload);
    assert_eq!(
        parse_greeting(&packet).map(|g| g.server_version),
        Ok("10.11.6-MariaDB-0+deb12u1".to_string())
    );
}

#[test]
fn greeting_lookalikes_are_refused() {
    let greeting = hex(test_samples::MYSQL8_GREETING);
    let with = |index: usize, byte: u8| {
        let mut bytes = greeting.clone();
        bytes[index] = byte;
        bytes
    };
    assert_eq!(
        parse_greeting(&with(3, 1)),
        Err(MysqlError::BadSequence {
            sequence_id: 1,
            expected: 0
        })
    );
    assert_eq!(
        parse_greeting(&with(4, 9)),
        Err(MysqlError::BadProtocolVersion { version: 9 })
    );
    // A version that does not start with a digit, or holds a control byte.
    assert!(parse_greeting(&with(5, b'x')).is_err());
    assert!(parse_greeting(&with(6, 0x07)).is_err());
    // The filler after the scramble must be zero.
    assert_eq!(
        parse_greeting(&with(24, 1)),
        Err(MysqlError::Malformed { part: "filler" })
    );
    // A length too small for the fixed fields.
    assert!(parse_greeting(&with(0, 10)).is_err());
}

#[test]
fn a_greeting_cut_before_the_end_of_its_version_is_not_enough() {
    let greeting = hex(test_samples::MYSQL8_GREETING);
    for cut in 0..=greeting.len() {
        let result = parse_greeting(&greeting[..cut]);
        if cut > 11 {
            assert_eq!(
                result.map(|g| g.server_version),
                Ok("8.0.36".into()),
                "cut at {cut}"
            );
        } else {
            assert!(result.is_err(), "cut at {cut}");
        }
    }
}

#[test]
fn client_packets_are_recognised_by_shape() {
    assert!(is_client_handshake(&hex(
        test_samples::MYSQL_HANDSHAKE_RESPONSE
    )));
    // COM_QUERY "select 1".
    assert!(is_command(&hex("09000000 03 73656c6563742031")));
    assert!(!is_command(&hex("09000000 40 73656c6563742031")));
    // An OK packet.
    assert!(is_server_response(&hex("07000002 00 00 00 0200 0000")));
    assert!(!is_client_handshake(&hex(test_samples::MYSQL8_GREETING)));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(greeting) = parse_greeting(&bytes) {
            prop_assert!(greeting.server_version.len() <= 64);
            prop_assert!(greeting.server_version.bytes().all(|b| (0x20..0x7f).contains(&b)));
        }
        let _ = is_client_handshake(&bytes);
        let _ = is_command(&bytes);
        let _ = is_server_response(&bytes);
    }
}
