//! `netmon_config_reloads_total`: reloads of the configuration file, by
//! whether the new content was put in force or refused.

use prometheus::{IntCounterVec, Registry};

use super::register::int_counter_vec;

/// How a reload of the configuration file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigReload {
    /// Valid: its live settings are in force, the others wait for a restart.
    Applied,
    /// Invalid or unreadable: the running configuration stays.
    Rejected,
}

impl ConfigReload {
    pub const ALL: [ConfigReload; 2] = [ConfigReload::Applied, ConfigReload::Rejected];

    /// The `result` label value.
    pub fn name(self) -> &'static str {
        match self {
            ConfigReload::Applied => "applied",
            ConfigReload::Rejected => "rejected",
        }
    }
}

pub(crate) struct ConfigMetrics {
    reloads_total: IntCounterVec,
}

impl ConfigMetrics {
    pub(crate) fn register(r: &Registry) -> Result<Self, prometheus::Error> {
        Ok(ConfigMetrics {
            reloads_total: int_counter_vec(
                r,
                "netmon_config_reloads_total",
                "Reloads of the configuration file after its content changed (result: applied, rejected; a rejected one leaves the running configuration as it was).",
                &["result"],
            )?,
        })
    }

    /// Creates both series at 0: `increase()` then sees the first reload,
    /// and an alert on rejections has a series to watch.
    pub(crate) fn start(&self) {
        for result in ConfigReload::ALL {
            self.reloads_total.with_label_values(&[result.name()]);
        }
    }

    pub(crate) fn record(&self, result: ConfigReload) {
        self.reloads_total.with_label_values(&[result.name()]).inc();
    }
}
