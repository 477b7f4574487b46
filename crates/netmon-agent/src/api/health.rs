//! Liveness and readiness endpoints, served on both listeners so that a
//! probe can target whichever port the deployment exposes.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

/// Whether the agent is ready to serve, and if not, why. Clones share state.
#[derive(Clone, Debug)]
pub struct Readiness {
    /// `None` when ready; otherwise the reason shown by `/readyz`.
    not_ready: Arc<RwLock<Option<String>>>,
    /// Components that work in a degraded way without making the agent
    /// unready (flows are still counted), shown as `name: detail` lines.
    details: Arc<RwLock<BTreeMap<&'static str, String>>>,
}

impl Readiness {
    /// Starts not ready: nothing has been attached or drained yet.
    pub fn new() -> Self {
        Readiness {
            not_ready: Arc::new(RwLock::new(Some("starting".to_owned()))),
            details: Arc::new(RwLock::new(BTreeMap::new())),
        }
    }

    pub fn set_ready(&self) {
        *self.write() = None;
    }

    pub fn set_not_ready(&self, reason: impl Into<String>) {
        *self.write() = Some(reason.into());
    }

    pub fn is_ready(&self) -> bool {
        self.read().is_none()
    }

    /// Sets the detail line of `component` shown by `/readyz`.
    pub fn set_detail(&self, component: &'static str, detail: impl Into<String>) {
        self.details
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(component, detail.into());
    }

    /// The `/readyz` body: the state, then one line per component.
    pub fn report(&self) -> String {
        let mut report = self.reason().unwrap_or_else(|| "ready".to_owned());
        for (component, detail) in self
            .details
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            report.push_str(&format!("\n{component}: {detail}"));
        }
        report
    }

    /// Why the agent is not ready; `None` when it is.
    pub fn reason(&self) -> Option<String> {
        self.read().clone()
    }

    // A panic while holding the lock cannot leave an `Option<String>` half
    // written, so a poisoned lock is still safe to use.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<String>> {
        self.not_ready
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<String>> {
        self.not_ready
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

/// `/healthz` and `/readyz`.
pub fn health_router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

/// Alive as long as the runtime answers; a wedged agent fails by timing out.
async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(readiness): State<Readiness>) -> (StatusCode, String) {
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, readiness.report())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_readiness_is_not_ready_because_it_is_starting() {
        let readiness = Readiness::new();
        assert!(!readiness.is_ready());
        assert_eq!(readiness.reason().as_deref(), Some("starting"));
    }

    #[test]
    fn clones_share_the_state() {
        let readiness = Readiness::new();
        let clone = readiness.clone();
        clone.set_ready();
        assert!(readiness.is_ready());
        assert_eq!(readiness.reason(), None);
        clone.set_not_ready("lost interface eth0");
        assert_eq!(readiness.reason().as_deref(), Some("lost interface eth0"));
    }

    #[test]
    fn details_are_extra_lines_that_do_not_change_readiness() {
        let readiness = Readiness::new();
        readiness.set_ready();
        readiness.set_detail("kubernetes", "not synced: pods");
        assert!(readiness.is_ready());
        assert_eq!(readiness.report(), "ready\nkubernetes: not synced: pods");
    }
}
