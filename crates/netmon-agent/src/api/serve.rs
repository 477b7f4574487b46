//! Running a router on a listener until shutdown; used for both the API and
//! the metrics listener.

use std::future::{Future, IntoFuture};
use std::time::Duration;

use axum::Router;
use thiserror::Error;
use tokio::net::TcpListener;
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
/// finish for up to [`SHUTDOWN_GRACE`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future,
) -> Result<(), ServeError> {
    serve_with_grace(listener, router, shutdown, SHUTDOWN_GRACE).await
}

/// [`serve`] with an explicit grace period. Connections still open after it
/// are abandoned: they are closed when the runtime shuts down.
pub async fn serve_with_grace(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future,
    grace: Duration,
) -> Result<(), ServeError> {
    let addr = listener
        .local_addr()
        .map_or_else(|_| "unknown address".to_owned(), |a| a.to_string());
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
}
