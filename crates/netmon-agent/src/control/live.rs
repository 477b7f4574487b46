//! The settings a running agent puts in force without a restart, and how.
//!
//! Each is cheap to change in place: the flow table's limits are plain
//! fields ([`FlowTable::set_config`](crate::flow::FlowTable::set_config)),
//! the drain loop and the interface watcher read their interval and
//! selection from watch channels at each turn, and the log filter is
//! reloadable. Everything else sizes a kernel map, a channel or a listener,
//! or attaches programs, and needs a restart.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::warn;

use super::trace::Verbosity;
use crate::config::{CaptureConfig, Config};
use crate::flow::FlowTableConfig;
use crate::runtime::{table_config, AgentState};
use crate::source::links::InterfaceSelection;

/// A setting that takes effect without a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveSetting {
    /// The log filter is replaced at once.
    LogLevel,
    /// The flow table's limits, at its next insert or expiry.
    FlowTimeout,
    ClosedRetention,
    MaxFlows,
    /// From the drain after the one in progress.
    FlushInterval,
    /// At the interface watcher's next pass (500 ms): attached to or
    /// detached from as if the interfaces had appeared or gone.
    Interfaces,
    ExcludeInterfaces,
}

impl LiveSetting {
    pub const ALL: [LiveSetting; 7] = [
        LiveSetting::LogLevel,
        LiveSetting::FlowTimeout,
        LiveSetting::ClosedRetention,
        LiveSetting::MaxFlows,
        LiveSetting::FlushInterval,
        LiveSetting::Interfaces,
        LiveSetting::ExcludeInterfaces,
    ];

    /// The setting's dotted name.
    pub fn key(self) -> &'static str {
        match self {
            LiveSetting::LogLevel => "log.level",
            LiveSetting::FlowTimeout => "flow.flow_timeout",
            LiveSetting::ClosedRetention => "flow.closed_retention",
            LiveSetting::MaxFlows => "flow.max_flows",
            LiveSetting::FlushInterval => "flow.flush_interval",
            LiveSetting::Interfaces => "capture.interfaces",
            LiveSetting::ExcludeInterfaces => "capture.exclude_interfaces",
        }
    }

    pub fn of(key: &str) -> Option<LiveSetting> {
        LiveSetting::ALL.into_iter().find(|live| live.key() == key)
    }

    /// Copies this setting's value from `from` into `into`.
    fn copy(self, from: &Config, into: &mut Config) {
        match self {
            LiveSetting::LogLevel => into.log.level = from.log.level,
            LiveSetting::FlowTimeout => into.flow.flow_timeout = from.flow.flow_timeout,
            LiveSetting::ClosedRetention => into.flow.closed_retention = from.flow.closed_retention,
            LiveSetting::MaxFlows => into.flow.max_flows = from.flow.max_flows,
            LiveSetting::FlushInterval => into.flow.flush_interval = from.flow.flush_interval,
            LiveSetting::Interfaces => into.capture.interfaces.clone_from(&from.capture.interfaces),
            LiveSetting::ExcludeInterfaces => into
                .capture
                .exclude_interfaces
                .clone_from(&from.capture.exclude_interfaces),
        }
    }

    fn touches_flow_table(self) -> bool {
        matches!(
            self,
            LiveSetting::FlowTimeout | LiveSetting::ClosedRetention | LiveSetting::MaxFlows
        )
    }

    fn touches_interfaces(self) -> bool {
        matches!(
            self,
            LiveSetting::Interfaces | LiveSetting::ExcludeInterfaces
        )
    }
}

/// `in_force` with every live setting taken from `desired`: the
/// configuration in force once `desired` has been applied as far as it can
/// be without a restart.
pub fn with_live_settings(in_force: &Config, desired: &Config) -> Config {
    let mut next = in_force.clone();
    for live in LiveSetting::ALL {
        live.copy(desired, &mut next);
    }
    next
}

