//! The Kubernetes resources enrichment watches: the one list that the
//! watchers, the RBAC manifests (`deploy/kubernetes/rbac.yaml`, the Helm
//! chart) and their test agree on.

/// One watched collection, as RBAC names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchedResource {
    /// API group; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// Plural resource name, as in RBAC rules and URLs.
    pub resource: &'static str,
    pub kind: &'static str,
}

/// Everything the agent reads, cluster-wide: pods and nodes name flow ends,
/// services and endpoint slices name what was connected to, and replica sets
/// and jobs lead from a pod to its Deployment or CronJob. StatefulSets and
/// DaemonSets need no watch: a pod's owner reference already names them.
pub const WATCHED: [WatchedResource; 6] = [
    WatchedResource {
        group: "",
        version: "v1",
        resource: "pods",
        kind: "Pod",
    },
    WatchedResource {
        group: "",
        version: "v1",
        resource: "services",
        kind: "Service",
    },
    WatchedResource {
        group: "",
        version: "v1",
        resource: "nodes",
        kind: "Node",
    },
    WatchedResource {
        group: "discovery.k8s.io",
        version: "v1",
        resource: "endpointslices",
        kind: "EndpointSlice",
    },
    WatchedResource {
        group: "apps",
        version: "v1",
        resource: "replicasets",
        kind: "ReplicaSet",
    },
    WatchedResource {
        group: "batch",
        version: "v1",
        resource: "jobs",
        kind: "Job",
    },
];

/// The verbs a watcher uses: an initial (paged) list, then watches. The
/// agent never reads single objects, so it is not granted `get`.
pub const VERBS: [&str; 2] = ["list", "watch"];
