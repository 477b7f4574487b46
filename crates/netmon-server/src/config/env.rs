//! `NETMON_SERVER_*` environment variables: the layer between the file and the flags.
//!
//! Every leaf setting has exactly one variable, named `NETMON_SERVER_` + its path
//! upper-cased with `.` turned into `_`; any other `NETMON_SERVER_*` variable is
//! reported, since a typo in a Deployment manifest would otherwise be silently
//! ignored. The naming and reading are [`netmon_config::EnvScheme`]'s.

use netmon_config::EnvScheme;

/// Names the configuration file; read by clap for `--config`, not a setting.
pub const CONFIG_VAR: &str = "NETMON_SERVER_CONFIG";

pub(crate) const SCHEME: EnvScheme = EnvScheme {
    prefix: "NETMON_SERVER_",
    config_var: CONFIG_VAR,
};

/// The environment variable that overrides the setting at `path`.
pub fn var_name(path: &[String]) -> String {
    SCHEME.var_name(path)
}

/// The `NETMON_SERVER_*` variables of this process.
pub fn process_env() -> Vec<(String, String)> {
    SCHEME.process_env()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_name_is_the_upper_cased_path_joined_with_underscores() {
        let path: Vec<String> = ["batching", "max_rows"].map(String::from).to_vec();
        assert_eq!(var_name(&path), "NETMON_SERVER_BATCHING_MAX_ROWS");
    }
}
