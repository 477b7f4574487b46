//! Running a router on a listener until shutdown; used for the API's TCP
//! listener and unix socket and for the metrics listener.

use std::fmt::Debug;
use std::future::{Future, IntoFuture};
use std::time::Duration;

use axum::serve::Listener;
use axum::Router;
use thiserror::Error;
use tokio::sync::oneshot;

/// How long in-flight requests may run after shutdown is requested.
/// Follow streams never finish on their own, so without a bound they would
/// hold the agent up until Kubernetes kills it.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Error)]
pub enum ServeError {
    #[error("HTTP server on {addr} failed: {source}")]
    Io {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// Serves `router` until `shutdown` completes, then lets in-flight requests
/// finish for up to [`SHUTDOWN_GRACE`]. `listener` is a
/// `tokio::net::TcpListener` or `UnixListener`.
pub async fn serve<L>(listener: L, router: Router, shutdown: impl Future) -> Result<(), ServeError>
where
    L: Listener,
    L::Addr: Debug,
{
    serve_with_grace(listener, router, shutdown, SHUTDOWN_GRACE).await
}

/// [`serve`] with an explicit grace period. Connections still open after it
/// are abandoned: they are closed when the runtime shuts down.
pub async fn serve_with_grace<L>(
    listener: L,
    router: Router,
    shutdown: impl Future,
    grace: Duration,
) -> Result<(), ServeError>
where
    L: Listener,
    L::Addr: Debug,
{
    let addr = listener
        .local_addr()
        .map_or_else(|_| "unknown address".to_owned(), |a| format!("{a:?}"));
    let io_error = |source| ServeError::Io {
        addr: addr.clone(),
        source,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(async {
            // An error means the sender was dropped: stop as well.
            let _ = stopped.await;
        })
        .into_future();
    let mut server = std::pin::pin!(server);

    tokio::select! {
        result = &mut server => return result.map_err(io_error),
        _ = shutdown => {}
    }
    // Ignoring the result: the server may have stopped on its own already.
    let _ = stop.send(());
    match tokio::time::timeout(grace, server).await {
        Ok(result) => result.map_err(io_error),
        Err(_) => {
            tracing::warn!(%addr, ?grace, "requests still running after the shutdown grace period; abandoning them");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::net::TcpListener;

    use super::*;
    use crate::api::testing::{get, open_stream, FakeSource};
    use crate::api::{api_router, Readiness};

    #[tokio::test]
    async fn serve_answers_until_shutdown_and_then_returns() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = api_router(Arc::new(FakeSource::new(Vec::new())), Readiness::new());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, async {
            let _ = stopped.await;
        }));
        assert_eq!(get(addr, "/healthz").await.status, 200);
        stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(5), server).await;
        assert!(matches!(result, Ok(Ok(Ok(())))));
    }

    #[tokio::test]
    async fn an_open_follow_stream_delays_shutdown_only_for_the_grace_period() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = api_router(Arc::new(FakeSource::new(Vec::new())), Readiness::new());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve_with_grace(
            listener,
            router,
            async {
                let _ = stopped.await;
            },
            Duration::from_millis(100),
        ));
        let _stream = open_stream(addr, "/api/v1/flows?follow=true").await;
        stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(5), server).await;
        assert!(matches!(result, Ok(Ok(Ok(())))));
    }

    #[tokio::test]
    async fn the_same_router_serves_on_a_unix_socket_until_shutdown() {
        let dir = std::env::temp_dir().join(format!("netmon-serve-test-{}", std::process::id()));
        let path = dir.join("api.sock");
        let mut socket = crate::api::ApiSocket::bind(&path).unwrap();
        let listener = socket.take_listener().unwrap();
        let router = api_router(Arc::new(FakeSource::new(Vec::new())), Readiness::new());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, async {
            let _ = stopped.await;
        }));
        let response = crate::api::testing::get_unix(&path, "/api/v1/flows").await;
        assert_eq!((response.status, response.body.as_str()), (200, "[]"));
        stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(5), server).await;
        assert!(matches!(result, Ok(Ok(Ok(())))));
        socket.remove();
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
