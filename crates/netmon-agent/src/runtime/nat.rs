//! Keeps the translation map (`flow::NatTable`) current from conntrack:
//! a task reads what gathered in the socket every [`READ_INTERVAL`], the
//! drain and the TCP event loop read what is pending right before they use
//! the map (so an event still in the socket cannot make them miss a
//! translation), and lost events (`ENOBUFS`) make the task re-read the
//! whole conntrack table.
//!
//! Reading and applying happen under one lock, so `NEW` and `DESTROY` of a
//! connection are applied in the kernel's order whoever reads them.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::NatConfig;
use crate::export::prometheus::NatReading;
use crate::flow::NatTable;
use crate::source::conntrack::{dump_translated, ConntrackError, EventSocket, Message};

use super::AgentState;

/// Events are read in batches: waking the agent per event (one per
/// connection) cost it 17 µs of CPU per connection in a connection storm
/// (measured, 2-core VM). 50 ms of events at 50,000 connections/s fit the
/// socket's 8 MiB receive buffer several times over; whatever the drain or
/// the event loop needs sooner they read themselves.
const READ_INTERVAL: Duration = Duration::from_millis(50);

/// The translation map and the socket that feeds it.
pub struct NatFeed {
    table: NatTable,
    socket: Option<EventSocket>,
    resync_needed: bool,
    overflows: u64,
    malformed: u64,
    /// A receive error was logged; later ones are not, until a read works.
    error_logged: bool,
}

impl NatFeed {
    /// No translations: `features.nat` off, or conntrack unreadable.
    pub fn off() -> Self {
        NatFeed {
            table: NatTable::new(1),
            socket: None,
            resync_needed: false,
            overflows: 0,
            malformed: 0,
            error_logged: false,
        }
    }

    fn on(socket: EventSocket, table: NatTable) -> Self {
        NatFeed {
            table,
            socket: Some(socket),
            ..NatFeed::off()
        }
    }

    pub fn table(&self) -> &NatTable {
        &self.table
    }

    /// Applies the conntrack events waiting in the socket; returns whether
    /// more were left (the read is capped so a storm cannot hold the lock).
    pub fn pump(&mut self) -> bool {
        let Some(socket) = &mut self.socket else {
            return false;
        };
        let table = &mut self.table;
        match socket.read_available(|message| apply(table, message)) {
            Ok(report) => {
                self.error_logged = false;
                self.malformed += report.malformed;
                if report.overflowed {
                    self.overflows += 1;
                    self.resync_needed = true;
                }
                report.more
            }
            Err(error) => {
                if !self.error_logged {
                    warn!(%error, "reading conntrack events failed; retrying");
                    self.error_logged = true;
                }
                false
            }
        }
    }

    /// Call before the drain swaps the kernel flow maps.
    pub fn begin_drain(&mut self) -> u64 {
        self.table.begin_drain()
    }

    /// Call once the drained deltas are in the flow table.
    pub fn end_drain(&mut self, generation: u64) {
        self.table.purge_destroyed(generation);
    }

    pub fn reading(&self) -> NatReading {
        NatReading {
            up: self.socket.is_some(),
            translations: self.table.len() as u64,
            dropped: self.table.dropped_total(),
            overflows: self.overflows,
            malformed: self.malformed,
        }
    }
}

fn apply(table: &mut NatTable, message: Message) {
    match message {
        Message::New(Some(binding)) => {
            table.insert(binding);
        }
        Message::Destroy(Some(binding)) => table.destroy(&binding.original),
        _ => {}
    }
}

/// Locks the feed; a panic elsewhere leaves it usable (at worst one event
/// behind), which beats stopping the drain.
pub fn lock(feed: &Mutex<NatFeed>) -> MutexGuard<'_, NatFeed> {
    feed.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts following conntrack when `features.nat` is on; on any failure
/// logs one line and leaves the feature off (flows are then counted as
/// before, a translated connection as two halves).
pub async fn start(
    state: Arc<AgentState>,
    config: &NatConfig,
    shutdown: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    if !config.enabled {
        info!("NAT joining is off (features.nat.enabled is false)");
        return None;
    }
    match open(config.max_entries).await {
        Ok(feed) => {
            info!(
                translations = feed.table.len(),
                "NAT joining is on: translated connections are reported as one flow"
            );
            *lock(&state.nat) = feed;
            Some(tokio::spawn(run(state, shutdown)))
        }
        Err(error) => {
            warn!(%error, "NAT joining is off: conntrack cannot be read, so a translated connection is counted as two halves");
            None
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Conntrack(#[from] ConntrackError),
    #[error("the conntrack dump task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

async fn open(max_entries: usize) -> Result<NatFeed, StartError> {
    // Subscribe before the dump: a connection created in between is then
    // in one or both, and a repeat only refreshes it.
    let socket = EventSocket::subscribe()?;
    let dumped = tokio::task::spawn_blocking(dump_translated).await??;
    let mut table = NatTable::new(max_entries);
    for binding in dumped {
        table.insert(binding);
    }
    Ok(NatFeed::on(socket, table))
}

async fn run(state: Arc<AgentState>, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(READ_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        // A storm may leave more than one read's worth; the next tick
        // takes the rest rather than holding the lock now.
        lock(&state.nat).pump();
        if std::mem::take(&mut lock(&state.nat).resync_needed) {
            resync(&state).await;
        }
    }
}

/// Re-reads the conntrack table after lost events: what the dump lacks
/// ended meanwhile, unless an event newer than the dump's start says
/// otherwise.
async fn resync(state: &AgentState) {
    let mark = {
        let mut feed = lock(&state.nat);
        // Events queued before the dump are older than it: apply them first
        // (a bounded number of reads, should they keep coming).
        for _ in 0..16 {
            if !feed.pump() {
                break;
            }
        }
        feed.table.mark()
    };
    match tokio::task::spawn_blocking(dump_translated).await {
        Ok(Ok(dumped)) => {
            let mut feed = lock(&state.nat);
            feed.table.resync(dumped, mark);
            info!(
                translations = feed.table.len(),
                "conntrack re-read after lost events"
            );
        }
        Ok(Err(error)) => {
            warn!(%error, "re-reading conntrack after lost events failed; retrying");
            lock(&state.nat).resync_needed = true;
        }
        Err(error) => {
            warn!(%error, "the conntrack re-read task failed; retrying");
            lock(&state.nat).resync_needed = true;
        }
    }
}
