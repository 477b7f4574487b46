//! TLS ClientHello and ServerHello (RFC 8446 §4.1, RFC 5246 §7.4.1), read
//! from the first record of each direction of a connection.
//!
//! From the client's hello netmon learns the server name it asked for
//! (SNI) and the highest version it offers; from the server's hello the
//! version both ends agreed on. The negotiated version is the one to show
//! when a flow has both: a client offering TLS 1.3 may end up on TLS 1.2.
//!
//! # Captures cut short
//!
//! A ClientHello is often larger than the 512 bytes captured (post-quantum
//! key shares make it 1.7 KB), so parsing stops quietly where the capture
//! ends and reports what was complete by then: the server name if its
//! extension was captured whole, and the offered version if the
//! `supported_versions` extension was captured whole (or the whole
//! extension block was, without one: then `legacy_version` is the offer).
//! A hello is recognised from its first 11 bytes (record header, handshake
//! header and a valid `legacy_version`); anything inconsistent that *was*
//! captured (a length overrunning its container, a session id over 32
//! bytes) means it is not TLS.

use thiserror::Error;

/// Record content type of handshake messages.
pub const CONTENT_TYPE_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const HANDSHAKE_SERVER_HELLO: u8 = 2;
const EXTENSION_SERVER_NAME: u16 = 0;
const EXTENSION_SUPPORTED_VERSIONS: u16 = 43;
const NAME_TYPE_HOST_NAME: u8 = 0;
/// Longest record plaintext (RFC 8446 §5.1).
const MAX_RECORD_LEN: usize = 1 << 14;
/// Longest DNS name in text form.
const MAX_SERVER_NAME_LEN: usize = 253;

/// A protocol version, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TlsVersion {
    Ssl3,
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    /// Every version, oldest first.
    pub const ALL: [TlsVersion; 5] = [
        TlsVersion::Ssl3,
        TlsVersion::Tls10,
        TlsVersion::Tls11,
        TlsVersion::Tls12,
        TlsVersion::Tls13,
    ];

    /// The version with wire code `code` (0x0300 for SSL 3.0 ... 0x0304 for
    /// TLS 1.3); None for GREASE, drafts and anything unknown.
    pub const fn from_wire(code: u16) -> Option<TlsVersion> {
        match code {
            0x0300 => Some(TlsVersion::Ssl3),
            0x0301 => Some(TlsVersion::Tls10),
            0x0302 => Some(TlsVersion::Tls11),
            0x0303 => Some(TlsVersion::Tls12),
            0x0304 => Some(TlsVersion::Tls13),
            _ => None,
        }
    }

    /// The wire code of the version.
    pub const fn wire(self) -> u16 {
        match self {
            TlsVersion::Ssl3 => 0x0300,
            TlsVersion::Tls10 => 0x0301,
            TlsVersion::Tls11 => 0x0302,
            TlsVersion::Tls12 => 0x0303,
            TlsVersion::Tls13 => 0x0304,
        }
    }

    /// The name used in the API and in metric labels ("TLS 1.3").
    pub const fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Ssl3 => "SSL 3.0",
            TlsVersion::Tls10 => "TLS 1.0",
            TlsVersion::Tls11 => "TLS 1.1",
            TlsVersion::Tls12 => "TLS 1.2",
            TlsVersion::Tls13 => "TLS 1.3",
        }
    }
}

impl std::fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for TlsVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What a (possibly cut short) ClientHello told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The version field of the hello itself (0x0303 from TLS 1.3 clients).
    pub legacy_version: u16,
    /// The highest version offered; None when the capture ended before it
    /// could be known (see the module documentation).
    pub max_version: Option<TlsVersion>,
    /// The `host_name` of the server_name extension, lowercased.
    pub server_name: Option<String>,
    /// Whether the whole ClientHello was captured.
    pub complete: bool,
}

/// What a (possibly cut short) ServerHello told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The version field of the hello itself (0x0303 from TLS 1.3 servers).
    pub legacy_version: u16,
    /// The negotiated version: `supported_versions` when present (TLS 1.3),
    /// else `legacy_version`. None when `legacy_version` says TLS 1.2 and
    /// the capture ended before the extensions could show TLS 1.3.
    pub version: Option<TlsVersion>,
    /// Whether the whole ServerHello was captured.
    pub complete: bool,
}

/// A hello of either end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    Client(ClientHello),
    Server(ServerHello),
}

/// Why bytes are not the start of a TLS hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TlsError {
    /// Fewer than the 11 bytes needed to recognise a hello.
    #[error("{have} bytes are too few to recognise a TLS hello")]
    TooShort { have: usize },
    #[error("record content type {content_type} is not handshake (22)")]
    NotHandshake { content_type: u8 },
    #[error("version {version:#06x} is not SSL 3.0 to TLS 1.3")]
    BadVersion { version: u16 },
    #[error("record length {length} is 0 or over 16384")]
    BadRecordLength { length: usize },
    #[error("handshake type {handshake_type} is not a ClientHello or ServerHello")]
    NotHello { handshake_type: u8 },
    /// A length inside the hello overruns the structure that holds it.
    #[error("malformed {field}")]
    Malformed { field: &'static str },
}

