//! Converts the kernel's per-socket RTT entries (netmon_common ABI) into the
//! flow stage's [`RttReading`]s.

use netmon_common as abi;

use super::kernel::address;
use crate::flow::{Endpoint, RttReading};

/// The kernel keys an entry by the socket's own view (src: local end). An
/// AF_INET6 socket talking IPv4 reports the IPv4-mapped address with
/// family 6, while the TC programs count that traffic as IPv4; both become
/// the same IPv4 address here, so the reading finds its flow.
pub fn rtt_reading(key: &abi::FlowKey, stats: &abi::RttStats) -> RttReading {
    let endpoint = |bytes, port| Endpoint {
        ip: address(bytes, key.ip_version).to_canonical(),
        port,
    };
    RttReading {
        local: endpoint(key.src_addr, key.src_port),
        remote: endpoint(key.dst_addr, key.dst_port),
        min_us: stats.min_us,
        max_us: stats.max_us,
        last_us: stats.last_us,
        sum_us: stats.sum_us,
        samples: stats.samples,
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn a_dual_stack_socket_talking_ipv4_reads_as_ipv4() {
        let mut mapped = [0u8; 16];
        mapped[10] = 0xff;
        mapped[11] = 0xff;
        mapped[12..].copy_from_slice(&[10, 0, 0, 1]);
        let key = abi::FlowKey {
            src_addr: mapped,
            dst_addr: std::net::Ipv6Addr::LOCALHOST.octets(),
            src_port: 40000,
            dst_port: 80,
            protocol: 6,
            ip_version: 6,
            _pad: [0; 2],
        };
        let stats = abi::RttStats {
            sum_us: 300,
            samples: 3,
            min_us: 90,
            max_us: 110,
            last_us: 100,
            _pad: 0,
        };
        let reading = rtt_reading(&key, &stats);
        assert_eq!(reading.local.ip, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(reading.remote.ip, "::1".parse::<IpAddr>().unwrap());
        assert_eq!((reading.local.port, reading.remote.port), (40000, 80));
        assert_eq!(
            (
                reading.min_us,
                reading.max_us,
                reading.last_us,
                reading.sum_us,
                reading.samples
            ),
            (90, 110, 100, 300, 3)
        );
    }
}
