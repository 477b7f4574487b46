use std::collections::BTreeMap;

use super::*;
use crate::btf::parse::HEADER_LEN;
use crate::btf::test_builder::BtfBuilder;
use crate::btf::KERNEL_BTF_PATH;

fn variants(found: Option<Vec<EnumVariant>>) -> Vec<(String, i64)> {
    found
        .expect("enum found")
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect()
}

fn owned(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    pairs.iter().map(|(n, v)| (n.to_string(), *v)).collect()
}

#[test]
fn an_enum_is_found_behind_types_of_every_size() {
    let btf = BtfBuilder::new()
        .int("int")
        .structure("sk_buff", &["len", "head"])
        .func_proto(3)
        .enum64("big", &[("HUGE", 1 << 40)])
        .enumeration("skb_drop_reason", false, &[("A", 1), ("B", 77)])
        .build();
    assert_eq!(
        variants(find_enum(&btf, "skb_drop_reason").unwrap()),
        owned(&[("A", 1), ("B", 77)])
    );
}

#[test]
fn signed_enums_keep_their_sign_and_enum64_its_high_bits() {
    let btf = BtfBuilder::new()
        .enumeration("s", true, &[("MINUS", -5)])
        .enumeration("u", false, &[("HIGH", -1)])
        .enum64("wide", &[("W", 0x1_0000_0002)])
        .build();
    assert_eq!(
        variants(find_enum(&btf, "s").unwrap()),
        owned(&[("MINUS", -5)])
    );
    assert_eq!(
        variants(find_enum(&btf, "u").unwrap()),
        owned(&[("HIGH", 0xffff_ffff)])
    );
    assert_eq!(
        variants(find_enum(&btf, "wide").unwrap()),
        owned(&[("W", 0x1_0000_0002)])
    );
}

#[test]
fn big_endian_btf_reads_the_same() {
    let mut builder = BtfBuilder::new();
    builder.big_endian = true;
    let btf = builder
        .int("int")
        .enumeration("e", false, &[("X", 3)])
        .build();
    assert_eq!(variants(find_enum(&btf, "e").unwrap()), owned(&[("X", 3)]));
}

#[test]
fn a_missing_enum_is_none_and_a_struct_of_that_name_does_not_count() {
    let btf = BtfBuilder::new()
        .structure("skb_drop_reason", &["x"])
        .build();
    assert_eq!(find_enum(&btf, "skb_drop_reason"), Ok(None));
}

#[test]
fn malformed_data_is_an_error_that_says_what_is_wrong() {
    let good = BtfBuilder::new()
        .enumeration("e", false, &[("X", 3)])
        .build();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "shorter than the 24-byte header"),
        (
            "not BTF",
            b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec(),
            "is not BTF's 0xeb9f",
        ),
        (
            "wrong version",
            {
                let mut b = good.clone();
                b[2] = 2;
                b
            },
            "version 2 is not 1",
        ),
        (
            "truncated sections",
            good[..good.len() - 3].to_vec(),
            "the string section",
        ),
        (
            "unknown kind",
            {
                let mut b = good.clone();
                b[HEADER_LEN + 7] = 31; // kind byte of the first type's info
                b
            },
            "has unknown kind 31",
        ),
        (
            "name outside the strings",
            {
                let mut b = good.clone();
                b[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&9999u32.to_le_bytes());
                b
            },
            "string offset 9999 is outside the string section",
        ),
    ];
    for (what, data, expected) in cases {
        let error = find_enum(&data, "e").expect_err(what).to_string();
        assert!(error.contains(expected), "{what}: {error:?}");
    }
}

#[test]
fn a_type_cut_short_by_its_section_is_an_error() {
    let mut builder = BtfBuilder::new();
    builder.enumeration("e", false, &[("X", 3), ("Y", 4)]);
    // Drop the last enumerator's value but keep the header's lengths
    // consistent with what is left.
    builder.types.truncate(builder.types.len() - 4);
    let error = find_enum(&builder.build(), "e").unwrap_err().to_string();
    assert!(error.contains("type #1 at byte 24 is cut short"), "{error}");
}

#[test]
fn a_missing_file_is_a_read_error_naming_the_path() {
    let path = Path::new("/nonexistent/netmon/btf");
    let error = read_enum(path, "skb_drop_reason").unwrap_err();
    assert!(matches!(error, BtfEnumError::Read { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("reading /nonexistent/netmon/btf: "),
        "{error}"
    );
}

#[test]
fn a_file_that_is_not_btf_is_a_malformed_error_naming_the_path() {
    let path = std::env::temp_dir().join(format!("netmon-not-btf-{}", std::process::id()));
    std::fs::write(&path, b"this is not BTF at all, not even close").unwrap();
    let error = read_enum(&path, "skb_drop_reason").unwrap_err();
    std::fs::remove_file(&path).ok();
    assert!(matches!(error, BtfEnumError::Malformed { .. }), "{error:?}");
    assert!(
        error.to_string().contains("malformed BTF: magic"),
        "{error}"
    );
}

/// `(value, name)` pairs of the kfree_skb tracepoint's print format: the
/// kernel generates that table from its own `enum skb_drop_reason` header
/// at build time, so it is an independent statement of the same values.
fn tracepoint_reason_table() -> Option<BTreeMap<i64, String>> {
    let format = [
        "/sys/kernel/tracing/events/skb/kfree_skb/format",
        "/sys/kernel/debug/tracing/events/skb/kfree_skb/format",
    ]
    .iter()
    .find_map(|path| std::fs::read_to_string(path).ok())?;
    let symbols = format.split("__print_symbolic(REC->reason,").nth(1)?;
    let mut table = BTreeMap::new();
    for entry in symbols.split('{').skip(1) {
        let (value, rest) = entry.split_once(',')?;
        let name = rest.split('"').nth(1)?;
        table.insert(value.trim().parse().ok()?, name.to_string());
    }
    Some(table)
}

#[test]
fn this_kernels_drop_reasons_match_the_table_the_kernel_prints_in_its_tracepoint() {
    let path = Path::new(KERNEL_BTF_PATH);
    if !path.exists() {
        eprintln!("skipped: this kernel has no {KERNEL_BTF_PATH}");
        return;
    }
    let reasons: BTreeMap<String, i64> = read_enum(path, "skb_drop_reason")
        .expect("this kernel's BTF has enum skb_drop_reason")
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect();
    for name in [
        "SKB_DROP_REASON_NOT_SPECIFIED",
        "SKB_DROP_REASON_NETFILTER_DROP",
    ] {
        assert!(reasons.contains_key(name), "{name} missing: {reasons:?}");
    }

    let Some(printed) = tracepoint_reason_table() else {
        let why = "the kfree_skb tracepoint format is not readable (needs root and tracefs)";
        if std::env::var("NMTEST_REQUIRE_ROOT").as_deref() == Ok("1") {
            panic!("{why}");
        }
        eprintln!("skipped the value comparison: {why}");
        return;
    };
    assert!(
        printed.values().any(|n| n == "NETFILTER_DROP"),
        "{printed:?}"
    );
    for (value, name) in &printed {
        assert_eq!(
            reasons.get(&format!("SKB_DROP_REASON_{name}")),
            Some(value),
            "{name}: the tracepoint prints {value}"
        );
    }
}
