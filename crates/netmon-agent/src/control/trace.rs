//! How much the agent logs, changed while it runs: `log.level` from a
//! reload or `config set`, and the debug trace switch, which turns netmon's
//! own crates up to `trace` and back without touching the configuration.
//!
//! Both act on one reloadable filter. `RUST_LOG`, when it was set at
//! startup, stays in force until `log.level` is changed at run time; the
//! trace switch turned off restores whichever of the two was in force.

use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use thiserror::Error;
use tracing_subscriber::{reload, EnvFilter, Registry};

use crate::config::LogLevel;
use crate::telemetry::logging::level_filter;

/// Replaces the filter of the installed subscriber.
pub type FilterHandle = reload::Handle<EnvFilter, Registry>;

#[derive(Debug, Error)]
pub enum TraceError {
    #[error("changing the log filter: {0}")]
    Reload(#[from] reload::Error),
}

/// What `GET`/`POST /api/v1/debug/trace` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceState {
    pub enabled: bool,
    /// The level netmon's crates log at now: `trace` while tracing.
    pub log_level: String,
}

#[derive(Debug)]
struct Filters {
    level: LogLevel,
    /// `RUST_LOG` from startup, until `log.level` is changed.
    rust_log: Option<String>,
    trace: bool,
}

impl Filters {
    fn filter(&self) -> EnvFilter {
        if self.trace {
            return level_filter(LogLevel::Trace);
        }
        self.rust_log
            .as_deref()
            .and_then(|directives| EnvFilter::try_new(directives).ok())
            .unwrap_or_else(|| level_filter(self.level))
    }

    fn state(&self) -> TraceState {
        TraceState {
            enabled: self.trace,
            log_level: if self.trace {
                LogLevel::Trace.as_str().to_owned()
            } else {
                self.level.as_str().to_owned()
            },
        }
    }
}

/// The log filter's owner.
pub struct Verbosity {
    handle: FilterHandle,
    filters: Mutex<Filters>,
}

impl Verbosity {
    /// `rust_log` is the `RUST_LOG` filter startup installed, if any.
    pub fn new(handle: FilterHandle, level: LogLevel, rust_log: Option<String>) -> Self {
        Self {
            handle,
            filters: Mutex::new(Filters {
                level,
                rust_log,
                trace: false,
            }),
        }
    }

    fn filters(&self) -> std::sync::MutexGuard<'_, Filters> {
        self.filters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts `log.level` in force (after the trace is turned off, if on).
    pub fn set_level(&self, level: LogLevel) -> Result<(), TraceError> {
        let mut filters = self.filters();
        filters.level = level;
        filters.rust_log = None;
        self.handle.reload(filters.filter())?;
        Ok(())
    }

    pub fn set_trace(&self, enabled: bool) -> Result<TraceState, TraceError> {
        let mut filters = self.filters();
        filters.trace = enabled;
        self.handle.reload(filters.filter())?;
        Ok(filters.state())
    }

    pub fn state(&self) -> TraceState {
        self.filters().state()
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::control::logs::LogRing;

    /// A subscriber like the agent's (reloadable filter, lines into a ring),
    /// for the duration of `body`.
    fn with_logging(
        level: LogLevel,
        rust_log: Option<&str>,
        body: impl FnOnce(&Verbosity),
    ) -> Vec<String> {
        let ring = LogRing::with_capacity(100);
        let start = match rust_log {
            Some(directives) => EnvFilter::new(directives),
            None => level_filter(level),
        };
        let (filter, handle) = reload::Layer::new(start);
        let subscriber = tracing_subscriber::registry().with(filter).with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .without_time()
                .with_target(false)
                .with_writer(ring.clone()),
        );
        let verbosity = Verbosity::new(handle, level, rust_log.map(str::to_owned));
        tracing::subscriber::with_default(subscriber, || body(&verbosity));
        ring.last(100)
    }

    fn log_one_of_each(tag: &str) {
        tracing::trace!("{tag} trace");
        tracing::debug!("{tag} debug");
        tracing::info!("{tag} info");
    }

    #[test]
    fn the_trace_switch_turns_netmon_up_to_trace_and_back_to_the_level() {
        let lines = with_logging(LogLevel::Info, None, |verbosity| {
            log_one_of_each("before");
            let on = verbosity.set_trace(true).unwrap();
            assert_eq!(
                on,
                TraceState {
                    enabled: true,
                    log_level: "trace".into()
                }
            );
            log_one_of_each("tracing");
            let off = verbosity.set_trace(false).unwrap();
            assert_eq!(
                off,
                TraceState {
                    enabled: false,
                    log_level: "info".into()
                }
            );
            log_one_of_each("after");
        });
        assert_eq!(
            lines,
            [
                " INFO before info",
                "TRACE tracing trace",
                "DEBUG tracing debug",
                " INFO tracing info",
                " INFO after info",
            ]
        );
    }

    #[test]
    fn a_new_level_applies_at_once_and_is_what_the_trace_switch_restores() {
        let lines = with_logging(LogLevel::Info, None, |verbosity| {
            verbosity.set_level(LogLevel::Debug).unwrap();
            log_one_of_each("debug");
            verbosity.set_trace(true).unwrap();
            // Changed while tracing: remembered, shown once tracing stops.
            verbosity.set_level(LogLevel::Info).unwrap();
            log_one_of_each("tracing");
            verbosity.set_trace(false).unwrap();
            log_one_of_each("info");
        });
        assert_eq!(
            lines,
            [
                "DEBUG debug debug",
                " INFO debug info",
                "TRACE tracing trace",
                "DEBUG tracing debug",
                " INFO tracing info",
                " INFO info info",
            ]
        );
    }

    #[test]
    fn rust_log_stays_in_force_until_the_level_is_changed() {
        let lines = with_logging(LogLevel::Info, Some("warn"), |verbosity| {
            log_one_of_each("rust_log");
            verbosity.set_trace(true).unwrap();
            verbosity.set_trace(false).unwrap();
            log_one_of_each("restored");
            verbosity.set_level(LogLevel::Debug).unwrap();
            log_one_of_each("level");
        });
        assert_eq!(lines, ["DEBUG level debug", " INFO level info"]);
    }
}
