//! Reads the kernel's payload samples every 50 ms and runs the inspect
//! stage on them: DNS transactions (metrics now, the flow at the next
//! drain), names of resolved addresses, protocol classification; tells the
//! kernel which flow directions need no more samples.

use std::sync::Arc;
use std::time::Duration;

use netmon_common::FlowKey;
use netmon_ebpf::PayloadReader;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::{
    config::Config,
    export::prometheus::AppReading,
    flow::{AppObservation, AppUpdate, Protocol},
    inspect::{AppClassifier, CompletedDns, DnsTracker, ResolvedNames},
    l7::{dns, AppProtocol, ProtocolSet},
    source::{
        kernel::monotonic_ns,
        payload::{self, SampleKind},
    },
};

use super::AgentState;

const MAX_SAMPLES_PER_READ: usize = 8192;
/// Samples are read on a timer, like the TCP events; the kernel wakes the
/// reader early only when the 4 MiB ring is a quarter full (~1,800
/// samples), which leaves room for ~140,000 samples/s.
const READ_INTERVAL: Duration = Duration::from_millis(50);
/// How often timed-out queries, expired names and quiet connections are
/// swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// What the inspect stage does, from the configuration.
#[derive(Debug, Clone)]
pub struct InspectSettings {
    pub dns: Option<crate::config::DnsConfig>,
    pub protocols: Option<ProtocolSet>,
    /// Connections the classifier keeps state for at most.
    pub max_connections: usize,
    /// A connection without a sample for this long is forgotten.
    pub connection_idle: Duration,
}

impl InspectSettings {
    pub fn from_config(config: &Config) -> Self {
        let features = &config.features;
        InspectSettings {
            dns: features.dns.enabled.then(|| features.dns.clone()),
            protocols: features.protocol_detection.enabled.then(|| {
                features
                    .protocol_detection
                    .protocols
                    .iter()
                    .filter_map(|p| AppProtocol::from_name(p.as_str()))
                    .collect()
            }),
            max_connections: config.flow.kernel_map_entries as usize,
            connection_idle: config.flow.flow_timeout + 2 * config.flow.flush_interval,
        }
    }

    /// `netmon_common::payload_flags` for the kernel.
    pub fn payload_flags(&self) -> u32 {
        let mut flags = 0;
        if self.dns.is_some() {
            flags |= netmon_common::payload_flags::DNS;
        }
        if self.protocols.is_some() {
            flags |= netmon_common::payload_flags::FIRST;
        }
        flags
    }

    pub fn resolved_names(&self) -> Option<ResolvedNames> {
        self.dns
            .as_ref()
            .map(|dns| ResolvedNames::new(dns.max_names, dns.name_retention))
    }
}

struct Inspect {
    classifier: Option<AppClassifier>,
    tracker: Option<DnsTracker>,
    connection_idle_ns: u64,
}

