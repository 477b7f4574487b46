//! The agent's encoders, each on what it encodes in one go:
//! - Prometheus: the `/metrics` exposition with 50,001 per-flow series
//!   (`labels: [dst_port]`, 16,667 ports × bytes, packets, flows opened);
//! - JSON: one flow API page of 1,000 flows (views built and serialized);
//! - protobuf: one gRPC export interval of 1,000 flows (records collected
//!   from the changes, then the request encoded);
//! - IPFIX: 1,000 flow records (2,000 directions) into 1,400-byte messages.
//!
//!   cargo bench -p netmon-agent --bench encoders

mod support;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use netmon_agent::api::FlowView;
use netmon_agent::enrich::FlowIdentity;
use netmon_agent::export::grpc::{Interval, IntervalRecords};
use netmon_agent::export::ipfix::{EndReason, FlowDirection, IpfixRecord, MessageEncoder};
use netmon_agent::export::prometheus::{AgentMetrics, FlowContext, FlowLabel, MetricsOptions};
use netmon_agent::flow::{Direction, FlowChange};
use netmon_proto::flows::v1::{ExportRequest, SCHEMA_VERSION};
use netmon_proto::prost::Message;
use support::{table_with, NOW};

const PAGE: usize = 1_000;
const PORTS: u16 = 16_667;

fn prometheus(c: &mut Criterion) {
    let metrics = AgentMetrics::new(&MetricsOptions {
        flow_labels: vec![FlowLabel::DstPort],
        ..MetricsOptions::default()
    })
    .expect("metrics");
    let (_, changes) = table_with(usize::from(PORTS) * 3, PORTS);
    metrics.record_changes(&changes, |_| Direction::Egress);
    let series = metrics
        .encode()
        .lines()
        .filter(|l| l.contains("dst_port=\""))
        .count();
    assert_eq!(series, usize::from(PORTS) * 3, "per-flow series");
    let mut group = c.benchmark_group("prometheus");
    group.throughput(Throughput::Elements(series as u64));
    group.bench_function("exposition_50k_series", |b| b.iter(|| metrics.encode()));
    group.finish();
}

fn json(c: &mut Criterion) {
    let records = support::records(PAGE);
    let identity = FlowIdentity::default();
    let mut group = c.benchmark_group("json");
    group.throughput(Throughput::Elements(PAGE as u64));
    group.bench_function("flow_page_1k", |b| {
        b.iter(|| {
            let views: Vec<FlowView> = records
                .iter()
                .map(|r| {
                    FlowView::from_record(r, Direction::Egress, Some("eth0".into()), &identity)
                })
                .collect();
            serde_json::to_vec(&views).expect("json")
        })
    });
    group.finish();
}

fn protobuf(c: &mut Criterion) {
    let (_, changes) = table_with(PAGE, 1000);
    let interval = Interval {
        start_unix_ns: NOW,
        seconds: 10,
    };
    let mut group = c.benchmark_group("protobuf");
    group.throughput(Throughput::Elements(PAGE as u64));
    group.bench_function("export_interval_1k", |b| {
        b.iter_batched(
            || IntervalRecords::new("node-a", 3),
            |mut pending| {
                for change in &changes {
                    pending.observe(change, FlowContext::from(Direction::Egress));
                }
                ExportRequest {
                    schema_version: SCHEMA_VERSION,
                    agent_id: "node-a".into(),
                    batch_id: "node-a-1796515200000000000-1".into(),
                    attempt: 1,
                    records: pending.take(interval),
                }
                .encode_to_vec()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Both directions of each flow, as the IPFIX tracker reports them.
fn ipfix_records(changes: &[FlowChange]) -> Vec<IpfixRecord> {
    let mut out = Vec::with_capacity(changes.len() * 2);
    for change in changes {
        let r = &change.record;
        let (i, o) = (r.key.initiator, r.key.responder);
        for (src, dst, counters, flags) in
            [(i, o, r.tx, r.tx_tcp_flags), (o, i, r.rx, r.rx_tcp_flags)]
        {
            out.push(IpfixRecord {
                source: src.ip,
                destination: dst.ip,
                source_port: src.port,
                destination_port: dst.port,
                protocol: r.key.protocol.number(),
                tcp_flags: (flags & 0xff) as u16,
                octets: counters.bytes,
                packets: counters.packets,
                start_ms: r.first_seen / 1_000_000,
                end_ms: r.last_seen / 1_000_000,
                direction: Some(FlowDirection::Egress),
                end_reason: EndReason::ActiveTimeout,
            });
        }
    }
    out
}

fn ipfix(c: &mut Criterion) {
    let (_, changes) = table_with(PAGE, 1000);
    let records = ipfix_records(&changes);
    let mut encoder = MessageEncoder::new(1, 1400);
    let mut group = c.benchmark_group("ipfix");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("records_2k", |b| {
        b.iter(|| encoder.encode(&records, true, 1_796_515_200))
    });
    group.finish();
}

criterion_group!(benches, prometheus, json, protobuf, ipfix);
criterion_main!(benches);
