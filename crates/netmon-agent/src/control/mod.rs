//! Live configuration and diagnostics: the configuration file watched and
//! reloaded, `config set`, the debug trace switch, recent log lines, and the
//! endpoints that show and change them (see `router`).
//!
//! Two configurations are kept: the one *desired* (the last accepted file
//! or `config set`, over the startup environment and flags) and the one *in
//! force*. They differ only in settings that need a restart: those are
//! reported as `restart_required` until the agent restarts or they are
//! changed back. A `config set` lasts until the file next changes (a valid
//! reload replaces the whole desired configuration) or the agent restarts.

mod diff;
pub mod live;
pub mod logs;
mod redact;
mod reload;
mod router;
mod set;
pub mod trace;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::watch;
use tracing::{info, warn};

use self::diff::{at, changed_settings, tree};
use self::live::{with_live_settings, FlowTableTarget, LiveSetting, LiveTargets};
use self::logs::LogRing;
use self::trace::Verbosity;
use crate::config::{Config, ConfigErrors, ConfigSource};
use crate::export::prometheus::{AgentMetrics, ConfigReload};
use crate::source::links::InterfaceSelection;
use crate::telemetry::logging::LogHandle;

pub use self::redact::{is_secret, redact, REDACTED};
pub use self::reload::POLL_INTERVAL;
pub use self::set::SetError;

/// Told the settings that wait for a restart each time they change (the
/// status endpoint shows them).
pub type RestartRequiredHook = Arc<dyn Fn(&[String]) + Send + Sync>;

/// What startup hands the runtime for its live controls.
pub struct ControlInputs {
    /// The flags and environment the agent started with.
    pub source: ConfigSource,
    /// Names of the command-line flags given.
    pub flags: Vec<String>,
    pub log: LogHandle,
}

/// Everything [`Control::new`] ties together.
pub struct ControlParts {
    /// The configuration the agent started with.
    pub config: Config,
    /// The flags and environment it started with, to reload like startup.
    pub source: ConfigSource,
    /// Names of the command-line flags given, for `/debug/config`.
    pub flags: Vec<String>,
    pub log: LogHandle,
    pub flow_table: Arc<dyn FlowTableTarget>,
    pub metrics: Arc<AgentMetrics>,
    pub on_restart_required: RestartRequiredHook,
}

/// What one change did to each setting it touched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// In force now.
    pub applied: Vec<String>,
    /// Accepted, in force after a restart.
    pub restart_required: Vec<String>,
    /// Given with the value they already had.
    pub unchanged: Vec<String>,
}

/// Reloads of the configuration file since startup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadStats {
    pub applied: u64,
    pub rejected: u64,
    /// Why the latest reload was refused; `None` once a later one applied.
    pub last_error: Option<String>,
    /// When the latest reload (applied or refused) happened, RFC 3339.
    pub last_reload_at: Option<String>,
}

struct State {
    in_force: Config,
    desired: Config,
    /// What startup loaded: the watcher's first read finding the same is
    /// no reload, even if a `config set` changed `desired` meanwhile.
    started_with: Config,
    reloads: ReloadStats,
}

struct Inner {
    source: ConfigSource,
    flags: Vec<String>,
    live: LiveTargets,
    verbosity: Arc<Verbosity>,
    ring: LogRing,
    metrics: Arc<AgentMetrics>,
    on_restart_required: RestartRequiredHook,
    state: Mutex<State>,
}

/// The running agent's configuration and logging controls. Clones share.
#[derive(Clone)]
pub struct Control {
    inner: Arc<Inner>,
}

impl ControlParts {
    /// The parts of a running agent: `inputs` from startup, the table
    /// and metrics from the runtime.
    pub fn of_agent(
        config: &Config,
        inputs: ControlInputs,
        flow_table: Arc<dyn FlowTableTarget>,
        metrics: Arc<AgentMetrics>,
        on_restart_required: RestartRequiredHook,
    ) -> Self {
        ControlParts {
            config: config.clone(),
            source: inputs.source,
            flags: inputs.flags,
            log: inputs.log,
            flow_table,
            metrics,
            on_restart_required,
        }
    }
}

impl Control {
    pub fn new(parts: ControlParts) -> Self {
        let live = LiveTargets::new(&parts.config, parts.flow_table, parts.log.verbosity.clone());
        parts.metrics.start_config_reloads();
        Control {
            inner: Arc::new(Inner {
                source: parts.source,
                flags: parts.flags,
                live,
                verbosity: parts.log.verbosity,
                ring: parts.log.ring,
                metrics: parts.metrics,
                on_restart_required: parts.on_restart_required,
                state: Mutex::new(State {
                    in_force: parts.config.clone(),
                    started_with: parts.config.clone(),
                    desired: parts.config,
                    reloads: ReloadStats::default(),
                }),
            }),
        }
    }

    /// The endpoints, to merge into the API router.
    pub fn router(&self) -> axum::Router {
        router::router(self.clone())
    }

