//! Log set-up: `tracing` to stderr, text or JSON, level from config
//! (`log.level`, `--log-level`, `--debug`) unless RUST_LOG says otherwise.
//! The filter can be replaced while the agent runs (`log.level` reloads,
//! the debug trace switch), and every line that passes it is also kept in
//! an in-memory ring for `GET /api/v1/logs`.
//! netlink-packet-route warns on every dump of a kernel newer than it
//! knows (longer IPv6 attribute blocks): harmless, so it logs errors only.

use std::sync::Arc;

use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Layer, Registry};

use crate::config::{LogConfig, LogFormat, LogLevel};
use crate::control::logs::LogRing;
use crate::control::trace::Verbosity;

/// What the running agent changes its logging through.
#[derive(Clone)]
pub struct LogHandle {
    pub verbosity: Arc<Verbosity>,
    pub ring: LogRing,
}

/// netmon's crates at `level`, everything else at warn.
pub fn level_filter(level: LogLevel) -> EnvFilter {
    EnvFilter::new(format!(
        "netmon_agent={0},netmon_ebpf={0},netmon={0},warn,netlink_packet_route=error",
        level.as_str()
    ))
}

/// Installs the agent's logging as the global subscriber.
pub fn init(log: &LogConfig) -> LogHandle {
    // Colours only for a person at a terminal, not in log files.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (subscriber, handle) = build(log, std::env::var("RUST_LOG").ok(), ansi);
    // Fails only if a subscriber is already installed, which main never does.
    if let Err(e) = subscriber.try_init() {
        eprintln!("netmon: logging was already set up: {e}");
    }
    handle
}

/// The agent's subscriber and its handle, not installed: `init` installs
/// it; tests keep it to themselves. `rust_log` is `RUST_LOG`'s value, used
/// instead of `log.level` when it is a valid filter.
pub fn build(
    log: &LogConfig,
    rust_log: Option<String>,
    ansi: bool,
) -> (impl Subscriber + Send + Sync + 'static, LogHandle) {
    let rust_log = rust_log.filter(|directives| EnvFilter::try_new(directives).is_ok());
    let start = match &rust_log {
        Some(directives) => EnvFilter::new(directives),
        None => level_filter(log.level),
    };
    let (filter, filter_handle) = reload::Layer::<EnvFilter, Registry>::new(start);
    let ring = LogRing::default();
    let stderr = fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let kept = fmt::layer().with_writer(ring.clone()).with_ansi(false);
    let outputs = match log.format {
        LogFormat::Json => vec![stderr.json().boxed(), kept.json().boxed()],
        LogFormat::Text => vec![stderr.boxed(), kept.boxed()],
    };
    let subscriber = tracing_subscriber::registry().with(filter).with(outputs);
    let handle = LogHandle {
        verbosity: Arc::new(Verbosity::new(filter_handle, log.level, rust_log)),
        ring,
    };
    (subscriber, handle)
}
