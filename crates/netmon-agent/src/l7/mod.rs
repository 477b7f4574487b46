//! Application protocol recognition from the first payload bytes of flows.
//!
//! The kernel captures up to 512 bytes of the first L4 payloads of each
//! direction of a flow; [`classify`] names the application protocol they
//! carry and the few fields worth keeping (an HTTP method or status, the
//! TLS version and server name, a MySQL server version). Nothing else of a
//! payload is kept.
//!
//! Every decoder here is pure and total: it takes a capture that may be
//! cut short anywhere, reads only within it, loops a bounded number of
//! times, and returns what it could decode, or nothing, never panicking.
//! Recognition errs towards "unknown": a protocol is named only on bytes
//! that other protocols do not start with, and the weaker signals (a
//! Redis reply, PostgreSQL's one-byte SSL answer, HTTP/2 frames without the
//! preface) only confirm what an earlier payload of the flow established.
//!
//! One module per protocol; `hpack` and `huffman` decode HTTP/2
//! header blocks.

pub mod dns;
mod hpack;
pub mod http1;
pub mod http2;
mod huffman;
pub mod mysql;
pub mod postgres;
pub mod redis;
pub mod tls;

#[cfg(test)]
mod test_samples;

pub use tls::TlsVersion;

/// Application protocols netmon recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppProtocol {
    /// HTTP/1.0 and HTTP/1.1.
    Http,
    Http2,
    /// gRPC: HTTP/2 with an `application/grpc` content type.
    Grpc,
    Tls,
    Dns,
    Redis,
    Mysql,
    Postgresql,
}

impl AppProtocol {
    /// Every protocol, in the order of the enum.
    pub const ALL: [AppProtocol; 8] = [
        AppProtocol::Http,
        AppProtocol::Http2,
        AppProtocol::Grpc,
        AppProtocol::Tls,
        AppProtocol::Dns,
        AppProtocol::Redis,
        AppProtocol::Mysql,
        AppProtocol::Postgresql,
    ];

    /// The name used in configuration and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            AppProtocol::Http => "http",
            AppProtocol::Http2 => "http2",
            AppProtocol::Grpc => "grpc",
            AppProtocol::Tls => "tls",
            AppProtocol::Dns => "dns",
            AppProtocol::Redis => "redis",
            AppProtocol::Mysql => "mysql",
            AppProtocol::Postgresql => "postgresql",
        }
    }

    /// The protocol named `name` (as [`AppProtocol::as_str`] spells it).
    pub fn from_name(name: &str) -> Option<AppProtocol> {
        AppProtocol::ALL.into_iter().find(|p| p.as_str() == name)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl std::fmt::Display for AppProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which end of the flow sent the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The end that opened the flow (the client).
    Initiator,
    /// The other end (the server).
    Responder,
}

/// What was learned from one payload besides its protocol.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppFields {
    /// A standard method ("GET", ...) from an HTTP/1.x request line or an
    /// HTTP/2 `:method`.
    pub http_method: Option<String>,
    /// From an HTTP/1.x status line or an HTTP/2 `:status` (100..=599).
    pub http_status: Option<u16>,
    /// The highest version a ClientHello offers, or the version a
    /// ServerHello negotiated; see [`AppFields::merge`].
    pub tls_version: Option<TlsVersion>,
    /// The ClientHello's server name (SNI), lowercased: visible ASCII, at
    /// most 253 bytes.
    pub tls_sni: Option<String>,
    /// The MySQL greeting's server version: printable ASCII, at most 64
    /// bytes.
    pub server_version: Option<String>,
}

impl AppFields {
    /// Adds what a later payload from `side` learned. Fields already known
    /// stay, except the TLS version: a ServerHello's (Responder) is the
    /// negotiated one and replaces the version a ClientHello offered.
    pub fn merge(&mut self, newer: AppFields, side: Side) {
        fn fill<T>(field: &mut Option<T>, newer: Option<T>) {
            if field.is_none() {
                *field = newer;
            }
        }
        fill(&mut self.http_method, newer.http_method);
        fill(&mut self.http_status, newer.http_status);
        match (side, newer.tls_version) {
            (Side::Responder, Some(negotiated)) => self.tls_version = Some(negotiated),
            (_, offered) => fill(&mut self.tls_version, offered),
        }
        fill(&mut self.tls_sni, newer.tls_sni);
        fill(&mut self.server_version, newer.server_version);
    }
}

