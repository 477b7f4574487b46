//! Configuration loading shared by the netmon agent and server.
//!
//! Settings come from the model's built-in defaults, then a YAML file, then
//! environment variables named by an [`EnvScheme`], then flags; later
//! sources win. Loading reports every problem at once, one line each naming
//! the setting. Each binary keeps its own model (a [`Model`]), flags and
//! rules, and calls [`load_with`].

mod check;
mod env;
mod error;
mod load;
pub mod parsed;

pub use check::{problems, Check};
pub use env::{EnvOverride, EnvScheme};
pub use error::{ConfigErrors, ConfigProblem, SourceError, SourceName, EXIT_INVALID_CONFIG};
pub use load::{default_tree, from_yaml_str, leaves, load_with, Leaf, Model};

#[cfg(test)]
mod tests;
