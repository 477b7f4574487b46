//! Naming a flow's two ends, once per flow. A flow keeps the names it was
//! first given (a pod's address may pass to a new pod while the old pod's
//! flows are still listed); an end not known yet is looked up again on each
//! use, since the watch may simply not have delivered its pod yet.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use super::identity::{EndpointIdentity, FlowIdentity};
use super::k8s::cached::PortProtocol;
use super::k8s::K8sIndex;
use crate::flow::{FlowRecord, Protocol};

pub struct Enricher {
    index: Option<Arc<RwLock<K8sIndex>>>,
    node_name: Option<Arc<str>>,
    /// Names given to each flow in the table, by flow id.
    given: Mutex<HashMap<u64, FlowIdentity>>,
    unknown: Arc<EndpointIdentity>,
}

impl Enricher {
    /// Enrichment off: every end is unknown.
    pub fn off() -> Self {
        Enricher {
            index: None,
            node_name: None,
            given: Mutex::new(HashMap::new()),
            unknown: Arc::default(),
        }
    }

    pub fn kubernetes(index: Arc<RwLock<K8sIndex>>, node_name: &str) -> Self {
        Enricher {
            index: Some(index),
            node_name: Some(Arc::from(node_name)),
            ..Enricher::off()
        }
    }

    pub fn is_on(&self) -> bool {
        self.index.is_some()
    }

    /// Locks the index and the per-flow names for a batch of records.
    pub fn resolver(&self) -> Resolver<'_> {
        Resolver {
            index: self
                .index
                .as_ref()
                .map(|index| index.read().unwrap_or_else(PoisonError::into_inner)),
            given: self.given.lock().unwrap_or_else(PoisonError::into_inner),
            unknown: &self.unknown,
            node_name: self.node_name.as_deref(),
        }
    }

    /// Forgets the names of flows that left the table.
    pub fn retain(&self, live: &HashSet<u64>) {
        self.given
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|id, _| live.contains(id));
    }

    /// Flows whose names are remembered.
    pub fn remembered(&self) -> usize {
        self.given
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Names flows while holding the locks once for a whole batch.
pub struct Resolver<'a> {
    index: Option<RwLockReadGuard<'a, K8sIndex>>,
    given: MutexGuard<'a, HashMap<u64, FlowIdentity>>,
    unknown: &'a Arc<EndpointIdentity>,
    node_name: Option<&'a str>,
}

impl Resolver<'_> {
    pub fn identify(&mut self, record: &FlowRecord) -> FlowIdentity {
        let Some(index) = &self.index else {
            return FlowIdentity {
                src: self.unknown.clone(),
                dst: self.unknown.clone(),
            };
        };
        if let Some(given) = self.given.get(&record.id) {
            if given.is_complete() {
                return given.clone();
            }
        }
        let protocol = port_protocol(record.key.protocol);
        let previous = self.given.get(&record.id);
        let name = |known: Option<&Arc<EndpointIdentity>>, ip, port| match known {
            Some(end) if end.is_known() => end.clone(),
            _ => {
                let end = index.endpoint(ip, protocol, port);
                if end.is_known() {
                    Arc::new(end)
                } else {
                    self.unknown.clone()
                }
            }
        };
        // A translated connection is named after the workloads behind it:
        // the backend DNAT chose, not the Service address the initiator
        // used (which still names the Service).
        let (initiator, responder) = record.real_ends();
        let mut dst = name(previous.map(|p| &p.dst), responder.ip, responder.port);
        let addressed = &record.key.responder;
        if responder != *addressed {
            let service_end = index.endpoint(addressed.ip, protocol, addressed.port);
            if !dst.is_known() {
                // A backend the index does not know: the Service still names it.
                if service_end.is_known() {
                    dst = Arc::new(service_end);
                }
            } else if service_end.service.is_some() && service_end.service != dst.service {
                Arc::make_mut(&mut dst).service = service_end.service;
            }
        }
        let identity = FlowIdentity {
            src: name(previous.map(|p| &p.src), initiator.ip, initiator.port),
            dst,
        };
        self.given.insert(record.id, identity.clone());
        identity
    }

    /// Whether `end` is on this node: a pod scheduled here, or this node's
    /// own address.
    pub fn is_local(&self, end: &EndpointIdentity) -> bool {
        self.node_name.is_some() && end.node.as_deref() == self.node_name
    }
}

