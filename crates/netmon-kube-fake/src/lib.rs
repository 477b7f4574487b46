//! An in-process fake Kubernetes API server that speaks the real list/watch
//! protocol, for tests on machines where no API server can run.
//!
//! Real clients (kube-rs `watcher` + reflectors, `kubectl get`) talk to it
//! over plain HTTP with the kubeconfig from [`FakeApiServer::kubeconfig_yaml`];
//! the test changes objects with [`FakeApiServer::apply`] and
//! [`FakeApiServer::delete`] and breaks the server on purpose with the fault
//! methods.
//!
//! # Faithful to the real API server
//! - One global, monotonically increasing resourceVersion for all objects
//!   (etcd's revision); every apply and delete takes the next one. Stored
//!   objects get `metadata.resourceVersion`, and `uid`/`creationTimestamp`
//!   when absent (kept across updates).
//! - Generic routing: `/api/v1[/namespaces/{ns}]/{resource}[/{name}]` and
//!   `/apis/{group}/{version}[/namespaces/{ns}]/{resource}[/{name}]` for any
//!   resource name; the collection of an applied object comes from its
//!   `apiVersion` and `kind` (see [`resource_for_kind`]).
//! - Lists: `{Kind}List` with `metadata.resourceVersion`, in etcd key order,
//!   paginated by `limit`/`continue` (with `remainingItemCount`). Every page
//!   of one list is cut from the snapshot at the first page's
//!   resourceVersion, even when objects change between pages; a token whose
//!   snapshot was compacted away gets the real 410. `resourceVersion` +
//!   `resourceVersionMatch=Exact` lists a past state; a resourceVersion newer
//!   than the server's gets 504 "Too large resource version".
//! - Watches: newline-delimited `ADDED`/`MODIFIED`/`DELETED` events in a
//!   chunked `200` body. Without a resourceVersion or with "0" the stream
//!   starts with the current objects as `ADDED`; with N it replays the kept
//!   history after N, then follows live changes. N older than the history
//!   (after [`FakeApiServer::compact`]) gets the real `ERROR` event
//!   (`410 Expired`, "too old resource version: N (M)") and the stream ends.
//!   `BOOKMARK`s at [`FakeApiServer::set_bookmark_interval`] (one minute by
//!   default, like the real server) when `allowWatchBookmarks=true`;
//!   `sendInitialEvents=true` ends the initial `ADDED`s with the
//!   `k8s.io/initial-events-end` bookmark (streaming lists). The stream ends
//!   after `timeoutSeconds`. A `DELETED` event carries the last state with
//!   the delete's resourceVersion.
//! - Selectors: `labelSelector` and `fieldSelector` with comma-separated
//!   `key=value`, `key==value`, `key!=value` terms (labels also `key` and
//!   `!key`); anything else (set-based `in`/`notin`) is answered with
//!   `400 BadRequest` and a `Status`, never ignored. Watches with selectors
//!   turn changes into and out of the selection into `ADDED`/`DELETED`.
//! - Errors are `Status` objects with the real `reason` for the code
//!   (`ServiceUnavailable`, `TooManyRequests`, `Expired`, `NotFound`, ...).
//!
//! # Not faithful
//! - Read-only over HTTP: `POST`/`PUT`/`PATCH`/`DELETE` get `405`. Objects
//!   change only through this crate's API; there is no validation, defaulting,
//!   admission, generation, finalizers or graceful deletion, and no
//!   subresources (`/status`, `/log`, `/scale`).
//! - Every apply bumps the resourceVersion and sends `MODIFIED`, even when
//!   nothing changed (the real server drops no-op updates).
//! - Every resource exists: a list of a resource that never held an object
//!   is an empty list, not a 404. Namespaced and cluster-scoped resources are
//!   not told apart: the namespace of an applied object is taken as given.
//! - `resourceVersion=0` lists are served from the latest state and honour
//!   `limit` (the real watch cache may serve older data and used to ignore
//!   `limit` there).
//! - Field selectors accept any dotted path, where the real server allows a
//!   few fields per kind.
//! - History is kept until `compact()` (no automatic compaction, no 5 minute
//!   etcd window); a watcher never falls behind, so no watch is closed for
//!   being slow.
//! - No deprecated `/api/v1/watch/...` paths, and a single object is not
//!   watched by its own URL (400); watching the collection with
//!   `fieldSelector=metadata.name=NAME`, as kube-rs does, works.
//! - Only JSON (no protobuf, no `as=Table`), no authentication or
//!   authorization, HTTP/1.1 only (no TLS, no HTTP/2), no `Retry-After`
//!   header on 429/503, minimal discovery (verbs get, list, watch).
//!
//! # Note for client code under test
//! kube-rs 5's client retries `429`, `503` and `504` answers on its own (up to
//! 15 times with exponential backoff from 5 ms) unless
//! `Config::default_retry` is false. With the default client an outage or
//! `fail_next(n, 503)` therefore shows up as slow requests, not as watcher
//! errors; turn the retry off to see the errors.

mod discovery;
mod error;
mod faults;
mod kinds;
mod list;
mod meta;
mod requests;
mod routes;
mod selectors;
mod shared;
mod status;
mod store;
mod watch;

use std::future::IntoFuture;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

pub use error::Error;
pub use kinds::{kind_for_resource, resource_for_kind};
pub use requests::RequestRecord;

use kinds::Collection;
use shared::Shared;

