//! Reading TCP lifecycle events from the ring buffer, woken by epoll.

use std::io;

use aya::maps::{MapData, RingBuf};
use netmon_common::TcpEvent;
use tokio::io::{unix::AsyncFd, Interest};

/// Async reader of the kernel's TCP event ring buffer.
pub struct EventReader {
    fd: AsyncFd<RingBuf<MapData>>,
    /// Records too short to be an event; a non-zero value means the ABI of
    /// the loaded object and the agent disagree.
    pub malformed: u64,
}

impl EventReader {
    pub fn new(ring: RingBuf<MapData>) -> io::Result<Self> {
        // SAFETY: the ring buffer owns its fd for as long as the AsyncFd
        // owns the ring buffer, and nothing else closes it.
        let fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(EventReader { fd, malformed: 0 })
    }

    /// Appends up to `max` events that are already in the ring, without
    /// waiting. The kernel side wakes the reader only when the ring fills
    /// up, so the agent calls this on a timer.
    pub fn read_available(&mut self, out: &mut Vec<TcpEvent>, max: usize) {
        self.malformed += take_events(self.fd.get_mut(), out, max);
    }

    /// Waits for events and appends up to `max` of them to `out`.
    pub async fn read(&mut self, out: &mut Vec<TcpEvent>, max: usize) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable_mut().await?;
            let before = out.len();
            self.malformed += take_events(guard.get_inner_mut(), out, max);
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

/// Moves up to `max` events from the ring into `out`; returns how many
/// records were too short to be an event.
fn take_events(ring: &mut RingBuf<MapData>, out: &mut Vec<TcpEvent>, max: usize) -> u64 {
    let before = out.len();
    let mut malformed = 0;
    while out.len() - before < max {
        let Some(item) = ring.next() else { break };
        match TcpEvent::from_bytes(&item) {
            Some(event) => out.push(event),
            None => malformed += 1,
        }
    }
    malformed
}
