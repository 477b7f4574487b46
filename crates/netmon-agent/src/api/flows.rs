//! `GET /api/v1/flows`: the current flows as a JSON array, or with
//! `follow=true` a newline-delimited JSON stream of flow events and the
//! security events the filters let through (see `security.rs`).
//!
//! The follow stream starts empty and only carries events that happen after
//! the request: a client wanting state plus changes first does a plain `GET`
//! (the current state) and then follows.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tokio::sync::broadcast::{self, error::RecvError};

use super::query::{FlowQuery, QueryError};
use super::security::{follow_carries, SecurityEventView, SecurityLine};
use super::source::{FlowEvent, FlowSource};

/// Called with the number of events a follow client missed because it read
/// slower than flows changed; the agent counts these in a metric.
pub type LagHook = Arc<dyn Fn(u64) + Send + Sync>;

pub const NDJSON: &str = "application/x-ndjson";

#[derive(Clone)]
pub(crate) struct FlowsState {
    pub(crate) source: Arc<dyn FlowSource>,
    pub(crate) on_lag: LagHook,
}

pub(crate) async fn get_flows(
    State(state): State<FlowsState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(pairs)) => FlowQuery::parse(pairs),
        Err(rejection) => Err(QueryError::Undecodable(rejection.body_text())),
    };
    match query {
        Err(error) => error_response(StatusCode::BAD_REQUEST, error.to_string()),
        Ok(query) if query.follow => follow(state, query),
        Ok(query) => list(state.source, query).await,
    }
}

/// The query of an endpoint that takes no parameters.
pub(crate) type NoParameters = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// A 400 naming the first parameter given to an endpoint that takes none,
/// so a misspelt option is not silently ignored.
pub(crate) fn reject_parameters(query: NoParameters) -> Option<Response> {
    let message = match query {
        Ok(Query(pairs)) => pairs
            .first()
            .map(|(name, _)| format!("{name}: unknown parameter (this endpoint takes none)"))?,
        Err(rejection) => QueryError::Undecodable(rejection.body_text()).to_string(),
    };
    Some(error_response(StatusCode::BAD_REQUEST, message))
}

pub(crate) fn error_response(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Snapshot, filter, sort and serialize off the async workers: with a large
/// flow table this is milliseconds of CPU that would otherwise stall other
/// requests (including probes) sharing the worker.
async fn list(source: Arc<dyn FlowSource>, query: FlowQuery) -> Response {
    blocking_json("flows", move || source.select(&query)).await
}

/// Runs `produce` on the blocking pool and answers with its JSON; `what`
/// names the body in the 500 answer should that fail.
pub(crate) async fn blocking_json<T, F>(what: &'static str, produce: F) -> Response
where
    T: Serialize,
    F: FnOnce() -> T + Send + 'static,
{
    let rendered = tokio::task::spawn_blocking(move || serde_json::to_vec(&produce())).await;
    match rendered {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Ok(Err(error)) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{what} could not be serialized: {error}"),
        ),
        Err(error) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{what} failed: {error}"),
        ),
    }
}

/// Line written when the client fell behind; `missed` events are gone.
#[derive(Serialize)]
struct LaggedLine {
    event: &'static str,
    missed: u64,
}

struct Follower {
    events: broadcast::Receiver<Arc<FlowEvent>>,
    /// Security events, from their own channel: `None` when the source
    /// finds none, or once that channel closed.
    security: Option<broadcast::Receiver<Arc<SecurityEventView>>>,
    query: FlowQuery,
    on_lag: LagHook,
}

/// What one wait on the follower's channels brought.
enum Received {
    Flow(Result<Arc<FlowEvent>, RecvError>),
    Security(Result<Arc<SecurityEventView>, RecvError>),
}

impl Follower {
    /// The next line to send, or `None` when the source has shut down.
    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            let received = match &mut self.security {
                Some(security) => tokio::select! {
                    flow = self.events.recv() => Received::Flow(flow),
                    found = security.recv() => Received::Security(found),
                },
                None => Received::Flow(self.events.recv().await),
            };
            let lagged = match received {
                Received::Flow(Ok(event)) if self.query.matches(&event.flow) => {
                    return Some(ndjson_line(&*event))
                }
                Received::Security(Ok(found)) if follow_carries(&self.query, &found) => {
                    return Some(ndjson_line(&SecurityLine::of(&found)))
                }
                Received::Flow(Ok(_)) | Received::Security(Ok(_)) => continue,
                Received::Flow(Err(RecvError::Lagged(missed)))
                | Received::Security(Err(RecvError::Lagged(missed))) => missed,
                Received::Flow(Err(RecvError::Closed)) => return None,
                Received::Security(Err(RecvError::Closed)) => {
                    self.security = None;
                    continue;
                }
            };
            (self.on_lag)(lagged);
            return Some(ndjson_line(&LaggedLine {
                event: "lagged",
                missed: lagged,
            }));
        }
    }
}

/// Subscribes before answering, so every event after the response headers
/// reach the client is on the stream. The stream (and its receiver) is
/// dropped when the client disconnects.
fn follow(state: FlowsState, query: FlowQuery) -> Response {
    let follower = Follower {
        events: state.source.subscribe(),
        security: state.source.subscribe_security(),
        query,
        on_lag: state.on_lag,
    };
    let lines = futures::stream::unfold(follower, |mut follower| async move {
        let line = follower.next_line().await?;
        Some((Ok::<_, Infallible>(line), follower))
    });
    (
        [
            (header::CONTENT_TYPE, NDJSON),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(lines),
    )
        .into_response()
}

fn ndjson_line<T: Serialize>(value: &T) -> Bytes {
    let mut line = match serde_json::to_vec(value) {
        Ok(line) => line,
        // Our event types only hold strings and numbers, so this cannot
        // happen; if it ever does, the client sees it rather than a gap.
        Err(error) => {
            tracing::error!(%error, "follow event could not be serialized");
            serde_json::json!({ "event": "error", "error": error.to_string() })
                .to_string()
                .into_bytes()
        }
    };
    line.push(b'\n');
    Bytes::from(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::source::FlowEventKind;
    use crate::api::testing::view;

    #[test]
    fn an_event_line_is_the_flow_plus_an_event_field_and_a_newline() {
        let event = FlowEvent {
            event: FlowEventKind::Closed,
            flow: view(9, "10.0.0.1", 1000, "10.0.0.2", 80),
        };
        let line = ndjson_line(&event);
        assert_eq!(line.last(), Some(&b'\n'));
        let json: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(json["event"], "closed");
        assert_eq!(json["id"], 9);
        assert_eq!(json["dst_port"], 80);
        assert!(json.get("flow").is_none());
    }

    #[test]
    fn a_lagged_line_says_how_many_events_were_missed() {
        let line = ndjson_line(&LaggedLine {
            event: "lagged",
            missed: 12,
        });
        assert_eq!(&line[..], b"{\"event\":\"lagged\",\"missed\":12}\n");
    }
}
