//! A batch of records and its id, the server's idempotency key.
//!
//! The id is `<agent id>-<start time in ns>-<sequence>`: the start time
//! keeps ids of a restarted agent apart from those of its previous run, the
//! sequence counts up within a run. A batch keeps its id for every attempt,
//! so the server can tell a re-send from new data and count it once.

use netmon_proto::flows::v1::{ExportRequest, FlowRecord, SCHEMA_VERSION};

/// Hands out batch ids for one run of the agent.
#[derive(Debug, Clone)]
pub struct BatchIds {
    agent_id: String,
    prefix: String,
    next: u64,
}

impl BatchIds {
    /// `started_unix_ns`: when this run started, unique per run of the agent
    /// on this node.
    pub fn new(agent_id: &str, started_unix_ns: u64) -> Self {
        BatchIds {
            agent_id: agent_id.to_owned(),
            prefix: format!("{}-{started_unix_ns}", id_part(agent_id)),
            next: 1,
        }
    }

    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    pub fn next_id(&mut self) -> String {
        let id = format!("{}-{}", self.prefix, self.next);
        self.next += 1;
        id
    }
}

/// netmon-server takes batch ids of at most 200 characters from
/// `A-Z a-z 0-9 . _ : -`; a node name always fits, a host name may not.
const MAX_ID_PART: usize = 150;

/// `agent_id` as the first part of a batch id: other characters become
/// `_`, and a name too long is cut and followed by a hash of all of it, so
/// that two long names that start alike still give different ids.
fn id_part(agent_id: &str) -> String {
    let cleaned: String = agent_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.len() <= MAX_ID_PART {
        return cleaned;
    }
    // FNV-1a: stable across runs and builds, unlike std's hasher.
    let hash = agent_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{}-{hash:016x}", &cleaned[..MAX_ID_PART - 17])
}

/// Records sent together, under one id, until the server acknowledges them.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub id: String,
    /// Sends so far; the next request carries `attempts + 1`.
    pub attempts: u32,
    pub records: Vec<FlowRecord>,
}

impl Batch {
    pub fn new(id: String, records: Vec<FlowRecord>) -> Self {
        Batch {
            id,
            attempts: 0,
            records,
        }
    }

    /// The request for the next attempt, which it counts.
    pub fn next_request(&mut self, agent_id: &str) -> ExportRequest {
        self.attempts += 1;
        ExportRequest {
            schema_version: SCHEMA_VERSION,
            agent_id: agent_id.to_owned(),
            batch_id: self.id.clone(),
            attempt: self.attempts,
            records: self.records.clone(),
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_agent_the_run_and_a_sequence_from_one() {
        let mut ids = BatchIds::new("node-a", 1_733_240_000_000_000_000);
        assert_eq!(ids.next_id(), "node-a-1733240000000000000-1");
        assert_eq!(ids.next_id(), "node-a-1733240000000000000-2");
        let mut next_run = BatchIds::new("node-a", 1_733_240_100_000_000_000);
        assert_eq!(next_run.next_id(), "node-a-1733240100000000000-1");
    }

    #[test]
    fn an_agent_id_the_server_would_refuse_is_made_into_one_it_takes() {
        let mut odd = BatchIds::new("node a/1", 5);
        assert_eq!(odd.next_id(), "node_a_1-5-1");
        let long = "n".repeat(300);
        let id = BatchIds::new(&long, 5).next_id();
        assert_eq!(id.len(), 150 + "-5-1".len());
        assert!(id.starts_with(&"n".repeat(133)), "{id}");
        let other = BatchIds::new(&format!("{long}x"), 5).next_id();
        assert_ne!(id, other);
    }

    #[test]
    fn every_attempt_of_a_batch_carries_its_id_and_counts_up_from_one() {
        let record = FlowRecord {
            tx_bytes: 100,
            ..FlowRecord::default()
        };
        let mut batch = Batch::new("node-a-7-3".into(), vec![record.clone()]);
        let first = batch.next_request("node-a");
        let second = batch.next_request("node-a");
        assert_eq!(
            (first.batch_id.as_str(), first.attempt, first.schema_version),
            ("node-a-7-3", 1, 1)
        );
        assert_eq!(
            (second.batch_id.as_str(), second.attempt),
            ("node-a-7-3", 2)
        );
        assert_eq!(second.agent_id, "node-a");
        assert_eq!(second.records, [record]);
    }
}
