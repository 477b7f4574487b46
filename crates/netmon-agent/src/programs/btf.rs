//! The map key types an object declares, read from its own BTF (`.BTF`
//! section), so the YAML's labels can be checked against the struct the
//! program really writes: a label of the wrong size would otherwise shift
//! every label after it and give plausible but wrong numbers.
//!
//! Only what that needs is decoded: the `.maps` data section's variables
//! (one per BTF-defined map), their `key` member, and the key type's size
//! and members. The format is the kernel's `Documentation/bpf/btf.rst`.

use std::collections::HashMap;

use object::{Object, ObjectSection};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BtfError {
    #[error("not an ELF object: {0}")]
    Elf(String),
    #[error("malformed BTF: {0}")]
    Malformed(String),
}

/// One member of a key struct, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// A map's key type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLayout {
    /// As C spells it: `struct conn_key`, `u64`, `u8[16]`.
    pub type_name: String,
    pub size: u64,
    /// Members of a struct or union key; `None` for a scalar or array.
    pub members: Option<Vec<Member>>,
}

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

#[derive(Debug, Clone)]
struct Type {
    kind: u32,
    name: String,
    kind_flag: bool,
    /// Size for sized kinds, referenced type for the others.
    size_or_type: u32,
    /// Members (name, type, bit offset) of structs and unions; (type, _, _)
    /// entries of a data section.
    members: Vec<(String, u32, u32)>,
    /// Element type and count of an array.
    array: Option<(u32, u32)>,
}

/// The key layouts of every BTF-defined map in the ELF object `data`; an
/// object without `.BTF` (legacy map definitions) has none.
pub fn map_keys(data: &[u8]) -> Result<HashMap<String, KeyLayout>, BtfError> {
    let file = object::File::parse(data).map_err(|e| BtfError::Elf(e.to_string()))?;
    let Some(section) = file.section_by_name(".BTF") else {
        return Ok(HashMap::new());
    };
    let btf = section.data().map_err(|e| BtfError::Elf(e.to_string()))?;
    let types = parse(btf, file.is_little_endian())?;
    let mut keys = HashMap::new();
    for datasec in types
        .iter()
        .filter(|t| t.kind == KIND_DATASEC && t.name == ".maps")
    {
        for (_, var_type, _) in &datasec.members {
            let Some(var) = types.get(*var_type as usize) else {
                continue;
            };
            let Some(definition) = types.get(var.size_or_type as usize) else {
                continue;
            };
            if let Some(key) = key_of(&types, definition)? {
                keys.insert(var.name.clone(), key);
            }
        }
    }
    Ok(keys)
}

