//! A batch as the server handles it: an agent's `ExportRequest` checked
//! field by field and turned into table rows.
//!
//! The same conversion runs when a batch arrives and when it is read back
//! from the spool, so a spooled batch is inserted exactly as it would have
//! been from memory.

use std::sync::Arc;

use netmon_proto::flows::v1::{Direction, Endpoint, ExportRequest, FlowRecord, FlowStatus};
use thiserror::Error;

use crate::calendar;

/// Longest accepted `batch_id`; agents use `<node>-<boot ns>-<sequence>`.
pub const MAX_BATCH_ID_LEN: usize = 200;
/// Longest accepted name (pod, namespace, ...): Kubernetes names are at
/// most 253 bytes.
const MAX_NAME_LEN: usize = 253;
/// `DateTime` is an unsigned 32-bit count of seconds.
const MAX_INTERVAL_START_SECONDS: u64 = u32::MAX as u64;
const IPV4_MAPPED_PREFIX: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/// Why a request cannot be accepted; the text names the field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    #[error("batch_id: must not be empty")]
    EmptyBatchId,
    #[error(
        "batch_id: {0:?} must be at most {MAX_BATCH_ID_LEN} characters from A-Z a-z 0-9 . _ : -"
    )]
    BadBatchId(String),
    #[error("agent_id: must not be empty")]
    EmptyAgentId,
    #[error("records[{index}].{field}: {message}")]
    BadRecord {
        index: usize,
        field: &'static str,
        message: String,
    },
}

/// One end of a connection, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndRow {
    /// IPv6, or IPv4-mapped IPv4; all zeros when unknown.
    pub ip: [u8; 16],
    pub port: u16,
    pub pod: String,
    pub namespace: String,
    pub workload: String,
    pub service: String,
    pub node: String,
}

/// One table row: one connection's counters over one interval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowRow {
    /// Days since 1970-01-01 (UTC), ClickHouse's `Date`.
    pub date: u16,
    /// Seconds since the epoch, ClickHouse's `DateTime`.
    pub interval_start: u32,
    pub interval_seconds: u32,
    pub node: String,
    pub direction: &'static str,
    pub protocol: u8,
    pub status: &'static str,
    pub ip_version: u8,
    pub src: EndRow,
    pub dst: EndRow,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub connect_latency_us: u64,
    pub rtt_us: u64,
    pub retransmits: u64,
}

impl FlowRow {
    /// The row's partition (`toYYYYMM(date)`): the unit in which ClickHouse
    /// commits part of an INSERT.
    pub fn month(&self) -> u32 {
        calendar::year_month(self.date)
    }
}

/// A checked batch: its id and its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub batch_id: Arc<str>,
    pub rows: Vec<FlowRow>,
}

impl Batch {
    /// Checks every field of `request` (not `schema_version`: the service
    /// answers that one first) and converts its records.
    pub fn from_request(request: &ExportRequest) -> Result<Batch, BatchError> {
        check_batch_id(&request.batch_id)?;
        if request.agent_id.is_empty() {
            return Err(BatchError::EmptyAgentId);
        }
        let rows = request
            .records
            .iter()
            .enumerate()
            .map(|(index, record)| row(index, record))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Batch {
            batch_id: Arc::from(request.batch_id.as_str()),
            rows,
        })
    }
}

/// Batch ids go into SQL text and tab-separated answers, so only characters
/// that need no quoting in either are allowed.
pub fn check_batch_id(batch_id: &str) -> Result<(), BatchError> {
    if batch_id.is_empty() {
        return Err(BatchError::EmptyBatchId);
    }
    let plain = batch_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if !plain || batch_id.len() > MAX_BATCH_ID_LEN {
        return Err(BatchError::BadBatchId(batch_id.to_owned()));
    }
    Ok(())
}

