//! The doctor's findings: one [`Check`] per thing netmon needs, and their
//! rendering as aligned text (colours only for a terminal) or JSON.

use serde::Serialize;

use crate::output::Style;

/// How a check came out. `Warn` means netmon runs but with something off;
/// `Fail` means it cannot run (or cannot do its main job) here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// ANSI SGR colour: green, yellow, red.
    fn colour_code(self) -> &'static str {
        match self {
            Status::Pass => "32",
            Status::Warn => "33",
            Status::Fail => "31",
        }
    }
}

/// One finding. `name` is a stable identifier (scripts match on it);
/// `fix` is a one-line remedy, absent when there is nothing to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warn(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check::with_fix(Status::Warn, name.into(), detail.into(), fix.into())
    }

    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check::with_fix(Status::Fail, name.into(), detail.into(), fix.into())
    }

    fn with_fix(status: Status, name: String, detail: String, fix: String) -> Self {
        Check {
            name,
            status,
            detail,
            fix: Some(fix),
        }
    }
}

/// Every check, in the order they ran, and whether netmon can run here
/// (no check failed). Serialises as `{"checks": [...], "ok": bool}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoctorReport {
    checks: Vec<Check>,
    ok: bool,
}

impl DoctorReport {
    pub fn from_checks(checks: Vec<Check>) -> Self {
        let ok = checks.iter().all(|c| c.status != Status::Fail);
        DoctorReport { checks, ok }
    }

    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// True when no check failed (warnings allowed).
    pub fn ok(&self) -> bool {
        self.ok
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// The report as a person reads it: status, name and detail in aligned
/// columns, each fix on its own line under the detail, and a summary.
pub fn render_text(report: &DoctorReport, style: &Style) -> String {
    const STATUS_WIDTH: usize = 4;
    let name_width = report
        .checks()
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    let detail_indent = " ".repeat(STATUS_WIDTH + 2 + name_width + 2);
    let mut text = String::new();
    for check in report.checks() {
        let status = paint(style, check.status.colour_code(), check.status.as_str());
        text.push_str(&format!(
            "{status}  {name:<name_width$}  {detail}\n",
            name = check.name,
            detail = check.detail,
        ));
        if let Some(fix) = &check.fix {
            text.push_str(&format!("{detail_indent}fix: {fix}\n"));
        }
    }
    let (passed, warned, failed) = (
        report.count(Status::Pass),
        report.count(Status::Warn),
        report.count(Status::Fail),
    );
    let verdict = if report.ok {
        paint(style, Status::Pass.colour_code(), "netmon can run here")
    } else {
        paint(
            style,
            Status::Fail.colour_code(),
            "netmon cannot run here until the failed checks are fixed",
        )
    };
    text.push_str(&format!(
        "\n{passed} passed, {warned} {warnings}, {failed} failed: {verdict}\n",
        warnings = if warned == 1 { "warning" } else { "warnings" },
    ));
    text
}

fn paint(style: &Style, code: &str, text: &str) -> String {
    if style.color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DoctorReport {
        DoctorReport::from_checks(vec![
            Check::pass("kernel", "Linux 6.18.0"),
            Check::warn(
                "nf_conntrack_acct",
                "0: conntrack counts no bytes",
                "sysctl -w net.netfilter.nf_conntrack_acct=1",
            ),
            Check::fail("btf", "/x: not found", "enable CONFIG_DEBUG_INFO_BTF"),
        ])
    }

    #[test]
    fn text_aligns_names_puts_fixes_under_the_detail_and_sums_up() {
        let text = render_text(&sample(), &Style { color: false });
        assert_eq!(
            text,
            "pass  kernel             Linux 6.18.0\n\
             warn  nf_conntrack_acct  0: conntrack counts no bytes\n\
             \x20                        fix: sysctl -w net.netfilter.nf_conntrack_acct=1\n\
             fail  btf                /x: not found\n\
             \x20                        fix: enable CONFIG_DEBUG_INFO_BTF\n\
             \n\
             1 passed, 1 warning, 1 failed: netmon cannot run here until the failed checks are fixed\n"
        );
    }

    #[test]
    fn colours_wrap_only_the_status_word_and_the_verdict() {
        let report = DoctorReport::from_checks(vec![Check::pass("kernel", "Linux 6.18.0")]);
        let text = render_text(&report, &Style { color: true });
        assert_eq!(
            text,
            "\x1b[32mpass\x1b[0m  kernel  Linux 6.18.0\n\
             \n\
             1 passed, 0 warnings, 0 failed: \x1b[32mnetmon can run here\x1b[0m\n"
        );
    }

    #[test]
    fn a_report_is_ok_with_warnings_and_not_ok_with_a_failure() {
        let warned = DoctorReport::from_checks(vec![Check::warn("a", "b", "c")]);
        assert!(warned.ok());
        assert!(!sample().ok());
    }

    #[test]
    fn json_has_the_checks_and_ok() {
        let report = DoctorReport::from_checks(vec![
            Check::pass("kernel", "Linux 6.18.0"),
            Check::warn("bpffs", "not mounted", "mount -t bpf bpf /sys/fs/bpf"),
        ]);
        assert_eq!(
            serde_json::to_value(&report).expect("serialises"),
            serde_json::json!({
                "checks": [
                    {"name": "kernel", "status": "pass", "detail": "Linux 6.18.0", "fix": null},
                    {"name": "bpffs", "status": "warn", "detail": "not mounted", "fix": "mount -t bpf bpf /sys/fs/bpf"},
                ],
                "ok": true,
            })
        );
    }
}
