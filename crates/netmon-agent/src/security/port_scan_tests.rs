use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;

use super::*;
use crate::flow::{ConnectionKey, Endpoint, FlowStatus};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;
/// Times start well after 0 so that "a window before" is never negative.
const T0: u64 = 1_000 * SEC;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn scanner() -> IpAddr {
    ip(1)
}

fn victim() -> IpAddr {
    ip(2)
}

fn thresholds(distinct_ports: usize, distinct_hosts: usize, window_s: u64) -> ScanThresholds {
    ScanThresholds {
        distinct_ports,
        distinct_hosts,
        window: Duration::from_secs(window_s),
        max_sources: 100,
    }
}

fn tcp_probe(source: IpAddr, host: IpAddr, port: u16, at: UnixNanos) -> Probe {
    Probe {
        source,
        host,
        protocol: Protocol::Tcp,
        port,
        at,
    }
}

/// Feeds `probes` and returns every detection, in order.
fn run(detector: &mut PortScanDetector, probes: &[Probe]) -> Vec<ScanDetection> {
    let mut found = Vec::new();
    for probe in probes {
        detector.observe(probe, &mut found);
    }
    found
}

/// One probe per port of `ports`, 1 ms apart from `start`.
fn sweep_ports(host: IpAddr, ports: impl IntoIterator<Item = u16>, start: u64) -> Vec<Probe> {
    ports
        .into_iter()
        .enumerate()
        .map(|(i, port)| tcp_probe(scanner(), host, port, start + i as u64 * MS))
        .collect()
}

#[test]
fn a_port_scan_is_reported_by_the_first_port_beyond_the_threshold() {
    let mut detector = PortScanDetector::new(&thresholds(5, 50, 10));
    let probes = sweep_ports(victim(), 1..=5, T0);
    assert_eq!(
        run(&mut detector, &probes),
        [],
        "5 ports are not more than 5"
    );

    let found = run(&mut detector, &sweep_ports(victim(), [6], T0 + 5 * MS));
    assert_eq!(
        found,
        [ScanDetection {
            kind: ScanKind::PortScan,
            source: scanner(),
            target: Some(victim()),
            distinct_ports: 6,
            distinct_hosts: 1,
            first_seen: T0,
            detected_at: T0 + 5 * MS,
        }]
    );
}

#[test]
fn repeated_probes_of_the_same_ports_do_not_count() {
    let mut detector = PortScanDetector::new(&thresholds(5, 50, 10));
    // 1000 connections over 5 ports within one window: a busy client.
    let busy: Vec<Probe> = (0..1000u64)
        .map(|i| tcp_probe(scanner(), victim(), 1 + (i % 5) as u16, T0 + i * MS))
        .collect();
    assert_eq!(run(&mut detector, &busy), []);
    assert_eq!(detector.tracked_probes(scanner()), 5);

    let found = run(&mut detector, &sweep_ports(victim(), [6], T0 + 1000 * MS));
    assert_eq!(found.len(), 1, "the sixth distinct port: {found:?}");
    assert_eq!(found[0].distinct_ports, 6);
}

#[test]
fn a_scan_that_goes_on_is_one_episode_reported_once() {
    let mut detector = PortScanDetector::new(&thresholds(5, 50, 10));
    // 1000 ports, one every 100 ms: 100 s of scanning, never quiet for 10 s.
    let probes: Vec<Probe> = (0..1000u64)
        .map(|i| tcp_probe(scanner(), victim(), i as u16, T0 + i * 100 * MS))
        .collect();
    let found = run(&mut detector, &probes);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].detected_at, T0 + 5 * 100 * MS);
}

#[test]
fn a_source_quiet_for_a_whole_window_is_reported_again_when_it_scans_again() {
    let mut detector = PortScanDetector::new(&thresholds(5, 50, 10));
    let first = run(&mut detector, &sweep_ports(victim(), 1..=6, T0));
    assert_eq!(first.len(), 1);
    let last_probe = T0 + 5 * MS;

    // Quiet for 1 ns less than the window: still the same episode.
    let almost = last_probe + 10 * SEC - 1;
    assert_eq!(
        run(&mut detector, &sweep_ports(victim(), 100..=110, almost)),
        []
    );

    // Now quiet for exactly the window: a new episode.
    let last_probe = almost + 10 * MS;
    let again = run(
        &mut detector,
        &sweep_ports(victim(), 200..=205, last_probe + 10 * SEC),
    );
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].first_seen, last_probe + 10 * SEC);
    assert_eq!(again[0].distinct_ports, 6);
}

