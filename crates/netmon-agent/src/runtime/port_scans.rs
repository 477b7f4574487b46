//! Port-scan detection in the running agent: feeds the detector with the
//! connections the flow table opens, then counts, keeps and publishes the
//! scans it finds.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tracing::info;

use crate::{
    api::SecurityEventView,
    config::PortScanConfig,
    enrich::FlowIdentity,
    export::prometheus::AgentMetrics,
    flow::{FlowChange, FlowChangeKind, FlowRecord, UnixNanos},
    security::{PortScanDetector, Probe, ScanDetection, ScanThresholds},
};

/// How many security events `GET /api/v1/security/events` keeps; older ones
/// are dropped (`netmon_security_events_total` still counts them).
pub const RECENT_EVENTS: usize = 1000;

pub fn thresholds(config: &PortScanConfig) -> ScanThresholds {
    ScanThresholds {
        distinct_ports: config.distinct_ports as usize,
        distinct_hosts: config.distinct_hosts as usize,
        window: config.window,
        max_sources: config.max_sources,
    }
}

pub struct PortScans {
    thresholds: ScanThresholds,
    detector: Mutex<PortScanDetector>,
    recent: Mutex<Recent>,
    events: broadcast::Sender<Arc<SecurityEventView>>,
}

/// The newest events, oldest first, and the id the next one gets.
struct Recent {
    events: VecDeque<Arc<SecurityEventView>>,
    next_id: u64,
}

impl PortScans {
    /// `buffer_size` events can wait for a slow follow client before it
    /// misses some (and is told so).
    pub fn new(thresholds: ScanThresholds, buffer_size: usize) -> Self {
        PortScans {
            detector: Mutex::new(PortScanDetector::new(&thresholds)),
            thresholds,
            recent: Mutex::new(Recent {
                events: VecDeque::new(),
                next_id: 1,
            }),
            events: broadcast::channel(buffer_size.max(16)).0,
        }
    }

    /// Feeds the connections `changes` opened to the detector and
    /// publishes the scans they complete, naming their ends with
    /// `identify`.
    pub fn observe(
        &self,
        changes: &[FlowChange],
        metrics: &AgentMetrics,
        mut identify: impl FnMut(&FlowRecord) -> FlowIdentity,
    ) {
        let mut found: Vec<(ScanDetection, &FlowRecord)> = Vec::new();
        {
            let mut detector = self.detector.lock().expect("detector lock");
            let mut scans = Vec::new();
            for change in changes {
                if change.kind != FlowChangeKind::Opened {
                    continue;
                }
                let Some(probe) = Probe::of(&change.record) else {
                    continue;
                };
                detector.observe(&probe, &mut scans);
                found.extend(scans.drain(..).map(|scan| (scan, &change.record)));
            }
            metrics.set_port_scan_stats(&detector.stats());
        }
        for (scan, record) in found {
            self.publish(&scan, &identify(record), metrics);
        }
    }

    /// Forgets sources quiet for a whole window before `now`.
    pub fn expire(&self, now: UnixNanos, metrics: &AgentMetrics) {
        let mut detector = self.detector.lock().expect("detector lock");
        detector.expire(now);
        metrics.set_port_scan_stats(&detector.stats());
    }

