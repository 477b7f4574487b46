//! The compact form in which watched objects are kept. A full `Pod` from the
//! API server is several kilobytes; what enrichment needs of it is a few
//! names and addresses, so everything else is dropped on arrival (see
//! `strip.rs`) and repeated strings (namespaces, node names, label keys)
//! are shared through an [`Interner`].

use std::collections::HashSet;
use std::net::IpAddr;
use std::num::NonZeroU128;
use std::sync::Arc;

/// Namespace and name of a namespaced object (namespace empty for
/// cluster-scoped ones).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
}

/// The controller named by an object's owner references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub kind: Arc<str>,
    pub name: Arc<str>,
}

/// Transport protocol of a Service or endpoint port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortProtocol {
    Tcp,
    Udp,
    Sctp,
}

impl PortProtocol {
    /// Kubernetes spells them upper-case and defaults to TCP.
    pub fn parse(text: Option<&str>) -> Option<Self> {
        match text.unwrap_or("TCP") {
            "TCP" => Some(PortProtocol::Tcp),
            "UDP" => Some(PortProtocol::Udp),
            "SCTP" => Some(PortProtocol::Sctp),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPod {
    pub key: ObjectKey,
    pub node: Option<Arc<str>>,
    pub ips: Vec<IpAddr>,
    pub host_network: bool,
    /// Succeeded or Failed: its address may already belong to another pod.
    pub terminated: bool,
    /// Creation time in seconds since the epoch; among pods claiming one
    /// address, the newest wins.
    pub created: i64,
    pub owner: Option<Owner>,
    /// `pod-template-hash`, to name a Deployment before its ReplicaSet is known.
    pub template_hash: Option<Box<str>>,
    pub labels: Vec<(Arc<str>, Arc<str>)>,
    /// `metadata.uid` as a number: the kubelet names the pod's cgroup after
    /// it, which is how custom programs' cgroup ids are turned into pods.
    /// Kept as 16 bytes rather than its 36-character text: every pod has one.
    pub uid: Option<NonZeroU128>,
    /// Container runtime id (64 hex digits, kept as 32 bytes) → container
    /// name, from the container statuses; the runtime names the container's
    /// cgroup after the id.
    pub containers: Box<[ContainerId]>,
}

/// A container's runtime id and its name in the pod.
pub type ContainerId = ([u8; 32], Arc<str>);

impl CachedPod {
    /// The name of the container with runtime id `id` (64 hex digits).
    pub fn container_name(&self, id: &str) -> Option<&str> {
        let id = parse_container_id(id)?;
        self.containers
            .iter()
            .find(|(known, _)| *known == id)
            .map(|(_, name)| &**name)
    }
}

/// A UID's text (`6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b`) as a number.
pub fn parse_uid(text: &str) -> Option<NonZeroU128> {
    let hex: String = text.chars().filter(|&c| c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    NonZeroU128::new(u128::from_str_radix(&hex, 16).ok()?)
}

/// A container runtime id of 64 hex digits as 32 bytes.
pub fn parse_container_id(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut id = [0u8; 32];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(id)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedService {
    pub key: ObjectKey,
    pub cluster_ips: Vec<IpAddr>,
    pub ports: Vec<(PortProtocol, u16)>,
}

/// An EndpointSlice: which addresses and ports back which Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedEndpointSlice {
    pub key: ObjectKey,
    /// From the `kubernetes.io/service-name` label; slices without it are
    /// not kept.
    pub service: Arc<str>,
    pub addresses: Vec<IpAddr>,
    pub ports: Vec<(PortProtocol, u16)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedNode {
    pub name: Arc<str>,
    pub addresses: Vec<IpAddr>,
    pub zone: Option<Arc<str>>,
}

/// A ReplicaSet or Job: only its own controller matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedOwner {
    pub key: ObjectKey,
    pub owner: Option<Owner>,
}

/// Hands out one shared copy of each distinct string. Namespaces, node names
/// and label keys repeat across thousands of pods.
#[derive(Debug, Default)]
pub struct Interner {
    strings: HashSet<Arc<str>>,
}

impl Interner {
    pub fn intern(&mut self, text: &str) -> Arc<str> {
        if let Some(existing) = self.strings.get(text) {
            return existing.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.strings.insert(shared.clone());
        shared
    }

    /// Drops strings nothing else holds any more (deleted namespaces, nodes).
    pub fn collect_garbage(&mut self) {
        self.strings.retain(|s| Arc::strong_count(s) > 1);
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_and_container_ids_are_kept_as_numbers_and_bytes() {
        assert_eq!(
            parse_uid("6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b").map(NonZeroU128::get),
            Some(0x6f1c2a8e_3b4d_4e5f_8a9b_0c1d2e3f4a5b)
        );
        for bad in [
            "",
            "not-a-uid",
            "6f1c2a8e-3b4d-4e5f-8a9b",
            "00000000-0000-0000-0000-000000000000",
        ] {
            assert_eq!(parse_uid(bad), None, "{bad:?}");
        }
        let id = "0123456789abcdef".repeat(4);
        let bytes = parse_container_id(&id).unwrap();
        assert_eq!(bytes[..4], [0x01, 0x23, 0x45, 0x67]);
        assert_eq!(parse_container_id(&id[..63]), None);
        assert_eq!(parse_container_id(&"g".repeat(64)), None);
    }
}