    /// Watches the configuration file until `shutdown`, if there is one.
    pub fn start_watching(
        &self,
        shutdown: watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let path = self.path()?;
        Some(tokio::spawn(reload::watch_file(
            self.clone(),
            path,
            POLL_INTERVAL,
            shutdown,
        )))
    }

    /// `flow.flush_interval` in force, for the drain loop.
    pub fn flush_interval(&self) -> watch::Receiver<Duration> {
        self.inner.live.flush_interval()
    }

    /// The interfaces to attach to, for the interface watcher.
    pub fn interfaces(&self) -> watch::Receiver<InterfaceSelection> {
        self.inner.live.interfaces()
    }

    /// The configuration file, if the agent has one.
    pub fn path(&self) -> Option<PathBuf> {
        self.inner.source.path()
    }

    pub fn in_force(&self) -> Config {
        self.state().in_force.clone()
    }

    /// Settings changed to values that wait for a restart, in model order.
    pub fn restart_required(&self) -> Vec<String> {
        let state = self.state();
        changed_settings(&state.in_force, &state.desired)
    }

    pub fn reloads(&self) -> ReloadStats {
        self.state().reloads.clone()
    }

    pub fn verbosity(&self) -> &Verbosity {
        &self.inner.verbosity
    }

    pub fn log_ring(&self) -> &LogRing {
        &self.inner.ring
    }

    pub(crate) fn source(&self) -> &ConfigSource {
        &self.inner.source
    }

    pub(crate) fn flags(&self) -> &[String] {
        &self.inner.flags
    }

    /// `config set`: the settings take their new values, live ones at once;
    /// nothing changes if any is refused.
    pub fn set(&self, settings: &[(String, String)]) -> Result<Outcome, SetError> {
        let mut state = self.state();
        let next = match set::with_settings(&self.inner.source, &state.desired, settings) {
            Ok(next) => next,
            Err(error) => {
                for problem in error.problems() {
                    info!(%problem, "config set refused");
                }
                return Err(error);
            }
        };
        let (applied, restart_required) = self.apply(&mut state, next);
        let mut unchanged: Vec<String> = Vec::new();
        for (key, _) in settings {
            let touched = applied.contains(key) || restart_required.contains(key);
            if !touched && !unchanged.contains(key) {
                unchanged.push(key.clone());
            }
        }
        info!(applied = %list(&applied), restart_required = %list(&restart_required),
              unchanged = %list(&unchanged), "config set");
        Ok(Outcome {
            applied,
            restart_required,
            unchanged,
        })
    }

    /// Takes in the file's content as the watcher read it (or why it could
    /// not). `first` is the first read after startup, which loaded the file
    /// itself: the same configuration again is no reload.
    pub(crate) fn reload_file(&self, read: Result<String, ConfigErrors>, first: bool) {
        let loaded = read.and_then(|text| self.inner.source.load_file_text(&text));
        let mut state = self.state();
        let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        match loaded {
            Ok(next) if first && next == state.started_with => {}
            Ok(next) => {
                let (applied, restart_required) = self.apply(&mut state, next);
                state.reloads.applied += 1;
                state.reloads.last_error = None;
                state.reloads.last_reload_at = Some(now);
                self.inner
                    .metrics
                    .record_config_reload(ConfigReload::Applied);
                info!(applied = %list(&applied), restart_required = %list(&restart_required),
                      "config reloaded");
            }
            Err(errors) => {
                state.reloads.rejected += 1;
                state.reloads.last_error = Some(
                    errors
                        .0
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                );
                state.reloads.last_reload_at = Some(now);
                self.inner
                    .metrics
                    .record_config_reload(ConfigReload::Rejected);
                for problem in &errors.0 {
                    warn!(%problem, "config reload rejected, the running configuration stays");
                }
            }
        }
    }

    /// Makes `next` the desired configuration and puts its live settings in
    /// force. Returns the settings it changed: those now in force, and those
    /// waiting for a restart.
    fn apply(&self, state: &mut State, next: Config) -> (Vec<String>, Vec<String>) {
        let changed = changed_settings(&state.desired, &next);
        let live: Vec<LiveSetting> = changed.iter().filter_map(|k| LiveSetting::of(k)).collect();
        let in_force = with_live_settings(&state.in_force, &next);
        self.inner.live.apply(&in_force, &live);
        // A restart-only setting changed back to the value in force is in
        // force too.
        let (in_force_tree, next_tree) = (tree(&in_force), tree(&next));
        let (applied, restart_required): (Vec<String>, Vec<String>) = changed
            .into_iter()
            .partition(|key| at(&in_force_tree, key) == at(&next_tree, key));
        state.in_force = in_force;
        state.desired = next;
        (self.inner.on_restart_required)(&changed_settings(&state.in_force, &state.desired));
        (applied, restart_required)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// `[a, b]` for log lines.
fn list(keys: &[String]) -> String {
    format!("[{}]", keys.join(", "))
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests;
