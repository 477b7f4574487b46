//! Watch streams: `200 OK` with a chunked body of one JSON event per line.
//!
//! A stream first sends what the client missed (the current objects as ADDED
//! for a watch without a resourceVersion or with "0"; the kept history after
//! N otherwise), then follows live changes. It ends at `timeoutSeconds`, on
//! `close_watches()`, or after an `ERROR` event; an outage aborts its
//! connection without the closing chunk, as a crashed server would.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

use crate::kinds::Collection;
use crate::routes::Params;
use crate::selectors::Selectors;
use crate::shared::Shared;
use crate::status::{status_object, status_response};
use crate::store::{EventType, HistoryEvent};

/// The server-side default when a client sets no timeoutSeconds: the real
/// one picks a random value in [30 min, 60 min).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

pub(crate) fn serve(
    shared: Arc<Shared>,
    collection: Collection,
    namespace: Option<String>,
    params: &Params,
) -> Response {
    let selectors = match Selectors::parse(
        params.label_selector.as_deref(),
        params.field_selector.as_deref(),
    ) {
        Ok(s) => s,
        Err(message) => return status_response(400, &message),
    };
    let timeout = match params.timeout_seconds.as_deref().map(str::parse::<u64>) {
        None => DEFAULT_TIMEOUT,
        Some(Ok(secs)) => Duration::from_secs(secs),
        Some(Err(_)) => {
            return status_response(
                400,
                "timeoutSeconds: Invalid value: must be a non-negative integer",
            )
        }
    };
    let resume_after = match params.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(text) => match text.parse::<u64>() {
            Ok(rv) => Some(rv),
            Err(_) => {
                return status_response(400, &format!("resourceVersion: Invalid value: {text:?}"))
            }
        },
    };

    let (cut_generation, close_generation) = {
        let faults = shared.faults();
        (faults.cut_generation, faults.close_generation)
    };
    let interval = shared.bookmark_interval();
    let now = Instant::now();
    let mut stream = WatchStream {
        changes: shared.subscribe(),
        _open: OpenWatch::new(shared.clone()),
        shared,
        kind: collection.kind(),
        collection,
        namespace,
        selectors,
        bookmarks: params.allow_watch_bookmarks,
        cursor: 0,
        pending: VecDeque::new(),
        done: false,
        deadline: now + timeout,
        interval,
        next_bookmark: now + interval,
        cut_generation,
        close_generation,
    };
    stream.start(resume_after, params.send_initial_events);

    let body = Body::from_stream(futures::stream::unfold(stream, WatchStream::next_chunk));
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Counts a stream in `open_watches()` for as long as hyper holds its body.
struct OpenWatch(Arc<Shared>);

impl OpenWatch {
    fn new(shared: Arc<Shared>) -> Self {
        shared.open_watches.fetch_add(1, Ordering::SeqCst);
        OpenWatch(shared)
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.open_watches.fetch_sub(1, Ordering::SeqCst);
    }
}

struct WatchStream {
    shared: Arc<Shared>,
    changes: watch::Receiver<u64>,
    _open: OpenWatch,
    collection: Collection,
    kind: String,
    namespace: Option<String>,
    selectors: Selectors,
    bookmarks: bool,
    /// Every change up to this resourceVersion has been sent (or filtered out).
    cursor: u64,
    pending: VecDeque<Bytes>,
    done: bool,
    deadline: Instant,
    interval: Duration,
    next_bookmark: Instant,
    cut_generation: u64,
    close_generation: u64,
}

impl WatchStream {
    fn start(&mut self, resume_after: Option<u64>, send_initial_events: bool) {
        let store = self.shared.store();
        match resume_after {
            Some(rv) if !send_initial_events => {
                // Checked now so that a too-old version is answered at once,
                // with the ERROR event the real server sends.
                if let Err(too_old) = store.events_after(rv) {
                    self.pending
                        .push_back(line("ERROR", &status_object(410, &too_old.message())));
                    self.done = true;
                }
                self.cursor = rv;
            }
            _ => {
                let current = store.resource_version();
                if let Ok(objects) = store.snapshot(&self.collection, current) {
                    for ((ns, _), object) in objects.iter() {
                        if self.in_namespace(ns.as_deref()) && self.selectors.matches(object) {
                            self.pending.push_back(line("ADDED", object));
                        }
                    }
                }
                self.cursor = current;
                if send_initial_events {
                    // How a streaming list tells the client its initial state
                    // is complete.
                    let end = self.bookmark(true);
                    self.pending.push_back(end);
                }
            }
        }
    }

