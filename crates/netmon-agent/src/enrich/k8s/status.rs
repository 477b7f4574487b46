//! How each watch is doing, for `netmon_k8s_*` metrics and `/readyz`.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// The state of one resource's watch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceState {
    /// A complete list has been loaded and no error has happened since.
    pub synced: bool,
    /// The latest error, kept until the next complete list.
    pub last_error: Option<String>,
    /// Errors since start (failed lists and broken watches).
    pub errors: u64,
    /// Objects of this resource in the index.
    pub objects: u64,
}

/// Shared between the watches (writers) and the status loop (reader).
#[derive(Debug, Default)]
pub struct SyncStatus {
    resources: Mutex<BTreeMap<&'static str, ResourceState>>,
}

impl SyncStatus {
    pub fn new(resources: impl IntoIterator<Item = &'static str>) -> Self {
        SyncStatus {
            resources: Mutex::new(
                resources
                    .into_iter()
                    .map(|r| (r, ResourceState::default()))
                    .collect(),
            ),
        }
    }

    fn update(&self, resource: &'static str, change: impl FnOnce(&mut ResourceState)) {
        let mut resources = self
            .resources
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        change(resources.entry(resource).or_default());
    }

    pub fn synced(&self, resource: &'static str, objects: u64) {
        self.update(resource, |state| {
            state.synced = true;
            state.last_error = None;
            state.objects = objects;
        });
    }

    pub fn set_objects(&self, resource: &'static str, objects: u64) {
        self.update(resource, |state| state.objects = objects);
    }

    pub fn failed(&self, resource: &'static str, error: String) {
        self.update(resource, |state| {
            state.synced = false;
            state.last_error = Some(error);
            state.errors += 1;
        });
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, ResourceState> {
        self.resources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// One line for `/readyz`: "synced", or what is missing and why.
    pub fn summary(&self) -> String {
        let resources = self.snapshot();
        let waiting: Vec<String> = resources
            .iter()
            .filter(|(_, state)| !state.synced)
            .map(|(name, state)| match &state.last_error {
                Some(error) => format!("{name} ({error})"),
                None => (*name).to_owned(),
            })
            .collect();
        if waiting.is_empty() {
            "synced".to_owned()
        } else {
            format!(
                "not synced, flows are counted without names: {}",
                waiting.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_what_is_not_synced_and_why() {
        let status = SyncStatus::new(["pods", "services"]);
        assert_eq!(
            status.summary(),
            "not synced, flows are counted without names: pods, services"
        );
        status.synced("pods", 3);
        status.failed("services", "connection refused".into());
        assert_eq!(
            status.summary(),
            "not synced, flows are counted without names: services (connection refused)"
        );
        status.synced("services", 1);
        assert_eq!(status.summary(), "synced");
        let snapshot = status.snapshot();
        assert_eq!(snapshot["services"].errors, 1);
        assert_eq!(snapshot["services"].last_error, None);
        assert_eq!(snapshot["pods"].objects, 3);
    }
}
