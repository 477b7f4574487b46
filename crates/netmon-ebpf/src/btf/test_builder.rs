//! Builds BTF bytes type by type for the tests. Ids follow the order types
//! are added in, from 1; names go to the string section, whose offset 0 is
//! "".

use super::kind::Kind;
use super::parse::{BTF_MAGIC, HEADER_LEN};

pub(super) struct BtfBuilder {
    pub(super) types: Vec<u8>,
    strings: Vec<u8>,
    pub(super) big_endian: bool,
}

impl BtfBuilder {
    pub(super) fn new() -> Self {
        BtfBuilder {
            types: Vec::new(),
            strings: vec![0],
            big_endian: false,
        }
    }

    fn word(&self, value: u32) -> [u8; 4] {
        if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        }
    }

    fn string(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let offset = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        offset
    }

    fn push(&mut self, words: &[u32]) {
        for &w in words {
            let bytes = self.word(w);
            self.types.extend_from_slice(&bytes);
        }
    }

    /// A `btf_type`: name, info word, size or referenced type.
    fn head(&mut self, name: &str, kind: Kind, vlen: usize, kind_flag: bool, size_or_type: u32) {
        let name = self.string(name);
        let info = (u32::from(kind_flag) << 31) | (kind.number() << 24) | vlen as u32;
        self.push(&[name, info, size_or_type]);
    }

    /// A 4-byte int.
    pub(super) fn int(&mut self, name: &str) -> &mut Self {
        self.head(name, Kind::Int, 0, false, 4);
        self.push(&[32]);
        self
    }

    /// An 8-byte struct whose members are 4-byte ints (type #1) in a row.
    pub(super) fn structure(&mut self, name: &str, members: &[&str]) -> &mut Self {
        let members: Vec<(&str, u32, u32)> = members
            .iter()
            .enumerate()
            .map(|(i, member)| (*member, 1, i as u32 * 32))
            .collect();
        self.struct_of(name, 8, false, &members)
    }

    /// A struct of `size` bytes with `(name, type, bit offset)` members.
    pub(super) fn struct_of(
        &mut self,
        name: &str,
        size: u32,
        kind_flag: bool,
        members: &[(&str, u32, u32)],
    ) -> &mut Self {
        self.head(name, Kind::Struct, members.len(), kind_flag, size);
        for &(member, member_type, offset) in members {
            let member = self.string(member);
            self.push(&[member, member_type, offset]);
        }
        self
    }

    pub(super) fn func_proto(&mut self, params: u32) -> &mut Self {
        self.head("", Kind::FuncProto, params as usize, false, 1);
        for _ in 0..params {
            self.push(&[0, 1]);
        }
        self
    }

    pub(super) fn enumeration(
        &mut self,
        name: &str,
        signed: bool,
        variants: &[(&str, i32)],
    ) -> &mut Self {
        self.head(name, Kind::Enum, variants.len(), signed, 4);
        for (variant, value) in variants {
            let variant = self.string(variant);
            self.push(&[variant, *value as u32]);
        }
        self
    }

    pub(super) fn enum64(&mut self, name: &str, variants: &[(&str, u64)]) -> &mut Self {
        self.head(name, Kind::Enum64, variants.len(), false, 8);
        for (variant, value) in variants {
            let variant = self.string(variant);
            self.push(&[variant, *value as u32, (*value >> 32) as u32]);
        }
        self
    }

    pub(super) fn pointer(&mut self, to: u32) -> &mut Self {
        self.head("", Kind::Ptr, 0, false, to);
        self
    }

    pub(super) fn typedef(&mut self, name: &str, to: u32) -> &mut Self {
        self.head(name, Kind::Typedef, 0, false, to);
        self
    }

    pub(super) fn constant(&mut self, to: u32) -> &mut Self {
        self.head("", Kind::Const, 0, false, to);
        self
    }

    /// `count` elements of `element`, indexed by type #1.
    pub(super) fn array(&mut self, element: u32, count: u32) -> &mut Self {
        self.head("", Kind::Array, 0, false, 0);
        self.push(&[element, 1, count]);
        self
    }

    pub(super) fn variable(&mut self, name: &str, var_type: u32) -> &mut Self {
        self.head(name, Kind::Var, 0, false, var_type);
        self.push(&[1]);
        self
    }

    /// A data section holding the variables `vars` (type ids).
    pub(super) fn data_section(&mut self, name: &str, vars: &[u32]) -> &mut Self {
        self.head(name, Kind::Datasec, vars.len(), false, 0);
        for &var in vars {
            self.push(&[var, 0, 8]);
        }
        self
    }

    pub(super) fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let magic = if self.big_endian {
            BTF_MAGIC.to_be_bytes()
        } else {
            BTF_MAGIC.to_le_bytes()
        };
        out.extend_from_slice(&magic);
        out.extend_from_slice(&[1, 0]);
        for word in [
            HEADER_LEN as u32,
            0,
            self.types.len() as u32,
            self.types.len() as u32,
            self.strings.len() as u32,
        ] {
            out.extend_from_slice(&self.word(word));
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}
