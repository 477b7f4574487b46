//! Loading: built-in defaults < config file < `NETMON_SERVER_*` environment < flags,
//! collecting every problem instead of stopping at the first. The layering
//! and the checks of every value are [`netmon_config::load_with`]'s; this
//! names the file, the variables and the flags.

use std::io;
use std::path::Path;

use serde_yaml::Value;

use super::cli::ServerArgs;
use super::env::SCHEME;
use super::model::Config;
use netmon_config::ConfigErrors;

pub(crate) use netmon_config::leaves;

/// Loads the configuration for `args`, reading `NETMON_SERVER_*` settings from `env`
/// (normally [`super::process_env`]). The file is `args.config`, else the
/// `NETMON_SERVER_CONFIG` entry of `env`, else there is none and defaults are used.
pub fn load(
    args: &ServerArgs,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigErrors> {
    load_with(args, env, |path| std::fs::read_to_string(path))
}

/// [`load`] with the file read by `read_file`, so tests need no files on disk.
pub(crate) fn load_with(
    args: &ServerArgs,
    env: impl IntoIterator<Item = (String, String)>,
    read_file: impl FnOnce(&Path) -> io::Result<String>,
) -> Result<Config, ConfigErrors> {
    netmon_config::load_with(&SCHEME, args.config.clone(), env, read_file, |config| {
        args.apply_to(config)
    })
}

impl Config {
    /// Reads and validates a YAML document on its own, without environment
    /// or flags: for tests.
    pub fn from_yaml_str(text: &str) -> Result<Config, ConfigErrors> {
        netmon_config::from_yaml_str(text)
    }
}

/// The default configuration as a YAML tree: the shape every input is
/// checked against.
pub(crate) fn default_tree() -> Value {
    netmon_config::default_tree::<Config>()
}
