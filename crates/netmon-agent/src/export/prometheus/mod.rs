//! Prometheus exporter: the agent's metrics and the `/metrics` listener.

mod app;
mod config;
mod flow_series;
mod grpc_export;
mod ipfix;
mod k8s;
mod kernel;
mod kube_netc;
mod loss;
mod metrics;
mod nat;
mod options;
mod packets;
mod register;
mod rtt;
mod security;
mod server;

#[cfg(test)]
mod tests;

pub use app::{AppMetrics, AppReading, DNS_LATENCY_BUCKETS};
pub use config::ConfigReload;
pub use grpc_export::{BatchResult, ExportDropReason, GrpcExportMetrics};
pub use ipfix::{IpfixDropReason, IpfixMetrics};
pub use k8s::K8sReading;
pub use kernel::{AttachMode, Hook, KernelCounters};
pub use loss::{LossMetrics, LossStats};
pub use metrics::{tcp_event_name, AgentMetrics, MetricsError, Stage};
pub use nat::NatReading;
pub use options::{
    ContextLabel, FlowContext, FlowLabel, MetricsOptions, DEFAULT_CONNECT_LATENCY_BUCKETS,
    DEFAULT_FLOW_SERIES_RETENTION,
};
pub use packets::{IcmpCount, SizeBucketTotals};
pub use server::{metrics_router, ScrapeHook};
