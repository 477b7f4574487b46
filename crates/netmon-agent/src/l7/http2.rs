//! HTTP/2 (RFC 9113): the client connection preface and the frames of the
//! first segments, with the header blocks of HEADERS frames decoded for
//! `:method`, `:status` and `content-type`. The content type is what tells
//! gRPC (`application/grpc...`) from other HTTP/2.
//!
//! Frames are read one after the other from the start of the payload, at
//! most [`MAX_FRAMES`]. Each frame header is checked against what RFC 9113
//! §6 allows for its type (stream 0 or not, fixed lengths, defined flags),
//! so that bytes which only happen to start like a frame, or a segment
//! that starts in the middle of a frame, stop the walk instead of yielding
//! fields. A frame the capture cut short still has its header block
//! decoded as far as it was captured.

use thiserror::Error;

use super::hpack;
use super::http1;

/// What every HTTP/2 client sends first over cleartext or after ALPN "h2".
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Bytes in a frame header.
pub const FRAME_HEADER_LEN: usize = 9;
/// Most frames read from one payload (each is at least 9 bytes, so a
/// 512-byte capture holds at most 56).
pub const MAX_FRAMES: usize = 64;
/// SETTINGS_MAX_FRAME_SIZE's initial value: the longest frame a peer may
/// send before it learns otherwise.
const DEFAULT_MAX_FRAME_SIZE: usize = 1 << 14;
/// Longest content type kept.
const MAX_CONTENT_TYPE_LEN: usize = 128;

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PUSH_PROMISE: u8 = 0x5;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

const FLAG_END_STREAM: u8 = 0x1;
const FLAG_ACK: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;

/// Why the frame walk stopped before the end of the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Http2Error {
    /// The capture ended inside a frame.
    #[error("the capture ended inside a frame")]
    CutShort,
    /// A frame header that RFC 9113 does not allow for its type.
    #[error("invalid frame header: type {kind}, flags {flags:#04x}, length {length}, stream {stream_id}")]
    InvalidFrame {
        kind: u8,
        flags: u8,
        length: usize,
        stream_id: u32,
    },
    /// A padding length longer than the frame.
    #[error("padding overruns the frame")]
    BadPadding,
    /// More frames than [`MAX_FRAMES`].
    #[error("more than {max} frames")]
    TooManyFrames { max: usize },
}

/// A frame header (RFC 9113 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length, the 9-byte header excluded.
    pub length: usize,
    /// The frame type (0 DATA, 1 HEADERS, 4 SETTINGS, ...).
    pub kind: u8,
    pub flags: u8,
    /// Without the reserved bit.
    pub stream_id: u32,
}

impl FrameHeader {
    /// The frame header at the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Option<FrameHeader> {
        let [l1, l2, l3, kind, flags, s1, s2, s3, s4, ..] = *bytes else {
            return None;
        };
        Some(FrameHeader {
            length: usize::from(l1) << 16 | usize::from(l2) << 8 | usize::from(l3),
            kind,
            flags,
            stream_id: u32::from_be_bytes([s1, s2, s3, s4]) & 0x7fff_ffff,
        })
    }

    /// Whether RFC 9113 §6 allows this header: stream 0 exactly for
    /// connection frames, the fixed lengths, and no undefined flag (senders
    /// must leave them unset). Extension types are allowed when no longer
    /// than the initial maximum frame size.
    pub fn is_valid(&self) -> bool {
        let stream = self.stream_id != 0;
        let flags_within = |defined: u8| self.flags & !defined == 0;
        match self.kind {
            DATA => stream && flags_within(FLAG_END_STREAM | FLAG_PADDED),
            HEADERS => {
                stream
                    && flags_within(
                        FLAG_END_STREAM | FLAG_END_HEADERS | FLAG_PADDED | FLAG_PRIORITY,
                    )
            }
            PRIORITY => stream && self.length == 5 && self.flags == 0,
            RST_STREAM => stream && self.length == 4 && self.flags == 0,
            SETTINGS => {
                !stream
                    && flags_within(FLAG_ACK)
                    && if self.flags & FLAG_ACK != 0 {
                        self.length == 0
                    } else {
                        self.length.is_multiple_of(6)
                    }
            }
            PUSH_PROMISE => stream && flags_within(FLAG_END_HEADERS | FLAG_PADDED),
            PING => !stream && self.length == 8 && flags_within(FLAG_ACK),
            GOAWAY => !stream && self.length >= 8 && self.flags == 0,
            WINDOW_UPDATE => self.length == 4 && self.flags == 0,
            CONTINUATION => stream && flags_within(FLAG_END_HEADERS),
            _ => self.length <= DEFAULT_MAX_FRAME_SIZE,
        }
    }

    /// Whether the type is one RFC 9113 defines (not an extension).
    pub fn is_core_type(&self) -> bool {
        self.kind <= CONTINUATION
    }
}

/// What the frames of one payload told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Http2Summary {
    /// Valid frame headers read.
    pub frames: usize,
    /// The first frame's header.
    pub first_frame: Option<FrameHeader>,
    /// The first standard `:method` (see [`http1::METHODS`]).
    pub method: Option<&'static str>,
    /// The first final (>= 200) `:status`, else the first informational one.
    pub status: Option<u16>,
    /// The first `content-type` of visible ASCII, at most 128 bytes.
    pub content_type: Option<String>,
    /// Why the walk stopped early; None when the payload ended with a frame.
    pub stopped: Option<Http2Error>,
}

impl Http2Summary {
    /// Whether a content type says gRPC (`application/grpc`, `+proto`, ...).
    pub fn is_grpc(&self) -> bool {
        self.content_type
            .as_deref()
            .is_some_and(is_grpc_content_type)
    }
}

