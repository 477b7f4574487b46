//! The kernel's BTF: netmon's programs are CO-RE, so the loader relocates
//! them against it, and the agent refuses to start without it.

use std::{io::Read, path::Path};

use crate::doctor::report::Check;

const NAME: &str = "btf";
const FIX: &str = "use a kernel built with CONFIG_DEBUG_INFO_BTF=y";
const BTF_MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
/// A vmlinux BTF is several MiB (5.5 MiB on Linux 6.18); far less means a
/// module's or a truncated file.
const PLAUSIBLE_VMLINUX_SIZE: u64 = 1 << 20;

/// The BTF header's section layout (`struct btf_header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BtfHeader {
    pub hdr_len: u32,
    pub type_off: u32,
    pub type_len: u32,
    pub str_off: u32,
    pub str_len: u32,
}

impl BtfHeader {
    /// The size the file must have: the header plus both sections.
    pub fn expected_size(&self) -> u64 {
        let types_end = u64::from(self.type_off) + u64::from(self.type_len);
        let strings_end = u64::from(self.str_off) + u64::from(self.str_len);
        u64::from(self.hdr_len) + types_end.max(strings_end)
    }
}

/// Parses the header at the start of a BTF file in this machine's byte
/// order; the error says what is wrong in a few words.
pub fn parse_header(bytes: &[u8]) -> Result<BtfHeader, &'static str> {
    if bytes.len() < HEADER_LEN {
        return Err("shorter than a BTF header");
    }
    let u32_at =
        |at: usize| u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let magic = u16::from_ne_bytes([bytes[0], bytes[1]]);
    if magic != BTF_MAGIC {
        return Err("no BTF magic (0xeb9f) at its start");
    }
    Ok(BtfHeader {
        hdr_len: u32_at(4),
        type_off: u32_at(8),
        type_len: u32_at(12),
        str_off: u32_at(16),
        str_len: u32_at(20),
    })
}

pub fn check(path: &Path) -> Check {
    let shown = path.display();
    let mut header = [0u8; HEADER_LEN];
    let read = std::fs::File::open(path).and_then(|mut file| {
        let size = file.metadata()?.len();
        file.read_exact(&mut header)?;
        Ok(size)
    });
    let size = match read {
        Ok(size) => size,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::fail(NAME, format!("{shown}: not found: this kernel has no BTF, and netmon's CO-RE programs cannot be relocated"), FIX);
        }
        Err(e) => return Check::fail(NAME, format!("{shown}: cannot read: {e}"), FIX),
    };
    let header = match parse_header(&header) {
        Ok(header) => header,
        Err(problem) => return Check::fail(NAME, format!("{shown}: not BTF: {problem}"), FIX),
    };
    // sysfs reports the real size of /sys/kernel/btf/vmlinux, so the
    // sections must fit it exactly.
    if header.expected_size() != size {
        return Check::fail(
            NAME,
            format!(
                "{shown}: {size} bytes, but its header describes {} bytes (truncated or corrupt)",
                header.expected_size()
            ),
            FIX,
        );
    }
    if size < PLAUSIBLE_VMLINUX_SIZE {
        return Check::warn(
            NAME,
            format!("{shown}: {size} bytes, small for a kernel's BTF (a module's?)"),
            "point --btf at the kernel's BTF, normally /sys/kernel/btf/vmlinux",
        );
    }
    Check::pass(
        NAME,
        format!(
            "{shown}: {:.1} MiB of BTF",
            size as f64 / f64::from(1 << 20)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Status;

    fn header_bytes(hdr_len: u32, type_len: u32, str_off: u32, str_len: u32) -> Vec<u8> {
        let mut bytes = BTF_MAGIC.to_ne_bytes().to_vec();
        bytes.extend([1, 0]);
        for field in [hdr_len, 0, type_len, str_off, str_len] {
            bytes.extend(field.to_ne_bytes());
        }
        bytes
    }

    #[test]
    fn a_header_gives_the_size_of_header_and_sections() {
        let header = parse_header(&header_bytes(24, 100, 100, 50)).expect("parses");
        assert_eq!(header.expected_size(), 24 + 150);
    }

    #[test]
    fn a_file_without_the_magic_or_too_short_is_not_btf() {
        assert_eq!(
            parse_header(&[0u8; 24]),
            Err("no BTF magic (0xeb9f) at its start")
        );
        assert_eq!(
            parse_header(&[0x9f, 0xeb]),
            Err("shorter than a BTF header")
        );
    }

    #[test]
    fn a_missing_file_fails_with_the_kernel_config_fix() {
        let check = check(Path::new("/nonexistent/btf/vmlinux"));
        assert_eq!(check.status, Status::Fail);
        assert_eq!(check.fix.as_deref(), Some(FIX));
    }

    #[test]
    fn a_small_consistent_file_warns_and_a_truncated_one_fails() {
        let dir = std::env::temp_dir().join(format!("netmon-doctor-btf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let small = dir.join("small");
        let mut bytes = header_bytes(24, 8, 8, 4);
        bytes.extend([0u8; 12]);
        std::fs::write(&small, &bytes).expect("write");
        assert_eq!(check(&small).status, Status::Warn);
        let truncated = dir.join("truncated");
        std::fs::write(&truncated, &bytes[..30]).expect("write");
        assert_eq!(
            check(&truncated).detail,
            format!(
                "{}: 30 bytes, but its header describes 36 bytes (truncated or corrupt)",
                truncated.display()
            )
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
