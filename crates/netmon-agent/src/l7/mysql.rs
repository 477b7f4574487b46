//! MySQL and MariaDB client/server protocol: the server's greeting
//! (Protocol::HandshakeV10) and the client's first packets.
//!
//! The server speaks first: a packet with sequence id 0 whose payload
//! starts with protocol version 10 and the NUL-terminated server version
//! (`8.0.36`, `5.5.5-10.11.6-MariaDB`). That greeting identifies MySQL and
//! gives the version. The client's packets (its handshake response, an SSL
//! request, later commands) have no distinctive start of their own, so they
//! only confirm a connection whose greeting was already seen.
//!
//! Every packet starts with a 3-byte little-endian payload length and a
//! sequence id.

use thiserror::Error;

/// Bytes in a packet header.
pub const PACKET_HEADER_LEN: usize = 4;
const PROTOCOL_VERSION: u8 = 10;
/// Longest server version kept.
const MAX_VERSION_LEN: usize = 64;
/// Longest plausible greeting payload (real ones are 70 to 120 bytes).
const MAX_GREETING_LEN: usize = 1024;
/// Protocol version, NUL, connection id (4), auth data (8), filler (1).
const GREETING_FIXED_LEN: usize = 15;
/// CLIENT_PROTOCOL_41, which every client since MySQL 4.1 sets.
const CLIENT_PROTOCOL_41: u32 = 0x0200;
/// Capabilities (4), max packet size (4), character set (1).
const RESPONSE_FILLER_OFFSET: usize = 9;
const RESPONSE_FILLER_LEN: usize = 23;
/// Highest command code (COM_RESET_CONNECTION is 0x1f).
const MAX_COMMAND: u8 = 0x1f;

/// Why bytes are not the packet looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MysqlError {
    #[error("the capture ended before the {part}")]
    CutShort { part: &'static str },
    #[error("malformed {part}")]
    Malformed { part: &'static str },
    #[error("protocol version {version} is not 10")]
    BadProtocolVersion { version: u8 },
    #[error("sequence id {sequence_id} is not {expected}")]
    BadSequence { sequence_id: u8, expected: u8 },
}

/// The server greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// Printable ASCII, starting with a digit, at most 64 bytes.
    pub server_version: String,
    /// The connection (thread) id, when captured.
    pub connection_id: Option<u32>,
}

/// The packet header: payload length and sequence id.
fn header(bytes: &[u8]) -> Result<(usize, u8), MysqlError> {
    let [l1, l2, l3, sequence_id, ..] = *bytes else {
        return Err(MysqlError::CutShort {
            part: "packet header",
        });
    };
    let len = usize::from(l1) | usize::from(l2) << 8 | usize::from(l3) << 16;
    Ok((len, sequence_id))
}

/// Parses the server greeting at the start of `bytes`.
pub fn parse_greeting(bytes: &[u8]) -> Result<Greeting, MysqlError> {
    let (len, sequence_id) = header(bytes)?;
    if sequence_id != 0 {
        return Err(MysqlError::BadSequence {
            sequence_id,
            expected: 0,
        });
    }
    let payload = &bytes[PACKET_HEADER_LEN..bytes.len().min(PACKET_HEADER_LEN + len)];
    let (&version, rest) = payload.split_first().ok_or(MysqlError::CutShort {
        part: "protocol version",
    })?;
    if version != PROTOCOL_VERSION {
        return Err(MysqlError::BadProtocolVersion { version });
    }
    let nul = rest
        .iter()
        .take(MAX_VERSION_LEN + 1)
        .position(|&b| b == 0)
        .ok_or(if rest.len() <= MAX_VERSION_LEN {
            MysqlError::CutShort {
                part: "server version",
            }
        } else {
            MysqlError::Malformed {
                part: "server version",
            }
        })?;
    let server_version = &rest[..nul];
    let valid = server_version.first().is_some_and(u8::is_ascii_digit)
        && server_version
            .iter()
            .all(|&b| b == b' ' || b.is_ascii_graphic());
    if !valid || !(nul + GREETING_FIXED_LEN..=MAX_GREETING_LEN).contains(&len) {
        return Err(MysqlError::Malformed {
            part: "server version",
        });
    }
    let after = &rest[nul + 1..];
    // The filler after the first 8 bytes of auth data is always 0.
    if after.get(12).is_some_and(|&filler| filler != 0) {
        return Err(MysqlError::Malformed { part: "filler" });
    }
    let connection_id = after
        .get(..4)
        .map(|id| u32::from_le_bytes([id[0], id[1], id[2], id[3]]));
    Ok(Greeting {
        server_version: real_version(&String::from_utf8_lossy(server_version)).to_owned(),
        connection_id,
    })
}

/// MariaDB before 11 greets with "5.5.5-" in front of its version, so that
/// old MySQL replication clients accept it; `SELECT VERSION()` and the
/// operator know the version without it.
fn real_version(greeting: &str) -> &str {
    match greeting.strip_prefix("5.5.5-") {
        Some(rest) if rest.contains("MariaDB") => rest,
        _ => greeting,
    }
}

/// Whether `bytes` start with the client's handshake response or SSL
/// request (sequence id 1, CLIENT_PROTOCOL_41, 23 zero bytes of filler as
/// far as captured).
pub fn is_client_handshake(bytes: &[u8]) -> bool {
    let Ok((len, 1)) = header(bytes) else {
        return false;
    };
    let payload = &bytes[PACKET_HEADER_LEN..bytes.len().min(PACKET_HEADER_LEN + len)];
    let Some(&[c1, c2, c3, c4]) = payload.get(..4) else {
        return false;
    };
    let capabilities = u32::from_le_bytes([c1, c2, c3, c4]);
    let mut filler = payload
        .iter()
        .skip(RESPONSE_FILLER_OFFSET)
        .take(RESPONSE_FILLER_LEN);
    len >= RESPONSE_FILLER_OFFSET + RESPONSE_FILLER_LEN
        && capabilities & CLIENT_PROTOCOL_41 != 0
        && filler.all(|&b| b == 0)
}

/// Whether `bytes` start with a command packet (sequence id 0, a known
/// command code).
pub fn is_command(bytes: &[u8]) -> bool {
    matches!(header(bytes), Ok((len, 0)) if len >= 1)
        && bytes
            .get(PACKET_HEADER_LEN)
            .is_some_and(|&command| command <= MAX_COMMAND)
}

/// Whether `bytes` start with a server response packet after the
/// greeting: OK (0x00), ERR (0xff), EOF or auth switch (0xfe), or auth
/// more data (0x01).
pub fn is_server_response(bytes: &[u8]) -> bool {
    matches!(header(bytes), Ok((len, _)) if len >= 1)
        && bytes
            .get(PACKET_HEADER_LEN)
            .is_some_and(|b| matches!(b, 0x00 | 0x01 | 0xfe | 0xff))
}

#[cfg(test)]
#[path = "mysql_tests.rs"]
mod tests;
