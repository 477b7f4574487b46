//! Reading records from the kernel's ring buffers (TCP lifecycle events,
//! payload samples), woken by epoll or read on a timer.

use std::io;
use std::marker::PhantomData;

use aya::maps::{MapData, RingBuf};
use netmon_common::{PayloadSample, TcpEvent};
use tokio::io::{unix::AsyncFd, Interest};

/// A record type the kernel writes into a ring buffer.
pub trait RingRecord: Sized {
    /// Decodes one record; `None` when the bytes are too short for it.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

impl RingRecord for TcpEvent {
    fn decode(bytes: &[u8]) -> Option<Self> {
        TcpEvent::from_bytes(bytes)
    }
}

impl RingRecord for PayloadSample {
    fn decode(bytes: &[u8]) -> Option<Self> {
        PayloadSample::from_bytes(bytes)
    }
}

/// Async reader of one of the kernel's ring buffers.
pub struct RingReader<T> {
    fd: AsyncFd<RingBuf<MapData>>,
    /// Records too short to be a `T`; a non-zero value means the ABI of
    /// the loaded object and the agent disagree.
    pub malformed: u64,
    _record: PhantomData<fn() -> T>,
}

/// Reader of the TCP lifecycle events.
pub type EventReader = RingReader<TcpEvent>;
/// Reader of the payload samples.
pub type PayloadReader = RingReader<PayloadSample>;

impl<T: RingRecord> RingReader<T> {
    pub fn new(ring: RingBuf<MapData>) -> io::Result<Self> {
        // SAFETY: the ring buffer owns its fd for as long as the AsyncFd
        // owns the ring buffer, and nothing else closes it.
        let fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(RingReader {
            fd,
            malformed: 0,
            _record: PhantomData,
        })
    }

    /// Appends up to `max` records that are already in the ring, without
    /// waiting. The kernel side wakes the reader only when the ring fills
    /// up, so the agent calls this on a timer.
    pub fn read_available(&mut self, out: &mut Vec<T>, max: usize) {
        self.malformed += take_records(self.fd.get_mut(), out, max);
    }

    /// Waits for records and appends up to `max` of them to `out`.
    pub async fn read(&mut self, out: &mut Vec<T>, max: usize) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable_mut().await?;
            let before = out.len();
            self.malformed += take_records(guard.get_inner_mut(), out, max);
            if out.len() - before < max {
                // The ring is empty: re-arm epoll before the next wait.
                guard.clear_ready();
            }
            if out.len() > before {
                return Ok(());
            }
        }
    }
}

/// Moves up to `max` records from the ring into `out`; returns how many
/// were too short to be a `T`.
fn take_records<T: RingRecord>(ring: &mut RingBuf<MapData>, out: &mut Vec<T>, max: usize) -> u64 {
    let before = out.len();
    let mut malformed = 0;
    while out.len() - before < max {
        let Some(item) = ring.next() else { break };
        match T::decode(&item) {
            Some(record) => out.push(record),
            None => malformed += 1,
        }
    }
    malformed
}