#[test]
fn ports_probed_a_whole_window_ago_no_longer_count() {
    // Ports 1..=5 one second apart; port 6 exactly 5 s after port 1.
    let probes = |sixth_at: u64| {
        let mut probes: Vec<Probe> = (0..5u64)
            .map(|i| tcp_probe(scanner(), victim(), 1 + i as u16, T0 + i * SEC))
            .collect();
        probes.push(tcp_probe(scanner(), victim(), 6, sixth_at));
        probes
    };
    let mut detector = PortScanDetector::new(&thresholds(5, 50, 5));
    assert_eq!(
        run(&mut detector, &probes(T0 + 5 * SEC)),
        [],
        "port 1 left the window as port 6 came: 5 ports"
    );

    let mut detector = PortScanDetector::new(&thresholds(5, 50, 5));
    let found = run(&mut detector, &probes(T0 + 5 * SEC - 1));
    assert_eq!(found.len(), 1, "port 1 is still in the window 1 ns earlier");
    assert_eq!(found[0].first_seen, T0);
}

#[test]
fn ports_spread_over_several_hosts_do_not_add_up_to_a_port_scan() {
    let mut detector = PortScanDetector::new(&thresholds(5, 50, 10));
    let probes: Vec<Probe> = (0..30u64)
        .map(|i| tcp_probe(scanner(), ip(10 + (i % 6) as u8), i as u16, T0 + i * MS))
        .collect();
    assert_eq!(
        run(&mut detector, &probes),
        [],
        "5 ports on each of 6 hosts"
    );
}

#[test]
fn a_host_scan_is_reported_by_the_first_host_beyond_the_threshold() {
    let mut detector = PortScanDetector::new(&thresholds(100, 4, 10));
    let probes: Vec<Probe> = (0..10u64)
        .map(|i| tcp_probe(scanner(), ip(10 + i as u8), 22, T0 + i * MS))
        .collect();
    let found = run(&mut detector, &probes);
    assert_eq!(
        found,
        [ScanDetection {
            kind: ScanKind::HostScan,
            source: scanner(),
            target: None,
            distinct_ports: 1,
            distinct_hosts: 5,
            first_seen: T0,
            detected_at: T0 + 4 * MS,
        }]
    );
}

#[test]
fn one_source_can_be_both_a_port_scan_and_a_host_scan() {
    let mut detector = PortScanDetector::new(&thresholds(3, 3, 10));
    let mut probes = sweep_ports(victim(), 1..=4, T0);
    probes.extend((0..4u64).map(|i| tcp_probe(scanner(), ip(20 + i as u8), 80, T0 + SEC + i)));
    let kinds: Vec<ScanKind> = run(&mut detector, &probes).iter().map(|d| d.kind).collect();
    assert_eq!(kinds, [ScanKind::PortScan, ScanKind::HostScan]);
}

#[test]
fn tcp_and_udp_on_the_same_port_number_are_two_ports() {
    let mut detector = PortScanDetector::new(&thresholds(3, 50, 10));
    let mut probes = sweep_ports(victim(), 1..=2, T0);
    for (i, port) in [1u16, 2].into_iter().enumerate() {
        probes.push(Probe {
            protocol: Protocol::Udp,
            ..tcp_probe(scanner(), victim(), port, T0 + SEC + i as u64)
        });
    }
    let found = run(&mut detector, &probes);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].distinct_ports, 4);
}

#[test]
fn probes_are_judged_by_their_own_time_even_when_they_arrive_late() {
    let mut detector = PortScanDetector::new(&thresholds(3, 50, 5));
    // A drain delivers ports 1 and 2 after the event loop delivered 3 and 4.
    let probes = [
        tcp_probe(scanner(), victim(), 3, T0 + 3 * SEC),
        tcp_probe(scanner(), victim(), 4, T0 + 4 * SEC),
        tcp_probe(scanner(), victim(), 1, T0 + SEC),
        // A window (5 s) before the latest probe (4 s): outside, ignored.
        tcp_probe(scanner(), victim(), 9, T0 - SEC),
        tcp_probe(scanner(), victim(), 2, T0 + 2 * SEC),
    ];
    let found = run(&mut detector, &probes);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (
            found[0].distinct_ports,
            found[0].first_seen,
            found[0].detected_at
        ),
        (4, T0 + SEC, T0 + 2 * SEC)
    );
}

