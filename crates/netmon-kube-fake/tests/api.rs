//! The Rust API from plain synchronous tests: apply/delete bookkeeping,
//! input errors, kubeconfig, and the server seen over a bare TCP socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use netmon_kube_fake::{Error, FakeApiServer};
use serde_json::{json, Value};

fn start() -> FakeApiServer {
    FakeApiServer::start(TcpListener::bind("127.0.0.1:0").unwrap())
}

/// One HTTP/1.1 GET; returns the status code and the JSON body.
fn get(address: SocketAddr, target: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: fake\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, serde_json::from_str(body).unwrap())
}

#[test]
fn apply_fills_metadata_and_bumps_one_global_version() {
    let server = start();
    assert_eq!(server.resource_version(), 0);
    let pod = server
        .apply(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"}}),
        )
        .unwrap();
    assert_eq!(pod["metadata"]["resourceVersion"], "1");
    assert_eq!(pod["metadata"]["uid"].as_str().map(str::len), Some(36));
    assert_eq!(
        pod["metadata"]["creationTimestamp"].as_str().map(str::len),
        Some(20)
    );
    let node = server
        .apply(
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "uid": "given"}}),
        )
        .unwrap();
    assert_eq!(node["metadata"]["resourceVersion"], "2");
    assert_eq!(node["metadata"]["uid"], "given");
    let updated = server
        .apply(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"}, "spec": {}}))
        .unwrap();
    assert_eq!(updated["metadata"]["resourceVersion"], "3");
    assert_eq!(updated["metadata"]["uid"], pod["metadata"]["uid"]);
    assert_eq!(
        server.get("v1", "Pod", Some("a"), "p"),
        Some(updated.clone())
    );

    let deleted = server.delete("v1", "Pod", Some("a"), "p").unwrap();
    assert_eq!(deleted["metadata"]["resourceVersion"], "4");
    assert_eq!(deleted["spec"], json!({}));
    assert_eq!(server.get("v1", "Pod", Some("a"), "p"), None);
    assert_eq!(server.resource_version(), 4);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let server = start();
    let cases = [
        (json!([1]), "NotAnObject"),
        (
            json!({"kind": "Pod", "metadata": {"name": "p"}}),
            "MissingField(\"apiVersion\")",
        ),
        (
            json!({"apiVersion": "v1", "metadata": {"name": "p"}}),
            "MissingField(\"kind\")",
        ),
        (
            json!({"apiVersion": "v1", "kind": "Pod"}),
            "MissingField(\"metadata.name\")",
        ),
        (
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": ""}}),
            "MissingField(\"metadata.name\")",
        ),
        (
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": []}),
            "WrongType",
        ),
        (
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": 3}}),
            "WrongType",
        ),
    ];
    for (object, expected) in cases {
        let error = server.apply(object.clone()).unwrap_err();
        assert!(
            format!("{error:?}").starts_with(expected),
            "{object}: {error:?}"
        );
    }
    assert_eq!(server.resource_version(), 0);
    assert!(matches!(
        server.delete("apps/v1", "ReplicaSet", Some("a"), "missing"),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn kubeconfig_names_the_server() {
    let server = start();
    let path = std::env::temp_dir().join(format!("netmon-kube-fake-{}.yaml", std::process::id()));
    server.write_kubeconfig(&path).unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(written, server.kubeconfig_yaml());
    assert!(written.contains(&format!("    server: http://{}\n", server.address())));
    assert_eq!(server.url(), format!("http://{}", server.address()));
}

#[test]
fn serves_plain_http_from_a_sync_test_and_stops_on_drop() {
    let server = start();
    let address = server.address();
    server
        .apply(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"}}),
        )
        .unwrap();
    let (code, list) = get(address, "/api/v1/namespaces/a/pods");
    assert_eq!(code, 200);
    assert_eq!(list["kind"], "PodList");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["metadata"]["resourceVersion"], "1");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

    server.set_outage(true);
    let (code, status) = get(address, "/api/v1/pods");
    assert_eq!(code, 503);
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "ServiceUnavailable");
    assert_eq!(status["code"], 503);
    server.set_outage(false);
    assert_eq!(get(address, "/api/v1/nodes/missing").0, 404);
    assert_eq!(get(address, "/api/v1/pods?limit=x").0, 400);
    assert_eq!(
        get(address, "/apis/apps/v1/replicasets?resourceVersion=99").0,
        504
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 5);
    assert_eq!(requests[4].query, "resourceVersion=99");

    drop(server);
    assert!(TcpStream::connect(address).is_err());
}
