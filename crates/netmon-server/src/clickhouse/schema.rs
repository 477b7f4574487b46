//! The flow table: its columns, and the DDL for the server at hand.
//!
//! Newer ClickHouse features (LowCardinality, the IPv6 type, codecs, TTL)
//! are used only when the server has them; otherwise the column falls back
//! to a type with the same RowBinary encoding (`String` for
//! `LowCardinality(String)`, `FixedString(16)` for `IPv6`), so the row
//! encoder is the same on every server.

use super::ClickHouseError;

/// How a column is typed, before the server's features are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Date,
    DateTime,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    /// An UInt64 summed by the engine (and compressed harder).
    Counter,
    /// A string with few distinct values (names).
    Name,
    /// IPv6 or IPv4-mapped IPv4, 16 bytes.
    Ip,
    /// A string with many distinct values.
    Text,
}

/// Every column in table and RowBinary order.
pub const COLUMNS: &[(&str, Kind)] = &[
    ("date", Kind::Date),
    ("interval_start", Kind::DateTime),
    ("interval_seconds", Kind::UInt32),
    ("node", Kind::Name),
    ("direction", Kind::Name),
    ("protocol", Kind::UInt8),
    ("status", Kind::Name),
    ("ip_version", Kind::UInt8),
    ("src_ip", Kind::Ip),
    ("src_port", Kind::UInt16),
    ("src_pod", Kind::Name),
    ("src_namespace", Kind::Name),
    ("src_workload", Kind::Name),
    ("src_service", Kind::Name),
    ("src_node", Kind::Name),
    ("dst_ip", Kind::Ip),
    ("dst_port", Kind::UInt16),
    ("dst_pod", Kind::Name),
    ("dst_namespace", Kind::Name),
    ("dst_workload", Kind::Name),
    ("dst_service", Kind::Name),
    ("dst_node", Kind::Name),
    ("tx_bytes", Kind::Counter),
    ("tx_packets", Kind::Counter),
    ("rx_bytes", Kind::Counter),
    ("rx_packets", Kind::Counter),
    ("connect_latency_us", Kind::UInt64),
    ("rtt_us", Kind::UInt64),
    ("retransmits", Kind::Counter),
    ("batch_id", Kind::Text),
];

/// The sorting (and summing) key. `batch_id` closes it so that merges only
/// ever combine rows of one batch: a batch's rows stay findable by its id,
/// which is what makes the "already inserted?" check sound (docs/server.md).
pub const ORDER_BY: &[&str] = &[
    "date",
    "interval_start",
    "node",
    "direction",
    "protocol",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "batch_id",
];

/// What the connected server supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    pub version: (u32, u32),
    pub low_cardinality: bool,
    pub ipv6_type: bool,
    pub codecs: bool,
    pub ttl: bool,
}

impl Features {
    /// From `SELECT version()` and the type names in
    /// `system.data_type_families`. LowCardinality exists in 18.x but only
    /// as an experimental type, hence the version bound as well.
    pub fn detect(version: &str, type_families: &[&str]) -> Result<Features, ClickHouseError> {
        let mut parts = version.trim().split('.').map(str::parse::<u32>);
        let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
            return Err(ClickHouseError::Response(format!(
                "cannot read the server version from {version:?}"
            )));
        };
        let at_least = |wanted: (u32, u32)| (major, minor) >= wanted;
        let has_type = |name: &str| type_families.contains(&name);
        Ok(Features {
            version: (major, minor),
            low_cardinality: has_type("LowCardinality") && at_least((19, 9)),
            ipv6_type: has_type("IPv6"),
            codecs: at_least((19, 11)),
            ttl: at_least((19, 6)),
        })
    }

    fn column_type(&self, kind: Kind) -> String {
        let base = match kind {
            Kind::Date => "Date",
            Kind::DateTime => "DateTime",
            Kind::UInt8 => "UInt8",
            Kind::UInt16 => "UInt16",
            Kind::UInt32 => "UInt32",
            Kind::UInt64 | Kind::Counter => "UInt64",
            Kind::Name if self.low_cardinality => "LowCardinality(String)",
            Kind::Name | Kind::Text => "String",
            Kind::Ip if self.ipv6_type => "IPv6",
            Kind::Ip => "FixedString(16)",
        };
        let codec = match kind {
            _ if !self.codecs => "",
            Kind::Date | Kind::DateTime => " CODEC(Delta, ZSTD(1))",
            Kind::Counter | Kind::UInt64 | Kind::Text => " CODEC(ZSTD(1))",
            _ => "",
        };
        format!("{base}{codec}")
    }
}

/// Whether a column of type `actual` (as `system.columns` shows it) takes
/// the RowBinary this server writes for `kind`.
fn compatible(kind: Kind, actual: &str) -> bool {
    let expected: &[&str] = match kind {
        Kind::Date => &["Date"],
        Kind::DateTime => &["DateTime"],
        Kind::UInt8 => &["UInt8"],
        Kind::UInt16 => &["UInt16"],
        Kind::UInt32 => &["UInt32"],
        Kind::UInt64 | Kind::Counter => &["UInt64"],
        Kind::Name | Kind::Text => &["String", "LowCardinality(String)"],
        Kind::Ip => &["FixedString(16)", "IPv6"],
    };
    expected.contains(&actual)
}

