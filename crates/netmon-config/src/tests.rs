//! The loader on a small model of its own, so the shared machinery is
//! tested without either binary.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Sample {
    listen: ListenSection,
    names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ListenSection {
    port: u16,
    #[serde(with = "parsed::duration_text")]
    timeout: Duration,
    mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Fast,
    Safe,
}

impl Default for Sample {
    fn default() -> Self {
        Self {
            listen: ListenSection::default(),
            names: vec!["a".to_owned()],
        }
    }
}

impl Default for ListenSection {
    fn default() -> Self {
        Self {
            port: 9000,
            timeout: Duration::from_secs(5),
            mode: Mode::Safe,
        }
    }
}

impl Model for Sample {
    fn checks(&self) -> Vec<Check> {
        let mut out = Vec::new();
        if self.listen.port == 0 && self.listen.timeout.is_zero() {
            out.push(
                Check::new("listen.port", "must not be 0 while listen.timeout is 0s")
                    .involving(&["listen.timeout"]),
            );
        }
        out
    }
}

const SCHEME: EnvScheme = EnvScheme {
    prefix: "SAMPLE_",
    config_var: "SAMPLE_CONFIG",
};

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn load_text(text: &str, vars: &[(&str, &str)]) -> Result<Sample, ConfigErrors> {
    let file = text.to_owned();
    load_with(
        &SCHEME,
        Some(PathBuf::from("sample.yaml")),
        env(vars),
        |_: &Path| Ok(file),
        |_: &mut Sample| {},
    )
}

fn lines(result: Result<Sample, ConfigErrors>) -> Vec<String> {
    match result {
        Ok(sample) => panic!("expected problems, loaded {sample:?}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn without_a_file_or_variables_the_defaults_are_loaded() {
    let sample = load_with(
        &SCHEME,
        None,
        env(&[]),
        |_: &Path| unreachable!(),
        |_: &mut Sample| {},
    );
    assert_eq!(sample, Ok(Sample::default()));
}

#[test]
fn the_environment_wins_over_the_file_and_the_flags_over_both() {
    let sample = load_with(
        &SCHEME,
        None,
        env(&[
            ("SAMPLE_CONFIG", "from-env.yaml"),
            ("SAMPLE_LISTEN_PORT", "7000"),
            ("SAMPLE_NAMES", "x, y"),
        ]),
        |path: &Path| {
            assert_eq!(path, Path::new("from-env.yaml"));
            Ok("listen:\n  port: 8000\n  timeout: 1m30s\n".to_owned())
        },
        |sample: &mut Sample| sample.listen.mode = Mode::Fast,
    )
    .expect("valid");
    assert_eq!(sample.listen.port, 7000);
    assert_eq!(sample.listen.timeout, Duration::from_secs(90));
    assert_eq!(sample.listen.mode, Mode::Fast);
    assert_eq!(sample.names, ["x", "y"]);
}

#[test]
fn every_problem_of_the_file_and_the_environment_is_reported_on_its_own_line() {
    let text =
        "listen:\n  port: 70000\n  timeout: soon\n  mode: 1\n  extra: 1\nnames: [ok, [nested]]\n";
    assert_eq!(
        lines(load_text(text, &[("SAMPLE_LISTEN_PROT", "1"), ("SAMPLE_LISTEN_MODE", "slow")])),
        [
            "listen.port: invalid value 70000: expected an integer from 0 to 65535",
            "listen.timeout: invalid value \"soon\": expected a duration such as 5s, 1m30s or 250ms",
            "listen.mode: invalid value 1: expected one of fast, safe",
            "listen.extra: unknown key (expected one of: port, timeout, mode)",
            "names[1]: invalid value [\"nested\"]: expected a string",
            "env SAMPLE_LISTEN_PROT: unknown setting (did you mean SAMPLE_LISTEN_PORT?)",
            "env SAMPLE_LISTEN_MODE: invalid value \"slow\" for listen.mode: expected one of fast, safe",
        ]
    );
}

#[test]
fn a_section_given_a_scalar_names_the_keys_it_expects() {
    assert_eq!(
        lines(load_text("listen: 5\n", &[])),
        ["listen: invalid value 5: expected a mapping with keys: port, timeout, mode"]
    );
}

#[test]
fn a_document_that_is_not_a_mapping_is_one_problem_naming_the_file() {
    assert_eq!(
        lines(load_text("- a\n", &[])),
        ["sample.yaml: expected a mapping of settings at the top level (keys: listen, names), found a list"]
    );
}

#[test]
fn an_unreadable_file_is_one_problem_naming_it() {
    let result = load_with(
        &SCHEME,
        Some(PathBuf::from("/nowhere.yaml")),
        env(&[]),
        |_: &Path| Err(io::Error::from(io::ErrorKind::NotFound)),
        |_: &mut Sample| {},
    );
    assert_eq!(
        lines(result),
        ["/nowhere.yaml: cannot read config file: entity not found"]
    );
}

#[test]
fn semantic_checks_run_on_the_result_unless_a_setting_they_involve_was_rejected() {
    assert_eq!(
        lines(from_yaml_str::<Sample>(
            "listen:\n  port: 0\n  timeout: 0s\n"
        )),
        ["listen.port: must not be 0 while listen.timeout is 0s"]
    );
    assert_eq!(
        lines(from_yaml_str::<Sample>("listen:\n  port: 0\n  timeout: never\n")),
        ["listen.timeout: invalid value \"never\": expected a duration such as 5s, 1m30s or 250ms"]
    );
}

#[test]
fn the_settings_are_the_leaves_of_the_default_tree_in_model_order() {
    let settings: Vec<(String, bool)> = leaves(&default_tree::<Sample>())
        .into_iter()
        .map(|leaf| (leaf.dotted(), leaf.is_list))
        .collect();
    assert_eq!(
        settings,
        [
            ("listen.port".to_owned(), false),
            ("listen.timeout".to_owned(), false),
            ("listen.mode".to_owned(), false),
            ("names".to_owned(), true),
        ]
    );
}
