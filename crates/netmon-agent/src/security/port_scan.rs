//! Port-scan and host-scan detection over new connections.
//!
//! A *probe* is one new connection as the flow table first reports it: its
//! initiator (the *source*), its responder's address (the *host*) and the
//! responder's protocol and port. Refused and timed-out TCP connects and
//! UDP datagrams nobody answers are probes like any other: that is what a
//! scan is made of.
//!
//! # Rules
//!
//! * **Port scan**: a source probes more than `distinct_ports` distinct
//!   ports of one host within a sliding `window`. A port is a (protocol,
//!   port) pair, so TCP 53 and UDP 53 are two ports. The probe that brings
//!   the count to `distinct_ports + 1` reports it.
//! * **Host scan**: a source probes more than `distinct_hosts` distinct
//!   hosts within the window (on any ports).
//! * **Repeats do not count**: a second probe of a port a source already
//!   probed within the window only moves that port's time forward.
//! * **Sliding window**: a probe at `t` counts while the source's latest
//!   probe is earlier than `t + window`. Time is each probe's own (when its
//!   connection started), not when the detector hears of it, so a batch of
//!   connections drained seconds later is judged by when they happened;
//!   probes may arrive out of order, and one already outside the window of
//!   its source's latest probe is ignored.
//! * **Episodes**: each kind is reported once per source per episode. An
//!   episode lasts while the source keeps probing, and ends once the source
//!   has been quiet (no probe at all) for a whole window; its next probe
//!   starts afresh, and a new scan is reported again.
//! * **Memory is bounded**: at most `max_sources` sources are tracked; a
//!   new source beyond that evicts the one whose latest probe is oldest
//!   (counted in [`DetectorStats::sources_evicted`]). Each source keeps at
//!   most `distinct_ports + distinct_hosts` probes: enough for a port scan
//!   (`distinct_ports + 1` ports of its target) while the source also
//!   probes as many other hosts (one port each) as it may without being a
//!   host scan. Beyond that its oldest probe is forgotten (counted in
//!   [`DetectorStats::probes_evicted`]), which can only delay a detection.
//! * Thresholds and limits of 0 are treated as 1 (configuration checks
//!   reject them before they get here).
//!
//! Every operation costs O(log n) in the number of tracked sources and of
//! the source's probes, except the one that reports a scan, which walks
//! that source's probes once to describe it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use crate::flow::{FlowRecord, Protocol, UnixNanos};

/// What makes a scan, and how much the detector may remember.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanThresholds {
    /// More distinct ports than this on one host within `window` is a port scan.
    pub distinct_ports: usize,
    /// More distinct hosts than this within `window` is a host scan.
    pub distinct_hosts: usize,
    pub window: Duration,
    /// Most sources tracked at once.
    pub max_sources: usize,
}

/// The two kinds of scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScanKind {
    /// Many ports of one host.
    PortScan,
    /// Many hosts.
    HostScan,
}

impl ScanKind {
    pub const ALL: [ScanKind; 2] = [ScanKind::PortScan, ScanKind::HostScan];

    /// The name used in the API (`type`) and in metric labels.
    pub fn name(self) -> &'static str {
        match self {
            ScanKind::PortScan => "port_scan",
            ScanKind::HostScan => "host_scan",
        }
    }
}

/// One new connection, as far as scan detection cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub source: IpAddr,
    pub host: IpAddr,
    pub protocol: Protocol,
    pub port: u16,
    /// When the connection started.
    pub at: UnixNanos,
}

impl Probe {
    /// The probe a new flow record stands for: its initiator probing the
    /// responder's port. Only protocols with ports are probes; ICMP is not
    /// (an ICMP error is a reply, and its "ports" are identifiers).
    pub fn of(record: &FlowRecord) -> Option<Probe> {
        matches!(
            record.key.protocol,
            Protocol::Tcp | Protocol::Udp | Protocol::Sctp
        )
        .then(|| Probe {
            source: record.key.initiator.ip,
            host: record.key.responder.ip,
            protocol: record.key.protocol,
            port: record.key.responder.port,
            at: record.first_seen,
        })
    }
}

