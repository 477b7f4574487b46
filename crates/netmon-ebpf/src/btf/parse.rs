//! The container of the BTF format (the kernel's `Documentation/bpf/btf.rst`):
//! a header, a type section where every type is a 12-byte `btf_type`
//! followed by data whose length its kind fixes, and a string section of
//! NUL-terminated names. Everything is checked against the data's length
//! before it is read, since the bytes come from files and user objects.
//!
//! Types are handed out one at a time as they are walked, and names only on
//! request: vmlinux has over 100 000 types, and a reader looking for one
//! enum should neither keep them all nor decode every name.

use std::ops::Range;

use thiserror::Error;

use super::kind::Kind;

pub const BTF_MAGIC: u16 = 0xeb9f;
pub const HEADER_LEN: usize = 24;
const TYPE_LEN: usize = 12;

/// Why bytes are not well-formed BTF.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum MalformedBtf {
    #[error("{len} bytes, shorter than the {HEADER_LEN}-byte header")]
    ShorterThanHeader { len: usize },
    #[error("magic {magic:#06x} is not BTF's {BTF_MAGIC:#06x}")]
    Magic { magic: u16 },
    #[error("version {version} is not 1")]
    Version { version: u8 },
    #[error("header length {header_len} is shorter than {HEADER_LEN} bytes")]
    HeaderLength { header_len: usize },
    #[error(
        "the {section} section ({len} bytes at {offset} after a {header_len}-byte header) \
         lies outside the {file_len}-byte file"
    )]
    SectionOutsideFile {
        section: &'static str,
        offset: usize,
        len: usize,
        header_len: usize,
        file_len: usize,
    },
    #[error("type #{id} at byte {at} is cut short")]
    TypeCutShort { id: u32, at: usize },
    #[error("type #{id} at byte {at} has unknown kind {kind}")]
    UnknownKind { id: u32, at: usize, kind: u32 },
    #[error("string offset {offset} is outside the string section")]
    StringOutsideSection { offset: u32 },
    #[error("string at offset {offset} is not NUL-terminated")]
    StringNotTerminated { offset: u32 },
    #[error("string at offset {offset} is not UTF-8")]
    StringNotUtf8 { offset: u32 },
}

/// Byte order of the data, told by how the magic reads: BTF is written in
/// the byte order of the machine it was built for.
#[derive(Debug, Clone, Copy)]
enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    fn word(self, bytes: [u8; 4]) -> u32 {
        match self {
            ByteOrder::Little => u32::from_le_bytes(bytes),
            ByteOrder::Big => u32::from_be_bytes(bytes),
        }
    }

    /// The word at `at`; the caller has checked that it is inside `data`.
    fn word_at(self, data: &[u8], at: usize) -> u32 {
        self.word(data[at..at + 4].try_into().expect("four bytes"))
    }
}

/// BTF data whose header and section bounds have been checked.
#[derive(Debug, Clone, Copy)]
pub struct Btf<'a> {
    data: &'a [u8],
    order: ByteOrder,
    types_start: usize,
    types_end: usize,
    strings: &'a [u8],
}

/// One type of the type section, with its kind's data.
#[derive(Debug, Clone, Copy)]
pub struct BtfType<'a> {
    pub kind: Kind,
    pub name_offset: u32,
    /// The info word's high bit: signedness of an enum, bitfield offsets
    /// in a struct's members.
    pub kind_flag: bool,
    /// Size for sized kinds, referenced type for the others.
    pub size_or_type: u32,
    data: &'a [u8],
    order: ByteOrder,
}

