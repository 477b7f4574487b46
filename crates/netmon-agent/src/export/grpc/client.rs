//! The connection to netmon-server: a tonic channel over plain HTTP/2 or
//! rustls (server certificate checked against `tls.ca_file` or the system's
//! roots; a client certificate for mutual TLS), and what each answer means
//! for the batch that was sent.
//!
//! The channel connects lazily and connects again by itself after the
//! connection broke; a call made while it cannot connect fails at once
//! (or after `timeout`), and the exporter then waits its backoff before
//! the next one.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use netmon_proto::flows::v1::flow_collector_client::FlowCollectorClient;
use netmon_proto::flows::v1::{ExportRequest, ExportResponse};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status};

use super::address::ServerAddress;
use super::GrpcExportError;
use crate::config::GrpcExportConfig;

/// HTTP/2 pings on an idle connection: a server that vanished without
/// closing it (node lost) is noticed before the next batch waits for it.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// Sends one request and returns the server's answer; the real one is
/// [`GrpcClient`], tests script their own.
pub trait BatchSender: Send + 'static {
    fn send(
        &self,
        request: ExportRequest,
    ) -> impl Future<Output = Result<ExportResponse, Status>> + Send + 'static;
}

/// The tonic client of `FlowCollector`, cheap to clone (the channel is shared).
#[derive(Debug, Clone)]
pub struct GrpcClient {
    client: FlowCollectorClient<Channel>,
}

impl GrpcClient {
    /// Builds the channel; certificate and key files are read now, so a bad
    /// one stops the agent at start rather than failing every batch.
    pub fn new(settings: &GrpcExportConfig) -> Result<Self, GrpcExportError> {
        let address = ServerAddress::parse(&settings.address)?;
        let endpoint_error = |source: tonic::transport::Error| GrpcExportError::Endpoint {
            address: address.to_string(),
            why: error_chain(&source),
        };
        let mut endpoint = Endpoint::from_shared(address.url().to_owned())
            .map_err(endpoint_error)?
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(settings.timeout)
            .keep_alive_while_idle(true);
        if address.uses_tls() {
            endpoint = endpoint
                .tls_config(tls_config(settings, &address)?)
                .map_err(endpoint_error)?;
        }
        Ok(GrpcClient {
            client: FlowCollectorClient::new(endpoint.connect_lazy()),
        })
    }
}

impl BatchSender for GrpcClient {
    fn send(
        &self,
        request: ExportRequest,
    ) -> impl Future<Output = Result<ExportResponse, Status>> + Send + 'static {
        let mut client = self.client.clone();
        async move {
            client
                .export(request)
                .await
                .map(tonic::Response::into_inner)
        }
    }
}

fn tls_config(
    settings: &GrpcExportConfig,
    address: &ServerAddress,
) -> Result<ClientTlsConfig, GrpcExportError> {
    let tls = &settings.tls;
    let server_name = if tls.server_name.is_empty() {
        address.host()
    } else {
        &tls.server_name
    };
    let mut config = ClientTlsConfig::new()
        .domain_name(server_name)
        .timeout(settings.timeout);
    config = match &tls.ca_file {
        Some(path) => config.ca_certificate(Certificate::from_pem(read_pem(
            "export.grpc.tls.ca_file",
            path,
            Pem::Certificate,
        )?)),
        None => config.with_native_roots(),
    };
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        config = config.identity(Identity::from_pem(
            read_pem("export.grpc.tls.cert_file", cert, Pem::Certificate)?,
            read_pem("export.grpc.tls.key_file", key, Pem::PrivateKey)?,
        ));
    }
    Ok(config)
}

/// What a PEM file must hold.
#[derive(Debug, Clone, Copy)]
enum Pem {
    Certificate,
    PrivateKey,
}

