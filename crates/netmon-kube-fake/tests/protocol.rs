//! The wire protocol through kube's `Api` calls: raw watches, bookmarks,
//! timeouts, 410s, selectors, other groups, faults and discovery.

mod common;

use std::time::{Duration, Instant};

use common::{client, eventually, pod, start};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(5);

/// A watch event as a short line.
fn describe(event: &WatchEvent<Pod>) -> String {
    let id = |p: &Pod| {
        format!(
            "{}@{}",
            p.name_any(),
            p.resource_version().unwrap_or_default()
        )
    };
    match event {
        WatchEvent::Added(p) => format!("ADDED {}", id(p)),
        WatchEvent::Modified(p) => format!("MODIFIED {}", id(p)),
        WatchEvent::Deleted(p) => format!("DELETED {}", id(p)),
        WatchEvent::Bookmark(b) => format!("BOOKMARK {}", b.metadata.resource_version),
        WatchEvent::Error(s) => format!("ERROR {} {} {}", s.code, s.reason, s.message),
    }
}

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn sorted_names<K: kube::Resource>(items: &[K]) -> Vec<String> {
    let mut names: Vec<String> = items
        .iter()
        .map(|o| o.meta().name.clone().unwrap_or_default())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn raw_watch_sends_state_then_changes_and_bookmarks() {
    let server = start();
    server.set_bookmark_interval(Duration::from_millis(150));
    server.apply(pod("a", "p1", json!({}))).unwrap();
    server.apply(pod("a", "p2", json!({}))).unwrap();
    let api: Api<Pod> = Api::namespaced(client(&server, true).await, "a");

    let stream = api.watch(&WatchParams::default(), "0").await.unwrap();
    let mut stream = std::pin::pin!(stream);
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(describe(&stream.try_next().await.unwrap().unwrap()));
    }
    server.apply(pod("a", "p3", json!({}))).unwrap();
    while seen.len() < 5 {
        seen.push(describe(&stream.try_next().await.unwrap().unwrap()));
    }
    assert_eq!(
        seen,
        [
            "ADDED p1@1",
            "ADDED p2@2",
            "BOOKMARK 2",
            "ADDED p3@3",
            "BOOKMARK 3"
        ]
    );
    assert_eq!(server.open_watches(), 1);
    server.close_watches();
    assert!(stream.next().await.is_none());
    eventually("closed stream", WAIT, || server.open_watches() == 0).await;
}

#[tokio::test]
async fn watch_ends_at_its_timeout_and_sends_no_bookmarks_unasked() {
    let server = start();
    server.set_bookmark_interval(Duration::from_millis(100));
    server.apply(pod("a", "p1", json!({}))).unwrap();
    let api: Api<Pod> = Api::all(client(&server, true).await);
    let started = Instant::now();
    let params = WatchParams::default().disable_bookmarks().timeout(1);
    let events: Vec<String> = api
        .watch(&params, "0")
        .await
        .unwrap()
        .map(|e| describe(&e.unwrap()))
        .collect()
        .await;
    assert_eq!(events, ["ADDED p1@1"]);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn watch_from_a_compacted_version_gets_the_410_event() {
    let server = start();
    for name in ["p1", "p2", "p3"] {
        server.apply(pod("a", name, json!({}))).unwrap();
    }
    server.compact();
    let api: Api<Pod> = Api::all(client(&server, true).await);

    let events: Vec<String> = api
        .watch(&WatchParams::default(), "1")
        .await
        .unwrap()
        .map(|e| describe(&e.unwrap()))
        .collect()
        .await;
    assert_eq!(
        events,
        ["ERROR 410 Expired too old resource version: 1 (3)"]
    );

    // From the compaction point on, history is served again.
    let stream = api.watch(&WatchParams::default(), "3").await.unwrap();
    let mut stream = std::pin::pin!(stream);
    server.apply(pod("a", "p4", json!({}))).unwrap();
    assert_eq!(
        describe(&stream.try_next().await.unwrap().unwrap()),
        "ADDED p4@4"
    );
    // A list at an exact compacted version is refused too.
    let at_2 = ListParams::default()
        .at("2")
        .matching(kube::api::VersionMatch::Exact);
    assert_eq!(api_error(api.list(&at_2).await), (410, "Expired".into()));
}

#[tokio::test]
async fn selectors_filter_lists_and_watches() {
    let server = start();
    server
        .apply(pod("a", "web1", json!({"app": "web"})))
        .unwrap();
    server
        .apply(pod("a", "web2", json!({"app": "web", "tier": "front"})))
        .unwrap();
    server.apply(pod("b", "db1", json!({"app": "db"}))).unwrap();
    let api: Api<Pod> = Api::all(client(&server, true).await);
    let names = |lp: ListParams| {
        let api = api.clone();
        async move { sorted_names(&api.list(&lp).await.unwrap().items) }
    };
    assert_eq!(
        names(ListParams::default().labels("app=web")).await,
        ["web1", "web2"]
    );
    assert_eq!(
        names(ListParams::default().labels("app=web,tier=front")).await,
        ["web2"]
    );
    assert_eq!(
        names(ListParams::default().labels("app!=web")).await,
        ["db1"]
    );
    assert_eq!(names(ListParams::default().labels("tier")).await, ["web2"]);
    assert_eq!(
        names(ListParams::default().fields("metadata.namespace=b")).await,
        ["db1"]
    );
    assert_eq!(
        api_error(
            api.list(&ListParams::default().labels("app in (web,db)"))
                .await
        ),
        (400, "BadRequest".into())
    );

    let watch = api
        .watch(&WatchParams::default().labels("app=web"), "3")
        .await
        .unwrap();
    let mut watch = std::pin::pin!(watch);
    server
        .apply(pod("a", "web1", json!({"app": "db"})))
        .unwrap();
    server
        .apply(pod("b", "db1", json!({"app": "web"})))
        .unwrap();
    server
        .apply(pod("a", "web2", json!({"app": "web", "tier": "back"})))
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(describe(&watch.try_next().await.unwrap().unwrap()));
    }
    assert_eq!(seen, ["DELETED web1@4", "ADDED db1@5", "MODIFIED web2@6"]);
}

