//! `netmon-cli status`: what the agent is and does right now, from
//! `GET /api/v1/status`. `-o json` prints the agent's answer unchanged.

use std::collections::BTreeMap;
use std::io;
use std::process::ExitCode;

use serde::Deserialize;
use thiserror::Error;

use super::report_text;
use crate::cli::StatusArgs;
use crate::client::{AgentClient, ClientError};
use crate::output::table::{key_values, left, right, Cell, Table};
use crate::output::{sink, units, Color, Stdout, Style};

pub const PATH: &str = "/api/v1/status";

#[derive(Debug, Error)]
pub enum StatusError {
    #[error(transparent)]
    Agent(#[from] ClientError),
    #[error("writing the status to stdout: {0}")]
    Output(#[from] io::Error),
}

/// The parts of the status this CLI shows. Every field has a default so a
/// newer or older agent still gets a report of what both know.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AgentStatus {
    pub version: String,
    pub started_at: String,
    pub uptime_seconds: f64,
    pub node: String,
    pub kernel: KernelStatus,
    pub interfaces: Vec<InterfaceStatus>,
    pub maps: Vec<MapStatus>,
    pub flow_table: Fill,
    pub events: Processed,
    pub payload_samples: Processed,
    pub kubernetes: KubernetesStatus,
    pub features: BTreeMap<String, bool>,
    /// Custom eBPF programs (`programs` entries).
    pub programs: Vec<ProgramStatus>,
    pub config: ConfigStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProgramStatus {
    pub name: String,
    /// running, degraded or failed.
    pub state: String,
    pub error: Option<String>,
    pub metrics: Vec<String>,
    pub programs: Vec<ProgramAttach>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProgramAttach {
    pub program: String,
    pub section: String,
    pub attached: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct KernelStatus {
    pub release: String,
    pub btf: bool,
    pub tcx: bool,
    pub tcp_lifecycle_tracepoint: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct InterfaceStatus {
    pub name: String,
    pub ifindex: u32,
    pub attach_mode: String,
    pub programs: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct MapStatus {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub entries: u64,
    pub capacity: u64,
    pub fill_ratio: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Fill {
    #[serde(alias = "entries")]
    pub flows: u64,
    pub capacity: u64,
    pub fill_ratio: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Processed {
    pub processed: u64,
    pub lost: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct KubernetesStatus {
    pub enabled: bool,
    /// off, syncing, synced or degraded.
    pub state: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ConfigStatus {
    pub path: Option<String>,
    pub restart_required: Vec<String>,
}

pub async fn run(
    agent: &AgentClient,
    args: &StatusArgs,
    style: &Style,
) -> Result<ExitCode, StatusError> {
    let text = report_text(agent, PATH, args.output, |status| render(status, style)).await?;
    Ok(sink::finished(Stdout::default().block(&text))?)
}

/// The human report: a summary, then the interfaces and the maps.
pub fn render(status: &AgentStatus, style: &Style) -> String {
    let yes_no = |on: bool| if on { "yes" } else { "no" };
    let kernel = &status.kernel;
    let kubernetes = &status.kubernetes;
    let features = |wanted: bool| {
        let list: Vec<&str> = status
            .features
            .iter()
            .filter(|(_, on)| **on == wanted)
            .map(|(name, _)| name.as_str())
            .collect();
        if list.is_empty() {
            "-".to_owned()
        } else {
            list.join(", ")
        }
    };
    let config = match (
        &status.config.path,
        status.config.restart_required.as_slice(),
    ) {
        (path, []) => path
            .clone()
            .unwrap_or_else(|| "(no file: defaults, environment, flags)".into()),
        (path, pending) => format!(
            "{} ({}: {})",
            path.as_deref().unwrap_or("(no file)"),
            style.paint("restart required", Color::Yellow),
            pending.join(", ")
        ),
    };
    let lost = |processed: &Processed| {
        let lost = format!("{} lost", processed.lost);
        let lost = if processed.lost > 0 {
            style.paint(&lost, Color::Red)
        } else {
            lost
        };
        format!("{} processed, {lost}", processed.processed)
    };
    let mut out = key_values(&[
        (
            "Agent",
            format!("netmon {} on {}", status.version, status.node),
        ),
        (
            "Uptime",
            format!(
                "{} (since {})",
                units::age(status.uptime_seconds.max(0.0) as u64),
                status.started_at
            ),
        ),
        (
            "Kernel",
            format!(
                "{}  BTF {}  TCX {}  TCP lifecycle tracepoint {}",
                kernel.release,
                yes_no(kernel.btf),
                yes_no(kernel.tcx),
                yes_no(kernel.tcp_lifecycle_tracepoint)
            ),
        ),
        ("Config", config),
        (
            "Kubernetes",
            match kubernetes.enabled {
                false => "off".to_owned(),
                // The state already says whether it is synced.
                true => kubernetes.state.clone(),
            },
        ),
        ("Flow table", fill(&status.flow_table, "flows", style)),
        ("Events", lost(&status.events)),
        ("Payload samples", lost(&status.payload_samples)),
        ("Features on", features(true)),
        ("Features off", features(false)),
    ]);

    out.push('\n');
    let mut interfaces = Table::new(&[
        left("INTERFACE"),
        right("IFINDEX"),
        left("MODE"),
        left("PROGRAMS"),
    ]);
    for interface in &status.interfaces {
        interfaces.row(vec![
            Cell::from(interface.name.as_str()),
            Cell::from(interface.ifindex.to_string()),
            Cell::from(interface.attach_mode.as_str()),
            Cell::from(interface.programs.join(", ")),
        ]);
    }
    if interfaces.is_empty() {
        out.push_str(&style.paint("No interface attached.", Color::Yellow));
        out.push('\n');
    } else {
        out.push_str(&interfaces.render(style));
    }

    out.push('\n');
    let mut maps = Table::new(&[
        left("MAP"),
        left("TYPE"),
        right("ENTRIES"),
        right("CAPACITY"),
        right("FILL"),
    ]);
    for map in &status.maps {
        maps.row(vec![
            Cell::from(map.name.as_str()),
            Cell::from(map.kind.as_str()),
            Cell::from(map.entries.to_string()),
            Cell::from(map.capacity.to_string()),
            Cell::colored(percent(map.fill_ratio), fill_color(map.fill_ratio)),
        ]);
    }
    out.push_str(&maps.render(style));
    if !status.programs.is_empty() {
        out.push('\n');
        out.push_str(&programs(&status.programs, style));
    }
    out
}

/// The custom programs: one row per entry, and why anything is not running.
fn programs(entries: &[ProgramStatus], style: &Style) -> String {
    let mut table = Table::new(&[left("CUSTOM PROGRAM"), left("STATE"), left("METRICS")]);
    let mut reasons = Vec::new();
    for entry in entries {
        let color = match entry.state.as_str() {
            "running" => None,
            "degraded" => Some(Color::Yellow),
            _ => Some(Color::Red),
        };
        table.row(vec![
            Cell::from(entry.name.as_str()),
            Cell::colored(entry.state.as_str(), color),
            Cell::from(if entry.metrics.is_empty() {
                "-".to_owned()
            } else {
                entry.metrics.join(", ")
            }),
        ]);
        if let Some(error) = &entry.error {
            reasons.push(format!("{}: {error}", entry.name));
        }
        for program in &entry.programs {
            if let Some(error) = &program.error {
                reasons.push(format!(
                    "{}/{} skipped: {error}",
                    entry.name, program.program
                ));
            }
        }
    }
    let mut out = table.render(style);
    for reason in reasons {
        out.push_str(&style.paint(&reason, Color::Yellow));
        out.push('\n');
    }
    out
}

/// `10 / 100000 flows (0.0%)`, the share coloured once it gets high.
pub fn fill(fill: &Fill, what: &str, style: &Style) -> String {
    let share = percent(fill.fill_ratio);
    let share = match fill_color(fill.fill_ratio) {
        Some(color) => style.paint(&share, color),
        None => share,
    };
    format!("{} / {} {what} ({share})", fill.flows, fill.capacity)
}

pub fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// A table past 80% is about to evict or drop: worth a colour.
fn fill_color(ratio: f64) -> Option<Color> {
    if ratio >= 0.95 {
        Some(Color::Red)
    } else if ratio >= 0.8 {
        Some(Color::Yellow)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS_JSON: &str = r#"{
      "version": "0.1.0", "started_at": "2025-12-03T17:00:00Z", "uptime_seconds": 725.5,
      "node": "node-1",
      "kernel": {"release": "6.18.0", "btf": true, "tcx": true, "tcp_lifecycle_tracepoint": true},
      "interfaces": [
        {"name": "veth-a", "ifindex": 12, "attach_mode": "tcx", "programs": ["netmon_ingress", "netmon_egress"]},
        {"name": "veth-b", "ifindex": 14, "attach_mode": "tc", "programs": ["netmon_ingress", "netmon_egress"]}
      ],
      "maps": [{"name": "netmon_flows", "type": "lru_hash", "entries": 12, "capacity": 65536, "fill_ratio": 0.000183}],
      "flow_table": {"flows": 10, "capacity": 100000, "fill_ratio": 0.0001},
      "events": {"processed": 123, "lost": 0},
      "payload_samples": {"processed": 5, "lost": 2},
      "kubernetes": {"enabled": false, "state": "off", "synced": false},
      "features": {"tcp_lifecycle": true, "rtt": true, "nat": false},
      "config": {"path": "/etc/netmon/netmon.yaml", "restart_required": ["capture.attach_mode"]},
      "added_later": 1
    }"#;

    #[test]
    fn the_report_shows_every_part_aligned() {
        let status: AgentStatus = serde_json::from_str(STATUS_JSON).unwrap();
        assert_eq!(
            render(&status, &Style { color: false }),
            "\
Agent            netmon 0.1.0 on node-1
Uptime           12m5s (since 2025-12-03T17:00:00Z)
Kernel           6.18.0  BTF yes  TCX yes  TCP lifecycle tracepoint yes
Config           /etc/netmon/netmon.yaml (restart required: capture.attach_mode)
Kubernetes       off
Flow table       10 / 100000 flows (0.0%)
Events           123 processed, 0 lost
Payload samples  5 processed, 2 lost
Features on      rtt, tcp_lifecycle
Features off     nat

INTERFACE  IFINDEX  MODE  PROGRAMS
veth-a          12  tcx   netmon_ingress, netmon_egress
veth-b          14  tc    netmon_ingress, netmon_egress

MAP           TYPE      ENTRIES  CAPACITY  FILL
netmon_flows  lru_hash       12     65536  0.0%
"
        );
    }

    #[test]
    fn custom_programs_are_listed_with_why_any_part_is_not_running() {
        let mut status: AgentStatus = serde_json::from_str(STATUS_JSON).unwrap();
        status.programs = serde_json::from_str(
            r#"[
              {"name": "tcp_connect_latency", "state": "running",
               "metrics": ["ebpf_exporter_tcp_connect_latency_seconds"],
               "programs": [{"program": "tcp_connect_state", "section": "tracepoint/sock/inet_sock_set_state",
                             "attached": "tracepoint sock:inet_sock_set_state"}]},
              {"name": "mixed", "state": "degraded", "metrics": ["ebpf_exporter_hits_total"],
               "programs": [{"program": "on_unlink", "section": "kprobe/do_unlinkat",
                             "error": "this kernel has no kprobes"}]},
              {"name": "broken", "state": "failed", "error": "not an ELF object", "metrics": [], "programs": []}
            ]"#,
        )
        .unwrap();
        let report = render(&status, &Style { color: false });
        let programs = report.split("0.0%\n\n").nth(1).expect("a programs table");
        assert_eq!(
            programs,
            "\
CUSTOM PROGRAM       STATE     METRICS
tcp_connect_latency  running   ebpf_exporter_tcp_connect_latency_seconds
mixed                degraded  ebpf_exporter_hits_total
broken               failed    -
mixed/on_unlink skipped: this kernel has no kprobes
broken: not an ELF object
"
        );
    }

    #[test]
    fn lost_events_are_red_when_colours_are_on() {
        let status: AgentStatus = serde_json::from_str(STATUS_JSON).unwrap();
        let report = render(&status, &Style { color: true });
        assert!(
            report.contains("5 processed, \x1b[31m2 lost\x1b[0m"),
            "{report}"
        );
        assert!(report.contains("0 lost\n"), "{report}");
    }

    #[test]
    fn a_full_table_is_coloured() {
        let full = Fill {
            flows: 99_000,
            capacity: 100_000,
            fill_ratio: 0.99,
        };
        assert_eq!(
            fill(&full, "flows", &Style { color: true }),
            "99000 / 100000 flows (\x1b[31m99.0%\x1b[0m)"
        );
    }
}
