//! Talking HTTP/1.1 to the agent's API, over its unix socket (the default)
//! or TCP. One connection per request: the CLI makes a handful of requests,
//! and a fresh connection never trips over a half-read previous response.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;
use tokio::net::{TcpStream, UnixStream};

/// Where the agent listens unless `--agent` says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/netmon/netmon.sock";

/// How long connecting may take: a local agent answers at once, so a long
/// wait means something is wrong and the user should hear about it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("--agent {given:?}: {reason}")]
    BadAddress { given: String, reason: &'static str },
    #[error("cannot reach the agent at {agent}: {source} (is netmon running? point --agent at its socket or http://ADDR:PORT)")]
    Connect {
        agent: AgentAddress,
        #[source]
        source: std::io::Error,
    },
    #[error("connecting to the agent at {agent} timed out after {CONNECT_TIMEOUT:?}")]
    ConnectTimeout { agent: AgentAddress },
    #[error("talking to the agent at {agent}: {source}")]
    Http {
        agent: AgentAddress,
        #[source]
        source: hyper::Error,
    },
    #[error("the agent refused {path}: {message} (HTTP {status})")]
    Refused {
        path: String,
        status: StatusCode,
        message: String,
    },
    #[error("the agent's answer to {path} is not what this netmon-cli expects: {source}")]
    Decode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("encoding the request body: {0}")]
    Encode(#[source] serde_json::Error),
}

/// The agent's API endpoint: a unix socket path or a TCP `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentAddress {
    Unix(PathBuf),
    Tcp(String),
}

impl fmt::Display for AgentAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentAddress::Unix(path) => write!(f, "{}", path.display()),
            AgentAddress::Tcp(authority) => write!(f, "http://{authority}"),
        }
    }
}

impl AgentAddress {
    /// Accepts `/path/to.sock`, `unix:///path/to.sock`, `http://host:port`
    /// and `host:port`.
    pub fn parse(given: &str) -> Result<Self, ClientError> {
        let bad = |reason| ClientError::BadAddress {
            given: given.to_owned(),
            reason,
        };
        if let Some(path) = given.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(bad("unix:// needs a socket path"));
            }
            return Ok(AgentAddress::Unix(PathBuf::from(path)));
        }
        if given.starts_with('/') || given.starts_with('.') {
            return Ok(AgentAddress::Unix(PathBuf::from(given)));
        }
        if given.starts_with("https://") {
            return Err(bad(
                "the agent's API speaks plain HTTP; use http:// or its unix socket",
            ));
        }
        let authority = given.strip_prefix("http://").unwrap_or(given);
        let authority = authority.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(bad("expected a socket path, http://HOST:PORT or HOST:PORT"));
        }
        match authority.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(AgentAddress::Tcp(authority.to_owned()))
            }
            _ => Err(bad("a TCP address needs HOST:PORT")),
        }
    }
}

/// A client for one agent.
#[derive(Debug, Clone)]
pub struct AgentClient {
    address: AgentAddress,
}

impl AgentClient {
    pub fn new(address: AgentAddress) -> Self {
        AgentClient { address }
    }

    pub fn address(&self) -> &AgentAddress {
        &self.address
    }

