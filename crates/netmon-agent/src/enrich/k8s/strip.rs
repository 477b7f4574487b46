//! Turns API objects into their cached form as they arrive, keeping only
//! what naming a flow needs. Objects without what makes them useful (a pod
//! with no name, a slice with no Service) are not kept: they could never
//! name a flow.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::cached::{
    CachedEndpointSlice, CachedNode, CachedOwner, CachedPod, CachedService, Interner, ObjectKey,
    Owner, PortProtocol,
};

/// The label an EndpointSlice names its Service with.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
const TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// What to keep of each object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripOptions {
    /// Pod labels to keep.
    pub pod_labels: Vec<String>,
    /// Node label naming the zone.
    pub zone_label: String,
}

pub fn object_key(meta: &ObjectMeta, strings: &mut Interner) -> Option<ObjectKey> {
    Some(ObjectKey {
        namespace: strings.intern(meta.namespace.as_deref().unwrap_or("")),
        name: Arc::from(meta.name.as_deref()?),
    })
}

/// The controlling owner; Kubernetes marks at most one reference `controller`.
fn controller(meta: &ObjectMeta, strings: &mut Interner) -> Option<Owner> {
    let references: &[OwnerReference] = meta.owner_references.as_deref().unwrap_or_default();
    let reference = references.iter().find(|r| r.controller == Some(true))?;
    Some(Owner {
        kind: strings.intern(&reference.kind),
        name: Arc::from(reference.name.as_str()),
    })
}

fn parse_ips<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = Vec::new();
    for ip in texts.into_iter().filter_map(|t| t.parse().ok()) {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    ips
}

pub fn pod(pod: &Pod, options: &StripOptions, strings: &mut Interner) -> Option<CachedPod> {
    let meta = &pod.metadata;
    let key = object_key(meta, strings)?;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    // `podIPs` lists every family; old API servers only set `podIP`.
    let ip_texts = status
        .and_then(|s| s.pod_ips.as_ref())
        .map(|ips| ips.iter().map(|p| p.ip.as_str()).collect::<Vec<_>>())
        .filter(|ips| !ips.is_empty())
        .or_else(|| status.and_then(|s| s.pod_ip.as_deref()).map(|ip| vec![ip]))
        .unwrap_or_default();
    let labels: &BTreeMap<String, String> = match &meta.labels {
        Some(labels) => labels,
        None => &BTreeMap::new(),
    };
    let mut kept: Vec<(Arc<str>, Arc<str>)> = options
        .pod_labels
        .iter()
        .filter_map(|name| {
            let value = labels.get(name)?;
            Some((strings.intern(name), strings.intern(value)))
        })
        .collect();
    kept.sort();
    Some(CachedPod {
        key,
        node: spec
            .and_then(|s| s.node_name.as_deref())
            .map(|n| strings.intern(n)),
        ips: parse_ips(ip_texts),
        host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
        terminated: matches!(
            status.and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        ),
        created: meta
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.as_second())
            .unwrap_or(0),
        owner: controller(meta, strings),
        template_hash: labels.get(TEMPLATE_HASH_LABEL).map(|h| h.as_str().into()),
        labels: kept,
        uid: meta.uid.as_deref().and_then(super::cached::parse_uid),
        containers: container_ids(status, strings),
    })
}

/// Every container's runtime id → name, init and ephemeral ones included.
fn container_ids(
    status: Option<&k8s_openapi::api::core::v1::PodStatus>,
    strings: &mut Interner,
) -> Box<[super::cached::ContainerId]> {
    let Some(status) = status else {
        return Box::default();
    };
    [
        &status.container_statuses,
        &status.init_container_statuses,
        &status.ephemeral_container_statuses,
    ]
    .into_iter()
    .flatten()
    .flatten()
    .filter_map(|container| {
        let id = container.container_id.as_deref()?;
        // `containerd://<id>`, `cri-o://<id>`, `docker://<id>`.
        let id = id.split_once("://").map_or(id, |(_, id)| id);
        Some((
            super::cached::parse_container_id(id)?,
            strings.intern(&container.name),
        ))
    })
    .collect()
}

