//! One spool record on disk: a little-endian u32 payload length, a
//! little-endian u32 CRC-32 of the payload, then the payload (an encoded
//! `ExportRequest`).

use std::io::{self, Read};

pub const HEADER_BYTES: u64 = 8;

/// Appends the framed `payload` to `out`.
pub fn encode(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// What the next bytes of a segment hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A whole record with a matching checksum.
    Record(Vec<u8>),
    /// A whole record whose checksum does not match: skip its `len` bytes.
    BadChecksum { len: u32 },
    /// The segment ends inside a header or a payload: a write that never
    /// finished, or a damaged length.
    TruncatedTail,
    /// The segment ends exactly here.
    End,
}

/// Reads the record at the reader's position; `remaining` is how many bytes
/// the segment has from there.
pub fn read_next(reader: &mut impl Read, remaining: u64) -> io::Result<Next> {
    if remaining == 0 {
        return Ok(Next::End);
    }
    if remaining < HEADER_BYTES {
        return Ok(Next::TruncatedTail);
    }
    let mut header = [0u8; HEADER_BYTES as usize];
    reader.read_exact(&mut header)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if u64::from(len) > remaining - HEADER_BYTES {
        return Ok(Next::TruncatedTail);
    }
    let mut payload = vec![0u8; len as usize];
    reader.read_exact(&mut payload)?;
    if crc32fast::hash(&payload) == crc {
        Ok(Next::Record(payload))
    } else {
        Ok(Next::BadChecksum { len })
    }
}

/// Checks a record read back by position.
pub fn decode(frame: &[u8]) -> Option<&[u8]> {
    let header = frame.get(..HEADER_BYTES as usize)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let payload = frame.get(HEADER_BYTES as usize..)?;
    (payload.len() == len && crc32fast::hash(payload) == crc).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for payload in payloads {
            encode(&mut out, payload);
        }
        out
    }

    #[test]
    fn records_read_back_in_order_then_the_end() {
        let bytes = frames(&[b"one", b"two!"]);
        let mut reader = &bytes[..];
        assert_eq!(
            read_next(&mut reader, 23).unwrap(),
            Next::Record(b"one".to_vec())
        );
        assert_eq!(
            read_next(&mut reader, 12).unwrap(),
            Next::Record(b"two!".to_vec())
        );
        assert_eq!(read_next(&mut reader, 0).unwrap(), Next::End);
    }

    #[test]
    fn a_flipped_bit_is_a_bad_checksum_and_a_cut_record_a_truncated_tail() {
        let mut bytes = frames(&[b"payload"]);
        bytes[9] ^= 1;
        assert_eq!(
            read_next(&mut &bytes[..], bytes.len() as u64).unwrap(),
            Next::BadChecksum { len: 7 }
        );
        let cut = frames(&[b"payload"]);
        assert_eq!(read_next(&mut &cut[..], 12).unwrap(), Next::TruncatedTail);
        assert_eq!(read_next(&mut &cut[..], 5).unwrap(), Next::TruncatedTail);
    }

    #[test]
    fn decode_accepts_only_a_whole_matching_frame() {
        let bytes = frames(&[b"abc"]);
        assert_eq!(decode(&bytes), Some(&b"abc"[..]));
        assert_eq!(decode(&bytes[..10]), None);
        let mut flipped = bytes.clone();
        flipped[8] ^= 0x80;
        assert_eq!(decode(&flipped), None);
    }
}
