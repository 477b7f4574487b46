//! Log set-up: `tracing` to stderr, text or JSON, level from config
//! (`log.level`, `--log-level`, `--debug`) unless RUST_LOG says otherwise.
//! netlink-packet-route warns on every dump of a kernel newer than it
//! knows (longer IPv6 attribute blocks): harmless, so it logs errors only.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{LogConfig, LogFormat};

pub fn init(log: &LogConfig) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "netmon_agent={0},netmon_ebpf={0},netmon={0},warn,netlink_packet_route=error",
            log.level.as_str()
        ))
    });
    // Colours only for a person at a terminal, not in log files.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