/// A payload's protocol and fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub protocol: AppProtocol,
    pub fields: AppFields,
}

/// A set of protocols: those enabled in configuration
/// (`features.protocol_detection.protocols`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ProtocolSet(u8);

impl ProtocolSet {
    /// Every protocol.
    pub const fn all() -> ProtocolSet {
        ProtocolSet(u8::MAX)
    }

    /// No protocol.
    pub const fn empty() -> ProtocolSet {
        ProtocolSet(0)
    }

    /// Whether `protocol` is in the set (for gRPC see
    /// [`ProtocolSet::reports_grpc`]).
    pub const fn contains(self, protocol: AppProtocol) -> bool {
        self.0 & protocol.bit() != 0
    }

    /// Adds `protocol`.
    pub fn insert(&mut self, protocol: AppProtocol) {
        self.0 |= protocol.bit();
    }

    /// Whether no protocol is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The protocols in the set, in [`AppProtocol::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = AppProtocol> {
        AppProtocol::ALL
            .into_iter()
            .filter(move |&p| self.contains(p))
    }

    /// Whether gRPC can be reported. It needs HTTP/2 as well: gRPC is found
    /// on connections first classified as HTTP/2 (a preface in one segment,
    /// the HEADERS frame naming gRPC often in the next).
    pub const fn reports_grpc(self) -> bool {
        self.contains(AppProtocol::Grpc) && self.contains(AppProtocol::Http2)
    }
}

impl FromIterator<AppProtocol> for ProtocolSet {
    fn from_iter<I: IntoIterator<Item = AppProtocol>>(protocols: I) -> Self {
        let mut set = ProtocolSet::empty();
        for protocol in protocols {
            set.insert(protocol);
        }
        set
    }
}

/// Classifies one captured payload sent by `side`.
///
/// `known` is what the flow was already classified as (None at first).
/// Returns None when the bytes match no enabled protocol; for a flow
/// already classified that means "nothing new", and it keeps its protocol.
///
/// * A protocol not in `enabled` is never returned. gRPC is reported only
///   when both `grpc` and `http2` are enabled (see
///   [`ProtocolSet::reports_grpc`]); with `http2` alone it is HTTP/2.
/// * Without `known`, a protocol is named only from the payload that opens
///   its conversation: the TLS ClientHello or ServerHello, the HTTP/2
///   preface, an HTTP/1.x request or status line, a PostgreSQL startup or
///   authentication message, the MySQL greeting, a Redis command, a DNS
///   query or response (UDP, or TCP with its length prefix).
/// * With `known`, the result is that protocol or None, except that
///   HTTP/2 becomes gRPC when a HEADERS frame's content type says so, and
///   HTTP becomes HTTP/2 on the client's preface (an `Upgrade: h2c`).
///   HTTP/2 payloads without the preface are read as frames, adding
///   `:method` and `:status`; the server's SETTINGS-first payload is
///   recognised this way only. Redis replies, PostgreSQL's `S`/`N` answer
///   and MySQL's client packets count only here.
/// * A TLS hello on a connection known as HTTP (a CONNECT tunnel), MySQL
///   or PostgreSQL (their in-protocol TLS upgrade) keeps the protocol and
///   adds the TLS fields, when `tls` is enabled.
pub fn classify(
    payload: &[u8],
    side: Side,
    known: Option<AppProtocol>,
    enabled: ProtocolSet,
) -> Option<Classification> {
    if payload.is_empty() {
        return None;
    }
    match known.and_then(|k| effective(k, enabled)) {
        Some(known) => continue_known(payload, side, known, enabled),
        None => detect(payload, side, enabled),
    }
}

