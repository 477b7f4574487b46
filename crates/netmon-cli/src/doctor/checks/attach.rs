//! How netmon's TC programs attach: TCX links (Linux 6.6+), else the
//! legacy clsact qdisc. The TCX probe attaches a throwaway program to
//! loopback and detaches it at once; clsact is read from the kernel's
//! modules and configuration, because adding a qdisc to find out would
//! change the machine.

use std::{ffi::CString, path::Path};

use super::{
    bpf_types::PERMISSION_FIX,
    kernel::KernelVersion,
    kernel_config::{self, ConfigOption},
};
use crate::doctor::{
    bpf_sys::{self, ProgramSpec},
    report::Check,
};

const TCX: &str = "tcx";
const CLSACT: &str = "clsact";
/// TCX_NEXT: "carry on", so for the instant the probe is attached every
/// program after it and the legacy TC hook still run.
const TCX_NEXT: i32 = -1;

/// `tcx`: passes when a TCX ingress link on `lo` can be created.
pub fn tcx_check(kernel: Option<KernelVersion>) -> Check {
    if let Some(version) = kernel.filter(|v| !v.at_least(KernelVersion::TCX)) {
        return Check::warn(
            TCX,
            format!("Linux {version} has no TCX (6.6+): netmon falls back to TC clsact"),
            "upgrade to Linux 6.6 or newer for TCX attach",
        );
    }
    let Some(ifindex) = ifindex("lo") else {
        return Check::warn(
            TCX,
            "cannot probe TCX: this network namespace has no lo",
            "run the doctor in the network namespace netmon runs in",
        );
    };
    let program = match bpf_sys::load_program(&ProgramSpec {
        prog_type: bpf_sys::BPF_PROG_TYPE_SCHED_CLS,
        ret: TCX_NEXT,
        ..Default::default()
    }) {
        Ok(program) => program,
        Err(e) if bpf_sys::is_permission_error(&e.error) => {
            return Check::fail(
                TCX,
                format!("not allowed to load a TC program: {}", e.error),
                PERMISSION_FIX,
            )
        }
        Err(e) => {
            return Check::warn(
                TCX,
                format!("cannot load a TC program to probe TCX with: {}", e.error),
                "see program:sched_cls",
            )
        }
    };
    match bpf_sys::create_tcx_ingress_link(&program, ifindex) {
        // Dropping the link detaches the probe.
        Ok(_link) => Check::pass(TCX, "attached a TCX ingress link to lo and removed it"),
        Err(e) if bpf_sys::is_permission_error(&e) => Check::fail(
            TCX,
            format!("not allowed to attach TCX links: {e}"),
            PERMISSION_FIX,
        ),
        Err(e) => Check::warn(
            TCX,
            format!("the kernel refused a TCX link on lo ({e}): netmon falls back to TC clsact"),
            "use a kernel with CONFIG_NET_XGRESS (Linux 6.6+) for TCX attach",
        ),
    }
}

fn ifindex(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    // SAFETY: name is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// Where the clsact qdisc (module `sch_ingress`) was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClsactSource {
    Loaded,
    BuiltIn(String),
    Module(String),
    NotConfigured(String),
    Unknown,
}

/// Finds sch_ingress: loaded, then the kernel configuration, then the
/// module tree.
pub fn find_clsact(release: Option<&str>) -> ClsactSource {
    let loaded = Path::new("/sys/module/sch_ingress").exists()
        || std::fs::read_to_string("/proc/modules")
            .is_ok_and(|modules| modules.lines().any(|l| l.starts_with("sch_ingress ")));
    if loaded {
        return ClsactSource::Loaded;
    }
    if let Some((source, config)) = kernel_config::read(release) {
        return match kernel_config::lookup(&config, "CONFIG_NET_SCH_INGRESS") {
            ConfigOption::Set(value) if value == "y" => ClsactSource::BuiltIn(source),
            ConfigOption::Set(value) if value == "m" => ClsactSource::Module(source),
            _ => ClsactSource::NotConfigured(source),
        };
    }
    let Some(release) = release else {
        return ClsactSource::Unknown;
    };
    let modules = Path::new("/lib/modules").join(release);
    let builtin = std::fs::read_to_string(modules.join("modules.builtin"))
        .is_ok_and(|list| list.lines().any(|l| l.ends_with("/sch_ingress.ko")));
    if builtin {
        return ClsactSource::BuiltIn(modules.join("modules.builtin").display().to_string());
    }
    let sched = modules.join("kernel/net/sched");
    for suffix in ["", ".xz", ".zst", ".gz"] {
        let file = sched.join(format!("sch_ingress.ko{suffix}"));
        if file.exists() {
            return ClsactSource::Module(file.display().to_string());
        }
    }
    ClsactSource::Unknown
}

/// `clsact`: a warning at worst, as TCX is the first choice.
pub fn clsact_check(source: &ClsactSource, tcx_available: bool) -> Check {
    let role = if tcx_available {
        "netmon uses it only with capture.attach_mode: tc"
    } else {
        "netmon attaches through it when TCX is unavailable"
    };
    const FIX: &str = "use a kernel with CONFIG_NET_SCH_INGRESS (y or m)";
    match source {
        ClsactSource::Loaded => Check::pass(CLSACT, format!("sch_ingress is loaded ({role})")),
        ClsactSource::BuiltIn(from) => {
            Check::pass(CLSACT, format!("sch_ingress is built in, per {from} ({role})"))
        }
        ClsactSource::Module(from) => Check::pass(
            CLSACT,
            format!("sch_ingress is a module, loaded on first use, per {from} ({role})"),
        ),
        ClsactSource::NotConfigured(from) => Check::warn(
            CLSACT,
            format!("{from}: CONFIG_NET_SCH_INGRESS is not set, so there is no clsact qdisc ({role})"),
            FIX,
        ),
        ClsactSource::Unknown => Check::warn(
            CLSACT,
            format!("cannot tell whether sch_ingress exists: no /proc/config.gz, /boot/config or module tree ({role})"),
            "check `tc qdisc add dev <iface> clsact` on a test interface",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Status;

    #[test]
    fn kernels_before_6_6_warn_without_probing() {
        let check = tcx_check(Some(KernelVersion::new(6, 1, 0)));
        assert_eq!(check.status, Status::Warn);
        assert_eq!(
            check.detail,
            "Linux 6.1.0 has no TCX (6.6+): netmon falls back to TC clsact"
        );
    }

    #[test]
    fn clsact_not_configured_is_a_warning_naming_the_config_file() {
        let check = clsact_check(
            &ClsactSource::NotConfigured("/proc/config.gz".to_string()),
            true,
        );
        assert_eq!(check.status, Status::Warn);
        assert_eq!(
            check.detail,
            "/proc/config.gz: CONFIG_NET_SCH_INGRESS is not set, so there is no clsact qdisc \
             (netmon uses it only with capture.attach_mode: tc)"
        );
    }
}
