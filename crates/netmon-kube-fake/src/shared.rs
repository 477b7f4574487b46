//! State shared between the test's handle (`FakeApiServer`) and the server
//! thread.

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::faults::Faults;
use crate::requests::RequestRecord;
use crate::store::Store;

/// Real API servers send a bookmark about once a minute.
pub(crate) const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

pub(crate) struct Shared {
    pub address: SocketAddr,
    store: Mutex<Store>,
    faults: Mutex<Faults>,
    requests: Mutex<Vec<RequestRecord>>,
    bookmark_interval: Mutex<Duration>,
    pub open_watches: AtomicUsize,
    /// Ticks on every change of the store or the faults. Watch streams wait
    /// on it instead of polling; a `watch` channel cannot lose a wake-up the
    /// way a bare `Notify` can between checking and waiting.
    changes: watch::Sender<u64>,
}

/// Locks without turning a panic elsewhere into a second one here: the data
/// behind these locks stays consistent between statements.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(address: SocketAddr) -> Self {
        Shared {
            address,
            store: Mutex::new(Store::new()),
            faults: Mutex::new(Faults::default()),
            requests: Mutex::new(Vec::new()),
            bookmark_interval: Mutex::new(DEFAULT_BOOKMARK_INTERVAL),
            open_watches: AtomicUsize::new(0),
            changes: watch::Sender::new(0),
        }
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }

    pub fn requests(&self) -> MutexGuard<'_, Vec<RequestRecord>> {
        lock(&self.requests)
    }

    pub fn bookmark_interval(&self) -> Duration {
        *lock(&self.bookmark_interval)
    }

    pub fn set_bookmark_interval(&self, interval: Duration) {
        *lock(&self.bookmark_interval) = interval;
        self.notify();
    }

    /// Wakes every open watch stream; call after the change is made.
    pub fn notify(&self) {
        self.changes
            .send_modify(|tick| *tick = tick.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}
