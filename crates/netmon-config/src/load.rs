//! Loading: built-in defaults < config file < environment < flags,
//! collecting every problem instead of stopping at the first.
//!
//! serde alone reports one error and stops, so the file is first read as a
//! plain YAML tree and walked against the key tree of the serialized default
//! configuration: unknown keys are found by the walk, and each given value is
//! type-checked on its own by deserializing the defaults with just that value
//! swapped in. A rejected value is reported and left at its default, so the
//! rest can still be checked, and the semantic checks then run on the result.

use std::collections::HashSet;
use std::io;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_yaml::{Mapping, Value};

use crate::check::Check;
use crate::env::EnvScheme;
use crate::error::{ConfigErrors, ConfigProblem, SourceError, SourceName};

/// A configuration model the loader can fill: its defaults give the key
/// tree, serde reads it back, and its own rules judge the result.
pub trait Model: Serialize + DeserializeOwned + Default {
    /// Every semantic problem of this configuration, in model order.
    fn checks(&self) -> Vec<Check>;
}

/// Loads a `T` from the file `config_flag` (else the `scheme.config_var`
/// entry of `env`, else none: defaults), then the `scheme`'s variables of
/// `env`, then `apply_flags`. The file is read by `read_file`, so tests need
/// no files on disk.
pub fn load_with<T: Model>(
    scheme: &EnvScheme,
    config_flag: Option<PathBuf>,
    env: impl IntoIterator<Item = (String, String)>,
    read_file: impl FnOnce(&Path) -> io::Result<String>,
    apply_flags: impl FnOnce(&mut T),
) -> Result<T, ConfigErrors> {
    let env: Vec<(String, String)> = env.into_iter().collect();
    let config_path = config_flag.or_else(|| {
        env.iter()
            .find(|(name, _)| name == scheme.config_var)
            .map(|(_, value)| PathBuf::from(value))
    });

    let mut layers = Layers::<T>::new();
    if let Some(path) = config_path {
        let source = SourceName::File(path.clone());
        match read_file(&path) {
            Ok(text) => layers.apply_document(&text, &source),
            Err(error) => layers.reject_source(SourceError::Unreadable(error), &source),
        }
    }
    layers.apply_env(scheme, env);
    layers.finish(apply_flags)
}

/// Reads and validates a YAML document on its own, without environment or
/// flags.
pub fn from_yaml_str<T: Model>(text: &str) -> Result<T, ConfigErrors> {
    let mut layers = Layers::<T>::new();
    layers.apply_document(text, &SourceName::Text);
    layers.finish(|_| {})
}

/// A setting: its path in the key tree, e.g. `["flow", "flow_timeout"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    pub path: Vec<String>,
    /// Lists are type-checked item by item, and read comma-separated from
    /// the environment.
    pub is_list: bool,
}

impl Leaf {
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }
}

/// The default configuration as a YAML tree: the shape every input is
/// checked against.
pub fn default_tree<T: Serialize + Default>() -> Value {
    serde_yaml::to_value(T::default())
        .expect("the model has only string keys and plain values, which always serialize")
}

/// Every setting of `tree`, in model order. A mapping is a section and
/// anything else a setting, so a map-typed setting would need to be handled
/// here before being added to the model.
pub fn leaves(tree: &Value) -> Vec<Leaf> {
    fn walk(node: &Value, path: &mut Vec<String>, out: &mut Vec<Leaf>) {
        match node {
            Value::Mapping(section) => {
                for (key, child) in section {
                    path.push(key.as_str().unwrap_or_default().to_owned());
                    walk(child, path, out);
                    path.pop();
                }
            }
            leaf => out.push(Leaf {
                path: path.clone(),
                is_list: leaf.is_sequence(),
            }),
        }
    }
    let mut out = Vec::new();
    walk(tree, &mut Vec::new(), &mut out);
    out
}

/// Where a value came from, which decides how its problem line is worded.
enum Origin {
    File,
    Env(String),
}

/// A value that does not have the type its setting needs.
struct Rejection {
    /// The offending list item, when the setting is a list.
    index: Option<usize>,
    value: Value,
    expected: String,
}

/// The configuration being assembled, layer by layer.
struct Layers<T> {
    defaults: Value,
    merged: Value,
    problems: Vec<ConfigProblem>,
    /// Settings (and sections) whose given value was rejected. They hold
    /// their default, so semantic checks involving them would judge a value
    /// nobody wrote and are skipped.
    rejected: HashSet<String>,
    /// A document could not be used at all; semantic checks would judge a
    /// configuration missing every one of its settings and are skipped.
    source_failed: bool,
    model: PhantomData<T>,
}

