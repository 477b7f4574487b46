//! Every subcommand's flags, with `--help` examples. Parsing only: each
//! subcommand's work lives in its own file under `commands/`, `top/` or
//! `doctor/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::client::DEFAULT_SOCKET;

const EXIT_CODES: &str = "\
Exit status: 0 success, 1 failure (agent unreachable, request refused,
a check failed), 2 usage error (unknown flag, bad value).";

const TOP_LEVEL_EXAMPLES: &str = "\
Examples:
  netmon-cli status
  netmon-cli flows observe --follow --namespace shop --not --port 53
  netmon-cli flows dump --status refused,reset -o json
  netmon-cli top --sort packets
  netmon-cli doctor
  netmon-cli --agent http://127.0.0.1:9091 stats flows
  netmon-cli support bundle --output netmon-support.tar.gz

Exit status: 0 success, 1 failure (agent unreachable, request refused,
a check failed), 2 usage error (unknown flag, bad value).";

/// netmon-cli: ask the netmon agent on this node who is talking to whom,
/// and what is failing, right now.
#[derive(Debug, Parser)]
#[command(name = "netmon-cli", version, after_help = TOP_LEVEL_EXAMPLES)]
pub struct Cli {
    /// The agent's API: its unix socket path, or http://HOST:PORT for its
    /// TCP listener (api.address).
    #[arg(long, global = true, value_name = "PATH|URL", env = "NETMON_AGENT", default_value = DEFAULT_SOCKET)]
    pub agent: String,

    /// Colours in human output: auto (only on a terminal), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The agent's version, uptime, kernel, attached programs, map fill,
    /// events and Kubernetes sync state.
    #[command(after_help = "Examples:\n  netmon-cli status\n  netmon-cli status -o json\n\n".to_owned() + EXIT_CODES)]
    Status(StatusArgs),

    /// List or follow flows, with filters.
    #[command(subcommand)]
    Flows(FlowsCommand),

    /// Live full-screen view of the top flows or peers (q quits).
    #[command(after_help = TOP_EXAMPLES)]
    Top(TopArgs),

    /// Counts and fill levels.
    #[command(subcommand)]
    Stats(StatsCommand),

    /// Check that this machine can run netmon: kernel, BTF, program and map
    /// types, TCX/clsact, tracefs, cgroup v2, bpffs, capabilities, ports.
    #[command(visible_alias = "check-system", after_help = DOCTOR_EXAMPLES)]
    Doctor(DoctorArgs),

    /// Collect what a bug report needs into one archive.
    #[command(subcommand)]
    Support(SupportCommand),

    /// Read or change the running agent's configuration.
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Debugging switches of the running agent.
    #[command(subcommand)]
    Debug(DebugCommand),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(short, long, value_enum, default_value_t = ReportFormat::Table)]
    pub output: ReportFormat,
}

/// Output of reports (status, stats, doctor, config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// Print the agent's current flows and exit.
    #[command(after_help = FLOWS_DUMP_EXAMPLES)]
    Dump(FlowsDumpArgs),
    /// Print recent flows, then (with --follow) every flow event as it
    /// happens.
    #[command(after_help = FLOWS_OBSERVE_EXAMPLES)]
    Observe(FlowsObserveArgs),
}

#[derive(Debug, Args)]
pub struct FlowsDumpArgs {
    #[command(flatten)]
    pub filters: FlowFilterArgs,
    #[command(flatten)]
    pub window: FlowWindowArgs,
    #[arg(short, long, value_enum, default_value_t = FlowFormat::Table)]
    pub output: FlowFormat,
}