#[tokio::test]
async fn other_groups_and_cluster_scoped_resources() {
    let server = start();
    let objects = [
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc1", "namespace": "a"}}),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs1", "namespace": "a"},
               "spec": {"selector": {"matchLabels": {"app": "x"}}}}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "es1", "namespace": "a"}, "addressType": "IPv4", "endpoints": []}),
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j1", "namespace": "b"}}),
    ];
    for object in objects {
        server.apply(object).unwrap();
    }
    let client = client(&server, true).await;
    let nodes: Api<Node> = Api::all(client.clone());
    assert_eq!(
        sorted_names(&nodes.list(&ListParams::default()).await.unwrap().items),
        ["n1"]
    );
    assert_eq!(
        nodes
            .get("n1")
            .await
            .unwrap()
            .metadata
            .resource_version
            .as_deref(),
        Some("1")
    );
    assert_eq!(api_error(nodes.get("nope").await), (404, "NotFound".into()));
    let services: Api<Service> = Api::namespaced(client.clone(), "a");
    assert_eq!(
        sorted_names(&services.list(&ListParams::default()).await.unwrap().items),
        ["svc1"]
    );
    let replicasets: Api<ReplicaSet> = Api::all(client.clone());
    assert_eq!(
        sorted_names(
            &replicasets
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
        ),
        ["rs1"]
    );
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "a");
    assert_eq!(
        sorted_names(&slices.list(&ListParams::default()).await.unwrap().items),
        ["es1"]
    );
    let jobs: Api<Job> = Api::namespaced(client.clone(), "a");
    assert_eq!(
        sorted_names(&jobs.list(&ListParams::default()).await.unwrap().items),
        Vec::<String>::new()
    );
    let jobs: Api<Job> = Api::all(client);
    assert_eq!(
        sorted_names(&jobs.list(&ListParams::default()).await.unwrap().items),
        ["j1"]
    );

    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/api/v1/nodes",
            "/api/v1/nodes/n1",
            "/api/v1/nodes/nope",
            "/api/v1/namespaces/a/services",
            "/apis/apps/v1/replicasets",
            "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices",
            "/apis/batch/v1/namespaces/a/jobs",
            "/apis/batch/v1/jobs",
        ]
    );
}

#[tokio::test]
async fn fail_next_answers_with_the_given_status() {
    let server = start();
    server.apply(pod("a", "p1", json!({}))).unwrap();
    let plain: Api<Pod> = Api::all(client(&server, false).await);
    server.fail_next(2, 500).unwrap();
    assert_eq!(
        api_error(plain.list(&ListParams::default()).await),
        (500, "InternalError".into())
    );
    assert_eq!(
        api_error(plain.list(&ListParams::default()).await),
        (500, "InternalError".into())
    );
    assert_eq!(
        plain
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(server.list_count("pods"), 3);

    server.fail_next(1, 429).unwrap();
    assert_eq!(
        api_error(plain.list(&ListParams::default()).await),
        (429, "TooManyRequests".into())
    );

    // kube's default client retries 429/503/504 by itself and succeeds.
    let retrying: Api<Pod> = Api::all(client(&server, true).await);
    server.fail_next(2, 503).unwrap();
    assert_eq!(
        retrying
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(server.list_count("pods"), 7);
    // ... but not other codes.
    server.fail_next(1, 403).unwrap();
    assert_eq!(
        api_error(retrying.list(&ListParams::default()).await),
        (403, "Forbidden".into())
    );
    assert_eq!(server.list_count("pods"), 8);

    assert!(matches!(
        server.fail_next(1, 200),
        Err(netmon_kube_fake::Error::NotAnErrorStatus(200))
    ));
}

#[tokio::test]
async fn latency_delays_answers() {
    let server = start();
    let api: Api<Pod> = Api::all(client(&server, true).await);
    server.set_latency(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        0
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    server.set_latency(Duration::ZERO);
    let started = Instant::now();
    api.list(&ListParams::default()).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn discovery_and_version() {
    let server = start();
    server
        .apply(json!({"apiVersion": "example.com/v1alpha1", "kind": "Widget", "metadata": {"name": "w", "namespace": "a"}}))
        .unwrap();
    let client = client(&server, true).await;
    assert_eq!(
        client.apiserver_version().await.unwrap().git_version,
        "v1.32.0-netmon-fake"
    );
    let discovery = kube::Discovery::new(client).run().await.unwrap();
    let mut groups: Vec<String> = discovery.groups().map(|g| g.name().to_owned()).collect();
    groups.sort();
    assert_eq!(
        groups,
        [
            "",
            "apps",
            "batch",
            "discovery.k8s.io",
            "example.com",
            "networking.k8s.io"
        ]
    );
    let (widget, caps) = discovery
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "example.com",
            "v1alpha1",
            "Widget",
        ))
        .unwrap();
    assert_eq!(
        (widget.plural.as_str(), caps.scope),
        ("widgets", kube::discovery::Scope::Namespaced)
    );
}
