//! Helpers shared by the integration tests: a server on a loopback port, a
//! real kube client for it, and a reflector whose every event the test can
//! read back.

#![allow(dead_code)]

use std::net::TcpListener;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Config, ResourceExt};
use netmon_kube_fake::FakeApiServer;
use serde_json::{json, Value};
use tokio::sync::mpsc;

pub fn start() -> FakeApiServer {
    FakeApiServer::start(TcpListener::bind("127.0.0.1:0").expect("bind loopback"))
}

/// A client built the way netmon builds it: from a kubeconfig. `retry` is
/// kube's `default_retry` (on by default: 429/503/504 are retried inside the
/// client).
pub async fn client(server: &FakeApiServer, retry: bool) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(&server.kubeconfig_yaml()).expect("kubeconfig parses");
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig accepted");
    config.default_retry = retry;
    Client::try_from(config).expect("client")
}

pub fn pod(namespace: &str, name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    })
}

/// `namespace/name` of every object in a store, sorted.
pub fn names<K>(store: &Store<K>) -> Vec<String>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    let mut names: Vec<String> = store
        .state()
        .iter()
        .map(|o| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()))
        .collect();
    names.sort();
    names
}

/// A watcher event or error as a short line, so tests can compare whole
/// sequences.
pub fn describe(item: &Result<watcher::Event<Pod>, watcher::Error>) -> String {
    let id = |p: &Pod| {
        format!(
            "{}/{}@{}",
            p.namespace().unwrap_or_default(),
            p.name_any(),
            p.resource_version().unwrap_or_default()
        )
    };
    let api = |e: &kube::Error| match e {
        kube::Error::Api(s) => format!("{} {}", s.code, s.reason),
        other => format!("client error: {other}"),
    };
    match item {
        Ok(watcher::Event::Init) => "Init".into(),
        Ok(watcher::Event::InitApply(p)) => format!("InitApply {}", id(p)),
        Ok(watcher::Event::InitDone) => "InitDone".into(),
        Ok(watcher::Event::Apply(p)) => format!("Apply {}", id(p)),
        Ok(watcher::Event::Delete(p)) => format!("Delete {}", id(p)),
        Err(watcher::Error::InitialListFailed(e)) => format!("ListFailed {}", api(e)),
        Err(watcher::Error::WatchStartFailed(e)) => format!("WatchStartFailed {}", api(e)),
        Err(watcher::Error::WatchError(s)) => {
            format!("WatchError {} {} {}", s.code, s.reason, s.message)
        }
        Err(watcher::Error::WatchFailed(e)) => format!("WatchFailed {}", api(e)),
        Err(other) => format!("Error {other}"),
    }
}

/// A reflector over `api` driven by `watcher(..).default_backoff()`, as
/// netmon runs it; every item it yields is sent, described, on the channel.
pub fn reflect(
    api: Api<Pod>,
    config: watcher::Config,
) -> (Store<Pod>, mpsc::UnboundedReceiver<String>) {
    let (reader, writer) = reflector::store();
    let (tx, rx) = mpsc::unbounded_channel();
    let stream = reflector::reflector(writer, watcher(api, config).default_backoff());
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            if tx.send(describe(&item)).is_err() {
                break;
            }
        }
    });
    (reader, rx)
}

/// Waits up to `limit` for `condition`, polling; panics with `what` if it
/// never holds.
pub async fn eventually(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Receives the next `n` described events (each within `limit`).
pub async fn next_events(
    rx: &mut mpsc::UnboundedReceiver<String>,
    n: usize,
    limit: Duration,
) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        match tokio::time::timeout(limit, rx.recv()).await {
            Ok(Some(line)) => out.push(line),
            _ => panic!("expected {n} events, got {out:?}"),
        }
    }
    out
}