impl<'a> Btf<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self, MalformedBtf> {
        if data.len() < HEADER_LEN {
            return Err(MalformedBtf::ShorterThanHeader { len: data.len() });
        }
        let order = match [data[0], data[1]] {
            m if u16::from_le_bytes(m) == BTF_MAGIC => ByteOrder::Little,
            m if u16::from_be_bytes(m) == BTF_MAGIC => ByteOrder::Big,
            m => {
                return Err(MalformedBtf::Magic {
                    magic: u16::from_le_bytes(m),
                })
            }
        };
        if data[2] != 1 {
            return Err(MalformedBtf::Version { version: data[2] });
        }
        let field = |at| order.word_at(data, at) as usize;
        let header_len = field(4);
        if header_len < HEADER_LEN {
            return Err(MalformedBtf::HeaderLength { header_len });
        }
        let section = |section, offset: usize, len: usize| -> Result<Range<usize>, MalformedBtf> {
            let start = header_len.checked_add(offset);
            match start.and_then(|s| s.checked_add(len).map(|end| (s, end))) {
                Some((start, end)) if end <= data.len() => Ok(start..end),
                _ => Err(MalformedBtf::SectionOutsideFile {
                    section,
                    offset,
                    len,
                    header_len,
                    file_len: data.len(),
                }),
            }
        };
        let types = section("type", field(8), field(12))?;
        let strings = section("string", field(16), field(20))?;
        Ok(Btf {
            data,
            order,
            types_start: types.start,
            types_end: types.end,
            strings: &data[strings],
        })
    }

    /// The types in id order (ids count from 1; 0 is void). A malformed type ends the walk with its
    /// error; what comes before it is read, so a reader that finds what it
    /// wants early never looks further.
    pub fn types(&self) -> Types<'a> {
        Types {
            btf: *self,
            id: 1,
            at: self.types_start,
        }
    }

    /// The NUL-terminated name at `offset` of the string section.
    pub fn string(&self, offset: u32) -> Result<&'a str, MalformedBtf> {
        let bytes = self
            .strings
            .get(offset as usize..)
            .ok_or(MalformedBtf::StringOutsideSection { offset })?;
        let end = bytes
            .iter()
            .position(|&b| b == 0)
            .ok_or(MalformedBtf::StringNotTerminated { offset })?;
        std::str::from_utf8(&bytes[..end]).map_err(|_| MalformedBtf::StringNotUtf8 { offset })
    }
}

impl BtfType<'_> {
    /// Void, the type id 0 stands for.
    pub const VOID: BtfType<'static> = BtfType {
        kind: Kind::Void,
        name_offset: 0,
        kind_flag: false,
        size_or_type: 0,
        data: &[],
        order: ByteOrder::Little,
    };

    /// The kind's data as entries of `N` words: members of a struct, union
    /// or data section (3), enumerators (2, or 3 for enum64), an array's
    /// element type, index type and count (one entry of 3).
    pub fn entries<const N: usize>(&self) -> impl Iterator<Item = [u32; N]> + '_ {
        self.data
            .chunks_exact(4 * N)
            .map(|entry| std::array::from_fn(|i| self.order.word_at(entry, 4 * i)))
    }
}

/// Walks the type section; see [`Btf::types`].
pub struct Types<'a> {
    btf: Btf<'a>,
    id: u32,
    at: usize,
}

impl<'a> Types<'a> {
    fn read(&mut self) -> Result<BtfType<'a>, MalformedBtf> {
        let (id, at, end) = (self.id, self.at, self.btf.types_end);
        let cut = MalformedBtf::TypeCutShort { id, at };
        if at + TYPE_LEN > end {
            return Err(cut);
        }
        let word = |offset| self.btf.order.word_at(self.btf.data, at + offset);
        let (name_offset, info, size_or_type) = (word(0), word(4), word(8));
        let number = (info >> 24) & 0x1f;
        let kind = Kind::from_number(number).ok_or(MalformedBtf::UnknownKind {
            id,
            at,
            kind: number,
        })?;
        let data_start = at + TYPE_LEN;
        let data_end = data_start + kind.data_len((info & 0xffff) as usize);
        if data_end > end {
            return Err(cut);
        }
        self.id += 1;
        self.at = data_end;
        Ok(BtfType {
            kind,
            name_offset,
            kind_flag: info >> 31 == 1,
            size_or_type,
            data: &self.btf.data[data_start..data_end],
            order: self.btf.order,
        })
    }
}

impl<'a> Iterator for Types<'a> {
    type Item = Result<BtfType<'a>, MalformedBtf>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.btf.types_end {
            return None;
        }
        let read = self.read();
        if read.is_err() {
            // Past a malformed type nothing can be found where it starts.
            self.at = self.btf.types_end;
        }
        Some(read)
    }
}
