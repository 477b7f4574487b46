//! The agent's Prometheus metrics. Every label has a small fixed set of
//! values (protocol, direction, status, ...) except the opt-in per-flow
//! labels and the opt-in kube-netc series, whose series are removed when
//! their flows end.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    Gauge, Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry,
};
use thiserror::Error;

use super::app::AppMetrics;
use super::config::{ConfigMetrics, ConfigReload};
use super::flow_series::FlowSeries;
use super::grpc_export::GrpcExportMetrics;
use super::ipfix::IpfixMetrics;
use super::k8s::{K8sMetrics, K8sReading};
use super::kernel::{AttachMode, Hook, InterfaceMetrics, KernelCounters, KernelMetrics};
use super::kube_netc::KubeNetc;
use super::loss::LossMetrics;
use super::nat::{NatMetrics, NatReading};
use super::options::{ContextLabel, FlowContext, FlowLabel, MetricsOptions};
use super::packets::{IcmpCount, PacketMetrics, SizeBucketTotals};
use super::register::{
    gauge, histogram, histogram_vec, int_counter, int_counter_vec, int_gauge, int_gauge_vec, lock,
    to_i64,
};
use super::rtt::RttMetrics;
use super::security::SecurityMetrics;
use crate::flow::{
    Direction, FlowChange, FlowChangeKind, FlowRecord, Protocol, TcpEventKind, UnixNanos,
};
use crate::security::{DetectorStats, ScanKind};

#[derive(Debug, Error)]
pub enum MetricsError {
    #[error("connect_latency_buckets: {0}")]
    InvalidBuckets(String),
    #[error("flow_labels: {0:?} is listed more than once")]
    DuplicateFlowLabel(&'static str),
    #[error("{0}: {1:?} is listed more than once")]
    DuplicateContextLabel(&'static str, &'static str),
    #[error("creating metrics: {0}")]
    Prometheus(#[from] prometheus::Error),
}

/// A stage of the agent's processing loop, timed by
/// `netmon_processing_duration_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading the kernel flow map.
    Drain,
    /// Merging drained deltas into the flow table.
    Merge,
    /// Handling TCP lifecycle events.
    Events,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Drain => "drain",
            Stage::Merge => "merge",
            Stage::Events => "events",
        }
    }
}

/// Label value of `netmon_tcp_events_total{event}`.
pub fn tcp_event_name(kind: TcpEventKind) -> &'static str {
    match kind {
        TcpEventKind::OpenedActive => "opened_active",
        TcpEventKind::EstablishedActive => "established_active",
        TcpEventKind::Accepted => "accepted",
        TcpEventKind::Refused => "refused",
        TcpEventKind::TimedOut => "timed_out",
        TcpEventKind::Reset => "reset",
        TcpEventKind::Closed => "closed",
    }
}

const TCP_EVENT_KINDS: [TcpEventKind; 7] = TcpEventKind::ALL;

/// From 10µs (a small drain) to 5s (something is badly wrong).
const PROCESSING_BUCKETS: [f64; 18] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Final statuses of `netmon_flows_total`, for removing expired series.
const FINAL_STATUSES: [&str; 5] = ["closed", "reset", "refused", "timeout", "evicted"];

