//! Flows summed by peer: the address at the far end of each flow, seen from
//! this node. An egress flow's peer is its responder, an ingress flow's its
//! initiator; a forwarded flow (routed through the node, neither end local)
//! counts for both of its ends.

use std::collections::BTreeMap;

use super::rates::FlowRate;
use crate::model::Flow;

/// One peer's share of the traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerRate {
    pub address: String,
    /// `namespace/pod` when Kubernetes named the address, else the address.
    pub name: String,
    /// Flows (connections, for TCP) with this peer.
    pub flows: usize,
    /// The sum of its flows' known rates; `None` while none is known.
    pub bytes_per_second: Option<f64>,
    pub packets_per_second: Option<f64>,
    pub total_bytes: u64,
}

/// Every peer of `flows`, ordered by address.
pub fn peer_rates(flows: &[FlowRate]) -> Vec<PeerRate> {
    let mut peers: BTreeMap<String, PeerRate> = BTreeMap::new();
    for rate in flows {
        for (address, name) in remote_ends(&rate.flow) {
            let peer = peers.entry(address.clone()).or_insert_with(|| PeerRate {
                address,
                name,
                flows: 0,
                bytes_per_second: None,
                packets_per_second: None,
                total_bytes: 0,
            });
            peer.flows += 1;
            peer.bytes_per_second = add_known(peer.bytes_per_second, rate.bytes_per_second);
            peer.packets_per_second = add_known(peer.packets_per_second, rate.packets_per_second);
            peer.total_bytes = peer.total_bytes.saturating_add(rate.flow.bytes());
        }
    }
    peers.into_values().collect()
}

fn remote_ends(flow: &Flow) -> Vec<(String, String)> {
    let src = (flow.src_ip.clone(), flow.src_name());
    let dst = (flow.dst_ip.clone(), flow.dst_name());
    match flow.direction.as_str() {
        "egress" => vec![dst],
        "ingress" => vec![src],
        _ => vec![src, dst],
    }
}

fn add_known(sum: Option<f64>, rate: Option<f64>) -> Option<f64> {
    match (sum, rate) {
        (Some(sum), Some(rate)) => Some(sum + rate),
        (sum, None) => sum,
        (None, rate) => rate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::rates::tests::flow;

    fn rate(
        mut flow: Flow,
        direction: &str,
        dst_ip: &str,
        bytes_per_second: Option<f64>,
    ) -> FlowRate {
        flow.direction = direction.to_owned();
        flow.dst_ip = dst_ip.to_owned();
        FlowRate {
            flow,
            bytes_per_second,
            packets_per_second: bytes_per_second.map(|b| b / 100.0),
        }
    }

    #[test]
    fn egress_flows_sum_under_their_responder() {
        let flows = [
            rate(
                flow(1, (100, 0), (1, 0), 0),
                "egress",
                "10.0.0.9",
                Some(1_000.0),
            ),
            rate(
                flow(2, (200, 50), (2, 1), 0),
                "egress",
                "10.0.0.9",
                Some(500.0),
            ),
            rate(flow(3, (400, 0), (4, 0), 0), "egress", "10.0.0.7", None),
        ];
        let peers = peer_rates(&flows);
        assert_eq!(
            peers,
            vec![
                PeerRate {
                    address: "10.0.0.7".into(),
                    name: "10.0.0.7".into(),
                    flows: 1,
                    bytes_per_second: None,
                    packets_per_second: None,
                    total_bytes: 400,
                },
                PeerRate {
                    address: "10.0.0.9".into(),
                    name: "10.0.0.9".into(),
                    flows: 2,
                    bytes_per_second: Some(1_500.0),
                    packets_per_second: Some(15.0),
                    total_bytes: 350,
                },
            ]
        );
    }

    #[test]
    fn an_ingress_flow_counts_for_its_initiator_and_a_forwarded_one_for_both_ends() {
        let flows = [
            rate(
                flow(1, (100, 0), (1, 0), 0),
                "ingress",
                "10.0.0.2",
                Some(10.0),
            ),
            rate(
                flow(2, (100, 0), (1, 0), 0),
                "forwarded",
                "10.0.0.3",
                Some(20.0),
            ),
        ];
        let peers: Vec<(String, usize, Option<f64>)> = peer_rates(&flows)
            .into_iter()
            .map(|p| (p.address, p.flows, p.bytes_per_second))
            .collect();
        assert_eq!(
            peers,
            vec![
                ("10.0.0.1".to_owned(), 2, Some(30.0)),
                ("10.0.0.3".to_owned(), 1, Some(20.0)),
            ]
        );
    }

    #[test]
    fn a_peer_named_by_kubernetes_shows_namespace_and_pod() {
        let mut named = flow(1, (100, 0), (1, 0), 0);
        named.dst_pod = Some("db-0".into());
        named.dst_namespace = Some("shop".into());
        let peers = peer_rates(&[rate(named, "egress", "10.0.0.5", Some(1.0))]);
        assert_eq!(peers[0].name, "shop/db-0");
        assert_eq!(peers[0].address, "10.0.0.5");
    }
}