/// A scan found: reported once per source, kind and episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanDetection {
    pub kind: ScanKind,
    pub source: IpAddr,
    /// The host whose ports were scanned (port scans only).
    pub target: Option<IpAddr>,
    /// Port scan: distinct ports of `target` within the window, which is
    /// `distinct_ports + 1`. Host scan: distinct ports over all hosts.
    pub distinct_ports: usize,
    /// Distinct hosts the source probed within the window; for a host scan
    /// `distinct_hosts + 1`.
    pub distinct_hosts: usize,
    /// When the scan began: the oldest of the latest probes of the ports
    /// (hosts) it counts, all within the window.
    pub first_seen: UnixNanos,
    /// The probe that crossed the threshold.
    pub detected_at: UnixNanos,
}

/// Counters describing the detector, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectorStats {
    pub tracked_sources: usize,
    /// Sources forgotten to make room for a new one (`max_sources`).
    pub sources_evicted: u64,
    /// Probes a source forgot because it held its budget of probes.
    pub probes_evicted: u64,
}

/// Where a probe went: host, protocol, port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Destination {
    host: IpAddr,
    protocol: Protocol,
    port: u16,
}

/// What one source probed within the window ending at `latest`.
#[derive(Debug, Default)]
struct Source {
    latest: UnixNanos,
    /// Latest probe time of each destination.
    probes: HashMap<Destination, UnixNanos>,
    /// The same, oldest first, for sliding the window and for the budget.
    by_time: BTreeSet<(UnixNanos, Destination)>,
    /// Distinct ports per host.
    ports_per_host: HashMap<IpAddr, usize>,
    port_scan_reported: bool,
    host_scan_reported: bool,
}

impl Source {
    /// Adds a probe of `destination` at `at`, or moves a repeat's time
    /// forward (never back: the probe may arrive out of order).
    fn record(&mut self, destination: Destination, at: UnixNanos) {
        match self.probes.get_mut(&destination) {
            Some(seen) if *seen >= at => {}
            Some(seen) => {
                self.by_time.remove(&(*seen, destination));
                *seen = at;
                self.by_time.insert((at, destination));
            }
            None => {
                self.probes.insert(destination, at);
                self.by_time.insert((at, destination));
                *self.ports_per_host.entry(destination.host).or_default() += 1;
            }
        }
    }

    /// Forgets the oldest probe; false when there is none.
    fn forget_oldest(&mut self) -> bool {
        let Some((_, destination)) = self.by_time.pop_first() else {
            return false;
        };
        self.probes.remove(&destination);
        if let Some(ports) = self.ports_per_host.get_mut(&destination.host) {
            *ports -= 1;
            if *ports == 0 {
                self.ports_per_host.remove(&destination.host);
            }
        }
        true
    }

    /// Forgets probes that left the window ending at `latest`.
    fn slide(&mut self, window_ns: u64) {
        while let Some(&(at, _)) = self.by_time.first() {
            if at.saturating_add(window_ns) > self.latest {
                break;
            }
            self.forget_oldest();
        }
    }

    fn ports_of(&self, host: IpAddr) -> usize {
        self.ports_per_host.get(&host).copied().unwrap_or(0)
    }
}

/// The detector. See the module documentation for its rules.
#[derive(Debug)]
pub struct PortScanDetector {
    distinct_ports: usize,
    distinct_hosts: usize,
    window_ns: u64,
    max_sources: usize,
    probe_budget: usize,
    sources: HashMap<IpAddr, Source>,
    /// `(latest probe, source)`, oldest first: expiry and eviction order.
    by_activity: BTreeSet<(UnixNanos, IpAddr)>,
    sources_evicted: u64,
    probes_evicted: u64,
}

impl PortScanDetector {
    pub fn new(thresholds: &ScanThresholds) -> Self {
        let distinct_ports = thresholds.distinct_ports.max(1);
        let distinct_hosts = thresholds.distinct_hosts.max(1);
        PortScanDetector {
            distinct_ports,
            distinct_hosts,
            window_ns: u64::try_from(thresholds.window.as_nanos())
                .unwrap_or(u64::MAX)
                .max(1),
            max_sources: thresholds.max_sources.max(1),
            probe_budget: distinct_ports.saturating_add(distinct_hosts),
            sources: HashMap::new(),
            by_activity: BTreeSet::new(),
            sources_evicted: 0,
            probes_evicted: 0,
        }
    }

