//! Redis RESP (the Redis serialization protocol): commands from the client
//! and the first line of replies.
//!
//! Clients (redis-cli, every client library) send each command as an array
//! of bulk strings, `*<n>\r\n$<len>\r\n<COMMAND>\r\n...`; that prefix, with
//! an alphabetic command name of the declared length, is what identifies
//! Redis. Inline commands (`PING\r\n`, typed over telnet or sent by health
//! checks) are accepted only for a few names no other line protocol uses
//! first: `QUIT`, `AUTH` or `HELO`-like words would mistake SMTP, POP3 or
//! FTP for Redis. Replies are too generic to identify Redis on their own
//! (`+OK` is also POP3), so they only confirm a connection already known
//! to be Redis.

use thiserror::Error;

/// Inline commands recognised (case-insensitive, as Redis reads them).
const INLINE_COMMANDS: [&str; 4] = ["PING", "INFO", "DBSIZE", "MONITOR"];
/// Most elements in a command array (Redis' own limit is far higher, but a
/// real command's first segment never declares more).
const MAX_ARRAY_LEN: u64 = 1 << 20;
/// Longest command name (the longest Redis command is 22 bytes; modules
/// add dotted names such as `JSON.ARRAPPEND`).
const MAX_COMMAND_LEN: u64 = 32;
/// Longest line read when looking for a line ending.
const MAX_LINE_LEN: usize = 512;

/// Why bytes are not a Redis command or reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RedisError {
    #[error("not RESP")]
    NotResp,
    /// Too little was captured to tell.
    #[error("the capture ended before the {part}")]
    CutShort { part: &'static str },
    #[error("malformed {part}")]
    Malformed { part: &'static str },
}

/// A recognised command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisCommand {
    /// The command name, uppercased (`PING`, `SET`, `JSON.SET`).
    pub name: String,
    /// Sent inline rather than as a RESP array.
    pub inline: bool,
}

/// Parses the command at the start of `bytes` (client to server).
pub fn parse_command(bytes: &[u8]) -> Result<RedisCommand, RedisError> {
    let Some(rest) = bytes.strip_prefix(b"*") else {
        return parse_inline(bytes);
    };
    let (count, rest) = number_line(rest, "array length")?;
    if !(1..=MAX_ARRAY_LEN).contains(&count) {
        return Err(RedisError::Malformed {
            part: "array length",
        });
    }
    let rest = rest.strip_prefix(b"$").ok_or(if rest.is_empty() {
        RedisError::CutShort { part: "command" }
    } else {
        RedisError::Malformed { part: "command" }
    })?;
    let (len, rest) = number_line(rest, "command length")?;
    if !(1..=MAX_COMMAND_LEN).contains(&len) {
        return Err(RedisError::Malformed {
            part: "command length",
        });
    }
    let len = len as usize;
    let name = rest
        .get(..len)
        .ok_or(RedisError::CutShort { part: "command" })?;
    if !is_command_name(name) {
        return Err(RedisError::Malformed { part: "command" });
    }
    let after = &rest[len..];
    let n = after.len().min(2);
    if after[..n] != b"\r\n"[..n] {
        return Err(RedisError::Malformed { part: "command" });
    }
    Ok(RedisCommand {
        name: String::from_utf8_lossy(name).to_ascii_uppercase(),
        inline: false,
    })
}

/// An inline command: one of [`INLINE_COMMANDS`], optional arguments, a
/// line ending.
fn parse_inline(bytes: &[u8]) -> Result<RedisCommand, RedisError> {
    let line_len = bytes
        .iter()
        .take(MAX_LINE_LEN)
        .position(|&b| b == b'\n')
        .ok_or(RedisError::NotResp)?;
    let line = bytes[..line_len]
        .strip_suffix(b"\r")
        .unwrap_or(&bytes[..line_len]);
    let word_len = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let word = &line[..word_len];
    let command = INLINE_COMMANDS
        .into_iter()
        .find(|c| c.as_bytes().eq_ignore_ascii_case(word))
        .ok_or(RedisError::NotResp)?;
    if !line.iter().all(|&b| b == b' ' || b.is_ascii_graphic()) {
        return Err(RedisError::Malformed {
            part: "inline command",
        });
    }
    Ok(RedisCommand {
        name: command.to_string(),
        inline: true,
    })
}

/// A command name: a letter, then letters, digits, '.', '_', '-' or '|'.
fn is_command_name(name: &[u8]) -> bool {
    name.first().is_some_and(u8::is_ascii_alphabetic)
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'|'))
}

/// A decimal number (at most 10 digits) ended by CRLF; the number and the
/// bytes after the CRLF.
fn number_line<'a>(bytes: &'a [u8], part: &'static str) -> Result<(u64, &'a [u8]), RedisError> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 10 {
        return Err(if bytes.is_empty() {
            RedisError::CutShort { part }
        } else {
            RedisError::Malformed { part }
        });
    }
    let value = bytes[..digits]
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    match &bytes[digits..] {
        [b'\r', b'\n', rest @ ..] => Ok((value, rest)),
        [] | [b'\r'] => Err(RedisError::CutShort { part }),
        _ => Err(RedisError::Malformed { part }),
    }
}

/// Whether `bytes` start with a well-formed reply line (server to client):
/// RESP2 `+ - : $ *` or a RESP3 type, its first line complete.
pub fn is_reply(bytes: &[u8]) -> bool {
    let Some((&kind, rest)) = bytes.split_first() else {
        return false;
    };
    let Some(line_len) = rest.iter().take(MAX_LINE_LEN).position(|&b| b == b'\r') else {
        return false;
    };
    if rest.get(line_len + 1) != Some(&b'\n') {
        return false;
    }
    let line = &rest[..line_len];
    let integer = |line: &[u8]| {
        let digits = line.strip_prefix(b"-").unwrap_or(line);
        (1..=20).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit)
    };
    match kind {
        // Simple string, error, double.
        b'+' | b'-' | b',' => line.iter().all(|&b| b == b' ' || b.is_ascii_graphic()),
        // Integer, big number, and the aggregate and blob types' lengths.
        b':' | b'(' | b'$' | b'*' | b'%' | b'~' | b'>' | b'!' | b'=' | b'|' => integer(line),
        // Null, boolean.
        b'_' => line.is_empty(),
        b'#' => line == b"t" || line == b"f",
        _ => false,
    }
}

#[cfg(test)]
#[path = "redis_tests.rs"]
mod tests;
