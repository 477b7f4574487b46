//! `kubernetes`: a cgroup id → the `namespace`, `pod` and `container` of
//! the container the cgroup belongs to. The kubelet names a pod's cgroup
//! after the pod's UID and the runtime names a container's after its id,
//! so the cgroup path says which pod and container it is; the names come
//! from the agent's pod index (kept by watches, never a request per key).
//! A cgroup outside any pod (host processes) gets three empty labels.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::DecodeEnv;

/// How long an answer is reused: a scrape decodes one cgroup id under many
/// keys (one per syscall, say), and the index lookup is a scan of its pods.
/// A pod that appears later is named at most this much later.
const MEMO_TTL: Duration = Duration::from_secs(5);

/// Recent answers by cgroup id.
pub type Memo = Mutex<HashMap<u64, (Instant, [String; 3])>>;

/// The pod UID and container id in a cgroup path, as far as it has them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PodCgroup {
    pub pod_uid: Option<String>,
    pub container_id: Option<String>,
}

/// Reads both drivers' spellings:
/// systemd `…/kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope`
/// and cgroupfs `…/kubepods/burstable/pod<uid>/<id>`; runtimes prefix the
/// id with `cri-containerd-`, `crio-`, `docker-` or nothing.
pub(crate) fn parse_path(path: &str) -> PodCgroup {
    let mut found = PodCgroup::default();
    for segment in path.split('/') {
        if let Some(uid) = pod_uid(segment) {
            found.pod_uid = Some(uid);
            found.container_id = None;
        } else if found.pod_uid.is_some() {
            found.container_id = container_id(segment).or(found.container_id);
        }
    }
    found
}

fn pod_uid(segment: &str) -> Option<String> {
    let segment = segment.strip_suffix(".slice").unwrap_or(segment);
    let at = segment.rfind("pod")?;
    // `pod` opens the segment (cgroupfs) or follows a dash (systemd).
    if at != 0 && !segment[..at].ends_with('-') {
        return None;
    }
    let uid = segment[at + 3..].replace('_', "-");
    let is_uid = uid.len() == 36 && uid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    is_uid.then_some(uid)
}

fn container_id(segment: &str) -> Option<String> {
    let segment = segment.strip_suffix(".scope").unwrap_or(segment);
    let id = segment.rsplit('-').next()?;
    (id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit())).then(|| id.to_string())
}

/// namespace, pod, container for the cgroup `id`.
pub(super) fn decode(id: u64, env: &DecodeEnv) -> [String; 3] {
    let now = Instant::now();
    let mut memo = env.pod_names.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((at, names)) = memo.get(&id) {
        if now.duration_since(*at) < MEMO_TTL {
            return names.clone();
        }
    }
    let names = match env.cgroups.lookup(id) {
        Some(path) => names(&parse_path(&path), env),
        None => Default::default(),
    };
    if memo.len() >= 65_536 {
        memo.retain(|_, (at, _)| now.duration_since(*at) < MEMO_TTL);
    }
    memo.insert(id, (now, names.clone()));
    names
}

pub(crate) fn names(cgroup: &PodCgroup, env: &DecodeEnv) -> [String; 3] {
    let (Some(uid), Some(pods)) = (&cgroup.pod_uid, &env.pods) else {
        return Default::default();
    };
    let index = pods.read().unwrap_or_else(|e| e.into_inner());
    let Some(pod) = index.pod_by_uid(uid) else {
        return Default::default();
    };
    let container = cgroup
        .container_id
        .as_deref()
        .and_then(|id| pod.container_name(id))
        .unwrap_or_default();
    [
        pod.key.namespace.to_string(),
        pod.key.name.to_string(),
        container.to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, RwLock};

    use super::*;
    use crate::enrich::k8s::cached::{CachedPod, ObjectKey};
    use crate::enrich::k8s::{Cached, K8sIndex};
    use crate::programs::decoders::tests::empty_env;

    const UID: &str = "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn pod_uid_and_container_id_are_read_from_both_drivers_paths() {
        let systemd_uid = UID.replace('-', "_");
        let cases = [
            (
                format!("/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{systemd_uid}.slice/cri-containerd-{ID}.scope"),
                Some(UID),
                Some(ID),
            ),
            (
                format!("/sys/fs/cgroup/kubepods.slice/kubepods-pod{systemd_uid}.slice/crio-{ID}.scope"),
                Some(UID),
                Some(ID),
            ),
            (
                format!("/sys/fs/cgroup/kubepods/besteffort/pod{UID}/{ID}"),
                Some(UID),
                Some(ID),
            ),
            (format!("/sys/fs/cgroup/kubepods/pod{UID}"), Some(UID), None),
            ("/sys/fs/cgroup/system.slice/ssh.service".to_string(), None, None),
            ("/sys/fs/cgroup/user.slice/podman-123.scope".to_string(), None, None),
        ];
        for (path, uid, id) in cases {
            let parsed = parse_path(&path);
            assert_eq!(parsed.pod_uid.as_deref(), uid, "{path}");
            assert_eq!(parsed.container_id.as_deref(), id, "{path}");
        }
    }

    #[test]
    fn a_pods_container_is_named_from_the_index_and_others_stay_empty() {
        let mut index = K8sIndex::new();
        index.upsert(Cached::Pod(CachedPod {
            key: ObjectKey {
                namespace: Arc::from("shop"),
                name: Arc::from("cart-7d9f"),
            },
            node: Some(Arc::from("node-a")),
            ips: Vec::new(),
            host_network: false,
            terminated: false,
            created: 0,
            owner: None,
            template_hash: None,
            labels: Vec::new(),
            uid: crate::enrich::k8s::cached::parse_uid(UID),
            containers: Box::new([(
                crate::enrich::k8s::cached::parse_container_id(ID).unwrap(),
                Arc::from("server"),
            )]),
        }));
        let mut env = empty_env();
        env.pods = Some(Arc::new(RwLock::new(index)));
        let cgroup = |uid: &str, id: Option<&str>| PodCgroup {
            pod_uid: Some(uid.to_string()),
            container_id: id.map(str::to_string),
        };
        let other_uid = "00000000-0000-0000-0000-000000000000";
        let cases = [
            (cgroup(UID, Some(ID)), ["shop", "cart-7d9f", "server"]),
            // The pause container's id is in no container status.
            (
                cgroup(UID, Some(&"f".repeat(64))),
                ["shop", "cart-7d9f", ""],
            ),
            (cgroup(UID, None), ["shop", "cart-7d9f", ""]),
            (cgroup(other_uid, Some(ID)), ["", "", ""]),
            (PodCgroup::default(), ["", "", ""]),
        ];
        for (cgroup, expected) in cases {
            assert_eq!(
                names(&cgroup, &env),
                expected.map(String::from),
                "{cgroup:?}"
            );
        }
    }
}
