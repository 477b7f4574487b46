//! End-to-end: the real agent, watching a fake Kubernetes API server that
//! speaks the real list/watch protocol, names the pods it counts.
//!
//! The pods are network namespaces with real addresses; the fake announces
//! them (and a Service whose cluster IP the node translates with an nft
//! DNAT rule, as kube-proxy would) and the tests assert that the flow API
//! and the metrics name the right pods, namespaces, workloads, services and
//! nodes, with byte counts that still match nftables exactly.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use netmon_kube_fake::FakeApiServer;
use serde_json::{json, Value};
use support::agent::{Agent, AgentConfig, FlowQuery, KubernetesSettings};
use support::in_netns::in_netns;
use support::netns::{IpVersion, Offloads, Pod, Topology};
use support::nft::{count_flow, FlowMatch};
use support::traffic::{tcp_exchange, tcp_exchange_via};
use support::{eventually, missing_prerequisites, FlowCounts, TempDir, TOPOLOGY_TOOLS};

const CLUSTER_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const SERVICE_PORT: u16 = 80;
const TARGET_PORT: u16 = 8080;
const REMOTE_NODE: &str = "node-remote";
const WATCHED: [&str; 6] = [
    "pods",
    "services",
    "nodes",
    "endpointslices",
    "replicasets",
    "jobs",
];

/// The topology, the fake API server inside the node namespace and the
/// agent watching it. Field order: agent first, so it stops before the
/// server and the namespaces go.
struct Cluster {
    agent: Agent,
    api: FakeApiServer,
    topology: Topology,
    node_name: String,
    _dir: TempDir,
}

fn node_name(topology: &Topology) -> String {
    // Unique per run and a valid node name.
    topology.node().name().to_lowercase().replace('_', "-")
}

fn node_object(name: &str, address: IpAddr, zone: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
        "status": {"addresses": [{"type": "InternalIP", "address": address.to_string()}]}
    })
}

/// A pod announced with its namespace's real addresses, owned by
/// `owner` (kind, name) when given.
fn pod_object(
    namespace: &str,
    name: &str,
    pod: &Pod,
    node: &str,
    owner: Option<(&str, &str)>,
    app: &str,
) -> Value {
    let mut object = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app},
            "creationTimestamp": "2026-11-22T00:00:00Z"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}]},
        "status": {"phase": "Running", "podIP": pod.ipv4.to_string(),
            "podIPs": [{"ip": pod.ipv4.to_string()}, {"ip": pod.ipv6.to_string()}]}
    });
    if let Some((kind, owner_name)) = owner {
        let api_version = if kind == "Job" { "batch/v1" } else { "apps/v1" };
        object["metadata"]["ownerReferences"] = json!([{
            "apiVersion": api_version, "kind": kind, "name": owner_name,
            "uid": format!("uid-{owner_name}"), "controller": true
        }]);
    }
    object
}

fn replica_set(namespace: &str, name: &str, deployment: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": namespace,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                "name": deployment, "uid": format!("uid-{deployment}"), "controller": true}]},
        "spec": {"selector": {}}
    })
}

impl Cluster {
    /// Pods `a` (checkout/frontend, this node), `b` (payments/api, this
    /// node, behind Service payments-api) and `c` (payments/batch, said to
    /// run on another node).
    fn start(prometheus_yaml: &str) -> Cluster {
        Self::start_with(prometheus_yaml, false)
    }

