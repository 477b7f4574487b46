//! Row order: the busiest first. Ties fall back to totals and then to a
//! stable key (flow id, peer address), so rows do not swap places between
//! refreshes when their rates are equal. An unknown rate sorts below zero.

use std::cmp::Ordering;

use super::peers::PeerRate;
use super::rates::FlowRate;
use crate::cli::TopSort;

/// `bytes`/`packets`: highest rate first. `connections`: for single flows,
/// the oldest (longest-lived) connection first.
pub fn sort_flows(flows: &mut [FlowRate], key: TopSort) {
    flows.sort_by(|a, b| {
        let by_key = match key {
            TopSort::Bytes => descending(a.bytes_per_second, b.bytes_per_second)
                .then_with(|| b.flow.bytes().cmp(&a.flow.bytes())),
            TopSort::Packets => descending(a.packets_per_second, b.packets_per_second)
                .then_with(|| b.flow.packets().cmp(&a.flow.packets())),
            TopSort::Connections => a.flow.first_seen_ns.cmp(&b.flow.first_seen_ns),
        };
        by_key.then_with(|| a.flow.id.cmp(&b.flow.id))
    });
}

/// `bytes`/`packets`: highest rate first. `connections`: most flows first.
pub fn sort_peers(peers: &mut [PeerRate], key: TopSort) {
    peers.sort_by(|a, b| {
        let by_key = match key {
            TopSort::Bytes => descending(a.bytes_per_second, b.bytes_per_second)
                .then_with(|| b.total_bytes.cmp(&a.total_bytes)),
            TopSort::Packets => descending(a.packets_per_second, b.packets_per_second),
            TopSort::Connections => b
                .flows
                .cmp(&a.flows)
                .then_with(|| descending(a.bytes_per_second, b.bytes_per_second)),
        };
        by_key.then_with(|| a.address.cmp(&b.address))
    });
}

fn descending(a: Option<f64>, b: Option<f64>) -> Ordering {
    let rank = |rate: Option<f64>| rate.unwrap_or(-1.0);
    rank(b).total_cmp(&rank(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::rates::tests::flow;

    fn rate(id: u64, first_seen_ns: u64, bytes: Option<f64>, packets: Option<f64>) -> FlowRate {
        FlowRate {
            flow: flow(id, (id * 10, 0), (id, 0), first_seen_ns),
            bytes_per_second: bytes,
            packets_per_second: packets,
        }
    }

    fn ids(flows: &[FlowRate]) -> Vec<u64> {
        flows.iter().map(|f| f.flow.id).collect()
    }

    fn rows() -> Vec<FlowRate> {
        vec![
            rate(1, 300, Some(100.0), Some(50.0)),
            rate(2, 100, Some(900.0), Some(5.0)),
            rate(3, 200, None, None),
            rate(4, 400, Some(100.0), Some(70.0)),
        ]
    }

    #[test]
    fn by_bytes_the_highest_byte_rate_comes_first_and_unknown_rates_last() {
        let mut flows = rows();
        sort_flows(&mut flows, TopSort::Bytes);
        // 1 and 4 tie on rate; 4 has the larger total.
        assert_eq!(ids(&flows), vec![2, 4, 1, 3]);
    }

    #[test]
    fn by_packets_the_highest_packet_rate_comes_first() {
        let mut flows = rows();
        sort_flows(&mut flows, TopSort::Packets);
        assert_eq!(ids(&flows), vec![4, 1, 2, 3]);
    }

    #[test]
    fn by_connections_the_oldest_flow_comes_first() {
        let mut flows = rows();
        sort_flows(&mut flows, TopSort::Connections);
        assert_eq!(ids(&flows), vec![2, 3, 1, 4]);
    }

    fn peer(address: &str, flows: usize, bytes: Option<f64>) -> PeerRate {
        PeerRate {
            address: address.into(),
            name: address.into(),
            flows,
            bytes_per_second: bytes,
            packets_per_second: bytes,
            total_bytes: 0,
        }
    }

    #[test]
    fn peers_sort_by_rate_or_by_how_many_flows_they_have() {
        let mut peers = vec![
            peer("10.0.0.1", 1, Some(50.0)),
            peer("10.0.0.2", 3, Some(10.0)),
            peer("10.0.0.3", 3, Some(20.0)),
        ];
        sort_peers(&mut peers, TopSort::Bytes);
        let order: Vec<&str> = peers.iter().map(|p| p.address.as_str()).collect();
        assert_eq!(order, vec!["10.0.0.1", "10.0.0.3", "10.0.0.2"]);
        sort_peers(&mut peers, TopSort::Connections);
        let order: Vec<&str> = peers.iter().map(|p| p.address.as_str()).collect();
        assert_eq!(order, vec!["10.0.0.3", "10.0.0.2", "10.0.0.1"]);
    }
}