pub fn service(service: &Service, strings: &mut Interner) -> Option<CachedService> {
    let key = object_key(&service.metadata, strings)?;
    let spec = service.spec.as_ref()?;
    // `clusterIPs` lists every family; "None" marks a headless Service,
    // which has no address of its own and does not parse.
    let ip_texts: Vec<&str> = match &spec.cluster_ips {
        Some(ips) if !ips.is_empty() => ips.iter().map(String::as_str).collect(),
        _ => spec.cluster_ip.as_deref().into_iter().collect(),
    };
    let ports = spec
        .ports
        .iter()
        .flatten()
        .filter_map(|p| Some((PortProtocol::parse(p.protocol.as_deref())?, port(p.port)?)))
        .collect();
    Some(CachedService {
        key,
        cluster_ips: parse_ips(ip_texts),
        ports,
    })
}

fn port(number: i32) -> Option<u16> {
    u16::try_from(number).ok().filter(|p| *p != 0)
}

pub fn endpoint_slice(
    slice: &EndpointSlice,
    strings: &mut Interner,
) -> Option<CachedEndpointSlice> {
    let meta = &slice.metadata;
    let service = meta.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    let key = object_key(meta, strings)?;
    let addresses = parse_ips(
        slice
            .endpoints
            .iter()
            .flatten()
            .flat_map(|e| e.addresses.iter().map(String::as_str)),
    );
    let ports = slice
        .ports
        .iter()
        .flatten()
        .filter_map(|p| Some((PortProtocol::parse(p.protocol.as_deref())?, port(p.port?)?)))
        .collect();
    Some(CachedEndpointSlice {
        key,
        service: Arc::from(service.as_str()),
        addresses,
        ports,
    })
}

pub fn node(node: &Node, options: &StripOptions, strings: &mut Interner) -> Option<CachedNode> {
    let meta = &node.metadata;
    let name = strings.intern(meta.name.as_deref()?);
    // Internal and external IPs both identify the node; host names do not parse.
    let addresses = parse_ips(
        node.status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .map(|a| a.address.as_str()),
    );
    let zone = meta
        .labels
        .as_ref()
        .and_then(|labels| labels.get(&options.zone_label))
        .map(|zone| strings.intern(zone));
    Some(CachedNode {
        name,
        addresses,
        zone,
    })
}

pub fn replica_set(set: &ReplicaSet, strings: &mut Interner) -> Option<CachedOwner> {
    owned(&set.metadata, strings)
}

pub fn job(job: &Job, strings: &mut Interner) -> Option<CachedOwner> {
    owned(&job.metadata, strings)
}

