use super::*;
use crate::btf::test_builder::BtfBuilder;

fn member(name: &str, offset: u64, size: u64) -> Member {
    Member {
        name: name.into(),
        offset,
        size,
    }
}

fn scalar(type_name: &str, size: u64) -> KeyLayout {
    KeyLayout {
        type_name: type_name.into(),
        size,
        members: None,
    }
}

#[test]
fn every_map_of_the_maps_section_has_its_key_read_through_typedefs_and_qualifiers() {
    let btf = BtfBuilder::new()
        .int("int") // 1
        .typedef("u32", 1) // 2
        .constant(2) // 3
        .struct_of("conn_key", 8, false, &[("addr", 3, 0), ("port", 1, 32)]) // 4
        .pointer(4) // 5
        .array(1, 16) // 6
        .pointer(6) // 7
        .pointer(2) // 8
        // __uint(type, ...) first: members other than the key are skipped.
        .struct_of("", 16, false, &[("type", 7, 0), ("key", 5, 64)]) // 9
        .variable("conns", 9) // 10
        .struct_of("", 8, false, &[("key_size", 7, 0)]) // 11
        .variable("raw", 11) // 12
        .struct_of("", 8, false, &[("key", 8, 0)]) // 13
        .variable("by_pid", 13) // 14
        .struct_of("", 8, false, &[("key", 7, 0)]) // 15
        .variable("arrays", 15) // 16
        .data_section(".maps", &[10, 12, 14, 16]) // 17
        .variable("not_a_map", 9) // 18
        .data_section(".data", &[18]) // 19
        .build();
    let keys = map_keys(&btf).unwrap();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert_eq!(
        keys["conns"],
        KeyLayout {
            type_name: "struct conn_key".into(),
            size: 8,
            members: Some(vec![member("addr", 0, 4), member("port", 4, 4)]),
        }
    );
    assert_eq!(keys["raw"], scalar("16 bytes (key_size)", 16));
    assert_eq!(keys["by_pid"], scalar("u32", 4));
    assert_eq!(keys["arrays"], scalar("int[16]", 64));
}

#[test]
fn bitfield_members_are_placed_by_their_offset_alone() {
    // With kind_flag a member's high 8 bits are its bitfield size.
    let btf = BtfBuilder::new()
        .int("int") // 1
        .struct_of(
            "flags",
            4,
            true,
            &[("a", 1, 8 << 24), ("b", 1, 8 << 24 | 16)],
        ) // 2
        .pointer(2) // 3
        .struct_of("", 8, false, &[("key", 3, 0)]) // 4
        .variable("flagged", 4) // 5
        .data_section(".maps", &[5]) // 6
        .build();
    let members = map_keys(&btf).unwrap()["flagged"].members.clone();
    assert_eq!(members, Some(vec![member("a", 0, 4), member("b", 2, 4)]));
}

#[test]
fn a_key_without_a_size_is_an_error_naming_the_type() {
    let btf = BtfBuilder::new()
        .func_proto(0) // 1
        .pointer(1) // 2
        .struct_of("", 8, false, &[("key", 2, 0)]) // 3
        .variable("m", 3) // 4
        .data_section(".maps", &[4]) // 5
        .build();
    let error = map_keys(&btf).unwrap_err();
    assert_eq!(error, KeyLayoutError::Unsized { id: 1, kind: 13 });
    assert_eq!(
        error.to_string(),
        "malformed BTF: type #1 of kind 13 has no size"
    );
}

#[test]
fn btf_without_a_maps_section_has_no_keys_and_bad_btf_is_an_error() {
    let btf = BtfBuilder::new().int("int").build();
    assert_eq!(map_keys(&btf), Ok(HashMap::new()));
    assert_eq!(
        map_keys(b"nope").unwrap_err().to_string(),
        "malformed BTF: 4 bytes, shorter than the 24-byte header"
    );
}
