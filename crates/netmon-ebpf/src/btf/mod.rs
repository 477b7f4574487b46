//! One reader of the kernel's BTF format (`Documentation/bpf/btf.rst`) for
//! the two things netmon learns from it: the values of a kernel enum (drop
//! reasons, from the running kernel's BTF) and the key types of a custom
//! program's maps (from the object's own `.BTF` section).
//!
//! `parse.rs` checks the header and walks the type section, `kind.rs` says
//! what each kind is and how long its data, `enums.rs` and `map_keys.rs`
//! each do one of the two jobs on top of them.

mod enums;
mod kind;
mod map_keys;
mod parse;

#[cfg(test)]
mod test_builder;

pub use enums::{find_enum, read_enum, BtfEnumError, EnumVariant};
pub use map_keys::{map_keys, KeyLayout, KeyLayoutError, Member};
pub use parse::MalformedBtf;

/// Where the running kernel publishes its BTF.
pub const KERNEL_BTF_PATH: &str = "/sys/kernel/btf/vmlinux";
