//! Errors returned to the test code that drives the fake.

use std::io;

/// What went wrong with a call into the fake's Rust API. HTTP clients never
/// see these: they get a Kubernetes `Status` body instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("object must be a JSON object, got {0}")]
    NotAnObject(&'static str),
    #[error("object has no {0} (or it is not a non-empty string)")]
    MissingField(&'static str),
    #[error("{field} must be a string, got {found}")]
    WrongType {
        field: &'static str,
        found: &'static str,
    },
    #[error("{collection} {name:?} not found in namespace {namespace:?}")]
    NotFound {
        collection: String,
        namespace: Option<String>,
        name: String,
    },
    #[error("status code {0} is not an HTTP error (400..=599)")]
    NotAnErrorStatus(u16),
    #[error("cannot start the fake API server: {0}")]
    Start(#[source] io::Error),
    #[error("cannot write the kubeconfig: {0}")]
    WriteKubeconfig(#[source] io::Error),
}

/// The JSON type name of a value, for error messages.
pub(crate) fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