fn row(index: usize, record: &FlowRecord) -> Result<FlowRow, BatchError> {
    let bad = |field: &'static str, message: String| BatchError::BadRecord {
        index,
        field,
        message,
    };
    let start_seconds = record.interval_start_unix_ns / 1_000_000_000;
    if start_seconds == 0 {
        return Err(bad(
            "interval_start_unix_ns",
            "must be set (nanoseconds since the UNIX epoch)".to_owned(),
        ));
    }
    if start_seconds > MAX_INTERVAL_START_SECONDS {
        return Err(bad(
            "interval_start_unix_ns",
            format!(
                "{} is after 2106-02-07, the end of ClickHouse's DateTime",
                record.interval_start_unix_ns
            ),
        ));
    }
    let protocol = u8::try_from(record.protocol).map_err(|_| {
        bad(
            "protocol",
            format!("{} is not an IP protocol number (0-255)", record.protocol),
        )
    })?;
    let ip_version = match record.ip_version {
        4 => 4,
        6 => 6,
        other => return Err(bad("ip_version", format!("must be 4 or 6, got {other}"))),
    };
    let check_name = |field: &'static str, value: &str| {
        if value.len() > MAX_NAME_LEN {
            Err(bad(
                field,
                format!("is {} bytes, more than {MAX_NAME_LEN}", value.len()),
            ))
        } else {
            Ok(value.to_owned())
        }
    };
    let src = end_row(index, "src", record.src.as_ref())?;
    let dst = end_row(index, "dst", record.dst.as_ref())?;
    Ok(FlowRow {
        date: calendar::day_number(start_seconds),
        interval_start: start_seconds as u32,
        interval_seconds: record.interval_seconds,
        node: check_name("node", &record.node)?,
        direction: direction_name(record.direction),
        protocol,
        status: status_name(record.status),
        ip_version,
        src,
        dst,
        tx_bytes: record.tx_bytes,
        tx_packets: record.tx_packets,
        rx_bytes: record.rx_bytes,
        rx_packets: record.rx_packets,
        connect_latency_us: record.connect_latency_us,
        rtt_us: record.rtt_us,
        retransmits: record.retransmits,
    })
}

fn end_row(
    index: usize,
    end: &'static str,
    endpoint: Option<&Endpoint>,
) -> Result<EndRow, BatchError> {
    let Some(endpoint) = endpoint else {
        return Ok(EndRow::default());
    };
    // The field names are static so that errors stay allocation-free to match on.
    let (ip_field, port_field, name_field) = match end {
        "src" => ("src.ip", "src.port", "src"),
        _ => ("dst.ip", "dst.port", "dst"),
    };
    let bad = |field: &'static str, message: String| BatchError::BadRecord {
        index,
        field,
        message,
    };
    let ip = match endpoint.ip.len() {
        0 => [0; 16],
        4 => {
            let mut mapped = [0; 16];
            mapped[..12].copy_from_slice(&IPV4_MAPPED_PREFIX);
            mapped[12..].copy_from_slice(&endpoint.ip);
            mapped
        }
        16 => {
            let mut ip = [0; 16];
            ip.copy_from_slice(&endpoint.ip);
            ip
        }
        other => {
            return Err(bad(
                ip_field,
                format!("is {other} bytes; expected 16 (IPv6 or IPv4-mapped) or 4"),
            ))
        }
    };
    let port = u16::try_from(endpoint.port).map_err(|_| {
        bad(
            port_field,
            format!("{} is not a port (0-65535)", endpoint.port),
        )
    })?;
    let names = [
        &endpoint.pod,
        &endpoint.namespace,
        &endpoint.workload,
        &endpoint.service,
        &endpoint.node,
    ];
    if let Some(long) = names.iter().find(|name| name.len() > MAX_NAME_LEN) {
        return Err(bad(
            name_field,
            format!("a name is {} bytes, more than {MAX_NAME_LEN}", long.len()),
        ));
    }
    Ok(EndRow {
        ip,
        port,
        pod: endpoint.pod.clone(),
        namespace: endpoint.namespace.clone(),
        workload: endpoint.workload.clone(),
        service: endpoint.service.clone(),
        node: endpoint.node.clone(),
    })
}

/// Unknown enum numbers (a newer agent on the same schema version) are
/// stored as `unknown` rather than refused: adding a value is a compatible
/// change.
fn direction_name(value: i32) -> &'static str {
    match Direction::try_from(value) {
        Ok(Direction::Ingress) => "ingress",
        Ok(Direction::Egress) => "egress",
        Ok(Direction::Forwarded) => "forwarded",
        Ok(Direction::Unspecified) => "",
        Err(_) => "unknown",
    }
}

