//! Event-path benchmark (root): how many TCP lifecycle events per second
//! the agent drains from its ring buffer and processes on one core, and how
//! long one event takes to process (p50/p99/p99.9/max).
//!
//!   cargo bench -p netmon-agent --bench event_path [-- --seconds S] [-- --smoke]
//!
//! Real kernel records in the agent's real ring: the agent's eBPF object is
//! loaded (nothing attached), a tiny program fills its `netmon_events` ring
//! from the kernel through `BPF_PROG_TEST_RUN` (see `producer.rs`), and the
//! agent's own reader (`EventReader::read_available`) and processing
//! (`runtime::process_events`: decode, flow table, metrics, publish) take
//! them, with the default configuration. The producer's kernel time is not
//! counted, only the consumer's, which runs on this one thread:
//! - throughput: the ring is filled with 8,192 events (what the agent reads
//!   per wake-up at most), then drained and processed as one batch, over and
//!   over; events / consumer CPU time (thread CPU clock, so other processes
//!   on a shared machine do not count) and / wall time.
//! - latency: one event read and processed at a time (a batch of one, so
//!   every per-batch cost is charged to that event), timed one by one.
//!
//! Every run checks that exactly the events produced were read: a lost or
//! malformed record fails the benchmark (exit status 1).

mod producer;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use netmon_agent::config::Config;
use netmon_agent::enrich::Enricher;
use netmon_agent::export::prometheus::AgentMetrics;
use netmon_agent::flow::FlowTable;
use netmon_agent::runtime::{metrics_options, process_events, table_config, AgentState};
use netmon_ebpf::{EventReader, KernelFeatures, LoadOptions, NetmonEbpf};
use producer::{Producer, EVENTS_PER_RUN};

/// Events per fill: `MAX_EVENTS_PER_WAKEUP` of the event loop, and 720 KB
/// of the 4 MiB ring (80-byte records plus 8-byte headers).
const BATCH: usize = 8192;

struct Options {
    seconds: f64,
    latency_samples: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        seconds: 5.0,
        latency_samples: 200_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => {
                options.seconds = 0.5;
                options.latency_samples = 20_000;
            }
            "--seconds" => {
                options.seconds = args
                    .next()
                    .context("--seconds needs a value")?
                    .parse()
                    .context("--seconds")?
            }
            // What `cargo bench` passes to every bench binary.
            "--bench" => {}
            other => bail!("unknown argument {other:?} (--seconds S, --smoke)"),
        }
    }
    Ok(options)
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec for the kernel to fill in.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("event_path: FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let options = options()?;
    // The reader registers with tokio's reactor, as in the agent.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _guard = runtime.enter();

    let config = Config::default();
    let mut ebpf = NetmonEbpf::load(
        &LoadOptions {
            flow_map_entries: config.flow.kernel_map_entries,
            sampling_rate: 1,
            payload_flags: 0,
        },
        KernelFeatures::probe(),
    )
    .context("loading netmon's eBPF object (root needed)")?;
    let ring = ebpf.take_events().context("no event ring")?;
    let producer = Producer::load(std::os::fd::AsRawFd::as_raw_fd(&ring))?;
    let mut reader = EventReader::new(ring)?;
    let metrics = Arc::new(AgentMetrics::new(&metrics_options(&config, false))?);
    let state = AgentState::new(
        FlowTable::new(table_config(&config)),
        ebpf,
        metrics,
        Enricher::off(),
        1,
        config.performance.buffer_size,
    );

    // Throughput.
    let mut batch = Vec::with_capacity(BATCH);
    let (mut events, mut cpu, mut wall) = (0u64, Duration::ZERO, Duration::ZERO);
    let runs = (BATCH as u32) / EVENTS_PER_RUN;
    while cpu.as_secs_f64() < options.seconds {
        producer.run(runs)?;
        batch.clear();
        let (c0, w0) = (thread_cpu(), Instant::now());
        reader.read_available(&mut batch, BATCH);
        process_events(&state, &batch);
        cpu += thread_cpu() - c0;
        wall += w0.elapsed();
        ensure!(
            batch.len() == BATCH,
            "read {} events, the producer wrote {BATCH}",
            batch.len()
        );
        events += batch.len() as u64;
    }
    ensure!(
        reader.malformed == 0,
        "{} malformed records",
        reader.malformed
    );
    let per_s = |d: Duration| events as f64 / d.as_secs_f64();
    println!(
        "throughput: {events} events in batches of {BATCH}: {:.0} events/s per core (CPU {:.3} s), \
         {:.0} events/s wall ({:.3} s); target >= 1000000/s {}",
        per_s(cpu),
        cpu.as_secs_f64(),
        per_s(wall),
        wall.as_secs_f64(),
        if per_s(cpu) >= 1e6 { "PASS" } else { "MISS" }
    );

    // Latency, one event at a time.
    let mut samples = Vec::with_capacity(options.latency_samples);
    while samples.len() < options.latency_samples {
        producer.run(1)?;
        for _ in 0..EVENTS_PER_RUN {
            batch.clear();
            let started = Instant::now();
            reader.read_available(&mut batch, 1);
            process_events(&state, &batch);
            samples.push(started.elapsed());
            ensure!(batch.len() == 1, "read {} events, expected 1", batch.len());
        }
    }
    samples.sort_unstable();
    let q = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    let p99 = q(0.99);
    println!(
        "per event ({} events, one at a time): p50 {:.2} us, p99 {:.2} us, p99.9 {:.2} us, max {:.2} us; \
         target p99 < 100 us {}",
        samples.len(),
        q(0.50).as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        q(0.999).as_secs_f64() * 1e6,
        samples[samples.len() - 1].as_secs_f64() * 1e6,
        if p99 < Duration::from_micros(100) {
            "PASS"
        } else {
            "MISS"
        }
    );
    let flows = state.table.lock().expect("table lock").stats();
    println!(
        "flow table after the run: {} records ({} active, {} terminal), {} opened in all",
        flows.flows, flows.active, flows.terminal, flows.opened_total
    );
    Ok(())
}
