use std::net::IpAddr;
use std::sync::Arc;

use super::*;

fn key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        namespace: Arc::from(namespace),
        name: Arc::from(name),
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn pod(namespace: &str, name: &str, address: &str, created: i64) -> CachedPod {
    CachedPod {
        key: key(namespace, name),
        node: Some(Arc::from("node-a")),
        ips: vec![ip(address)],
        host_network: false,
        terminated: false,
        created,
        owner: None,
        template_hash: None,
        labels: Vec::new(),
        uid: None,
        containers: Box::default(),
    }
}

fn owned_by(mut pod: CachedPod, kind: &str, name: &str) -> CachedPod {
    pod.owner = Some(Owner {
        kind: Arc::from(kind),
        name: Arc::from(name),
    });
    pod
}

fn pod_name(index: &K8sIndex, address: &str) -> Option<String> {
    index
        .endpoint(ip(address), Some(PortProtocol::Tcp), 80)
        .pod
        .map(|p| p.to_string())
}

fn workload_of(index: &K8sIndex, address: &str) -> (String, String) {
    let workload = index
        .endpoint(ip(address), Some(PortProtocol::Tcp), 80)
        .workload
        .unwrap();
    (workload.kind.to_string(), workload.name.to_string())
}

#[test]
fn a_new_pod_reusing_an_address_wins_whether_the_old_deletion_comes_before_or_after() {
    // Deletion after the new pod's arrival: the late deletion must not
    // unname the new pod.
    let mut index = K8sIndex::new();
    index.upsert(Cached::Pod(pod("shop", "old", "10.0.0.5", 100)));
    index.upsert(Cached::Pod(pod("shop", "new", "10.0.0.5", 200)));
    assert_eq!(pod_name(&index, "10.0.0.5").as_deref(), Some("new"));
    index.remove(Kind::Pod, &key("shop", "old"));
    assert_eq!(pod_name(&index, "10.0.0.5").as_deref(), Some("new"));

    // Deletion first: the address is unknown in between, then the new pod.
    let mut index = K8sIndex::new();
    index.upsert(Cached::Pod(pod("shop", "old", "10.0.0.5", 100)));
    index.remove(Kind::Pod, &key("shop", "old"));
    assert_eq!(pod_name(&index, "10.0.0.5"), None);
    index.upsert(Cached::Pod(pod("shop", "new", "10.0.0.5", 200)));
    assert_eq!(pod_name(&index, "10.0.0.5").as_deref(), Some("new"));
}

#[test]
fn a_running_pod_wins_over_a_finished_one_that_still_lists_the_address() {
    let mut index = K8sIndex::new();
    let mut finished = pod("batch", "done", "10.0.0.9", 500);
    finished.terminated = true;
    index.upsert(Cached::Pod(pod("batch", "running", "10.0.0.9", 100)));
    index.upsert(Cached::Pod(finished));
    assert_eq!(pod_name(&index, "10.0.0.9").as_deref(), Some("running"));
}

#[test]
fn a_pod_that_changes_address_releases_the_old_one() {
    let mut index = K8sIndex::new();
    index.upsert(Cached::Pod(pod("shop", "web", "10.0.0.5", 100)));
    index.upsert(Cached::Pod(pod("shop", "web", "10.0.0.6", 100)));
    assert_eq!(pod_name(&index, "10.0.0.5"), None);
    assert_eq!(pod_name(&index, "10.0.0.6").as_deref(), Some("web"));
    assert_eq!(index.len(Kind::Pod), 1);
}

#[test]
fn host_network_pods_resolve_to_their_node_marked_host_network() {
    let mut index = K8sIndex::new();
    let mut host = pod("kube-system", "proxy", "192.168.0.2", 1);
    host.host_network = true;
    index.upsert(Cached::Pod(host));
    index.upsert(Cached::Node(CachedNode {
        name: Arc::from("node-a"),
        addresses: vec![ip("192.168.0.2")],
        zone: Some(Arc::from("z1")),
    }));
    let end = index.endpoint(ip("192.168.0.2"), Some(PortProtocol::Tcp), 10250);
    assert_eq!(end.pod, None);
    assert_eq!(end.node.as_deref(), Some("node-a"));
    assert_eq!(end.zone.as_deref(), Some("z1"));
    assert!(end.host_network);
    assert!(end.is_known());
}

