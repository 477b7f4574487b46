//! Checks a metric's labels against its map's key type from BTF: each
//! label must be exactly one member (same offset, same size; padding may
//! cover holes and unused members), and the
//! labels with their padding must cover the key exactly. ebpf_exporter only
//! compares the total size, so a label one byte too wide next to a padding
//! one byte too narrow passes there and decodes garbage; here it is an
//! error that names the label and the member.

use super::config::Label;
use netmon_ebpf::btf::{KeyLayout, Member};

/// `Ok` when `labels` fit `key`; otherwise why, naming the first label
/// that does not.
pub fn check(labels: &[Label], key: &KeyLayout) -> Result<(), String> {
    let mut offset = 0u64;
    for label in labels {
        let size = label.size as u64;
        if let Some(members) = &key.members {
            check_members(label, offset, members, key)?;
        } else if labels.len() == 1 && size != key.size {
            return Err(format!(
                "label {} is {size} bytes but the map key ({}) is {} bytes",
                label.name, key.type_name, key.size
            ));
        }
        offset += size + label.padding as u64;
    }
    if offset != key.size {
        let last = labels.last().map_or("(none)", |l| l.name.as_str());
        return Err(format!(
            "the labels with their padding cover {offset} bytes but the map key ({}) is {} bytes \
             (last label: {last})",
            key.type_name, key.size
        ));
    }
    Ok(())
}

fn check_members(
    label: &Label,
    offset: u64,
    members: &[Member],
    key: &KeyLayout,
) -> Result<(), String> {
    let size = label.size as u64;
    let Some(first) = members.iter().position(|m| m.offset == offset) else {
        let listed: Vec<String> = members
            .iter()
            .map(|m| format!("{} at byte {} ({} bytes)", m.name, m.offset, m.size))
            .collect();
        return Err(format!(
            "label {} starts at byte {offset}, where no member of {} starts ({})",
            label.name,
            key.type_name,
            listed.join(", ")
        ));
    };
    // One label, one member: a label over several members would pass a
    // label too wide by exactly its neighbour's size, the mistake this
    // check exists for.
    let member = &members[first];
    if member.size != size {
        return Err(format!(
            "label {} is {size} bytes but member {} of {} at byte {offset} is {} bytes",
            label.name, member.name, key.type_name, member.size
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(name: &str, size: usize, padding: usize) -> Label {
        Label {
            name: name.into(),
            size,
            padding,
            decoders: Vec::new(),
        }
    }

    /// `struct connect_key { u32 subnet; u8 outcome; u8 pad[3]; u64 bucket; }`
    fn connect_key() -> KeyLayout {
        let member = |name: &str, offset, size| Member {
            name: name.into(),
            offset,
            size,
        };
        KeyLayout {
            type_name: "struct connect_key".into(),
            size: 16,
            members: Some(vec![
                member("subnet", 0, 4),
                member("outcome", 4, 1),
                member("pad", 5, 3),
                member("bucket", 8, 8),
            ]),
        }
    }

    #[test]
    fn labels_that_match_the_key_members_pass() {
        let labels = [
            label("subnet", 4, 0),
            label("outcome", 1, 3),
            label("bucket", 8, 0),
        ];
        assert_eq!(check(&labels, &connect_key()), Ok(()));
        // Padding may cover a member nobody labels.
        let skip_outcome = [label("subnet", 4, 4), label("bucket", 8, 0)];
        assert_eq!(check(&skip_outcome, &connect_key()), Ok(()));
    }

    #[test]
    fn a_label_of_the_wrong_size_is_named_with_the_member_it_overlaps() {
        let cases = [
            (
                vec![
                    label("subnet", 8, 0),
                    label("outcome", 1, 3),
                    label("bucket", 8, 0),
                ],
                "label subnet is 8 bytes but member subnet of struct connect_key at byte 0 is 4 bytes",
            ),
            (
                vec![
                    label("subnet", 4, 0),
                    label("outcome", 4, 0),
                    label("bucket", 8, 0),
                ],
                "label outcome is 4 bytes but member outcome of struct connect_key at byte 4 is 1 bytes",
            ),
            (
                vec![
                    label("subnet", 4, 0),
                    label("outcome", 1, 2),
                    label("bucket", 8, 0),
                ],
                "label bucket starts at byte 7, where no member of struct connect_key starts \
                 (subnet at byte 0 (4 bytes), outcome at byte 4 (1 bytes), pad at byte 5 (3 bytes), \
                 bucket at byte 8 (8 bytes))",
            ),
            (
                vec![label("subnet", 4, 0), label("outcome", 1, 3)],
                "the labels with their padding cover 8 bytes but the map key (struct connect_key) \
                 is 16 bytes (last label: outcome)",
            ),
        ];
        for (labels, expected) in cases {
            assert_eq!(check(&labels, &connect_key()), Err(expected.to_string()));
        }
    }

    #[test]
    fn a_scalar_key_takes_one_label_of_its_size() {
        let key = KeyLayout {
            type_name: "u64".into(),
            size: 8,
            members: None,
        };
        assert_eq!(check(&[label("cgroup", 8, 0)], &key), Ok(()));
        assert_eq!(
            check(&[label("cgroup", 4, 0)], &key),
            Err("label cgroup is 4 bytes but the map key (u64) is 8 bytes".to_string())
        );
    }
}
