//! The collector's address as configured (`host:port`), and its lookup.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::IpfixError;

/// `export.ipfix.collector`: a host (name, IPv4, or bracketed IPv6) and a
/// port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorAddress {
    pub host: String,
    pub port: u16,
}

impl CollectorAddress {
    /// Reads `host:port` or `[v6]:port`; the error says what is wrong in
    /// terms of the setting.
    pub fn parse(text: &str) -> Result<CollectorAddress, IpfixError> {
        let text = text.trim();
        let bad = |why: &str| IpfixError::BadCollector {
            given: text.to_owned(),
            why: why.to_owned(),
        };
        if let Ok(address) = text.parse::<SocketAddr>() {
            return Self::checked(address.ip().to_string(), address.port(), bad);
        }
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| bad("expected host:port, such as collector.example:4739"))?;
        if host.contains(':') {
            return Err(bad("an IPv6 address needs brackets: [2001:db8::1]:4739"));
        }
        if host.parse::<IpAddr>().is_err() && !is_host_name(host) {
            return Err(bad(&format!("{host:?} is not a host name or IP address")));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| bad(&format!("{port:?} is not a port from 1 to 65535")))?;
        Self::checked(host.to_owned(), port, bad)
    }

    fn checked(
        host: String,
        port: u16,
        bad: impl Fn(&str) -> IpfixError,
    ) -> Result<CollectorAddress, IpfixError> {
        if port == 0 {
            return Err(bad("port 0 is not a collector's port"));
        }
        Ok(CollectorAddress { host, port })
    }

    /// The collector's socket address: the first the resolver gives.
    pub async fn resolve(&self) -> Result<SocketAddr, IpfixError> {
        let unresolved = |why: String| IpfixError::Unresolved {
            collector: self.to_string(),
            why,
        };
        let mut addresses = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|error| unresolved(error.to_string()))?;
        addresses
            .next()
            .ok_or_else(|| unresolved("no address".to_owned()))
    }
}

impl fmt::Display for CollectorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// RFC 1123 host name: dot-separated labels of letters, digits and '-',
/// each 1 to 63 long and not starting or ending with '-'.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}