#[test]
fn ipv4_mapped_addresses_are_looked_up_as_ipv4() {
    let mut index = K8sIndex::new();
    index.upsert(Cached::Pod(pod("shop", "web", "10.0.0.5", 1)));
    let mapped = IpAddr::V6(std::net::Ipv4Addr::new(10, 0, 0, 5).to_ipv6_mapped());
    let end = index.endpoint(mapped, Some(PortProtocol::Tcp), 80);
    assert_eq!(end.pod.as_deref(), Some("web"));
}

#[test]
fn workloads_follow_replica_sets_to_deployments_and_jobs_to_cron_jobs() {
    let mut index = K8sIndex::new();
    index.upsert(Cached::ReplicaSet(CachedOwner {
        key: key("shop", "web-7d9"),
        owner: Some(Owner {
            kind: Arc::from("Deployment"),
            name: Arc::from("web"),
        }),
    }));
    index.upsert(Cached::Job(CachedOwner {
        key: key("shop", "report-2900"),
        owner: Some(Owner {
            kind: Arc::from("CronJob"),
            name: Arc::from("report"),
        }),
    }));
    index.upsert(Cached::ReplicaSet(CachedOwner {
        key: key("shop", "bare-rs"),
        owner: None,
    }));
    index.upsert(Cached::Pod(owned_by(
        pod("shop", "web-7d9-x", "10.0.0.1", 1),
        "ReplicaSet",
        "web-7d9",
    )));
    index.upsert(Cached::Pod(owned_by(
        pod("shop", "report-2900-y", "10.0.0.2", 1),
        "Job",
        "report-2900",
    )));
    index.upsert(Cached::Pod(owned_by(
        pod("shop", "db-0", "10.0.0.3", 1),
        "StatefulSet",
        "db",
    )));
    index.upsert(Cached::Pod(pod("shop", "debug", "10.0.0.4", 1)));
    index.upsert(Cached::Pod(owned_by(
        pod("shop", "bare-rs-z", "10.0.0.5", 1),
        "ReplicaSet",
        "bare-rs",
    )));
    index.upsert(Cached::Pod(owned_by(
        pod("shop", "one-off-q", "10.0.0.6", 1),
        "Job",
        "one-off",
    )));
    let expect = |address: &str, kind: &str, name: &str| {
        assert_eq!(
            workload_of(&index, address),
            (kind.to_string(), name.to_string()),
            "{address}"
        );
    };
    expect("10.0.0.1", "Deployment", "web");
    expect("10.0.0.2", "CronJob", "report");
    expect("10.0.0.3", "StatefulSet", "db");
    expect("10.0.0.4", "Pod", "debug");
    expect("10.0.0.5", "ReplicaSet", "bare-rs");
    expect("10.0.0.6", "Job", "one-off");
}

#[test]
fn an_unlisted_replica_set_is_named_after_its_deployment_from_the_template_hash() {
    let mut index = K8sIndex::new();
    let mut web = owned_by(
        pod("shop", "web-7d9-x", "10.0.0.1", 1),
        "ReplicaSet",
        "web-7d9",
    );
    web.template_hash = Some("7d9".into());
    index.upsert(Cached::Pod(web));
    assert_eq!(
        workload_of(&index, "10.0.0.1"),
        ("Deployment".to_string(), "web".to_string())
    );
}

fn service(namespace: &str, name: &str, cluster_ip: &str, port: u16) -> CachedService {
    CachedService {
        key: key(namespace, name),
        cluster_ips: vec![ip(cluster_ip)],
        ports: vec![(PortProtocol::Tcp, port)],
    }
}

