//! The spool writer: one thread that appends accepted batches and fsyncs
//! once for all the batches that arrived meanwhile (group commit), so many
//! agents sending at once cost one disk flush, not one each.

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::spool::SpoolError;
use crate::store::{Accepted, Outcome, Store};

/// Batches written together at most; bounds one flush's latency.
const MAX_GROUP: usize = 256;

struct Job {
    accepted: Accepted,
    done: oneshot::Sender<Result<Outcome, SpoolError>>,
}

/// Hands batches to the writer thread.
#[derive(Clone)]
pub struct SpoolWriter {
    jobs: mpsc::Sender<Job>,
}

/// Why a batch was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("the server is shutting down")]
    Stopped,
}

impl SpoolWriter {
    /// Starts the thread; it ends when every `SpoolWriter` is dropped.
    pub fn start(store: Arc<Store>) -> std::io::Result<(SpoolWriter, JoinHandle<()>)> {
        let (jobs, receiver) = mpsc::channel(MAX_GROUP * 4);
        let thread = std::thread::Builder::new()
            .name("spool-writer".to_owned())
            .spawn(move || write_loop(&store, receiver))?;
        Ok((SpoolWriter { jobs }, thread))
    }

    /// Spools and queues `accepted`; returns once it is on disk (or found
    /// to be a batch the server already has).
    pub async fn write(&self, accepted: Accepted) -> Result<Outcome, WriteError> {
        let (done, finished) = oneshot::channel();
        self.jobs
            .send(Job { accepted, done })
            .await
            .map_err(|_| WriteError::Stopped)?;
        finished
            .await
            .map_err(|_| WriteError::Stopped)?
            .map_err(WriteError::from)
    }
}

fn write_loop(store: &Store, mut receiver: mpsc::Receiver<Job>) {
    while let Some(first) = receiver.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (accepted, replies): (Vec<Accepted>, Vec<_>) =
            jobs.into_iter().map(|job| (job.accepted, job.done)).unzip();
        let outcomes = store.spool_and_queue(&accepted);
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // A caller that went away (its agent hung up) still had its batch
            // spooled; the agent's re-send is answered `duplicate`.
            let _ = reply.send(outcome);
        }
    }
}
