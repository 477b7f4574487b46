//! Every second: the Kubernetes watches' state into `netmon_k8s_*` and the
//! `kubernetes:` line of `/readyz`. A failing watch does not make the agent
//! unready: flows are still counted, only their names may be missing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::api::Readiness;
use crate::enrich::k8s::SyncStatus;
use crate::export::prometheus::{AgentMetrics, K8sReading};

const INTERVAL: Duration = Duration::from_secs(1);

pub async fn run(
    status: Arc<SyncStatus>,
    metrics: Arc<AgentMetrics>,
    readiness: Readiness,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(INTERVAL);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let readings: Vec<K8sReading> = status
            .snapshot()
            .into_iter()
            .map(|(resource, state)| K8sReading {
                resource,
                synced: state.synced,
                objects: state.objects,
                errors: state.errors,
            })
            .collect();
        metrics.set_k8s(&readings);
        readiness.set_detail("kubernetes", status.summary());
    }
}
