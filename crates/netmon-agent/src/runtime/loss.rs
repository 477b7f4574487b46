//! Switching the packet-loss tracepoints on as configured
//! (`features.retransmits`, `features.drops`), and learning the running
//! kernel's drop-reason names. A kernel that lacks a tracepoint, or whose
//! BTF cannot be read, turns only that part off, with one log line.

use std::path::Path;

use netmon_ebpf::{btf::KERNEL_BTF_PATH, NetmonEbpf};
use tracing::{info, warn};

use crate::{config::FeaturesConfig, source::drop_reasons::DropReasons};

/// Attaches what `features` asks for; returns the names drop reasons are
/// shown with (none when drops are off or the names are unreadable).
pub(super) fn attach(ebpf: &mut NetmonEbpf, features: &FeaturesConfig) -> DropReasons {
    if features.retransmits.enabled {
        match ebpf.attach_retransmits() {
            Ok(()) => info!("TCP retransmission tracking is on"),
            Err(e) => warn!(error = %e, "TCP retransmission tracking is off"),
        }
    } else {
        info!("TCP retransmission tracking is off (features.retransmits.enabled: false)");
    }

    if !features.drops.enabled {
        info!("drop tracking is off (features.drops.enabled: false)");
        return DropReasons::unnamed();
    }
    if let Err(e) = ebpf.attach_drops() {
        warn!(error = %e, "drop tracking is off: the kfree_skb tracepoint did not attach (Linux 5.17+ has drop reasons)");
        return DropReasons::unnamed();
    }
    drop_reason_names(Path::new(KERNEL_BTF_PATH))
}

/// The drop-reason names of the kernel whose BTF is at `path`; without
/// them drops are still counted, by number.
fn drop_reason_names(path: &Path) -> DropReasons {
    match DropReasons::from_btf(path) {
        Ok(reasons) => {
            info!(reasons = reasons.len(), "drop tracking is on");
            reasons
        }
        Err(e) => {
            warn!(error = %e, "drop tracking is on, but reasons are shown by number (reason_<n>): their names could not be read");
            DropReasons::unnamed()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_kernel_btf_leaves_drops_counted_by_number() {
        let reasons = drop_reason_names(Path::new("/nonexistent/btf/vmlinux"));
        assert_eq!(&*reasons.name(77), "reason_77");
    }
}
