//! Names of the kernel's drop reasons, read once at start from the running
//! kernel's BTF (`enum skb_drop_reason`), so a kernel that adds reasons is
//! named right without a new netmon. The values differ between kernels,
//! which is why no table is compiled in.
//!
//! A name is the enumerator without its `SKB_DROP_REASON_` prefix
//! (`NETFILTER_DROP`), as the kernel's own tracepoint prints it. A value
//! the enum does not name (a subsystem's reason, with high bits set, or a
//! kernel whose BTF could not be read) is `reason_<number>`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use netmon_ebpf::btf::{self, BtfEnumError, EnumVariant};

/// The kernel's enum of drop reasons.
pub const DROP_REASON_ENUM: &str = "skb_drop_reason";

/// Drop reason number → name.
#[derive(Debug, Clone, Default)]
pub struct DropReasons {
    names: HashMap<u32, Arc<str>>,
}

impl DropReasons {
    /// The reasons of the kernel whose BTF is at `path`.
    pub fn from_btf(path: &Path) -> Result<Self, BtfEnumError> {
        Ok(Self::from_variants(&btf::read_enum(
            path,
            DROP_REASON_ENUM,
        )?))
    }

    /// No names: every reason is shown by number.
    pub fn unnamed() -> Self {
        Self::default()
    }

    pub fn from_variants(variants: &[EnumVariant]) -> Self {
        let mut names = HashMap::new();
        for variant in variants {
            let Ok(value) = u32::try_from(variant.value) else {
                continue;
            };
            let name = variant
                .name
                .strip_prefix("SKB_DROP_REASON_")
                .or_else(|| variant.name.strip_prefix("SKB_"))
                .unwrap_or(&variant.name);
            // An alias keeps the first name the kernel gave the value.
            names.entry(value).or_insert_with(|| Arc::from(name));
        }
        DropReasons { names }
    }

    /// Number of named reasons.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name of reason `value`, or `reason_<value>`.
    pub fn name(&self, value: u32) -> Arc<str> {
        match self.names.get(&value) {
            Some(name) => name.clone(),
            None => Arc::from(format!("reason_{value}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(name: &str, value: i64) -> EnumVariant {
        EnumVariant {
            name: name.to_string(),
            value,
        }
    }

    #[test]
    fn names_lose_their_prefix_and_unknown_values_show_their_number() {
        let reasons = DropReasons::from_variants(&[
            variant("SKB_NOT_DROPPED_YET", 0),
            variant("SKB_CONSUMED", 1),
            variant("SKB_DROP_REASON_NOT_SPECIFIED", 2),
            variant("SKB_DROP_REASON_NETFILTER_DROP", 12),
        ]);
        assert_eq!(&*reasons.name(12), "NETFILTER_DROP");
        assert_eq!(&*reasons.name(2), "NOT_SPECIFIED");
        assert_eq!(&*reasons.name(1), "CONSUMED");
        assert_eq!(&*reasons.name(77), "reason_77");
        // A subsystem's reason (high 16 bits) is not in the core enum.
        assert_eq!(&*reasons.name(0x0001_0003), "reason_65539");
    }

    #[test]
    fn an_alias_keeps_the_first_name_and_values_beyond_u32_are_ignored() {
        let reasons = DropReasons::from_variants(&[
            variant("SKB_DROP_REASON_FIRST", 5),
            variant("SKB_DROP_REASON_ALIAS", 5),
            variant("SKB_DROP_REASON_NEGATIVE", -1),
            variant("SKB_DROP_REASON_HUGE", 1 << 40),
        ]);
        assert_eq!(&*reasons.name(5), "FIRST");
        assert_eq!(reasons.len(), 1);
    }

    #[test]
    fn without_btf_the_agent_names_reasons_by_number() {
        let error = DropReasons::from_btf(Path::new("/nonexistent/vmlinux")).unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/vmlinux"),
            "{error}"
        );
        let reasons = DropReasons::unnamed();
        assert!(reasons.is_empty());
        assert_eq!(&*reasons.name(77), "reason_77");
    }

    #[test]
    fn a_malformed_btf_file_is_an_error_not_a_partial_table() {
        let path = std::env::temp_dir().join(format!("netmon-bad-btf-{}", std::process::id()));
        // Valid magic and version, but sections pointing past the end.
        let mut data = vec![0x9f, 0xeb, 1, 0];
        for word in [24u32, 0, 1000, 1000, 10] {
            data.extend_from_slice(&word.to_le_bytes());
        }
        std::fs::write(&path, &data).unwrap();
        let result = DropReasons::from_btf(&path);
        std::fs::remove_file(&path).ok();
        let error = result.unwrap_err();
        assert!(matches!(error, BtfEnumError::Malformed { .. }), "{error}");
    }

    #[test]
    fn this_kernel_names_netfilter_drops_as_its_tracepoint_does() {
        let path = Path::new(btf::KERNEL_BTF_PATH);
        if !path.exists() {
            eprintln!("skipped: this kernel has no {}", path.display());
            return;
        }
        let reasons = DropReasons::from_btf(path).unwrap();
        let netfilter = btf::read_enum(path, DROP_REASON_ENUM)
            .unwrap()
            .into_iter()
            .find(|v| v.name == "SKB_DROP_REASON_NETFILTER_DROP")
            .expect("NETFILTER_DROP in this kernel");
        assert_eq!(&*reasons.name(netfilter.value as u32), "NETFILTER_DROP");
    }
}
