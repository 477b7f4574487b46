//! `nf_conntrack_acct`: whether conntrack counts bytes and packets per
//! connection. netmon reads translated connections from conntrack
//! (features.nat); without conntrack that feature is off.

use std::path::Path;

use crate::doctor::report::Check;

const NAME: &str = "nf_conntrack_acct";
pub const SYSCTL_PATH: &str = "/proc/sys/net/netfilter/nf_conntrack_acct";

/// The check for the sysctl's content (`None`: the file is missing).
pub fn evaluate(value: Option<&str>) -> Check {
    match value.map(str::trim) {
        Some("1") => Check::pass(NAME, "1: conntrack counts bytes and packets per connection"),
        Some("0") => Check::warn(
            NAME,
            "0: conntrack keeps no per-connection byte and packet counts",
            "sysctl -w net.netfilter.nf_conntrack_acct=1",
        ),
        Some(other) => Check::warn(
            NAME,
            format!("unexpected value {other:?}"),
            "sysctl -w net.netfilter.nf_conntrack_acct=1",
        ),
        None => Check::warn(
            NAME,
            "conntrack not loaded; NAT features off",
            "modprobe nf_conntrack (or load any netfilter rule that uses conntrack)",
        ),
    }
}

pub fn check() -> Check {
    let value = std::fs::read_to_string(Path::new(SYSCTL_PATH)).ok();
    evaluate(value.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Status;

    #[test]
    fn one_passes_zero_warns_with_the_sysctl_and_missing_warns_nat_off() {
        assert_eq!(evaluate(Some("1\n")).status, Status::Pass);
        let off = evaluate(Some("0\n"));
        assert_eq!(off.status, Status::Warn);
        assert_eq!(
            off.fix.as_deref(),
            Some("sysctl -w net.netfilter.nf_conntrack_acct=1")
        );
        let missing = evaluate(None);
        assert_eq!(missing.status, Status::Warn);
        assert_eq!(missing.detail, "conntrack not loaded; NAT features off");
    }
}
