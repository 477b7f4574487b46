//! Memory per cached pod, measured with a counting allocator: 10,000 pods
//! as an API server sends them are stripped into the enrichment index, and
//! the bytes the index holds afterwards are divided by the pod count. The
//! same pods kept whole (what a plain kube-rs reflector store would hold)
//! are measured alongside for comparison.
//!
//! One test in this binary: the allocator counts the whole process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use k8s_openapi::api::core::v1::Pod;
use netmon_agent::enrich::k8s::{strip, Cached, K8sIndex, Kind, StripOptions};
use serde_json::json;

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const PODS: usize = 10_000;
/// Budget per cached pod. The measured figure is printed and recorded in
/// docs/kubernetes.md; the budget leaves room for hash-map growth steps.
const MAX_BYTES_PER_POD: isize = 1_024;

/// A pod as a real cluster returns it: Deployment-owned, two containers,
/// the usual labels and annotations, status with conditions.
fn realistic_pod(i: usize) -> Pod {
    let namespace = format!("team-{}", i % 50);
    let deployment = format!("service-{}", i % 400);
    serde_json::from_value(json!({
        "metadata": {
            "name": format!("{deployment}-7d9f8c6b5-{i:05}"),
            "namespace": namespace,
            "uid": format!("9b0c6f2e-0000-4000-8000-{i:012}"),
            "resourceVersion": format!("{}", 100_000 + i),
            "creationTimestamp": "2026-11-01T10:00:00Z",
            "labels": {
                "app": deployment,
                "app.kubernetes.io/name": deployment,
                "pod-template-hash": "7d9f8c6b5",
                "team": namespace,
                "version": "v1.2.3"
            },
            "annotations": {
                "kubectl.kubernetes.io/restartedAt": "2026-11-01T09:59:00Z",
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "8080"
            },
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": format!("{deployment}-7d9f8c6b5"),
                "uid": "1f1f1f1f-0000-4000-8000-000000000000",
                "controller": true, "blockOwnerDeletion": true
            }]
        },
        "spec": {
            "nodeName": format!("node-{}", i % 100),
            "serviceAccountName": "default",
            "containers": [
                {"name": "app", "image": format!("registry.example/{deployment}:v1.2.3"),
                 "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                 "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "PORT", "value": "8080"}],
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
                {"name": "sidecar", "image": "registry.example/proxy:1.0",
                 "args": ["--upstream", "127.0.0.1:8080"]}
            ]
        },
        "status": {
            "phase": "Running",
            "podIP": format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
            "podIPs": [{"ip": format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256)}],
            "hostIP": format!("192.168.0.{}", i % 100),
            "startTime": "2026-11-01T10:00:01Z",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-01T10:00:05Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-01T10:00:00Z"}
            ],
            "containerStatuses": [
                {"name": "app", "ready": true, "restartCount": 0, "image": "x", "imageID": "y",
                 "containerID": format!("containerd://{i:064}")}
            ]
        }
    }))
    .expect("a valid pod")
}

fn live() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

#[test]
fn a_cached_pod_costs_under_a_kilobyte_and_far_less_than_the_api_object() {
    let options = StripOptions {
        pod_labels: vec!["app.kubernetes.io/name".into(), "app".into()],
        zone_label: "topology.kubernetes.io/zone".into(),
    };

    let before_index = live();
    let mut index = K8sIndex::new();
    for i in 0..PODS {
        // The full object lives only for the strip, as in the watch.
        let pod = realistic_pod(i);
        let cached = strip::pod(&pod, &options, index.strings()).expect("kept");
        index.upsert(Cached::Pod(cached));
    }
    let index_bytes = live() - before_index;
    assert_eq!(index.len(Kind::Pod), PODS);
    let per_pod = index_bytes / PODS as isize;

    let before_full = live();
    let full: Vec<Pod> = (0..PODS).map(realistic_pod).collect();
    let full_bytes = live() - before_full;
    let per_full_pod = full_bytes / PODS as isize;
    drop(full);

    println!(
        "{PODS} pods: index {index_bytes} B ({per_pod} B/pod); whole API objects {full_bytes} B ({per_full_pod} B/pod); ratio {:.1}x",
        full_bytes as f64 / index_bytes as f64
    );
    assert!(
        per_pod <= MAX_BYTES_PER_POD,
        "{per_pod} B per cached pod is over the {MAX_BYTES_PER_POD} B budget"
    );
    // Stripping must be what keeps memory bounded: at least 5x smaller.
    assert!(
        per_full_pod >= 5 * per_pod,
        "stripping saves too little: {per_pod} B vs {per_full_pod} B whole"
    );
    // Every pod is still found by its address after all that.
    let last = 10_000 - 1;
    let ip = format!("10.{}.{}.{}", last / 65536, (last / 256) % 256, last % 256);
    let end = index.endpoint(ip.parse().unwrap(), None, 0);
    assert_eq!(end.pod.as_deref(), Some("service-399-7d9f8c6b5-09999"));
    assert_eq!(end.workload.unwrap().name.as_ref(), "service-399");
}