/// Which interfaces the programs belong on.
pub fn interface_selection(capture: &CaptureConfig) -> InterfaceSelection {
    InterfaceSelection {
        include: capture.interfaces.clone(),
        exclude: capture.exclude_interfaces.clone(),
    }
}

/// Whatever holds the flow table.
pub trait FlowTableTarget: Send + Sync {
    fn set_flow_table(&self, config: FlowTableConfig);
}

impl FlowTableTarget for AgentState {
    fn set_flow_table(&self, config: FlowTableConfig) {
        self.metrics
            .set_flow_table_max_flows(config.max_flows as u64);
        self.table.lock().expect("table lock").set_config(config);
    }
}

/// Where live settings are put in force.
pub struct LiveTargets {
    flow_table: Arc<dyn FlowTableTarget>,
    verbosity: Arc<Verbosity>,
    flush_interval: watch::Sender<Duration>,
    interfaces: watch::Sender<InterfaceSelection>,
}

impl LiveTargets {
    pub fn new(
        config: &Config,
        flow_table: Arc<dyn FlowTableTarget>,
        verbosity: Arc<Verbosity>,
    ) -> Self {
        Self {
            flow_table,
            verbosity,
            flush_interval: watch::Sender::new(config.flow.flush_interval),
            interfaces: watch::Sender::new(interface_selection(&config.capture)),
        }
    }

    /// `flow.flush_interval`, for the drain loop.
    pub fn flush_interval(&self) -> watch::Receiver<Duration> {
        self.flush_interval.subscribe()
    }

    /// `capture.interfaces` and `capture.exclude_interfaces`, for the
    /// interface watcher.
    pub fn interfaces(&self) -> watch::Receiver<InterfaceSelection> {
        self.interfaces.subscribe()
    }

    /// Puts `changed` in force with their values in `config`.
    pub fn apply(&self, config: &Config, changed: &[LiveSetting]) {
        if changed.iter().any(|live| live.touches_flow_table()) {
            self.flow_table.set_flow_table(table_config(config));
        }
        if changed.contains(&LiveSetting::FlushInterval) {
            self.flush_interval.send_replace(config.flow.flush_interval);
        }
        if changed.iter().any(|live| live.touches_interfaces()) {
            self.interfaces
                .send_replace(interface_selection(&config.capture));
        }
        if changed.contains(&LiveSetting::LogLevel) {
            if let Err(e) = self.verbosity.set_level(config.log.level) {
                warn!(error = %e, "log.level could not be put in force");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::diff::changed_settings;

    #[test]
    fn every_live_setting_names_a_setting_of_the_model() {
        let settings: Vec<String> = crate::config::settings()
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        for live in LiveSetting::ALL {
            assert!(settings.iter().any(|key| key == live.key()), "{live:?}");
            assert_eq!(LiveSetting::of(live.key()), Some(live));
        }
        assert_eq!(LiveSetting::of("capture.attach_mode"), None);
    }

    #[test]
    fn applying_takes_exactly_the_live_settings_and_leaves_the_rest() {
        let desired = Config::from_yaml_str(
            "log: {level: debug, format: json}\n\
             flow: {flow_timeout: 5s, closed_retention: 6s, max_flows: 7, flush_interval: 2s, kernel_map_entries: 1024}\n\
             capture: {interfaces: [eth1], exclude_interfaces: [docker*], attach_mode: tc}\n",
        )
        .unwrap();
        let in_force = Config::default();
        let next = with_live_settings(&in_force, &desired);
        let live: Vec<&str> = LiveSetting::ALL.iter().map(|l| l.key()).collect();
        assert_eq!(
            changed_settings(&in_force, &next),
            live_in_model_order(&live)
        );
        assert_eq!(
            changed_settings(&next, &desired),
            [
                "capture.attach_mode",
                "flow.kernel_map_entries",
                "log.format"
            ]
        );
    }

    /// `keys` in the order the model lists settings.
    fn live_in_model_order(keys: &[&str]) -> Vec<String> {
        crate::config::settings()
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| keys.contains(&key.as_str()))
            .collect()
    }
}
