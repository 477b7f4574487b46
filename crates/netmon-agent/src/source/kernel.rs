//! Converts what the kernel reports (netmon_common ABI types, monotonic
//! timestamps) into the flow stage's plain types (IpAddr, wall-clock time).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netmon_common as abi;

use crate::flow::{
    DirectionalKey, Endpoint, FlowDelta, Protocol, TcpEvent, TcpEventKind, UnixNanos,
};

/// Maps the kernel's CLOCK_MONOTONIC timestamps to wall-clock time, from one
/// reading of both clocks taken at drain time.
#[derive(Debug, Clone, Copy)]
pub struct ClockMap {
    wall_now: UnixNanos,
    mono_now: u64,
}

impl ClockMap {
    pub fn new(wall_now: UnixNanos, mono_now: u64) -> Self {
        ClockMap { wall_now, mono_now }
    }

    /// Reads both clocks now.
    pub fn now() -> Self {
        let mono_now = monotonic_ns();
        let wall_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        ClockMap { wall_now, mono_now }
    }

    pub fn wall_now(&self) -> UnixNanos {
        self.wall_now
    }

    pub fn to_wall(&self, mono: u64) -> UnixNanos {
        self.wall_now
            .saturating_sub(self.mono_now.saturating_sub(mono))
    }
}

/// CLOCK_MONOTONIC in nanoseconds, the clock of bpf_ktime_get_ns().
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// IPv4 is stored IPv4-mapped in the ABI; hand it out as IPv4. An IPv6
/// socket connected to an IPv4-mapped address (a dual-stack client such as
/// gRPC's) reports version 6 but sends IPv4 packets: its address is IPv4
/// too, or its lifecycle events would make a second record beside the one
/// its packets make.
pub fn address(bytes: [u8; 16], ip_version: u8) -> IpAddr {
    let v6 = Ipv6Addr::from(bytes);
    match v6.to_ipv4_mapped() {
        Some(v4) if ip_version == 4 || ip_version == 6 => IpAddr::V4(v4),
        _ if ip_version == 4 => {
            let o = v6.octets();
            IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
        }
        _ => IpAddr::V6(v6),
    }
}

/// A kernel flow key (one direction) in plain types.
pub fn directional_key(key: &abi::FlowKey) -> DirectionalKey {
    DirectionalKey {
        src: Endpoint {
            ip: address(key.src_addr, key.ip_version),
            port: key.src_port,
        },
        dst: Endpoint {
            ip: address(key.dst_addr, key.ip_version),
            port: key.dst_port,
        },
        protocol: Protocol::from_number(key.protocol),
    }
}

pub fn flow_delta(key: &abi::FlowKey, counters: &abi::FlowCounters, clock: &ClockMap) -> FlowDelta {
    let protocol = Protocol::from_number(key.protocol);
    let icmp = matches!(protocol, Protocol::Icmp | Protocol::Icmpv6)
        .then_some((counters.icmp_type, counters.icmp_code));
    FlowDelta {
        key: directional_key(key),
        bytes: counters.bytes,
        packets: counters.packets,
        first_seen: clock.to_wall(counters.first_seen_ns),
        // The kernel stamps later packets with the coarse clock, which can
        // lag the precise first_seen by less than a tick.
        last_seen: clock.to_wall(counters.last_seen_ns.max(counters.first_seen_ns)),
        tcp_flags: counters.tcp_flags,
        ifindex: counters.ifindex,
        icmp,
    }
}