impl<T: Model> Layers<T> {
    fn new() -> Self {
        let defaults = default_tree::<T>();
        Self {
            merged: defaults.clone(),
            defaults,
            problems: Vec::new(),
            rejected: HashSet::new(),
            source_failed: false,
            model: PhantomData,
        }
    }

    fn reject_source(&mut self, error: SourceError, source: &SourceName) {
        self.problems.push(error.into_problem(source));
        self.source_failed = true;
    }

    fn apply_document(&mut self, text: &str, source: &SourceName) {
        let mut document: Value = match serde_yaml::from_str(text) {
            Ok(document) => document,
            Err(error) => return self.reject_source(SourceError::Syntax(error), source),
        };
        // Anchors and `<<` merge keys are how long YAML files avoid repetition.
        if let Err(error) = document.apply_merge() {
            return self.reject_source(SourceError::Syntax(error), source);
        }
        match document {
            // An empty file, or one with everything commented out.
            Value::Null => {}
            Value::Mapping(settings) => {
                let defaults = self.defaults.clone();
                self.apply_section(&defaults, &settings, &mut Vec::new());
            }
            other => {
                let keys = key_list(&self.defaults);
                let found = describe(&other);
                self.reject_source(SourceError::NotAMapping { keys, found }, source);
            }
        }
    }

    fn apply_section(&mut self, expected: &Value, given: &Mapping, path: &mut Vec<String>) {
        for (key, value) in given {
            let name = key.as_str().map_or_else(|| render(key), str::to_owned);
            path.push(name);
            let dotted = path.join(".");
            match key.as_str().and_then(|name| expected.get(name)) {
                None => self.problems.push(ConfigProblem::new(
                    dotted,
                    format!("unknown key (expected one of: {})", key_list(expected)),
                )),
                // `key:` with no value keeps the default, like a commented-out line.
                Some(_) if value.is_null() => {}
                Some(section @ Value::Mapping(_)) => match value {
                    Value::Mapping(children) => self.apply_section(section, children, path),
                    other => {
                        self.problems.push(ConfigProblem::new(
                            &dotted,
                            format!(
                                "invalid value {}: expected a mapping with keys: {}",
                                render(other),
                                key_list(section)
                            ),
                        ));
                        self.rejected.insert(dotted);
                    }
                },
                Some(default) => {
                    let leaf = Leaf {
                        path: path.clone(),
                        is_list: default.is_sequence(),
                    };
                    self.set(leaf, value.clone(), Origin::File);
                }
            }
            path.pop();
        }
    }

    fn apply_env(&mut self, scheme: &EnvScheme, env: impl IntoIterator<Item = (String, String)>) {
        let (found, problems) = scheme.overrides(env, &leaves(&self.defaults));
        self.problems.extend(problems);
        for setting in found {
            self.set(setting.leaf, setting.value, Origin::Env(setting.var));
        }
    }

    /// Type-checks `value` for `leaf` and takes it, or reports why not.
    fn set(&mut self, leaf: Leaf, value: Value, origin: Origin) {
        let rejections = type_check::<T>(&self.defaults, &leaf, &value);
        if rejections.is_empty() {
            set_at(&mut self.merged, &leaf.path, value);
            return;
        }
        let dotted = leaf.dotted();
        for rejection in rejections {
            let at = match rejection.index {
                Some(index) => format!("{dotted}[{index}]"),
                None => dotted.clone(),
            };
            let shown = render(&rejection.value);
            let expected = rejection.expected;
            self.problems.push(match &origin {
                Origin::File => {
                    ConfigProblem::new(at, format!("invalid value {shown}: {expected}"))
                }
                Origin::Env(var) => ConfigProblem::new(
                    format!("env {var}"),
                    format!("invalid value {shown} for {at}: {expected}"),
                ),
            });
        }
        self.rejected.insert(dotted);
    }

