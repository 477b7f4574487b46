//! How configuration problems are reported.
//!
//! Loading never stops at the first problem: every problem found in the file,
//! the environment and the final values is collected so an operator can fix
//! them all in one edit, and each is printed on its own line naming where it is.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// Exit status of a netmon binary (and of its `--check-config`) on configuration problems.
pub const EXIT_INVALID_CONFIG: u8 = 2;

/// One problem with the configuration, printed as `path: message`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{path}: {message}")]
pub struct ConfigProblem {
    /// Where the problem is: a setting path such as `flow.max_flows` or
    /// `capture.interfaces[2]`, `env NETMON_…` for an environment variable,
    /// or the file name for a file that could not be read or parsed.
    pub path: String,
    /// What is wrong, and when it helps, what was expected.
    pub message: String,
}

impl ConfigProblem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Every problem found while loading; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", Lines(.0))]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl ConfigErrors {
    /// The problems' paths in report order, which is what tests usually compare.
    pub fn paths(&self) -> Vec<&str> {
        self.0.iter().map(|problem| problem.path.as_str()).collect()
    }
}

/// Formats problems one per line, without a trailing newline so callers can
/// `eprintln!` the whole report.
struct Lines<'a>(&'a [ConfigProblem]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Why a configuration document could not be used at all. Each becomes a
/// single problem naming the file, since nothing inside it can be trusted.
#[derive(Debug, Error)]
pub enum SourceError {
    #[error("cannot read config file: {0}")]
    Unreadable(#[source] std::io::Error),
    #[error("invalid YAML: {0}")]
    Syntax(#[source] serde_yaml::Error),
    #[error("expected a mapping of settings at the top level (keys: {keys}), found {found}")]
    NotAMapping { keys: String, found: String },
}

impl SourceError {
    /// The single problem line for this error in the document called `source`.
    pub fn into_problem(self, source: &SourceName) -> ConfigProblem {
        ConfigProblem::new(source.to_string(), self.to_string())
    }
}

/// What a YAML document is called in problem lines.
#[derive(Debug, Clone)]
pub enum SourceName {
    /// A file given with `--config` or the config-file environment variable.
    File(PathBuf),
    /// Text handed to [`crate::from_yaml_str`].
    Text,
}

impl fmt::Display for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceName::File(path) => write!(f, "{}", path.display()),
            SourceName::Text => f.write_str("config"),
        }
    }
}