    /// The kept events, oldest first.
    pub fn recent(&self) -> Vec<Arc<SecurityEventView>> {
        let recent = self.recent.lock().expect("recent events lock");
        recent.events.iter().cloned().collect()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<SecurityEventView>> {
        self.events.subscribe()
    }

    fn publish(&self, scan: &ScanDetection, identity: &FlowIdentity, metrics: &AgentMetrics) {
        let event = {
            let mut recent = self.recent.lock().expect("recent events lock");
            let event = Arc::new(SecurityEventView::of_scan(
                recent.next_id,
                scan,
                &self.thresholds,
                identity,
            ));
            recent.next_id += 1;
            if recent.events.len() == RECENT_EVENTS {
                recent.events.pop_front();
            }
            recent.events.push_back(event.clone());
            event
        };
        metrics.record_security_event(scan.kind);
        // Once per source and episode, not per connection: fit for info.
        info!(
            r#type = event.kind,
            src = %event.src_ip,
            dst = ?event.dst_ip,
            distinct_ports = event.distinct_ports,
            distinct_hosts = event.distinct_hosts,
            "scan detected"
        );
        // No follower is not an error.
        let _ = self.events.send(event);
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use super::*;
    use crate::export::prometheus::MetricsOptions;
    use crate::flow::{ConnectionKey, Counters, Endpoint, FlowStatus, Protocol};

    const SEC: u64 = 1_000_000_000;

    fn connection(id: u64, port: u16, protocol: Protocol, at: UnixNanos) -> FlowRecord {
        let mut record = FlowRecord::new(
            ConnectionKey {
                protocol,
                initiator: Endpoint {
                    ip: "10.1.0.1".parse().unwrap(),
                    port: 40_000 + id as u16,
                },
                responder: Endpoint {
                    ip: "10.1.0.2".parse().unwrap(),
                    port,
                },
            },
            at,
            at,
            1,
            at,
        );
        record.id = id;
        record.status = FlowStatus::Refused;
        record
    }

    fn change(kind: FlowChangeKind, record: FlowRecord) -> FlowChange {
        FlowChange {
            kind,
            added_tx: Counters::default(),
            added_rx: Counters::default(),
            record,
        }
    }

    fn scans(distinct_ports: usize) -> PortScans {
        PortScans::new(
            ScanThresholds {
                distinct_ports,
                distinct_hosts: 50,
                window: Duration::from_secs(10),
                max_sources: 100,
            },
            16,
        )
    }

    fn metrics() -> AgentMetrics {
        let metrics = AgentMetrics::new(&MetricsOptions::default()).unwrap();
        metrics.start_port_scan_detection();
        metrics
    }

    #[test]
    fn only_opened_connections_with_ports_are_probes() {
        let scans = scans(2);
        let metrics = metrics();
        let at = 100 * SEC;
        let changes = [
            // Updates and closes of the same connections are not new probes.
            change(FlowChangeKind::Opened, connection(1, 1, Protocol::Tcp, at)),
            change(FlowChangeKind::Closed, connection(1, 1, Protocol::Tcp, at)),
            change(FlowChangeKind::Updated, connection(2, 2, Protocol::Tcp, at)),
            change(FlowChangeKind::Evicted, connection(3, 3, Protocol::Tcp, at)),
            change(FlowChangeKind::Opened, connection(4, 4, Protocol::Icmp, at)),
            change(FlowChangeKind::Opened, connection(5, 5, Protocol::Udp, at)),
        ];
        scans.observe(&changes, &metrics, |_| FlowIdentity::default());
        assert!(scans.recent().is_empty(), "ports 1 and udp/5: two ports");

        let third = [change(
            FlowChangeKind::Opened,
            connection(6, 6, Protocol::Tcp, at + SEC),
        )];
        scans.observe(&third, &metrics, |_| FlowIdentity::default());
        let recent = scans.recent();
        assert_eq!(recent.len(), 1);
        let event = &recent[0];
        assert_eq!(
            (event.id, event.kind, event.distinct_ports, event.threshold),
            (1, "port_scan", 3, 2)
        );
        assert_eq!(event.src_ip, "10.1.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(event.detected_at_ns, at + SEC);
        assert_eq!(event.first_seen_ns, at);
    }

    #[test]
    fn found_scans_are_kept_newest_last_up_to_the_limit_and_sent_to_bounded_followers() {
        let scans = scans(1);
        let metrics = metrics();
        let mut follower = scans.subscribe();
        // Each source scans 2 ports and is then a new source: one event each.
        for i in 0..(RECENT_EVENTS as u64 + 5) {
            let mut changes = Vec::new();
            for port in [1, 2] {
                let mut record = connection(i, port, Protocol::Tcp, 100 * SEC);
                record.key.initiator.ip = IpAddr::from((i as u32 + 0x0a00_0000).to_be_bytes());
                changes.push(change(FlowChangeKind::Opened, record));
            }
            scans.observe(&changes, &metrics, |_| FlowIdentity::default());
        }
        let recent = scans.recent();
        assert_eq!(recent.len(), RECENT_EVENTS);
        assert_eq!(recent.first().unwrap().id, 6);
        assert_eq!(recent.last().unwrap().id, RECENT_EVENTS as u64 + 5);
        // The follower did not read: it missed all but the channel's 16.
        let missed = RECENT_EVENTS as u64 + 5 - 16;
        assert_eq!(
            follower.try_recv().unwrap_err(),
            broadcast::error::TryRecvError::Lagged(missed)
        );
        assert_eq!(follower.try_recv().unwrap().id, missed + 1);
    }
}
