//! Command-line flags: the last and strongest configuration layer.
//!
//! Flags are typed by clap, so a malformed flag value is a clap usage error
//! (clap prints it and exits with status 2 itself) and never reaches the loader.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use super::env::CONFIG_VAR;
use super::model::{Config, LogLevel};

const EXAMPLES: &str = "\
Configuration is read from built-in defaults, then the --config file, then
NETMON_SERVER_* environment variables, then these flags; later sources win.

Examples:
  netmon-server --config /etc/netmon/server.yaml
  netmon-server --grpc-addr 0.0.0.0:9095 --clickhouse-url http://clickhouse:8123 \\
                --spool-dir /var/lib/netmon-server/spool
  NETMON_SERVER_CLICKHOUSE_PASSWORD=... netmon-server --config server.yaml
  netmon-server --config server.yaml --check-config   # print effective config, exit 0 or 2
  netmon-server --print-default-config > server.yaml

Every setting and its environment variable is listed in docs/server.md.";

/// netmon-server: receives flow batches from netmon agents over gRPC and
/// inserts them into ClickHouse, losing and doubling none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(name = "netmon-server", version, after_help = EXAMPLES)]
pub struct ServerArgs {
    /// YAML configuration file; without it the built-in defaults are used.
    #[arg(long, value_name = "PATH", env = CONFIG_VAR)]
    pub config: Option<PathBuf>,

    /// gRPC listener; overrides grpc.address.
    #[arg(long, value_name = "ADDR:PORT")]
    pub grpc_addr: Option<SocketAddr>,

    /// Prometheus listener; overrides metrics.address.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_addr: Option<SocketAddr>,

    /// ClickHouse HTTP interface; overrides clickhouse.url.
    #[arg(long, value_name = "URL")]
    pub clickhouse_url: Option<String>,

    /// Spool directory; overrides spool.dir.
    #[arg(long, value_name = "PATH")]
    pub spool_dir: Option<PathBuf>,

    /// Log verbosity; overrides log.level.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<LogLevel>,

    /// Validate the configuration, print the effective configuration as YAML
    /// (secrets redacted) and exit: status 0 when valid, 2 with one line per
    /// problem otherwise.
    #[arg(long, conflicts_with = "print_default_config")]
    pub check_config: bool,

    /// Print the built-in default configuration as YAML and exit.
    #[arg(long)]
    pub print_default_config: bool,
}

impl ServerArgs {
    /// Applies the flags that were given on top of `config`.
    pub fn apply_to(&self, config: &mut Config) {
        if let Some(addr) = self.grpc_addr {
            config.grpc.address = addr;
        }
        if let Some(addr) = self.metrics_addr {
            config.metrics.address = addr;
        }
        if let Some(url) = &self.clickhouse_url {
            config.clickhouse.url = url.clone();
        }
        if let Some(dir) = &self.spool_dir {
            config.spool.dir = dir.clone();
        }
        if let Some(level) = self.log_level {
            config.log.level = level;
        }
    }
}
