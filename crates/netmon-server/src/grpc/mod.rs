//! The gRPC listener agents export to.
//!
//! Malformed input never reaches the service as a crash: bytes that are not
//! HTTP/2 end that connection, a message that does not decode is answered
//! by tonic (`INTERNAL`, "failed to decode"), one larger than
//! `grpc.max_message_bytes` gets `RESOURCE_EXHAUSTED` (see
//! [`oversized_is_resource_exhausted`]), and the service answers field
//! errors with `INVALID_ARGUMENT`.

mod service;
mod tls;

use std::future::Future;

use netmon_proto::flows::v1::flow_collector_server::FlowCollectorServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::codegen::http;
use tonic::transport::Server;
use tower::util::MapResponseLayer;

pub use service::Collector;
pub use tls::server_tls;

use crate::config::GrpcConfig;

/// Serves `collector` on `listener` until `shutdown` resolves, then lets
/// requests under way finish.
pub async fn serve(
    listener: TcpListener,
    config: &GrpcConfig,
    collector: Collector,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let builder = match server_tls(&config.tls)? {
        Some(tls) => Server::builder()
            .tls_config(tls)
            .map_err(|error| format!("grpc.tls: {error}"))?,
        None => Server::builder(),
    };
    let mut server = builder.layer(MapResponseLayer::new(oversized_is_resource_exhausted));
    let service =
        FlowCollectorServer::new(collector).max_decoding_message_size(config.max_message_bytes);
    server
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
        .map_err(|error| format!("gRPC server: {error}"))
}

/// tonic answers a message over the decoding limit with `OUT_OF_RANGE`;
/// gRPC's own servers (and its spec) say `RESOURCE_EXHAUSTED`, which is what
/// agents act on. The service itself never answers `OUT_OF_RANGE`, so the
/// status is rewritten wherever tonic put it (a trailers-only answer
/// carries it in the headers).
fn oversized_is_resource_exhausted<B>(mut response: http::Response<B>) -> http::Response<B> {
    const STATUS: &str = "grpc-status";
    let out_of_range = (tonic::Code::OutOfRange as i32).to_string();
    let headers = response.headers_mut();
    if headers
        .get(STATUS)
        .is_some_and(|value| value.as_bytes() == out_of_range.as_bytes())
    {
        headers.insert(
            STATUS,
            http::HeaderValue::from(tonic::Code::ResourceExhausted as i32),
        );
    }
    response
}