#[test]
fn different_sources_are_judged_separately() {
    let mut detector = PortScanDetector::new(&thresholds(5, 50, 10));
    let probes: Vec<Probe> = (0..10u64)
        .map(|i| tcp_probe(ip(100 + (i % 2) as u8), victim(), i as u16, T0 + i * MS))
        .collect();
    assert_eq!(run(&mut detector, &probes), [], "5 ports from each of 2");
}

#[test]
fn only_flows_with_ports_are_probes_from_initiator_to_responder_port() {
    let record = |protocol| {
        let mut record = FlowRecord::new(
            ConnectionKey {
                protocol,
                initiator: Endpoint {
                    ip: scanner(),
                    port: 40_000,
                },
                responder: Endpoint {
                    ip: victim(),
                    port: 8080,
                },
            },
            T0,
            T0 + SEC,
            3,
            T0 + 2 * SEC,
        );
        record.status = FlowStatus::Refused;
        record
    };
    for protocol in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
        assert_eq!(
            Probe::of(&record(protocol)),
            Some(Probe {
                source: scanner(),
                host: victim(),
                protocol,
                port: 8080,
                at: T0,
            })
        );
    }
    for protocol in [Protocol::Icmp, Protocol::Icmpv6, Protocol::Other(47)] {
        assert_eq!(Probe::of(&record(protocol)), None, "{protocol:?}");
    }
}

#[test]
fn expire_forgets_sources_quiet_for_a_window_and_no_others() {
    let mut detector = PortScanDetector::new(&thresholds(5, 50, 10));
    run(
        &mut detector,
        &[
            tcp_probe(ip(1), victim(), 1, T0),
            tcp_probe(ip(3), victim(), 1, T0 + SEC),
        ],
    );
    detector.expire(T0 + 10 * SEC - 1);
    assert_eq!(detector.stats().tracked_sources, 2);
    detector.expire(T0 + 10 * SEC);
    assert_eq!(detector.stats().tracked_sources, 1);
    assert_eq!(detector.tracked_probes(ip(3)), 1);
    detector.expire(T0 + 11 * SEC);
    assert_eq!(detector.stats().tracked_sources, 0);
    assert_eq!(detector.stats().sources_evicted, 0, "expiry is no eviction");
}

#[test]
fn beyond_max_sources_the_least_recently_active_source_is_evicted_and_counted() {
    let mut detector = PortScanDetector::new(&ScanThresholds {
        max_sources: 2,
        ..thresholds(5, 50, 10)
    });
    run(
        &mut detector,
        &[
            tcp_probe(ip(1), victim(), 1, T0),
            tcp_probe(ip(3), victim(), 1, T0 + 1),
            // ip(1) is active again: ip(3) is now the least recent.
            tcp_probe(ip(1), victim(), 2, T0 + 2),
            tcp_probe(ip(4), victim(), 1, T0 + 3),
        ],
    );
    assert_eq!(
        detector.stats(),
        DetectorStats {
            tracked_sources: 2,
            sources_evicted: 1,
            probes_evicted: 0,
        }
    );
    assert_eq!(detector.tracked_probes(ip(1)), 2);
    assert_eq!(detector.tracked_probes(ip(3)), 0);
    assert_eq!(detector.tracked_probes(ip(4)), 1);
}

#[test]
fn a_source_remembers_at_most_its_budget_and_counts_what_it_forgets() {
    // Budget 5 + 4 = 9; 4 hosts (not more than 4) with 5 ports each (not
    // more than 5): no scan, but 20 probes to hold.
    let mut detector = PortScanDetector::new(&thresholds(5, 4, 10));
    assert_eq!(detector.probe_budget(), 9);
    let probes: Vec<Probe> = (0..20u64)
        .map(|i| tcp_probe(scanner(), ip(10 + (i / 5) as u8), (i % 5) as u16, T0 + i))
        .collect();
    assert_eq!(run(&mut detector, &probes), []);
    assert_eq!(detector.tracked_probes(scanner()), 9);
    assert_eq!(detector.stats().probes_evicted, 11);
}