/// Whether `content_type` is a gRPC one (starts with `application/grpc`).
pub fn is_grpc_content_type(content_type: &str) -> bool {
    const GRPC: &str = "application/grpc";
    content_type
        .get(..GRPC.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(GRPC))
}

/// Whether `payload` starts with the client preface, or is cut short
/// inside it after at least `PRI * HTTP/2.0\r\n`, which nothing else sends.
pub fn starts_with_preface(payload: &[u8]) -> bool {
    let n = payload.len().min(PREFACE.len());
    n >= 16 && payload[..n] == PREFACE[..n]
}

/// Reads the frames of `bytes`, which start at a frame boundary (after the
/// preface, or at the start of a later segment).
pub fn parse_frames(bytes: &[u8]) -> Http2Summary {
    let mut summary = Http2Summary::default();
    let mut decoder = hpack::Decoder::new();
    let mut pos = 0;
    while pos < bytes.len() {
        if summary.frames == MAX_FRAMES {
            summary.stopped = Some(Http2Error::TooManyFrames { max: MAX_FRAMES });
            break;
        }
        let Some(header) = FrameHeader::parse(&bytes[pos..]) else {
            summary.stopped = Some(Http2Error::CutShort);
            break;
        };
        if !header.is_valid() {
            summary.stopped = Some(Http2Error::InvalidFrame {
                kind: header.kind,
                flags: header.flags,
                length: header.length,
                stream_id: header.stream_id,
            });
            break;
        }
        summary.frames += 1;
        summary.first_frame.get_or_insert(header);
        let start = pos + FRAME_HEADER_LEN;
        let end = start + header.length;
        let captured = &bytes[start..end.min(bytes.len())];
        pos = end;
        if matches!(header.kind, HEADERS | PUSH_PROMISE) {
            match header_block(header, captured, &bytes[end.min(bytes.len())..]) {
                Ok((block, continued)) => {
                    pos += continued;
                    let keep = header.kind == HEADERS;
                    decode_fields(&mut decoder, &block, keep, &mut summary);
                }
                Err(error) => {
                    summary.stopped = Some(error);
                    break;
                }
            }
        }
        if pos > bytes.len() {
            summary.stopped = Some(Http2Error::CutShort);
        }
    }
    summary
}

/// The header block fragment of a HEADERS or PUSH_PROMISE frame whose
/// captured payload is `payload`, joined with the fragments of the
/// CONTINUATION frames that follow in `rest`; and how many bytes of `rest`
/// those took.
fn header_block(
    header: FrameHeader,
    payload: &[u8],
    rest: &[u8],
) -> Result<(Vec<u8>, usize), Http2Error> {
    let mut skip = 0;
    let mut pad = 0;
    if header.flags & FLAG_PADDED != 0 {
        pad = usize::from(*payload.first().ok_or(Http2Error::CutShort)?);
        skip += 1;
    }
    if header.kind == HEADERS && header.flags & FLAG_PRIORITY != 0 {
        // Exclusive bit, stream dependency (31 bits), weight.
        skip += 5;
    }
    if header.kind == PUSH_PROMISE {
        // Promised stream id.
        skip += 4;
    }
    if skip + pad > header.length {
        return Err(Http2Error::BadPadding);
    }
    let fragment_end = (header.length - pad).min(payload.len());
    let mut block = payload.get(skip..fragment_end).unwrap_or_default().to_vec();

    let mut used = 0;
    let mut end_headers = header.flags & FLAG_END_HEADERS != 0;
    while !end_headers {
        let Some(next) = FrameHeader::parse(&rest[used..]) else {
            break;
        };
        if next.kind != CONTINUATION || next.stream_id != header.stream_id || !next.is_valid() {
            break;
        }
        let start = used + FRAME_HEADER_LEN;
        let end = start + next.length;
        block.extend_from_slice(&rest[start..end.min(rest.len())]);
        used = end;
        end_headers = next.flags & FLAG_END_HEADERS != 0;
        if used >= rest.len() {
            break;
        }
    }
    Ok((block, used))
}

/// Decodes a header block, keeping the fields of interest of HEADERS
/// frames (a PUSH_PROMISE block is decoded only to keep the dynamic table
/// in step).
fn decode_fields(
    decoder: &mut hpack::Decoder,
    block: &[u8],
    keep: bool,
    summary: &mut Http2Summary,
) {
    // Fields before an error are kept; the error is the capture's end or
    // garbage, and either way nothing after it is trustworthy.
    let _ = decoder.decode_block(block, |field| {
        let (true, Some(name), Some(value)) = (keep, field.name, field.value) else {
            return;
        };
        match name {
            b":method" if summary.method.is_none() => {
                summary.method = http1::standard_method(value)
            }
            b":status" => {
                let informational = summary.status.is_some_and(|s| s < 200);
                if summary.status.is_none() || informational {
                    summary.status = parse_status(value).or(summary.status);
                }
            }
            b"content-type" if summary.content_type.is_none() => {
                let valid = value.len() <= MAX_CONTENT_TYPE_LEN
                    && value.iter().all(|&b| b == b' ' || b.is_ascii_graphic());
                if valid {
                    summary.content_type = Some(String::from_utf8_lossy(value).into_owned());
                }
            }
            _ => {}
        }
    });
}

/// A `:status` value: three digits, 100..=599.
fn parse_status(value: &[u8]) -> Option<u16> {
    let [a, b, c] = *value else {
        return None;
    };
    if ![a, b, c].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let status = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
    (100..=599).contains(&status).then_some(status)
}

#[cfg(test)]
#[path = "http2_tests.rs"]
mod tests;