    fn in_namespace(&self, namespace: Option<&str>) -> bool {
        self.namespace.is_none() || self.namespace.as_deref() == namespace
    }

    fn bookmark(&self, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({ "resourceVersion": self.cursor.to_string() });
        if initial_events_end {
            metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        let object = json!({
            "kind": self.kind,
            "apiVersion": self.collection.api_version(),
            "metadata": metadata,
        });
        line("BOOKMARK", &object)
    }

    /// Queues the changes after the cursor, or the 410 if they are gone.
    fn catch_up(&mut self) {
        let store = self.shared.store();
        match store.events_after(self.cursor) {
            Err(too_old) => {
                self.pending
                    .push_back(line("ERROR", &status_object(410, &too_old.message())));
                self.done = true;
            }
            Ok(events) => {
                for event in events {
                    if event.collection != self.collection
                        || !self.in_namespace(event.key.0.as_deref())
                    {
                        continue;
                    }
                    if let Some((event_type, object)) = self.filter(event) {
                        self.pending.push_back(line(event_type.as_str(), &object));
                    }
                }
                self.cursor = store.resource_version();
            }
        };
    }

    /// What a watcher with selectors sees of a change: an object that starts
    /// to match is ADDED, one that stops matching is DELETED (its previous
    /// state at the new resourceVersion), as the real watch cache does.
    fn filter(&self, event: &HistoryEvent) -> Option<(EventType, Value)> {
        if self.selectors.is_empty() {
            return Some((event.event_type, (*event.object).clone()));
        }
        match event.event_type {
            EventType::Added | EventType::Deleted => self
                .selectors
                .matches(&event.object)
                .then(|| (event.event_type, (*event.object).clone())),
            EventType::Modified => {
                let now = self.selectors.matches(&event.object);
                let before = event
                    .prev
                    .as_deref()
                    .is_some_and(|prev| self.selectors.matches(prev));
                match (before, now) {
                    (true, true) => Some((EventType::Modified, (*event.object).clone())),
                    (false, true) => Some((EventType::Added, (*event.object).clone())),
                    (true, false) => {
                        let mut gone = event.prev.as_deref().cloned()?;
                        gone["metadata"]["resourceVersion"] = event.rv.to_string().into();
                        Some((EventType::Deleted, gone))
                    }
                    (false, false) => None,
                }
            }
        }
    }

    /// The body's next chunk; `None` ends the response cleanly, an error
    /// aborts the connection.
    async fn next_chunk(mut self) -> Option<(Result<Bytes, io::Error>, Self)> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some((Ok(chunk), self));
            }
            if self.done {
                return None;
            }
            // Mark the tick seen before reading state, so a change made after
            // the reads below wakes the wait at the end of the loop.
            self.changes.borrow_and_update();
            {
                let faults = self.shared.faults();
                if faults.cut_generation != self.cut_generation {
                    drop(faults);
                    self.done = true;
                    let cut =
                        io::Error::new(io::ErrorKind::ConnectionAborted, "fake API server outage");
                    return Some((Err(cut), self));
                }
                if faults.close_generation != self.close_generation {
                    return None;
                }
            }
            let interval = self.shared.bookmark_interval();
            if interval != self.interval {
                self.interval = interval;
                self.next_bookmark = Instant::now() + interval;
            }
            self.catch_up();
            if !self.pending.is_empty() {
                continue;
            }
            tokio::select! {
                changed = self.changes.changed() => {
                    if changed.is_err() {
                        // The server is going away.
                        self.done = true;
                    }
                }
                _ = sleep_until(self.deadline) => self.done = true,
                _ = sleep_until(self.next_bookmark), if self.bookmarks => {
                    let bookmark = self.bookmark(false);
                    self.pending.push_back(bookmark);
                    self.next_bookmark = Instant::now() + self.interval;
                }
            }
        }
    }
}

fn line(event_type: &str, object: &Value) -> Bytes {
    let mut text = json!({ "type": event_type, "object": object }).to_string();
    text.push('\n');
    Bytes::from(text)
}
