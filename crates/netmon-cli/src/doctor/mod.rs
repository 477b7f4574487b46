//! `netmon-cli doctor` (alias `check-system`): checks that this machine can
//! run netmon, each finding pass, warn or fail with a one-line fix. It
//! needs no agent. The support bundle embeds the same report through
//! [`checks`] and [`render_text`].

mod bpf_sys;
pub mod checks;
pub mod report;

use std::{io::Write, process::ExitCode};

use clap::{Args, FromArgMatches};

pub use report::{render_text, DoctorReport, Status};

use crate::{
    cli::{DoctorArgs, ReportFormat},
    output::Style,
};

#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("writing the doctor's report: {0}")]
    Write(#[source] std::io::Error),
    #[error("encoding the doctor's report as JSON: {0}")]
    Json(#[source] serde_json::Error),
}

/// Runs every check, in a fixed order (the order of the report).
pub fn checks(args: &DoctorArgs) -> DoctorReport {
    use checks::{
        attach, bpf_types, btf, capabilities, conntrack, filesystems, kernel, netmon_object, ports,
    };
    let running = kernel::running();
    let release = running.as_ref().map(|(release, _)| release.as_str());
    let version = running.as_ref().map(|(_, version)| *version);

    let mut all = vec![
        kernel::check(running.as_ref()),
        btf::check(&args.btf),
        capabilities::check(version),
    ];
    all.extend(bpf_types::map_checks());
    all.extend(bpf_types::program_checks());
    all.push(netmon_object::check(release, version));
    let tcx = attach::tcx_check(version);
    let tcx_available = tcx.status == Status::Pass;
    all.push(tcx);
    all.push(attach::clsact_check(
        &attach::find_clsact(release),
        tcx_available,
    ));
    all.extend(filesystems::tracefs_checks(&args.tracefs));
    all.push(filesystems::cgroup_check(&args.cgroup));
    all.push(filesystems::bpffs_check(&args.bpffs));
    all.push(conntrack::check());
    all.extend(ports::checks(&args.ports));
    DoctorReport::from_checks(all)
}

/// Prints the report (`-o table|json`); exit status 0 when no check
/// failed, 1 when one did.
pub fn run(args: &DoctorArgs, style: &Style) -> Result<ExitCode, DoctorError> {
    let report = checks(args);
    let text = match args.output {
        ReportFormat::Table => render_text(&report, style),
        ReportFormat::Json => {
            let mut json = serde_json::to_string_pretty(&report).map_err(DoctorError::Json)?;
            json.push('\n');
            json
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(DoctorError::Write)?;
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The flags' defaults, as `netmon-cli doctor` with no flags has them
/// (for callers such as the support bundle).
impl Default for DoctorArgs {
    fn default() -> Self {
        let command = DoctorArgs::augment_args(clap::Command::new("doctor"));
        let matches = command.get_matches_from(["doctor"]);
        DoctorArgs::from_arg_matches(&matches).expect("DoctorArgs' own defaults parse")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_args_are_the_flags_defaults() {
        let args = DoctorArgs::default();
        assert_eq!(args.output, ReportFormat::Table);
        assert_eq!(
            args.tracefs,
            std::path::PathBuf::from("/sys/kernel/tracing")
        );
        assert_eq!(args.bpffs, std::path::PathBuf::from("/sys/fs/bpf"));
        assert_eq!(args.cgroup, std::path::PathBuf::from("/sys/fs/cgroup"));
        assert_eq!(
            args.btf,
            std::path::PathBuf::from("/sys/kernel/btf/vmlinux")
        );
        assert_eq!(args.ports, [9091, 9090]);
    }
}
