//! TLS for the gRPC listener (rustls through tonic): a server certificate,
//! and with `client_ca` the requirement that clients present one too.

use std::path::Path;

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::config::TlsConfig;

/// The listener's TLS settings, or `None` for plaintext. The error names
/// the setting whose file could not be read.
pub fn server_tls(config: &TlsConfig) -> Result<Option<ServerTlsConfig>, String> {
    let (Some(cert), Some(key)) = (&config.cert, &config.key) else {
        return Ok(None);
    };
    let identity = Identity::from_pem(read("grpc.tls.cert", cert)?, read("grpc.tls.key", key)?);
    let mut tls = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &config.client_ca {
        tls = tls.client_ca_root(Certificate::from_pem(read("grpc.tls.client_ca", ca)?));
    }
    Ok(Some(tls))
}

fn read(setting: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path)
        .map_err(|error| format!("{setting}: cannot read {}: {error}", path.display()))
}
