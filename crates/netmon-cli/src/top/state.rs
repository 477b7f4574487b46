//! Everything the screen shows, and nothing about how: the latest rates,
//! the view's settings (rows, sort key, filter, prompt) and the last poll's
//! fate. Changed by polls and key presses; read by the view.

use std::time::Duration;

use super::filter::TextFilter;
use super::peers::{peer_rates, PeerRate};
use super::rates::{flow_rates, FlowRate, Snapshot};
use super::sort::{sort_flows, sort_peers};
use crate::cli::{TopRows, TopSort};

#[derive(Debug)]
pub struct TopState {
    /// The agent, as the header names it.
    pub agent: String,
    pub interval: Duration,
    /// The command-line filters, as the header shows them.
    pub agent_filter: String,
    pub rows: TopRows,
    pub sort: TopSort,
    pub filter: TextFilter,
    /// What is being typed at the `/` prompt, while it is open.
    pub prompt: Option<String>,
    /// Why the latest poll failed; cleared by the next good one.
    pub poll_error: Option<String>,
    rates: Vec<FlowRate>,
    previous: Option<Snapshot>,
    good_polls: u64,
}

/// Sums over the flows that pass the filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Totals {
    pub flows: usize,
    pub bytes_per_second: f64,
    pub packets_per_second: f64,
}

impl TopState {
    pub fn new(
        agent: String,
        interval: Duration,
        agent_filter: String,
        rows: TopRows,
        sort: TopSort,
    ) -> Self {
        TopState {
            agent,
            interval,
            agent_filter,
            rows,
            sort,
            filter: TextFilter::default(),
            prompt: None,
            poll_error: None,
            rates: Vec::new(),
            previous: None,
            good_polls: 0,
        }
    }

    pub fn record_snapshot(&mut self, snapshot: Snapshot) {
        self.rates = flow_rates(self.previous.as_ref(), &snapshot);
        self.previous = Some(snapshot);
        self.poll_error = None;
        self.good_polls += 1;
    }

    /// A failed poll keeps the last rates on screen: stale figures with a
    /// warning say more than an empty table.
    pub fn record_poll_error(&mut self, error: String) {
        self.poll_error = Some(error);
    }

    /// True until the second good poll: rates need two.
    pub fn measuring(&self) -> bool {
        self.good_polls < 2
    }

    /// When the latest poll was taken, in nanoseconds since the epoch: the
    /// "now" that ages are measured against.
    pub fn now_unix_ns(&self) -> u64 {
        self.previous
            .as_ref()
            .map(|s| s.taken_at_unix_ns)
            .unwrap_or(0)
    }

    /// The flows that pass the filter, in the sort order.
    pub fn visible_flows(&self) -> Vec<FlowRate> {
        let mut flows: Vec<FlowRate> = self
            .rates
            .iter()
            .filter(|r| self.filter.matches_flow(&r.flow))
            .cloned()
            .collect();
        sort_flows(&mut flows, self.sort);
        flows
    }

    /// The peers that pass the filter, in the sort order.
    pub fn visible_peers(&self) -> Vec<PeerRate> {
        let mut peers: Vec<PeerRate> = peer_rates(&self.rates)
            .into_iter()
            .filter(|p| self.filter.matches_peer(p))
            .collect();
        sort_peers(&mut peers, self.sort);
        peers
    }

    pub fn totals(&self) -> Totals {
        let matching = self
            .rates
            .iter()
            .filter(|r| self.filter.matches_flow(&r.flow));
        let mut totals = Totals {
            flows: 0,
            bytes_per_second: 0.0,
            packets_per_second: 0.0,
        };
        for rate in matching {
            totals.flows += 1;
            totals.bytes_per_second += rate.bytes_per_second.unwrap_or(0.0);
            totals.packets_per_second += rate.packets_per_second.unwrap_or(0.0);
        }
        totals
    }
}