/// One `(protocol, direction)` series' share of a batch of flow changes.
struct Tally {
    labels: [&'static str; 2],
    opened: u64,
    /// Flows that ended in the batch, by `netmon_flows_total`'s `status`
    /// (`evicted` included).
    ended: Vec<(&'static str, u64)>,
    evicted: u64,
    bytes: u64,
    packets: u64,
}

impl Tally {
    /// The tally of `labels`, added if new; a batch has a few at most, so a
    /// linear search beats hashing.
    fn find<'a>(tallies: &'a mut Vec<Tally>, labels: [&'static str; 2]) -> &'a mut Tally {
        let index = match tallies.iter().position(|t| t.labels == labels) {
            Some(index) => index,
            None => {
                tallies.push(Tally {
                    labels,
                    opened: 0,
                    ended: Vec::new(),
                    evicted: 0,
                    bytes: 0,
                    packets: 0,
                });
                tallies.len() - 1
            }
        };
        &mut tallies[index]
    }

    fn add(&mut self, change: &FlowChange, bytes: u64, packets: u64) {
        match change.kind {
            FlowChangeKind::Opened => self.opened += 1,
            FlowChangeKind::Updated => {}
            FlowChangeKind::Closed => self.end(change.record.status.name()),
            FlowChangeKind::Evicted => {
                self.end("evicted");
                self.evicted += 1;
            }
        }
        self.bytes += bytes;
        self.packets += packets;
    }

    fn end(&mut self, status: &'static str) {
        match self.ended.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => self.ended.push((status, 1)),
        }
    }
}

pub struct AgentMetrics {
    registry: Registry,
    /// Collectors that work at every gather (custom programs read their
    /// kernel maps): only a scrape gathers them, not the status endpoints
    /// that read one gauge of `registry`.
    scrape_only: Registry,
    flow_labels: Vec<FlowLabel>,
    source_context: Vec<ContextLabel>,
    destination_context: Vec<ContextLabel>,

    flows_active: IntGaugeVec,
    /// `(protocol, direction)` series set by the last `set_active_flows`.
    flows_active_set: Mutex<HashSet<(&'static str, &'static str)>>,
    flows_total: IntCounterVec,
    flows_opened_total: IntCounterVec,
    bytes_total: IntCounterVec,
    packets_total: IntCounterVec,
    /// Only with per-flow labels.
    flow_series: Option<Mutex<FlowSeries>>,

    tcp_connect_latency: Histogram,
    /// `netmon_tcp_events_total{event}`'s series, one per kind in
    /// `TcpEventKind::ALL` order: resolved once, because a label lookup per
    /// event (hash + lock) was ~9 % of the event path's CPU (BENCHMARKS.md).
    tcp_events: [IntCounter; TCP_EVENT_KINDS.len()],

    kernel: KernelMetrics,
    events_processed_total: IntCounter,
    events_queue_dropped_total: IntCounter,
    interfaces: InterfaceMetrics,
    attached_interfaces: IntGaugeVec,

    flow_table_flows: IntGauge,
    flow_table_evictions_total: IntCounter,
    flow_table_max_flows: IntGauge,
    kernel_flow_map_entries: IntGauge,
    kernel_flow_map_capacity: IntGauge,

    processing_duration: HistogramVec,
    memory_usage_bytes: IntGauge,
    cpu_usage_percentage: Gauge,
    api_follow_lagged_events_total: IntCounter,

    kube_netc: Option<KubeNetc>,
    k8s: K8sMetrics,
    packets: PacketMetrics,
    nat: NatMetrics,
    security: SecurityMetrics,
    rtt: RttMetrics,
    loss: LossMetrics,
    app: AppMetrics,
    config: ConfigMetrics,
    ipfix: IpfixMetrics,
    grpc_export: GrpcExportMetrics,
}

fn validate(options: &MetricsOptions) -> Result<(), MetricsError> {
    let buckets = &options.connect_latency_buckets;
    if buckets.is_empty() {
        return Err(MetricsError::InvalidBuckets(
            "at least one bucket is needed".into(),
        ));
    }
    if let Some(bad) = buckets.iter().find(|b| !b.is_finite() || **b <= 0.0) {
        return Err(MetricsError::InvalidBuckets(format!(
            "{bad} is not a positive number of seconds"
        )));
    }
    if let Some(pair) = buckets.windows(2).find(|pair| pair[0] >= pair[1]) {
        return Err(MetricsError::InvalidBuckets(format!(
            "buckets must increase, but {} is followed by {}",
            pair[0], pair[1]
        )));
    }
    for (i, label) in options.flow_labels.iter().enumerate() {
        if options.flow_labels[..i].contains(label) {
            return Err(MetricsError::DuplicateFlowLabel(label.name()));
        }
    }
    for (name, context) in [
        ("source_context", &options.source_context),
        ("destination_context", &options.destination_context),
    ] {
        for (i, label) in context.iter().enumerate() {
            if context[..i].contains(label) {
                return Err(MetricsError::DuplicateContextLabel(name, label.name()));
            }
        }
    }
    Ok(())
}

impl AgentMetrics {
    pub fn new(options: &MetricsOptions) -> Result<Self, MetricsError> {
        validate(options)?;
        let r = Registry::new();
        let flow_dims = ["protocol", "direction"];
        // protocol, direction, source_*, destination_*, per-flow labels: the
        // order `series_labels` builds values in.
        let context_names: Vec<String> = options
            .source_context
            .iter()
            .map(|l| format!("source_{}", l.name()))
            .chain(
                options
                    .destination_context
                    .iter()
                    .map(|l| format!("destination_{}", l.name())),
            )
            .collect();
        let traffic_dims: Vec<&str> = flow_dims
            .iter()
            .copied()
            .chain(context_names.iter().map(String::as_str))
            .chain(options.flow_labels.iter().map(|l| l.name()))
            .collect();
        let ended_dims: Vec<&str> = traffic_dims
            .iter()
            .copied()
            .chain(std::iter::once("status"))
            .collect();
        // Series with labels beyond protocol and direction are removed once
        // their flows are gone, so they need bookkeeping.
        let tracks_series = traffic_dims.len() > flow_dims.len();

        let tcp_events_total = int_counter_vec(
            &r,
            "netmon_tcp_events_total",
            "TCP lifecycle events reported by the kernel.",
            &["event"],
        )?;
        // Created up front so that rate() sees every event type from zero.
        let tcp_events =
            TCP_EVENT_KINDS.map(|kind| tcp_events_total.with_label_values(&[tcp_event_name(kind)]));
        let build_info = int_gauge_vec(
            &r,
            "netmon_build_info",
            "Always 1; the version label identifies the running agent.",
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);

        Ok(AgentMetrics {
            flow_labels: options.flow_labels.clone(),
            source_context: options.source_context.clone(),
            destination_context: options.destination_context.clone(),
            flows_active: int_gauge_vec(
                &r,
                "netmon_flows_active",
                "Flows currently in the flow table that have not ended.",
                &flow_dims,
            )?,
            flows_active_set: Mutex::new(HashSet::new()),
            flows_total: int_counter_vec(
                &r,
                "netmon_flows_total",
                "Flows that ended, by final status (evicted: removed while active because the table was full).",
                &ended_dims,
            )?,
            flows_opened_total: int_counter_vec(
                &r,
                "netmon_flows_opened_total",
                "Flows that entered the flow table.",
                &traffic_dims,
            )?,
            bytes_total: int_counter_vec(
                &r,
                "netmon_bytes_total",
                "Bytes of all flows, both directions.",
                &traffic_dims,
            )?,
            packets_total: int_counter_vec(
                &r,
                "netmon_packets_total",
                "Packets of all flows, both directions.",
                &traffic_dims,
            )?,
            flow_series: tracks_series
                .then(|| Mutex::new(FlowSeries::new(options.flow_series_retention))),
            tcp_connect_latency: histogram(
                &r,
                "netmon_tcp_connect_latency_seconds",
                "Time from SYN to SYN-ACK of connections opened on this node, measured in the kernel.",
                options.connect_latency_buckets.clone(),
            )?,
            tcp_events,
            kernel: KernelMetrics::register(&r)?,
            events_processed_total: int_counter(
                &r,
                "netmon_ebpf_events_processed_total",
                "TCP lifecycle events read from the ring buffer and processed.",
            )?,
            events_queue_dropped_total: int_counter(
                &r,
                "netmon_ebpf_events_queue_dropped_total",
                "TCP lifecycle events read from the ring buffer but dropped because the agent's queue to the flow table was full.",
            )?,
            interfaces: InterfaceMetrics::register(&r)?,
            attached_interfaces: int_gauge_vec(
                &r,
                "netmon_attached_interfaces",
                "Interfaces the eBPF programs are attached to, by attach mode.",
                &["mode"],
            )?,
            flow_table_flows: int_gauge(&r, "netmon_flow_table_flows", "Flows held in the flow table.")?,
            flow_table_evictions_total: int_counter(
                &r,
                "netmon_flow_table_evictions_total",
                "Active flows removed from the flow table because it was full.",
            )?,
            flow_table_max_flows: int_gauge(
                &r,
                "netmon_flow_table_max_flows",
                "Capacity of the flow table (flow.max_flows).",
            )?,
            kernel_flow_map_entries: int_gauge(
                &r,
                "netmon_kernel_flow_map_entries",
                "Entries read from the kernel flow map by the last drain.",
            )?,
            kernel_flow_map_capacity: int_gauge(
                &r,
                "netmon_kernel_flow_map_capacity",
                "Maximum entries of the kernel flow map.",
            )?,
            processing_duration: histogram_vec(
                &r,
                "netmon_processing_duration_seconds",
                "Time spent per run of each processing stage.",
                &["stage"],
                PROCESSING_BUCKETS.to_vec(),
            )?,
            memory_usage_bytes: int_gauge(
                &r,
                "netmon_memory_usage_bytes",
                "Resident memory of the agent process.",
            )?,
            cpu_usage_percentage: gauge(
                &r,
                "netmon_cpu_usage_percentage",
                "CPU used by the agent process since the previous scrape; 100 is one core.",
            )?,
            api_follow_lagged_events_total: int_counter(
                &r,
                "netmon_api_follow_lagged_events_total",
                "Flow and security events follow clients missed because they read too slowly.",
            )?,
            kube_netc: if options.kube_netc_compat {
                Some(KubeNetc::register(&r)?)
            } else {
                None
            },
            k8s: K8sMetrics::register(&r)?,
            packets: PacketMetrics::register(&r)?,
            nat: NatMetrics::register(&r)?,
            security: SecurityMetrics::register(&r)?,
            // One bucket setting for both latency histograms
            // (features.latency_tracking.histogram_buckets).
            rtt: RttMetrics::register(&r, options.connect_latency_buckets.clone())?,
            loss: LossMetrics::register(&r)?,
            app: AppMetrics::register(&r)?,
            config: ConfigMetrics::register(&r)?,
            ipfix: IpfixMetrics::register(&r)?,
            grpc_export: GrpcExportMetrics::register(&r)?,
            registry: r,
            scrape_only: Registry::new(),
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Where collectors that read the kernel at each gather register; see
    /// the field. Their families are served after the agent's own.
    pub fn scrape_only_registry(&self) -> &Registry {
        &self.scrape_only
    }

    /// The registry in the Prometheus text format 0.0.4.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail and our metric families are well
        // formed, so an error here is a bug; log it and serve what we have
        // rather than fail the scrape.
        let mut families = self.registry.gather();
        families.extend(self.scrape_only.gather());
        if let Err(error) = prometheus::TextEncoder::new().encode_utf8(&families, &mut text) {
            tracing::error!(%error, "encoding metrics failed");
        }
        text
    }

    /// Sets `netmon_flows_active` to exactly these counts: series given
    /// before but not now are set to 0 (their flows all ended).
    pub fn set_active_flows(&self, counts: &[(Protocol, Direction, u64)]) {
        // Protocols shown as "other" share a series, so sum before setting.
        let mut current: HashMap<(&'static str, &'static str), u64> = HashMap::new();
        for (protocol, direction, n) in counts {
            *current
                .entry((protocol.name(), direction.name()))
                .or_default() += n;
        }
        let mut previous = lock(&self.flows_active_set);
        for (protocol, direction) in previous.iter().filter(|key| !current.contains_key(*key)) {
            self.flows_active
                .with_label_values(&[*protocol, *direction])
                .set(0);
        }
        for ((protocol, direction), n) in &current {
            self.flows_active
                .with_label_values(&[*protocol, *direction])
                .set(to_i64(*n));
        }
        *previous = current.into_keys().collect();
    }

    /// Counts a batch of flow table changes. Evictions also count in
    /// `netmon_flow_table_evictions_total`, so the table does not report
    /// them separately. `context_of` gives each record's direction (and,
    /// for context labels, its ends' names).
    pub fn record_changes<C: Into<FlowContext>>(
        &self,
        changes: &[FlowChange],
        mut context_of: impl FnMut(&FlowRecord) -> C,
    ) {
        let mut flow_series = self.flow_series.as_ref().map(lock);
        let mut tallies: Vec<Tally> = Vec::new();
        for change in changes {
            let record = &change.record;
            let context: FlowContext = context_of(record).into();
            let protocol = record.key.protocol.name();
            let direction = context.direction.name();
            let bytes = change.added_tx.bytes + change.added_rx.bytes;
            let packets = change.added_tx.packets + change.added_rx.packets;
            match flow_series.as_mut() {
                // The common case: a handful of (protocol, direction) series,
                // summed over the batch and counted once per series below,
                // with no allocation per change.
                None => {
                    Tally::find(&mut tallies, [protocol, direction]).add(change, bytes, packets)
                }
                Some(series) => {
                    let labels = self.series_labels(record, &context);
                    let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
                    self.count_change(change, &refs, bytes, packets);
                    let ended =
                        change.kind == FlowChangeKind::Evicted || record.status.is_terminal();
                    series.observe(record.id, &labels, ended, record.updated_at);
                }
            }
        }
        for tally in &tallies {
            self.count_tally(tally);
        }
    }

    /// Counts a batch's sums for one `(protocol, direction)` series: what
    /// [`Self::count_change`] does per change, with one label lookup per
    /// metric instead of one per change (those lookups were ~7 % of the
    /// event path's CPU under a connection storm; BENCHMARKS.md).
    fn count_tally(&self, tally: &Tally) {
        let labels = &tally.labels;
        if tally.opened > 0 {
            self.flows_opened_total
                .with_label_values(labels)
                .inc_by(tally.opened);
        }
        for (status, n) in &tally.ended {
            let [protocol, direction] = *labels;
            self.flows_total
                .with_label_values(&[protocol, direction, status])
                .inc_by(*n);
        }
        if tally.evicted > 0 {
            self.flow_table_evictions_total.inc_by(tally.evicted);
        }
        // Touched even by 0, as per change: a series appears with its flow.
        self.bytes_total
            .with_label_values(labels)
            .inc_by(tally.bytes);
        self.packets_total
            .with_label_values(labels)
            .inc_by(tally.packets);
    }

    /// Counts one change into the series `labels` (without `status`).
    fn count_change(&self, change: &FlowChange, labels: &[&str], bytes: u64, packets: u64) {
        let with_status = |status: &'static str| {
            let mut all = labels.to_vec();
            all.push(status);
            all
        };
        match change.kind {
            FlowChangeKind::Opened => self.flows_opened_total.with_label_values(labels).inc(),
            FlowChangeKind::Updated => {}
            FlowChangeKind::Closed => self
                .flows_total
                .with_label_values(&with_status(change.record.status.name()))
                .inc(),
            FlowChangeKind::Evicted => {
                self.flows_total
                    .with_label_values(&with_status("evicted"))
                    .inc();
                self.flow_table_evictions_total.inc();
            }
        }
        self.bytes_total.with_label_values(labels).inc_by(bytes);
        self.packets_total.with_label_values(labels).inc_by(packets);
    }

    /// Label values in `traffic_dims` order.
    fn series_labels(&self, record: &FlowRecord, context: &FlowContext) -> Vec<String> {
        let key = &record.key;
        let mut labels = vec![
            record.key.protocol.name().to_owned(),
            context.direction.name().to_owned(),
        ];
        labels.extend(
            self.source_context
                .iter()
                .map(|l| l.value(&context.identity.src, key.initiator.ip)),
        );
        labels.extend(
            self.destination_context
                .iter()
                .map(|l| l.value(&context.identity.dst, key.responder.ip)),
        );
        labels.extend(self.flow_labels.iter().map(|label| label.value(record)));
        labels
    }

    /// Removes per-flow series whose flows all ended at least
    /// `flow_series_retention` before `now`. Call periodically (each flush
    /// is fine); a no-op without per-flow labels.
    pub fn expire_flow_series(&self, now: UnixNanos) {
        let Some(series) = &self.flow_series else {
            return;
        };
        for labels in lock(series).expire(now) {
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            // NotFound means the series was never created; nothing to remove.
            let _ = self.bytes_total.remove_label_values(&labels);
            let _ = self.packets_total.remove_label_values(&labels);
            let _ = self.flows_opened_total.remove_label_values(&labels);
            for status in FINAL_STATUSES {
                let mut with_status = labels.clone();
                with_status.push(status);
                let _ = self.flows_total.remove_label_values(&with_status);
            }
        }
    }

    pub fn record_tcp_event(&self, kind: TcpEventKind, connect_latency_ns: Option<u64>) {
        let index = TCP_EVENT_KINDS
            .iter()
            .position(|k| *k == kind)
            .expect("TCP_EVENT_KINDS holds every kind");
        self.tcp_events[index].inc();
        if let Some(ns) = connect_latency_ns {
            self.tcp_connect_latency.observe(ns as f64 / 1e9);
        }
    }

    /// Takes a cumulative reading of the kernel's counters.
    pub fn set_kernel_counters(&self, counters: &KernelCounters) {
        self.kernel.set(counters);
    }

    pub fn add_events_processed(&self, n: u64) {
        self.events_processed_total.inc_by(n);
    }

    pub fn add_events_queue_dropped(&self, n: u64) {
        self.events_queue_dropped_total.inc_by(n);
    }

    /// Takes cumulative `(interface, hook, bytes, packets)` readings.
    pub fn set_interface_counters(&self, readings: &[(String, Hook, u64, u64)]) {
        self.interfaces.set(readings);
    }

    /// Forgets a detached interface; a later reading starts it afresh.
    pub fn remove_interface(&self, name: &str) {
        self.interfaces.remove(name);
    }

    pub fn set_attached_interfaces(&self, mode: AttachMode, count: u64) {
        self.attached_interfaces
            .with_label_values(&[mode.name()])
            .set(to_i64(count));
    }

    pub fn set_flow_table_flows(&self, flows: u64) {
        self.flow_table_flows.set(to_i64(flows));
    }

    pub fn set_flow_table_max_flows(&self, max_flows: u64) {
        self.flow_table_max_flows.set(to_i64(max_flows));
    }

    pub fn set_kernel_flow_map_entries(&self, entries: u64) {
        self.kernel_flow_map_entries.set(to_i64(entries));
    }

    pub fn set_kernel_flow_map_capacity(&self, capacity: u64) {
        self.kernel_flow_map_capacity.set(to_i64(capacity));
    }

    pub fn observe_processing(&self, stage: Stage, duration: Duration) {
        self.processing_duration
            .with_label_values(&[stage.name()])
            .observe(duration.as_secs_f64());
    }

    /// Takes a sample of the agent's own resource use (`telemetry::process`).
    pub fn set_process(&self, rss_bytes: u64, cpu_percent: f64) {
        self.memory_usage_bytes.set(to_i64(rss_bytes));
        self.cpu_usage_percentage.set(cpu_percent);
    }

    pub fn add_follow_lagged(&self, missed: u64) {
        self.api_follow_lagged_events_total.inc_by(missed);
    }

    /// Takes cumulative readings of the kernel's packet size histogram.
    pub fn set_packet_sizes(&self, buckets: &[SizeBucketTotals]) {
        self.packets.set_sizes(buckets);
    }

    /// Takes cumulative readings of the kernel's ICMP type/code counts.
    pub fn set_icmp_counts(&self, counts: &[IcmpCount]) {
        self.packets.set_icmp(counts);
    }

    /// Takes a cumulative reading of the NAT source (`features.nat`).
    pub fn set_nat(&self, reading: &NatReading) {
        self.nat.set(reading);
    }

    /// Observes one drain's per-socket latest srtt, in microseconds.
    pub fn observe_tcp_rtt(&self, last_us: impl IntoIterator<Item = u32>) {
        self.rtt.observe_last(last_us);
    }

    /// Takes a cumulative reading of the kernel's RTT-map-full counter.
    pub fn set_kernel_rtt_map_full(&self, total: u64) {
        self.rtt.set_map_full(total);
    }

    /// Takes cumulative readings of the Kubernetes watches.
    pub fn set_k8s(&self, readings: &[K8sReading]) {
        self.k8s.set(readings);
    }

    /// Creates the security event series at 0; call once when port-scan
    /// detection is on (without it they stay absent: nothing is looked for).
    pub fn start_port_scan_detection(&self) {
        self.security.start_port_scan_detection();
    }

    /// Counts one reported scan in `netmon_security_events_total`.
    pub fn record_security_event(&self, kind: ScanKind) {
        self.security.record_event(kind);
    }

    /// Takes a cumulative reading of the port-scan detector's statistics.
    pub fn set_port_scan_stats(&self, stats: &DetectorStats) {
        self.security.set_detector_stats(stats);
    }

    /// Retransmission and drop metrics.
    pub fn loss(&self) -> &LossMetrics {
        &self.loss
    }

    /// DNS and application-protocol metrics.
    pub fn app(&self) -> &AppMetrics {
        &self.app
    }

    /// IPFIX export metrics (`export.ipfix`).
    pub fn ipfix(&self) -> &IpfixMetrics {
        &self.ipfix
    }

    /// gRPC export metrics (`export.grpc`).
    pub fn grpc_export(&self) -> &GrpcExportMetrics {
        &self.grpc_export
    }

    /// Creates the config reload series at 0; call once when the agent
    /// has its live configuration controls.
    pub fn start_config_reloads(&self) {
        self.config.start();
    }

    /// Counts one reload of the configuration file.
    pub fn record_config_reload(&self, result: ConfigReload) {
        self.config.record(result);
    }

    /// Updates the kube-netc gauges; call once per flush interval with that
    /// interval's changes and length. A no-op unless `kube_netc_compat`.
    pub fn update_kube_netc(&self, changes: &[FlowChange], interval: Duration) {
        if let Some(kube_netc) = &self.kube_netc {
            kube_netc.update(changes, interval);
        }
    }
}
