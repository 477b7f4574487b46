//! PostgreSQL frontend/backend protocol (protocol 3.0): the client's first
//! message and the server's first replies.
//!
//! The client speaks first, with a message that has no type byte: a 4-byte
//! length, then a 4-byte code that is either the protocol version (3.0,
//! for a StartupMessage followed by `user`, `database`, ... pairs) or one
//! of the magic request codes (SSLRequest, GSSENCRequest, CancelRequest).
//! Those 8 bytes identify PostgreSQL. The server answers an SSLRequest or
//! GSSENCRequest with the single byte `S` or `N`, which means something
//! only on a connection already known to be PostgreSQL, and a
//! StartupMessage with an Authentication (`R`) message, whose stricter
//! forms (below) identify PostgreSQL by themselves.

use thiserror::Error;

/// Protocol 3.0 (major 3 in the high 16 bits).
const PROTOCOL_MAJOR: u32 = 3;
/// Protocol 3.2 (PostgreSQL 18) is the highest minor version in use.
const MAX_PROTOCOL_MINOR: u32 = 2;
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
/// The server limits startup packets to 10000 bytes (MAX_STARTUP_PACKET_LENGTH).
const MAX_STARTUP_LEN: u32 = 10_000;
/// Longest parameter name accepted.
const MAX_PARAMETER_NAME_LEN: usize = 64;
/// Longest authentication message accepted (SASL messages are small).
const MAX_AUTHENTICATION_LEN: u32 = 4096;

/// Why bytes are not the message looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PostgresError {
    #[error("the capture ended before the {part}")]
    CutShort { part: &'static str },
    #[error("length {length} is not valid for this message")]
    BadLength { length: u32 },
    #[error("code {code} is neither protocol 3.x nor a request code")]
    UnknownCode { code: u32 },
    #[error("malformed {part}")]
    Malformed { part: &'static str },
    #[error("not an authentication message")]
    NotAuthentication,
}

/// The client's first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupKind {
    /// A StartupMessage for protocol `major.minor` (3.0, or 3.2 from
    /// PostgreSQL 18 clients that ask for it).
    Startup {
        major: u16,
        minor: u16,
    },
    SslRequest,
    GssEncRequest,
    CancelRequest,
}

/// An authentication request (`R` message, its code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    Ok,
    KerberosV5,
    CleartextPassword,
    Md5Password,
    Gss,
    GssContinue,
    Sspi,
    /// SASL, with whether SCRAM-SHA-256 was among the mechanisms captured.
    Sasl {
        scram: bool,
    },
    SaslContinue,
    SaslFinal,
}

impl Authentication {
    /// Whether this message, seen alone, identifies PostgreSQL: the forms
    /// whose length is fixed by their code, and SASL naming SCRAM-SHA-256.
    pub fn is_distinctive(self) -> bool {
        matches!(
            self,
            Authentication::Ok
                | Authentication::CleartextPassword
                | Authentication::Md5Password
                | Authentication::Sasl { scram: true }
        )
    }
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    match bytes.get(at..at + 4) {
        Some(&[a, b, c, d]) => Some(u32::from_be_bytes([a, b, c, d])),
        _ => None,
    }
}

/// Parses the client's first message at the start of `bytes`.
pub fn parse_startup(bytes: &[u8]) -> Result<StartupKind, PostgresError> {
    let length = be32(bytes, 0).ok_or(PostgresError::CutShort { part: "length" })?;
    let code = be32(bytes, 4).ok_or(PostgresError::CutShort { part: "code" })?;
    let fixed = |kind, expected: u32| {
        if length == expected {
            Ok(kind)
        } else {
            Err(PostgresError::BadLength { length })
        }
    };
    match code {
        SSL_REQUEST => fixed(StartupKind::SslRequest, 8),
        GSSENC_REQUEST => fixed(StartupKind::GssEncRequest, 8),
        CANCEL_REQUEST => fixed(StartupKind::CancelRequest, 16),
        _ if code >> 16 == PROTOCOL_MAJOR && code & 0xffff <= MAX_PROTOCOL_MINOR => {
            // At least one parameter pair and the final NUL.
            if !(12..=MAX_STARTUP_LEN).contains(&length) {
                return Err(PostgresError::BadLength { length });
            }
            let end = bytes.len().min(length as usize);
            check_parameters(&bytes[8..end])?;
            Ok(StartupKind::Startup {
                major: (code >> 16) as u16,
                minor: (code & 0xffff) as u16,
            })
        }
        _ => Err(PostgresError::UnknownCode { code }),
    }
}