    fn finish(mut self, apply_flags: impl FnOnce(&mut T)) -> Result<T, ConfigErrors> {
        let mut config = match serde_yaml::from_value::<T>(self.merged) {
            Ok(config) => config,
            // Every value was type-checked before being merged, so this means
            // the checks and the model disagree; still report, never panic.
            Err(error) => {
                self.problems
                    .push(ConfigProblem::new("config", error.to_string()));
                return Err(ConfigErrors(self.problems));
            }
        };
        apply_flags(&mut config);
        if !self.source_failed {
            let rejected = &self.rejected;
            self.problems.extend(
                config
                    .checks()
                    .into_iter()
                    .filter(|check| !check.settings().any(|s| is_rejected(rejected, s)))
                    .map(|check| check.problem),
            );
        }
        if self.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(self.problems))
        }
    }
}

/// Whether `setting` (maybe with a `[index]` suffix) or a section holding it
/// had its value rejected.
fn is_rejected(rejected: &HashSet<String>, setting: &str) -> bool {
    let setting = setting.split('[').next().unwrap_or(setting);
    let mut prefix = String::new();
    setting.split('.').any(|segment| {
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(segment);
        rejected.contains(&prefix)
    })
}

/// Deserializes the defaults with `value` at `leaf`, item by item for lists
/// so that every bad item is reported rather than only the first.
fn type_check<T: DeserializeOwned>(defaults: &Value, leaf: &Leaf, value: &Value) -> Vec<Rejection> {
    // `as_item` puts a list item into a list of its own, so that an error
    // can only be about that item.
    let attempt = |item: &Value, as_item: bool| {
        let candidate = if as_item {
            Value::Sequence(vec![item.clone()])
        } else {
            item.clone()
        };
        let mut tree = defaults.clone();
        set_at(&mut tree, &leaf.path, candidate);
        serde_yaml::from_value::<T>(tree)
            .err()
            .map(|error| expectation(&error.to_string()))
    };
    let check = |item: &Value, as_item: bool| {
        let expected = attempt(item, as_item)?;
        // Enums only say "expected one of …" when handed text; for a number
        // or boolean serde_yaml names its own internals instead. The text of
        // the scalar is rejected for the same reason, so use that wording.
        let as_text = match item {
            Value::Number(_) | Value::Bool(_) => attempt(&Value::String(render(item)), as_item),
            _ => None,
        };
        Some(as_text.unwrap_or(expected))
    };
    match value {
        Value::Sequence(items) if leaf.is_list => items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| {
                check(item, true).map(|expected| Rejection {
                    index: Some(index),
                    value: item.clone(),
                    expected,
                })
            })
            .collect(),
        _ => check(value, false)
            .map(|expected| Rejection {
                index: None,
                value: value.clone(),
                expected,
            })
            .into_iter()
            .collect(),
    }
}

/// Replaces the value at `path`, which exists because it came from the
/// default tree.
fn set_at(tree: &mut Value, path: &[String], value: Value) {
    let mut node = tree;
    for segment in path {
        node = node
            .get_mut(segment.as_str())
            .expect("setting paths come from the default tree");
    }
    *node = value;
}

/// Rephrases a serde error as `expected …` in operator terms. serde's
/// messages have the stable shape `invalid type: <what>, expected <type>`
/// (or `unknown variant `x`, expected one of ...`); the part that matters is
/// the expectation, since the problem line shows the offending value itself.
fn expectation(serde_message: &str) -> String {
    let Some((_, expected)) = serde_message.rsplit_once(", expected ") else {
        return serde_message.to_owned();
    };
    let variants: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let phrase = match expected {
        _ if variants.len() > 1 => format!("one of {}", variants.join(", ")),
        _ if variants.len() == 1 => variants[0].to_owned(),
        "u8" => "an integer from 0 to 255".to_owned(),
        "u16" => "an integer from 0 to 65535".to_owned(),
        "u32" | "u64" | "usize" => "a positive integer".to_owned(),
        "a boolean" => "true or false".to_owned(),
        "a sequence" => "a list".to_owned(),
        other => other.to_owned(),
    };
    format!("expected {phrase}")
}

/// A value as it would be quoted in a problem line: strings quoted, lists
/// and mappings inline.
fn render(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => format!("{text:?}"),
        other => serde_json::to_string(other).unwrap_or_else(|_| describe(other)),
    }
}

/// What kind of YAML node `value` is, for messages about structure.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".to_owned(),
        Value::Bool(_) => "a boolean".to_owned(),
        Value::Number(_) => "a number".to_owned(),
        Value::String(_) => "a string".to_owned(),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(tagged) => format!("a value tagged {}", tagged.tag),
    }
}

/// The keys of a section, comma-separated in model order.
fn key_list(section: &Value) -> String {
    section
        .as_mapping()
        .map(|keys| {
            keys.keys()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}
