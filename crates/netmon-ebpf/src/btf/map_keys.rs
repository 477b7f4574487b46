//! The key types of BTF-defined maps (`SEC(".maps")`), read from an
//! object's own BTF, so a custom program's YAML labels can be checked
//! against the struct the program really writes: a label of the wrong size
//! would otherwise shift every label after it and give plausible but wrong
//! numbers.
//!
//! Only what that needs is decoded: the `.maps` data section's variables
//! (one per map), their `key` or `key_size` member, and the key type's
//! size, name and members.

use std::collections::HashMap;

use thiserror::Error;

use super::kind::Kind;
use super::parse::{Btf, BtfType, MalformedBtf};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyLayoutError {
    #[error("malformed BTF: {0}")]
    Malformed(#[from] MalformedBtf),
    #[error("malformed BTF: type #{id} does not resolve")]
    Unresolved { id: u32 },
    #[error("malformed BTF: type #{id} of kind {kind} has no size")]
    Unsized { id: u32, kind: u32 },
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

/// Deepest array of arrays whose size is worked out.
const MAX_ARRAY_NESTING: u32 = 8;
/// Longest chain of typedefs and qualifiers followed.
const MAX_ALIAS_CHAIN: usize = 32;

/// Map name → key layout for every BTF-defined map in the BTF `data`
/// (an object's `.BTF` section).
pub fn map_keys(data: &[u8]) -> Result<HashMap<String, KeyLayout>, KeyLayoutError> {
    let types = TypeTable::read(data)?;
    let mut keys = HashMap::new();
    for datasec in types.all.iter().filter(|t| t.kind == Kind::Datasec) {
        if types.name(datasec)? != ".maps" {
            continue;
        }
        for [var_type, _offset, _size] in datasec.entries::<3>() {
            let Some(var) = types.get(var_type) else {
                continue;
            };
            let Some(definition) = types.get(var.size_or_type) else {
                continue;
            };
            if let Some(key) = types.key_of(definition)? {
                keys.insert(types.name(var)?.to_owned(), key);
            }
        }
    }
    Ok(keys)
}

/// Every type, by id, for following the references between them: an
/// object's BTF is small, unlike vmlinux.
struct TypeTable<'a> {
    btf: Btf<'a>,
    /// Index = type id; 0 is void.
    all: Vec<BtfType<'a>>,
}

impl<'a> TypeTable<'a> {
    fn read(data: &'a [u8]) -> Result<Self, MalformedBtf> {
        let btf = Btf::parse(data)?;
        let mut all = vec![BtfType::VOID];
        for btf_type in btf.types() {
            all.push(btf_type?);
        }
        Ok(TypeTable { btf, all })
    }

    fn get(&self, id: u32) -> Option<&BtfType<'a>> {
        self.all.get(id as usize)
    }

    fn name(&self, btf_type: &BtfType) -> Result<&'a str, MalformedBtf> {
        self.btf.string(btf_type.name_offset)
    }

    /// The key of a map definition struct: `__type(key, T)` is a member
    /// `key` pointing at T; `__uint(key_size, N)` a member `key_size`
    /// pointing at an array of N elements.
    fn key_of(&self, definition: &BtfType) -> Result<Option<KeyLayout>, KeyLayoutError> {
        let pointee = |id: u32| {
            let t = self.resolve(id)?;
            (t.kind == Kind::Ptr).then_some(t.size_or_type)
        };
        for [name_offset, member_type, _offset] in definition.entries::<3>() {
            match self.btf.string(name_offset)? {
                "key" => {
                    let Some(key_type) = pointee(member_type) else {
                        continue;
                    };
                    return self.layout(key_type).map(Some);
                }
                "key_size" => {
                    let Some(array) = pointee(member_type).and_then(|id| self.resolve(id)) else {
                        continue;
                    };
                    let size = array_shape(array).map_or(0, |(_, count)| u64::from(count));
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

    /// The type `id` names once typedefs and qualifiers are followed.
    fn resolve(&self, mut id: u32) -> Option<&BtfType<'a>> {
        for _ in 0..MAX_ALIAS_CHAIN {
            let t = self.get(id)?;
            if !t.kind.is_alias() {
                return Some(t);
            }
            id = t.size_or_type;
        }
        None
    }

    fn size_of(&self, id: u32, nesting: u32) -> Result<u64, KeyLayoutError> {
        let t = self.resolve(id).ok_or(KeyLayoutError::Unresolved { id })?;
        match t.kind {
            Kind::Int | Kind::Struct | Kind::Union | Kind::Enum | Kind::Enum64 | Kind::Float => {
                Ok(u64::from(t.size_or_type))
            }
            Kind::Ptr => Ok(8),
            Kind::Array if nesting < MAX_ARRAY_NESTING => {
                let (element, count) = array_shape(t).unwrap_or((0, 0));
                Ok(self.size_of(element, nesting + 1)? * u64::from(count))
            }
            other => Err(KeyLayoutError::Unsized {
                id,
                kind: other.number(),
            }),
        }
    }

    /// The type as C spells it.
    fn type_name(&self, id: u32) -> Result<String, MalformedBtf> {
        let Some(t) = self.get(id) else {
            return Ok(format!("type #{id}"));
        };
        let name = self.name(t)?;
        let tagged = |tag: &str| {
            if name.is_empty() {
                format!("{tag} (anonymous)")
            } else {
                format!("{tag} {name}")
            }
        };
        Ok(match t.kind {
            Kind::Struct => tagged("struct"),
            Kind::Union => tagged("union"),
            Kind::Enum | Kind::Enum64 => tagged("enum"),
            Kind::Array => {
                let (element, count) = array_shape(t).unwrap_or((0, 0));
                format!("{}[{count}]", self.type_name(element)?)
            }
            // A typedef is spelt by its own name, qualifiers by the type
            // they qualify.
            Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag => {
                self.type_name(t.size_or_type)?
            }
            _ => name.to_owned(),
        })
    }

    fn layout(&self, id: u32) -> Result<KeyLayout, KeyLayoutError> {
        let size = self.size_of(id, 0)?;
        let resolved = self.resolve(id).ok_or(KeyLayoutError::Unresolved { id })?;
        let members = match resolved.kind {
            Kind::Struct | Kind::Union => Some(
                resolved
                    .entries::<3>()
                    .map(|[name_offset, member_type, offset]| {
                        // With kind_flag the low 24 bits are the offset and
                        // the high 8 a bitfield's size; keys have no
                        // bitfields worth a label, so only the offset
                        // matters.
                        let bits = if resolved.kind_flag {
                            offset & 0xff_ffff
                        } else {
                            offset
                        };
                        Ok(Member {
                            name: self.btf.string(name_offset)?.to_owned(),
                            offset: u64::from(bits / 8),
                            size: self.size_of(member_type, 0)?,
                        })
                    })
                    .collect::<Result<Vec<_>, KeyLayoutError>>()?,
            ),
            _ => None,
        };
        Ok(KeyLayout {
            type_name: self.type_name(id)?,
            size,
            members,
        })
    }
}

/// An array's element type and element count.
fn array_shape(array: &BtfType) -> Option<(u32, u32)> {
    if array.kind != Kind::Array {
        return None;
    }
    array
        .entries::<3>()
        .next()
        .map(|[element, _index_type, count]| (element, count))
}

#[cfg(test)]
#[path = "map_keys_tests.rs"]
mod tests;
