//! Semantic checks: values of the right type that the server still cannot
//! run with, reported all at once with the path of the setting to change.

use std::path::Path;
use std::time::Duration;

use super::model::Config;
use crate::clickhouse::{is_identifier, BaseUrl};
use netmon_config::{Check, ConfigProblem, Model};

const MIN_MESSAGE_BYTES: usize = 1024;
/// tonic buffers a whole message; beyond this one request could take the
/// server's memory.
const MAX_MESSAGE_BYTES: usize = 1024 * 1024 * 1024;
/// ClickHouse makes a part per INSERT block; far more rows than this in one
/// INSERT only cost memory, on both sides.
const MAX_BATCH_ROWS: usize = 10_000_000;
const MAX_BATCH_DELAY: Duration = Duration::from_secs(3600);
const MIN_SPOOL_BYTES: u64 = 1024 * 1024;

impl Config {
    /// Every semantic problem of this configuration, in model order; empty
    /// when the server can run with it.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        netmon_config::problems(checks(self))
    }
}

impl Model for Config {
    fn checks(&self) -> Vec<Check> {
        checks(self)
    }
}

pub(crate) fn checks(config: &Config) -> Vec<Check> {
    let mut out = Vec::new();
    check_grpc(config, &mut out);
    check_clickhouse(config, &mut out);
    check_batching(config, &mut out);
    check_spool(config, &mut out);
    if config.metrics.address == config.grpc.address {
        out.push(
            Check::new(
                "metrics.address",
                format!("{} is also grpc.address", config.metrics.address),
            )
            .involving(&["grpc.address"]),
        );
    }
    out
}

fn check_grpc(config: &Config, out: &mut Vec<Check>) {
    let grpc = &config.grpc;
    if !(MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES).contains(&grpc.max_message_bytes) {
        out.push(Check::new(
            "grpc.max_message_bytes",
            format!(
                "must be from {MIN_MESSAGE_BYTES} to {MAX_MESSAGE_BYTES}, got {}",
                grpc.max_message_bytes
            ),
        ));
    }
    let tls = &grpc.tls;
    match (&tls.cert, &tls.key) {
        (Some(_), None) => out.push(
            Check::new("grpc.tls.key", "must be set when grpc.tls.cert is set")
                .involving(&["grpc.tls.cert"]),
        ),
        (None, Some(_)) => out.push(
            Check::new("grpc.tls.cert", "must be set when grpc.tls.key is set")
                .involving(&["grpc.tls.key"]),
        ),
        _ => {}
    }
    if tls.client_ca.is_some() && tls.cert.is_none() {
        out.push(
            Check::new(
                "grpc.tls.client_ca",
                "needs grpc.tls.cert and grpc.tls.key: client certificates are only asked for over TLS",
            )
            .involving(&["grpc.tls.cert"]),
        );
    }
    for (path, file) in [
        ("grpc.tls.cert", &tls.cert),
        ("grpc.tls.key", &tls.key),
        ("grpc.tls.client_ca", &tls.client_ca),
    ] {
        if let Some(message) = file.as_deref().and_then(unreadable) {
            out.push(Check::new(path, message));
        }
    }
}

/// Why `path` cannot be read as a file, if it cannot.
fn unreadable(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => std::fs::File::open(path)
            .err()
            .map(|error| format!("cannot read {}: {error}", path.display())),
        Ok(_) => Some(format!("{} is not a file", path.display())),
        Err(error) => Some(format!("cannot read {}: {error}", path.display())),
    }
}

fn check_clickhouse(config: &Config, out: &mut Vec<Check>) {
    let clickhouse = &config.clickhouse;
    if let Err(message) = BaseUrl::parse(&clickhouse.url) {
        out.push(Check::new("clickhouse.url", message));
    }
    for (path, name) in [
        ("clickhouse.database", &clickhouse.database),
        ("clickhouse.table", &clickhouse.table),
    ] {
        if !is_identifier(name) {
            out.push(Check::new(
                path,
                format!(
                    "{name:?} is not a plain identifier (letters, digits and '_', not starting with a digit)"
                ),
            ));
        }
    }
    if clickhouse.user.is_empty() {
        out.push(Check::new("clickhouse.user", "must not be empty"));
    }
    if clickhouse.timeout.is_zero() {
        out.push(Check::new("clickhouse.timeout", "must be greater than 0"));
    }
    if !clickhouse.retention.is_zero() && clickhouse.retention < Duration::from_secs(86_400) {
        out.push(Check::new(
            "clickhouse.retention",
            "must be 0s (keep forever) or at least 1d: rows expire by whole days",
        ));
    }
}

fn check_batching(config: &Config, out: &mut Vec<Check>) {
    let batching = &config.batching;
    if !(1..=MAX_BATCH_ROWS).contains(&batching.max_rows) {
        out.push(Check::new(
            "batching.max_rows",
            format!(
                "must be from 1 to {MAX_BATCH_ROWS}, got {}",
                batching.max_rows
            ),
        ));
    }
    if batching.max_delay > MAX_BATCH_DELAY {
        out.push(Check::new(
            "batching.max_delay",
            format!(
                "must be at most {}, got {}",
                humantime::format_duration(MAX_BATCH_DELAY),
                humantime::format_duration(batching.max_delay)
            ),
        ));
    }
    if config.queue.max_rows < batching.max_rows {
        out.push(
            Check::new(
                "queue.max_rows",
                format!(
                    "must be at least batching.max_rows ({} < {}), so that a full INSERT fits in memory",
                    config.queue.max_rows, batching.max_rows
                ),
            )
            .involving(&["batching.max_rows"]),
        );
    }
}

fn check_spool(config: &Config, out: &mut Vec<Check>) {
    let spool = &config.spool;
    if spool.dir.as_os_str().is_empty() {
        out.push(Check::new("spool.dir", "must not be empty"));
    }
    if spool.max_bytes < MIN_SPOOL_BYTES {
        out.push(Check::new(
            "spool.max_bytes",
            format!(
                "must be at least {MIN_SPOOL_BYTES}, got {}",
                spool.max_bytes
            ),
        ));
    } else if spool.max_bytes < config.grpc.max_message_bytes as u64 {
        out.push(
            Check::new(
                "spool.max_bytes",
                format!(
                    "must be at least grpc.max_message_bytes ({} < {}), or the largest accepted batch could never be spooled",
                    spool.max_bytes, config.grpc.max_message_bytes
                ),
            )
            .involving(&["grpc.max_message_bytes"]),
        );
    }
}
