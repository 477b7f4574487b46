//! Finding the API server: an explicit kubeconfig, else what kube-rs infers
//! (`KUBECONFIG`, `~/.kube/config`, then the in-cluster service account).

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::error::K8sError;
use crate::config::{KubernetesConfig, KubernetesMode};

/// A client, or `None` when enrichment is off (by configuration, or in
/// `auto` mode because no API server is configured; `reason` says which).
pub enum Connection {
    Client(kube::Client),
    Off { reason: String },
}

pub async fn connect(config: &KubernetesConfig) -> Result<Connection, K8sError> {
    if config.mode == KubernetesMode::Off {
        return Ok(Connection::Off {
            reason: "kubernetes.mode is off".into(),
        });
    }
    let mut client_config = match &config.kubeconfig {
        Some(path) => {
            let kubeconfig =
                Kubeconfig::read_from(path).map_err(|source| K8sError::Kubeconfig {
                    path: path.clone(),
                    source,
                })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|source| K8sError::Kubeconfig {
                    path: path.clone(),
                    source,
                })?
        }
        None => match kube::Config::infer().await {
            Ok(inferred) => inferred,
            Err(error) if config.mode == KubernetesMode::Auto => {
                return Ok(Connection::Off {
                    reason: format!("no Kubernetes API server is configured ({error})"),
                })
            }
            Err(error) => return Err(K8sError::NotConfigured(error.to_string())),
        },
    };
    // kube retries 429/503/504 itself, for minutes, which would hide an
    // outage from the sync status; the watches back off and relist on
    // their own (watch.rs), so a failure is reported as soon as it happens.
    client_config.default_retry = false;
    Ok(Connection::Client(kube::Client::try_from(client_config)?))
}
