//! Kubernetes enrichment: watches keep an in-memory index from addresses to
//! pods, workloads, services and nodes; flows are named from that index and
//! never by a request per flow.

pub mod cached;
mod client;
mod error;
pub mod index;
pub mod resources;
pub mod status;
pub mod strip;
mod watch;

use std::sync::{Arc, RwLock};

use tokio::sync::watch as signal;
use tokio::task::JoinHandle;
use tracing::info;

pub use client::{connect, Connection};
pub use error::K8sError;
pub use index::{Cached, K8sIndex, Kind};
pub use status::{ResourceState, SyncStatus};
pub use strip::StripOptions;

use crate::config::KubernetesConfig;

/// The running watches and what they fill.
pub struct K8sEnrichment {
    pub index: Arc<RwLock<K8sIndex>>,
    pub status: Arc<SyncStatus>,
    pub tasks: Vec<JoinHandle<()>>,
}

impl K8sEnrichment {
    /// Starts watching through `client`; the index fills in the background
    /// while flows are counted (unnamed until the first lists arrive).
    pub fn start(
        client: kube::Client,
        config: &KubernetesConfig,
        shutdown: signal::Receiver<bool>,
    ) -> Self {
        let shared = watch::Shared {
            index: Arc::new(RwLock::new(K8sIndex::new())),
            status: Arc::new(SyncStatus::new(
                resources::WATCHED.iter().map(|r| r.resource),
            )),
            options: Arc::new(StripOptions {
                pod_labels: config.pod_labels.clone(),
                zone_label: config.zone_label.clone(),
            }),
        };
        let tasks = watch::spawn_all(client, &shared, shutdown);
        info!(
            resources = resources::WATCHED.len(),
            "Kubernetes enrichment on: watching pods, services, nodes, endpoint slices, replica sets and jobs"
        );
        K8sEnrichment {
            index: shared.index,
            status: shared.status,
            tasks,
        }
    }
}

/// This node's name: the setting, else `NODE_NAME` (the DaemonSet sets it
/// from the downward API), else the host name.
pub fn node_name(config: &KubernetesConfig) -> String {
    choose_node_name(config, std::env::var("NODE_NAME").ok(), host_name)
}

fn choose_node_name(
    config: &KubernetesConfig,
    from_env: Option<String>,
    host_name: impl FnOnce() -> String,
) -> String {
    if !config.node_name.is_empty() {
        return config.node_name.clone();
    }
    match from_env {
        Some(name) if !name.is_empty() => name,
        _ => host_name(),
    }
}

fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it on success (truncation is reported as an error).
    let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_name_is_the_setting_then_node_name_then_the_host_name() {
        let mut config = KubernetesConfig::default();
        let host = || "host-1".to_owned();
        assert_eq!(choose_node_name(&config, None, host), "host-1");
        assert_eq!(
            choose_node_name(&config, Some(String::new()), host),
            "host-1"
        );
        assert_eq!(
            choose_node_name(&config, Some("node-env".into()), host),
            "node-env"
        );
        config.node_name = "node-set".into();
        assert_eq!(
            choose_node_name(&config, Some("node-env".into()), host),
            "node-set"
        );
        assert!(!host_name().is_empty(), "this machine has a host name");
    }
}
