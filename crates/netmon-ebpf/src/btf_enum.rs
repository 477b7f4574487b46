//! Reads one enum's names and values from a kernel BTF file
//! (`/sys/kernel/btf/vmlinux`), so names the kernel defines (drop reasons)
//! are learnt from the running kernel instead of a table that goes stale.
//!
//! The format is the kernel's `Documentation/bpf/btf.rst`: a header, a type
//! section where every type is a 12-byte `btf_type` followed by data whose
//! size its kind fixes, and a string section. Only the walk over the types
//! and the enum kinds are decoded here.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Where the running kernel publishes its BTF.
pub const KERNEL_BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

const BTF_MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
const TYPE_LEN: usize = 12;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

#[derive(Debug, Error)]
pub enum BtfEnumError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: malformed BTF: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("{path}: no enum named {name:?}")]
    NotFound { path: PathBuf, name: String },
}

/// One enumerator: its name as the kernel spells it, and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumVariant {
    pub name: String,
    pub value: i64,
}

/// The variants of the enum called `name` in the BTF file at `path`.
pub fn read_enum(path: &Path, name: &str) -> Result<Vec<EnumVariant>, BtfEnumError> {
    let data = std::fs::read(path).map_err(|source| BtfEnumError::Read {
        path: path.to_owned(),
        source,
    })?;
    match find_enum(&data, name) {
        Ok(Some(variants)) => Ok(variants),
        Ok(None) => Err(BtfEnumError::NotFound {
            path: path.to_owned(),
            name: name.to_owned(),
        }),
        Err(reason) => Err(BtfEnumError::Malformed {
            path: path.to_owned(),
            reason,
        }),
    }
}

/// Byte order of the file, told by how the magic reads.
#[derive(Clone, Copy)]
enum Order {
    Little,
    Big,
}

struct Reader<'a> {
    data: &'a [u8],
    order: Order,
}

impl Reader<'_> {
    fn u32_at(&self, offset: usize) -> Option<u32> {
        let bytes: [u8; 4] = self.data.get(offset..offset + 4)?.try_into().ok()?;
        Some(match self.order {
            Order::Little => u32::from_le_bytes(bytes),
            Order::Big => u32::from_be_bytes(bytes),
        })
    }
}

/// Walks the type section; `Ok(None)` when no enum has that name, `Err`
/// with the reason when the data is not well-formed BTF.
pub fn find_enum(data: &[u8], name: &str) -> Result<Option<Vec<EnumVariant>>, String> {
    if data.len() < HEADER_LEN {
        return Err(format!(
            "{} bytes, shorter than the {HEADER_LEN}-byte header",
            data.len()
        ));
    }
    let order = match [data[0], data[1]] {
        m if u16::from_le_bytes(m) == BTF_MAGIC => Order::Little,
        m if u16::from_be_bytes(m) == BTF_MAGIC => Order::Big,
        m => {
            return Err(format!(
                "magic {:#06x} is not BTF's {BTF_MAGIC:#06x}",
                u16::from_le_bytes(m)
            ))
        }
    };
    if data[2] != 1 {
        return Err(format!("version {} is not 1", data[2]));
    }
    let reader = Reader { data, order };
    let field = |offset| reader.u32_at(offset).map(|v| v as usize).unwrap_or(0);
    let header_len = field(4);
    if header_len < HEADER_LEN {
        return Err(format!(
            "header length {header_len} is shorter than {HEADER_LEN} bytes"
        ));
    }
    let (type_off, type_len, str_off, str_len) = (field(8), field(12), field(16), field(20));
    let section = |what: &str, off: usize, len: usize| {
        let start = header_len.checked_add(off);
        match start.and_then(|s| s.checked_add(len).map(|end| (s, end))) {
            Some((start, end)) if end <= data.len() => Ok(start..end),
            _ => Err(format!(
                "the {what} section ({len} bytes at {off} after a {header_len}-byte header) \
                 lies outside the {}-byte file",
                data.len()
            )),
        }
    };
    let types = section("type", type_off, type_len)?;
    let strings = section("string", str_off, str_len)?;
    let string = |offset: u32| -> Result<&str, String> {
        let bytes = data[strings.clone()]
            .get(offset as usize..)
            .ok_or_else(|| format!("string offset {offset} is outside the string section"))?;
        let end = bytes
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| format!("string at offset {offset} is not NUL-terminated"))?;
        std::str::from_utf8(&bytes[..end])
            .map_err(|_| format!("string at offset {offset} is not UTF-8"))
    };

    // Type ids start at 1 (0 is void).
    let mut id = 1u32;
    let mut at = types.start;
    while at < types.end {
        let cut = || format!("type #{id} at byte {at} is cut short");
        if at + TYPE_LEN > types.end {
            return Err(cut());
        }
        let name_off = reader.u32_at(at).ok_or_else(cut)?;
        let info = reader.u32_at(at + 4).ok_or_else(cut)?;
        let vlen = (info & 0xffff) as usize;
        let kind = (info >> 24) & 0x1f;
        let signed = info >> 31 == 1;
        let extra = match kind {
            KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
            KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
            | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
            KIND_ARRAY => 12,
            KIND_STRUCT | KIND_UNION | KIND_DATASEC => 12 * vlen,
            KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
            KIND_ENUM64 => 12 * vlen,
            other => return Err(format!("type #{id} at byte {at} has unknown kind {other}")),
        };
        let body = at + TYPE_LEN;
        if body + extra > types.end {
            return Err(cut());
        }
        if (kind == KIND_ENUM || kind == KIND_ENUM64) && string(name_off)? == name {
            let mut variants = Vec::with_capacity(vlen);
            for i in 0..vlen {
                let (entry, value) = if kind == KIND_ENUM {
                    let entry = body + 8 * i;
                    let raw = reader.u32_at(entry + 4).ok_or_else(cut)?;
                    let value = if signed {
                        i64::from(raw as i32)
                    } else {
                        i64::from(raw)
                    };
                    (entry, value)
                } else {
                    let entry = body + 12 * i;
                    let low = u64::from(reader.u32_at(entry + 4).ok_or_else(cut)?);
                    let high = u64::from(reader.u32_at(entry + 8).ok_or_else(cut)?);
                    // Values are stored as 64 bits; an unsigned one above
                    // i64::MAX wraps, which no kernel enum of interest has.
                    (entry, (high << 32 | low) as i64)
                };
                let name_off = reader.u32_at(entry).ok_or_else(cut)?;
                variants.push(EnumVariant {
                    name: string(name_off)?.to_owned(),
                    value,
                });
            }
            return Ok(Some(variants));
        }
        at = body + extra;
        id += 1;
    }
    Ok(None)
}

#[cfg(test)]
#[path = "btf_enum_tests.rs"]
mod tests;
