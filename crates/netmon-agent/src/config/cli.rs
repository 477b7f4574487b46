//! Command-line flags: the last and strongest configuration layer.
//!
//! Flags are typed by clap, so a malformed flag value is a clap usage error
//! (clap prints it and exits with status 2 itself) and never reaches the loader.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::{OsStringValueParser, TypedValueParser};
use clap::Parser;

use super::env::CONFIG_VAR;
use super::model::{Config, LogLevel};

const EXAMPLES: &str = "\
Configuration is read from built-in defaults, then the --config file, then
NETMON_* environment variables, then these flags; later sources win.

Examples:
  netmon --config /etc/netmon/netmon.yaml
  netmon --interface eth0 --interface eth1 --metrics-addr 0.0.0.0:9100
  netmon --api-socket /tmp/netmon.sock            # the API for netmon-cli --agent /tmp/netmon.sock
  NETMON_FLOW_FLOW_TIMEOUT=30s netmon --config netmon.yaml --debug
  netmon --config netmon.yaml --check-config      # print effective config, exit 0 or 2
  netmon --print-default-config > netmon.yaml

Every setting and its environment variable is listed in docs/configuration.md.";

/// netmon: eBPF network flow monitor (node agent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(name = "netmon", version, after_help = EXAMPLES)]
pub struct AgentArgs {
    /// YAML configuration file; without it the built-in defaults are used.
    #[arg(long, value_name = "PATH", env = CONFIG_VAR)]
    pub config: Option<PathBuf>,

    /// Attach only to this interface (repeatable, or comma-separated);
    /// replaces capture.interfaces.
    #[arg(long = "interface", value_name = "NAME", value_delimiter = ',')]
    pub interfaces: Vec<String>,

    /// Prometheus listener; overrides export.prometheus.address and .port.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_addr: Option<SocketAddr>,

    /// Flow API listener; overrides api.address.
    #[arg(long, value_name = "ADDR:PORT")]
    pub api_addr: Option<SocketAddr>,

    /// Unix socket serving the same API (mode 0600); overrides api.socket.
    /// An empty value turns the socket off (clap's path parser would refuse it).
    #[arg(long, value_name = "PATH", value_parser = empty_or_path())]
    pub api_socket: Option<PathBuf>,

    /// Kubeconfig for the Kubernetes API; overrides kubernetes.kubeconfig.
    /// Without either, `KUBECONFIG`, ~/.kube/config and the in-cluster
    /// service account are tried, in that order.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// This node's name; overrides kubernetes.node_name (default: NODE_NAME,
    /// then the host name).
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,

    /// Log verbosity; overrides log.level.
    #[arg(long, value_name = "LEVEL", conflicts_with = "debug")]
    pub log_level: Option<LogLevel>,

    /// Same as --log-level debug.
    #[arg(long)]
    pub debug: bool,

    /// Validate the configuration, print the effective configuration as YAML
    /// and exit: status 0 when valid, 2 with one line per problem otherwise.
    #[arg(long, conflicts_with = "print_default_config")]
    pub check_config: bool,

    /// Print the built-in default configuration as YAML and exit.
    #[arg(long)]
    pub print_default_config: bool,
}

/// A path, where the empty string is a valid value.
fn empty_or_path() -> impl TypedValueParser<Value = PathBuf> {
    OsStringValueParser::new().map(PathBuf::from)
}

impl AgentArgs {
    /// Applies the flags that were given on top of `config`.
    pub fn apply_to(&self, config: &mut Config) {
        if !self.interfaces.is_empty() {
            config.capture.interfaces = self.interfaces.clone();
        }
        if let Some(addr) = self.metrics_addr {
            config.export.prometheus.address = addr.ip();
            config.export.prometheus.port = addr.port();
        }
        if let Some(addr) = self.api_addr {
            config.api.address = addr;
        }
        if let Some(path) = &self.api_socket {
            config.api.socket = path.clone();
        }
        if let Some(path) = &self.kubeconfig {
            config.kubernetes.kubeconfig = Some(path.clone());
        }
        if let Some(name) = &self.node_name {
            config.kubernetes.node_name = name.clone();
        }
        if let Some(level) = self.log_level {
            config.log.level = level;
        }
        if self.debug {
            config.log.level = LogLevel::Debug;
        }
    }
}