/// `CREATE DATABASE IF NOT EXISTS`.
pub fn create_database(database: &str) -> String {
    format!("CREATE DATABASE IF NOT EXISTS {database}")
}

/// `CREATE TABLE IF NOT EXISTS` for `features`; `retention_days` 0 means no TTL.
pub fn create_table(
    database: &str,
    table: &str,
    features: &Features,
    retention_days: u64,
) -> String {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(name, kind)| format!("    {name} {}", features.column_type(*kind)))
        .collect();
    let summed: Vec<&str> = COLUMNS
        .iter()
        .filter(|(_, kind)| *kind == Kind::Counter)
        .map(|(name, _)| *name)
        .collect();
    let ttl = if features.ttl && retention_days > 0 {
        format!("\nTTL date + toIntervalDay({retention_days})")
    } else {
        String::new()
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {database}.{table} (\n{}\n) ENGINE = SummingMergeTree(({}))\nPARTITION BY toYYYYMM(date)\nORDER BY ({}){ttl}",
        columns.join(",\n"),
        summed.join(", "),
        ORDER_BY.join(", ")
    )
}

/// The query listing the table's columns, answered as `name\ttype` lines.
pub fn describe_columns(database: &str, table: &str) -> String {
    format!(
        "SELECT name, type FROM system.columns WHERE database = '{database}' AND table = '{table}' FORMAT TabSeparated"
    )
}

/// Problems of an existing table (from [`describe_columns`]) that would make
/// inserts fail, one per column; empty when every column is usable.
pub fn column_problems(described: &str) -> Vec<String> {
    let actual: Vec<(&str, &str)> = described
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .collect();
    COLUMNS
        .iter()
        .filter_map(
            |(name, kind)| match actual.iter().find(|(column, _)| column == name) {
                None => Some(format!("column {name} is missing")),
                Some((_, found)) if !compatible(*kind, found) => Some(format!(
                    "column {name} is {found}, which cannot take this server's rows"
                )),
                Some(_) => None,
            },
        )
        .collect()
}

/// The column list of every INSERT, in RowBinary order.
pub fn column_list() -> String {
    COLUMNS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clickhouse_18_16_gets_plain_strings_fixed_strings_and_no_codecs_or_ttl() {
        let features = Features::detect("18.16.1", &["LowCardinality", "String"]).unwrap();
        assert_eq!(
            features,
            Features {
                version: (18, 16),
                low_cardinality: false,
                ipv6_type: false,
                codecs: false,
                ttl: false
            }
        );
        let ddl = create_table("netmon", "flows", &features, 30);
        assert!(ddl.contains("    node String,\n"), "{ddl}");
        assert!(ddl.contains("    src_ip FixedString(16),\n"), "{ddl}");
        assert!(!ddl.contains("CODEC") && !ddl.contains("TTL") && !ddl.contains("LowCardinality"));
        assert!(ddl.contains(
            "ENGINE = SummingMergeTree((tx_bytes, tx_packets, rx_bytes, rx_packets, retransmits))"
        ));
        assert!(ddl.ends_with(
            "ORDER BY (date, interval_start, node, direction, protocol, src_ip, src_port, dst_ip, dst_port, batch_id)"
        ));
    }

    #[test]
    fn a_modern_server_gets_low_cardinality_ipv6_codecs_and_ttl() {
        let features = Features::detect("23.8.2.7", &["LowCardinality", "IPv6"]).unwrap();
        let ddl = create_table("netmon", "flows", &features, 30);
        assert!(ddl.contains("    node LowCardinality(String),\n"), "{ddl}");
        assert!(ddl.contains("    src_ip IPv6,\n"), "{ddl}");
        assert!(
            ddl.contains("    tx_bytes UInt64 CODEC(ZSTD(1)),\n"),
            "{ddl}"
        );
        assert!(ddl.ends_with("\nTTL date + toIntervalDay(30)"), "{ddl}");
    }

    #[test]
    fn an_unreadable_version_is_an_error_not_a_guess() {
        assert!(Features::detect("unknown", &[]).is_err());
    }

    #[test]
    fn an_existing_table_is_usable_when_every_column_takes_the_same_encoding() {
        let ours: String = COLUMNS
            .iter()
            .map(|(name, kind)| {
                let found = match kind {
                    Kind::Ip => "IPv6".to_owned(),
                    Kind::Name => "LowCardinality(String)".to_owned(),
                    other => Features::detect("18.16", &[]).unwrap().column_type(*other),
                };
                format!("{name}\t{found}\n")
            })
            .collect();
        assert_eq!(column_problems(&ours), Vec::<String>::new());
        let spoilt = ours
            .replace("tx_bytes\tUInt64", "tx_bytes\tUInt32")
            .replace("batch_id\tString\n", "");
        assert_eq!(
            column_problems(&spoilt),
            [
                "column tx_bytes is UInt32, which cannot take this server's rows",
                "column batch_id is missing"
            ]
        );
    }
}
