//! The filter prompt's matching: a case-insensitive substring of what a row
//! shows (`ip:port`, `namespace/pod:port`) or of a name behind it (address,
//! pod, namespace, workload, service, DNS name). An empty filter matches
//! everything. It narrows what the agent already returned for the
//! command-line filters.

use super::peers::PeerRate;
use super::text;
use crate::model::Flow;

/// A filter typed at the prompt, kept lower-cased for matching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextFilter {
    typed: String,
    needle: String,
}

impl TextFilter {
    pub fn new(typed: &str) -> Self {
        let typed = typed.trim().to_owned();
        TextFilter {
            needle: typed.to_lowercase(),
            typed,
        }
    }

    /// What the user typed (trimmed), for the header.
    pub fn text(&self) -> &str {
        &self.typed
    }

    pub fn is_empty(&self) -> bool {
        self.needle.is_empty()
    }

    pub fn matches_flow(&self, flow: &Flow) -> bool {
        if self.is_empty() {
            return true;
        }
        let shown = [text::source(flow), text::destination(flow)];
        let names = [
            Some(&flow.src_ip),
            Some(&flow.dst_ip),
            flow.src_pod.as_ref(),
            flow.src_namespace.as_ref(),
            flow.src_workload.as_ref(),
            flow.dst_pod.as_ref(),
            flow.dst_namespace.as_ref(),
            flow.dst_workload.as_ref(),
            flow.dst_service.as_ref(),
            flow.dst_dns_name.as_ref(),
        ];
        shown.iter().any(|s| self.found_in(s))
            || names.into_iter().flatten().any(|s| self.found_in(s))
    }

    pub fn matches_peer(&self, peer: &PeerRate) -> bool {
        self.is_empty() || self.found_in(&peer.address) || self.found_in(&peer.name)
    }

    fn found_in(&self, haystack: &str) -> bool {
        haystack.to_lowercase().contains(&self.needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::rates::tests::flow;

    #[test]
    fn a_filter_matches_the_address_and_port_a_row_shows() {
        let flow = flow(1, (0, 0), (0, 0), 0);
        assert!(TextFilter::new("10.0.0.1:40001").matches_flow(&flow));
        assert!(TextFilter::new(":5001").matches_flow(&flow));
        assert!(TextFilter::new("0.0.2").matches_flow(&flow));
        assert!(!TextFilter::new("10.0.0.1:40002").matches_flow(&flow));
        assert!(!TextFilter::new("10.0.0.3").matches_flow(&flow));
    }

    #[test]
    fn a_filter_matches_pod_names_in_any_case_and_an_empty_one_matches_all() {
        let mut flow = flow(1, (0, 0), (0, 0), 0);
        flow.src_pod = Some("Checkout-7d9f".into());
        flow.dst_service = Some("payments".into());
        assert!(TextFilter::new("checkout").matches_flow(&flow));
        assert!(TextFilter::new("PAYMENTS").matches_flow(&flow));
        assert!(TextFilter::new("  ").matches_flow(&flow));
        assert!(!TextFilter::new("cart").matches_flow(&flow));
        assert_eq!(TextFilter::new("  Checkout ").text(), "Checkout");
    }

    #[test]
    fn a_filter_matches_a_peer_by_address_or_name() {
        let peer = PeerRate {
            address: "10.0.0.5".into(),
            name: "shop/db-0".into(),
            flows: 1,
            bytes_per_second: None,
            packets_per_second: None,
            total_bytes: 0,
        };
        assert!(TextFilter::new("db-0").matches_peer(&peer));
        assert!(TextFilter::new("10.0.0.5").matches_peer(&peer));
        assert!(!TextFilter::new("10.0.0.6").matches_peer(&peer));
    }
}