    /// With `outage`, the API server is down when the agent starts, and the
    /// agent is not waited for to sync.
    fn start_with(prometheus_yaml: &str, outage: bool) -> Cluster {
        let topology = Topology::build(&["a", "b", "c"], Offloads::Off);
        let node_name = node_name(&topology);
        let listener = in_netns(topology.node().name(), || TcpListener::bind("127.0.0.1:0"))
            .expect("bind the fake API server in the node namespace");
        let api = FakeApiServer::start(listener);
        let dir = TempDir::new("kube");
        let kubeconfig = dir.path().join("kubeconfig");
        api.write_kubeconfig(&kubeconfig).expect("write kubeconfig");

        let (a, b, c) = (topology.pod("a"), topology.pod("b"), topology.pod("c"));
        let this_node = IpAddr::V4(a.gateway_ipv4);
        for object in [
            node_object(&node_name, this_node, "zone-1"),
            node_object(
                REMOTE_NODE,
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                "zone-2",
            ),
            replica_set("checkout", "frontend-7d9", "frontend"),
            replica_set("payments", "api-5f6", "api"),
            pod_object(
                "checkout",
                "frontend-7d9-x1",
                a,
                &node_name,
                Some(("ReplicaSet", "frontend-7d9")),
                "frontend",
            ),
            pod_object(
                "payments",
                "api-5f6-y2",
                b,
                &node_name,
                Some(("ReplicaSet", "api-5f6")),
                "api",
            ),
            pod_object(
                "payments",
                "batch-0",
                c,
                REMOTE_NODE,
                Some(("StatefulSet", "batch")),
                "batch",
            ),
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "payments-api", "namespace": "payments"},
                "spec": {"clusterIP": CLUSTER_IP.to_string(), "clusterIPs": [CLUSTER_IP.to_string()],
                    "ports": [{"port": SERVICE_PORT, "protocol": "TCP", "targetPort": TARGET_PORT}]}
            }),
            json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "payments-api-abc", "namespace": "payments",
                    "labels": {"kubernetes.io/service-name": "payments-api"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": [b.ipv4.to_string()]}],
                "ports": [{"port": TARGET_PORT, "protocol": "TCP"}]
            }),
        ] {
            api.apply(object).expect("apply");
        }
        // kube-proxy's part: the cluster IP is translated on the node.
        let rule = format!(
            "table ip nmt_svc {{\n  chain pre {{\n    type nat hook prerouting priority dstnat;\n    \
             ip daddr {CLUSTER_IP} tcp dport {SERVICE_PORT} dnat to {}:{TARGET_PORT}\n  }}\n}}\n",
            b.ipv4
        );
        topology.node().exec_with_stdin("nft", &["-f", "-"], &rule);
        api.set_outage(outage);

        let agent = Agent::start(
            topology.node(),
            AgentConfig {
                kubernetes: Some(KubernetesSettings {
                    kubeconfig,
                    node_name: node_name.clone(),
                }),
                prometheus_yaml: prometheus_yaml.to_owned(),
                ..AgentConfig::default()
            },
        );
        let cluster = Cluster {
            agent,
            api,
            topology,
            node_name,
            _dir: dir,
        };
        if !outage {
            cluster.wait_until_synced();
        }
        cluster
    }

    fn wait_until_synced(&self) {
        self.wait_for_sync_status(1.0);
    }

    /// Waits until every watch reports `status` (1 synced, 0 not).
    fn wait_for_sync_status(&self, status: f64) {
        eventually(Duration::from_secs(30), "sync status", || {
            let metrics = self.agent.metrics();
            let states: Vec<(&str, Option<f64>)> = WATCHED
                .iter()
                .map(|r| {
                    (
                        *r,
                        metrics.value("netmon_k8s_sync_status", &[("resource", r)]),
                    )
                })
                .collect();
            if states.iter().all(|(_, s)| *s == Some(status)) {
                Ok(())
            } else {
                Err(format!("{states:?}"))
            }
        });
    }
}

fn assert_names(flow: &support::agent::Flow, expected: &[(&str, Option<&str>)]) {
    for (field, value) in expected {
        assert_eq!(flow.name(field), *value, "{field} of {flow:#?}");
    }
}

