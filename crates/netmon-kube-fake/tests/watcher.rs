//! kube-rs's real watcher and reflector against the fake: initial list,
//! live changes, pagination, relist after compaction, bookmarks, outages.

mod common;

use std::time::Duration;

use common::{client, eventually, names, next_events, pod, reflect, start};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::ListParams;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::Api;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn initial_list_sees_applied_pods() {
    let server = start();
    for (ns, name) in [("a", "p1"), ("a", "p2"), ("b", "p3")] {
        server.apply(pod(ns, name, json!({}))).unwrap();
    }
    let client = client(&server, true).await;

    let (all, mut events) = reflect(Api::all(client.clone()), watcher::Config::default());
    all.wait_until_ready().await.unwrap();
    assert_eq!(names(&all), ["a/p1", "a/p2", "b/p3"]);
    assert_eq!(
        next_events(&mut events, 5, WAIT).await,
        [
            "Init",
            "InitApply a/p1@1",
            "InitApply a/p2@2",
            "InitApply b/p3@3",
            "InitDone"
        ]
    );

    let (in_a, _events) = reflect(Api::namespaced(client, "a"), watcher::Config::default());
    in_a.wait_until_ready().await.unwrap();
    assert_eq!(names(&in_a), ["a/p1", "a/p2"]);

    // The wire protocol kube used: one page of up to 500, then a watch from
    // the list's resourceVersion, for each reflector.
    eventually("both watches", WAIT, || server.watch_count("pods") == 2).await;
    let requests = server.requests();
    let lists: Vec<_> = requests.iter().filter(|r| r.is_list()).collect();
    assert_eq!(lists.len(), 2);
    assert_eq!(lists[0].path, "/api/v1/pods");
    assert_eq!(lists[1].path, "/api/v1/namespaces/a/pods");
    assert_eq!(lists[0].param("limit").as_deref(), Some("500"));
    let watches: Vec<_> = requests.iter().filter(|r| r.is_watch()).collect();
    for watch in watches {
        assert_eq!(watch.param("resourceVersion").as_deref(), Some("3"));
        assert_eq!(watch.param("allowWatchBookmarks").as_deref(), Some("true"));
    }
}

#[tokio::test]
async fn added_modified_deleted_reach_the_reflector() {
    let server = start();
    let client = client(&server, true).await;
    let (store, mut events) = reflect(Api::all(client), watcher::Config::default());
    store.wait_until_ready().await.unwrap();
    eventually("the watch", WAIT, || server.open_watches() == 1).await;

    server.apply(pod("a", "p1", json!({"v": "1"}))).unwrap();
    eventually("p1", WAIT, || names(&store) == ["a/p1"]).await;
    server.apply(pod("a", "p1", json!({"v": "2"}))).unwrap();
    eventually("p1 v2", WAIT, || {
        store
            .state()
            .first()
            .and_then(|p| p.metadata.labels.clone())
            .and_then(|l| l.get("v").cloned())
            == Some("2".into())
    })
    .await;
    // Another namespace and another kind's change in between: only Pods reach
    // a Pod watcher, and the resourceVersion counter is shared.
    server
        .apply(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "a"}}))
        .unwrap();
    server.apply(pod("b", "p2", json!({}))).unwrap();
    server.delete("v1", "Pod", Some("a"), "p1").unwrap();
    eventually("p1 gone", WAIT, || names(&store) == ["b/p2"]).await;

    assert_eq!(
        next_events(&mut events, 6, WAIT).await,
        [
            "Init",
            "InitDone",
            "Apply a/p1@1",
            "Apply a/p1@2",
            "Apply b/p2@4",
            "Delete a/p1@5"
        ]
    );
}

