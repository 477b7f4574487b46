//! The endpoints of [`Control`]:
//! - `GET /api/v1/config` (`?key=` for one setting or section),
//!   `PUT /api/v1/config` (`{"set": {"flow.flow_timeout": "60s"}}`);
//! - `GET`/`POST /api/v1/debug/trace` (`{"enabled": true}`);
//! - `GET /api/v1/logs?lines=N`;
//! - `GET /debug/config`: where the configuration came from, and reloads.
//!
//! Secrets are redacted everywhere a configuration is shown. Errors are
//! `{"error": "<one line naming the parameter or setting>"}`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::diff::{at, tree};
use super::logs::LOG_RING_LINES;
use super::redact::redact;
use super::{Control, SetError};
use crate::config::key_problem;

/// Lines `GET /api/v1/logs` returns without `lines=`.
const DEFAULT_LOG_LINES: usize = 200;

pub(super) fn router(control: Control) -> Router {
    Router::new()
        .route("/api/v1/config", get(get_config).put(put_config))
        .route("/api/v1/debug/trace", get(get_trace).post(post_trace))
        .route("/api/v1/logs", get(get_logs))
        .route("/debug/config", get(get_debug_config))
        .with_state(control)
}

type Params = Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The query's parameters, each known at most once; else the one-line
/// reason for a 400.
fn params(query: Params, known: &[&str]) -> Result<BTreeMap<String, String>, String> {
    let Query(pairs) =
        query.map_err(|rejection| format!("query string could not be decoded: {rejection}"))?;
    let mut found = BTreeMap::new();
    for (name, value) in pairs {
        if !known.contains(&name.as_str()) {
            let known = if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            return Err(format!("{name}: unknown parameter (known: {known})"));
        }
        if found.insert(name.clone(), value).is_some() {
            return Err(format!("{name}: given more than once; give it once"));
        }
    }
    Ok(found)
}

fn bad_request(message: String) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

/// The configuration in force, redacted.
fn shown_config(control: &Control) -> Value {
    redact(&tree(&control.in_force()))
}

async fn get_config(State(control): State<Control>, query: Params) -> Response {
    let params = match params(query, &["key"]) {
        Ok(params) => params,
        Err(message) => return bad_request(message),
    };
    let config = shown_config(&control);
    let Some(key) = params.get("key") else {
        let path = control.path().map(|p| p.display().to_string());
        return Json(json!({
            "path": path,
            "config": config,
            "restart_required": control.restart_required(),
        }))
        .into_response();
    };
    if key.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "key: needs a setting or section name, such as flow.flow_timeout",
        );
    }
    match at(&config, key) {
        Some(value) => Json(json!({ "key": key, "value": value })).into_response(),
        None => {
            let message = key_problem(key)
                .map(|problem| problem.to_string())
                .unwrap_or_else(|| format!("{key}: unknown setting"));
            error(StatusCode::NOT_FOUND, message)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody {
    set: BTreeMap<String, Value>,
}

const SET_BODY: &str = r#"{"set": {"flow.flow_timeout": "60s", ...}}"#;

async fn put_config(State(control): State<Control>, query: Params, body: Bytes) -> Response {
    if let Err(message) = params(query, &[]) {
        return bad_request(message);
    }
    let body: SetBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("body: expected {SET_BODY} ({e})"),
            )
        }
    };
    if body.set.is_empty() {
        return error(StatusCode::BAD_REQUEST, "set: names no setting");
    }
    let mut settings = Vec::new();
    for (key, value) in body.set {
        // Values are text, as in the environment; a JSON number or
        // boolean is the same text written without quotes.
        let text = match value {
            Value::String(text) => text,
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            other => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("{key}: the value must be a string such as \"60s\" or \"eth0,eth1\", not {other}"),
                )
            }
        };
        settings.push((key, text));
    }
    // Checking a configuration deserializes it once per setting.
    let result = tokio::task::spawn_blocking(move || control.set(&settings)).await;
    match result {
        Ok(Ok(outcome)) => Json(outcome).into_response(),
        Ok(Err(set_error)) => {
            let status = match set_error {
                SetError::Invalid(_) => StatusCode::BAD_REQUEST,
                SetError::GivenByFlag(_) => StatusCode::CONFLICT,
            };
            let problems: Vec<String> = set_error
                .problems()
                .iter()
                .map(ToString::to_string)
                .collect();
            let first = problems.first().cloned().unwrap_or_default();
            (
                status,
                Json(json!({ "error": first, "problems": problems })),
            )
                .into_response()
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("config set failed: {e}"),
        ),
    }
}

async fn get_trace(State(control): State<Control>, query: Params) -> Response {
    if let Err(message) = params(query, &[]) {
        return bad_request(message);
    }
    Json(control.verbosity().state()).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TraceBody {
    enabled: bool,
}

async fn post_trace(State(control): State<Control>, query: Params, body: Bytes) -> Response {
    if let Err(message) = params(query, &[]) {
        return bad_request(message);
    }
    let body: TraceBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("body: expected {{\"enabled\": true}} or {{\"enabled\": false}} ({e})"),
            )
        }
    };
    match control.verbosity().set_trace(body.enabled) {
        Ok(state) => {
            tracing::info!(enabled = state.enabled, log_level = %state.log_level, "debug trace switched");
            Json(state).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn get_logs(State(control): State<Control>, query: Params) -> Response {
    let params = match params(query, &["lines"]) {
        Ok(params) => params,
        Err(message) => return bad_request(message),
    };
    let lines = match params.get("lines") {
        None => DEFAULT_LOG_LINES,
        Some(text) => match text.parse::<usize>() {
            Ok(lines) if lines <= LOG_RING_LINES => lines,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("lines: {text:?} is not a number of lines from 0 to {LOG_RING_LINES}"),
                )
            }
        },
    };
    Json(json!({ "lines": control.log_ring().last(lines) })).into_response()
}

async fn get_debug_config(State(control): State<Control>, query: Params) -> Response {
    if let Err(message) = params(query, &[]) {
        return bad_request(message);
    }
    let path = control.path().map(|p| p.display().to_string());
    Json(json!({
        "path": path,
        "sources": {
            "file": path,
            "env": control.source().env_names(),
            "flags": control.flags(),
        },
        "config": shown_config(&control),
        "reloads": control.reloads(),
    }))
    .into_response()
}