#[test]
fn flows_are_named_after_pods_workloads_services_and_nodes() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let cluster = Cluster::start("");
    let (a, b, c) = (
        cluster.topology.pod("a"),
        cluster.topology.pod("b"),
        cluster.topology.pod("c"),
    );
    let node = cluster.node_name.as_str();

    // a → b directly, on the Service's target port.
    let server = SocketAddr::new(b.ip(IpVersion::V4), TARGET_PORT);
    let truth = count_flow(
        &a.ns,
        &b.ns,
        "direct",
        FlowMatch::Tcp {
            client: a.ip(IpVersion::V4),
            server,
        },
    );
    let direct = tcp_exchange(a.ns_name(), b.ns_name(), server, 200_000, 50_000);
    let expected = truth.read_when_quiet().link_layer();
    let flow = cluster.agent.wait_for_flow_with(
        &FlowQuery::new()
            .ip(direct.client.ip())
            .port(direct.client.port()),
        "closed",
        expected,
    );
    assert_eq!(
        flow.direction, "egress",
        "the initiator is a pod of this node"
    );
    assert_names(
        &flow,
        &[
            ("src_pod", Some("frontend-7d9-x1")),
            ("src_namespace", Some("checkout")),
            ("src_workload", Some("frontend")),
            ("src_workload_kind", Some("Deployment")),
            ("src_node", Some(node)),
            ("src_zone", Some("zone-1")),
            ("src_service", None),
            ("dst_pod", Some("api-5f6-y2")),
            ("dst_namespace", Some("payments")),
            ("dst_workload", Some("api")),
            ("dst_service", Some("payments-api")),
            ("dst_node", Some(node)),
        ],
    );
    assert_eq!(flow.other["src_labels"], json!({"app": "frontend"}));

    // a → the Service's cluster IP, translated to b by the node.
    let cluster_ip = SocketAddr::new(IpAddr::V4(CLUSTER_IP), SERVICE_PORT);
    let request = count_flow(
        &a.ns,
        &b.ns,
        "viasvc",
        FlowMatch::Tcp {
            client: a.ip(IpVersion::V4),
            server,
        },
    );
    // a sees the replies come from the cluster IP (the node translates them back).
    let replies = count_flow(
        &a.ns,
        &b.ns,
        "viarep",
        FlowMatch::Tcp {
            client: a.ip(IpVersion::V4),
            server: cluster_ip,
        },
    );
    let via = tcp_exchange_via(
        a.ns_name(),
        b.ns_name(),
        server,
        cluster_ip,
        120_000,
        30_000,
    );
    // The node's conntrack joins the request (counted before DNAT) and the
    // replies (counted as they left b, before the node translated them
    // back) into one flow, keyed as the client addressed it.
    let sent = request.read_when_quiet().link_layer();
    let received = replies.read_when_quiet().link_layer();
    let flow = cluster.agent.wait_for_flow_with(
        &FlowQuery::new()
            .ip(IpAddr::V4(CLUSTER_IP))
            .port(via.client.port()),
        "closed",
        FlowCounts {
            tx_bytes: sent.tx_bytes,
            tx_packets: sent.tx_packets,
            rx_bytes: received.rx_bytes,
            rx_packets: received.rx_packets,
        },
    );
    assert_eq!(
        (flow.src_ip, flow.dst_ip, flow.dst_port),
        (a.ip(IpVersion::V4), IpAddr::V4(CLUSTER_IP), SERVICE_PORT)
    );
    assert_eq!(
        (
            flow.other["dst_translated_ip"].clone(),
            flow.other["dst_translated_port"].clone()
        ),
        (json!(b.ip(IpVersion::V4).to_string()), json!(TARGET_PORT)),
        "the backend conntrack chose"
    );
    // Named after the pod that answered, with the Service it was reached by.
    assert_names(
        &flow,
        &[
            ("src_pod", Some("frontend-7d9-x1")),
            ("dst_pod", Some("api-5f6-y2")),
            ("dst_workload", Some("api")),
            ("dst_service", Some("payments-api")),
            ("dst_namespace", Some("payments")),
        ],
    );
    // No second half: the backend's address finds the same flow.
    let by_backend = cluster.agent.flows(
        &FlowQuery::new()
            .ip(b.ip(IpVersion::V4))
            .port(via.client.port()),
    );
    assert_eq!(
        by_backend.iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![flow.id]
    );

    // c (said to run elsewhere) → b: b is the local end.
    let from_c = count_flow(
        &c.ns,
        &b.ns,
        "fromc",
        FlowMatch::Tcp {
            client: c.ip(IpVersion::V6),
            server: SocketAddr::new(b.ip(IpVersion::V6), 9000),
        },
    );
    let ends = tcp_exchange(
        c.ns_name(),
        b.ns_name(),
        SocketAddr::new(b.ip(IpVersion::V6), 9000),
        10_000,
        10_000,
    );
    let flow = cluster.agent.wait_for_flow_with(
        &FlowQuery::new()
            .ip(ends.client.ip())
            .port(ends.client.port()),
        "closed",
        from_c.read_when_quiet().link_layer(),
    );
    assert_eq!(
        flow.direction, "ingress",
        "only the responder runs on this node"
    );
    assert_names(
        &flow,
        &[
            ("src_pod", Some("batch-0")),
            ("src_workload", Some("batch")),
            ("src_workload_kind", Some("StatefulSet")),
            ("src_node", Some(REMOTE_NODE)),
            ("src_zone", Some("zone-2")),
            ("dst_pod", Some("api-5f6-y2")),
            ("dst_service", None),
        ],
    );

    // The filters select by name; both of a's connections to the Service.
    let to_service = cluster.agent.flows(
        &FlowQuery::new()
            .name("src_namespace", "checkout")
            .name("dst_service", "payments-api")
            .port(SERVICE_PORT),
    );
    assert_eq!(to_service.len(), 1, "{to_service:#?}");
    let by_pod = cluster
        .agent
        .flows(&FlowQuery::new().name("pod", "batch-0"));
    assert_eq!(by_pod.len(), 1, "{by_pod:#?}");

    // The metrics carry namespace and workload of both ends, exactly.
    let metrics = cluster.agent.metrics();
    let labels = [
        ("source_namespace", "payments"),
        ("source_workload", "batch"),
        ("destination_namespace", "payments"),
        ("destination_workload", "api"),
    ];
    let bytes = from_c.read().link_layer();
    assert_eq!(
        metrics.value("netmon_bytes_total", &labels),
        Some((bytes.tx_bytes + bytes.rx_bytes) as f64)
    );
    assert_eq!(
        metrics.value(
            "netmon_flows_total",
            &[labels.as_slice(), &[("status", "closed")]].concat()
        ),
        Some(1.0)
    );
}

