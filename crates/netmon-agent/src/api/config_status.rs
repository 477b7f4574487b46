//! Which configuration file the agent runs from and which changed settings
//! wait for a restart: the `config` part of `GET /api/v1/status`.
//!
//! The reload machinery writes it, the API reads it; a handle is cheap to
//! clone and every clone sees the same state.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use serde::Serialize;

/// The agent's configuration as `/api/v1/status` reports it.
#[derive(Serialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigStatus {
    /// The `--config` file, `None` when the agent runs on defaults,
    /// environment and flags only.
    pub path: Option<PathBuf>,
    /// Dotted keys a reload changed that only take effect at the next start
    /// (`capture.attach_mode`); empty when everything in the file is in force.
    pub restart_required: Vec<String>,
}

/// Shared, updatable [`ConfigStatus`].
#[derive(Clone, Debug, Default)]
pub struct ConfigStatusHandle(Arc<RwLock<ConfigStatus>>);

impl ConfigStatusHandle {
    /// The status of an agent just started from `path`: nothing waits for a
    /// restart yet.
    pub fn new(path: Option<PathBuf>) -> Self {
        ConfigStatusHandle(Arc::new(RwLock::new(ConfigStatus {
            path,
            restart_required: Vec::new(),
        })))
    }

    pub fn get(&self) -> ConfigStatus {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the keys waiting for a restart (sorted and without
    /// duplicates, so the report does not depend on the order of reloads).
    pub fn set_restart_required(&self, mut keys: Vec<String>) {
        keys.sort();
        keys.dedup();
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .restart_required = keys;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clone_sees_the_keys_set_through_another() {
        let handle = ConfigStatusHandle::new(Some(PathBuf::from("/etc/netmon/netmon.yaml")));
        let reader = handle.clone();
        handle.set_restart_required(vec![
            "flow.kernel_map_entries".into(),
            "capture.attach_mode".into(),
            "capture.attach_mode".into(),
        ]);
        assert_eq!(
            reader.get(),
            ConfigStatus {
                path: Some(PathBuf::from("/etc/netmon/netmon.yaml")),
                restart_required: vec![
                    "capture.attach_mode".into(),
                    "flow.kernel_map_entries".into()
                ],
            }
        );
    }

    #[test]
    fn it_serializes_as_the_status_shows_it() {
        let status = ConfigStatusHandle::new(None).get();
        assert_eq!(
            serde_json::to_value(status).unwrap(),
            serde_json::json!({"path": null, "restart_required": []})
        );
    }
}
