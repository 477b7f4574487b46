//! The strongest check: load netmon's own eBPF object the way the agent
//! does (every map created, CO-RE relocated against the kernel's BTF, both
//! TC programs through the verifier), attach nothing, and drop it. The
//! tracepoint programs are verified only when the agent attaches them, so
//! they are not covered here; their program types are (`program:*`).

use std::time::Instant;

use netmon_ebpf::{KernelFeatures, LoadOptions, NetmonEbpf};

use super::{bpf_types::PERMISSION_FIX, kernel::KernelVersion};
use crate::doctor::report::Check;

const NAME: &str = "netmon_object";
/// Small flow maps: the check is whether the programs load, not whether
/// the production map size fits; it keeps the load at a few milliseconds
/// and a few hundred KiB.
const PROBE_FLOW_MAP_ENTRIES: u32 = 1024;
/// Longest detail kept from a verifier log, which can be thousands of lines.
const MAX_DETAIL: usize = 300;

pub fn check(release: Option<&str>, kernel: Option<KernelVersion>) -> Check {
    let features = KernelFeatures {
        kernel_version: release.unwrap_or("unknown").to_string(),
        btf: true,
        tcx: kernel.is_some_and(|v| v.at_least(KernelVersion::TCX)),
        inet_sock_set_state: true,
    };
    let options = LoadOptions {
        flow_map_entries: PROBE_FLOW_MAP_ENTRIES,
        sampling_rate: 1,
        payload_flags: 0,
    };
    let started = Instant::now();
    match NetmonEbpf::load(&options, features) {
        Ok(loaded) => {
            drop(loaded);
            Check::pass(
                NAME,
                format!(
                    "loaded netmon's eBPF object (maps and TC programs) in {} ms, attached nothing",
                    started.elapsed().as_millis()
                ),
            )
        }
        Err(e) => {
            let permission = io_errors(&e)
                .any(|io| matches!(io.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)))
                && !e.to_string().contains("Verifier output");
            let fix = if permission {
                PERMISSION_FIX
            } else {
                "read the detail: a kernel feature netmon's programs use is missing (see the other checks)"
            };
            Check::fail(NAME, one_line(&error_chain(&e)), fix)
        }
    }
}

/// The error and its sources, skipping a source whose text its parent
/// already includes.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

fn io_errors<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a std::io::Error> {
    std::iter::successors(Some(error), |e| e.source())
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
}

/// Whitespace collapsed to single spaces; a long text keeps its start and
/// its end, where a verifier log says what it rejected.
pub fn one_line(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars: Vec<char> = collapsed.chars().collect();
    if chars.len() <= MAX_DETAIL {
        return collapsed;
    }
    let half = MAX_DETAIL / 2;
    let head: String = chars[..half].iter().collect();
    let tail: String = chars[chars.len() - half..].iter().collect();
    format!("{head} … {tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_log_becomes_one_line_keeping_its_start_and_end() {
        assert_eq!(one_line("a\n  b\tc\n"), "a b c");
        let long = format!("start {} end", "x ".repeat(400));
        let line = one_line(&long);
        assert!(line.starts_with("start x x"));
        assert!(line.ends_with("x x end"));
        assert_eq!(line.chars().count(), MAX_DETAIL + " … ".chars().count());
    }

    #[test]
    fn an_error_chain_skips_sources_its_parent_already_names() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: {0}")]
        struct Outer(#[source] std::io::Error);
        let error = Outer(std::io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(
            error_chain(&error),
            "outer: Operation not permitted (os error 1)"
        );
        assert_eq!(io_errors(&error).count(), 1);
    }
}
