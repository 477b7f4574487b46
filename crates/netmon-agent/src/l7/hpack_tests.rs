use proptest::prelude::*;

use super::*;
use crate::l7::test_samples::hex;

type Fields = Vec<(Option<String>, Option<String>)>;

fn text(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|b| String::from_utf8_lossy(b).into_owned())
}

fn decode_all(decoder: &mut Decoder, block: &[u8]) -> (Fields, Result<(), HpackError>) {
    let mut fields = Vec::new();
    let result = decoder.decode_block(block, |field| {
        fields.push((text(field.name), text(field.value)));
    });
    (fields, result)
}

fn known(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|&(n, v)| (Some(n.to_string()), Some(v.to_string())))
        .collect()
}

/// RFC 7541 C.3 (plain literals) and C.4 (Huffman): three requests on one
/// connection, the later ones referring to entries the earlier ones added.
const RFC_REQUESTS: [[&str; 3]; 2] = [
    [
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ],
    [
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ],
];

#[test]
fn the_rfc_7541_request_sequences_decode_with_their_dynamic_table() {
    let expected = [
        known(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
        ]),
        known(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
            ("cache-control", "no-cache"),
        ]),
        known(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ]),
    ];
    for blocks in RFC_REQUESTS {
        let mut decoder = Decoder::new();
        for (block, want) in blocks.iter().zip(&expected) {
            assert_eq!(
                decode_all(&mut decoder, &hex(block)),
                (want.clone(), Ok(()))
            );
        }
    }
}

#[test]
fn a_reference_to_an_entry_of_an_earlier_segment_is_unknown_and_decoding_goes_on() {
    // The second request alone: 0xbe (index 62) was inserted by the first.
    for blocks in RFC_REQUESTS {
        let (fields, result) = decode_all(&mut Decoder::new(), &hex(blocks[1]));
        assert_eq!(result, Ok(()));
        assert_eq!(fields[3], (None, None));
        assert_eq!(
            fields[4],
            (Some("cache-control".into()), Some("no-cache".into()))
        );
    }
}

#[test]
fn a_literal_whose_name_is_unknown_keeps_the_table_aligned() {
    // 0x7e: incremental indexing, name index 62 (unknown here), value "v";
    // then 0xbe refers to that new entry, 0xbf to the unknown older one.
    let (fields, result) = decode_all(&mut Decoder::new(), &[0x7e, 0x01, b'v', 0xbe, 0xbf]);
    assert_eq!(result, Ok(()));
    assert_eq!(
        fields,
        vec![
            (None, Some("v".into())),
            (None, Some("v".into())),
            (None, None)
        ]
    );
}

#[test]
fn a_size_update_to_zero_empties_the_table() {
    let mut decoder = Decoder::new();
    assert_eq!(decode_all(&mut decoder, &hex(RFC_REQUESTS[0][0])).1, Ok(()));
    let (fields, result) = decode_all(&mut decoder, &[0x20, 0xbe]);
    assert_eq!((fields, result), (vec![(None, None)], Ok(())));
}

#[test]
fn index_zero_is_an_error() {
    assert_eq!(
        decode_all(&mut Decoder::new(), &[0x82, 0x80]),
        (known(&[(":method", "GET")]), Err(HpackError::ZeroIndex))
    );
}

#[test]
fn an_over_long_integer_is_an_error() {
    let block = [0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert_eq!(
        decode_all(&mut Decoder::new(), &block).1,
        Err(HpackError::IntegerTooLong { max_octets: 5 })
    );
}

#[test]
fn a_block_cut_anywhere_reports_the_whole_fields_before_the_cut() {
    for blocks in RFC_REQUESTS {
        let block = hex(blocks[2]);
        let (all, _) = decode_all(&mut Decoder::new(), &block);
        for cut in 0..block.len() {
            let (fields, result) = decode_all(&mut Decoder::new(), &block[..cut]);
            assert!(all.starts_with(&fields), "cut at {cut}: {fields:?}");
            assert!(fields.len() < all.len(), "cut at {cut}");
            if result.is_err() {
                assert_eq!(result, Err(HpackError::Truncated), "cut at {cut}");
            }
        }
    }
}

#[test]
fn a_size_update_cut_short_is_truncated_not_a_panic() {
    assert_eq!(
        decode_all(&mut Decoder::new(), &[0x3f]).1,
        Err(HpackError::Truncated)
    );
}

proptest! {
    #[test]
    fn arbitrary_blocks_never_panic(block in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut decoder = Decoder::new();
        let mut count = 0usize;
        let _ = decoder.decode_block(&block, |_| count += 1);
        // Every field consumes at least one byte.
        prop_assert!(count <= block.len());
        prop_assert!(decoder.dynamic.len() <= MAX_DYNAMIC_ENTRIES);
    }
}
