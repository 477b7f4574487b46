//! The in-memory index that names addresses: written by the watches (one
//! writer per resource, under a lock), read for every flow.
//!
//! Address reuse is the trap here. Pod addresses are recycled, and the
//! watch events of the old pod's deletion and the new pod's start may come
//! in either order, so an address maps to every pod claiming it and a
//! lookup picks the one that can be holding it now: a running pod over a
//! finished one, then the newest. Removing a pod removes only its own
//! claims, never the address, so a late deletion cannot unname the new pod.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::cached::{
    CachedEndpointSlice, CachedNode, CachedOwner, CachedPod, CachedService, Interner, ObjectKey,
    Owner, PortProtocol,
};
use crate::enrich::identity::{EndpointIdentity, ServiceName, Workload};

/// One cached object of any watched kind, as a watch delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    Pod(CachedPod),
    Service(CachedService),
    EndpointSlice(CachedEndpointSlice),
    Node(CachedNode),
    ReplicaSet(CachedOwner),
    Job(CachedOwner),
}

/// The watched kinds, one per watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Pod,
    Service,
    EndpointSlice,
    Node,
    ReplicaSet,
    Job,
}

impl Cached {
    pub fn kind(&self) -> Kind {
        match self {
            Cached::Pod(_) => Kind::Pod,
            Cached::Service(_) => Kind::Service,
            Cached::EndpointSlice(_) => Kind::EndpointSlice,
            Cached::Node(_) => Kind::Node,
            Cached::ReplicaSet(_) => Kind::ReplicaSet,
            Cached::Job(_) => Kind::Job,
        }
    }
}

/// Kind names that workloads are given, allocated once.
#[derive(Debug)]
struct KindNames {
    pod: Arc<str>,
    replica_set: Arc<str>,
    deployment: Arc<str>,
    job: Arc<str>,
}

#[derive(Debug)]
pub struct K8sIndex {
    strings: Interner,
    kinds: KindNames,
    pods: HashMap<ObjectKey, CachedPod>,
    /// Every pod claiming an address, in arrival order. hostNetwork pods
    /// claim none: their address is their node's.
    pods_by_ip: HashMap<IpAddr, Vec<ObjectKey>>,
    services: HashMap<ObjectKey, CachedService>,
    services_by_ip: HashMap<IpAddr, ObjectKey>,
    slices: HashMap<ObjectKey, CachedEndpointSlice>,
    /// Endpoint address and port → the slices listing it.
    endpoints: HashMap<(IpAddr, PortProtocol, u16), Vec<ObjectKey>>,
    nodes: HashMap<Arc<str>, CachedNode>,
    nodes_by_ip: HashMap<IpAddr, Arc<str>>,
    replica_sets: HashMap<ObjectKey, Option<Owner>>,
    jobs: HashMap<ObjectKey, Option<Owner>>,
}

impl Default for K8sIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl K8sIndex {
    pub fn new() -> Self {
        let mut strings = Interner::default();
        let kinds = KindNames {
            pod: strings.intern("Pod"),
            replica_set: strings.intern("ReplicaSet"),
            deployment: strings.intern("Deployment"),
            job: strings.intern("Job"),
        };
        K8sIndex {
            strings,
            kinds,
            pods: HashMap::new(),
            pods_by_ip: HashMap::new(),
            services: HashMap::new(),
            services_by_ip: HashMap::new(),
            slices: HashMap::new(),
            endpoints: HashMap::new(),
            nodes: HashMap::new(),
            nodes_by_ip: HashMap::new(),
            replica_sets: HashMap::new(),
            jobs: HashMap::new(),
        }
    }

    /// The shared strings; the watches strip objects with it.
    pub fn strings(&mut self) -> &mut Interner {
        &mut self.strings
    }

    /// Objects cached of `kind`.
    pub fn len(&self, kind: Kind) -> usize {
        match kind {
            Kind::Pod => self.pods.len(),
            Kind::Service => self.services.len(),
            Kind::EndpointSlice => self.slices.len(),
            Kind::Node => self.nodes.len(),
            Kind::ReplicaSet => self.replica_sets.len(),
            Kind::Job => self.jobs.len(),
        }
    }

    /// Adds or replaces an object (a watch's ADDED or MODIFIED).
    pub fn upsert(&mut self, object: Cached) {
        match object {
            Cached::Pod(pod) => self.upsert_pod(pod),
            Cached::Service(service) => self.upsert_service(service),
            Cached::EndpointSlice(slice) => self.upsert_slice(slice),
            Cached::Node(node) => self.upsert_node(node),
            Cached::ReplicaSet(set) => {
                self.replica_sets.insert(set.key, set.owner);
            }
            Cached::Job(job) => {
                self.jobs.insert(job.key, job.owner);
            }
        }
    }

