//! Decoders of numbers the kernel defines: `syscall` and `errno`. Both take
//! the decimal text a `uint` made, as in ebpf_exporter.

use super::{errno_table::ERRNOS, syscall_table::SYSCALLS};

/// The system call's name on this architecture (x86_64 numbering), or
/// `unknown_syscall:<n>`.
pub(super) fn syscall(number: u64) -> String {
    if cfg!(target_arch = "x86_64") {
        if let Some((_, name)) = SYSCALLS.iter().find(|(n, _)| *n == number) {
            return (*name).to_string();
        }
    }
    format!("unknown_syscall:{number}")
}

/// The errno's symbolic name (`ECONNREFUSED`), or `unknown:<n>`. A program
/// may store the kernel's negative return value: its absolute value counts.
pub(super) fn errno(number: u64) -> String {
    let value = if number > i64::MAX as u64 {
        (number as i64).unsigned_abs()
    } else {
        number
    };
    ERRNOS
        .iter()
        .find(|(n, _)| *n == value)
        .map(|(_, name)| (*name).to_string())
        .unwrap_or_else(|| format!("unknown:{number}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn syscall_numbers_are_named_as_on_x86_64() {
        let cases = [
            (0, "read"),
            (1, "write"),
            (42, "connect"),
            (110, "getppid"),
            (9999, "unknown_syscall:9999"),
        ];
        for (number, name) in cases {
            assert_eq!(syscall(number), name);
        }
    }

    #[test]
    fn errnos_are_named_from_positive_or_negated_values() {
        let cases = [
            (1, "EPERM".to_string()),
            (11, "EAGAIN".to_string()),
            (111, "ECONNREFUSED".to_string()),
            ((-110i64) as u64, "ETIMEDOUT".to_string()),
            (4000, "unknown:4000".to_string()),
        ];
        for (number, name) in cases {
            assert_eq!(errno(number), name);
        }
    }
}
