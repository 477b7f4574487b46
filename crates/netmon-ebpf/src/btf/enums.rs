//! Reads one enum's names and values from BTF, so names the kernel defines
//! (drop reasons) are learnt from the running kernel's
//! `/sys/kernel/btf/vmlinux` instead of a table that goes stale.

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::kind::Kind;
use super::parse::{Btf, BtfType, MalformedBtf};

#[derive(Debug, Error)]
pub enum BtfEnumError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: malformed BTF: {reason}")]
    Malformed { path: PathBuf, reason: MalformedBtf },
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

/// The variants of the first enum called `name` in the BTF `data`; `None`
/// when there is none. Types after it are not looked at.
pub fn find_enum(data: &[u8], name: &str) -> Result<Option<Vec<EnumVariant>>, MalformedBtf> {
    let btf = Btf::parse(data)?;
    for btf_type in btf.types() {
        let btf_type = btf_type?;
        if matches!(btf_type.kind, Kind::Enum | Kind::Enum64)
            && btf.string(btf_type.name_offset)? == name
        {
            return variants(&btf, &btf_type).map(Some);
        }
    }
    Ok(None)
}

fn variants(btf: &Btf, enumeration: &BtfType) -> Result<Vec<EnumVariant>, MalformedBtf> {
    let named = |name_offset, value| {
        Ok(EnumVariant {
            name: btf.string(name_offset)?.to_owned(),
            value,
        })
    };
    if enumeration.kind == Kind::Enum {
        let signed = enumeration.kind_flag;
        enumeration
            .entries::<2>()
            .map(|[name_offset, raw]| {
                let value = if signed {
                    i64::from(raw as i32)
                } else {
                    i64::from(raw)
                };
                named(name_offset, value)
            })
            .collect()
    } else {
        enumeration
            .entries::<3>()
            .map(|[name_offset, low, high]| {
                // Values are stored as 64 bits; an unsigned one above
                // i64::MAX wraps, which no kernel enum of interest has.
                named(name_offset, (u64::from(high) << 32 | u64::from(low)) as i64)
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "enums_tests.rs"]
mod tests;
