//! Environment variables: the layer between the file and the flags.
//!
//! Every leaf setting has exactly one variable, named the binary's prefix
//! (`NETMON_`, `NETMON_SERVER_`) + its path upper-cased with `.` turned into
//! `_`. The names are computed from the model's key tree rather than listed
//! by hand so they cannot drift from the file format, and any other variable
//! with the prefix is reported: a typo in a manifest would otherwise be
//! silently ignored.

use std::collections::BTreeMap;

use serde_yaml::Value;

use crate::error::ConfigProblem;
use crate::load::Leaf;

/// How one binary names its environment variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvScheme {
    /// Starts every variable of this binary, e.g. `NETMON_`.
    pub prefix: &'static str,
    /// Names the configuration file; read by clap for `--config`, not a
    /// setting, so it is never reported as unknown.
    pub config_var: &'static str,
}

impl EnvScheme {
    /// The environment variable that overrides the setting at `path`.
    pub fn var_name(&self, path: &[String]) -> String {
        let mut name = self.prefix.to_owned();
        name.push_str(&path.join("_").to_uppercase());
        name
    }

    /// The variables of this process that carry the prefix. Variables whose
    /// name is not UTF-8 cannot be ours; values that are not UTF-8 are kept
    /// lossily so they are reported as invalid rather than vanishing.
    pub fn process_env(&self) -> Vec<(String, String)> {
        std::env::vars_os()
            .filter_map(|(name, value)| {
                let name = name.into_string().ok()?;
                name.starts_with(self.prefix)
                    .then(|| (name, value.to_string_lossy().into_owned()))
            })
            .collect()
    }

    /// Splits the prefixed variables of `env` into overrides of `leaves` and
    /// problems for the variables that name no setting. Both come out sorted
    /// by variable name so reports do not depend on the process's variable
    /// order.
    pub fn overrides(
        &self,
        env: impl IntoIterator<Item = (String, String)>,
        leaves: &[Leaf],
    ) -> (Vec<EnvOverride>, Vec<ConfigProblem>) {
        let by_name: BTreeMap<String, &Leaf> = leaves
            .iter()
            .map(|leaf| (self.var_name(&leaf.path), leaf))
            .collect();
        let ours: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(name, _)| name.starts_with(self.prefix) && name != self.config_var)
            .collect();

        let mut found = Vec::new();
        let mut problems = Vec::new();
        for (var, raw) in ours {
            match by_name.get(&var) {
                Some(leaf) => found.push(EnvOverride {
                    value: if leaf.is_list {
                        list_value(&raw)
                    } else {
                        scalar_value(&raw)
                    },
                    leaf: (*leaf).clone(),
                    var,
                }),
                None => {
                    let message = match closest(&var, by_name.keys()) {
                        Some(known) => format!("unknown setting (did you mean {known}?)"),
                        None => "unknown setting".to_owned(),
                    };
                    problems.push(ConfigProblem::new(format!("env {var}"), message));
                }
            }
        }
        (found, problems)
    }
}

/// One environment variable that names a setting, with its value as YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvOverride {
    pub var: String,
    pub leaf: Leaf,
    pub value: Value,
}

/// Reads a scalar the way the same text would be read in the file, so
/// `9100` is a number and `true` a boolean and types are checked alike.
/// Text that YAML reads as nothing at all (empty, `~`, `null`) or cannot
/// parse is kept as the literal string, so the type check reports exactly
/// what was set instead of the setting silently keeping its default.
fn scalar_value(raw: &str) -> Value {
    match serde_yaml::from_str::<Value>(raw) {
        Ok(Value::Null) | Err(_) => Value::String(raw.to_owned()),
        Ok(value) => value,
    }
}

/// A comma-separated list; empty means an empty list. Items stay strings
/// because every list setting holds names, and an interface called `10`
/// must not turn into a number.
fn list_value(raw: &str) -> Value {
    Value::Sequence(
        raw.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| Value::String(item.to_owned()))
            .collect(),
    )
}

