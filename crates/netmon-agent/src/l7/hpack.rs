//! HPACK header block decoding (RFC 7541), as far as one captured payload
//! allows.
//!
//! netmon reads a few fields (`:method`, `:status`, `content-type`) from the
//! HEADERS frames of the first segments of an HTTP/2 connection, without
//! keeping state between segments. So the decoder starts with an empty
//! dynamic table for every payload, and a reference to an entry it never
//! saw (inserted by an earlier segment) is not an error: that field comes
//! out as unknown and decoding goes on. This stays correct because HPACK
//! indexes the dynamic table from the newest entry: the entries inserted
//! within this payload are exactly the newest ones of the connection's real
//! table. Evictions need no bookkeeping either: a conforming encoder never
//! references an evicted entry, so keeping more entries than the peer does
//! cannot mislead; the table is only capped to bound memory.
//!
//! The crates.io HPACK decoders index past the end of truncated input (a
//! size update or integer cut short), which a capture of 512 bytes produces
//! routinely; this decoder checks every length against the bytes present.

use std::collections::VecDeque;

use thiserror::Error;

use super::huffman::{self, HuffmanError};

/// Why a header block could not be decoded further. Fields before the
/// failing one have already been reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HpackError {
    /// The block ends inside a field (the capture was cut short).
    #[error("header block cut short")]
    Truncated,
    /// An integer uses more continuation octets than any sane value needs.
    #[error("HPACK integer longer than {max_octets} octets")]
    IntegerTooLong { max_octets: usize },
    /// Index 0 is reserved (RFC 7541 §6.1).
    #[error("indexed header field with index 0")]
    ZeroIndex,
    #[error("bad Huffman string: {0}")]
    Huffman(#[from] HuffmanError),
}

/// One decoded header field. `None` is a name or value that refers to a
/// dynamic-table entry this payload did not insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField<'a> {
    pub name: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

/// The static table (RFC 7541 Appendix A), index 1 first.
const STATIC_TABLE: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// Most dynamic entries remembered; older ones become unknown.
const MAX_DYNAMIC_ENTRIES: usize = 64;
/// Most bytes one Huffman string may decode to (a 512-byte capture cannot
/// hold more than 820).
const MAX_STRING: usize = 4096;
/// An integer of 5 octets already exceeds 2^28, more than any length or
/// index in a capture.
const MAX_INTEGER_OCTETS: usize = 5;

/// A dynamic-table entry; `None` where the inserting field's name referred
/// to an entry this payload did not insert.
#[derive(Debug)]
struct Entry {
    name: Option<Box<[u8]>>,
    value: Box<[u8]>,
}

/// Decodes the header blocks of one payload, in order, sharing one dynamic
/// table (the connection's, as far as this payload shows it).
#[derive(Debug, Default)]
pub struct Decoder {
    /// Newest first: index 62 is `dynamic[0]`.
    dynamic: VecDeque<Entry>,
    name_buf: Vec<u8>,
    value_buf: Vec<u8>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes `block`, calling `on_field` for each field in order. On an
    /// error the fields before it have been reported and the table holds
    /// their insertions.
    pub fn decode_block(
        &mut self,
        block: &[u8],
        mut on_field: impl FnMut(HeaderField<'_>),
    ) -> Result<(), HpackError> {
        let mut pos = 0;
        while let Some(&first) = block.get(pos) {
            if first & 0x80 != 0 {
                // Indexed field (§6.1).
                let index = integer(block, &mut pos, 7)?;
                if index == 0 {
                    return Err(HpackError::ZeroIndex);
                }
                let (name, value) = lookup(&self.dynamic, index);
                on_field(HeaderField { name, value });
            } else if first & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3). Only a size of 0 changes
                // what may be referenced: the peer's table is empty again.
                if integer(block, &mut pos, 5)? == 0 {
                    self.dynamic.clear();
                }
            } else {
                // Literal (§6.2): with incremental indexing (01), without
                // indexing (0000) or never indexed (0001).
                let indexing = first & 0x40 != 0;
                let name_index = integer(block, &mut pos, if indexing { 6 } else { 4 })?;
                let name = if name_index == 0 {
                    Some(string(block, &mut pos, &mut self.name_buf)?)
                } else {
                    lookup(&self.dynamic, name_index).0
                };
                let value = string(block, &mut pos, &mut self.value_buf)?;
                on_field(HeaderField {
                    name,
                    value: Some(value),
                });
                if indexing {
                    let entry = Entry {
                        name: name.map(Box::from),
                        value: Box::from(value),
                    };
                    self.dynamic.push_front(entry);
                    self.dynamic.truncate(MAX_DYNAMIC_ENTRIES);
                }
            }
        }
        Ok(())
    }
}

/// Name and value at `index` (1-based, static table then dynamic table).
fn lookup(dynamic: &VecDeque<Entry>, index: usize) -> (Option<&[u8]>, Option<&[u8]>) {
    let Some(dynamic_index) = index.checked_sub(STATIC_TABLE.len() + 1) else {
        return match index.checked_sub(1).and_then(|i| STATIC_TABLE.get(i)) {
            Some(&(name, value)) => (Some(name), Some(value)),
            None => (None, None),
        };
    };
    match dynamic.get(dynamic_index) {
        Some(entry) => (entry.name.as_deref(), Some(&entry.value)),
        None => (None, None),
    }
}

/// Reads an integer with an `prefix_bits`-bit prefix at `*pos` (§5.1).
fn integer(block: &[u8], pos: &mut usize, prefix_bits: u32) -> Result<usize, HpackError> {
    let mask = (1usize << prefix_bits) - 1;
    let first = *block.get(*pos).ok_or(HpackError::Truncated)?;
    *pos += 1;
    let mut value = usize::from(first) & mask;
    if value < mask {
        return Ok(value);
    }
    for octet in 0..MAX_INTEGER_OCTETS - 1 {
        let byte = *block.get(*pos).ok_or(HpackError::Truncated)?;
        *pos += 1;
        value += usize::from(byte & 0x7f) << (7 * octet);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(HpackError::IntegerTooLong {
        max_octets: MAX_INTEGER_OCTETS,
    })
}

/// Reads a string literal at `*pos` (§5.2): raw strings are borrowed from
/// the block, Huffman-coded ones are decoded into `buf`.
fn string<'b>(
    block: &'b [u8],
    pos: &mut usize,
    buf: &'b mut Vec<u8>,
) -> Result<&'b [u8], HpackError> {
    let huffman = block.get(*pos).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = integer(block, pos, 7)?;
    let end = pos.checked_add(len).ok_or(HpackError::Truncated)?;
    let raw = block.get(*pos..end).ok_or(HpackError::Truncated)?;
    *pos = end;
    if !huffman {
        return Ok(raw);
    }
    buf.clear();
    huffman::decode(raw, buf, MAX_STRING)?;
    Ok(buf.as_slice())
}

#[cfg(test)]
#[path = "hpack_tests.rs"]
mod tests;
