//! What the kind number in a `btf_type`'s info word means, and how many
//! bytes of data follow the 12-byte `btf_type` for each kind: the walk over
//! the type section cannot step past a type without knowing that, even for
//! kinds nobody here reads.

/// `BTF_KIND_*` of the kernel's `include/uapi/linux/btf.h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Type id 0, which every reference may point at; never a type of the
    /// type section, so [`Kind::from_number`] refuses 0.
    Void = 0,
    Int = 1,
    Ptr = 2,
    Array = 3,
    Struct = 4,
    Union = 5,
    Enum = 6,
    Fwd = 7,
    Typedef = 8,
    Volatile = 9,
    Const = 10,
    Restrict = 11,
    Func = 12,
    FuncProto = 13,
    Var = 14,
    Datasec = 15,
    Float = 16,
    DeclTag = 17,
    TypeTag = 18,
    Enum64 = 19,
}

impl Kind {
    /// The kind a type of the type section has; `None` for 0 and for kinds
    /// newer than this reader, whose data length is unknown.
    pub fn from_number(number: u32) -> Option<Kind> {
        use Kind::*;
        Some(match number {
            1 => Int,
            2 => Ptr,
            3 => Array,
            4 => Struct,
            5 => Union,
            6 => Enum,
            7 => Fwd,
            8 => Typedef,
            9 => Volatile,
            10 => Const,
            11 => Restrict,
            12 => Func,
            13 => FuncProto,
            14 => Var,
            15 => Datasec,
            16 => Float,
            17 => DeclTag,
            18 => TypeTag,
            19 => Enum64,
            _ => return None,
        })
    }

    pub fn number(self) -> u32 {
        self as u32
    }

    /// Bytes after the `btf_type` of a type of this kind with `vlen` (the
    /// info word's low 16 bits) entries.
    pub fn data_len(self, vlen: usize) -> usize {
        use Kind::*;
        match self {
            Int | Var | DeclTag => 4,
            Void | Ptr | Fwd | Typedef | Volatile | Const | Restrict | Func | Float | TypeTag => 0,
            Array => 12,
            Struct | Union | Datasec | Enum64 => 12 * vlen,
            Enum | FuncProto => 8 * vlen,
        }
    }

    /// Kinds that only qualify or rename the type they point at.
    pub fn is_alias(self) -> bool {
        use Kind::*;
        matches!(self, Typedef | Volatile | Const | Restrict | TypeTag)
    }
}