    /// `GET path` (path and query string), decoded from JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let body = self.request(Method::GET, path, None).await?;
        decode(path, &body)
    }

    /// `GET path` as text (e.g. Prometheus exposition).
    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let body = self.request(Method::GET, path, None).await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// `method path` with a JSON body, answer decoded from JSON.
    pub async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let encoded = serde_json::to_vec(body).map_err(ClientError::Encode)?;
        let answer = self.request(method, path, Some(encoded)).await?;
        decode(path, &answer)
    }

    /// `method path` with a JSON body, answered with any status: the status
    /// and the JSON answer, for refusals that carry more than one message
    /// (`PUT /api/v1/config` lists every problem).
    pub async fn send_json_any_status<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<(StatusCode, serde_json::Value), ClientError> {
        let encoded = serde_json::to_vec(body).map_err(ClientError::Encode)?;
        let response = self.send(method, path, Some(encoded)).await?;
        let status = response.status();
        let answer = self.collect(response).await?;
        Ok((status, decode(path, &answer)?))
    }

    /// `GET path` as a stream of lines (NDJSON follow streams); the stream
    /// ends when the agent closes it.
    pub async fn stream_lines(&self, path: &str) -> Result<LineStream, ClientError> {
        let response = self.send(Method::GET, path, None).await?;
        let response = self.check_status(path, response).await?;
        Ok(LineStream {
            body: response.into_body(),
            pending: Vec::new(),
            agent: self.address.clone(),
            ended: false,
        })
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, ClientError> {
        let response = self.send(method, path, body).await?;
        let response = self.check_status(path, response).await?;
        self.collect(response).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, ClientError> {
        let http = |source| ClientError::Http {
            agent: self.address.clone(),
            source,
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.host_header());
        if body.is_some() {
            builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|_| ClientError::BadAddress {
                given: path.to_owned(),
                reason: "not a valid request path",
            })?;
        let mut sender = match &self.address {
            AgentAddress::Unix(socket) => {
                let stream = self.connect(UnixStream::connect(socket)).await?;
                handshake(stream).await.map_err(http)?
            }
            AgentAddress::Tcp(authority) => {
                let stream = self.connect(TcpStream::connect(authority.as_str())).await?;
                handshake(stream).await.map_err(http)?
            }
        };
        sender.send_request(request).await.map_err(http)
    }

    async fn connect<S>(
        &self,
        connecting: impl std::future::Future<Output = std::io::Result<S>>,
    ) -> Result<S, ClientError> {
        match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(source)) => Err(ClientError::Connect {
                agent: self.address.clone(),
                source,
            }),
            Err(_) => Err(ClientError::ConnectTimeout {
                agent: self.address.clone(),
            }),
        }
    }

    /// Turns a non-2xx answer into [`ClientError::Refused`] with the agent's
    /// own `{"error": ...}` message.
    async fn check_status(
        &self,
        path: &str,
        response: Response<Incoming>,
    ) -> Result<Response<Incoming>, ClientError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = self.collect(response).await?;
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
        Err(ClientError::Refused {
            path: path.to_owned(),
            status,
            message,
        })
    }

    async fn collect(&self, response: Response<Incoming>) -> Result<Bytes, ClientError> {
        response
            .into_body()
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .map_err(|source| ClientError::Http {
                agent: self.address.clone(),
                source,
            })
    }

    fn host_header(&self) -> String {
        match &self.address {
            // Any name will do over a socket; HTTP/1.1 only needs one.
            AgentAddress::Unix(_) => "netmon".to_owned(),
            AgentAddress::Tcp(authority) => authority.clone(),
        }
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn handshake<S>(stream: S) -> Result<Sender, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection drives the socket; it ends with the response body.
    tokio::spawn(connection);
    Ok(sender)
}

/// `path?name=value&...`, names and values percent-encoded (everything but
/// RFC 3986's unreserved characters), or `path` alone without pairs.
pub fn with_query<K: AsRef<str>, V: AsRef<str>>(path: &str, pairs: &[(K, V)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                percent_encode(name.as_ref()),
                percent_encode(value.as_ref())
            )
        })
        .collect();
    format!("{path}?{}", encoded.join("&"))
}

fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                encoded.push(char::from(byte))
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// `body`, the agent's answer to `path`, decoded from JSON.
pub fn decode<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|source| ClientError::Decode {
        path: path.to_owned(),
        source,
    })
}

/// Lines of a streamed response body, without their `\n`.
pub struct LineStream {
    body: Incoming,
    pending: Vec<u8>,
    agent: AgentAddress,
    ended: bool,
}

impl LineStream {
    /// The next complete line, or `None` once the agent ended the stream.
    pub async fn next_line(&mut self) -> Result<Option<String>, ClientError> {
        loop {
            if let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return Ok(Some(
                    String::from_utf8_lossy(&line[..line.len() - 1]).into_owned(),
                ));
            }
            if self.ended {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                let rest = std::mem::take(&mut self.pending);
                return Ok(Some(String::from_utf8_lossy(&rest).into_owned()));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.pending.extend_from_slice(&data);
                    }
                }
                Some(Err(source)) => {
                    return Err(ClientError::Http {
                        agent: self.agent.clone(),
                        source,
                    })
                }
                None => self.ended = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_paths_and_tcp_addresses_are_told_apart() {
        assert_eq!(
            AgentAddress::parse("/run/netmon/netmon.sock").unwrap(),
            AgentAddress::Unix(PathBuf::from("/run/netmon/netmon.sock"))
        );
        assert_eq!(
            AgentAddress::parse("unix:///tmp/a.sock").unwrap(),
            AgentAddress::Unix(PathBuf::from("/tmp/a.sock"))
        );
        assert_eq!(
            AgentAddress::parse("http://127.0.0.1:9091/").unwrap(),
            AgentAddress::Tcp("127.0.0.1:9091".to_owned())
        );
        assert_eq!(
            AgentAddress::parse("[::1]:9091").unwrap(),
            AgentAddress::Tcp("[::1]:9091".to_owned())
        );
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            with_query("/api/v1/flows", &[("ip", "fd00::1"), ("pod", "a b&c=d")]),
            "/api/v1/flows?ip=fd00%3A%3A1&pod=a%20b%26c%3Dd"
        );
        assert_eq!(
            with_query::<&str, &str>("/api/v1/flows", &[]),
            "/api/v1/flows"
        );
    }

    #[test]
    fn an_address_without_a_port_is_refused_with_the_reason() {
        let error = AgentAddress::parse("localhost").unwrap_err().to_string();
        assert_eq!(
            error,
            r#"--agent "localhost": a TCP address needs HOST:PORT"#
        );
        let error = AgentAddress::parse("https://x:1").unwrap_err().to_string();
        assert!(error.contains("plain HTTP"), "{error}");
    }
}
