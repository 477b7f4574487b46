//! The agent's configuration: model, sources and checks.
//!
//! Settings come from built-in defaults, then a YAML file (`--config` or
//! `NETMON_CONFIG`), then `NETMON_*` environment variables, then flags; later
//! sources win. Loading reports every problem at once, one line each, and the
//! agent exits with status [`EXIT_INVALID_CONFIG`] on any of them.
//!
//! `main` needs only:
//! ```no_run
//! use clap::Parser;
//! use netmon_agent::config::{self, AgentArgs, Startup};
//!
//! let args = AgentArgs::parse();
//! match config::startup(&args, config::process_env()) {
//!     Startup::Run(_config) => { /* start the agent */ }
//!     Startup::Print(yaml) => print!("{yaml}"),
//!     Startup::Invalid(problems) => {
//!         eprintln!("{problems}");
//!         std::process::exit(config::EXIT_INVALID_CONFIG.into());
//!     }
//! }
//! ```

mod cli;
mod env;
mod load;
mod model;
mod source;
mod validate;

pub use cli::AgentArgs;
pub use env::{process_env, var_name, CONFIG_VAR};
pub use load::load;
pub use model::IpfixConfig;
pub use model::PortScanConfig;
pub use model::ProgramEntry;
pub use model::{
    ApiConfig, AttachMode, CaptureConfig, Config, ContextLabel, ExportConfig, FeaturesConfig,
    FlowConfig, FlowLabel, KubernetesConfig, KubernetesMode, LogConfig, LogFormat, LogLevel,
    NatConfig, PerformanceConfig, PrometheusConfig,
};
pub use model::{
    DetectedProtocol, DnsConfig, DropsConfig, ProtocolDetectionConfig, RetransmitsConfig,
};
pub use model::{GrpcExportConfig, GrpcTlsConfig};
pub use netmon_config::{
    ConfigErrors, ConfigProblem, SourceError, SourceName, EXIT_INVALID_CONFIG,
};
pub use source::{given_flags, key_problem, ConfigSource, Flags};

/// What the agent does after reading its configuration.
#[derive(Debug)]
pub enum Startup {
    /// Run with this configuration (boxed: it is much larger than the
    /// other variants).
    Run(Box<Config>),
    /// Print this YAML to stdout and exit 0 (`--check-config` on a valid
    /// configuration, `--print-default-config`).
    Print(String),
    /// Print these problems to stderr, one per line, and exit with
    /// [`EXIT_INVALID_CONFIG`].
    Invalid(ConfigErrors),
}

/// Decides what to do from the flags and environment; see [`Startup`].
pub fn startup(args: &AgentArgs, env: impl IntoIterator<Item = (String, String)>) -> Startup {
    if args.print_default_config {
        return Startup::Print(Config::default().to_yaml());
    }
    match load(args, env) {
        Ok(config) if args.check_config => Startup::Print(config.to_yaml()),
        Ok(config) => Startup::Run(Box::new(config)),
        Err(problems) => Startup::Invalid(problems),
    }
}

/// Every setting's dotted path and environment variable, in model order:
/// the list that `docs/configuration.md` documents.
pub fn settings() -> Vec<(String, String)> {
    load::leaves(&load::default_tree())
        .into_iter()
        .map(|leaf| (leaf.dotted(), var_name(&leaf.path)))
        .collect()
}

#[cfg(test)]
mod tests;