#[test]
fn a_port_scan_is_found_while_the_source_probes_as_many_other_hosts_as_it_may() {
    // The budget's promise: N + 1 ports of the target plus one port on each
    // of M - 1 other hosts fit, whatever the interleaving.
    let (n, m) = (10usize, 6usize);
    let mut detector = PortScanDetector::new(&thresholds(n, m, 10));
    let mut probes = Vec::new();
    for i in 0..=n as u64 {
        if i < m as u64 - 1 {
            probes.push(tcp_probe(scanner(), ip(50 + i as u8), 443, T0 + 2 * i));
        }
        probes.push(tcp_probe(scanner(), victim(), i as u16, T0 + 2 * i + 1));
    }
    let found = run(&mut detector, &probes);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (
            found[0].kind,
            found[0].distinct_ports,
            found[0].distinct_hosts
        ),
        (ScanKind::PortScan, n + 1, m)
    );
    assert_eq!(detector.stats().probes_evicted, 0);
}

#[test]
fn zero_thresholds_and_limits_are_treated_as_one() {
    let mut detector = PortScanDetector::new(&ScanThresholds {
        distinct_ports: 0,
        distinct_hosts: 0,
        window: Duration::ZERO,
        max_sources: 0,
    });
    let found = run(
        &mut detector,
        &[
            tcp_probe(scanner(), victim(), 1, T0),
            tcp_probe(scanner(), victim(), 2, T0),
        ],
    );
    assert_eq!(found.len(), 1, "2 ports at the same instant: {found:?}");
    assert_eq!(detector.stats().tracked_sources, 1);
}

/// The rules restated naively (a list per source, searched and sorted on
/// every probe), to compare the detector's indexes against.
#[derive(Default)]
struct Model {
    sources: Vec<ModelSource>,
    sources_evicted: u64,
    probes_evicted: u64,
}

struct ModelSource {
    address: IpAddr,
    latest: UnixNanos,
    probes: Vec<(UnixNanos, Destination)>,
    reported: [bool; 2],
}

impl Model {
    fn observe(&mut self, t: &ScanThresholds, probe: &Probe, found: &mut Vec<ScanDetection>) {
        let window = t.window.as_nanos() as u64;
        let index =
            |sources: &Vec<ModelSource>| sources.iter().position(|s| s.address == probe.source);
        if let Some(i) = index(&self.sources) {
            if self.sources[i].latest + window <= probe.at {
                self.sources.remove(i);
            }
        }
        if index(&self.sources).is_none() {
            if self.sources.len() == t.max_sources {
                let oldest = (0..self.sources.len())
                    .min_by_key(|&i| (self.sources[i].latest, self.sources[i].address))
                    .unwrap();
                self.sources.remove(oldest);
                self.sources_evicted += 1;
            }
            self.sources.push(ModelSource {
                address: probe.source,
                latest: probe.at,
                probes: Vec::new(),
                reported: [false; 2],
            });
        }
        let i = index(&self.sources).unwrap();
        let source = &mut self.sources[i];
        if probe.at + window <= source.latest {
            return;
        }
        source.latest = source.latest.max(probe.at);
        let latest = source.latest;
        source.probes.retain(|(at, _)| at + window > latest);
        let destination = Destination {
            host: probe.host,
            protocol: probe.protocol,
            port: probe.port,
        };
        match source.probes.iter_mut().find(|(_, d)| *d == destination) {
            Some((at, _)) => *at = (*at).max(probe.at),
            None => source.probes.push((probe.at, destination)),
        }
        source.probes.sort();
        while source.probes.len() > t.distinct_ports + t.distinct_hosts {
            source.probes.remove(0);
            self.probes_evicted += 1;
        }
        let hosts: HashSet<IpAddr> = source.probes.iter().map(|(_, d)| d.host).collect();
        let on_target: Vec<UnixNanos> = source
            .probes
            .iter()
            .filter(|(_, d)| d.host == probe.host)
            .map(|(at, _)| *at)
            .collect();
        if !source.reported[0] && on_target.len() > t.distinct_ports {
            source.reported[0] = true;
            found.push(ScanDetection {
                kind: ScanKind::PortScan,
                source: probe.source,
                target: Some(probe.host),
                distinct_ports: on_target.len(),
                distinct_hosts: hosts.len(),
                first_seen: on_target[0],
                detected_at: probe.at,
            });
        }
        if !source.reported[1] && hosts.len() > t.distinct_hosts {
            source.reported[1] = true;
            let ports: HashSet<(Protocol, u16)> = source
                .probes
                .iter()
                .map(|(_, d)| (d.protocol, d.port))
                .collect();
            found.push(ScanDetection {
                kind: ScanKind::HostScan,
                source: probe.source,
                target: None,
                distinct_ports: ports.len(),
                distinct_hosts: hosts.len(),
                first_seen: source.probes[0].0,
                detected_at: probe.at,
            });
        }
    }
}

