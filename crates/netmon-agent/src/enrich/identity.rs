//! What enrichment says about one end of a flow. Plain data shared by the
//! API, the metrics and (later) the exporters; it does not depend on where
//! the names came from.

use std::sync::Arc;

/// The workload that owns a pod: the top of its controller chain
/// (`Deployment`, `StatefulSet`, `DaemonSet`, `CronJob`, `Job`, ...), or the
/// pod itself when nothing controls it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Workload {
    pub kind: Arc<str>,
    pub name: Arc<str>,
}

/// A Service a flow end belongs to: the address was its cluster IP, or one
/// of its endpoints on that port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceName {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
}

/// Everything known about one end of a flow. The default is "nothing":
/// an address outside the cluster, or enrichment off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointIdentity {
    pub pod: Option<Arc<str>>,
    /// The pod's namespace, or the Service's for a cluster IP.
    pub namespace: Option<Arc<str>>,
    pub workload: Option<Workload>,
    pub service: Option<ServiceName>,
    /// The node the pod runs on, or whose address this is.
    pub node: Option<Arc<str>>,
    /// The node's zone label.
    pub zone: Option<Arc<str>>,
    /// The address is a node's own: the host itself or one of its
    /// `hostNetwork` pods, which cannot be told apart by address.
    pub host_network: bool,
    /// The pod's labels selected by `kubernetes.pod_labels`, sorted by key.
    pub labels: Vec<(Arc<str>, Arc<str>)>,
}

impl EndpointIdentity {
    /// Whether enrichment found anything at all; an unknown end is looked up
    /// again later (the watch may not have delivered its pod yet).
    pub fn is_known(&self) -> bool {
        self.pod.is_some() || self.node.is_some() || self.service.is_some()
    }
}

/// Both ends of a flow: `src` the initiator, `dst` the responder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowIdentity {
    pub src: Arc<EndpointIdentity>,
    pub dst: Arc<EndpointIdentity>,
}

impl FlowIdentity {
    pub fn is_complete(&self) -> bool {
        self.src.is_known() && self.dst.is_known()
    }
}