/// Checks the `name\0value\0...\0` pairs of a StartupMessage as far as
/// captured: at least the first name must be complete, every name is a
/// lowercase identifier (`user`, `database`, `application_name`,
/// `_pq_.<option>`) and every value text without control characters.
fn check_parameters(mut pairs: &[u8]) -> Result<(), PostgresError> {
    let mut first = true;
    loop {
        let Some(nul) = pairs.iter().position(|&b| b == 0) else {
            let partial_ok =
                !first && pairs.len() <= MAX_PARAMETER_NAME_LEN && is_name(pairs, true);
            return if partial_ok {
                Ok(())
            } else {
                Err(PostgresError::CutShort {
                    part: "parameter name",
                })
            };
        };
        let name = &pairs[..nul];
        if name.is_empty() {
            // The terminating NUL: only after at least one pair.
            return if first {
                Err(PostgresError::Malformed { part: "parameters" })
            } else {
                Ok(())
            };
        }
        if name.len() > MAX_PARAMETER_NAME_LEN || !is_name(name, false) {
            return Err(PostgresError::Malformed {
                part: "parameter name",
            });
        }
        first = false;
        let value = &pairs[nul + 1..];
        let value_len = value.iter().position(|&b| b == 0).unwrap_or(value.len());
        if value[..value_len].iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(PostgresError::Malformed {
                part: "parameter value",
            });
        }
        if value_len == value.len() {
            // The capture ended inside the value.
            return Ok(());
        }
        pairs = &value[value_len + 1..];
    }
}

/// A parameter name: lowercase letters, digits, '_' and '.', starting with
/// a letter or '_' (`partial` allows the empty start of a cut name).
fn is_name(name: &[u8], partial: bool) -> bool {
    let start_ok = match name.first() {
        Some(&b) => b.is_ascii_lowercase() || b == b'_',
        None => partial,
    };
    start_ok
        && name
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.'))
}

/// Whether `bytes` is the server's one-byte answer to an SSLRequest or
/// GSSENCRequest (`S` yes, `N` no, `G` for GSS).
pub fn is_encryption_response(bytes: &[u8]) -> bool {
    matches!(bytes, [b'S' | b'N' | b'G'])
}

/// Parses an Authentication message (`R`) at the start of `bytes`.
pub fn parse_authentication(bytes: &[u8]) -> Result<Authentication, PostgresError> {
    let Some((&b'R', rest)) = bytes.split_first() else {
        return Err(PostgresError::NotAuthentication);
    };
    let length = be32(rest, 0).ok_or(PostgresError::CutShort { part: "length" })?;
    let code = be32(rest, 4).ok_or(PostgresError::CutShort { part: "code" })?;
    if !(8..=MAX_AUTHENTICATION_LEN).contains(&length) {
        return Err(PostgresError::BadLength { length });
    }
    let exactly = |expected: u32, kind| {
        if length == expected {
            Ok(kind)
        } else {
            Err(PostgresError::BadLength { length })
        }
    };
    match code {
        0 => exactly(8, Authentication::Ok),
        2 => exactly(8, Authentication::KerberosV5),
        3 => exactly(8, Authentication::CleartextPassword),
        5 => exactly(12, Authentication::Md5Password),
        7 => exactly(8, Authentication::Gss),
        8 => Ok(Authentication::GssContinue),
        9 => exactly(8, Authentication::Sspi),
        10 => {
            let end = rest.len().min(length as usize);
            let mechanisms = rest.get(8..end).unwrap_or_default();
            let scram = mechanisms
                .split(|&b| b == 0)
                .any(|m| m == b"SCRAM-SHA-256" || m == b"SCRAM-SHA-256-PLUS");
            Ok(Authentication::Sasl { scram })
        }
        11 => Ok(Authentication::SaslContinue),
        12 => Ok(Authentication::SaslFinal),
        _ => Err(PostgresError::UnknownCode { code }),
    }
}

/// Whether `bytes` start with an ErrorResponse (`E`, a length, then a
/// field type letter), as a server sends to refuse a startup.
pub fn is_error_response(bytes: &[u8]) -> bool {
    let Some((&b'E', rest)) = bytes.split_first() else {
        return false;
    };
    be32(rest, 0).is_some_and(|length| (5..=65_536).contains(&length))
        && rest.get(4).is_some_and(u8::is_ascii_alphabetic)
}

#[cfg(test)]
#[path = "postgres_tests.rs"]
mod tests;