/// A running fake API server. It serves on its own thread with its own tokio
/// runtime, so it works the same from plain `#[test]` functions and from
/// async tests; dropping it stops the server and closes every connection.
pub struct FakeApiServer {
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeApiServer {
    /// Serves on an already bound listener (tests bind it inside the network
    /// namespace they need, so the server never binds itself).
    ///
    /// # Panics
    /// If the server cannot be started; see [`FakeApiServer::try_start`].
    pub fn start(listener: TcpListener) -> FakeApiServer {
        match Self::try_start(listener) {
            Ok(server) => server,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`FakeApiServer::start`], returning an error if the listener has
    /// no address, or the runtime or thread cannot be created.
    pub fn try_start(listener: TcpListener) -> Result<FakeApiServer, Error> {
        let address = listener.local_addr().map_err(Error::Start)?;
        listener.set_nonblocking(true).map_err(Error::Start)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Start)?;
        // Registering the socket needs the runtime's reactor, entered here so
        // that a failure is returned instead of panicking on the server thread.
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(Error::Start)?
        };
        let shared = Arc::new(Shared::new(address));
        let router = routes::router(shared.clone());
        let (shutdown, stop) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("kube-fake-{}", address.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = axum::serve(listener, router).into_future() => {}
                        _ = stop => {}
                    }
                });
                // Drops the connection tasks, open watch streams included.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(Error::Start)?;
        Ok(FakeApiServer {
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.shared.address
    }

    /// `http://ADDRESS`, the cluster server URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.address)
    }

    /// A kubeconfig with one cluster (`server: http://ADDRESS`), one user
    /// without credentials and a current context using them, namespace
    /// `default`.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: netmon-fake
  cluster:
    server: {url}
users:
- name: netmon-fake
  user: {{}}
contexts:
- name: netmon-fake
  context:
    cluster: netmon-fake
    user: netmon-fake
    namespace: default
current-context: netmon-fake
preferences: {{}}
",
            url = self.url()
        )
    }

    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        std::fs::write(path, self.kubeconfig_yaml()).map_err(Error::WriteKubeconfig)
    }

    /// Creates the object, or replaces the one with the same apiVersion,
    /// kind, namespace and name: watchers get `ADDED` or `MODIFIED`. Returns
    /// the object as stored (with resourceVersion, uid, creationTimestamp).
    pub fn apply(&self, object: Value) -> Result<Value, Error> {
        let stored = self.shared.store().apply(object)?;
        self.shared.notify();
        Ok(stored)
    }

    /// Deletes an object: watchers get `DELETED` with its last state at a new
    /// resourceVersion, which is also returned.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, Error> {
        let collection = Collection::for_kind(api_version, kind);
        let key = (
            namespace.filter(|ns| !ns.is_empty()).map(str::to_owned),
            name.to_owned(),
        );
        let deleted = self.shared.store().delete(collection, key)?;
        self.shared.notify();
        Ok(deleted)
    }

    /// The stored object, if any.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let collection = Collection::for_kind(api_version, kind);
        let key = (
            namespace.filter(|ns| !ns.is_empty()).map(str::to_owned),
            name.to_owned(),
        );
        let object = self.shared.store().get(&collection, &key)?;
        Some((*object).clone())
    }

    /// The latest resourceVersion (0 before the first change).
    pub fn resource_version(&self) -> u64 {
        self.shared.store().resource_version()
    }

    /// Forgets the change history, as an etcd compaction does: watches from,
    /// and continue tokens of lists at, an older resourceVersion get 410.
    /// Open streams are not affected.
    pub fn compact(&self) {
        self.shared.store().compact();
        self.shared.notify();
    }

    /// While down, every request gets `503 ServiceUnavailable`; going down
    /// also aborts every open watch connection.
    pub fn set_outage(&self, down: bool) {
        self.shared.faults().set_outage(down);
        self.shared.notify();
    }

    /// The next `n` requests (of any kind) get `status_code` with a `Status`
    /// body. Replaces an earlier `fail_next` that has not run out.
    pub fn fail_next(&self, n: u32, status_code: u16) -> Result<(), Error> {
        if !(400..=599).contains(&status_code) {
            return Err(Error::NotAnErrorStatus(status_code));
        }
        self.shared.faults().fail_next(n, status_code);
        Ok(())
    }

    /// Delays every answer (a watch: its headers) by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.faults().latency = latency;
    }

    /// How often open watches that allow bookmarks get one.
    pub fn set_bookmark_interval(&self, interval: Duration) {
        self.shared.set_bookmark_interval(interval);
    }

    /// Ends every open watch stream cleanly, as the server does at a watch's
    /// timeout; clients resume from their last resourceVersion.
    pub fn close_watches(&self) {
        self.shared.faults().close_generation += 1;
        self.shared.notify();
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests().clone()
    }

    pub fn clear_requests(&self) {
        self.shared.requests().clear();
    }

    /// List requests (pages) for `resource` (e.g. `"pods"`), in any
    /// namespace, including ones answered with an injected fault.
    pub fn list_count(&self, resource: &str) -> usize {
        self.count(resource, RequestRecord::is_list)
    }

    /// Watch requests for `resource`, including ones answered with a fault.
    pub fn watch_count(&self, resource: &str) -> usize {
        self.count(resource, RequestRecord::is_watch)
    }

    fn count(&self, resource: &str, kind: fn(&RequestRecord) -> bool) -> usize {
        self.shared
            .requests()
            .iter()
            .filter(|r| kind(r) && r.resource().as_deref() == Some(resource))
            .count()
    }

    /// Watch streams being served now. A stream the client dropped counts
    /// until the server notices, at its next write.
    pub fn open_watches(&self) -> usize {
        self.shared.open_watches.load(Ordering::SeqCst)
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
