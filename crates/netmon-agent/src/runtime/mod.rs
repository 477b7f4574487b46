//! Wires the stages together: kernel source → flow table → exporters.
//! Each loop lives in its own file; they share `AgentState`.

mod drain_loop;
mod event_loop;
mod interfaces;
mod k8s_status;
mod loss;
mod nat;
mod payload_loop;
mod port_scans;
mod state;
mod status;

use std::{sync::Arc, time::Duration};

use netmon_ebpf::{attach::AttachPreference, KernelFeatures, LoadOptions, NetmonEbpf};
use thiserror::Error;
use tokio::{net::TcpListener, sync::watch};
use tracing::{info, warn};

use crate::{
    api::{self, ApiSocket, ConfigStatusHandle, Readiness},
    config::{AttachMode as AttachModeSetting, Config},
    control::{Control, ControlInputs, ControlParts},
    enrich::{
        k8s::{self, Connection, K8sEnrichment},
        Enricher,
    },
    export::prometheus::{self as prom, AgentMetrics, MetricsOptions},
    flow::{FlowTable, FlowTableConfig},
    telemetry::process::ProcessSampler,
};

pub use event_loop::process_events;
pub use state::AgentState;
pub use status::{AgentStatusSource, StartedParts};

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("eBPF: {0}")]
    Ebpf(#[from] netmon_ebpf::EbpfError),
    #[error("listening on {addr} ({what}): {source}")]
    Listen {
        what: &'static str,
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("metrics: {0}")]
    Metrics(#[from] prom::MetricsError),
    #[error("this kernel has no BTF (/sys/kernel/btf/vmlinux): netmon's programs need CO-RE")]
    NoBtf,
    #[error("Kubernetes: {0}")]
    Kubernetes(#[from] k8s::K8sError),
    #[error(transparent)]
    ApiSocket(#[from] api::UnixSocketError),
    #[error("export.ipfix: {0}")]
    Ipfix(#[from] crate::export::ipfix::IpfixError),
    #[error("export.grpc: {0}")]
    GrpcExport(#[from] crate::export::grpc::GrpcExportError),
}

pub fn table_config(config: &Config) -> FlowTableConfig {
    FlowTableConfig {
        max_flows: config.flow.max_flows,
        flow_timeout: config.flow.flow_timeout,
        closed_retention: config.flow.closed_retention,
    }
}

fn attach_preference(config: &Config) -> AttachPreference {
    match config.capture.attach_mode {
        AttachModeSetting::Auto => AttachPreference::Auto,
        AttachModeSetting::Tcx => AttachPreference::Tcx,
        AttachModeSetting::Tc => AttachPreference::Tc,
    }
}

/// Runs the agent until SIGTERM or SIGINT; on return every program and link
/// has been detached (the eBPF object is dropped).
pub async fn run(config: Config, control_inputs: ControlInputs) -> Result<(), RuntimeError> {
    let features = KernelFeatures::probe();
    info!(kernel = %features.kernel_version, btf = features.btf, tcx = features.tcx,
          tcp_tracepoint = features.inet_sock_set_state, "kernel features probed");
    if !features.btf {
        return Err(RuntimeError::NoBtf);
    }
    let tracepoint_available = features.inet_sock_set_state;
    let inspect = payload_loop::InspectSettings::from_config(&config);
    let mut ebpf = NetmonEbpf::load(
        &LoadOptions {
            flow_map_entries: config.flow.kernel_map_entries,
            sampling_rate: config.capture.sampling_rate,
            payload_flags: inspect.payload_flags(),
        },
        features,
    )?;
    let payloads = ebpf.take_payloads();
    let mut events = None;
    if tracepoint_available {
        match ebpf.attach_tcp_lifecycle() {
            Ok(()) => events = ebpf.take_events(),
            Err(e) => {
                warn!(error = %e, "TCP lifecycle tracking is off: the tracepoint did not attach")
            }
        }
    } else {
        warn!(
            "TCP lifecycle tracking is off: this kernel has no sock:inet_sock_set_state tracepoint"
        );
    }
    let drop_reasons = Arc::new(loss::attach(&mut ebpf, &config.features));

    if config.features.latency_tracking.rtt {
        if let Err(e) = ebpf.attach_tcp_rtt() {
            warn!(error = %e, "TCP RTT tracking is off: the tcp:tcp_probe program did not attach");
        }
    } else {
        info!("TCP RTT tracking is off (features.latency_tracking.rtt: false)");
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut started = StartedParts::default();
    let kernel_features = ebpf.features().clone();

    let kubernetes = match k8s::connect(&config.kubernetes).await? {
        Connection::Client(client) => Some(K8sEnrichment::start(
            client,
            &config.kubernetes,
            shutdown_rx.clone(),
        )),
        Connection::Off { reason } => {
            info!("Kubernetes enrichment is off ({reason}); flows carry addresses only");
            None
        }
    };
    let enricher = match &kubernetes {
        Some(enrichment) => {
            let node_name = k8s::node_name(&config.kubernetes);
            info!(node = %node_name, "pods of this node are local");
            Enricher::kubernetes(enrichment.index.clone(), &node_name)
        }
        None => Enricher::off(),
    };

    let metrics = Arc::new(AgentMetrics::new(&metrics_options(
        &config,
        enricher.is_on(),
    ))?);
    // Custom programs load beside netmon's own: an entry that fails is
    // reported and skipped, never a reason to stop.
    let programs = crate::programs::start(
        &config.programs,
        &config.export.prometheus.program_prefix,
        &k8s::node_name(&config.kubernetes),
        kubernetes.as_ref().map(|k| k.index.clone()),
        metrics.scrape_only_registry(),
    );
    metrics.set_flow_table_max_flows(config.flow.max_flows as u64);
    metrics.set_kernel_flow_map_capacity(config.flow.kernel_map_entries as u64);
    let readiness = Readiness::new();
    readiness.set_not_ready("programs not attached yet");
    let mut state = AgentState::new(
        FlowTable::new(table_config(&config)),
        ebpf,
        metrics.clone(),
        enricher,
        config.capture.sampling_rate.max(1),
        config.performance.buffer_size,
    );
    if config.features.port_scan.enabled {
        metrics.start_port_scan_detection();
        state = state.with_port_scans(port_scans::PortScans::new(
            port_scans::thresholds(&config.features.port_scan),
            config.performance.buffer_size,
        ));
    }
    if let Some(names) = inspect.resolved_names() {
        state = state.with_resolved_names(names);
    }
    let ipfix = crate::export::ipfix::start(&config, metrics.clone())?;
    if let Some(export) = &ipfix {
        state = state.with_ipfix(export.feed.clone());
    }
    let grpc_export = crate::export::grpc::start(
        &config,
        &k8s::node_name(&config.kubernetes),
        metrics.clone(),
    )?;
    if let Some(export) = &grpc_export {
        state = state.with_grpc_export(export.feed.clone());
    }
    let state = Arc::new(state);
    // Stopped on its own signal, after the drain loop's last drain.
    let ipfix_task = ipfix.map(|export| {
        let (stop, stopped) = watch::channel(false);
        (stop, tokio::spawn(export.exporter.run(stopped)))
    });
    let grpc_task = grpc_export.map(|export| {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(export.exporter.run(stopped));
        (stop, task, export.shutdown_flush)
    });
    // Live configuration: file reloads, `config set`, trace switch, logs.
    let config_status = ConfigStatusHandle::new(control_inputs.source.path());
    let restart_status = config_status.clone();
    let control = Control::new(ControlParts::of_agent(
        &config,
        control_inputs,
        state.clone(),
        metrics.clone(),
        Arc::new(move |keys| restart_status.set_restart_required(keys.to_vec())),
    ));
    tasks.extend(control.start_watching(shutdown_rx.clone()));
    let kubernetes_watches = kubernetes.as_ref().map(|e| e.status.clone());
    if let Some(enrichment) = kubernetes {
        tasks.extend(enrichment.tasks);
        tasks.push(tokio::spawn(k8s_status::run(
            enrichment.status,
            metrics.clone(),
            readiness.clone(),
            shutdown_rx.clone(),
        )));
    }

    // Before the drain loop, so that its first drain joins translations.
    if let Some(task) = nat::start(state.clone(), &config.features.nat, shutdown_rx.clone()).await {
        tasks.push(task);
    }

    // Interfaces first, so the first drain already covers them.
    let selection = control.interfaces();
    let preference = attach_preference(&config);
    interfaces::sync_once(&state, &selection.borrow().clone(), preference);
    tasks.push(tokio::spawn(interfaces::watch(
        state.clone(),
        selection,
        preference,
        shutdown_rx.clone(),
    )));
    if let Some(ring) = events {
        match netmon_ebpf::EventReader::new(ring) {
            Ok(reader) => {
                started.tcp_lifecycle = true;
                tasks.push(tokio::spawn(event_loop::run(
                    state.clone(),
                    reader,
                    shutdown_rx.clone(),
                )))
            }
            Err(e) => warn!(error = %e, "TCP lifecycle tracking is off: ring buffer not pollable"),
        }
    }
    match payloads {
        Some(ring) if inspect.payload_flags() != 0 => match netmon_ebpf::PayloadReader::new(ring) {
            Ok(reader) => {
                started.dns = inspect.dns.is_some();
                started.protocol_detection = inspect.protocols.is_some();
                tasks.push(tokio::spawn(payload_loop::run(
                    state.clone(),
                    reader,
                    inspect,
                    shutdown_rx.clone(),
                )))
            }
            Err(e) => {
                warn!(error = %e, "DNS and protocol detection are off: payload ring buffer not pollable")
            }
        },
        _ => {
            info!("DNS and protocol detection are off (features.dns, features.protocol_detection)")
        }
    }
    tasks.push(tokio::spawn(drain_loop::run(
        state.clone(),
        control.flush_interval(),
        drop_reasons,
        readiness.clone(),
        shutdown_rx.clone(),
    )));

    // HTTP listeners.
    let mut servers = Vec::new();
    if config.export.prometheus.enabled {
        let addr = config.metrics_addr();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| RuntimeError::Listen {
                what: "metrics",
                addr,
                source,
            })?;
        let sampler = ProcessSampler::new(std::time::Instant::now())
            .map(std::sync::Mutex::new)
            .ok();
        let scrape_metrics = metrics.clone();
        let on_scrape: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            if let Some(sampler) = &sampler {
                let sample = sampler
                    .lock()
                    .expect("sampler lock")
                    .sample(std::time::Instant::now());
                scrape_metrics.set_process(sample.rss_bytes, sample.cpu_percent_since_last);
            }
        });
        let router = prom::metrics_router(metrics.clone(), readiness.clone(), on_scrape);
        info!(%addr, "metrics listener up");
        servers.push(tokio::spawn(api::serve(
            listener,
            router,
            wait_shutdown(shutdown_rx.clone()),
        )));
    }
    let api_addr = config.api.address;
    let listener = TcpListener::bind(api_addr)
        .await
        .map_err(|source| RuntimeError::Listen {
            what: "api",
            addr: api_addr,
            source,
        })?;
    let status = Arc::new(
        AgentStatusSource::new(
            state.clone(),
            k8s::node_name(&config.kubernetes),
            &kernel_features,
            kubernetes_watches,
            started,
        )
        .with_programs(programs),
    );
    let router = api_router(&state, status, config_status, &readiness).merge(control.router());
    info!(addr = %api_addr, "API listener up");
    servers.push(tokio::spawn(api::serve(
        listener,
        router.clone(),
        wait_shutdown(shutdown_rx.clone()),
    )));
    let mut api_socket = None;
    if let Some(path) = config.api.socket_path() {
        let mut socket = ApiSocket::bind(path)?;
        if let Some(listener) = socket.take_listener() {
            info!(path = %path.display(), "API socket up");
            servers.push(tokio::spawn(api::serve(
                listener,
                router,
                wait_shutdown(shutdown_rx.clone()),
            )));
        }
        api_socket = Some(socket);
    }

    wait_for_signal().await;
    info!("shutting down");
    readiness.set_not_ready("shutting down");
    let _ = shutdown_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    // Told now, so that its last flush runs beside IPFIX's.
    let grpc_task = grpc_task.map(|(stop, task, flush_bound)| {
        let _ = stop.send(true);
        (task, flush_bound)
    });
    if let Some((stop, task)) = ipfix_task {
        let _ = stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    if let Some((task, flush_bound)) = grpc_task {
        // The exporter keeps to its bound; the margin covers the answer in flight.
        let _ = tokio::time::timeout(flush_bound + Duration::from_secs(1), task).await;
    }
    for server in servers {
        // Follow streams never end by themselves; give them a moment.
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    }
    if let Some(socket) = api_socket {
        socket.remove();
    }
    state.shutdown();
    info!("all programs detached");
    Ok(())
}

/// The API, served alike on the TCP listener and the unix socket.
fn api_router(
    state: &Arc<AgentState>,
    status: Arc<AgentStatusSource>,
    config: ConfigStatusHandle,
    readiness: &Readiness,
) -> axum::Router {
    let lag_metrics = state.metrics.clone();
    api::api_router_with(api::ApiSources {
        flows: state.clone(),
        status,
        config,
        readiness: readiness.clone(),
        on_lag: Arc::new(move |missed| lag_metrics.add_follow_lagged(missed)),
    })
}

/// The exporter's options from the configuration. Context labels that need
/// Kubernetes names are left out without Kubernetes: they would only ever
/// be empty.
pub fn metrics_options(config: &Config, kubernetes: bool) -> MetricsOptions {
    let prometheus = &config.export.prometheus;
    let context = |labels: &[crate::config::ContextLabel]| {
        labels
            .iter()
            .filter_map(|l| prom::ContextLabel::from_name(l.as_str()))
            .filter(|l| kubernetes || !l.needs_kubernetes())
            .collect()
    };
    MetricsOptions {
        flow_labels: prometheus
            .labels
            .iter()
            .filter_map(|l| prom::FlowLabel::from_name(l.as_str()))
            .collect(),
        kube_netc_compat: prometheus.kube_netc_compat,
        flow_series_retention: prometheus.series_expiry,
        source_context: context(&prometheus.source_context),
        destination_context: context(&prometheus.destination_context),
        connect_latency_buckets: config.features.latency_tracking.histogram_buckets.clone(),
    }
}

async fn wait_shutdown(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ContextLabel;

    #[test]
    fn metrics_options_follow_the_configuration() {
        let mut config = Config::default();
        config.features.latency_tracking.histogram_buckets = vec![0.01, 0.1];
        config.export.prometheus.source_context = vec![ContextLabel::Pod, ContextLabel::Ip];
        config.export.prometheus.series_expiry = Duration::from_secs(30);
        let with_kubernetes = metrics_options(&config, true);
        assert_eq!(with_kubernetes.connect_latency_buckets, [0.01, 0.1]);
        assert_eq!(
            with_kubernetes.source_context,
            [prom::ContextLabel::Pod, prom::ContextLabel::Ip]
        );
        assert_eq!(
            with_kubernetes.destination_context,
            [prom::ContextLabel::Namespace, prom::ContextLabel::Workload]
        );
        assert_eq!(
            with_kubernetes.flow_series_retention,
            Duration::from_secs(30)
        );
        // Without Kubernetes only the address can name an end.
        let without = metrics_options(&config, false);
        assert_eq!(without.source_context, [prom::ContextLabel::Ip]);
        assert!(without.destination_context.is_empty());
    }
}
