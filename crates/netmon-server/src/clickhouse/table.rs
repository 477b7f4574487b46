//! The flow table as the sink uses it: make sure it exists, find which
//! batches are already in it, insert rows.

use std::collections::HashSet;
use std::sync::Arc;

use super::schema::{self, Features};
use super::{ClickHouseError, HttpClient};
use crate::calendar;
use crate::config::ClickHouseConfig;

/// `max_insert_block_size` floor. An INSERT is committed atomically per
/// block and partition only while it stays a single block, so every INSERT
/// asks for a block size above its row count.
const MIN_INSERT_BLOCK_ROWS: usize = 1_048_576;

/// A batch and the partitions (months) it has rows in, as stored.
pub type Inserted = HashSet<(Arc<str>, u32)>;

pub struct FlowTable {
    http: HttpClient,
    database: String,
    table: String,
    retention_days: u64,
}

impl FlowTable {
    pub fn new(config: &ClickHouseConfig) -> Result<FlowTable, ClickHouseError> {
        Ok(FlowTable {
            http: HttpClient::new(config)?,
            database: config.database.clone(),
            table: config.table.clone(),
            retention_days: config.retention.as_secs() / 86_400,
        })
    }

    pub fn name(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }

    /// Detects the server's features, creates the database and table when
    /// missing, and checks that an existing table takes our rows.
    pub async fn ensure_schema(&self) -> Result<Features, ClickHouseError> {
        let version = self.http.query("SELECT version()").await?;
        // Missing on very old servers: then no optional type is used.
        let families = self
            .http
            .query("SELECT name FROM system.data_type_families WHERE name IN ('LowCardinality', 'IPv6')")
            .await
            .unwrap_or_default();
        let families: Vec<&str> = families.lines().collect();
        let features = Features::detect(&version, &families)?;
        if self.retention_days > 0 && !features.ttl {
            tracing::warn!(
                version = version.trim(),
                retention_days = self.retention_days,
                "this ClickHouse has no TTL: clickhouse.retention is not applied"
            );
        }
        self.http
            .query(&schema::create_database(&self.database))
            .await?;
        self.http
            .query(&schema::create_table(
                &self.database,
                &self.table,
                &features,
                self.retention_days,
            ))
            .await?;
        let described = self
            .http
            .query(&schema::describe_columns(&self.database, &self.table))
            .await?;
        let problems = schema::column_problems(&described);
        if !problems.is_empty() {
            return Err(ClickHouseError::Schema {
                table: self.name(),
                problems: problems.join("; "),
            });
        }
        Ok(features)
    }

    /// Which of `batch_ids` already have rows in the table, per month,
    /// looking only at days `first_day..=last_day` (the batches' own days:
    /// the date leads the sorting key, so this reads only those days).
    pub async fn inserted(
        &self,
        batch_ids: &[Arc<str>],
        first_day: u16,
        last_day: u16,
    ) -> Result<Inserted, ClickHouseError> {
        if batch_ids.is_empty() {
            return Ok(Inserted::new());
        }
        // Batch ids were checked to be plain text (batch::check_batch_id),
        // so quoting them needs no escaping.
        let ids: Vec<String> = batch_ids.iter().map(|id| format!("'{id}'")).collect();
        let sql = format!(
            "SELECT batch_id, toYYYYMM(date) FROM {} WHERE date >= '{}' AND date <= '{}' AND batch_id IN ({}) GROUP BY batch_id, toYYYYMM(date) FORMAT TabSeparated",
            self.name(),
            calendar::date_text(first_day),
            calendar::date_text(last_day),
            ids.join(", ")
        );
        let answer = self.http.query(&sql).await?;
        answer
            .lines()
            .map(|line| {
                let parsed = line.split_once('\t').and_then(|(id, month)| {
                    let id = batch_ids.iter().find(|known| ***known == *id)?;
                    Some((Arc::clone(id), month.parse().ok()?))
                });
                parsed.ok_or_else(|| {
                    ClickHouseError::Response(format!("batch check answered {line:?}"))
                })
            })
            .collect()
    }

    /// One INSERT of `rows` RowBinary rows.
    pub async fn insert(&self, data: Vec<u8>, rows: usize) -> Result<(), ClickHouseError> {
        let statement = format!(
            "INSERT INTO {} ({}) FORMAT RowBinary",
            self.name(),
            schema::column_list()
        );
        let block_rows = (rows + 1).max(MIN_INSERT_BLOCK_ROWS);
        self.http
            .insert(
                &statement,
                &[("max_insert_block_size", block_rows.to_string())],
                data,
            )
            .await
    }
}
