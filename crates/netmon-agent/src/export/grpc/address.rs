//! `export.grpc.address`: the server's URL, checked when the configuration
//! is validated so that a typo is a start-up error, not a retry loop.

use std::fmt;

use super::GrpcExportError;

/// A parsed `http://host[:port]` or `https://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// The text as given (without a trailing `/`), which tonic connects to.
    url: String,
    tls: bool,
    /// Host name or address, without the brackets of an IPv6 literal: the
    /// name the server's certificate must carry unless
    /// `export.grpc.tls.server_name` says otherwise.
    host: String,
}

impl ServerAddress {
    pub fn parse(text: &str) -> Result<ServerAddress, GrpcExportError> {
        let invalid = |why: &str| GrpcExportError::Address {
            address: text.to_owned(),
            why: why.to_owned(),
        };
        let trimmed = text.trim();
        let (tls, rest) = if let Some(rest) = trimmed.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = trimmed.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(invalid(
                "must start with http:// or https:// (e.g. http://netmon-server:9095)",
            ));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(invalid("has no host"));
        }
        if authority.contains(['/', '?', '#', '@']) || authority.chars().any(char::is_whitespace) {
            return Err(invalid(
                "must be a scheme, a host and a port only (no path, query or user)",
            ));
        }
        let (host, port) = split_host_port(authority).map_err(invalid)?;
        if host.is_empty() {
            return Err(invalid("has no host"));
        }
        if let Some(port) = port {
            match port.parse::<u16>() {
                Ok(0) | Err(_) => return Err(invalid("has a port that is not 1 to 65535")),
                Ok(_) => {}
            }
        }
        Ok(ServerAddress {
            url: format!("{}://{authority}", if tls { "https" } else { "http" }),
            tls,
            host: host.to_owned(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn uses_tls(&self) -> bool {
        self.tls
    }

    pub fn host(&self) -> &str {
        &self.host
    }
}

impl fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    const BRACKETS: &str = "must write an IPv6 address in brackets, as [addr]:port";
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or(BRACKETS)?;
        return match after {
            "" => Ok((host, None)),
            _ => Ok((host, Some(after.strip_prefix(':').ok_or(BRACKETS)?))),
        };
    }
    match authority.rsplit_once(':') {
        // Several colons without brackets: an IPv6 address, port unknowable.
        Some((host, _)) if host.contains(':') => Err(BRACKETS),
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((authority, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_urls_give_their_host_and_whether_tls_is_used() {
        let cases = [
            (
                "http://netmon-server:9095",
                "http://netmon-server:9095",
                false,
                "netmon-server",
            ),
            (
                "https://collector.netmon.svc:443/",
                "https://collector.netmon.svc:443",
                true,
                "collector.netmon.svc",
            ),
            (
                "http://127.0.0.1:9095",
                "http://127.0.0.1:9095",
                false,
                "127.0.0.1",
            ),
            (
                "https://[fd00::1]:9095",
                "https://[fd00::1]:9095",
                true,
                "fd00::1",
            ),
            ("https://server", "https://server", true, "server"),
        ];
        for (text, url, tls, host) in cases {
            let address = ServerAddress::parse(text).unwrap();
            assert_eq!(
                (address.url(), address.uses_tls(), address.host()),
                (url, tls, host),
                "{text}"
            );
        }
    }

    #[test]
    fn other_schemes_paths_and_bad_ports_are_refused_with_the_reason() {
        let cases = [
            (
                "netmon-server:9095",
                "must start with http:// or https:// (e.g. http://netmon-server:9095)",
            ),
            (
                "grpc://server:9095",
                "must start with http:// or https:// (e.g. http://netmon-server:9095)",
            ),
            ("http://", "has no host"),
            ("http://:9095", "has no host"),
            (
                "http://server:9095/flows",
                "must be a scheme, a host and a port only (no path, query or user)",
            ),
            ("http://server:0", "has a port that is not 1 to 65535"),
            ("http://server:70000", "has a port that is not 1 to 65535"),
            ("http://server:port", "has a port that is not 1 to 65535"),
            (
                "http://[fd00::1",
                "must write an IPv6 address in brackets, as [addr]:port",
            ),
            (
                "http://fd00::1",
                "must write an IPv6 address in brackets, as [addr]:port",
            ),
        ];
        for (text, why) in cases {
            let error = ServerAddress::parse(text).unwrap_err();
            assert_eq!(error.to_string(), format!("{text:?} {why}"), "{text}");
        }
    }
}
