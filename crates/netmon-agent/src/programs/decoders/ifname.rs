//! `ifname`: an interface index (4 bytes) → its name in the agent's
//! network namespace, or `unknown:<index>` once the interface is gone.

pub(super) fn name(index: u32) -> String {
    let mut buffer = [0u8; libc::IF_NAMESIZE];
    // SAFETY: the buffer is IF_NAMESIZE bytes, as if_indextoname requires.
    let found = unsafe { libc::if_indextoname(index, buffer.as_mut_ptr().cast()) };
    if found.is_null() {
        return format!("unknown:{index}");
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_named_and_a_missing_index_is_unknown() {
        // Index 1 is the loopback device in every network namespace.
        assert_eq!(name(1), "lo");
        assert_eq!(name(u32::MAX), format!("unknown:{}", u32::MAX));
    }
}
