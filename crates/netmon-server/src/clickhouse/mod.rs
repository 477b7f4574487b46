//! ClickHouse: the flow table's schema, RowBinary inserts over HTTP, and the
//! check for batches already inserted.

mod http;
mod rowbinary;
mod schema;
mod table;

use std::time::Duration;

use thiserror::Error;

pub use http::{BaseUrl, HttpClient};
pub use rowbinary::encode_row;
pub use schema::{Features, COLUMNS, ORDER_BY};
pub use table::{FlowTable, Inserted};

/// A failed exchange with ClickHouse. Whether an INSERT that failed took
/// effect is unknown for every variant (a timeout may hide a commit), so the
/// sink treats them alike: check for the batch, then retry.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClickHouseError {
    #[error("clickhouse.url: {0}")]
    Config(String),
    #[error("cannot reach ClickHouse: {0}")]
    Transport(String),
    #[error("no answer from ClickHouse within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("ClickHouse answered HTTP {status}: {message}")]
    Server { status: u16, message: String },
    #[error("unexpected answer from ClickHouse: {0}")]
    Response(String),
    #[error("table {table} cannot be used: {problems}")]
    Schema { table: String, problems: String },
}

/// Whether `name` can be used unquoted as a database or table name.
pub fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_letters_digits_and_underscores_not_starting_with_a_digit() {
        for good in ["netmon", "flows_v1", "_x"] {
            assert!(is_identifier(good), "{good}");
        }
        for bad in ["", "1flows", "net-mon", "a.b", "x y", "a`b"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }
}