#[test]
fn a_cluster_ip_names_its_service_only_on_a_port_it_serves() {
    let mut index = K8sIndex::new();
    index.upsert(Cached::Service(service("pay", "api", "10.96.0.10", 80)));
    let end = index.endpoint(ip("10.96.0.10"), Some(PortProtocol::Tcp), 80);
    let service = end.service.clone().unwrap();
    assert_eq!((&*service.namespace, &*service.name), ("pay", "api"));
    assert_eq!(end.namespace.as_deref(), Some("pay"));
    assert_eq!(end.pod, None);
    assert!(index
        .endpoint(ip("10.96.0.10"), Some(PortProtocol::Tcp), 81)
        .service
        .is_none());
    assert!(index
        .endpoint(ip("10.96.0.10"), Some(PortProtocol::Udp), 80)
        .service
        .is_none());
    // ICMP to a cluster IP still names the Service.
    assert!(index.endpoint(ip("10.96.0.10"), None, 0).service.is_some());
    index.remove(Kind::Service, &key("pay", "api"));
    assert!(index
        .endpoint(ip("10.96.0.10"), Some(PortProtocol::Tcp), 80)
        .service
        .is_none());
}

fn slice(name: &str, service: &str, addresses: &[&str], port: u16) -> CachedEndpointSlice {
    CachedEndpointSlice {
        key: key("pay", name),
        service: Arc::from(service),
        addresses: addresses.iter().map(|a| ip(a)).collect(),
        ports: vec![(PortProtocol::Tcp, port)],
    }
}

#[test]
fn an_endpoint_address_and_port_name_the_service_and_the_pod_together() {
    let mut index = K8sIndex::new();
    index.upsert(Cached::Pod(pod("pay", "api-1", "10.0.0.7", 1)));
    index.upsert(Cached::EndpointSlice(slice(
        "api-a",
        "api",
        &["10.0.0.7"],
        8080,
    )));
    let end = index.endpoint(ip("10.0.0.7"), Some(PortProtocol::Tcp), 8080);
    assert_eq!(end.pod.as_deref(), Some("api-1"));
    assert_eq!(end.service.unwrap().name.as_ref(), "api");
    // Another port of the same pod is not the Service.
    assert!(index
        .endpoint(ip("10.0.0.7"), Some(PortProtocol::Tcp), 9090)
        .service
        .is_none());
    // Replacing the slice without the address removes the claim.
    index.upsert(Cached::EndpointSlice(slice(
        "api-a",
        "api",
        &["10.0.0.8"],
        8080,
    )));
    assert!(index
        .endpoint(ip("10.0.0.7"), Some(PortProtocol::Tcp), 8080)
        .service
        .is_none());
    assert!(index
        .endpoint(ip("10.0.0.8"), Some(PortProtocol::Tcp), 8080)
        .service
        .is_some());
}

#[test]
fn a_relist_drops_objects_deleted_while_no_watch_ran() {
    let mut index = K8sIndex::new();
    index.upsert(Cached::Pod(pod("shop", "gone", "10.0.0.1", 1)));
    index.upsert(Cached::Pod(pod("shop", "kept", "10.0.0.2", 1)));
    index.upsert(Cached::Service(service("pay", "api", "10.96.0.10", 80)));
    index.replace_all(
        Kind::Pod,
        vec![Cached::Pod(pod("shop", "kept", "10.0.0.2", 1))],
    );
    assert_eq!(pod_name(&index, "10.0.0.1"), None);
    assert_eq!(pod_name(&index, "10.0.0.2").as_deref(), Some("kept"));
    assert_eq!(index.len(Kind::Pod), 1);
    // Other kinds are untouched.
    assert_eq!(index.len(Kind::Service), 1);
}

#[test]
fn an_address_nobody_claims_is_unknown() {
    let index = K8sIndex::new();
    let end = index.endpoint(ip("8.8.8.8"), Some(PortProtocol::Udp), 53);
    assert_eq!(end, EndpointIdentity::default());
    assert!(!end.is_known());
}
