//! Asking the agent for its flows, once or every interval from a task of
//! its own, so that keys are handled while a request is on its way.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::rates::Snapshot;
use crate::client::{AgentClient, ClientError};
use crate::model::Flow;

/// One `GET` of `path` (the flows endpoint with its filters).
pub async fn poll_once(client: &AgentClient, path: &str) -> Result<Snapshot, ClientError> {
    let taken_at = Instant::now();
    let taken_at_unix_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let flows: Vec<Flow> = client.get_json(path).await?;
    Ok(Snapshot {
        flows,
        taken_at,
        taken_at_unix_ns,
    })
}

/// Polls every `interval`, the first time one interval from now, and sends
/// each outcome. It stops when the receiver is dropped. A slow answer
/// delays the next poll rather than bunching polls up, so two snapshots
/// are never taken closer together than the agent can answer.
pub fn spawn_poller(
    client: AgentClient,
    path: String,
    interval: Duration,
) -> mpsc::Receiver<Result<Snapshot, ClientError>> {
    let (sender, receiver) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let outcome = poll_once(&client, &path).await;
            if sender.send(outcome).await.is_err() {
                return;
            }
        }
    });
    receiver
}