/// Why a field could not be read: the capture ended (keep what was read) or
/// the hello is inconsistent (it is not TLS).
enum Stop {
    CutShort,
    Malformed(&'static str),
}

/// Reads fields of a structure whose declared end may lie beyond what was
/// captured.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Declared end of the structure; may exceed `data.len()`.
    end: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Stop> {
        let end = self.pos.checked_add(n).ok_or(Stop::Malformed(field))?;
        if end > self.end {
            return Err(Stop::Malformed(field));
        }
        let bytes = self.data.get(self.pos..end).ok_or(Stop::CutShort)?;
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, Stop> {
        Ok(self.take(1, field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, Stop> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A sub-structure of `len` bytes starting here, and skips past it.
    fn nested(&mut self, len: usize, field: &'static str) -> Result<Reader<'a>, Stop> {
        let end = self.pos.checked_add(len).ok_or(Stop::Malformed(field))?;
        if end > self.end {
            return Err(Stop::Malformed(field));
        }
        let nested = Reader {
            data: self.data,
            pos: self.pos,
            end,
        };
        self.pos = end;
        Ok(nested)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    /// Whether everything up to the declared end was captured.
    fn fully_captured(&self) -> bool {
        self.end <= self.data.len()
    }
}

/// Parses the hello in the first record of `payload`.
pub fn parse_hello(payload: &[u8]) -> Result<Hello, TlsError> {
    // Record header (5), handshake header (4) and legacy_version (2).
    let [content_type, major, minor, len_hi, len_lo, handshake_type, l1, l2, l3, v1, v2, ..] =
        *payload
    else {
        return Err(TlsError::TooShort {
            have: payload.len(),
        });
    };
    if content_type != CONTENT_TYPE_HANDSHAKE {
        return Err(TlsError::NotHandshake { content_type });
    }
    let record_version = u16::from_be_bytes([major, minor]);
    TlsVersion::from_wire(record_version).ok_or(TlsError::BadVersion {
        version: record_version,
    })?;
    let record_len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    if record_len == 0 || record_len > MAX_RECORD_LEN {
        return Err(TlsError::BadRecordLength { length: record_len });
    }
    let handshake_len = usize::from(l1) << 16 | usize::from(l2) << 8 | usize::from(l3);
    let legacy_version = u16::from_be_bytes([v1, v2]);
    TlsVersion::from_wire(legacy_version).ok_or(TlsError::BadVersion {
        version: legacy_version,
    })?;
    // The hello may continue in a following record; parse only this one.
    let captured_end = payload.len().min(5 + record_len);
    let body = Reader {
        data: &payload[..captured_end],
        pos: 9,
        end: 9 + handshake_len,
    };
    let result = match handshake_type {
        HANDSHAKE_CLIENT_HELLO => client_hello(body).map(Hello::Client),
        HANDSHAKE_SERVER_HELLO => server_hello(body).map(Hello::Server),
        _ => return Err(TlsError::NotHello { handshake_type }),
    };
    result.map_err(|field| TlsError::Malformed { field })
}

/// The ClientHello body; Err names a malformed field.
fn client_hello(mut body: Reader<'_>) -> Result<ClientHello, &'static str> {
    let mut hello = ClientHello {
        legacy_version: 0,
        max_version: None,
        server_name: None,
        complete: false,
    };
    match client_hello_fields(&mut body, &mut hello) {
        Ok(()) => hello.complete = body.fully_captured(),
        Err(Stop::CutShort) => {}
        Err(Stop::Malformed(field)) => return Err(field),
    }
    Ok(hello)
}

fn client_hello_fields(body: &mut Reader<'_>, hello: &mut ClientHello) -> Result<(), Stop> {
    hello.legacy_version = body.u16("legacy_version")?;
    body.take(32, "random")?;
    let session_id_len = usize::from(body.u8("session id")?);
    if session_id_len > 32 {
        return Err(Stop::Malformed("session id"));
    }
    body.take(session_id_len, "session id")?;
    let suites_len = usize::from(body.u16("cipher suites")?);
    if suites_len < 2 || !suites_len.is_multiple_of(2) {
        return Err(Stop::Malformed("cipher suites"));
    }
    body.take(suites_len, "cipher suites")?;
    let compression_len = usize::from(body.u8("compression methods")?);
    if compression_len == 0 {
        return Err(Stop::Malformed("compression methods"));
    }
    body.take(compression_len, "compression methods")?;
    let legacy = TlsVersion::from_wire(hello.legacy_version);
    if body.at_end() {
        // No extensions at all (SSL 3.0 style): the offer is legacy_version.
        hello.max_version = legacy;
        return Ok(());
    }
    let extensions_len = usize::from(body.u16("extensions")?);
    let mut extensions = body.nested(extensions_len, "extensions")?;
    let mut offered = None;
    while !extensions.at_end() {
        let kind = extensions.u16("extension")?;
        let len = usize::from(extensions.u16("extension")?);
        let mut data = extensions.nested(len, "extension")?;
        match kind {
            EXTENSION_SERVER_NAME => hello.server_name = server_name(&mut data)?,
            EXTENSION_SUPPORTED_VERSIONS => {
                offered = Some(highest_offered(&mut data)?);
                hello.max_version = offered.flatten();
            }
            _ => {}
        }
    }
    if offered.is_none() {
        hello.max_version = legacy;
    }
    if !body.at_end() {
        return Err(Stop::Malformed("extensions"));
    }
    Ok(())
}

/// The first `host_name` of a server_name extension (RFC 6066 §3), if it
/// looks like a DNS name; an extension the capture cut is CutShort.
fn server_name(data: &mut Reader<'_>) -> Result<Option<String>, Stop> {
    let list_len = usize::from(data.u16("server_name")?);
    let mut list = data.nested(list_len, "server_name")?;
    while !list.at_end() {
        let name_type = list.u8("server_name")?;
        let len = usize::from(list.u16("server_name")?);
        let name = list.take(len, "server_name")?;
        if name_type == NAME_TYPE_HOST_NAME {
            return Ok(dns_name_ish(name));
        }
    }
    Ok(None)
}

/// `name` lowercased if it is 1 to 253 bytes of visible ASCII.
fn dns_name_ish(name: &[u8]) -> Option<String> {
    let valid =
        (1..=MAX_SERVER_NAME_LEN).contains(&name.len()) && name.iter().all(u8::is_ascii_graphic);
    valid.then(|| String::from_utf8_lossy(name).to_ascii_lowercase())
}

/// The highest known version of a ClientHello's supported_versions list
/// (RFC 8446 §4.2.1), GREASE (RFC 8701) and unknown codes skipped.
fn highest_offered(data: &mut Reader<'_>) -> Result<Option<TlsVersion>, Stop> {
    let list_len = usize::from(data.u8("supported_versions")?);
    if !list_len.is_multiple_of(2) {
        return Err(Stop::Malformed("supported_versions"));
    }
    let mut list = data.nested(list_len, "supported_versions")?;
    let mut highest = None;
    while !list.at_end() {
        let code = list.u16("supported_versions")?;
        highest = highest.max(TlsVersion::from_wire(code));
    }
    Ok(highest)
}

/// The ServerHello body; Err names a malformed field.
fn server_hello(mut body: Reader<'_>) -> Result<ServerHello, &'static str> {
    let mut hello = ServerHello {
        legacy_version: 0,
        version: None,
        complete: false,
    };
    let mut selected = None;
    let finished = server_hello_fields(&mut body, &mut hello, &mut selected);
    let legacy = TlsVersion::from_wire(hello.legacy_version);
    hello.version = match (selected, &finished) {
        (Some(version), _) => Some(version),
        // TLS 1.3 servers say 1.2 here and 1.3 in an extension.
        (None, Ok(())) => legacy,
        (None, Err(_)) if legacy < Some(TlsVersion::Tls12) => legacy,
        (None, Err(_)) => None,
    };
    match finished {
        Ok(()) => hello.complete = body.fully_captured(),
        Err(Stop::CutShort) => {}
        Err(Stop::Malformed(field)) => return Err(field),
    }
    Ok(hello)
}

fn server_hello_fields(
    body: &mut Reader<'_>,
    hello: &mut ServerHello,
    selected: &mut Option<TlsVersion>,
) -> Result<(), Stop> {
    hello.legacy_version = body.u16("legacy_version")?;
    body.take(32, "random")?;
    let session_id_len = usize::from(body.u8("session id")?);
    if session_id_len > 32 {
        return Err(Stop::Malformed("session id"));
    }
    body.take(session_id_len, "session id")?;
    body.take(2, "cipher suite")?;
    body.take(1, "compression method")?;
    if body.at_end() {
        return Ok(());
    }
    let extensions_len = usize::from(body.u16("extensions")?);
    let mut extensions = body.nested(extensions_len, "extensions")?;
    while !extensions.at_end() {
        let kind = extensions.u16("extension")?;
        let len = usize::from(extensions.u16("extension")?);
        let mut data = extensions.nested(len, "extension")?;
        if kind == EXTENSION_SUPPORTED_VERSIONS {
            if len != 2 {
                return Err(Stop::Malformed("supported_versions"));
            }
            let code = data.u16("supported_versions")?;
            *selected =
                Some(TlsVersion::from_wire(code).ok_or(Stop::Malformed("supported_versions"))?);
        }
    }
    if !body.at_end() {
        return Err(Stop::Malformed("extensions"));
    }
    Ok(())
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
