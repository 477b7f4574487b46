//! Decoders of raw key bytes: `uint`, `hex`, `string`, `inet_ip`.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::DecoderError;

/// An unsigned integer of 1, 2, 4 or 8 bytes in the host's byte order (the
/// kernel wrote it from a program running on this CPU).
pub(super) fn uint(label: &str, input: &[u8]) -> Result<u64, DecoderError> {
    Ok(match input.len() {
        1 => u64::from(input[0]),
        2 => u64::from(u16::from_ne_bytes([input[0], input[1]])),
        4 => u64::from(u32::from_ne_bytes(input.try_into().expect("4 bytes"))),
        8 => u64::from_ne_bytes(input.try_into().expect("8 bytes")),
        got => {
            return Err(DecoderError::InputSize {
                label: label.to_string(),
                decoder: "uint",
                expected: "1, 2, 4 or 8",
                got,
            })
        }
    })
}

/// Lower-case hex of every byte, in key order (ebpf_exporter's spelling,
/// without a `0x`).
pub(super) fn hex(input: &[u8]) -> String {
    input.iter().map(|b| format!("{b:02x}")).collect()
}

/// Text up to the first NUL: a `char comm[16]` holds the name and then
/// whatever the buffer held before.
pub(super) fn string(input: &[u8]) -> String {
    let end = input.iter().position(|&b| b == 0).unwrap_or(input.len());
    String::from_utf8_lossy(&input[..end]).into_owned()
}

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address in network byte order, as
/// the kernel keeps them in sockets and packets.
pub(super) fn inet_ip(label: &str, input: &[u8]) -> Result<String, DecoderError> {
    match input.len() {
        4 => Ok(Ipv4Addr::from(<[u8; 4]>::try_from(input).expect("4 bytes")).to_string()),
        16 => Ok(Ipv6Addr::from(<[u8; 16]>::try_from(input).expect("16 bytes")).to_string()),
        got => Err(DecoderError::InputSize {
            label: label.to_string(),
            decoder: "inet_ip",
            expected: "4 (IPv4) or 16 (IPv6)",
            got,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint_reads_each_width_in_host_order() {
        let cases: &[(&[u8], u64)] = &[
            (&[7], 7),
            (&513u16.to_ne_bytes(), 513),
            (&70_000u32.to_ne_bytes(), 70_000),
            (&u64::MAX.to_ne_bytes(), u64::MAX),
        ];
        for (input, expected) in cases {
            assert_eq!(uint("l", input).unwrap(), *expected, "{input:?}");
        }
        assert_eq!(
            uint("size", &[1, 2, 3]).unwrap_err().to_string(),
            "label size: uint takes 1, 2, 4 or 8, got 3 bytes"
        );
    }

    #[test]
    fn hex_string_and_inet_ip_spell_their_input() {
        assert_eq!(hex(&[0x00, 0xab, 0x10]), "00ab10");
        let strings: &[(&[u8], &str)] = &[
            (b"curl\0\0\0\0", "curl"),
            (b"nmtest-sc\0junk", "nmtest-sc"),
            (b"sixteen-bytes-xx", "sixteen-bytes-xx"),
            (b"\0", ""),
        ];
        for (input, expected) in strings {
            assert_eq!(string(input), *expected);
        }
        assert_eq!(inet_ip("a", &[198, 18, 7, 0]).unwrap(), "198.18.7.0");
        let mut v6 = [0u8; 16];
        v6[0] = 0xfd;
        v6[15] = 1;
        assert_eq!(inet_ip("a", &v6).unwrap(), "fd00::1");
        assert!(inet_ip("a", &[1, 2]).is_err());
    }
}