#[derive(Debug, Args)]
pub struct FlowsObserveArgs {
    #[command(flatten)]
    pub filters: FlowFilterArgs,
    #[command(flatten)]
    pub window: FlowWindowArgs,
    /// Keep printing flow events as they happen, until interrupted.
    #[arg(short, long)]
    pub follow: bool,
    #[arg(short, long, value_enum, default_value_t = FlowFormat::Compact)]
    pub output: FlowFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FlowFormat {
    /// Aligned columns with a header.
    Table,
    /// One JSON object per line (the agent's flow JSON).
    Json,
    /// Comma-separated, with a header (flows dump only).
    Csv,
    /// One short line per flow: `time src -> dst proto status bytes`.
    Compact,
}

/// Which of the matching flows to print.
#[derive(Debug, Clone, Args)]
pub struct FlowWindowArgs {
    /// Only the newest N flows.
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
    /// Only flows seen within this long (e.g. 30s, 5m, 1h).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub since: Option<std::time::Duration>,
}

/// Flow filters. Each applies to either end unless it says from/to (from:
/// the initiator, to: the responder); `--not` negates the filter flag that
/// directly follows it; filters combine with AND. `--status` takes a
/// comma-separated list (any of them), and repeating it adds to the list.
#[derive(Debug, Clone, Default, Args)]
pub struct FlowFilterArgs {
    // Each `--not` is kept (not counted) so that its position on the
    // command line tells which filter it negates.
    /// Negate the filter flag that directly follows: `--not --port 53`.
    #[arg(long, action = clap::ArgAction::Append, num_args = 0, default_missing_value = "true")]
    pub not: Vec<bool>,
    /// Either end's address.
    #[arg(long, value_name = "ADDR")]
    pub ip: Vec<String>,
    /// The initiator's address.
    #[arg(long, value_name = "ADDR")]
    pub from_ip: Vec<String>,
    /// The responder's address.
    #[arg(long, value_name = "ADDR")]
    pub to_ip: Vec<String>,
    /// Either end's port.
    #[arg(long, value_name = "PORT")]
    pub port: Vec<String>,
    /// The initiator's port.
    #[arg(long, value_name = "PORT")]
    pub from_port: Vec<String>,
    /// The responder's port.
    #[arg(long, value_name = "PORT")]
    pub to_port: Vec<String>,
    /// tcp, udp, icmp, icmpv6, sctp or a number.
    #[arg(long, value_name = "PROTO")]
    pub protocol: Vec<String>,
    /// active, closed, reset, refused, timeout (comma-separated for several).
    #[arg(long, value_name = "STATUS")]
    pub status: Vec<String>,
    /// Application protocol: http, http2, grpc, tls, dns, redis, mysql,
    /// postgresql, unknown.
    #[arg(long, value_name = "PROTO")]
    pub app_protocol: Vec<String>,
    /// Either end's pod (Kubernetes).
    #[arg(long, value_name = "NAME")]
    pub pod: Vec<String>,
    /// Either end's namespace (Kubernetes).
    #[arg(long, value_name = "NAME")]
    pub namespace: Vec<String>,
    /// Either end's workload: Deployment, StatefulSet, DaemonSet, ...
    #[arg(long, value_name = "NAME")]
    pub workload: Vec<String>,
    /// Either end's Service (Kubernetes).
    #[arg(long, value_name = "NAME")]
    pub service: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// What the rows are: flows, or peers (flows summed by the address at
    /// their far end; key f switches live).
    #[arg(long, value_enum, default_value_t = TopRows::Flows)]
    pub by: TopRows,
    /// Initial sort column (keys b, p, c change it live).
    #[arg(long, value_enum, default_value_t = TopSort::Bytes)]
    pub sort: TopSort,
    /// Refresh period.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
    #[command(flatten)]
    pub filters: FlowFilterArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopRows {
    Flows,
    Peers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopSort {
    /// Byte rate, both directions.
    Bytes,
    /// Packet rate, both directions.
    Packets,
    /// Connections (peers view) or connection age (flows view).
    Connections,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// table: aligned text; json: {"checks": [{name, status, detail, fix}], "ok": bool}.
    #[arg(short, long, value_enum, default_value_t = ReportFormat::Table)]
    pub output: ReportFormat,
    /// Where tracefs is mounted.
    #[arg(long, value_name = "PATH", default_value = "/sys/kernel/tracing")]
    pub tracefs: PathBuf,
    /// Where bpffs is mounted.
    #[arg(long, value_name = "PATH", default_value = "/sys/fs/bpf")]
    pub bpffs: PathBuf,
    /// The cgroup v2 mount.
    #[arg(long, value_name = "PATH", default_value = "/sys/fs/cgroup")]
    pub cgroup: PathBuf,
    /// The kernel's BTF.
    #[arg(long, value_name = "PATH", default_value = "/sys/kernel/btf/vmlinux")]
    pub btf: PathBuf,
    /// TCP ports netmon listens on (api.address 9091 and
    /// export.prometheus.port 9090 by default), checked for being free or
    /// held by netmon itself.
    #[arg(
        long,
        value_name = "PORT",
        value_delimiter = ',',
        default_value = "9091,9090",
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    pub ports: Vec<u16>,
}

impl DoctorArgs {
    /// Every flag at its default, as a plain `netmon-cli doctor` runs (the
    /// support bundle's doctor report).
    pub fn defaults() -> Self {
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            args: DoctorArgs,
        }
        Defaults::parse_from(["doctor"]).args
    }
}

#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Flows by protocol, status and direction; table and map fill;
    /// evictions.
    #[command(after_help = "Examples:\n  netmon-cli stats flows\n  netmon-cli stats flows -o json\n\n".to_owned() + EXIT_CODES)]
    Flows(StatsFlowsArgs),
}

#[derive(Debug, Args)]
pub struct StatsFlowsArgs {
    #[arg(short, long, value_enum, default_value_t = ReportFormat::Table)]
    pub output: ReportFormat,
}

#[derive(Debug, Subcommand)]
pub enum SupportCommand {
    /// Write config (secrets redacted), versions, status, doctor output,
    /// attached programs, a metrics snapshot and recent logs to one
    /// .tar.gz.
    #[command(after_help = "Examples:\n  netmon-cli support bundle --output netmon-support.tar.gz\n  tar tzf netmon-support.tar.gz\n\n".to_owned() + EXIT_CODES)]
    Bundle(BundleArgs),
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The archive to write.
    #[arg(long, short, value_name = "FILE.tar.gz")]
    pub output: PathBuf,
    /// How many recent log lines to include.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub log_lines: usize,
    /// The agent's Prometheus endpoint, for the metrics snapshot (default:
    /// from the agent's export.prometheus settings).
    #[arg(long, value_name = "URL")]
    pub metrics_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the configuration in force, or one setting (dotted path).
    #[command(after_help = "Examples:\n  netmon-cli config get\n  netmon-cli config get flow.flow_timeout\n  netmon-cli config get flow -o json\n\n".to_owned() + EXIT_CODES)]
    Get(ConfigGetArgs),
    /// Change settings of the running agent (not its file). Settings that
    /// need a restart are reported and not applied.
    #[command(after_help = "Examples:\n  netmon-cli config set flow.flow_timeout=60s\n  netmon-cli config set log.level=debug flow.max_flows=200000\n\n".to_owned() + EXIT_CODES)]
    Set(ConfigSetArgs),
}

#[derive(Debug, Args)]
pub struct ConfigGetArgs {
    /// A dotted setting path such as flow.flow_timeout, or a section.
    pub key: Option<String>,
    #[arg(short, long, value_enum, default_value_t = ConfigFormat::Yaml)]
    pub output: ConfigFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConfigFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct ConfigSetArgs {
    /// KEY=VALUE, values written as in NETMON_* environment variables.
    #[arg(required = true, value_name = "KEY=VALUE")]
    pub assignments: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Turn the agent's trace logging on or off (off restores log.level).
    #[command(after_help = "Examples:\n  netmon-cli debug trace on\n  netmon-cli debug trace off\n\n".to_owned() + EXIT_CODES)]
    Trace(TraceArgs),
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    #[arg(value_enum)]
    pub state: OnOff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

const FLOWS_DUMP_EXAMPLES: &str = "\
Examples:
  netmon-cli flows dump
  netmon-cli flows dump --protocol tcp --status refused,reset
  netmon-cli flows dump --from-ip 10.0.0.1 --not --to-port 53 -o csv
  netmon-cli flows dump --namespace shop --last 20 -o json

Exit status: 0 success, 1 failure (agent unreachable, request refused,
a check failed), 2 usage error (unknown flag, bad value).";

const FLOWS_OBSERVE_EXAMPLES: &str = "\
Examples:
  netmon-cli flows observe --follow
  netmon-cli flows observe --since 5m --pod checkout-7d9f
  netmon-cli flows observe -f --not --namespace kube-system -o json

Exit status: 0 success, 1 failure (agent unreachable, request refused,
a check failed), 2 usage error (unknown flag, bad value).";

const TOP_EXAMPLES: &str = "\
Keys: b bytes/s, p packets/s, c connections, f flows/peers, / filter,
Esc clear filter, q quit.

Examples:
  netmon-cli top
  netmon-cli top --by peers --sort connections
  netmon-cli top --namespace shop --interval 2s

Exit status: 0 success, 1 failure (agent unreachable, request refused,
a check failed), 2 usage error (unknown flag, bad value).";

const DOCTOR_EXAMPLES: &str = "\
Each check prints pass, warn or fail with a one-line fix. The exit status
is 0 when netmon can run here (warnings allowed), 1 when a check failed.

Examples:
  netmon-cli doctor
  netmon-cli check-system -o json
  netmon-cli doctor --tracefs /sys/kernel/debug/tracing";
