//! One task per watched resource: kube-rs's watcher (paged list, then
//! watch with bookmarks), each object stripped on arrival into the index.
//!
//! A failed list or a broken watch ends the watcher; after a backoff a new
//! one lists again. Relisting rather than resuming costs one list per
//! outage, and buys two things: objects deleted during the outage leave the
//! index even if the API server compacted their events, and "synced" means
//! a complete list has arrived since the last error, which is what
//! `netmon_k8s_sync_status` reports.

use std::fmt::Debug;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, DefaultBackoff, Event};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::cached::{Interner, ObjectKey};
use super::index::{Cached, K8sIndex, Kind};
use super::status::SyncStatus;
use super::strip::{self, StripOptions};

type Strip<K> = fn(&K, &StripOptions, &mut Interner) -> Option<Cached>;

/// Everything a watch task shares with the others.
#[derive(Clone)]
pub struct Shared {
    pub index: Arc<RwLock<K8sIndex>>,
    pub status: Arc<SyncStatus>,
    pub options: Arc<StripOptions>,
}

/// Starts the six watches; they run until `shutdown` turns true.
pub fn spawn_all(
    client: Client,
    shared: &Shared,
    shutdown: signal::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    vec![
        spawn::<Pod>(
            &client,
            shared,
            &shutdown,
            Kind::Pod,
            "pods",
            |o, opt, s| strip::pod(o, opt, s).map(Cached::Pod),
        ),
        spawn::<Service>(
            &client,
            shared,
            &shutdown,
            Kind::Service,
            "services",
            |o, _, s| strip::service(o, s).map(Cached::Service),
        ),
        spawn::<Node>(
            &client,
            shared,
            &shutdown,
            Kind::Node,
            "nodes",
            |o, opt, s| strip::node(o, opt, s).map(Cached::Node),
        ),
        spawn::<EndpointSlice>(
            &client,
            shared,
            &shutdown,
            Kind::EndpointSlice,
            "endpointslices",
            |o, _, s| strip::endpoint_slice(o, s).map(Cached::EndpointSlice),
        ),
        spawn::<ReplicaSet>(
            &client,
            shared,
            &shutdown,
            Kind::ReplicaSet,
            "replicasets",
            |o, _, s| strip::replica_set(o, s).map(Cached::ReplicaSet),
        ),
        spawn::<Job>(&client, shared, &shutdown, Kind::Job, "jobs", |o, _, s| {
            strip::job(o, s).map(Cached::Job)
        }),
    ]
}

fn spawn<K>(
    client: &Client,
    shared: &Shared,
    shutdown: &signal::Receiver<bool>,
    kind: Kind,
    resource: &'static str,
    strip: Strip<K>,
) -> JoinHandle<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let api: Api<K> = Api::all(client.clone());
    tokio::spawn(run(
        api,
        shared.clone(),
        kind,
        resource,
        strip,
        shutdown.clone(),
    ))
}

async fn run<K>(
    api: Api<K>,
    shared: Shared,
    kind: Kind,
    resource: &'static str,
    strip: Strip<K>,
    mut shutdown: signal::Receiver<bool>,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let mut backoff = DefaultBackoff::default();
    loop {
        let outcome = tokio::select! {
            outcome = watch_until_error(&api, &shared, kind, resource, strip, &mut backoff) => outcome,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let delay = backoff.next().unwrap_or(Duration::from_secs(30));
        warn!(resource, error = %outcome, retry_in = ?delay, "Kubernetes watch failed; flows are counted meanwhile, named from the last known state");
        shared.status.failed(resource, outcome);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// Runs one watcher until it reports an error; returns that error.
async fn watch_until_error<K>(
    api: &Api<K>,
    shared: &Shared,
    kind: Kind,
    resource: &'static str,
    strip: Strip<K>,
    backoff: &mut DefaultBackoff,
) -> String
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let stream = watcher::watcher(api.clone(), watcher::Config::default());
    futures::pin_mut!(stream);
    let mut listing: Vec<Cached> = Vec::new();
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(event) => event,
            Err(error) => return error.to_string(),
        };
        let mut index = shared.index.write().unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::Init => listing.clear(),
            Event::InitApply(object) => {
                listing.extend(strip(&object, &shared.options, index.strings()));
            }
            Event::InitDone => {
                index.replace_all(kind, std::mem::take(&mut listing));
                let objects = index.len(kind) as u64;
                drop(index);
                info!(resource, objects, "Kubernetes watch synced");
                shared.status.synced(resource, objects);
                backoff.reset();
            }
            Event::Apply(object) => {
                if let Some(cached) = strip(&object, &shared.options, index.strings()) {
                    index.upsert(cached);
                } else {
                    debug!(resource, name = %object.name_any(), "object without what could name a flow; not cached");
                }
                let objects = index.len(kind) as u64;
                drop(index);
                shared.status.set_objects(resource, objects);
            }
            Event::Delete(object) => {
                let key = ObjectKey {
                    namespace: Arc::from(object.namespace().unwrap_or_default()),
                    name: Arc::from(object.name_any()),
                };
                index.remove(kind, &key);
                let objects = index.len(kind) as u64;
                drop(index);
                shared.status.set_objects(resource, objects);
            }
        }
    }
    // The watcher stream never ends on its own; treat it as an error.
    "the watch stream ended".to_owned()
}