#[tokio::test]
async fn pagination_lists_every_object_exactly_once() {
    let server = start();
    for i in 0..1203 {
        let ns = ["a", "b", "c"][i % 3];
        server
            .apply(pod(ns, &format!("p{i:04}"), json!({})))
            .unwrap();
    }
    let client = client(&server, true).await;
    let (store, mut events) = reflect(Api::all(client.clone()), watcher::Config::default());
    store.wait_until_ready().await.unwrap();

    let init = next_events(&mut events, 1205, WAIT).await;
    assert_eq!(init.first().map(String::as_str), Some("Init"));
    assert_eq!(init.last().map(String::as_str), Some("InitDone"));
    let mut applied: Vec<&str> = init[1..1204].iter().map(|e| e.as_str()).collect();
    applied.sort();
    applied.dedup();
    assert_eq!(applied.len(), 1203);
    assert_eq!(store.state().len(), 1203);
    let lists: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.is_list())
        .collect();
    assert_eq!(lists.len(), 3);
    assert_eq!(lists[0].param("continue"), None);
    assert!(lists[1].param("continue").is_some() && lists[2].param("continue").is_some());

    // Pages keep showing the snapshot of the first page even when objects
    // change between pages.
    let api: Api<Pod> = Api::all(client);
    let first = api.list(&ListParams::default().limit(500)).await.unwrap();
    assert_eq!(first.items.len(), 500);
    assert_eq!(first.metadata.resource_version.as_deref(), Some("1203"));
    assert_eq!(first.metadata.remaining_item_count, Some(703));
    server.delete("v1", "Pod", Some("c"), "p1202").unwrap();
    server.apply(pod("c", "p9999", json!({}))).unwrap();
    server
        .apply(pod("b", "p1201", json!({"changed": "yes"})))
        .unwrap();
    let mut token = first.metadata.continue_.clone().unwrap();
    let mut rest = Vec::new();
    loop {
        let page = api
            .list(&ListParams::default().limit(500).continue_token(&token))
            .await
            .unwrap();
        assert_eq!(page.metadata.resource_version.as_deref(), Some("1203"));
        rest.extend(page.items);
        match page.metadata.continue_ {
            Some(next) if !next.is_empty() => token = next,
            _ => break,
        }
    }
    assert_eq!(rest.len(), 703);
    let old_p1201 = rest
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("p1201"))
        .unwrap();
    assert_eq!(old_p1201.metadata.labels.as_ref().map(|l| l.len()), Some(0));
    assert!(rest
        .iter()
        .any(|p| p.metadata.name.as_deref() == Some("p1202")));
    assert!(!rest
        .iter()
        .any(|p| p.metadata.name.as_deref() == Some("p9999")));

    // A fresh list sees the changes; a token from before a compaction expires.
    let fresh = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(fresh.items.len(), 1203);
    assert_eq!(fresh.metadata.resource_version.as_deref(), Some("1206"));
    server.compact();
    let expired = api
        .list(
            &ListParams::default()
                .limit(500)
                .continue_token(first.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = expired else {
        panic!("{expired}")
    };
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn compaction_during_a_cut_stream_forces_a_relist() {
    let server = start();
    server.apply(pod("a", "p1", json!({}))).unwrap();
    server.apply(pod("a", "p2", json!({}))).unwrap();
    let client = client(&server, true).await;
    let (store, mut events) = reflect(Api::all(client), watcher::Config::default());
    store.wait_until_ready().await.unwrap();
    eventually("the watch", WAIT, || server.open_watches() == 1).await;

    // Cut the stream, change things and compact while the watcher is away:
    // its resourceVersion (2) is gone when it comes back.
    server.set_outage(true);
    server.apply(pod("a", "p3", json!({}))).unwrap();
    server.delete("v1", "Pod", Some("a"), "p1").unwrap();
    server.compact();
    server.set_outage(false);

    eventually("relisted store", WAIT, || names(&store) == ["a/p2", "a/p3"]).await;
    assert_eq!(
        next_events(&mut events, 9, WAIT).await,
        [
            "Init",
            "InitApply a/p1@1",
            "InitApply a/p2@2",
            "InitDone",
            "WatchError 410 Expired too old resource version: 2 (4)",
            "Init",
            "InitApply a/p2@2",
            "InitApply a/p3@3",
            "InitDone",
        ]
    );
    assert_eq!(server.list_count("pods"), 2);
}

#[tokio::test]
async fn outage_errors_the_watcher_and_it_recovers_with_the_changes_made_meanwhile() {
    let server = start();
    server.apply(pod("a", "p1", json!({}))).unwrap();
    // Without kube's own retry of 503s the watcher sees the outage.
    let client = client(&server, false).await;
    let (store, mut events) = reflect(Api::all(client), watcher::Config::default());
    store.wait_until_ready().await.unwrap();
    eventually("the watch", WAIT, || server.open_watches() == 1).await;

    server.set_outage(true);
    eventually("the cut stream", WAIT, || server.open_watches() == 0).await;
    let seen = next_events(&mut events, 4, WAIT).await;
    assert_eq!(
        seen,
        [
            "Init",
            "InitApply a/p1@1",
            "InitDone",
            "WatchStartFailed 503 ServiceUnavailable"
        ]
    );
    server.apply(pod("a", "p2", json!({}))).unwrap();
    server.set_outage(false);

    eventually("recovered store", WAIT, || {
        names(&store) == ["a/p1", "a/p2"]
    })
    .await;
    assert_eq!(next_events(&mut events, 1, WAIT).await, ["Apply a/p2@2"]);
    // Resumed from its resourceVersion: no relist was needed.
    assert_eq!(server.list_count("pods"), 1);
    let last_watch = server
        .requests()
        .into_iter()
        .rfind(|r| r.is_watch())
        .unwrap();
    assert_eq!(last_watch.param("resourceVersion").as_deref(), Some("1"));
}

#[tokio::test]
async fn with_kube_default_retry_an_outage_is_only_slow() {
    let server = start();
    server.apply(pod("a", "p1", json!({}))).unwrap();
    let client = client(&server, true).await;
    let (store, mut events) = reflect(Api::all(client), watcher::Config::default());
    store.wait_until_ready().await.unwrap();
    eventually("the watch", WAIT, || server.open_watches() == 1).await;

    server.set_outage(true);
    server.apply(pod("a", "p2", json!({}))).unwrap();
    // The client retries the 503s by itself; wait for two of them.
    eventually("retried watches", WAIT, || server.watch_count("pods") >= 3).await;
    server.set_outage(false);

    eventually("recovered store", WAIT, || {
        names(&store) == ["a/p1", "a/p2"]
    })
    .await;
    assert_eq!(
        next_events(&mut events, 4, WAIT).await,
        ["Init", "InitApply a/p1@1", "InitDone", "Apply a/p2@2"]
    );
    assert_eq!(server.list_count("pods"), 1);
}

#[tokio::test]
async fn bookmarks_move_the_watchers_resource_version() {
    let server = start();
    server.set_bookmark_interval(Duration::from_millis(100));
    let client = client(&server, true).await;
    // A Service watcher while only Pods change: without bookmarks it would
    // resume from the list's resourceVersion (0).
    let (services, writer) = reflector::store::<Service>();
    let stream = reflector::reflector(
        writer,
        watcher(Api::all(client), watcher::Config::default()).default_backoff(),
    );
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while futures::StreamExt::next(&mut stream).await.is_some() {}
    });
    services.wait_until_ready().await.unwrap();
    eventually("the watch", WAIT, || server.open_watches() == 1).await;

    for name in ["p1", "p2", "p3"] {
        server.apply(pod("a", name, json!({}))).unwrap();
    }
    // Three bookmark intervals: the watcher has had at least two at rv 3.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.close_watches();
    eventually("the second watch", WAIT, || {
        server.watch_count("services") == 2
    })
    .await;

    let watches: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.is_watch())
        .collect();
    assert_eq!(watches[0].param("resourceVersion").as_deref(), Some("0"));
    assert_eq!(watches[1].param("resourceVersion").as_deref(), Some("3"));
    assert_eq!(server.list_count("services"), 1);
}

#[tokio::test]
async fn streaming_list_uses_initial_events_and_no_list() {
    let server = start();
    for name in ["p1", "p2"] {
        server.apply(pod("a", name, json!({}))).unwrap();
    }
    let client = client(&server, true).await;
    let (store, mut events) = reflect(
        Api::all(client),
        watcher::Config::default().streaming_lists(),
    );
    store.wait_until_ready().await.unwrap();
    assert_eq!(names(&store), ["a/p1", "a/p2"]);
    server.apply(pod("a", "p3", json!({}))).unwrap();
    assert_eq!(
        next_events(&mut events, 5, WAIT).await,
        [
            "Init",
            "InitApply a/p1@1",
            "InitApply a/p2@2",
            "InitDone",
            "Apply a/p3@3"
        ]
    );
    assert_eq!(server.list_count("pods"), 0);
    let watch = server
        .requests()
        .into_iter()
        .find(|r| r.is_watch())
        .unwrap();
    assert_eq!(watch.param("sendInitialEvents").as_deref(), Some("true"));
}
