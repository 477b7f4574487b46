use proptest::prelude::*;

use super::*;
use crate::l7::test_samples::{self, frame, hex};

fn after_preface(payload: &[u8]) -> &[u8] {
    assert!(starts_with_preface(payload));
    &payload[PREFACE.len()..]
}

#[test]
fn curls_request_decodes_to_get_through_huffman_literals() {
    let payload = hex(test_samples::CURL_H2C_REQUEST);
    let summary = parse_frames(after_preface(&payload));
    assert_eq!(
        summary,
        Http2Summary {
            frames: 3,
            first_frame: Some(FrameHeader {
                length: 18,
                kind: 4,
                flags: 0,
                stream_id: 0
            }),
            method: Some("GET"),
            status: None,
            content_type: None,
            stopped: None,
        }
    );
}

#[test]
fn a_grpc_request_is_post_with_the_grpc_content_type_in_every_encoding() {
    for payload in [
        test_samples::grpc_request(true),
        test_samples::grpc_request(false),
        test_samples::grpc_request_padded_and_continued(),
    ] {
        let summary = parse_frames(after_preface(&payload));
        assert_eq!(summary.method, Some("POST"));
        assert_eq!(summary.content_type.as_deref(), Some("application/grpc"));
        assert!(summary.is_grpc());
        assert_eq!(summary.stopped, None);
    }
}

#[test]
fn a_grpc_response_gives_status_200_and_the_content_type() {
    let summary = parse_frames(&test_samples::grpc_response());
    assert_eq!(summary.frames, 4);
    assert_eq!(summary.status, Some(200));
    assert!(summary.is_grpc());
}

#[test]
fn a_literal_status_and_a_grpc_subtype_are_read() {
    // :status as a literal with indexed name 8, "503"; content-type
    // application/grpc+proto raw.
    let mut block = hex("0803 353033");
    block.extend(hex("0f10 16"));
    block.extend(b"application/grpc+proto");
    let summary = parse_frames(&frame(1, 0x4, 1, &block));
    assert_eq!(summary.status, Some(503));
    assert!(summary.is_grpc());
}

#[test]
fn an_informational_status_gives_way_to_the_final_one() {
    let mut payload = frame(1, 0x4, 1, &hex("0803 313030"));
    payload.extend(frame(1, 0x4, 1, &[0x8e]));
    assert_eq!(parse_frames(&payload).status, Some(500));
}

#[test]
fn a_nonstandard_method_is_not_reported() {
    let mut block = vec![0x02, 0x08];
    block.extend(b"PROPFIND");
    assert_eq!(parse_frames(&frame(1, 0x5, 1, &block)).method, None);
}

#[test]
fn fields_in_a_dynamic_entry_of_an_earlier_segment_are_ignored() {
    // 0xbe: dynamic index 62, inserted by a segment not seen; 0x83: POST.
    let summary = parse_frames(&frame(1, 0x4, 3, &[0xbe, 0x83]));
    assert_eq!(summary.content_type, None);
    assert_eq!(summary.method, Some("POST"));
}

#[test]
fn the_dynamic_table_carries_across_header_blocks_of_one_payload() {
    // Stream 1 adds content-type with incremental indexing; stream 3 sends
    // it as index 62.
    let mut payload = frame(1, 0x4, 1, &hex("5f8b 1d75d0620d263d4c4d6564"));
    payload.extend(frame(1, 0x4, 3, &[0x83, 0xbe]));
    let summary = parse_frames(&payload);
    assert!(summary.is_grpc());
    assert_eq!(summary.method, Some("POST"));
}

#[test]
fn a_frame_cut_short_still_yields_its_captured_fields() {
    let payload = test_samples::grpc_request(true);
    let frames = after_preface(&payload);
    // Cut inside the header block, after :method and :scheme.
    let headers_start = frames.len() - test_samples::grpc_request_block(true).len();
    let summary = parse_frames(&frames[..headers_start + 2]);
    assert_eq!(summary.method, Some("POST"));
    assert_eq!(summary.stopped, Some(Http2Error::CutShort));
}

#[test]
fn invalid_frame_headers_stop_the_walk() {
    let invalid = [
        ("SETTINGS on a stream", frame(4, 0, 1, &[])),
        ("SETTINGS of 7 bytes", frame(4, 0, 0, &[0; 7])),
        ("SETTINGS ACK with a payload", frame(4, 1, 0, &[0; 6])),
        ("HEADERS on stream 0", frame(1, 0x4, 0, &[0x82])),
        ("HEADERS with an undefined flag", frame(1, 0x44, 1, &[0x82])),
        ("PING of 7 bytes", frame(6, 0, 0, &[0; 7])),
        ("WINDOW_UPDATE of 5 bytes", frame(8, 0, 0, &[0; 5])),
    ];
    for (what, bytes) in invalid {
        let summary = parse_frames(&bytes);
        assert_eq!(summary.frames, 0, "{what}");
        assert!(
            matches!(summary.stopped, Some(Http2Error::InvalidFrame { .. })),
            "{what}"
        );
    }
}

#[test]
fn padding_longer_than_the_frame_is_an_error() {
    let summary = parse_frames(&frame(1, 0x4 | 0x8, 1, &[9, 0x82]));
    assert_eq!(summary.stopped, Some(Http2Error::BadPadding));
    assert_eq!(summary.method, None);
}

#[test]
fn the_preface_is_recognised_from_its_first_line() {
    assert!(starts_with_preface(PREFACE));
    assert!(starts_with_preface(b"PRI * HTTP/2.0\r\n"));
    assert!(!starts_with_preface(b"PRI * HTTP/2.0"));
    assert!(!starts_with_preface(b"PRI * HTTP/2.0\r\n\r\nXX"));
    assert!(!starts_with_preface(b"GET / HTTP/1.1\r\n\r\n"));
}

#[test]
fn every_cut_of_the_samples_is_a_prefix_of_what_the_whole_says() {
    for payload in [
        hex(test_samples::CURL_H2C_REQUEST),
        test_samples::grpc_request(true),
        test_samples::grpc_request(false),
        test_samples::grpc_request_padded_and_continued(),
    ] {
        let frames = after_preface(&payload);
        let whole = parse_frames(frames);
        for cut in 0..=frames.len() {
            let summary = parse_frames(&frames[..cut]);
            assert!(summary.method.is_none() || summary.method == whole.method);
            assert!(summary.content_type.is_none() || summary.content_type == whole.content_type);
            assert!(summary.stopped.is_none() || summary.stopped == Some(Http2Error::CutShort));
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let summary = parse_frames(&bytes);
        prop_assert!(summary.frames <= MAX_FRAMES);
        prop_assert!(summary.status.is_none_or(|s| (100..=599).contains(&s)));
    }

    #[test]
    fn arbitrary_header_blocks_never_panic(
        block in proptest::collection::vec(any::<u8>(), 0..500),
        flags in any::<u8>(),
    ) {
        let _ = parse_frames(&frame(1, flags & 0x2d, 1, &block));
        let _ = parse_frames(&frame(5, flags & 0x0c, 2, &block));
    }

    #[test]
    fn mutated_grpc_calls_never_panic(index in 0usize..400, byte in any::<u8>(), cut in 0usize..400) {
        for mut payload in [test_samples::grpc_request(true), test_samples::grpc_response()] {
            let len = payload.len();
            payload[index % len] = byte;
            payload.truncate(cut);
            let _ = parse_frames(&payload);
        }
    }
}
