//! The map key types an object declares: its `.BTF` section, found in the
//! ELF here and read by [`netmon_ebpf::btf::map_keys`], so the YAML's
//! labels can be checked against the struct the program really writes.

use std::collections::HashMap;

use netmon_ebpf::btf::{KeyLayout, KeyLayoutError};
use object::{Object, ObjectSection};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BtfError {
    #[error("not an ELF object: {0}")]
    Elf(String),
    #[error(transparent)]
    Keys(#[from] KeyLayoutError),
}

/// The key layouts of every BTF-defined map in the ELF object `data`; an
/// object without `.BTF` (legacy map definitions) has none.
pub fn map_keys(data: &[u8]) -> Result<HashMap<String, KeyLayout>, BtfError> {
    let file = object::File::parse(data).map_err(|e| BtfError::Elf(e.to_string()))?;
    let Some(section) = file.section_by_name(".BTF") else {
        return Ok(HashMap::new());
    };
    let btf = section.data().map_err(|e| BtfError::Elf(e.to_string()))?;
    Ok(netmon_ebpf::btf::map_keys(btf)?)
}
