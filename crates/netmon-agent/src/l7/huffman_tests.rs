use proptest::prelude::*;

use super::*;
use crate::l7::test_samples::hex;

fn decoded(input: &[u8]) -> Result<Vec<u8>, HuffmanError> {
    let mut out = Vec::new();
    decode(input, &mut out, 4096).map(|()| out)
}

#[test]
fn the_code_table_is_canonical_and_complete() {
    // Kraft's equality: a complete prefix code fills the code space exactly.
    let space: u64 = CODES.iter().map(|&(_, len)| 1u64 << (30 - len)).sum();
    assert_eq!(space, 1u64 << 30);
    // Canonical: within a length codes are consecutive, and each length
    // starts where the previous one ended, shifted by one bit.
    let mut next: u32 = 0;
    for len in 1..=MAX_LEN {
        let mut codes: Vec<u32> = CODES
            .iter()
            .filter(|&&(_, l)| usize::from(l) == len)
            .map(|&(code, _)| code)
            .collect();
        codes.sort_unstable();
        for (rank, code) in codes.iter().enumerate() {
            assert_eq!(*code, next + rank as u32, "length {len}");
        }
        next = (next + codes.len() as u32) << 1;
    }
    assert_eq!(CODES[usize::from(EOS)], (0x3fff_ffff, 30));
}

#[test]
fn the_rfc_7541_appendix_c_strings_decode() {
    let cases = [
        ("f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com"),
        ("a8eb 1064 9cbf", "no-cache"),
        ("25a8 49e9 5ba9 7d7f", "custom-key"),
        ("25a8 49e9 5bb8 e8b4 bf", "custom-value"),
        ("6402", "302"),
        ("aec3 771a 4b", "private"),
        (
            "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
            "Mon, 21 Oct 2013 20:13:21 GMT",
        ),
        (
            "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
            "https://www.example.com",
        ),
    ];
    for (wire, text) in cases {
        assert_eq!(decoded(&hex(wire)).unwrap(), text.as_bytes(), "{text}");
        assert_eq!(encode(text.as_bytes()), hex(wire), "{text}");
    }
}

#[test]
fn application_grpc_is_the_eleven_bytes_grpc_clients_send() {
    // As seen after `5f 8b` in captures of grpc-go and tonic requests.
    let wire = hex("1d75 d062 0d26 3d4c 4d65 64");
    assert_eq!(decoded(&wire).unwrap(), b"application/grpc");
    assert_eq!(encode(b"application/grpc"), wire);
}

#[test]
fn an_empty_string_decodes_to_nothing() {
    assert_eq!(decoded(&[]).unwrap(), b"");
}

#[test]
fn eos_inside_a_string_is_an_error() {
    // 30 ones (EOS) padded with ones: 0xff 0xff 0xff 0xff.
    assert_eq!(decoded(&[0xff; 4]), Err(HuffmanError::EosInString));
}

#[test]
fn padding_must_be_short_and_all_ones() {
    // '0' is 00000 (5 bits); 000 padding is not a prefix of EOS.
    assert_eq!(decoded(&[0x00]), Err(HuffmanError::InvalidPadding));
    // A whole byte of ones after a complete symbol is padding over 7 bits.
    let mut zero_then_ones = encode(b"0");
    zero_then_ones.push(0xff);
    assert_eq!(decoded(&zero_then_ones), Err(HuffmanError::InvalidPadding));
}

#[test]
fn output_beyond_the_limit_is_refused() {
    let mut out = Vec::new();
    assert_eq!(
        decode(&encode(b"abcdef"), &mut out, 3),
        Err(HuffmanError::TooLong { limit: 3 })
    );
}

proptest! {
    #[test]
    fn every_byte_string_round_trips(text in proptest::collection::vec(any::<u8>(), 0..300)) {
        prop_assert_eq!(decoded(&encode(&text)).unwrap(), text);
    }

    #[test]
    fn arbitrary_input_never_panics(input in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut out = Vec::new();
        let _ = decode(&input, &mut out, 1024);
        prop_assert!(out.len() <= 1024);
    }
}
