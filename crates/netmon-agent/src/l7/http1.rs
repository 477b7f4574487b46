//! HTTP/1.x request lines and status lines (RFC 9112 §3 and §4).
//!
//! Only the first line of a message is read: the method of a request or the
//! status code of a response. Methods are limited to the nine standard ones
//! so that what reaches a metric label is a bounded set, and so that a line
//! of some other text protocol (`HELO`, `USER`, a Redis inline command) is
//! never taken for HTTP.
//!
//! # Captures cut short
//!
//! A request line is accepted once the method, one space and the start of a
//! target in a form that method allows have been captured (`GET /`): a
//! 512-byte capture is cut inside the line when the URL is long, and what
//! was seen up to there is already unmistakable. Everything that was
//! captured must still be valid, including a partial `HTTP/1.` version.
//! A method without its target (`GET`, `GET `) is not enough. A status line
//! needs its three status digits (`HTTP/1.1 200`).

use thiserror::Error;

/// The standard methods (RFC 9110 §9 and PATCH, RFC 5789).
pub const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// The longest standard method is 7 bytes.
const MAX_METHOD_LEN: usize = 7;

/// Why bytes are not an HTTP/1.x start line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Http1Error {
    /// The line starts with neither a standard method nor `HTTP/1.`.
    #[error("not an HTTP/1.x start line")]
    NotHttp,
    /// Too little was captured to tell.
    #[error("the capture ended before the {part}")]
    CutShort { part: &'static str },
    /// A part of the line is not what HTTP/1.x allows there.
    #[error("malformed {part}")]
    Malformed { part: &'static str },
    /// The version is not HTTP/1.0 or HTTP/1.1.
    #[error("HTTP version is not 1.0 or 1.1")]
    BadVersion,
    /// A status code outside 100..=599.
    #[error("status code {code} is outside 100..=599")]
    BadStatus { code: u16 },
}

/// A request line, as much of it as was captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine {
    pub method: &'static str,
    /// Whether the line was captured up to its line ending.
    pub complete: bool,
}

/// A status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusLine {
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    pub status: u16,
}

/// The standard method spelled by `token` (methods are case-sensitive).
pub fn standard_method(token: &[u8]) -> Option<&'static str> {
    METHODS.into_iter().find(|m| m.as_bytes() == token)
}

/// Parses the request line at the start of `bytes`.
pub fn parse_request_line(bytes: &[u8]) -> Result<RequestLine, Http1Error> {
    let Some(space) = bytes
        .iter()
        .take(MAX_METHOD_LEN + 1)
        .position(|&b| b == b' ')
    else {
        let is_prefix = bytes.len() <= MAX_METHOD_LEN
            && METHODS.iter().any(|m| m.as_bytes().starts_with(bytes));
        return Err(if is_prefix {
            Http1Error::CutShort { part: "method" }
        } else {
            Http1Error::NotHttp
        });
    };
    let method = standard_method(&bytes[..space]).ok_or(Http1Error::NotHttp)?;

    let rest = &bytes[space + 1..];
    let target_len = rest
        .iter()
        .position(|&b| matches!(b, b' ' | b'\r' | b'\n'))
        .unwrap_or(rest.len());
    let target = &rest[..target_len];
    if target.is_empty() {
        return Err(if rest.is_empty() {
            Http1Error::CutShort { part: "target" }
        } else {
            Http1Error::Malformed { part: "target" }
        });
    }
    if !target_is_valid(method, target) {
        return Err(Http1Error::Malformed { part: "target" });
    }
    let incomplete = RequestLine {
        method,
        complete: false,
    };

    let Some((&separator, after_target)) = rest[target_len..].split_first() else {
        return Ok(incomplete);
    };
    if separator != b' ' {
        // `GET /\r\n` is HTTP/0.9, which has no version and no headers.
        return Err(Http1Error::BadVersion);
    }
    let version_len = after_target.len().min(b"HTTP/1.1".len());
    let version = &after_target[..version_len];
    if !(b"HTTP/1.0".starts_with(version) || b"HTTP/1.1".starts_with(version)) {
        return Err(Http1Error::BadVersion);
    }
    match &after_target[version_len..] {
        [] => Ok(incomplete),
        [b'\n', ..] | [b'\r'] | [b'\r', b'\n', ..] => Ok(RequestLine {
            method,
            complete: true,
        }),
        _ => Err(Http1Error::Malformed {
            part: "line ending",
        }),
    }
}

/// Whether the (possibly cut short) `target` has a form `method` allows
/// (RFC 9112 §3.2) and only characters a request target may hold.
fn target_is_valid(method: &str, target: &[u8]) -> bool {
    // Visible ASCII; bytes above 0x7f are tolerated because some clients
    // send UTF-8 paths unencoded.
    if !target.iter().all(|&b| b > 0x20 && b != 0x7f) {
        return false;
    }
    let absolute = [&b"http://"[..], b"https://"].iter().any(|scheme| {
        let n = scheme.len().min(target.len());
        target[..n].eq_ignore_ascii_case(&scheme[..n])
    });
    match (method, target[0]) {
        (_, b'/') => true,
        ("OPTIONS", b'*') => target == b"*",
        ("CONNECT", _) => target
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')),
        _ => absolute,
    }
}

/// Parses the status line at the start of `bytes`.
pub fn parse_status_line(bytes: &[u8]) -> Result<StatusLine, Http1Error> {
    const PREFIX: &[u8] = b"HTTP/1.";
    let n = bytes.len().min(PREFIX.len());
    if bytes[..n] != PREFIX[..n] {
        return Err(Http1Error::NotHttp);
    }
    let [_, _, _, _, _, _, _, minor, space, d1, d2, d3, rest @ ..] = bytes else {
        return Err(Http1Error::CutShort {
            part: "status code",
        });
    };
    let minor_version = match minor {
        b'0' => 0,
        b'1' => 1,
        _ => return Err(Http1Error::BadVersion),
    };
    if *space != b' ' || ![d1, d2, d3].iter().all(|d| d.is_ascii_digit()) {
        return Err(Http1Error::Malformed {
            part: "status code",
        });
    }
    if !matches!(rest.first(), None | Some(b' ' | b'\r' | b'\n')) {
        return Err(Http1Error::Malformed {
            part: "status code",
        });
    }
    let status = [d1, d2, d3]
        .iter()
        .fold(0u16, |code, &&d| code * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&status) {
        return Err(Http1Error::BadStatus { code: status });
    }
    Ok(StatusLine {
        minor_version,
        status,
    })
}

#[cfg(test)]
#[path = "http1_tests.rs"]
mod tests;