/// Ports only mean something to Services for these protocols.
fn port_protocol(protocol: Protocol) -> Option<PortProtocol> {
    match protocol {
        Protocol::Tcp => Some(PortProtocol::Tcp),
        Protocol::Udp => Some(PortProtocol::Udp),
        Protocol::Sctp => Some(PortProtocol::Sctp),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::enrich::k8s::cached::{CachedPod, ObjectKey};
    use crate::enrich::k8s::{Cached, Kind};
    use crate::flow::{ConnectionKey, Endpoint};

    fn pod(name: &str, ip: &str, node: &str, created: i64) -> Cached {
        Cached::Pod(CachedPod {
            key: ObjectKey {
                namespace: Arc::from("shop"),
                name: Arc::from(name),
            },
            node: Some(Arc::from(node)),
            ips: vec![ip.parse().unwrap()],
            host_network: false,
            terminated: false,
            created,
            owner: None,
            template_hash: None,
            labels: Vec::new(),
            uid: None,
            containers: Box::default(),
        })
    }

    fn record(id: u64, src: &str, dst: &str) -> FlowRecord {
        let endpoint = |ip: &str, port| Endpoint {
            ip: ip.parse::<IpAddr>().unwrap(),
            port,
        };
        let mut record = FlowRecord::new(
            ConnectionKey {
                protocol: Protocol::Tcp,
                initiator: endpoint(src, 40000),
                responder: endpoint(dst, 80),
            },
            0,
            0,
            1,
            0,
        );
        record.id = id;
        record
    }

    #[test]
    fn a_flow_keeps_the_pod_it_was_named_after_when_a_new_pod_takes_the_address() {
        let index = Arc::new(RwLock::new(K8sIndex::new()));
        index
            .write()
            .unwrap()
            .upsert(pod("old", "10.0.0.1", "n1", 1));
        index
            .write()
            .unwrap()
            .upsert(pod("srv", "10.0.0.2", "n1", 1));
        let enricher = Enricher::kubernetes(index.clone(), "n1");
        let old_flow = record(1, "10.0.0.1", "10.0.0.2");
        let named = enricher.resolver().identify(&old_flow);
        assert_eq!(named.src.pod.as_deref(), Some("old"));

        index.write().unwrap().remove(
            Kind::Pod,
            &ObjectKey {
                namespace: Arc::from("shop"),
                name: Arc::from("old"),
            },
        );
        index
            .write()
            .unwrap()
            .upsert(pod("new", "10.0.0.1", "n2", 2));
        let mut resolver = enricher.resolver();
        assert_eq!(resolver.identify(&old_flow).src.pod.as_deref(), Some("old"));
        let new_flow = record(2, "10.0.0.1", "10.0.0.2");
        let named = resolver.identify(&new_flow);
        assert_eq!(named.src.pod.as_deref(), Some("new"));
        assert!(!resolver.is_local(&named.src));
        assert!(resolver.is_local(&named.dst));
    }

    #[test]
    fn an_end_unknown_at_first_is_named_once_its_pod_arrives() {
        let index = Arc::new(RwLock::new(K8sIndex::new()));
        let enricher = Enricher::kubernetes(index.clone(), "n1");
        let flow = record(7, "10.0.0.1", "10.0.0.2");
        assert!(!enricher.resolver().identify(&flow).src.is_known());
        index
            .write()
            .unwrap()
            .upsert(pod("late", "10.0.0.1", "n1", 1));
        assert_eq!(
            enricher.resolver().identify(&flow).src.pod.as_deref(),
            Some("late")
        );
        enricher.retain(&HashSet::new());
        assert_eq!(enricher.remembered(), 0);
    }

    #[test]
    fn a_translated_flow_is_named_after_its_backend_and_the_service_it_addressed() {
        use crate::enrich::k8s::cached::CachedService;
        use crate::flow::{DirectionalKey, NatBinding};
        let index = Arc::new(RwLock::new(K8sIndex::new()));
        index
            .write()
            .unwrap()
            .upsert(pod("client", "10.0.0.1", "n1", 1));
        index
            .write()
            .unwrap()
            .upsert(pod("backend", "10.0.0.2", "n1", 1));
        index
            .write()
            .unwrap()
            .upsert(Cached::Service(CachedService {
                key: ObjectKey {
                    namespace: Arc::from("shop"),
                    name: Arc::from("api"),
                },
                cluster_ips: vec!["10.96.0.10".parse().unwrap()],
                ports: vec![(PortProtocol::Tcp, 80)],
            }));
        let enricher = Enricher::kubernetes(index, "n1");
        let mut flow = record(1, "10.0.0.1", "10.96.0.10");
        let seen = |record: &FlowRecord| enricher.resolver().identify(record);
        assert_eq!(seen(&flow).dst.pod, None, "untranslated: the Service only");

        let backend = Endpoint {
            ip: "10.0.0.2".parse().unwrap(),
            port: 8080,
        };
        let original = DirectionalKey {
            src: flow.key.initiator,
            dst: flow.key.responder,
            protocol: Protocol::Tcp,
        };
        let reply = DirectionalKey {
            src: backend,
            dst: flow.key.initiator,
            protocol: Protocol::Tcp,
        };
        flow.id = 2;
        flow.set_nat(NatBinding::translated(original, reply));
        let named = seen(&flow);
        assert_eq!(named.src.pod.as_deref(), Some("client"));
        assert_eq!(named.dst.pod.as_deref(), Some("backend"));
        let service = named.dst.service.clone().unwrap();
        assert_eq!(&*service.name, "api", "the Service it addressed");
    }

    #[test]
    fn without_kubernetes_nothing_is_named_or_remembered() {
        let enricher = Enricher::off();
        let named = enricher
            .resolver()
            .identify(&record(1, "10.0.0.1", "10.0.0.2"));
        assert!(!named.src.is_known() && !named.dst.is_known());
        assert_eq!(enricher.remembered(), 0);
    }
}