    /// Removes an object (a watch's DELETED). Nodes are keyed by name alone.
    pub fn remove(&mut self, kind: Kind, key: &ObjectKey) {
        match kind {
            Kind::Pod => self.remove_pod(key),
            Kind::Service => self.remove_service(key),
            Kind::EndpointSlice => self.remove_slice(key),
            Kind::Node => self.remove_node(&key.name),
            Kind::ReplicaSet => {
                self.replica_sets.remove(key);
            }
            Kind::Job => {
                self.jobs.remove(key);
            }
        }
    }

    /// Replaces every object of `kind` with `objects` (a completed relist):
    /// objects deleted while no watch was running disappear here.
    pub fn replace_all(&mut self, kind: Kind, objects: Vec<Cached>) {
        match kind {
            Kind::Pod => {
                self.pods.clear();
                self.pods_by_ip.clear();
            }
            Kind::Service => {
                self.services.clear();
                self.services_by_ip.clear();
            }
            Kind::EndpointSlice => {
                self.slices.clear();
                self.endpoints.clear();
            }
            Kind::Node => {
                self.nodes.clear();
                self.nodes_by_ip.clear();
            }
            Kind::ReplicaSet => self.replica_sets.clear(),
            Kind::Job => self.jobs.clear(),
        }
        for object in objects.into_iter().filter(|o| o.kind() == kind) {
            self.upsert(object);
        }
        self.strings.collect_garbage();
    }

    fn upsert_pod(&mut self, pod: CachedPod) {
        self.remove_pod(&pod.key);
        if !pod.host_network {
            for ip in &pod.ips {
                self.pods_by_ip
                    .entry(*ip)
                    .or_default()
                    .push(pod.key.clone());
            }
        }
        self.pods.insert(pod.key.clone(), pod);
    }

    /// The pod with UID `uid`, if cached. A scan rather than a second map:
    /// a map by UID would cost every pod of a large cluster ~80 bytes, for
    /// lookups that only custom programs' decoders make, and those remember
    /// their answers (see `programs::decoders::kubernetes`).
    pub fn pod_by_uid(&self, uid: &str) -> Option<&CachedPod> {
        let uid = super::cached::parse_uid(uid)?;
        self.pods.values().find(|pod| pod.uid == Some(uid))
    }

    fn remove_pod(&mut self, key: &ObjectKey) {
        let Some(old) = self.pods.remove(key) else {
            return;
        };
        for ip in &old.ips {
            remove_claim(&mut self.pods_by_ip, ip, key);
        }
    }

    fn upsert_service(&mut self, service: CachedService) {
        self.remove_service(&service.key);
        for ip in &service.cluster_ips {
            self.services_by_ip.insert(*ip, service.key.clone());
        }
        self.services.insert(service.key.clone(), service);
    }

    fn remove_service(&mut self, key: &ObjectKey) {
        let Some(old) = self.services.remove(key) else {
            return;
        };
        for ip in &old.cluster_ips {
            // Only if no other Service took the address over since.
            if self.services_by_ip.get(ip) == Some(key) {
                self.services_by_ip.remove(ip);
            }
        }
    }

    fn upsert_slice(&mut self, slice: CachedEndpointSlice) {
        self.remove_slice(&slice.key);
        for ip in &slice.addresses {
            for (protocol, port) in &slice.ports {
                self.endpoints
                    .entry((*ip, *protocol, *port))
                    .or_default()
                    .push(slice.key.clone());
            }
        }
        self.slices.insert(slice.key.clone(), slice);
    }

    fn remove_slice(&mut self, key: &ObjectKey) {
        let Some(old) = self.slices.remove(key) else {
            return;
        };
        for ip in &old.addresses {
            for (protocol, port) in &old.ports {
                remove_claim(&mut self.endpoints, &(*ip, *protocol, *port), key);
            }
        }
    }

    fn upsert_node(&mut self, node: CachedNode) {
        self.remove_node(&node.name.clone());
        for ip in &node.addresses {
            self.nodes_by_ip.insert(*ip, node.name.clone());
        }
        self.nodes.insert(node.name.clone(), node);
    }

    fn remove_node(&mut self, name: &str) {
        let Some(old) = self.nodes.remove(name) else {
            return;
        };
        for ip in &old.addresses {
            if self.nodes_by_ip.get(ip).map(|n| &**n) == Some(name) {
                self.nodes_by_ip.remove(ip);
            }
        }
    }

