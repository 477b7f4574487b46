//! ClickHouse's HTTP interface: a statement in, its text answer or its
//! exception out, each request bounded by the configured timeout.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use super::ClickHouseError;
use crate::config::{ClickHouseConfig, Secret};

/// Longest part of an exception text kept for logs and metrics' sake.
const MAX_MESSAGE_LEN: usize = 500;

/// `http://host[:port]` with nothing after it: the base every request's
/// path and query are added to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    authority: String,
}

impl BaseUrl {
    /// Checks `text`; the error is the problem line's message.
    pub fn parse(text: &str) -> Result<BaseUrl, String> {
        let uri: Uri = text
            .parse()
            .map_err(|_| format!("{text:?} is not a URL such as http://clickhouse:8123"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(format!(
                    "{text:?}: https is not supported; reach ClickHouse over http (inside the cluster, or through a TLS-terminating proxy)"
                ))
            }
            _ => return Err(format!("{text:?} must start with http://")),
        }
        let Some(authority) = uri.authority().filter(|a| !a.host().is_empty()) else {
            return Err(format!("{text:?} has no host"));
        };
        if uri.path() != "/" && !uri.path().is_empty() || uri.query().is_some() {
            return Err(format!(
                "{text:?} must be only scheme, host and port (no path or query)"
            ));
        }
        Ok(BaseUrl {
            authority: authority.to_string(),
        })
    }
}

/// One ClickHouse server, with credentials.
#[derive(Clone)]
pub struct HttpClient {
    base: BaseUrl,
    authorization: String,
    timeout: Duration,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HttpClient {
    pub fn new(config: &ClickHouseConfig) -> Result<HttpClient, ClickHouseError> {
        let base = BaseUrl::parse(&config.url).map_err(ClickHouseError::Config)?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.timeout));
        connector.set_nodelay(true);
        Ok(HttpClient {
            base,
            authorization: basic_auth(&config.user, &config.password),
            timeout: config.timeout,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// Runs `sql` (sent as the body) and returns the answer's text.
    pub async fn query(&self, sql: &str) -> Result<String, ClickHouseError> {
        self.send("/".to_owned(), Bytes::from(sql.to_owned())).await
    }

    /// Runs `statement` (an `INSERT ... FORMAT ...`, sent in the URL) with
    /// `data` as the body and `settings` as query parameters.
    pub async fn insert(
        &self,
        statement: &str,
        settings: &[(&str, String)],
        data: Vec<u8>,
    ) -> Result<(), ClickHouseError> {
        let mut path = format!("/?query={}", percent_encode(statement));
        for (name, value) in settings {
            path.push('&');
            path.push_str(name);
            path.push('=');
            path.push_str(&percent_encode(value));
        }
        self.send(path, Bytes::from(data)).await.map(drop)
    }

    async fn send(&self, path_and_query: String, body: Bytes) -> Result<String, ClickHouseError> {
        let uri = format!("http://{}{}", self.base.authority, path_and_query);
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(AUTHORIZATION, &self.authorization)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(Full::new(body))
            .map_err(|error| ClickHouseError::Transport(error.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| ClickHouseError::Transport(error_chain(&error)))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|error| ClickHouseError::Transport(error_chain(&error)))?
                .to_bytes();
            Ok::<_, ClickHouseError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClickHouseError::Timeout(self.timeout))??;
        let text = String::from_utf8_lossy(&body).into_owned();
        if status == StatusCode::OK {
            Ok(text)
        } else {
            Err(ClickHouseError::Server {
                status: status.as_u16(),
                message: first_line(&text),
            })
        }
    }
}

/// An error and its causes on one line: hyper's top-level errors alone
/// ("client error (Connect)") do not say what happened.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    line.chars().take(MAX_MESSAGE_LEN).collect()
}

fn basic_auth(user: &str, password: &Secret) -> String {
    format!(
        "Basic {}",
        base64(format!("{user}:{}", password.expose()).as_bytes())
    )
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let bytes = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let bits = u32::from(bytes[0]) << 16 | u32::from(bytes[1]) << 8 | u32::from(bytes[2]);
        for position in 0..4 {
            if position <= chunk.len() {
                out.push(char::from(
                    ALPHABET[(bits >> (18 - 6 * position) & 63) as usize],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_http_with_a_host_and_nothing_after_the_port() {
        assert!(BaseUrl::parse("http://clickhouse:8123").is_ok());
        assert!(BaseUrl::parse("http://127.0.0.1:8123/").is_ok());
        let problems = [
            ("https://ch:8443", "\"https://ch:8443\": https is not supported; reach ClickHouse over http (inside the cluster, or through a TLS-terminating proxy)"),
            ("ftp://ch", "\"ftp://ch\" must start with http://"),
            ("http://ch:8123/db?x=1", "\"http://ch:8123/db?x=1\" must be only scheme, host and port (no path or query)"),
            ("not a url", "\"not a url\" is not a URL such as http://clickhouse:8123"),
        ];
        for (text, expected) in problems {
            assert_eq!(BaseUrl::parse(text), Err(expected.to_owned()), "{text}");
        }
    }

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, encoded) in vectors {
            assert_eq!(base64(input.as_bytes()), encoded);
        }
    }

    #[test]
    fn statements_are_percent_encoded_except_unreserved_characters() {
        assert_eq!(
            percent_encode("INSERT INTO a.b (x) FORMAT RowBinary"),
            "INSERT%20INTO%20a.b%20%28x%29%20FORMAT%20RowBinary"
        );
    }
}
