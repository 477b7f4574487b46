//! The flow table's three jobs per drain, on 10,000 connections (20,000
//! kernel entries): insert (new connections), merge (the same connections
//! counted again), age (every connection idles out at once).
//!
//!   cargo bench -p netmon-agent --bench flow_table

mod support;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use support::{deltas, table_with, NOW, SECOND};

const FLOWS: usize = 10_000;

fn flow_table(c: &mut Criterion) {
    let mut group = c.benchmark_group("flow_table");
    group.throughput(Throughput::Elements(FLOWS as u64));

    let opening = deltas(FLOWS, 1000, NOW, true);
    group.bench_function("insert_10k", |b| {
        b.iter_batched(
            || netmon_agent::flow::FlowTable::new(support::config(FLOWS * 2)),
            |mut table| {
                table.apply_deltas(&opening, NOW);
                table
            },
            BatchSize::LargeInput,
        )
    });

    let later = NOW + 5 * SECOND;
    let again = deltas(FLOWS, 1000, later, false);
    group.bench_function("merge_10k", |b| {
        b.iter_batched(
            || table_with(FLOWS, 1000).0,
            |mut table| {
                table.apply_deltas(&again, later);
                table
            },
            BatchSize::LargeInput,
        )
    });

    // Past the 60 s flow timeout: every record ends and reports Closed.
    let idle = NOW + 61 * SECOND;
    group.bench_function("age_10k", |b| {
        b.iter_batched(
            || table_with(FLOWS, 1000).0,
            |mut table| {
                table.expire(idle);
                table
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, flow_table);
criterion_main!(benches);