/// The known name nearest to `unknown`, if it is near enough to be a typo.
fn closest<'a>(unknown: &str, known: impl Iterator<Item = &'a String>) -> Option<&'a str> {
    known
        .map(|name| (edit_distance(unknown, name), name))
        .filter(|(distance, _)| *distance <= 3)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name.as_str())
}

/// Levenshtein distance; names are short, so the quadratic version is fine.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGENT: EnvScheme = EnvScheme {
        prefix: "NETMON_",
        config_var: "NETMON_CONFIG",
    };
    const SERVER: EnvScheme = EnvScheme {
        prefix: "NETMON_SERVER_",
        config_var: "NETMON_SERVER_CONFIG",
    };

    fn leaf(path: &[&str], is_list: bool) -> Leaf {
        Leaf {
            path: path.iter().map(|segment| segment.to_string()).collect(),
            is_list,
        }
    }

    #[test]
    fn a_variable_name_is_the_prefix_and_the_upper_cased_path_joined_with_underscores() {
        let path = leaf(&["export", "prometheus", "port"], false).path;
        assert_eq!(AGENT.var_name(&path), "NETMON_EXPORT_PROMETHEUS_PORT");
        assert_eq!(
            SERVER.var_name(&path),
            "NETMON_SERVER_EXPORT_PROMETHEUS_PORT"
        );
    }

    #[test]
    fn scalars_are_read_as_yaml_and_unreadable_text_stays_a_string() {
        let cases = [
            ("9100", Value::from(9100)),
            ("true", Value::Bool(true)),
            ("30s", Value::String("30s".into())),
            ("127.0.0.1:9091", Value::String("127.0.0.1:9091".into())),
            ("", Value::String(String::new())),
            ("null", Value::String("null".into())),
            ("[unclosed", Value::String("[unclosed".into())),
        ];
        for (raw, expected) in cases {
            assert_eq!(scalar_value(raw), expected, "reading {raw:?}");
        }
    }

    #[test]
    fn lists_are_comma_separated_trimmed_strings_and_empty_means_none() {
        let strings =
            |items: &[&str]| Value::Sequence(items.iter().map(|s| Value::from(*s)).collect());
        assert_eq!(list_value("eth0, eth1"), strings(&["eth0", "eth1"]));
        assert_eq!(list_value("10"), strings(&["10"]));
        assert_eq!(list_value(""), strings(&[]));
    }

    #[test]
    fn unknown_variables_are_reported_with_the_nearest_known_name() {
        let leaves = [leaf(&["flow", "max_flows"], false)];
        let env = [
            ("NETMON_FLOW_MAXFLOWS".to_owned(), "5".to_owned()),
            ("NETMON_SOMETHING_ELSE_ENTIRELY".to_owned(), "5".to_owned()),
            ("NETMON_CONFIG".to_owned(), "/etc/netmon.yaml".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ];
        let (found, problems) = AGENT.overrides(env, &leaves);
        assert!(found.is_empty());
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "env NETMON_FLOW_MAXFLOWS: unknown setting (did you mean NETMON_FLOW_MAX_FLOWS?)",
                "env NETMON_SOMETHING_ELSE_ENTIRELY: unknown setting",
            ]
        );
    }

    #[test]
    fn only_variables_with_the_schemes_prefix_are_read_and_its_config_variable_is_skipped() {
        let leaves = [leaf(&["batching", "max_rows"], false)];
        let env = [
            ("NETMON_SERVER_BATCHING_MAX_ROWS".to_owned(), "5".to_owned()),
            (
                "NETMON_SERVER_CONFIG".to_owned(),
                "/etc/netmon-server.yaml".to_owned(),
            ),
            ("NETMON_FLOW_MAX_FLOWS".to_owned(), "5".to_owned()),
        ];
        let (found, problems) = SERVER.overrides(env, &leaves);
        assert_eq!(
            found,
            [EnvOverride {
                var: "NETMON_SERVER_BATCHING_MAX_ROWS".to_owned(),
                leaf: leaves[0].clone(),
                value: Value::from(5),
            }]
        );
        assert!(problems.is_empty());
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("MAXFLOWS", "MAX_FLOWS"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
