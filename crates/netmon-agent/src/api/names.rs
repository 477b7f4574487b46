//! The Kubernetes names of a flow's ends as the API shows them: flat
//! `src_*`/`dst_*` fields, `null` (or `false`, `{}`) when not known.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::enrich::{EndpointIdentity, FlowIdentity};

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct FlowNames {
    pub src_pod: Option<Arc<str>>,
    pub src_namespace: Option<Arc<str>>,
    pub src_workload: Option<Arc<str>>,
    pub src_workload_kind: Option<Arc<str>>,
    pub src_service: Option<Arc<str>>,
    pub src_node: Option<Arc<str>>,
    pub src_zone: Option<Arc<str>>,
    pub src_host_network: bool,
    pub src_labels: BTreeMap<Arc<str>, Arc<str>>,
    pub dst_pod: Option<Arc<str>>,
    pub dst_namespace: Option<Arc<str>>,
    pub dst_workload: Option<Arc<str>>,
    pub dst_workload_kind: Option<Arc<str>>,
    pub dst_service: Option<Arc<str>>,
    pub dst_node: Option<Arc<str>>,
    pub dst_zone: Option<Arc<str>>,
    pub dst_host_network: bool,
    pub dst_labels: BTreeMap<Arc<str>, Arc<str>>,
}

/// One end's fields, before they are given their side's prefix.
struct EndNames {
    pod: Option<Arc<str>>,
    namespace: Option<Arc<str>>,
    workload: Option<Arc<str>>,
    workload_kind: Option<Arc<str>>,
    service: Option<Arc<str>>,
    node: Option<Arc<str>>,
    zone: Option<Arc<str>>,
    host_network: bool,
    labels: BTreeMap<Arc<str>, Arc<str>>,
}

impl EndNames {
    fn of(end: &EndpointIdentity) -> Self {
        EndNames {
            pod: end.pod.clone(),
            namespace: end.namespace.clone(),
            workload: end.workload.as_ref().map(|w| w.name.clone()),
            workload_kind: end.workload.as_ref().map(|w| w.kind.clone()),
            service: end.service.as_ref().map(|s| s.name.clone()),
            node: end.node.clone(),
            zone: end.zone.clone(),
            host_network: end.host_network,
            labels: end.labels.iter().cloned().collect(),
        }
    }
}

impl FlowNames {
    pub fn of(identity: &FlowIdentity) -> Self {
        let src = EndNames::of(&identity.src);
        let dst = EndNames::of(&identity.dst);
        FlowNames {
            src_pod: src.pod,
            src_namespace: src.namespace,
            src_workload: src.workload,
            src_workload_kind: src.workload_kind,
            src_service: src.service,
            src_node: src.node,
            src_zone: src.zone,
            src_host_network: src.host_network,
            src_labels: src.labels,
            dst_pod: dst.pod,
            dst_namespace: dst.namespace,
            dst_workload: dst.workload,
            dst_workload_kind: dst.workload_kind,
            dst_service: dst.service,
            dst_node: dst.node,
            dst_zone: dst.zone,
            dst_host_network: dst.host_network,
            dst_labels: dst.labels,
        }
    }
}
