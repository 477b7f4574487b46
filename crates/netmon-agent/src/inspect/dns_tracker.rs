//! Matches DNS responses to their queries, pure (times passed in).
//!
//! A query is keyed by its client's address and port, the transport and the
//! DNS id, not by the server's address: a pod's query to a Service's cluster
//! IP is sampled before DNAT and the backend's response before un-NAT, so
//! the two never name the same server, while the client's port and the id
//! are what the client itself matches on. Latency is the difference of the
//! kernel's timestamps of the two packets at the monitored interfaces.
//!
//! Memory is bounded by `max_pending` queries; a query that does not fit is
//! counted and its response later counts without a latency. A query with no
//! response within `timeout` completes as a timeout.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::flow::{DirectionalKey, DnsTransaction, Endpoint, Protocol};
use crate::l7::dns::{DnsMessage, DnsRecordData};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PendingKey {
    protocol: Protocol,
    client: Endpoint,
    id: u16,
}

#[derive(Debug, Clone)]
struct PendingQuery {
    /// The query's own direction, client → server.
    key: DirectionalKey,
    name: String,
    qtype: u16,
    at_mono_ns: u64,
}

/// A query answered, or given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedDns {
    /// Client → server, as the query travelled (for a response whose query
    /// was not seen: the response's direction reversed).
    pub key: DirectionalKey,
    pub transaction: DnsTransaction,
    /// Addresses the response gave the question's name (A and AAAA records,
    /// also those reached through CNAMEs), with their TTL in seconds.
    pub addresses: Vec<(IpAddr, u32)>,
}

/// Cumulative counts, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DnsTrackerStats {
    /// Queries not tracked because `max_pending` were waiting.
    pub pending_dropped: u64,
    /// Queries waiting for their response now.
    pub pending: usize,
}

pub struct DnsTracker {
    pending: HashMap<PendingKey, PendingQuery>,
    /// Queries in arrival order, for timeouts; entries whose query was
    /// answered (or replaced) meanwhile are skipped when they come up.
    order: VecDeque<(u64, PendingKey)>,
    timeout_ns: u64,
    max_pending: usize,
    pending_dropped: u64,
}

impl DnsTracker {
    pub fn new(timeout: std::time::Duration, max_pending: usize) -> Self {
        DnsTracker {
            pending: HashMap::new(),
            order: VecDeque::new(),
            timeout_ns: timeout.as_nanos().min(u64::MAX as u128) as u64,
            max_pending: max_pending.max(1),
            pending_dropped: 0,
        }
    }

    pub fn stats(&self) -> DnsTrackerStats {
        DnsTrackerStats {
            pending_dropped: self.pending_dropped,
            pending: self.pending.len(),
        }
    }

    /// Takes one decoded message seen travelling `key` at `at_mono_ns`;
    /// returns the transaction a response completes.
    pub fn observe(
        &mut self,
        key: DirectionalKey,
        message: &DnsMessage,
        at_mono_ns: u64,
    ) -> Option<CompletedDns> {
        if !message.is_response {
            self.observe_query(key, message, at_mono_ns);
            return None;
        }
        let client = key.dst;
        let pending_key = PendingKey {
            protocol: key.protocol,
            client,
            id: message.id,
        };
        let (query_key, name, qtype, latency_ns) = match self.pending.remove(&pending_key) {
            Some(query) => (
                query.key,
                query.name,
                query.qtype,
                Some(at_mono_ns.saturating_sub(query.at_mono_ns)),
            ),
            None => {
                let question = message.question.as_ref()?;
                (key.reversed(), question.name.clone(), question.qtype, None)
            }
        };
        let addresses = answered_addresses(message, &name);
        Some(CompletedDns {
            key: query_key,
            transaction: DnsTransaction {
                name,
                qtype,
                rcode: Some(message.rcode),
                latency_ns,
            },
            addresses,
        })
    }

    fn observe_query(&mut self, key: DirectionalKey, message: &DnsMessage, at_mono_ns: u64) {
        let Some(question) = &message.question else {
            return;
        };
        let pending_key = PendingKey {
            protocol: key.protocol,
            client: key.src,
            id: message.id,
        };
        // A retransmitted query keeps the first one's time: the client has
        // been waiting since then.
        if self.pending.contains_key(&pending_key) {
            return;
        }
        if self.pending.len() >= self.max_pending {
            self.pending_dropped += 1;
            return;
        }
        self.pending.insert(
            pending_key,
            PendingQuery {
                key,
                name: question.name.clone(),
                qtype: question.qtype,
                at_mono_ns,
            },
        );
        self.order.push_back((at_mono_ns, pending_key));
    }

    /// Completes, as timeouts, the queries older than the timeout at `now`.
    pub fn expire(&mut self, now_mono_ns: u64) -> Vec<CompletedDns> {
        let mut expired = Vec::new();
        while let Some(&(at, pending_key)) = self.order.front() {
            if at.saturating_add(self.timeout_ns) > now_mono_ns {
                break;
            }
            self.order.pop_front();
            // Only the query this entry was queued for: an id reused after
            // its answer is a new query with its own entry.
            let Some(query) = self.pending.get(&pending_key) else {
                continue;
            };
            if query.at_mono_ns != at {
                continue;
            }
            let query = self.pending.remove(&pending_key).expect("present");
            expired.push(CompletedDns {
                key: query.key,
                transaction: DnsTransaction {
                    name: query.name,
                    qtype: query.qtype,
                    rcode: None,
                    latency_ns: None,
                },
                addresses: Vec::new(),
            });
        }
        // Answered queries leave their entries behind; keep the queue from
        // growing past what a full table of pending queries needs.
        if self.order.len() > 2 * self.max_pending {
            let pending = &self.pending;
            self.order
                .retain(|(at, k)| pending.get(k).is_some_and(|q| q.at_mono_ns == *at));
        }
        expired
    }
}

/// The A/AAAA answers that belong to `name`: records owned by it or by a
/// name a CNAME chain from it leads to (bounded by the answers kept).
fn answered_addresses(message: &DnsMessage, name: &str) -> Vec<(IpAddr, u32)> {
    let mut names: Vec<&str> = vec![name];
    for answer in &message.answers {
        if let DnsRecordData::Cname(target) = &answer.data {
            if names.contains(&answer.name.as_str()) && !names.contains(&target.as_str()) {
                names.push(target);
            }
        }
    }
    message
        .answers
        .iter()
        .filter(|answer| names.contains(&answer.name.as_str()))
        .filter_map(|answer| match answer.data {
            DnsRecordData::A(ip) => Some((IpAddr::V4(ip), answer.ttl)),
            DnsRecordData::Aaaa(ip) => Some((IpAddr::V6(ip), answer.ttl)),
            DnsRecordData::Cname(_) => None,
        })
        .collect()
}

#[cfg(test)]
#[path = "dns_tracker_tests.rs"]
mod tests;