/// The kernel says FAILED or CLOSED plus the socket's error; the flow stage
/// wants to know why.
pub fn tcp_event(event: &abi::TcpEvent, clock: &ClockMap) -> Option<TcpEvent> {
    use abi::tcp_event_kind as k;
    let kind = match (event.kind, event.sk_err) {
        (k::OPENED_ACTIVE, _) => TcpEventKind::OpenedActive,
        (k::ESTABLISHED_ACTIVE, _) => TcpEventKind::EstablishedActive,
        (k::ACCEPTED, _) => TcpEventKind::Accepted,
        (k::FAILED, libc::ECONNREFUSED) => TcpEventKind::Refused,
        (k::FAILED, _) => TcpEventKind::TimedOut,
        (k::CLOSED, 0) => TcpEventKind::Closed,
        (k::CLOSED, _) => TcpEventKind::Reset,
        _ => return None,
    };
    let nonzero = |v: u64| (v != 0).then_some(v);
    Some(TcpEvent {
        kind,
        local: Endpoint {
            ip: address(event.src_addr, event.ip_version),
            port: event.src_port,
        },
        remote: Endpoint {
            ip: address(event.dst_addr, event.ip_version),
            port: event.dst_port,
        },
        timestamp: clock.to_wall(event.timestamp_ns),
        connect_latency_ns: nonzero(event.connect_latency_ns),
        duration_ns: nonzero(event.duration_ns),
        netns_ino: event.netns_ino,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dual_stack_socket_on_an_ipv4_mapped_address_is_ipv4() {
        assert_eq!(
            address(mapped([10, 0, 0, 1]), 6),
            IpAddr::from([10, 0, 0, 1])
        );
        let real_v6: [u8; 16] = "fd00::1".parse::<Ipv6Addr>().unwrap().octets();
        assert_eq!(address(real_v6, 6), "fd00::1".parse::<IpAddr>().unwrap());
    }

    fn mapped(v4: [u8; 4]) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[10] = 0xff;
        b[11] = 0xff;
        b[12..].copy_from_slice(&v4);
        b
    }

    #[test]
    fn monotonic_timestamps_become_wall_clock_time() {
        let clock = ClockMap::new(1_700_000_000_000_000_000, 5_000);
        assert_eq!(clock.to_wall(4_000), 1_699_999_999_999_999_000);
        assert_eq!(clock.to_wall(5_000), 1_700_000_000_000_000_000);
    }

    #[test]
    fn an_ipv4_mapped_key_becomes_an_ipv4_delta() {
        let key = abi::FlowKey {
            src_addr: mapped([10, 0, 0, 1]),
            dst_addr: mapped([10, 0, 0, 2]),
            src_port: 40000,
            dst_port: 80,
            protocol: 6,
            ip_version: 4,
            _pad: [0; 2],
        };
        let counters = abi::FlowCounters {
            bytes: 1514,
            packets: 1,
            ..Default::default()
        };
        let d = flow_delta(&key, &counters, &ClockMap::new(0, 0));
        assert_eq!(d.key.src.ip, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(
            d.key.dst,
            Endpoint {
                ip: "10.0.0.2".parse().unwrap(),
                port: 80
            }
        );
        assert_eq!(d.key.protocol, Protocol::Tcp);
        assert_eq!((d.bytes, d.packets, d.icmp), (1514, 1, None));
    }

    #[test]
    fn a_coarse_last_seen_behind_the_precise_first_seen_is_clamped_to_it() {
        let counters = abi::FlowCounters {
            first_seen_ns: 5_000,
            last_seen_ns: 4_000,
            ..Default::default()
        };
        let d = flow_delta(
            &abi::FlowKey::default(),
            &counters,
            &ClockMap::new(10_000, 10_000),
        );
        assert_eq!((d.first_seen, d.last_seen), (5_000, 5_000));
    }

    #[test]
    fn a_failed_connect_is_refused_only_when_the_kernel_recorded_econnrefused() {
        let clock = ClockMap::new(0, 0);
        let mut ev = abi::TcpEvent {
            kind: abi::tcp_event_kind::FAILED,
            sk_err: libc::ECONNREFUSED,
            ip_version: 6,
            ..Default::default()
        };
        assert_eq!(tcp_event(&ev, &clock).unwrap().kind, TcpEventKind::Refused);
        ev.sk_err = libc::ETIMEDOUT;
        assert_eq!(tcp_event(&ev, &clock).unwrap().kind, TcpEventKind::TimedOut);
        ev.kind = abi::tcp_event_kind::CLOSED;
        ev.sk_err = libc::ECONNRESET;
        assert_eq!(tcp_event(&ev, &clock).unwrap().kind, TcpEventKind::Reset);
        ev.sk_err = 0;
        assert_eq!(tcp_event(&ev, &clock).unwrap().kind, TcpEventKind::Closed);
        ev.kind = 99;
        assert!(tcp_event(&ev, &clock).is_none());
    }
}
