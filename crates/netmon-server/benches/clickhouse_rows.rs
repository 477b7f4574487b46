//! The server's ClickHouse row path on one export batch of 1,000 flows:
//! the request's records checked and converted to rows, then the rows
//! encoded as RowBinary for the INSERT body.
//!
//!   cargo bench -p netmon-server --bench clickhouse_rows

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netmon_proto::flows::v1::{
    Direction, Endpoint, ExportRequest, FlowRecord, FlowStatus, SCHEMA_VERSION,
};
use netmon_server::batch::Batch;
use netmon_server::clickhouse::encode_row;

const FLOWS: usize = 1_000;

fn end(ip: [u8; 4], port: u32, pod: &str) -> Endpoint {
    let mut bytes = vec![0u8; 10];
    bytes.extend([0xff, 0xff]);
    bytes.extend(ip);
    Endpoint {
        ip: bytes,
        port,
        pod: pod.into(),
        namespace: "shop".into(),
        workload: pod.rsplit_once('-').map_or(pod, |(w, _)| w).into(),
        service: String::new(),
        node: "node-a".into(),
    }
}

fn request() -> ExportRequest {
    let records = (0..FLOWS)
        .map(|i| FlowRecord {
            interval_start_unix_ns: 1_796_515_200_000_000_000,
            interval_seconds: 10,
            node: "node-a".into(),
            direction: Direction::Egress as i32,
            protocol: 6,
            status: FlowStatus::Active as i32,
            ip_version: 4,
            src: Some(end(
                [10, 0, (i >> 8) as u8, i as u8],
                40000,
                &format!("frontend-{i}"),
            )),
            dst: Some(end([10, 1, 0, 1], 8080, "backend-0")),
            tx_bytes: 1_500,
            tx_packets: 10,
            rx_bytes: 64_000,
            rx_packets: 45,
            connect_latency_us: 120,
            rtt_us: 80,
            retransmits: 0,
        })
        .collect();
    ExportRequest {
        schema_version: SCHEMA_VERSION,
        agent_id: "node-a".into(),
        batch_id: "node-a-1796515200000000000-1".into(),
        attempt: 1,
        records,
    }
}

fn clickhouse_rows(c: &mut Criterion) {
    let request = request();
    let batch = Batch::from_request(&request).expect("a valid batch");
    let mut group = c.benchmark_group("clickhouse");
    group.throughput(Throughput::Elements(FLOWS as u64));
    group.bench_function("rows_from_request_1k", |b| {
        b.iter(|| Batch::from_request(&request).expect("a valid batch"))
    });
    group.bench_function("rowbinary_1k", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            for row in &batch.rows {
                encode_row(&mut out, row, &batch.batch_id);
            }
            out
        })
    });
    group.finish();
}

criterion_group!(benches, clickhouse_rows);
criterion_main!(benches);