/// `protocol` as far as `enabled` lets it be reported.
fn effective(protocol: AppProtocol, enabled: ProtocolSet) -> Option<AppProtocol> {
    match protocol {
        AppProtocol::Grpc if enabled.reports_grpc() => Some(AppProtocol::Grpc),
        AppProtocol::Grpc | AppProtocol::Http2 => enabled
            .contains(AppProtocol::Http2)
            .then_some(AppProtocol::Http2),
        other => enabled.contains(other).then_some(other),
    }
}

fn found(protocol: AppProtocol, fields: AppFields) -> Option<Classification> {
    Some(Classification { protocol, fields })
}

/// Recognition on a flow not classified yet, strongest signatures first.
fn detect(payload: &[u8], side: Side, enabled: ProtocolSet) -> Option<Classification> {
    let on = |p| enabled.contains(p);
    if on(AppProtocol::Tls) {
        if let Some(fields) = tls_fields(payload, side) {
            return found(AppProtocol::Tls, fields);
        }
    }
    match side {
        Side::Initiator => {
            if on(AppProtocol::Http2) && http2::starts_with_preface(payload) {
                let frames = payload.get(http2::PREFACE.len()..).unwrap_or_default();
                return http2_classification(frames, AppProtocol::Http2, enabled, true);
            }
            if on(AppProtocol::Http) {
                if let Ok(line) = http1::parse_request_line(payload) {
                    return found(AppProtocol::Http, method_fields(line.method));
                }
            }
            if on(AppProtocol::Postgresql) && postgres::parse_startup(payload).is_ok() {
                return found(AppProtocol::Postgresql, AppFields::default());
            }
            if on(AppProtocol::Redis) && redis::parse_command(payload).is_ok() {
                return found(AppProtocol::Redis, AppFields::default());
            }
        }
        Side::Responder => {
            if on(AppProtocol::Http) {
                if let Ok(line) = http1::parse_status_line(payload) {
                    return found(AppProtocol::Http, status_fields(line.status));
                }
            }
            if on(AppProtocol::Mysql) {
                if let Ok(greeting) = mysql::parse_greeting(payload) {
                    return found(AppProtocol::Mysql, greeting_fields(greeting));
                }
            }
            if on(AppProtocol::Postgresql)
                && postgres::parse_authentication(payload)
                    .is_ok_and(postgres::Authentication::is_distinctive)
            {
                return found(AppProtocol::Postgresql, AppFields::default());
            }
        }
    }
    if on(AppProtocol::Dns) && is_dns(payload, Some(side)) {
        return found(AppProtocol::Dns, AppFields::default());
    }
    None
}

/// Recognition on a flow already classified as `known` (enabled).
fn continue_known(
    payload: &[u8],
    side: Side,
    known: AppProtocol,
    enabled: ProtocolSet,
) -> Option<Classification> {
    let tls_upgrade = || {
        let fields = enabled
            .contains(AppProtocol::Tls)
            .then(|| tls_fields(payload, side))
            .flatten()?;
        found(known, fields)
    };
    let confirmed = |yes: bool| {
        yes.then(|| Classification {
            protocol: known,
            fields: AppFields::default(),
        })
    };
    match (known, side) {
        (AppProtocol::Http, Side::Initiator) => match http1::parse_request_line(payload) {
            Ok(line) => found(known, method_fields(line.method)),
            // `Upgrade: h2c` accepted: the client continues in HTTP/2.
            Err(_)
                if enabled.contains(AppProtocol::Http2) && http2::starts_with_preface(payload) =>
            {
                let frames = payload.get(http2::PREFACE.len()..).unwrap_or_default();
                http2_classification(frames, AppProtocol::Http2, enabled, true)
            }
            Err(_) => tls_upgrade(),
        },
        (AppProtocol::Http, Side::Responder) => match http1::parse_status_line(payload) {
            Ok(line) => found(known, status_fields(line.status)),
            Err(_) => tls_upgrade(),
        },
        (AppProtocol::Http2 | AppProtocol::Grpc, _) => {
            let after_preface = side == Side::Initiator && http2::starts_with_preface(payload);
            let frames = if after_preface {
                payload.get(http2::PREFACE.len()..).unwrap_or_default()
            } else {
                payload
            };
            http2_classification(frames, known, enabled, after_preface)
        }
        (AppProtocol::Tls, _) => tls_fields(payload, side).and_then(|f| found(known, f)),
        (AppProtocol::Dns, _) => confirmed(is_dns(payload, None)),
        (AppProtocol::Redis, Side::Initiator) => confirmed(redis::parse_command(payload).is_ok()),
        (AppProtocol::Redis, Side::Responder) => confirmed(redis::is_reply(payload)),
        (AppProtocol::Mysql, Side::Initiator) => {
            if mysql::is_client_handshake(payload) || mysql::is_command(payload) {
                confirmed(true)
            } else {
                tls_upgrade()
            }
        }
        (AppProtocol::Mysql, Side::Responder) => match mysql::parse_greeting(payload) {
            Ok(greeting) => found(known, greeting_fields(greeting)),
            Err(_) if mysql::is_server_response(payload) => confirmed(true),
            Err(_) => tls_upgrade(),
        },
        (AppProtocol::Postgresql, Side::Initiator) => {
            if postgres::parse_startup(payload).is_ok() {
                confirmed(true)
            } else {
                tls_upgrade()
            }
        }
        (AppProtocol::Postgresql, Side::Responder) => {
            let backend = postgres::is_encryption_response(payload)
                || postgres::parse_authentication(payload).is_ok()
                || postgres::is_error_response(payload);
            if backend {
                confirmed(true)
            } else {
                tls_upgrade()
            }
        }
    }
}

