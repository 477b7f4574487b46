//! Wiring: spool and queue, the writer thread, the sink, the gRPC and
//! metrics listeners; and the order they stop in.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clickhouse::{ClickHouseError, FlowTable};
use crate::config::Config;
use crate::grpc::{self, Collector};
use crate::metrics::{self, Metrics};
use crate::sink::Sink;
use crate::spool::{Spool, SpoolError};
use crate::store::Store;
use crate::writer::SpoolWriter;

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    ClickHouse(#[from] ClickHouseError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("{setting} {address}: {source}")]
    Bind {
        setting: &'static str,
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Grpc(String),
    #[error("starting the spool writer thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Runs the server until `shutdown` resolves. Batches accepted but not yet
/// inserted stay in the spool and are inserted after the next start.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let metrics = Metrics::new();
    let table = FlowTable::new(&config.clickhouse)?;
    grpc::server_tls(&config.grpc.tls).map_err(RunError::Grpc)?;

    let dir = config.spool.dir.clone();
    let max_bytes = config.spool.max_bytes;
    let (spool, opened) = tokio::task::spawn_blocking(move || Spool::open(&dir, max_bytes))
        .await
        .map_err(|error| RunError::Grpc(format!("opening the spool: {error}")))??;
    let replayed = opened.records.len();
    let corrupt = opened.corrupt;
    let store = Arc::new(Store::recover(
        spool,
        opened,
        config.queue.max_rows,
        Arc::clone(&metrics),
    ));
    if replayed > 0 || corrupt > 0 {
        tracing::info!(replayed, corrupt, dir = %config.spool.dir.display(), "spool replayed");
    }

    let grpc_listener = bind("grpc.address", config.grpc.address).await?;
    let metrics_listener = bind("metrics.address", config.metrics.address).await?;
    let (writer, writer_thread) =
        SpoolWriter::start(Arc::clone(&store)).map_err(RunError::Thread)?;
    let (stop, stopped) = watch::channel(false);

    let sink = tokio::spawn(
        Sink {
            store: Arc::clone(&store),
            table,
            metrics: Arc::clone(&metrics),
            max_rows: config.batching.max_rows,
            max_delay: config.batching.max_delay,
        }
        .run(stopped.clone()),
    );
    let mut metrics_stopped = stopped.clone();
    let metrics_server = tokio::spawn(metrics::serve(
        metrics_listener,
        Arc::clone(&metrics),
        async move {
            let _ = metrics_stopped.wait_for(|stop| *stop).await;
        },
    ));
    tracing::info!(
        grpc = %config.grpc.address,
        tls = config.grpc.tls.enabled(),
        mtls = config.grpc.tls.client_ca.is_some(),
        metrics = %config.metrics.address,
        clickhouse = %config.clickhouse.url,
        table = %format!("{}.{}", config.clickhouse.database, config.clickhouse.table),
        "netmon-server listening"
    );

    let collector = Collector {
        store,
        writer,
        metrics,
    };
    let served = grpc::serve(grpc_listener, &config.grpc, collector, shutdown).await;
    tracing::info!("netmon-server stopping");
    let _ = stop.send(true);
    let _ = sink.await;
    let _ = metrics_server.await;
    // The collector (and with it the last writer handle) is gone: the
    // writer thread drains what it has and ends.
    let _ = tokio::task::spawn_blocking(move || writer_thread.join()).await;
    served.map_err(RunError::Grpc)
}

async fn bind(setting: &'static str, address: SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| RunError::Bind {
            setting,
            address,
            source,
        })
}
