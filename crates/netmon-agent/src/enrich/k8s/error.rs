//! Why Kubernetes enrichment could not start.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum K8sError {
    #[error("reading kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("kubernetes.mode is on but no API server is configured ({0}); give --kubeconfig, set KUBECONFIG, or run in a pod with a service account")]
    NotConfigured(String),
    #[error("creating the Kubernetes client: {0}")]
    Client(#[from] kube::Error),
}
