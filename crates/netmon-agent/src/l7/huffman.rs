//! The Huffman code of HPACK (RFC 7541, Appendix B), decoding only.
//!
//! HTTP/2 clients Huffman-code most header values, `content-type:
//! application/grpc` included, so recognising gRPC needs this decoder. The
//! code is canonical (codes of one length are consecutive and every length
//! continues where the shorter one ended), so decoding needs no tree: per
//! code length, the first code and how many codes have that length locate a
//! symbol in a table sorted by code. Everything is computed at compile time
//! from the RFC's table; decoding allocates nothing beyond its output.

use thiserror::Error;

/// Why a Huffman-coded string could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HuffmanError {
    /// The string contains the EOS symbol, which RFC 7541 §5.2 makes an error.
    #[error("Huffman string contains the EOS symbol")]
    EosInString,
    /// The last bits are not a prefix of EOS (all ones), or more than 7.
    #[error("Huffman string ends in invalid padding")]
    InvalidPadding,
    /// The decoded string would exceed the caller's limit.
    #[error("Huffman string decodes to more than {limit} bytes")]
    TooLong { limit: usize },
}

/// Code and bit length of every symbol, 0..=255 then EOS (256), as printed
/// in RFC 7541 Appendix B.
#[rustfmt::skip]
const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28), // 0x00
    (0xfffffe4, 28), (0xfffffe5, 28), (0xfffffe6, 28), (0xfffffe7, 28), // 0x04
    (0xfffffe8, 28), (0xffffea, 24), (0x3ffffffc, 30), (0xfffffe9, 28), // 0x08
    (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28), (0xfffffec, 28), // 0x0c
    (0xfffffed, 28), (0xfffffee, 28), (0xfffffef, 28), (0xffffff0, 28), // 0x10
    (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28), // 0x14
    (0xffffff4, 28), (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28), // 0x18
    (0xffffff8, 28), (0xffffff9, 28), (0xffffffa, 28), (0xffffffb, 28), // 0x1c
    (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12), // 0x20
    (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11), // 0x24
    (0x3fa, 10), (0x3fb, 10), (0xf9, 8), (0x7fb, 11), // 0x28
    (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6), // 0x2c
    (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6), // 0x30
    (0x1a, 6), (0x1b, 6), (0x1c, 6), (0x1d, 6), // 0x34
    (0x1e, 6), (0x1f, 6), (0x5c, 7), (0xfb, 8), // 0x38
    (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10), // 0x3c
    (0x1ffa, 13), (0x21, 6), (0x5d, 7), (0x5e, 7), // 0x40
    (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7), // 0x44
    (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7), // 0x48
    (0x67, 7), (0x68, 7), (0x69, 7), (0x6a, 7), // 0x4c
    (0x6b, 7), (0x6c, 7), (0x6d, 7), (0x6e, 7), // 0x50
    (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7), // 0x54
    (0xfc, 8), (0x73, 7), (0xfd, 8), (0x1ffb, 13), // 0x58
    (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6), // 0x5c
    (0x7ffd, 15), (0x3, 5), (0x23, 6), (0x4, 5), // 0x60
    (0x24, 6), (0x5, 5), (0x25, 6), (0x26, 6), // 0x64
    (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7), // 0x68
    (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5), // 0x6c
    (0x2b, 6), (0x76, 7), (0x2c, 6), (0x8, 5), // 0x70
    (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7), // 0x74
    (0x79, 7), (0x7a, 7), (0x7b, 7), (0x7ffe, 15), // 0x78
    (0x7fc, 11), (0x3ffd, 14), (0x1ffd, 13), (0xffffffc, 28), // 0x7c
    (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20), // 0x80
    (0x3fffd3, 22), (0x3fffd4, 22), (0x3fffd5, 22), (0x7fffd9, 23), // 0x84
    (0x3fffd6, 22), (0x7fffda, 23), (0x7fffdb, 23), (0x7fffdc, 23), // 0x88
    (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23), // 0x8c
    (0xffffec, 24), (0xffffed, 24), (0x3fffd7, 22), (0x7fffe0, 23), // 0x90
    (0xffffee, 24), (0x7fffe1, 23), (0x7fffe2, 23), (0x7fffe3, 23), // 0x94
    (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23), // 0x98
    (0x3fffd9, 22), (0x7fffe6, 23), (0x7fffe7, 23), (0xffffef, 24), // 0x9c
    (0x3fffda, 22), (0x1fffdd, 21), (0xfffe9, 20), (0x3fffdb, 22), // 0xa0
    (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21), // 0xa4
    (0x7fffea, 23), (0x3fffdd, 22), (0x3fffde, 22), (0xfffff0, 24), // 0xa8
    (0x1fffdf, 21), (0x3fffdf, 22), (0x7fffeb, 23), (0x7fffec, 23), // 0xac
    (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21), // 0xb0
    (0x7fffed, 23), (0x3fffe1, 22), (0x7fffee, 23), (0x7fffef, 23), // 0xb4
    (0xfffea, 20), (0x3fffe2, 22), (0x3fffe3, 22), (0x3fffe4, 22), // 0xb8
    (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23), // 0xbc
    (0x3ffffe0, 26), (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19), // 0xc0
    (0x3fffe7, 22), (0x7ffff2, 23), (0x3fffe8, 22), (0x1ffffec, 25), // 0xc4
    (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27), // 0xc8
    (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25), // 0xcc
    (0x7fff2, 19), (0x1fffe3, 21), (0x3ffffe6, 26), (0x7ffffe0, 27), // 0xd0
    (0x7ffffe1, 27), (0x3ffffe7, 26), (0x7ffffe2, 27), (0xfffff2, 24), // 0xd4
    (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26), (0x3ffffe9, 26), // 0xd8
    (0xffffffd, 28), (0x7ffffe3, 27), (0x7ffffe4, 27), (0x7ffffe5, 27), // 0xdc
    (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21), // 0xe0
    (0x3fffe9, 22), (0x1fffe7, 21), (0x1fffe8, 21), (0x7ffff3, 23), // 0xe4
    (0x3fffea, 22), (0x3fffeb, 22), (0x1ffffee, 25), (0x1ffffef, 25), // 0xe8
    (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23), // 0xec
    (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26), // 0xf0
    (0x7ffffe7, 27), (0x7ffffe8, 27), (0x7ffffe9, 27), (0x7ffffea, 27), // 0xf4
    (0x7ffffeb, 27), (0xffffffe, 28), (0x7ffffec, 27), (0x7ffffed, 27), // 0xf8
    (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27), (0x3ffffee, 26), // 0xfc
    (0x3fffffff, 30), // EOS
];