pub async fn run(
    state: Arc<AgentState>,
    mut reader: PayloadReader,
    settings: InspectSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    info!(
        dns = settings.dns.is_some(),
        protocol_detection = settings.protocols.is_some(),
        "payload inspection on"
    );
    let mut inspect = Inspect {
        classifier: settings
            .protocols
            .map(|p| AppClassifier::new(p, settings.max_connections)),
        tracker: settings
            .dns
            .as_ref()
            .map(|dns| DnsTracker::new(dns.query_timeout, dns.max_pending)),
        connection_idle_ns: settings.connection_idle.as_nanos() as u64,
    };
    let mut batch = Vec::with_capacity(256);
    let mut last_sweep = std::time::Instant::now();
    loop {
        batch.clear();
        tokio::select! {
            read = reader.read(&mut batch, MAX_SAMPLES_PER_READ) => {
                if let Err(e) = read {
                    warn!(error = %e, "payload ring buffer read failed; DNS and protocol detection stop");
                    return;
                }
            }
            _ = tokio::time::sleep(READ_INTERVAL) => {
                reader.read_available(&mut batch, MAX_SAMPLES_PER_READ);
            }
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let sweep = last_sweep.elapsed() >= SWEEP_INTERVAL;
        if batch.is_empty() && !sweep {
            continue;
        }
        if sweep {
            last_sweep = std::time::Instant::now();
        }
        inspect.process(&state, &batch, sweep);
    }
}

impl Inspect {
    fn process(&mut self, state: &AgentState, batch: &[netmon_common::PayloadSample], sweep: bool) {
        let metrics = state.metrics.app();
        let mut observations = Vec::new();
        let mut completed = Vec::new();
        let mut done: Vec<FlowKey> = Vec::new();
        // The same directions as the classifier knows them.
        let mut done_directions = Vec::new();
        let mut undecodable = 0;
        for raw in batch {
            let Some(sample) = payload::sample(raw) else {
                continue;
            };
            if sample.kind == SampleKind::Dns {
                if let Some(tracker) = &mut self.tracker {
                    let message = if sample.key.protocol == Protocol::Tcp {
                        dns::parse_tcp_message(sample.payload)
                    } else {
                        dns::parse_message(sample.payload)
                    };
                    match message {
                        Ok(message) => completed.extend(tracker.observe(
                            sample.key,
                            &message,
                            sample.at_mono_ns,
                        )),
                        Err(_) => undecodable += 1,
                    }
                }
            }
            if let Some(classifier) = &mut self.classifier {
                let verdict = classifier.observe(sample.key, sample.payload, sample.at_mono_ns);
                observations.extend(verdict.observation);
                if let Some(protocol) = verdict.classified {
                    metrics.record_classified(protocol);
                }
                // DNS packets are sampled on their own path, which the done
                // map does not stop.
                if verdict.done && sample.kind == SampleKind::FirstPayload {
                    done.push(raw.key);
                    done_directions.push(sample.key);
                }
            }
        }
        let now = monotonic_ns();
        if sweep {
            if let Some(tracker) = &mut self.tracker {
                completed.extend(tracker.expire(now));
            }
            if let Some(classifier) = &mut self.classifier {
                classifier.forget_before(now.saturating_sub(self.connection_idle_ns));
            }
        }
        if !completed.is_empty() || sweep {
            let mut names = state.resolved_names.write().expect("names lock");
            for transaction in completed {
                observations.push(record_dns(state, &mut names, transaction, now));
            }
            if sweep {
                names.expire(now);
            }
        }
        metrics.add_dns_undecodable(undecodable);
        if !done.is_empty() {
            let mut guard = state.ebpf.lock().expect("ebpf lock");
            let mut all_written = false;
            if let Some(ebpf) = guard.as_mut() {
                // A key not written is only sampled again; nothing is lost.
                match ebpf.mark_payload_done(&done) {
                    Ok(failed) => all_written = failed == 0,
                    Err(e) => warn!(error = %e, "could not mark flow directions classified"),
                }
            }
            drop(guard);
            // After the write: a sample the kernel takes from now on means
            // it forgot a mark (a new connection on those ports). Not when
            // some write failed: those directions are still sampled, and
            // their samples must not read as a new connection.
            if let (true, Some(classifier)) = (all_written, &mut self.classifier) {
                classifier.marked(&done_directions, monotonic_ns());
            }
        }
        state.push_app_observations(observations);
        let names = state.resolved_names.read().expect("names lock");
        let tracker = self
            .tracker
            .as_ref()
            .map(DnsTracker::stats)
            .unwrap_or_default();
        let classifier = self
            .classifier
            .as_ref()
            .map(AppClassifier::stats)
            .unwrap_or_default();
        metrics.set_reading(AppReading {
            dns_pending: tracker.pending,
            dns_pending_dropped: tracker.pending_dropped,
            dns_names: names.len(),
            dns_names_evicted: names.evicted(),
            classifier_connections: classifier.connections,
            classifier_untracked_samples: classifier.untracked_samples,
        });
    }
}

/// Counts a transaction, names its addresses, and makes it the flow's.
fn record_dns(
    state: &AgentState,
    names: &mut ResolvedNames,
    completed: CompletedDns,
    now: u64,
) -> AppObservation {
    state.metrics.app().record_dns(&completed.transaction);
    for (ip, ttl) in &completed.addresses {
        names.insert(*ip, &completed.transaction.name, *ttl, now);
    }
    AppObservation {
        key: completed.key,
        update: AppUpdate::Dns(completed.transaction),
        misses: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DetectedProtocol;

    #[test]
    fn the_kernel_copies_only_what_the_configuration_asks_for() {
        let mut config = Config::default();
        let settings = InspectSettings::from_config(&config);
        assert_eq!(
            settings.payload_flags(),
            netmon_common::payload_flags::DNS | netmon_common::payload_flags::FIRST
        );
        assert_eq!(settings.protocols, Some(ProtocolSet::all()));
        assert!(settings.resolved_names().is_some());

        config.features.dns.enabled = false;
        config.features.protocol_detection.protocols =
            vec![DetectedProtocol::Tls, DetectedProtocol::Postgresql];
        let settings = InspectSettings::from_config(&config);
        assert_eq!(
            settings.payload_flags(),
            netmon_common::payload_flags::FIRST
        );
        let protocols = settings.protocols.unwrap();
        assert!(
            protocols.contains(AppProtocol::Tls) && protocols.contains(AppProtocol::Postgresql)
        );
        assert!(!protocols.contains(AppProtocol::Http));
        assert!(settings.resolved_names().is_none());

        config.features.protocol_detection.enabled = false;
        assert_eq!(InspectSettings::from_config(&config).payload_flags(), 0);
    }
}