impl Cluster {
    /// Waits until the agent caches exactly `count` pods.
    fn wait_for_cached_pods(&self, count: u64) {
        eventually(Duration::from_secs(15), "cached pods", || {
            let cached = self
                .agent
                .metrics()
                .value_or_zero("netmon_k8s_cached_objects", &[("resource", "pods")]);
            if cached == count {
                Ok(())
            } else {
                Err(format!("{cached} cached, want {count}"))
            }
        });
    }
}

#[test]
fn a_new_pod_on_a_deleted_pods_address_gets_its_own_name_and_old_series_expire() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let cluster = Cluster::start(
        "    source_context: [namespace, workload, pod]\n    \
             destination_context: [namespace, workload, pod]\n    series_expiry: 3s\n",
    );
    let (a, b) = (cluster.topology.pod("a"), cluster.topology.pod("b"));
    let node = cluster.node_name.clone();

    let first_server = SocketAddr::new(b.ip(IpVersion::V4), 7000);
    let first_truth = count_flow(
        &a.ns,
        &b.ns,
        "first",
        FlowMatch::Tcp {
            client: a.ip(IpVersion::V4),
            server: first_server,
        },
    );
    let first = tcp_exchange(a.ns_name(), b.ns_name(), first_server, 30_000, 30_000);
    let first_counts = first_truth.read_when_quiet().link_layer();
    let first_query = FlowQuery::new()
        .ip(first.client.ip())
        .port(first.client.port());
    let flow = cluster
        .agent
        .wait_for_flow_with(&first_query, "closed", first_counts);
    assert_eq!(flow.name("src_pod"), Some("frontend-7d9-x1"));
    let old_series = [
        ("source_pod", "frontend-7d9-x1"),
        ("destination_pod", "api-5f6-y2"),
    ];
    assert_eq!(
        cluster
            .agent
            .metrics()
            .value("netmon_bytes_total", &old_series),
        Some((first_counts.tx_bytes + first_counts.rx_bytes) as f64)
    );

    // The pod goes; a pod of another workload starts on the same address.
    cluster
        .api
        .delete("v1", "Pod", Some("checkout"), "frontend-7d9-x1")
        .expect("delete");
    cluster.wait_for_cached_pods(2);
    cluster
        .api
        .apply(pod_object(
            "checkout",
            "reports-0",
            a,
            &node,
            Some(("StatefulSet", "reports")),
            "reports",
        ))
        .expect("apply");
    cluster.wait_for_cached_pods(3);

    // A connection of the new pod, kept open so its series stays live.
    let server = support::traffic::TcpServer::listen(
        b.ns_name(),
        SocketAddr::new(b.ip(IpVersion::V4), 7001),
    );
    let mut open = server.accept_connection_from(a.ns_name());
    open.exchange(4_000);
    let client = open.client_address();
    let new_query = FlowQuery::new().ip(client.ip()).port(client.port());
    let flow = eventually(
        Duration::from_secs(10),
        "the new pod's flow",
        || match cluster.agent.flows(&new_query).pop() {
            Some(flow) if flow.tx_packets > 0 => Ok(flow),
            other => Err(format!("{other:?}")),
        },
    );
    assert_eq!(flow.name("src_pod"), Some("reports-0"));
    assert_eq!(flow.name("src_workload"), Some("reports"));
    assert_eq!(flow.name("src_workload_kind"), Some("StatefulSet"));
    // The old connection keeps the name it was counted under.
    let old = cluster.agent.flows(&first_query);
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].name("src_pod"), Some("frontend-7d9-x1"));

    // 3 s after its last flow ended, the deleted pod's series is gone; the
    // live connection's series stays.
    eventually(
        Duration::from_secs(15),
        "the deleted pod's series expires",
        || match cluster
            .agent
            .metrics()
            .value("netmon_bytes_total", &old_series)
        {
            None => Ok(()),
            Some(v) => Err(format!("still {v}")),
        },
    );
    assert!(cluster
        .agent
        .metrics()
        .value("netmon_bytes_total", &[("source_pod", "reports-0")])
        .is_some());
    open.close();
}