/// Reads a PEM file, which must hold at least one block of `kind`: the PEM
/// reader skips anything else silently, so a wrong file would otherwise
/// only show as every handshake failing.
fn read_pem(setting: &'static str, path: &Path, kind: Pem) -> Result<Vec<u8>, GrpcExportError> {
    let bytes = std::fs::read(path).map_err(|source| GrpcExportError::ReadFile {
        setting,
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let (found, expected) = match kind {
        Pem::Certificate => (text.contains("-----BEGIN CERTIFICATE-----"), "CERTIFICATE"),
        Pem::PrivateKey => (
            text.lines()
                .any(|line| line.starts_with("-----BEGIN ") && line.ends_with("PRIVATE KEY-----")),
            "PRIVATE KEY",
        ),
    };
    if !found {
        return Err(GrpcExportError::NotPem {
            setting,
            path: path.to_owned(),
            expected,
        });
    }
    Ok(bytes)
}

/// tonic's transport errors say little at the top ("transport error"):
/// the causes say what went wrong.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What an answer means for the batch in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Stored (`duplicate`: it already was, by an earlier attempt).
    Acknowledged { duplicate: bool },
    /// Not stored, and it never will be (bad schema version or field).
    Refused(String),
    /// Not stored because it is larger than the server takes.
    TooLarge(String),
    /// Maybe not stored (no connection, no answer in time, the server could
    /// not queue it now): sent again, under the same id.
    Retry(String),
}

impl Answer {
    pub fn of(result: Result<ExportResponse, Status>) -> Answer {
        match result {
            Ok(response) => Answer::Acknowledged {
                duplicate: response.duplicate,
            },
            Err(status) => {
                let why = status_text(&status);
                match status.code() {
                    Code::InvalidArgument => Answer::Refused(why),
                    Code::ResourceExhausted => Answer::TooLarge(why),
                    _ => Answer::Retry(why),
                }
            }
        }
    }
}

fn status_text(status: &Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    if let Some(source) = std::error::Error::source(status) {
        text.push_str(": ");
        text.push_str(&error_chain(source));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_decide_between_done_dropped_halved_and_sent_again() {
        let ok = |duplicate| {
            Ok(ExportResponse {
                accepted: 3,
                duplicate,
            })
        };
        assert_eq!(
            Answer::of(ok(false)),
            Answer::Acknowledged { duplicate: false }
        );
        assert_eq!(
            Answer::of(ok(true)),
            Answer::Acknowledged { duplicate: true }
        );
        assert_eq!(
            Answer::of(Err(Status::invalid_argument(
                "schema_version 2 is not supported"
            ))),
            Answer::Refused("InvalidArgument: schema_version 2 is not supported".into())
        );
        assert_eq!(
            Answer::of(Err(Status::resource_exhausted("message too large"))),
            Answer::TooLarge("ResourceExhausted: message too large".into())
        );
        for status in [
            Status::unavailable("spool full"),
            Status::deadline_exceeded("late"),
            Status::cancelled("Timeout expired"),
            Status::internal("boom"),
            Status::unknown("transport error"),
        ] {
            assert!(
                matches!(Answer::of(Err(status.clone())), Answer::Retry(_)),
                "{status:?}"
            );
        }
    }

    /// The channel's worker starts on the runtime, so the test needs one.
    #[tokio::test]
    async fn a_plain_address_needs_no_tls_files_and_builds_at_once() {
        let settings = GrpcExportConfig {
            enabled: true,
            address: "http://127.0.0.1:9".into(),
            ..GrpcExportConfig::default()
        };
        assert!(GrpcClient::new(&settings).is_ok());
    }

    #[test]
    fn a_file_that_holds_no_certificate_is_refused_at_start() {
        let path = std::env::temp_dir().join(format!("netmon-not-a-ca-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let mut settings = GrpcExportConfig {
            enabled: true,
            address: "https://netmon-server:9095".into(),
            ..GrpcExportConfig::default()
        };
        settings.tls.ca_file = Some(path.clone());
        let error = GrpcClient::new(&settings).unwrap_err().to_string();
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            error,
            format!(
                "export.grpc.tls.ca_file {}: holds no PEM CERTIFICATE block",
                path.display()
            )
        );
    }

    #[test]
    fn an_unreadable_certificate_names_its_setting_and_path() {
        let mut settings = GrpcExportConfig {
            enabled: true,
            address: "https://netmon-server:9095".into(),
            ..GrpcExportConfig::default()
        };
        settings.tls.ca_file = Some("/nonexistent/ca.pem".into());
        let error = GrpcClient::new(&settings).unwrap_err();
        assert_eq!(
            error.to_string(),
            "export.grpc.tls.ca_file /nonexistent/ca.pem: No such file or directory (os error 2)"
        );
    }
}
