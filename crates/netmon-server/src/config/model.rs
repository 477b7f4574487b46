//! The configuration model: what each setting is, its type and its default.
//!
//! Every struct is `deny_unknown_fields` and `default`, so a partial file is
//! filled from the defaults below and a misspelt key is never silently
//! ignored. The loader walks the serialized default to learn the key tree, so
//! adding a field here makes it loadable from the file, the environment and
//! `--check-config` at once.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use netmon_config::parsed::duration_text;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The whole server configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The gRPC listener agents send batches to.
    pub grpc: GrpcConfig,
    /// Where batches are inserted.
    pub clickhouse: ClickHouseConfig,
    /// How accepted batches are grouped into INSERTs.
    pub batching: BatchingConfig,
    /// Accepted rows kept in memory on their way to ClickHouse.
    pub queue: QueueConfig,
    /// The on-disk log every accepted batch is written to before it is
    /// acknowledged.
    pub spool: SpoolConfig,
    /// The Prometheus listener.
    pub metrics: MetricsConfig,
    /// Logging.
    pub log: LogConfig,
}

/// `grpc.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// Address and port of the gRPC listener.
    #[serde(deserialize_with = "parsed::socket_addr")]
    pub address: SocketAddr,
    /// Largest accepted request, in bytes (after decompression); larger
    /// ones are answered RESOURCE_EXHAUSTED.
    pub max_message_bytes: usize,
    /// TLS for the listener; plaintext when `cert` is unset.
    pub tls: TlsConfig,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            address: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9095)),
            max_message_bytes: 16 * 1024 * 1024,
            tls: TlsConfig::default(),
        }
    }
}

/// `grpc.tls.*`: PEM files. `cert` and `key` turn TLS on; `client_ca`
/// also requires every client to present a certificate it signed (mTLS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub client_ca: Option<PathBuf>,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.cert.is_some() || self.key.is_some()
    }
}

/// `clickhouse.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// Base URL of ClickHouse's HTTP interface (`http://host:8123`).
    pub url: String,
    /// Created when missing.
    pub database: String,
    /// Created when missing.
    pub table: String,
    pub user: String,
    /// Printed as `<redacted>`; best given as `NETMON_SERVER_CLICKHOUSE_PASSWORD`
    /// from a Kubernetes secret.
    pub password: Secret,
    /// Limit for one request (an INSERT, a check, a schema statement);
    /// an INSERT that times out is checked for before it is retried.
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    /// Rows older than this are deleted by ClickHouse (TTL on the date
    /// column); 0s keeps them forever. Needs ClickHouse 19.6 or newer: older
    /// servers keep every row and the server logs that it could not apply it.
    #[serde(with = "duration_text")]
    pub retention: Duration,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".to_owned(),
            database: "netmon".to_owned(),
            table: "flows".to_owned(),
            user: "default".to_owned(),
            password: Secret::default(),
            timeout: Duration::from_secs(10),
            retention: Duration::ZERO,
        }
    }
}

/// `batching.*`: an INSERT goes out when `max_rows` rows are waiting or
/// the oldest waiting row has waited `max_delay`, whichever comes first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchingConfig {
    /// Most rows in one INSERT (a single agent batch larger than this is
    /// still inserted whole: a batch is never split).
    pub max_rows: usize,
    #[serde(with = "duration_text")]
    pub max_delay: Duration,
}

impl Default for BatchingConfig {
    fn default() -> Self {
        Self {
            max_rows: 50_000,
            max_delay: Duration::from_secs(1),
        }
    }
}

/// `queue.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Rows held in memory while waiting for ClickHouse. Beyond it,
    /// accepted batches are only in the spool and are read back from disk
    /// when their turn comes.
    pub max_rows: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self { max_rows: 500_000 }
    }
}

/// `spool.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Directory of the segment files; created when missing. One server
    /// per directory (it is locked).
    pub dir: PathBuf,
    /// Most bytes of batches not yet in ClickHouse; when full, agents are
    /// answered UNAVAILABLE and keep their batches.
    pub max_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("/var/lib/netmon-server/spool"),
            max_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// `metrics.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address and port serving `/metrics` and `/healthz`.
    #[serde(deserialize_with = "parsed::socket_addr")]
    pub address: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            address: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9096)),
        }
    }
}

/// `log.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub level: LogLevel,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// A value that is never printed: `--check-config`, logs and `Debug` show
/// `<redacted>` for a set value and `""` for an empty one.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

/// What a set secret is shown as.
pub const REDACTED: &str = "<redacted>";

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn shown(&self) -> &str {
        if self.0.is_empty() {
            ""
        } else {
            REDACTED
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.shown())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.shown())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

impl Config {
    /// The configuration as YAML, secrets redacted: what `--check-config`
    /// and `--print-default-config` print.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self)
            .expect("the model has only string keys and plain values, which always serialize")
    }
}

/// The server's address settings, with examples of its own ports.
mod parsed {
    use std::net::SocketAddr;

    use serde::de::Deserializer;

    pub fn socket_addr<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
        netmon_config::parsed::from_text(
            deserializer,
            "an address and port such as 0.0.0.0:9095 or [::]:9095",
            |text| text.parse().ok(),
        )
    }
}
