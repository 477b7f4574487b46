//! The records waiting for the server, bounded: a FIFO of records, out of
//! which batches are cut one at a time as they are sent.
//!
//! Only the batch in flight has ever been sent: batches go out in order,
//! one at a time, and the next is cut when the previous was acknowledged.
//! So when the buffer is full, the oldest records that are dropped have
//! never reached the server, and the drop count is exactly what the
//! server will never have. The batch in flight is never dropped or changed
//! for room: the server may already hold it under its id.

use std::collections::VecDeque;

use netmon_proto::flows::v1::FlowRecord;

use super::batch::{Batch, BatchIds};

#[derive(Debug)]
pub struct ExportBuffer {
    queued: VecDeque<FlowRecord>,
    in_flight: Option<Batch>,
    /// Most records held, the batch in flight included.
    capacity: usize,
    batch_size: usize,
}

impl ExportBuffer {
    /// `batch_size` is at most `capacity` (validated), and both at least 1.
    pub fn new(capacity: usize, batch_size: usize) -> Self {
        let capacity = capacity.max(1);
        ExportBuffer {
            queued: VecDeque::new(),
            in_flight: None,
            capacity,
            batch_size: batch_size.clamp(1, capacity),
        }
    }

    /// Appends `records` (newest last) and returns how many of the oldest
    /// queued ones were dropped to stay within the capacity.
    pub fn push(&mut self, records: Vec<FlowRecord>) -> usize {
        self.queued.extend(records);
        let in_flight = self.in_flight.as_ref().map_or(0, Batch::len);
        let room = self.capacity.saturating_sub(in_flight);
        let excess = self.queued.len().saturating_sub(room);
        self.queued.drain(..excess);
        excess
    }

    /// Records held, the batch in flight included.
    pub fn len(&self) -> usize {
        self.queued.len() + self.in_flight.as_ref().map_or(0, Batch::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batch to send now: the one in flight, else a new one cut from
    /// the oldest queued records, or `None` with nothing to send.
    pub fn next_batch(&mut self, ids: &mut BatchIds) -> Option<&mut Batch> {
        if self.in_flight.is_none() && !self.queued.is_empty() {
            let count = self.batch_size.min(self.queued.len());
            let records: Vec<FlowRecord> = self.queued.drain(..count).collect();
            self.in_flight = Some(Batch::new(ids.next_id(), records));
        }
        self.in_flight.as_mut()
    }

    /// The batch in flight is done with (acknowledged, or refused for good):
    /// it leaves the buffer.
    pub fn finish_in_flight(&mut self) -> Option<Batch> {
        self.in_flight.take()
    }

    /// The server refused the batch in flight as too large: it was not
    /// stored, so it is cut again at half its size, under a new id, and
    /// later batches are that size too. Returns false when it holds a single
    /// record, which can only be dropped.
    pub fn halve_in_flight(&mut self) -> bool {
        let Some(batch) = self.in_flight.take_if(|batch| batch.len() > 1) else {
            return false;
        };
        self.batch_size = (batch.len() / 2).max(1);
        for record in batch.records.into_iter().rev() {
            self.queued.push_front(record);
        }
        true
    }

    /// Empties the buffer, returning how many records it held.
    pub fn clear(&mut self) -> usize {
        let held = self.len();
        self.queued.clear();
        self.in_flight = None;
        held
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records told apart by their `tx_bytes`.
    fn records(range: std::ops::Range<u64>) -> Vec<FlowRecord> {
        range
            .map(|n| FlowRecord {
                tx_bytes: n,
                ..FlowRecord::default()
            })
            .collect()
    }

    fn marks(batch: &Batch) -> Vec<u64> {
        batch.records.iter().map(|r| r.tx_bytes).collect()
    }

    #[test]
    fn batches_are_cut_in_order_at_the_batch_size() {
        let mut ids = BatchIds::new("n", 1);
        let mut buffer = ExportBuffer::new(100, 4);
        assert_eq!(buffer.push(records(0..10)), 0);
        let first = buffer.next_batch(&mut ids).unwrap();
        assert_eq!(
            (first.id.as_str(), marks(first)),
            ("n-1-1", vec![0, 1, 2, 3])
        );
        assert_eq!(buffer.len(), 10);
        // Until it is finished, the same batch comes back.
        assert_eq!(buffer.next_batch(&mut ids).unwrap().id, "n-1-1");
        buffer.finish_in_flight();
        let second = buffer.next_batch(&mut ids).unwrap();
        assert_eq!(
            (second.id.as_str(), marks(second)),
            ("n-1-2", vec![4, 5, 6, 7])
        );
        buffer.finish_in_flight();
        assert_eq!(marks(buffer.next_batch(&mut ids).unwrap()), [8, 9]);
        buffer.finish_in_flight();
        assert!(buffer.next_batch(&mut ids).is_none());
        assert!(buffer.is_empty());
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_queued_records_and_says_how_many() {
        let mut buffer = ExportBuffer::new(10, 4);
        assert_eq!(buffer.push(records(0..8)), 0);
        assert_eq!(buffer.push(records(8..13)), 3);
        assert_eq!(buffer.len(), 10);
        let mut ids = BatchIds::new("n", 1);
        assert_eq!(marks(buffer.next_batch(&mut ids).unwrap()), [3, 4, 5, 6]);
    }

    #[test]
    fn the_batch_in_flight_is_never_dropped_for_room_but_counts_against_the_bound() {
        let mut ids = BatchIds::new("n", 1);
        let mut buffer = ExportBuffer::new(6, 4);
        buffer.push(records(0..4));
        buffer.next_batch(&mut ids);
        // 4 in flight leave room for 2 of the 5 new ones: the 3 oldest go.
        assert_eq!(buffer.push(records(4..9)), 3);
        assert_eq!(buffer.len(), 6);
        assert_eq!(marks(buffer.next_batch(&mut ids).unwrap()), [0, 1, 2, 3]);
        buffer.finish_in_flight();
        assert_eq!(marks(buffer.next_batch(&mut ids).unwrap()), [7, 8]);
    }

    #[test]
    fn a_batch_too_large_for_the_server_is_cut_again_at_half_under_a_new_id() {
        let mut ids = BatchIds::new("n", 1);
        let mut buffer = ExportBuffer::new(100, 8);
        buffer.push(records(0..10));
        buffer.next_batch(&mut ids);
        assert!(buffer.halve_in_flight());
        assert_eq!(buffer.batch_size(), 4);
        let again = buffer.next_batch(&mut ids).unwrap();
        assert_eq!(
            (again.id.as_str(), marks(again)),
            ("n-1-2", vec![0, 1, 2, 3])
        );
        assert_eq!(buffer.len(), 10);
    }

    #[test]
    fn a_single_record_too_large_cannot_be_halved() {
        let mut ids = BatchIds::new("n", 1);
        let mut buffer = ExportBuffer::new(10, 1);
        buffer.push(records(0..2));
        buffer.next_batch(&mut ids);
        assert!(!buffer.halve_in_flight());
        assert_eq!(marks(buffer.finish_in_flight().as_ref().unwrap()), [0]);
        assert_eq!(buffer.clear(), 1);
        assert!(buffer.is_empty());
    }
}