#[test]
fn counting_goes_on_through_an_api_outage_and_names_resume_after_it() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let cluster = Cluster::start("");
    let (a, b, c) = (
        cluster.topology.pod("a"),
        cluster.topology.pod("b"),
        cluster.topology.pod("c"),
    );

    cluster.api.set_outage(true);
    cluster.wait_for_sync_status(0.0);
    let ready = cluster.agent.get_metrics_listener("/readyz");
    assert_eq!(
        ready.status, 200,
        "counting goes on, so the agent stays ready"
    );
    assert!(
        ready.body.contains("kubernetes: not synced"),
        "/readyz says why names may be missing: {}",
        ready.body
    );

    // Counted exactly, and named from the last known state.
    let server = SocketAddr::new(b.ip(IpVersion::V4), 7100);
    let truth = count_flow(
        &a.ns,
        &b.ns,
        "outage",
        FlowMatch::Tcp {
            client: a.ip(IpVersion::V4),
            server,
        },
    );
    let during = tcp_exchange(a.ns_name(), b.ns_name(), server, 100_000, 100_000);
    let flow = cluster.agent.wait_for_flow_with(
        &FlowQuery::new()
            .ip(during.client.ip())
            .port(during.client.port()),
        "closed",
        truth.read_when_quiet().link_layer(),
    );
    assert_eq!(flow.name("src_pod"), Some("frontend-7d9-x1"));
    assert_eq!(flow.name("dst_pod"), Some("api-5f6-y2"));

    // Changes made while the agent cannot see them: c's pod is replaced.
    cluster
        .api
        .delete("v1", "Pod", Some("payments"), "batch-0")
        .expect("delete");
    cluster
        .api
        .apply(pod_object(
            "payments",
            "batch-1",
            c,
            REMOTE_NODE,
            Some(("StatefulSet", "batch")),
            "batch",
        ))
        .expect("apply");

    cluster.api.set_outage(false);
    cluster.wait_for_sync_status(1.0);
    let ready = cluster.agent.get_metrics_listener("/readyz");
    assert!(ready.body.contains("kubernetes: synced"), "{}", ready.body);
    let metrics = cluster.agent.metrics();
    for resource in WATCHED {
        let errors =
            metrics.value_or_zero("netmon_k8s_watch_errors_total", &[("resource", resource)]);
        assert!(
            errors >= 1,
            "{resource}: the outage is counted as watch errors"
        );
    }

    let server = SocketAddr::new(b.ip(IpVersion::V4), 7101);
    let truth = count_flow(
        &c.ns,
        &b.ns,
        "after",
        FlowMatch::Tcp {
            client: c.ip(IpVersion::V4),
            server,
        },
    );
    let after = tcp_exchange(c.ns_name(), b.ns_name(), server, 5_000, 5_000);
    let flow = cluster.agent.wait_for_flow_with(
        &FlowQuery::new()
            .ip(after.client.ip())
            .port(after.client.port()),
        "closed",
        truth.read_when_quiet().link_layer(),
    );
    assert_eq!(
        flow.name("src_pod"),
        Some("batch-1"),
        "the relist brought the change"
    );
}