    /// Takes one probe; a scan it completes is appended to `found`.
    pub fn observe(&mut self, probe: &Probe, found: &mut Vec<ScanDetection>) {
        let window_ns = self.window_ns;
        // Quiet for a whole window: the episode is over, start afresh.
        if self
            .sources
            .get(&probe.source)
            .is_some_and(|source| source.latest.saturating_add(window_ns) <= probe.at)
        {
            self.remove_source(probe.source);
        }
        if !self.sources.contains_key(&probe.source) {
            while self.sources.len() >= self.max_sources {
                let Some((_, oldest)) = self.by_activity.first().copied() else {
                    break;
                };
                self.remove_source(oldest);
                self.sources_evicted += 1;
            }
            self.sources.insert(
                probe.source,
                Source {
                    latest: probe.at,
                    ..Source::default()
                },
            );
            self.by_activity.insert((probe.at, probe.source));
        }
        let Some(source) = self.sources.get_mut(&probe.source) else {
            return;
        };
        if probe.at.saturating_add(window_ns) <= source.latest {
            // Outside the window already: it cannot add to a scan.
            return;
        }
        if probe.at > source.latest {
            self.by_activity.remove(&(source.latest, probe.source));
            source.latest = probe.at;
            self.by_activity.insert((probe.at, probe.source));
            source.slide(window_ns);
        }
        source.record(
            Destination {
                host: probe.host,
                protocol: probe.protocol,
                port: probe.port,
            },
            probe.at,
        );
        while source.probes.len() > self.probe_budget && source.forget_oldest() {
            self.probes_evicted += 1;
        }

        if !source.port_scan_reported && source.ports_of(probe.host) > self.distinct_ports {
            source.port_scan_reported = true;
            found.push(describe(source, ScanKind::PortScan, probe));
        }
        if !source.host_scan_reported && source.ports_per_host.len() > self.distinct_hosts {
            source.host_scan_reported = true;
            found.push(describe(source, ScanKind::HostScan, probe));
        }
    }

    /// Forgets sources quiet for a whole window before `now`: their
    /// episodes are over. Call periodically; probes alone also end
    /// episodes, this only frees the memory of sources that went quiet.
    pub fn expire(&mut self, now: UnixNanos) {
        while let Some(&(latest, source)) = self.by_activity.first() {
            if latest.saturating_add(self.window_ns) > now {
                break;
            }
            self.remove_source(source);
        }
    }

    pub fn stats(&self) -> DetectorStats {
        DetectorStats {
            tracked_sources: self.sources.len(),
            sources_evicted: self.sources_evicted,
            probes_evicted: self.probes_evicted,
        }
    }

    /// Probes currently remembered for `source` (for tests of the bounds).
    pub fn tracked_probes(&self, source: IpAddr) -> usize {
        self.sources.get(&source).map_or(0, |s| s.probes.len())
    }

    /// Most probes one source remembers.
    pub fn probe_budget(&self) -> usize {
        self.probe_budget
    }

    fn remove_source(&mut self, address: IpAddr) {
        if let Some(source) = self.sources.remove(&address) {
            self.by_activity.remove(&(source.latest, address));
        }
    }
}

/// The figures of a scan `probe` just completed.
fn describe(source: &Source, kind: ScanKind, probe: &Probe) -> ScanDetection {
    let (target, distinct_ports, first_seen) = match kind {
        ScanKind::PortScan => (
            Some(probe.host),
            source.ports_of(probe.host),
            source
                .by_time
                .iter()
                .find(|(_, d)| d.host == probe.host)
                .map(|&(at, _)| at),
        ),
        ScanKind::HostScan => {
            let ports: HashSet<(Protocol, u16)> =
                source.probes.keys().map(|d| (d.protocol, d.port)).collect();
            (None, ports.len(), source.by_time.first().map(|&(at, _)| at))
        }
    };
    ScanDetection {
        kind,
        source: probe.source,
        target,
        distinct_ports,
        distinct_hosts: source.ports_per_host.len(),
        first_seen: first_seen.unwrap_or(probe.at),
        detected_at: probe.at,
    }
}

#[cfg(test)]
#[path = "port_scan_tests.rs"]
mod tests;