fn owned(meta: &ObjectMeta, strings: &mut Interner) -> Option<CachedOwner> {
    Some(CachedOwner {
        key: object_key(meta, strings)?,
        owner: controller(meta, strings),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options() -> StripOptions {
        StripOptions {
            pod_labels: vec!["app".into(), "version".into()],
            zone_label: "topology.kubernetes.io/zone".into(),
        }
    }

    #[test]
    fn a_pod_keeps_its_names_addresses_owner_and_selected_labels_only() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-7d9-abcde", "namespace": "shop", "uid": "u1",
                "creationTimestamp": "2026-01-01T00:00:10Z",
                "labels": {"app": "web", "pod-template-hash": "7d9", "team": "x"},
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Other", "name": "o", "uid": "u0"},
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9", "uid": "u2", "controller": true}],
                "annotations": {"big": "x".repeat(1000)}},
            "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.5",
                "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}]}
        }))
        .unwrap();
        let mut strings = Interner::default();
        let cached = super::pod(&pod, &options(), &mut strings).unwrap();
        assert_eq!(&*cached.key.namespace, "shop");
        assert_eq!(&*cached.key.name, "web-7d9-abcde");
        assert_eq!(cached.node.as_deref(), Some("node-a"));
        assert_eq!(
            cached.ips,
            vec![
                "10.0.0.5".parse::<IpAddr>().unwrap(),
                "fd00::5".parse().unwrap()
            ]
        );
        assert!(!cached.host_network);
        assert!(!cached.terminated);
        assert_eq!(cached.created, 1_767_225_610);
        let owner = cached.owner.unwrap();
        assert_eq!((&*owner.kind, &*owner.name), ("ReplicaSet", "web-7d9"));
        assert_eq!(cached.template_hash.as_deref(), Some("7d9"));
        assert_eq!(cached.labels, vec![(Arc::from("app"), Arc::from("web"))]);
    }

    #[test]
    fn an_old_style_pod_ip_and_a_terminal_phase_are_understood() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "job-x", "namespace": "batch"},
            "spec": {"hostNetwork": true, "containers": []},
            "status": {"phase": "Succeeded", "podIP": "192.168.1.1"}
        }))
        .unwrap();
        let cached = super::pod(&pod, &options(), &mut Interner::default()).unwrap();
        assert_eq!(cached.ips, vec!["192.168.1.1".parse::<IpAddr>().unwrap()]);
        assert!(cached.host_network);
        assert!(cached.terminated);
        assert_eq!(cached.owner, None);
    }

    #[test]
    fn a_pod_without_a_name_is_not_kept() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {}})).unwrap();
        assert_eq!(super::pod(&pod, &options(), &mut Interner::default()), None);
    }

    #[test]
    fn a_service_keeps_both_families_and_its_ports_and_headless_has_no_address() {
        let service: Service = serde_json::from_value(json!({
            "metadata": {"name": "api", "namespace": "pay"},
            "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10", "fd00:96::a"],
                "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}, {"port": 9, "protocol": "QUIC"}]}
        }))
        .unwrap();
        let cached = super::service(&service, &mut Interner::default()).unwrap();
        assert_eq!(cached.cluster_ips.len(), 2);
        assert_eq!(
            cached.ports,
            vec![(PortProtocol::Tcp, 80), (PortProtocol::Udp, 53)]
        );
        let headless: Service = serde_json::from_value(json!({
            "metadata": {"name": "db", "namespace": "pay"},
            "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}
        }))
        .unwrap();
        let cached = super::service(&headless, &mut Interner::default()).unwrap();
        assert!(cached.cluster_ips.is_empty());
    }

    #[test]
    fn a_slice_names_its_service_and_a_slice_without_one_is_dropped() {
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "api-x1", "namespace": "pay",
                "labels": {"kubernetes.io/service-name": "api"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.7"]}, {"addresses": ["10.0.0.8", "10.0.0.7"]}],
            "ports": [{"port": 8080, "protocol": "TCP"}, {"protocol": "TCP"}]
        }))
        .unwrap();
        let cached = super::endpoint_slice(&slice, &mut Interner::default()).unwrap();
        assert_eq!(&*cached.service, "api");
        assert_eq!(cached.addresses.len(), 2);
        assert_eq!(cached.ports, vec![(PortProtocol::Tcp, 8080)]);
        let orphan: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "x", "namespace": "pay"}, "addressType": "IPv4", "endpoints": []
        }))
        .unwrap();
        assert_eq!(
            super::endpoint_slice(&orphan, &mut Interner::default()),
            None
        );
    }

    #[test]
    fn a_node_keeps_its_ip_addresses_and_zone() {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "node-a", "labels": {"topology.kubernetes.io/zone": "z1"}},
            "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.2"},
                {"type": "Hostname", "address": "node-a"}]}
        }))
        .unwrap();
        let cached = super::node(&node, &options(), &mut Interner::default()).unwrap();
        assert_eq!(&*cached.name, "node-a");
        assert_eq!(
            cached.addresses,
            vec!["192.168.0.2".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(cached.zone.as_deref(), Some("z1"));
    }

    #[test]
    fn interned_strings_are_shared_and_collected_when_unused() {
        let mut strings = Interner::default();
        let a = strings.intern("shop");
        let b = strings.intern("shop");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(strings.len(), 1);
        drop((a, b));
        strings.collect_garbage();
        assert!(strings.is_empty());
    }
}