const EOS: u16 = 256;
const MAX_LEN: usize = 30;

/// Per code length: the first (smallest) code, how many codes there are and
/// where they start in [`BY_CODE`].
struct Canonical {
    first: [u32; MAX_LEN + 1],
    count: [u16; MAX_LEN + 1],
    offset: [u16; MAX_LEN + 1],
    /// Symbols ordered by (length, code).
    by_code: [u16; 257],
}

const fn canonical() -> Canonical {
    let mut count = [0u16; MAX_LEN + 1];
    let mut first = [u32::MAX; MAX_LEN + 1];
    let mut i = 0;
    while i < CODES.len() {
        let (code, len) = CODES[i];
        count[len as usize] += 1;
        if code < first[len as usize] {
            first[len as usize] = code;
        }
        i += 1;
    }
    let mut offset = [0u16; MAX_LEN + 1];
    let mut len = 1;
    while len <= MAX_LEN {
        offset[len] = offset[len - 1] + count[len - 1];
        len += 1;
    }
    // Place each symbol at its length's offset plus its distance from the
    // length's first code: the canonical property makes that distance its
    // rank (checked by a test).
    let mut by_code = [0u16; 257];
    let mut symbol = 0;
    while symbol < CODES.len() {
        let (code, len) = CODES[symbol];
        let slot = offset[len as usize] as u32 + (code - first[len as usize]);
        by_code[slot as usize] = symbol as u16;
        symbol += 1;
    }
    Canonical {
        first,
        count,
        offset,
        by_code,
    }
}

static TABLE: Canonical = canonical();

/// Decodes the Huffman-coded `input`, appending to `out`, which may hold at
/// most `limit` bytes afterwards.
///
/// A code is looked up after each bit: once `len` bits have been read, the
/// value read so far is a symbol of that length exactly when it lies in
/// `first[len] .. first[len] + count[len]`.
pub fn decode(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), HuffmanError> {
    let mut code: u32 = 0;
    let mut len: usize = 0;
    for &byte in input {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            let count = u32::from(TABLE.count[len]);
            let first = TABLE.first[len];
            if count != 0 && code >= first && code - first < count {
                let symbol =
                    TABLE.by_code[usize::from(TABLE.offset[len]) + (code - first) as usize];
                if symbol == EOS {
                    return Err(HuffmanError::EosInString);
                }
                if out.len() >= limit {
                    return Err(HuffmanError::TooLong { limit });
                }
                out.push(symbol as u8);
                code = 0;
                len = 0;
            } else if len == MAX_LEN {
                // Every 30-bit value is a code or the prefix of none: the
                // code is complete, so this cannot happen; refuse rather than
                // shift past 32 bits if the table were ever wrong.
                return Err(HuffmanError::InvalidPadding);
            }
        }
    }
    // Padding: fewer than 8 bits, all ones (the most significant bits of EOS).
    if len > 7 || code != (1u32 << len) - 1 {
        return Err(HuffmanError::InvalidPadding);
    }
    Ok(())
}

/// Encodes `input` (tests build header blocks with it; the agent only decodes).
#[cfg(test)]
pub fn encode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &byte in input {
        let (code, len) = CODES[usize::from(byte)];
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        let pad = 8 - bits;
        out.push(((acc << pad) as u8) | ((1u8 << pad) - 1));
    }
    out
}

#[cfg(test)]
#[path = "huffman_tests.rs"]
mod tests;