    /// The pod that can be holding `ip` now, if any.
    fn pod_at(&self, ip: &IpAddr) -> Option<&CachedPod> {
        self.pods_by_ip
            .get(ip)?
            .iter()
            .filter_map(|key| self.pods.get(key))
            // Later claims win ties, so max_by_key's "last maximum" rule fits.
            .max_by_key(|pod| (!pod.terminated, pod.created))
    }

    /// The workload a pod belongs to: its controller, followed through a
    /// ReplicaSet to its Deployment and through a Job to its CronJob.
    pub fn workload(&self, pod: &CachedPod) -> Workload {
        let Some(owner) = &pod.owner else {
            return Workload {
                kind: self.kinds.pod.clone(),
                name: pod.key.name.clone(),
            };
        };
        let key = ObjectKey {
            namespace: pod.key.namespace.clone(),
            name: owner.name.clone(),
        };
        let parent = match &*owner.kind {
            "ReplicaSet" => match self.replica_sets.get(&key) {
                Some(parent) => parent.clone(),
                // Not listed yet: a Deployment names its ReplicaSets
                // `<deployment>-<pod-template-hash>`.
                None => pod.template_hash.as_deref().and_then(|hash| {
                    let deployment = owner.name.strip_suffix(hash)?.strip_suffix('-')?;
                    Some(Owner {
                        kind: self.kinds.deployment.clone(),
                        name: Arc::from(deployment),
                    })
                }),
            },
            "Job" => self.jobs.get(&key).cloned().flatten(),
            _ => None,
        };
        match parent {
            Some(parent) => Workload {
                kind: parent.kind,
                name: parent.name,
            },
            None => Workload {
                kind: match &*owner.kind {
                    "ReplicaSet" => self.kinds.replica_set.clone(),
                    "Job" => self.kinds.job.clone(),
                    _ => owner.kind.clone(),
                },
                name: owner.name.clone(),
            },
        }
    }

    /// The Service behind `ip:port`: a cluster IP serving that port, or an
    /// endpoint of a Service on that port.
    fn service_at(
        &self,
        ip: &IpAddr,
        protocol: Option<PortProtocol>,
        port: u16,
    ) -> Option<ServiceName> {
        if let Some(key) = self.services_by_ip.get(ip) {
            let service = self.services.get(key)?;
            let serves = protocol.is_none_or(|protocol| service.ports.contains(&(protocol, port)));
            return serves.then(|| ServiceName {
                namespace: key.namespace.clone(),
                name: key.name.clone(),
            });
        }
        let protocol = protocol?;
        let slice_key = self.endpoints.get(&(*ip, protocol, port))?.last()?;
        let slice = self.slices.get(slice_key)?;
        Some(ServiceName {
            namespace: slice_key.namespace.clone(),
            name: slice.service.clone(),
        })
    }

    /// Everything known about the flow end `ip:port`. `protocol` is `None`
    /// for protocols without ports (ICMP), which then match cluster IPs only.
    pub fn endpoint(
        &self,
        ip: IpAddr,
        protocol: Option<PortProtocol>,
        port: u16,
    ) -> EndpointIdentity {
        let ip = ip.to_canonical();
        let mut identity = EndpointIdentity {
            service: self.service_at(&ip, protocol, port),
            ..EndpointIdentity::default()
        };
        if let Some(pod) = self.pod_at(&ip) {
            identity.pod = Some(pod.key.name.clone());
            identity.namespace = Some(pod.key.namespace.clone());
            identity.workload = Some(self.workload(pod));
            identity.node = pod.node.clone();
            identity.labels = pod.labels.clone();
        } else if let Some(node) = self.nodes_by_ip.get(&ip) {
            identity.node = Some(node.clone());
            identity.host_network = true;
        } else if let Some(service) = &identity.service {
            identity.namespace = Some(service.namespace.clone());
        }
        identity.zone = identity
            .node
            .as_ref()
            .and_then(|name| self.nodes.get(name))
            .and_then(|node| node.zone.clone());
        identity
    }
}

/// Removes `owner`'s claim on `key`, and the entry once nobody claims it.
fn remove_claim<K: std::hash::Hash + Eq>(
    claims: &mut HashMap<K, Vec<ObjectKey>>,
    key: &K,
    owner: &ObjectKey,
) {
    if let Some(owners) = claims.get_mut(key) {
        owners.retain(|o| o != owner);
        if owners.is_empty() {
            claims.remove(key);
        }
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