fn status_name(value: i32) -> &'static str {
    match FlowStatus::try_from(value) {
        Ok(FlowStatus::Active) => "active",
        Ok(FlowStatus::Closed) => "closed",
        Ok(FlowStatus::Reset) => "reset",
        Ok(FlowStatus::Refused) => "refused",
        Ok(FlowStatus::Timeout) => "timeout",
        Ok(FlowStatus::Unspecified) => "",
        Err(_) => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> FlowRecord {
        FlowRecord {
            // 2026-12-03T18:00:00Z
            interval_start_unix_ns: 1_796_320_800_000_000_000,
            interval_seconds: 10,
            node: "node-a".into(),
            direction: Direction::Egress as i32,
            protocol: 6,
            status: FlowStatus::Active as i32,
            ip_version: 4,
            src: Some(Endpoint {
                ip: vec![10, 0, 0, 1],
                port: 40000,
                pod: "frontend".into(),
                ..Endpoint::default()
            }),
            dst: Some(Endpoint {
                ip: [0u8; 16].to_vec(),
                port: 443,
                ..Endpoint::default()
            }),
            tx_bytes: 1000,
            tx_packets: 10,
            rx_bytes: 2000,
            rx_packets: 20,
            connect_latency_us: 150,
            rtt_us: 90,
            retransmits: 1,
        }
    }

    fn request(records: Vec<FlowRecord>) -> ExportRequest {
        ExportRequest {
            schema_version: 1,
            agent_id: "node-a".into(),
            batch_id: "node-a-1-1".into(),
            attempt: 1,
            records,
        }
    }

    #[test]
    fn a_record_becomes_a_row_with_the_day_the_second_and_a_mapped_ipv4_address() {
        let batch = Batch::from_request(&request(vec![record()])).unwrap();
        let row = &batch.rows[0];
        assert_eq!(&*batch.batch_id, "node-a-1-1");
        assert_eq!(row.date, 20_790);
        assert_eq!(row.month(), 202_612);
        assert_eq!(row.interval_start, 1_796_320_800);
        assert_eq!(row.direction, "egress");
        assert_eq!(row.status, "active");
        assert_eq!(
            row.src.ip,
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]
        );
        assert_eq!(row.src.port, 40000);
        assert_eq!(row.src.pod, "frontend");
        assert_eq!(row.dst.ip, [0; 16]);
        assert_eq!(
            (row.tx_bytes, row.rx_bytes, row.retransmits),
            (1000, 2000, 1)
        );
    }

    #[test]
    fn each_malformed_field_is_named_with_its_record_index() {
        type Spoil = Box<dyn Fn(&mut FlowRecord)>;
        let cases: Vec<(Spoil, &str)> = vec![
            (
                Box::new(|r| r.interval_start_unix_ns = 0),
                "records[1].interval_start_unix_ns: must be set (nanoseconds since the UNIX epoch)",
            ),
            (
                Box::new(|r| r.ip_version = 5),
                "records[1].ip_version: must be 4 or 6, got 5",
            ),
            (
                Box::new(|r| r.protocol = 300),
                "records[1].protocol: 300 is not an IP protocol number (0-255)",
            ),
            (
                Box::new(|r| r.src.as_mut().unwrap().ip = vec![1, 2, 3]),
                "records[1].src.ip: is 3 bytes; expected 16 (IPv6 or IPv4-mapped) or 4",
            ),
            (
                Box::new(|r| r.dst.as_mut().unwrap().port = 70000),
                "records[1].dst.port: 70000 is not a port (0-65535)",
            ),
        ];
        for (spoil, expected) in cases {
            let mut bad = record();
            spoil(&mut bad);
            let error = Batch::from_request(&request(vec![record(), bad])).unwrap_err();
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn batch_ids_are_plain_text_of_bounded_length() {
        assert_eq!(check_batch_id("node-a.x_1:2"), Ok(()));
        assert_eq!(check_batch_id(""), Err(BatchError::EmptyBatchId));
        for bad in ["a'b", "a b", "a\\b", &"x".repeat(MAX_BATCH_ID_LEN + 1)] {
            assert_eq!(
                check_batch_id(bad),
                Err(BatchError::BadBatchId(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn unknown_enum_numbers_are_stored_as_unknown() {
        let mut future = record();
        future.direction = 9;
        future.status = 9;
        let batch = Batch::from_request(&request(vec![future])).unwrap();
        assert_eq!(
            (batch.rows[0].direction, batch.rows[0].status),
            ("unknown", "unknown")
        );
    }
}