/// The key of a map definition struct: `__type(key, T)` is a member `key`
/// pointing at T; `__uint(key_size, N)` a member `key_size` pointing at an
/// array of N elements.
fn key_of(types: &[Type], definition: &Type) -> Result<Option<KeyLayout>, BtfError> {
    for (name, member_type, _) in &definition.members {
        let pointee = |id: u32| {
            let t = resolve(types, id)?;
            (t.kind == KIND_PTR).then_some(t.size_or_type)
        };
        match name.as_str() {
            "key" => {
                let Some(key_type) = pointee(*member_type) else {
                    continue;
                };
                return layout(types, key_type).map(Some);
            }
            "key_size" => {
                let Some(array) = pointee(*member_type).and_then(|id| resolve(types, id)) else {
                    continue;
                };
                let size = array.array.map_or(0, |(_, n)| u64::from(n));
                return Ok(Some(KeyLayout {
                    type_name: format!("{size} bytes (key_size)"),
                    size,
                    members: None,
                }));
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Follows typedefs and qualifiers.
fn resolve(types: &[Type], mut id: u32) -> Option<&Type> {
    for _ in 0..32 {
        let t = types.get(id as usize)?;
        match t.kind {
            KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                id = t.size_or_type
            }
            _ => return Some(t),
        }
    }
    None
}

fn size_of(types: &[Type], id: u32, depth: u32) -> Result<u64, BtfError> {
    let t = resolve(types, id)
        .ok_or_else(|| BtfError::Malformed(format!("type #{id} does not resolve")))?;
    match t.kind {
        KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64 | KIND_FLOAT => {
            Ok(u64::from(t.size_or_type))
        }
        KIND_PTR => Ok(8),
        KIND_ARRAY if depth < 8 => {
            let (element, count) = t.array.unwrap_or((0, 0));
            Ok(size_of(types, element, depth + 1)? * u64::from(count))
        }
        other => Err(BtfError::Malformed(format!(
            "type #{id} of kind {other} has no size"
        ))),
    }
}

fn type_name(types: &[Type], id: u32) -> String {
    let Some(t) = types.get(id as usize) else {
        return format!("type #{id}");
    };
    let named = |prefix: &str| {
        if t.name.is_empty() {
            format!("{prefix} (anonymous)")
        } else {
            format!("{prefix} {}", t.name)
        }
    };
    match t.kind {
        KIND_STRUCT => named("struct"),
        KIND_UNION => named("union"),
        KIND_ENUM | KIND_ENUM64 => named("enum"),
        KIND_ARRAY => {
            let (element, count) = t.array.unwrap_or((0, 0));
            format!("{}[{count}]", type_name(types, element))
        }
        KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
            type_name(types, t.size_or_type)
        }
        _ => t.name.clone(),
    }
}

fn layout(types: &[Type], id: u32) -> Result<KeyLayout, BtfError> {
    let size = size_of(types, id, 0)?;
    let resolved = resolve(types, id)
        .ok_or_else(|| BtfError::Malformed(format!("type #{id} does not resolve")))?;
    let members = match resolved.kind {
        KIND_STRUCT | KIND_UNION => Some(
            resolved
                .members
                .iter()
                .map(|(name, member_type, offset)| {
                    // With kind_flag the low 24 bits are the offset and the
                    // high 8 a bitfield's size; keys have no bitfields worth
                    // a label, so only the offset matters.
                    let bits = if resolved.kind_flag {
                        offset & 0xff_ffff
                    } else {
                        *offset
                    };
                    Ok(Member {
                        name: name.clone(),
                        offset: u64::from(bits / 8),
                        size: size_of(types, *member_type, 0)?,
                    })
                })
                .collect::<Result<Vec<_>, BtfError>>()?,
        ),
        _ => None,
    };
    Ok(KeyLayout {
        type_name: type_name(types, id),
        size,
        members,
    })
}

fn parse(data: &[u8], little: bool) -> Result<Vec<Type>, BtfError> {
    let u32_at = |at: usize| -> Result<u32, BtfError> {
        let bytes: [u8; 4] = data
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| BtfError::Malformed(format!("cut short at byte {at}")))?;
        Ok(if little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        })
    };
    let header_len = u32_at(4)? as usize;
    let (type_off, type_len) = (u32_at(8)? as usize, u32_at(12)? as usize);
    let (str_off, str_len) = (u32_at(16)? as usize, u32_at(20)? as usize);
    let types_start = header_len + type_off;
    let types_end = types_start + type_len;
    let strings_start = header_len + str_off;
    let strings = data
        .get(strings_start..strings_start + str_len)
        .ok_or_else(|| BtfError::Malformed("string section outside the data".into()))?;
    let string = |offset: u32| -> String {
        let bytes = strings.get(offset as usize..).unwrap_or_default();
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    };

    // Type ids start at 1; index 0 stands for void.
    let mut types = vec![Type {
        kind: 0,
        name: String::new(),
        kind_flag: false,
        size_or_type: 0,
        members: Vec::new(),
        array: None,
    }];
    let mut at = types_start;
    while at < types_end {
        let name = string(u32_at(at)?);
        let info = u32_at(at + 4)?;
        let size_or_type = u32_at(at + 8)?;
        let vlen = (info & 0xffff) as usize;
        let kind = (info >> 24) & 0x1f;
        let kind_flag = info >> 31 == 1;
        let body = at + 12;
        let mut t = Type {
            kind,
            name,
            kind_flag,
            size_or_type,
            members: Vec::new(),
            array: None,
        };
        let extra = match kind {
            KIND_INT | KIND_VAR | 17 => 4,
            KIND_ARRAY => {
                t.array = Some((u32_at(body)?, u32_at(body + 8)?));
                12
            }
            KIND_STRUCT | KIND_UNION => {
                for i in 0..vlen {
                    let m = body + 12 * i;
                    t.members
                        .push((string(u32_at(m)?), u32_at(m + 4)?, u32_at(m + 8)?));
                }
                12 * vlen
            }
            KIND_DATASEC => {
                for i in 0..vlen {
                    let m = body + 12 * i;
                    t.members.push((String::new(), u32_at(m)?, u32_at(m + 4)?));
                }
                12 * vlen
            }
            KIND_ENUM | 13 => 8 * vlen,
            KIND_ENUM64 => 12 * vlen,
            KIND_PTR | 7 | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | 12
            | KIND_FLOAT | KIND_TYPE_TAG => 0,
            other => {
                return Err(BtfError::Malformed(format!(
                    "type #{} has unknown kind {other}",
                    types.len()
                )))
            }
        };
        types.push(t);
        at = body + extra;
    }
    Ok(types)
}
