//! The server's configuration: model, sources and checks, in the agent's
//! style.
//!
//! Settings come from built-in defaults, then a YAML file (`--config` or
//! `NETMON_SERVER_CONFIG`), then `NETMON_SERVER_*` environment variables,
//! then flags; later sources win. Loading reports every problem at once, one
//! line each naming the setting, and the server exits with status
//! [`EXIT_INVALID_CONFIG`] on any of them.

mod cli;
mod env;
mod load;
mod model;
mod validate;

pub use cli::ServerArgs;
pub use env::{process_env, var_name, CONFIG_VAR};
pub use load::load;
pub use model::{
    BatchingConfig, ClickHouseConfig, Config, GrpcConfig, LogConfig, LogFormat, LogLevel,
    MetricsConfig, QueueConfig, Secret, SpoolConfig, TlsConfig, REDACTED,
};
pub use netmon_config::{
    ConfigErrors, ConfigProblem, SourceError, SourceName, EXIT_INVALID_CONFIG,
};

/// What the server does after reading its configuration.
#[derive(Debug)]
pub enum Startup {
    /// Run with this configuration.
    Run(Box<Config>),
    /// Print this YAML to stdout and exit 0 (`--check-config` on a valid
    /// configuration, `--print-default-config`).
    Print(String),
    /// Print these problems to stderr, one per line, and exit with
    /// [`EXIT_INVALID_CONFIG`].
    Invalid(ConfigErrors),
}

/// Decides what to do from the flags and environment; see [`Startup`].
pub fn startup(args: &ServerArgs, env: impl IntoIterator<Item = (String, String)>) -> Startup {
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
/// the list that `docs/server.md` documents.
pub fn settings() -> Vec<(String, String)> {
    load::leaves(&load::default_tree())
        .into_iter()
        .map(|leaf| (leaf.dotted(), var_name(&leaf.path)))
        .collect()
}

#[cfg(test)]
mod tests;