/// HTTP/2 (or gRPC, when the frames say so and `enabled` allows) from
/// `frames`; `protocol` is what the flow is known as so far. The preface
/// alone is enough; a payload without it must start with a valid frame of
/// a type RFC 9113 defines (extension types are too easily matched by
/// other bytes).
fn http2_classification(
    frames: &[u8],
    protocol: AppProtocol,
    enabled: ProtocolSet,
    after_preface: bool,
) -> Option<Classification> {
    let summary = http2::parse_frames(frames);
    let starts_with_frame = summary
        .first_frame
        .is_some_and(|frame| frame.is_core_type());
    if !after_preface && !starts_with_frame {
        return None;
    }
    let protocol = if summary.is_grpc() && enabled.reports_grpc() {
        AppProtocol::Grpc
    } else {
        protocol
    };
    let fields = AppFields {
        http_method: summary.method.map(str::to_string),
        http_status: summary.status,
        ..AppFields::default()
    };
    found(protocol, fields)
}

/// The fields of a TLS hello sent by the expected side (ClientHello from
/// the initiator, ServerHello from the responder).
fn tls_fields(payload: &[u8], side: Side) -> Option<AppFields> {
    match (tls::parse_hello(payload).ok()?, side) {
        (tls::Hello::Client(hello), Side::Initiator) => Some(AppFields {
            tls_version: hello.max_version,
            tls_sni: hello.server_name,
            ..AppFields::default()
        }),
        (tls::Hello::Server(hello), Side::Responder) => Some(AppFields {
            tls_version: hello.version,
            ..AppFields::default()
        }),
        _ => None,
    }
}

/// Whether `payload` is a DNS message over UDP or TCP, a query from the
/// initiator or a response from the responder (either, when `side` is None).
fn is_dns(payload: &[u8], side: Option<Side>) -> bool {
    let direction = dns::sniff(payload).or_else(|| dns::sniff_tcp(payload));
    match (direction, side) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(direction), Some(side)) => {
            (direction == dns::DnsDirection::Query) == (side == Side::Initiator)
        }
    }
}

fn method_fields(method: &'static str) -> AppFields {
    AppFields {
        http_method: Some(method.to_string()),
        ..AppFields::default()
    }
}

fn status_fields(status: u16) -> AppFields {
    AppFields {
        http_status: Some(status),
        ..AppFields::default()
    }
}

fn greeting_fields(greeting: mysql::Greeting) -> AppFields {
    AppFields {
        server_version: Some(greeting.server_version),
        ..AppFields::default()
    }
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