#[test]
fn an_api_server_down_at_start_leaves_flows_counted_and_names_them_once_it_is_back() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let cluster = Cluster::start_with("", true);
    let (a, b) = (cluster.topology.pod("a"), cluster.topology.pod("b"));
    // Ready (Agent::start waited for it) although nothing is synced.
    cluster.wait_for_sync_status(0.0);
    let ready = cluster.agent.get_metrics_listener("/readyz");
    assert_eq!(ready.status, 200);
    assert!(
        ready.body.contains("kubernetes: not synced"),
        "{}",
        ready.body
    );

    let server = SocketAddr::new(b.ip(IpVersion::V4), 7200);
    let truth = count_flow(
        &a.ns,
        &b.ns,
        "early",
        FlowMatch::Tcp {
            client: a.ip(IpVersion::V4),
            server,
        },
    );
    let early = tcp_exchange(a.ns_name(), b.ns_name(), server, 40_000, 40_000);
    let query = FlowQuery::new()
        .ip(early.client.ip())
        .port(early.client.port());
    let flow =
        cluster
            .agent
            .wait_for_flow_with(&query, "closed", truth.read_when_quiet().link_layer());
    assert_eq!(flow.name("src_pod"), None, "nothing is known yet");
    assert_eq!(
        flow.direction, "forwarded",
        "no pod is known to be local yet"
    );

    cluster.api.set_outage(false);
    cluster.wait_for_sync_status(1.0);
    // The same flow, named now that its pods are known.
    let flow = cluster.agent.flows(&query).pop().expect("the early flow");
    assert_eq!(flow.name("src_pod"), Some("frontend-7d9-x1"));
    assert_eq!(flow.name("dst_pod"), Some("api-5f6-y2"));
    assert_eq!(flow.direction, "egress");
}

#[test]
fn without_an_api_server_enrichment_is_off_with_one_log_line_and_counting_works() {
    if missing_prerequisites(TOPOLOGY_TOOLS) {
        return;
    }
    let topology = Topology::build(&["a", "b"], Offloads::Off);
    let agent = Agent::start(
        topology.node(),
        AgentConfig {
            kubernetes_auto: true,
            ..AgentConfig::default()
        },
    );
    let (a, b) = (topology.pod("a"), topology.pod("b"));
    let server = SocketAddr::new(b.ip(IpVersion::V6), 7300);
    let truth = count_flow(
        &a.ns,
        &b.ns,
        "plain",
        FlowMatch::Tcp {
            client: a.ip(IpVersion::V6),
            server,
        },
    );
    let ends = tcp_exchange(a.ns_name(), b.ns_name(), server, 20_000, 20_000);
    let flow = agent.wait_for_flow_with(
        &FlowQuery::new()
            .ip(ends.client.ip())
            .port(ends.client.port()),
        "closed",
        truth.read_when_quiet().link_layer(),
    );
    assert_eq!(flow.name("src_pod"), None);
    assert_eq!(flow.other["src_labels"], json!({}));

    let log = agent.log();
    let off_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Kubernetes enrichment is off"))
        .collect();
    assert_eq!(off_lines.len(), 1, "one clear line: {log}");
    assert!(
        off_lines[0].contains("no Kubernetes API server is configured"),
        "{}",
        off_lines[0]
    );
    let metrics = agent.metrics();
    assert!(
        metrics
            .samples
            .iter()
            .all(|s| !s.name.starts_with("netmon_k8s_")
                && !s.labels.contains_key("source_namespace")),
        "no Kubernetes series or labels without Kubernetes"
    );
    agent.stop_and_expect_clean_exit();
}