/// Probes from 3 sources to 3 hosts, 4 ports, TCP or UDP; time mostly
/// moves forward (0 to 4 s per probe against a 3 s window) and now and then
/// a probe comes up to 3 s late.
fn probes() -> impl Strategy<Value = Vec<Probe>> {
    prop::collection::vec(
        (
            0..3u8,
            0..3u8,
            any::<bool>(),
            0..4u16,
            0..4_000u64,
            0..3_000u64,
        ),
        1..200,
    )
    .prop_map(|steps| {
        let mut clock = T0;
        steps
            .into_iter()
            .map(|(source, host, udp, port, advance_ms, late_ms)| {
                clock += advance_ms * MS / 8;
                let late = if late_ms > 2_500 { late_ms * MS } else { 0 };
                Probe {
                    source: ip(1 + source),
                    host: ip(100 + host),
                    protocol: if udp { Protocol::Udp } else { Protocol::Tcp },
                    port,
                    at: clock - late,
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn the_detector_agrees_with_the_naive_model(
        probes in probes(),
        distinct_ports in 1..6usize,
        distinct_hosts in 1..3usize,
        max_sources in 1..4usize,
    ) {
        let t = ScanThresholds {
            distinct_ports,
            distinct_hosts,
            window: Duration::from_secs(3),
            max_sources,
        };
        let mut detector = PortScanDetector::new(&t);
        let mut model = Model::default();
        let (mut found, mut expected) = (Vec::new(), Vec::new());
        for probe in &probes {
            detector.observe(probe, &mut found);
            model.observe(&t, probe, &mut expected);
            prop_assert_eq!(&found, &expected);
            let stats = detector.stats();
            prop_assert_eq!(stats.tracked_sources, model.sources.len());
            prop_assert_eq!(stats.sources_evicted, model.sources_evicted);
            prop_assert_eq!(stats.probes_evicted, model.probes_evicted);
            prop_assert!(stats.tracked_sources <= max_sources);
            for source in &model.sources {
                prop_assert_eq!(detector.tracked_probes(source.address), source.probes.len());
                prop_assert!(source.probes.len() <= detector.probe_budget());
            }
        }
    }

    #[test]
    fn within_one_window_a_port_scan_is_reported_once_exactly_at_the_threshold_crossing(
        ports in prop::collection::vec(0..40u16, 1..300),
        distinct_ports in 1..30usize,
    ) {
        // All probes within one window, from one source to one host.
        let probes: Vec<Probe> = ports
            .iter()
            .enumerate()
            .map(|(i, &port)| tcp_probe(scanner(), victim(), port, T0 + i as u64 * MS))
            .collect();
        let mut detector = PortScanDetector::new(&thresholds(distinct_ports, 1, 10));
        let mut found = Vec::new();
        let mut reported_at = Vec::new();
        for (i, probe) in probes.iter().enumerate() {
            let before = found.len();
            detector.observe(probe, &mut found);
            if found.len() > before {
                reported_at.push(i);
            }
        }
        // Where the (N + 1)th distinct port first appears, if it does.
        let mut seen = HashSet::new();
        let crossing = ports
            .iter()
            .position(|&port| seen.insert(port) && seen.len() == distinct_ports + 1);
        prop_assert_eq!(reported_at, crossing.into_iter().collect::<Vec<_>>());
        if let Some(i) = crossing {
            prop_assert_eq!(found[0].distinct_ports, distinct_ports + 1);
            prop_assert_eq!(found[0].detected_at, probes[i].at);
            // A repeat moves its port's time forward: the scan started at
            // the oldest of its ports' latest probes.
            let first = (0..=i)
                .filter(|&j| !ports[j + 1..=i].contains(&ports[j]))
                .min()
                .unwrap();
            prop_assert_eq!(found[0].first_seen, probes[first].at);
        }
    }

    #[test]
    fn a_source_never_quiet_for_a_window_is_reported_at_most_once_per_kind(
        steps in prop::collection::vec((0..50u8, 0..200u16, 0..2_999u64), 1..400),
    ) {
        let mut detector = PortScanDetector::new(&thresholds(10, 5, 3));
        let mut clock = T0;
        let mut found = Vec::new();
        for (host, port, advance_ms) in steps {
            clock += advance_ms * MS;
            detector.observe(&tcp_probe(scanner(), ip(host), port, clock), &mut found);
        }
        for kind in ScanKind::ALL {
            prop_assert!(found.iter().filter(|d| d.kind == kind).count() <= 1);
        }
    }
}
