//! The deployment files under `deploy/`: the kustomize manifests, the Helm
//! chart and the Grafana dashboard, checked against the agent's own code.
//!
//! - Every Kubernetes object parses into its k8s-openapi type, and reads back
//!   field for field, so a misspelt or misplaced field (which the API server
//!   would silently drop) fails here.
//! - The agent's configuration in the ConfigMap and in the chart's values
//!   loads and validates with the agent's loader.
//! - The ClusterRole grants exactly `WATCHED` x `VERBS` of
//!   `enrich::k8s::resources`, not more, not less.
//! - The DaemonSet runs unprivileged with exactly the chosen capabilities and
//!   probes the port its configuration listens on.
//! - Every dashboard expression names known metrics and is valid PromQL.
//!
//! `kubectl kustomize` and `promtool` are used when installed, skipped with a
//! printed reason otherwise, and required with `NMTEST_REQUIRE_TOOLS=1`.
//! There is no Helm binary where this is developed: the chart's templates are
//! rendered with `helm template` only when `helm` is on PATH (required with
//! `NMTEST_REQUIRE_HELM=1`); without it, the parts of the chart that are plain
//! YAML are checked directly.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PodSpec, Probe, ResourceRequirements, SecurityContext,
    Service, ServiceAccount, Toleration,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use netmon_agent::config::{Config, KubernetesMode};
use netmon_agent::enrich::k8s::resources::{VERBS, WATCHED};
use serde::de::DeserializeOwned;
use serde::{Deserialize as _, Serialize};
use serde_yaml::Value;

/// Every metric the agent exports: the tables of docs/metrics.md, which a
/// unit test of the exporter keeps equal to the agent's registry.
fn known_metrics() -> Vec<String> {
    read("docs/metrics.md")
        .lines()
        .filter_map(|line| line.strip_prefix("| `netmon_"))
        .filter_map(|rest| rest.split('`').next())
        .map(|name| format!("netmon_{name}"))
        .collect()
}

/// Histograms: Prometheus stores only their `_bucket`, `_sum` and `_count`
/// series, so an expression must name one of those.
/// Read from docs/metrics.md's type column, like `known_metrics`.
fn known_histograms() -> Vec<String> {
    read("docs/metrics.md")
        .lines()
        .filter(|line| line.contains("| histogram |"))
        .filter_map(|line| line.strip_prefix("| `netmon_"))
        .filter_map(|rest| rest.split('`').next())
        .map(|name| format!("netmon_{name}"))
        .collect()
}

/// What the dashboard must show: traffic, failures, latency, loss, agent
/// health and interfaces.
const DASHBOARD_MUST_USE: &[&str] = &[
    "netmon_bytes_total",
    "netmon_flows_total",
    "netmon_tcp_connect_latency_seconds_bucket",
    "netmon_kernel_flow_map_full_packets_total",
    "netmon_kernel_truncated_packets_total",
    "netmon_ebpf_events_dropped_total",
    "netmon_flow_table_evictions_total",
    "netmon_memory_usage_bytes",
    "netmon_cpu_usage_percentage",
    "netmon_k8s_sync_status",
    "netmon_attached_interfaces",
    "netmon_interface_bytes_total",
    "netmon_drops_total",
    "netmon_tcp_retransmits_total",
    "netmon_tcp_rtt_seconds_bucket",
    "up",
];

/// The capabilities the DaemonSet adds; deploy/kubernetes/daemonset.yaml says
/// why each is needed and why SYS_ADMIN is not.
const CAPABILITIES: [&str; 4] = ["BPF", "PERFMON", "NET_ADMIN", "SYS_RESOURCE"];

const IMAGE_REPOSITORY: &str = "ghcr.io/netmon/netmon";
const CONFIG_DIR: &str = "/etc/netmon";
const CONFIG_KEY: &str = "netmon.yaml";
const NAMESPACE: &str = "netmon";

/// The objects of an installation, as (kind, namespace, name).
fn expected_objects(with_namespace: bool) -> Vec<(String, Option<String>, String)> {
    let ns = || Some(NAMESPACE.to_owned());
    let mut objects = vec![
        ("ServiceAccount", ns(), "netmon"),
        ("ClusterRole", None, "netmon"),
        ("ClusterRoleBinding", None, "netmon"),
        ("ConfigMap", ns(), "netmon-config"),
        ("DaemonSet", ns(), "netmon"),
        ("Service", ns(), "netmon-metrics"),
    ];
    if with_namespace {
        objects.push(("Namespace", None, NAMESPACE));
    }
    let mut objects: Vec<_> = objects
        .into_iter()
        .map(|(kind, ns, name)| (kind.to_owned(), ns, name.to_owned()))
        .collect();
    objects.sort();
    objects
}

// ---------------------------------------------------------------------------
// Files and tools

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// `name` on PATH, or `None` after saying why the caller skips. With
/// `require_var=1` in the environment a missing tool fails the test instead.
fn tool(name: &str, require_var: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        if std::env::var(require_var).as_deref() == Ok("1") {
            panic!("{name} is required ({require_var}=1) but is not on PATH");
        }
        println!("skipped: {name} is not on PATH; set {require_var}=1 to fail instead");
    }
    found
}

fn run(program: &Path, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    assert!(
        output.status.success(),
        "{} {args:?} failed ({}):\n{}{}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("tool output is UTF-8")
}

/// A file under the system temp directory, removed when dropped, also when
/// the test fails.
struct TempFile(PathBuf);

impl TempFile {
    fn new(stem: &str, contents: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos();
        let path = std::env::temp_dir().join(format!("{stem}-{}-{nanos}.yml", std::process::id()));
        fs::write(&path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------------------
// Kubernetes objects

/// One object of a manifest, in its k8s-openapi type. Only these kinds
/// belong in netmon's installation; anything else fails the parse.
// A test holds a dozen of these; boxing the large ones buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Object {
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    ClusterRole(ClusterRole),
    ClusterRoleBinding(ClusterRoleBinding),
    ConfigMap(ConfigMap),
    DaemonSet(DaemonSet),
    Service(Service),
}

impl Object {
    fn kind(&self) -> &'static str {
        match self {
            Object::Namespace(_) => "Namespace",
            Object::ServiceAccount(_) => "ServiceAccount",
            Object::ClusterRole(_) => "ClusterRole",
            Object::ClusterRoleBinding(_) => "ClusterRoleBinding",
            Object::ConfigMap(_) => "ConfigMap",
            Object::DaemonSet(_) => "DaemonSet",
            Object::Service(_) => "Service",
        }
    }

    fn metadata(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        match self {
            Object::Namespace(o) => &o.metadata,
            Object::ServiceAccount(o) => &o.metadata,
            Object::ClusterRole(o) => &o.metadata,
            Object::ClusterRoleBinding(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::DaemonSet(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
        }
    }

    fn identity(&self) -> (String, Option<String>, String) {
        let meta = self.metadata();
        (
            self.kind().to_owned(),
            meta.namespace.clone(),
            meta.name.clone().unwrap_or_default(),
        )
    }
}

/// Parses `document` as the type its `kind` names. The typed object must
/// serialize back to the same document: k8s-openapi, like the API server,
/// ignores fields it does not know, and a dropped field is a silent bug
/// (think `readOnlyRootFileSystem`).
fn try_parse_object(document: Value, origin: &str) -> Result<Object, String> {
    let kind = document
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{origin}: a document without `kind`"))?
        .to_owned();
    let what = format!("{origin}: {kind}");
    Ok(match kind.as_str() {
        "Namespace" => Object::Namespace(typed(document, &what)?),
        "ServiceAccount" => Object::ServiceAccount(typed(document, &what)?),
        "ClusterRole" => Object::ClusterRole(typed(document, &what)?),
        "ClusterRoleBinding" => Object::ClusterRoleBinding(typed(document, &what)?),
        "ConfigMap" => Object::ConfigMap(typed(document, &what)?),
        "DaemonSet" => Object::DaemonSet(typed(document, &what)?),
        "Service" => Object::Service(typed(document, &what)?),
        other => {
            return Err(format!(
                "{origin}: unexpected kind {other:?} in netmon's manifests"
            ))
        }
    })
}

fn parse_object(document: Value, origin: &str) -> Object {
    try_parse_object(document, origin).unwrap_or_else(|error| panic!("{error}"))
}

fn typed<T: DeserializeOwned + Serialize>(document: Value, what: &str) -> Result<T, String> {
    let object: T = serde_yaml::from_value(document.clone())
        .map_err(|e| format!("{what} does not parse: {e}"))?;
    let original = serde_json::to_value(&document).expect("YAML document as JSON");
    let reread = serde_json::to_value(&object).expect("object as JSON");
    let mut differences = Vec::new();
    differ(&original, &reread, "", &mut differences);
    if differences.is_empty() {
        Ok(object)
    } else {
        Err(format!(
            "{what}: fields lost or changed when read as a Kubernetes object \
             (misspelt or misplaced?):\n  {}",
            differences.join("\n  ")
        ))
    }
}

/// Paths where `a` (the file) and `b` (what the typed object kept) differ.
fn differ(a: &serde_json::Value, b: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    use serde_json::Value as J;
    match (a, b) {
        (J::Object(a), J::Object(b)) => {
            for key in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
                let child = format!("{path}.{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => differ(x, y, &child, out),
                    // An explicit null is what leaving the field out means.
                    (Some(J::Null), None) => {}
                    (Some(x), None) => out.push(format!("{child}: {x} is not a field there")),
                    (None, Some(y)) => out.push(format!("{child}: {y} appeared")),
                    (None, None) => {}
                }
            }
        }
        (J::Array(x), J::Array(y)) if x.len() == y.len() => {
            for (index, (x, y)) in x.iter().zip(y).enumerate() {
                differ(x, y, &format!("{path}[{index}]"), out);
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{path}: {a} read back as {b}")),
    }
}

/// Every non-empty YAML document of `text`.
fn documents(text: &str, origin: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|document| {
            Value::deserialize(document).unwrap_or_else(|e| panic!("{origin}: invalid YAML: {e}"))
        })
        .filter(|document| !document.is_null())
        .collect()
}

fn parse_manifests(text: &str, origin: &str) -> Vec<Object> {
    documents(text, origin)
        .into_iter()
        .map(|document| parse_object(document, origin))
        .collect()
}

fn identities(objects: &[Object]) -> Vec<(String, Option<String>, String)> {
    let mut ids: Vec<_> = objects.iter().map(Object::identity).collect();
    ids.sort();
    ids
}

/// The objects of deploy/kubernetes, file by file, as `kubectl apply -f` reads them.
fn kustomize_files() -> Vec<Object> {
    let dir = repo_root().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .filter(|path| path.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|path| {
            let text = fs::read_to_string(path).expect("manifest readable");
            parse_manifests(&text, &path.display().to_string())
        })
        .collect()
}

fn one<'a, T>(
    objects: &'a [Object],
    pick: impl Fn(&'a Object) -> Option<&'a T>,
    kind: &str,
) -> &'a T {
    let found: Vec<&T> = objects.iter().filter_map(pick).collect();
    assert_eq!(found.len(), 1, "expected exactly one {kind}");
    found[0]
}

fn daemonset(objects: &[Object]) -> &DaemonSet {
    one(
        objects,
        |o| match o {
            Object::DaemonSet(d) => Some(d),
            _ => None,
        },
        "DaemonSet",
    )
}

fn cluster_role(objects: &[Object]) -> &ClusterRole {
    one(
        objects,
        |o| match o {
            Object::ClusterRole(r) => Some(r),
            _ => None,
        },
        "ClusterRole",
    )
}

fn pod_spec(ds: &DaemonSet) -> &PodSpec {
    ds.spec
        .template
        .spec
        .as_ref()
        .expect("DaemonSet has a pod template spec")
}

fn agent_container(ds: &DaemonSet) -> &Container {
    let containers = &pod_spec(ds).containers;
    assert_eq!(containers.len(), 1, "the pod runs the agent only");
    &containers[0]
}

// ---------------------------------------------------------------------------
// RBAC

/// (API group, resource, verb) triples a ClusterRole grants. Anything that
/// is not a plain resource rule (resourceNames, nonResourceURLs) fails.
fn granted(role: &ClusterRole) -> BTreeSet<(String, String, String)> {
    assert!(
        role.aggregation_rule.is_none(),
        "an aggregated role grants what others add"
    );
    let mut triples = BTreeSet::new();
    for rule in role.rules.as_deref().unwrap_or_default() {
        assert!(rule.resource_names.is_none(), "resourceNames in {rule:?}");
        assert!(
            rule.non_resource_urls.is_none(),
            "nonResourceURLs in {rule:?}"
        );
        for group in rule.api_groups.as_deref().unwrap_or_default() {
            for resource in rule.resources.as_deref().unwrap_or_default() {
                for verb in &rule.verbs {
                    triples.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    triples
}

fn watched() -> BTreeSet<(String, String, String)> {
    WATCHED
        .iter()
        .flat_map(|w| {
            VERBS.iter().map(move |verb| {
                (
                    w.group.to_owned(),
                    w.resource.to_owned(),
                    (*verb).to_owned(),
                )
            })
        })
        .collect()
}

fn assert_grants_exactly_watched(role: &ClusterRole, origin: &str) {
    let granted = granted(role);
    let wanted = watched();
    assert_eq!(
        granted,
        wanted,
        "{origin}: the ClusterRole must grant exactly enrich::k8s::resources::{{WATCHED, VERBS}}\n\
         granted but not watched: {:?}\nwatched but not granted: {:?}",
        granted.difference(&wanted).collect::<Vec<_>>(),
        wanted.difference(&granted).collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------
// The agent's configuration

fn load_config(text: &str, origin: &str) -> Config {
    let config = Config::from_yaml_str(text)
        .unwrap_or_else(|problems| panic!("{origin}: the agent rejects its config:\n{problems}"));
    let problems = config.validate();
    assert!(
        problems.is_empty(),
        "{origin}: the config does not validate:\n{}",
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    config
}

/// The in-cluster choices both install paths make.
fn assert_in_cluster_choices(config: &Config, origin: &str) {
    assert_eq!(
        config.kubernetes.mode,
        KubernetesMode::On,
        "{origin}: kubernetes.mode"
    );
    assert_eq!(
        config.kubernetes.kubeconfig, None,
        "{origin}: kubernetes.kubeconfig"
    );
    assert_eq!(
        config.kubernetes.node_name, "",
        "{origin}: node_name comes from NODE_NAME"
    );
    assert_eq!(
        config.capture.exclude_interfaces,
        ["lo"],
        "{origin}: capture.exclude_interfaces"
    );
    assert_eq!(
        config.capture.interfaces,
        Vec::<String>::new(),
        "{origin}: capture.interfaces"
    );
    assert!(
        config.export.prometheus.enabled,
        "{origin}: the probes need the metrics listener"
    );
    assert_eq!(
        config.metrics_addr().to_string(),
        "0.0.0.0:9090",
        "{origin}: metrics listener"
    );
    assert_eq!(
        config.api.address.to_string(),
        "127.0.0.1:9091",
        "{origin}: API listener"
    );
}

/// The ConfigMap mounted by `ds` at the directory of `--config`, and the
/// configuration the agent reads from it.
fn mounted_config(objects: &[Object], ds: &DaemonSet, origin: &str) -> Config {
    let container = agent_container(ds);
    let args = container.args.as_deref().unwrap_or_default();
    let config_path = format!("{CONFIG_DIR}/{CONFIG_KEY}");
    assert_eq!(
        args,
        ["--config", config_path.as_str()],
        "{origin}: agent arguments"
    );

    let mount = container
        .volume_mounts
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|m| m.mount_path == CONFIG_DIR)
        .unwrap_or_else(|| panic!("{origin}: nothing is mounted at {CONFIG_DIR}"));
    assert!(
        mount.sub_path.is_none(),
        "{origin}: a subPath mount never sees ConfigMap updates"
    );
    let volume = pod_spec(ds)
        .volumes
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|v| v.name == mount.name)
        .unwrap_or_else(|| panic!("{origin}: no volume {:?}", mount.name));
    let source = volume
        .config_map
        .as_ref()
        .unwrap_or_else(|| panic!("{origin}: volume {:?} is not a ConfigMap", volume.name));
    assert!(
        source.items.is_none(),
        "{origin}: the whole ConfigMap is mounted"
    );

    let config_map = one(
        objects,
        |o| match o {
            Object::ConfigMap(c) if c.metadata.name.as_deref() == Some(source.name.as_str()) => {
                Some(c)
            }
            _ => None,
        },
        &format!("ConfigMap {:?}", source.name),
    );
    assert_eq!(
        config_map.metadata.namespace, ds.metadata.namespace,
        "{origin}: the ConfigMap is in the DaemonSet's namespace"
    );
    let data = config_map.data.as_ref().expect("ConfigMap has data");
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        [CONFIG_KEY],
        "{origin}: the ConfigMap holds the config file only"
    );
    load_config(
        &data[CONFIG_KEY],
        &format!("{origin}: ConfigMap {CONFIG_KEY}"),
    )
}

/// Every setting (leaf) of a YAML tree: a mapping is a section, anything
/// else a setting.
fn leaves(tree: &Value) -> BTreeMap<String, Value> {
    fn walk(node: &Value, path: &str, out: &mut BTreeMap<String, Value>) {
        match node {
            Value::Mapping(section) => {
                for (key, child) in section {
                    let key = key.as_str().expect("string keys");
                    let child_path = if path.is_empty() {
                        key.to_owned()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(child, &child_path, out);
                }
            }
            leaf => {
                out.insert(path.to_owned(), leaf.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(tree, "", &mut out);
    out
}

/// Plain (unquoted) scalars that YAML 1.1 reads as booleans but YAML 1.2,
/// and so the agent, reads as strings. Helm reads values.yaml as YAML 1.1:
/// a bare `mode: on` would reach the agent as `mode: true`.
fn yaml11_booleans(text: &str) -> Vec<String> {
    const BOOLEANS_IN_1_1_ONLY: [&str; 6] = ["y", "yes", "n", "no", "on", "off"];
    text.lines()
        .enumerate()
        .filter_map(|(number, line)| {
            let content = line.split(" #").next().unwrap_or(line).trim();
            let scalar = match content.strip_prefix("- ") {
                Some(item) => item.trim(),
                None => content.split_once(": ").map(|(_, v)| v.trim())?,
            };
            BOOLEANS_IN_1_1_ONLY
                .contains(&scalar.to_ascii_lowercase().as_str())
                .then(|| format!("line {}: {}", number + 1, line.trim()))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The DaemonSet

fn port_of(container: &Container, port: &IntOrString, origin: &str) -> i32 {
    match port {
        IntOrString::Int(number) => *number,
        IntOrString::String(name) => {
            container
                .ports
                .as_deref()
                .unwrap_or_default()
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .unwrap_or_else(|| panic!("{origin}: probe port {name:?} is not a container port"))
                .container_port
        }
    }
}

fn assert_probe(container: &Container, probe: Option<&Probe>, path: &str, port: u16, what: &str) {
    let probe = probe.unwrap_or_else(|| panic!("{what} is missing"));
    let get = probe
        .http_get
        .as_ref()
        .unwrap_or_else(|| panic!("{what} is not an httpGet"));
    assert_eq!(get.path.as_deref(), Some(path), "{what} path");
    assert_eq!(
        get.host, None,
        "{what}: the kubelet must probe the pod (node) address"
    );
    assert_eq!(
        port_of(container, &get.port, what),
        i32::from(port),
        "{what} port"
    );
}

fn string_set<'a>(items: impl IntoIterator<Item = &'a String>) -> BTreeSet<&'a str> {
    items.into_iter().map(String::as_str).collect()
}

/// Everything the DaemonSet of an installation must be, given the config it mounts.
fn assert_daemonset(objects: &[Object], origin: &str) {
    let ds = daemonset(objects);
    let config = mounted_config(objects, ds, origin);
    let metrics_port = config.export.prometheus.port;
    let spec = &ds.spec;
    let pod = pod_spec(ds);
    let container = agent_container(ds);

    // Image: the release this tree builds.
    let image = format!("{IMAGE_REPOSITORY}:{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        container.image.as_deref(),
        Some(image.as_str()),
        "{origin}: image"
    );

    // The node's network, not its processes.
    assert_eq!(pod.host_network, Some(true), "{origin}: hostNetwork");
    assert_eq!(
        pod.dns_policy.as_deref(),
        Some("ClusterFirstWithHostNet"),
        "{origin}: dnsPolicy"
    );
    assert_ne!(pod.host_pid, Some(true), "{origin}: hostPID");
    assert_ne!(pod.host_ipc, Some(true), "{origin}: hostIPC");
    // Service links put NETMON_*-looking variables into the environment,
    // which the agent rejects as unknown settings.
    assert_eq!(
        pod.enable_service_links,
        Some(false),
        "{origin}: enableServiceLinks"
    );

    // Unprivileged, with exactly the chosen capabilities.
    let security = container
        .security_context
        .as_ref()
        .expect("container securityContext");
    assert_eq!(security.privileged, Some(false), "{origin}: privileged");
    assert_eq!(
        security.allow_privilege_escalation,
        Some(false),
        "{origin}: allowPrivilegeEscalation"
    );
    assert_eq!(
        security.read_only_root_filesystem,
        Some(true),
        "{origin}: readOnlyRootFilesystem"
    );
    let capabilities = security.capabilities.as_ref().expect("capabilities");
    assert_eq!(
        string_set(capabilities.add.as_deref().unwrap_or_default()),
        CAPABILITIES.into_iter().collect::<BTreeSet<_>>(),
        "{origin}: capabilities.add"
    );
    assert_eq!(
        capabilities.drop.as_deref().unwrap_or_default(),
        ["ALL"],
        "{origin}: capabilities.drop"
    );

    // NODE_NAME from the downward API.
    let env = container.env.as_deref().unwrap_or_default();
    let node_name: Vec<_> = env.iter().filter(|e| e.name == "NODE_NAME").collect();
    assert_eq!(node_name.len(), 1, "{origin}: one NODE_NAME variable");
    let field = node_name[0]
        .value_from
        .as_ref()
        .and_then(|from| from.field_ref.as_ref())
        .unwrap_or_else(|| panic!("{origin}: NODE_NAME is not from a fieldRef"));
    assert_eq!(
        field.field_path, "spec.nodeName",
        "{origin}: NODE_NAME fieldRef"
    );
    assert!(
        env.iter().all(|e| !e.name.starts_with("NETMON_")),
        "{origin}: settings belong in the ConfigMap"
    );

    // The metrics port, its probes and scrape annotations follow the config.
    let ports = container.ports.as_deref().unwrap_or_default();
    assert_eq!(ports.len(), 1, "{origin}: one container port");
    assert_eq!(
        ports[0].name.as_deref(),
        Some("metrics"),
        "{origin}: port name"
    );
    assert_eq!(
        ports[0].container_port,
        i32::from(metrics_port),
        "{origin}: metrics port"
    );
    assert_probe(
        container,
        container.liveness_probe.as_ref(),
        "/healthz",
        metrics_port,
        "livenessProbe",
    );
    assert_probe(
        container,
        container.readiness_probe.as_ref(),
        "/readyz",
        metrics_port,
        "readinessProbe",
    );
    assert_probe(
        container,
        container.startup_probe.as_ref(),
        "/healthz",
        metrics_port,
        "startupProbe",
    );
    let annotations = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    let metrics_port_text = metrics_port.to_string();
    for (key, value) in [
        ("prometheus.io/scrape", "true"),
        ("prometheus.io/port", metrics_port_text.as_str()),
        ("prometheus.io/path", "/metrics"),
    ] {
        assert_eq!(
            annotations.get(key).map(String::as_str),
            Some(value),
            "{origin}: annotation {key}"
        );
    }

    // Host paths: exactly these, the cgroup and tracefs ones read-only.
    let host_paths: BTreeMap<&str, &str> = pod
        .volumes
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|v| {
            v.host_path
                .as_ref()
                .map(|h| (v.name.as_str(), h.path.as_str()))
        })
        .collect();
    assert_eq!(
        host_paths.values().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([
            "/run/netmon",
            "/sys/fs/bpf",
            "/sys/fs/cgroup",
            "/sys/kernel/tracing"
        ]),
        "{origin}: hostPath volumes"
    );
    let mounts = container.volume_mounts.as_deref().unwrap_or_default();
    for (volume, host_path) in &host_paths {
        let mount = mounts
            .iter()
            .find(|m| m.name == *volume)
            .unwrap_or_else(|| panic!("{origin}: hostPath {host_path} is not mounted"));
        assert_eq!(
            mount.mount_path, *host_path,
            "{origin}: {host_path} mounted at its own path"
        );
        if *host_path == "/run/netmon" {
            assert_ne!(
                mount.read_only,
                Some(true),
                "{origin}: the agent creates its socket in {host_path}"
            );
        } else if *host_path != "/sys/fs/bpf" {
            assert_eq!(
                mount.read_only,
                Some(true),
                "{origin}: {host_path} read-only"
            );
        }
    }

    // The API socket lives where the node can reach it.
    assert_eq!(
        config.api.socket.parent(),
        Some(std::path::Path::new("/run/netmon")),
        "{origin}: api.socket is in the /run/netmon mount"
    );

    // Scheduling and lifecycle.
    assert_eq!(
        pod.priority_class_name.as_deref(),
        Some("system-node-critical"),
        "{origin}"
    );
    let tolerations = pod.tolerations.as_deref().unwrap_or_default();
    assert_eq!(
        tolerations,
        [Toleration {
            operator: Some("Exists".into()),
            ..Default::default()
        }],
        "{origin}: tolerate every taint"
    );
    let rolling = spec
        .update_strategy
        .as_ref()
        .filter(|s| s.type_.as_deref() == Some("RollingUpdate"))
        .and_then(|s| s.rolling_update.as_ref())
        .unwrap_or_else(|| panic!("{origin}: RollingUpdate strategy"));
    assert_eq!(
        rolling.max_unavailable,
        Some(IntOrString::String("10%".into())),
        "{origin}"
    );
    assert_eq!(pod.termination_grace_period_seconds, Some(30), "{origin}");
    let resources = container.resources.as_ref().expect("resources");
    let quantities = |map: &Option<
        BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >| {
        map.iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        quantities(&resources.requests),
        BTreeMap::from([
            ("cpu".into(), "100m".into()),
            ("memory".into(), "128Mi".into())
        ]),
        "{origin}: requests"
    );
    assert_eq!(
        quantities(&resources.limits),
        BTreeMap::from([("memory".into(), "512Mi".into())]),
        "{origin}: limits (no CPU limit)"
    );

    // Selector, service account and Service all line up.
    let template_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let selector = spec.selector.match_labels.clone().unwrap_or_default();
    assert!(!selector.is_empty(), "{origin}: DaemonSet selector");
    assert!(
        selector
            .iter()
            .all(|(k, v)| template_labels.get(k) == Some(v)),
        "{origin}: the selector matches the pod labels"
    );
    let binding = one(
        objects,
        |o| match o {
            Object::ClusterRoleBinding(b) => Some(b),
            _ => None,
        },
        "ClusterRoleBinding",
    );
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(
        Some(&binding.role_ref.name),
        cluster_role(objects).metadata.name.as_ref(),
        "{origin}: roleRef"
    );
    let subjects = binding.subjects.as_deref().unwrap_or_default();
    assert_eq!(subjects.len(), 1, "{origin}: one subject");
    assert_eq!(subjects[0].kind, "ServiceAccount");
    assert_eq!(
        Some(&subjects[0].name),
        pod.service_account_name.as_ref(),
        "{origin}: bound account"
    );
    assert_eq!(
        subjects[0].namespace, ds.metadata.namespace,
        "{origin}: bound account's namespace"
    );
    let account = one(
        objects,
        |o| match o {
            Object::ServiceAccount(a) => Some(a),
            _ => None,
        },
        "ServiceAccount",
    );
    assert_eq!(
        account.metadata.name, pod.service_account_name,
        "{origin}: the pod's account exists"
    );
    assert_eq!(
        account.metadata.namespace, ds.metadata.namespace,
        "{origin}"
    );
    for object in objects {
        if let Object::Service(service) = object {
            let spec = service.spec.as_ref().expect("Service spec");
            let selector = spec.selector.clone().unwrap_or_default();
            assert!(
                !selector.is_empty()
                    && selector
                        .iter()
                        .all(|(k, v)| template_labels.get(k) == Some(v)),
                "{origin}: the Service selects the agent pods"
            );
            let ports = spec.ports.as_deref().unwrap_or_default();
            assert_eq!(ports.len(), 1, "{origin}: one Service port");
            assert_eq!(
                ports[0].port,
                i32::from(metrics_port),
                "{origin}: Service port"
            );
            assert_eq!(
                ports[0].target_port,
                Some(IntOrString::String("metrics".into())),
                "{origin}"
            );
        }
    }
}

/// Every check of a complete installation (the files, kustomize's output, Helm's).
fn assert_installation(objects: &[Object], with_namespace: bool, origin: &str) {
    assert_eq!(
        identities(objects),
        expected_objects(with_namespace),
        "{origin}: objects"
    );
    assert_grants_exactly_watched(cluster_role(objects), origin);
    assert_daemonset(objects, origin);
    let config = mounted_config(objects, daemonset(objects), origin);
    assert_in_cluster_choices(&config, origin);
}

// ---------------------------------------------------------------------------
// Helm

fn helm_values() -> Value {
    serde_yaml::from_str(&read("deploy/helm/netmon/values.yaml")).expect("values.yaml is YAML")
}

fn helm_value<T: DeserializeOwned>(values: &Value, key: &str) -> T {
    let value = values
        .get(key)
        .unwrap_or_else(|| panic!("values.yaml has no {key}"))
        .clone();
    serde_yaml::from_value(value).unwrap_or_else(|e| panic!("values.yaml {key}: {e}"))
}

/// The template with its actions taken out: a line that is only an action
/// (`{{- if ... }}`, `{{- include ... | nindent 4 }}`) is dropped, an action
/// inside a line becomes the word `templated`.
fn strip_template(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("{{")
            && trimmed.ends_with("}}")
            && trimmed.matches("{{").count() == 1
        {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("{{") {
            let end = rest[start..].find("}}").expect("closed action") + start + 2;
            out.push_str(&rest[..start]);
            out.push_str("templated");
            rest = &rest[end..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------
// Grafana

/// The metric names (identifiers starting with `netmon_`, and `up`) in a
/// PromQL expression, outside string literals.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut chars = expr.chars().peekable();
    let mut previous = ' ';
    while let Some(c) = chars.next() {
        if c == '"' || c == '\'' || c == '`' {
            let quote = c;
            while let Some(inner) = chars.next() {
                if inner == '\\' {
                    chars.next();
                } else if inner == quote {
                    break;
                }
            }
            previous = quote;
        } else if (c.is_ascii_alphabetic() || c == '_' || c == ':')
            && !previous.is_ascii_alphanumeric()
        {
            let mut word = c.to_string();
            while let Some(&next) = chars.peek() {
                if next.is_ascii_alphanumeric() || next == '_' || next == ':' {
                    word.push(next);
                    chars.next();
                } else {
                    break;
                }
            }
            // `up` is a metric only when a selector follows, not in `group_left(up)` etc.
            let selector_follows = chars.peek().is_some_and(|&n| n == '{' || n == '[');
            if word.starts_with("netmon_") || (word == "up" && selector_follows) {
                names.insert(word);
            }
            previous = 'a';
        } else {
            previous = c;
        }
    }
    names
}

fn is_known_metric(name: &str) -> bool {
    // A histogram's own name is no series; only its suffixed ones are.
    let histograms = known_histograms();
    let plain = !histograms.iter().any(|h| h == name) && known_metrics().iter().any(|k| k == name);
    if name == "up" || plain {
        return true;
    }
    ["_bucket", "_sum", "_count"].iter().any(|suffix| {
        name.strip_suffix(suffix)
            .is_some_and(|base| histograms.iter().any(|h| h == base))
    })
}

/// The expression with Grafana's variables replaced as a query would see them.
fn substitute_variables(expr: &str) -> String {
    let mut text = expr.to_owned();
    for (variable, value) in [
        ("$__rate_interval", "5m"),
        ("${namespace}", ".*"),
        ("${workload}", ".*"),
        ("$namespace", ".*"),
        ("$workload", ".*"),
    ] {
        text = text.replace(variable, value);
    }
    assert!(
        !text.contains('$'),
        "an unknown Grafana variable in {expr:?}"
    );
    text
}

/// Every PromQL expression of the dashboard, named `(where, expression)`:
/// panel targets, and the series selectors inside `label_values(...)`
/// variable queries.
fn dashboard_expressions(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut panels: Vec<&serde_json::Value> = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] == "row" {
            panels.extend(panel["panels"].as_array().into_iter().flatten());
        } else {
            panels.push(panel);
        }
    }
    assert!(!panels.is_empty(), "the dashboard has panels");
    for panel in panels {
        let title = panel["title"].as_str().expect("panel title");
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "panel {title:?} datasource"
        );
        let targets = panel["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert!(!targets.is_empty(), "panel {title:?} has no target");
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(
                !expr.trim().is_empty(),
                "panel {title:?} has a target without an expression"
            );
            let ref_id = target["refId"].as_str().unwrap_or("?");
            out.push((format!("panel {title:?} target {ref_id}"), expr.to_owned()));
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        if variable["type"] != "query" {
            continue;
        }
        let name = variable["name"].as_str().expect("variable name");
        let query = variable["query"]["query"]
            .as_str()
            .or_else(|| variable["query"].as_str())
            .unwrap_or_default();
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .and_then(|q| q.rsplit_once(','))
            .map(|(selector, _label)| selector.trim())
            .unwrap_or_else(|| {
                panic!("variable {name}: expected label_values(selector, label), got {query:?}")
            });
        out.push((format!("variable {name}"), inner.to_owned()));
    }
    out
}

// ===========================================================================
// Tests

#[test]
fn kustomize_files_parse_into_their_kubernetes_types() {
    let objects = kustomize_files();
    assert_installation(&objects, true, "deploy/kubernetes/*.yaml");

    // kustomization.yaml lists every manifest file, and only those.
    let kustomization: Value =
        serde_yaml::from_str(&read("deploy/kubernetes/kustomization.yaml")).unwrap();
    assert_eq!(kustomization["namespace"].as_str(), Some(NAMESPACE));
    let listed: BTreeSet<&str> = kustomization["resources"]
        .as_sequence()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("resource path"))
        .collect();
    let on_disk: BTreeSet<String> = fs::read_dir(repo_root().join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    assert_eq!(
        listed,
        on_disk.iter().map(String::as_str).collect(),
        "kustomization resources"
    );
}

#[test]
fn unknown_kinds_and_fields_are_rejected() {
    // The checks above are only as good as the parser: it must refuse what a
    // manifest must not contain.
    let parse = |text: &str| try_parse_object(serde_yaml::from_str(text).unwrap(), "test");
    let error = parse("apiVersion: v1\nkind: Secret\nmetadata: {name: x}").unwrap_err();
    assert!(error.contains("unexpected kind \"Secret\""), "{error}");
    let error = parse(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\nautomountServiceAcountToken: false",
    )
    .unwrap_err();
    assert!(
        error.contains(".automountServiceAcountToken: false is not a field there"),
        "{error}"
    );
    let error = parse("apiVersion: v2\nkind: Namespace\nmetadata: {name: x}").unwrap_err();
    assert!(error.contains("does not parse"), "{error}");
    assert!(parse("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}").is_ok());
}

#[test]
fn kubectl_kustomize_renders_each_object_once() {
    let Some(kubectl) = tool("kubectl", "NMTEST_REQUIRE_TOOLS") else {
        return;
    };
    let dir = repo_root().join("deploy/kubernetes");
    let rendered = run(&kubectl, &["kustomize", dir.to_str().expect("UTF-8 path")]);
    let objects = parse_manifests(&rendered, "kubectl kustomize deploy/kubernetes");
    assert_installation(&objects, true, "kubectl kustomize deploy/kubernetes");
}

#[test]
fn configmap_config_loads_validates_and_sets_only_what_differs() {
    let objects = kustomize_files();
    let config = mounted_config(&objects, daemonset(&objects), "deploy/kubernetes");
    assert_in_cluster_choices(&config, "deploy/kubernetes/configmap.yaml");

    // Only settings that differ from the defaults: the file stays short and
    // every line in it is a decision.
    let config_map = one(
        &objects,
        |o| match o {
            Object::ConfigMap(c) => Some(c),
            _ => None,
        },
        "ConfigMap",
    );
    let text = &config_map.data.as_ref().unwrap()[CONFIG_KEY];
    let given = leaves(&serde_yaml::from_str(text).unwrap());
    let effective = leaves(&serde_yaml::to_value(&config).unwrap());
    let defaults = leaves(&serde_yaml::to_value(Config::default()).unwrap());
    let same_as_default: Vec<&String> = given
        .keys()
        .filter(|path| effective[*path] == defaults[*path])
        .collect();
    assert!(
        same_as_default.is_empty(),
        "settings at their default in the ConfigMap: {same_as_default:?}"
    );
}

#[test]
fn helm_values_config_is_the_agents_whole_config() {
    let values = helm_values();
    let tree = values
        .get("config")
        .expect("values.yaml has config")
        .clone();

    // Exactly the agent's key tree: every setting, no other key.
    let given: BTreeSet<String> = leaves(&tree).into_keys().collect();
    let model: BTreeSet<String> = leaves(&serde_yaml::to_value(Config::default()).unwrap())
        .into_keys()
        .collect();
    let example: BTreeSet<String> =
        leaves(&serde_yaml::from_str(&read("deploy/config/netmon.yaml")).unwrap())
            .into_keys()
            .collect();
    assert_eq!(given, model, "values.yaml config vs the agent's settings");
    assert_eq!(
        given, example,
        "values.yaml config vs deploy/config/netmon.yaml"
    );

    // What the ConfigMap template renders with toYaml, read by the agent.
    let text = serde_yaml::to_string(&tree).unwrap();
    let config = load_config(&text, "values.yaml config");
    assert_in_cluster_choices(&config, "values.yaml config");

    // Both install paths run the agent with the same configuration.
    let objects = kustomize_files();
    let kustomize_config = mounted_config(&objects, daemonset(&objects), "deploy/kubernetes");
    assert_eq!(
        config, kustomize_config,
        "Helm and kustomize configure the agent differently"
    );

    let template = read("deploy/helm/netmon/templates/configmap.yaml");
    assert!(
        template.contains("toYaml .Values.config"),
        "the ConfigMap template renders .Values.config"
    );
}

#[test]
fn helm_values_quote_yaml_1_1_booleans() {
    let found = yaml11_booleans(&read("deploy/helm/netmon/values.yaml"));
    assert!(
        found.is_empty(),
        "values.yaml: Helm reads these as booleans, quote them:\n{}",
        found.join("\n")
    );
    // The check itself finds what it must.
    assert_eq!(
        yaml11_booleans("a:\n  mode: on\n  b: \"on\"\n  - off # x\n"),
        ["line 2: mode: on", "line 4: - off # x"]
    );
}

#[test]
fn helm_values_match_the_kustomize_daemonset() {
    let values = helm_values();
    let objects = kustomize_files();
    let ds = daemonset(&objects);
    let container = agent_container(ds);
    let pod = pod_spec(ds);

    let security: SecurityContext = helm_value(&values, "securityContext");
    assert_eq!(
        Some(&security),
        container.security_context.as_ref(),
        "securityContext"
    );
    let resources: ResourceRequirements = helm_value(&values, "resources");
    assert_eq!(Some(&resources), container.resources.as_ref(), "resources");
    let tolerations: Vec<Toleration> = helm_value(&values, "tolerations");
    assert_eq!(Some(&tolerations), pod.tolerations.as_ref(), "tolerations");
    let node_selector: BTreeMap<String, String> = helm_value(&values, "nodeSelector");
    assert_eq!(
        Some(&node_selector),
        pod.node_selector.as_ref(),
        "nodeSelector"
    );
    let priority: String = helm_value(&values, "priorityClassName");
    assert_eq!(
        Some(&priority),
        pod.priority_class_name.as_ref(),
        "priorityClassName"
    );
    let grace: i64 = helm_value(&values, "terminationGracePeriodSeconds");
    assert_eq!(
        Some(grace),
        pod.termination_grace_period_seconds,
        "terminationGracePeriodSeconds"
    );
    let strategy: DaemonSetUpdateStrategy = helm_value(&values, "updateStrategy");
    assert_eq!(
        Some(&strategy),
        ds.spec.update_strategy.as_ref(),
        "updateStrategy"
    );

    // The image: the chart's appVersion unless a tag is given.
    let chart: Value = serde_yaml::from_str(&read("deploy/helm/netmon/Chart.yaml")).unwrap();
    assert_eq!(chart["apiVersion"].as_str(), Some("v2"));
    assert_eq!(chart["name"].as_str(), Some("netmon"));
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        values["image"]["repository"].as_str(),
        Some(IMAGE_REPOSITORY)
    );
    assert_eq!(values["image"]["tag"].as_str(), Some(""));
    for template in [
        "_helpers.tpl",
        "serviceaccount.yaml",
        "rbac.yaml",
        "configmap.yaml",
        "daemonset.yaml",
        "NOTES.txt",
    ] {
        assert!(
            repo_root()
                .join("deploy/helm/netmon/templates")
                .join(template)
                .is_file(),
            "template {template}"
        );
    }
}

#[test]
fn cluster_roles_grant_exactly_the_watched_resources() {
    assert_grants_exactly_watched(
        cluster_role(&kustomize_files()),
        "deploy/kubernetes/rbac.yaml",
    );

    // The Helm template: its rules must be plain YAML, so that what is
    // checked here is what Helm renders.
    let template = read("deploy/helm/netmon/templates/rbac.yaml");
    let role_document = template
        .split("\n---")
        .next()
        .expect("ClusterRole document");
    let rules = role_document
        .split_once("\nrules:")
        .map(|(_, r)| r)
        .expect("rules in the ClusterRole");
    assert!(
        !rules.contains("{{"),
        "deploy/helm/netmon/templates/rbac.yaml: templating in the rules"
    );
    let objects = parse_manifests(
        &strip_template(&template),
        "deploy/helm/netmon/templates/rbac.yaml",
    );
    assert_eq!(
        objects.iter().map(Object::kind).collect::<Vec<_>>(),
        ["ClusterRole", "ClusterRoleBinding"],
        "Helm rbac.yaml objects"
    );
    assert_grants_exactly_watched(
        cluster_role(&objects),
        "deploy/helm/netmon/templates/rbac.yaml",
    );

    // And the comparison can fail: one verb more is caught.
    let mut wider = cluster_role(&objects).clone();
    wider.rules.as_mut().unwrap()[0].verbs.push("get".into());
    assert_ne!(granted(&wider), watched());
}

#[test]
fn helm_template_renders_a_complete_installation() {
    let Some(helm) = tool("helm", "NMTEST_REQUIRE_HELM") else {
        return;
    };
    let chart = repo_root().join("deploy/helm/netmon");
    let rendered = run(
        &helm,
        &[
            "template",
            "netmon",
            chart.to_str().expect("UTF-8 path"),
            "--namespace",
            NAMESPACE,
        ],
    );
    assert_installation(
        &parse_manifests(&rendered, "helm template"),
        false,
        "helm template",
    );
}

#[test]
fn grafana_dashboard_uses_known_metrics_and_valid_promql() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/netmon-dashboard.json"))
            .expect("the dashboard is JSON");
    assert_eq!(dashboard["schemaVersion"], 39);
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no dashboard variable {name}"))
    };
    assert_eq!(variable("datasource")["type"], "datasource");
    assert_eq!(variable("datasource")["query"], "prometheus");
    for name in ["namespace", "workload"] {
        assert_eq!(
            variable(name)["datasource"]["uid"],
            "${datasource}",
            "variable {name}"
        );
    }
    assert_eq!(
        variable("namespace")["query"]["query"],
        "label_values(netmon_bytes_total, source_namespace)"
    );

    let expressions = dashboard_expressions(&dashboard);
    let mut used = BTreeSet::new();
    for (place, expr) in &expressions {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{place}: no metric in {expr:?}");
        for name in &names {
            assert!(
                is_known_metric(name),
                "{place}: unknown metric {name} in {expr:?}"
            );
        }
        used.extend(names);
    }
    let missing: Vec<&&str> = DASHBOARD_MUST_USE
        .iter()
        .filter(|m| !used.contains(**m))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard does not show {missing:?}"
    );
    // The name check can fail.
    assert!(!is_known_metric("netmon_tcp_connect_latency_seconds"));
    assert!(!is_known_metric("netmon_bytes"));
    assert_eq!(
        metric_names(r#"sum(rate(netmon_flows_total{status=~"netmon_x"}[5m])) / up{job="a"}"#),
        BTreeSet::from(["netmon_flows_total".to_owned(), "up".to_owned()])
    );

    // A real PromQL parse: every expression as a recording rule for promtool.
    let Some(promtool) = tool("promtool", "NMTEST_REQUIRE_TOOLS") else {
        return;
    };
    let rules: Vec<Value> = expressions
        .iter()
        .enumerate()
        .map(|(index, (_, expr))| {
            let mut rule = serde_yaml::Mapping::new();
            rule.insert(
                "record".into(),
                format!("netmon_dashboard:expression_{index}").into(),
            );
            rule.insert("expr".into(), substitute_variables(expr).into());
            Value::Mapping(rule)
        })
        .collect();
    let mut group = serde_yaml::Mapping::new();
    group.insert("name".into(), "netmon-dashboard".into());
    group.insert("rules".into(), Value::Sequence(rules));
    let mut file = serde_yaml::Mapping::new();
    file.insert(
        "groups".into(),
        Value::Sequence(vec![Value::Mapping(group)]),
    );
    let rules_file = TempFile::new(
        "netmon-dashboard-rules",
        &serde_yaml::to_string(&file).unwrap(),
    );
    let output = run(
        &promtool,
        &["check", "rules", rules_file.0.to_str().expect("UTF-8 path")],
    );
    let expected = format!("SUCCESS: {} rules found", expressions.len());
    assert!(
        output.contains(&expected),
        "promtool: expected {expected:?} in:\n{output}"
    );
}

// ---------------------------------------------------------------------------
// netmon-server (deploy/kubernetes/server, the chart's server-* templates)

/// netmon-server's own kustomization: optional, so apart from the agent's.
const SERVER_DIR: &str = "deploy/kubernetes/server";

/// The server's files, parsed into their k8s-openapi types (read back field
/// for field, like the agent's).
fn server_objects() -> (ConfigMap, k8s_openapi::api::apps::v1::Deployment, Service) {
    let parse = |file: &str| {
        let origin = format!("{SERVER_DIR}/{file}");
        let mut docs = documents(&read(&origin), &origin);
        assert_eq!(docs.len(), 1, "{origin}: one object");
        (docs.remove(0), origin)
    };
    let (config, config_origin) = parse("configmap.yaml");
    let (deployment, deployment_origin) = parse("deployment.yaml");
    let (service, service_origin) = parse("service.yaml");
    (
        typed(config, &config_origin).unwrap_or_else(|e| panic!("{e}")),
        typed(deployment, &deployment_origin).unwrap_or_else(|e| panic!("{e}")),
        typed(service, &service_origin).unwrap_or_else(|e| panic!("{e}")),
    )
}

/// The port of an `address: host:port` setting in the server's config.
fn server_config_port(config: &Value, section: &str) -> i32 {
    config[section]["address"]
        .as_str()
        .and_then(|address| address.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("server config {section}.address has no port"))
}

#[test]
fn server_manifests_parse_and_agree_with_the_server_config() {
    let kustomization: Value =
        serde_yaml::from_str(&read(&format!("{SERVER_DIR}/kustomization.yaml"))).unwrap();
    assert_eq!(kustomization["namespace"].as_str(), Some(NAMESPACE));
    let listed: BTreeSet<&str> = kustomization["resources"]
        .as_sequence()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("resource path"))
        .collect();
    assert_eq!(
        listed,
        BTreeSet::from(["configmap.yaml", "deployment.yaml", "service.yaml"])
    );

    let (config_map, deployment, service) = server_objects();
    let config_text = config_map
        .data
        .as_ref()
        .and_then(|data| data.get("server.yaml"))
        .expect("the ConfigMap holds server.yaml");
    let config: Value = serde_yaml::from_str(config_text).expect("server.yaml is YAML");
    let grpc_port = server_config_port(&config, "grpc");
    let metrics_port = server_config_port(&config, "metrics");

    let spec = &deployment.spec;
    assert_eq!(spec.replicas, Some(1), "one server per spool");
    assert_eq!(
        spec.strategy.as_ref().and_then(|s| s.type_.as_deref()),
        Some("Recreate")
    );
    let pod = spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(
        pod.enable_service_links,
        Some(false),
        "service links would put NETMON_SERVER_* variables into the environment"
    );
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap();
    assert_eq!(
        labels
            .get("app.kubernetes.io/component")
            .map(String::as_str),
        Some("server"),
        "the agent's selectors must not match the server's pods"
    );
    let selector = spec.selector.match_labels.clone().unwrap();
    let service_selector = service
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap();
    for (key, value) in selector.iter().chain(&service_selector) {
        assert_eq!(labels.get(key), Some(value), "selector {key}");
    }

    let [container] = pod.containers.as_slice() else {
        panic!("one container");
    };
    assert_eq!(
        container.args.as_deref(),
        Some(
            &[
                "--config".to_owned(),
                "/etc/netmon-server/server.yaml".to_owned()
            ][..]
        )
    );
    let port = |name: &str| {
        container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name))
            .map(|p| p.container_port)
    };
    assert_eq!(port("grpc"), Some(grpc_port));
    assert_eq!(port("metrics"), Some(metrics_port));
    assert_probe(
        container,
        container.liveness_probe.as_ref(),
        "/healthz",
        metrics_port as u16,
        "liveness",
    );
    let security = container
        .security_context
        .as_ref()
        .expect("securityContext");
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(
        security.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_owned()])
    );
    assert_eq!(
        pod.security_context
            .as_ref()
            .and_then(|s| s.run_as_non_root),
        Some(true)
    );
    let spool_dir = config["spool"]["dir"].as_str().expect("spool.dir");
    let spool_mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == "spool")
        .expect("the spool volume is mounted");
    assert!(
        spool_dir.starts_with(&format!("{}/", spool_mount.mount_path)),
        "spool.dir {spool_dir} must be on the spool volume ({})",
        spool_mount.mount_path
    );
    let env: Vec<&str> = container
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(env, ["NETMON_SERVER_CLICKHOUSE_PASSWORD"]);

    let service_ports: Vec<(String, i32)> = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap()
        .into_iter()
        .map(|p| (p.name.unwrap_or_default(), p.port))
        .collect();
    assert_eq!(
        service_ports,
        [
            ("grpc".to_owned(), grpc_port),
            ("metrics".to_owned(), metrics_port)
        ]
    );
}

#[test]
fn kubectl_kustomize_renders_the_server_objects_once() {
    let Some(kubectl) = tool("kubectl", "NMTEST_REQUIRE_TOOLS") else {
        return;
    };
    let dir = repo_root().join(SERVER_DIR);
    let rendered = run(&kubectl, &["kustomize", dir.to_str().expect("UTF-8 path")]);
    let mut kinds: Vec<(String, String)> = documents(&rendered, "kubectl kustomize server")
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap_or_default().to_owned(),
                d["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("ConfigMap".to_owned(), "netmon-server-config".to_owned()),
            ("Deployment".to_owned(), "netmon-server".to_owned()),
            ("Service".to_owned(), "netmon-server".to_owned()),
        ]
    );
}

#[test]
fn helm_server_is_off_by_default_and_configured_like_the_kustomize_one() {
    let values = helm_values();
    assert_eq!(values["server"]["enabled"].as_bool(), Some(false));
    assert_eq!(
        values["server"]["image"]["repository"].as_str(),
        Some("ghcr.io/netmon/netmon-server")
    );
    let (config_map, _, _) = server_objects();
    let kustomize_config: Value = serde_yaml::from_str(
        config_map
            .data
            .as_ref()
            .and_then(|d| d.get("server.yaml"))
            .unwrap(),
    )
    .unwrap();
    let helm_config = &values["server"]["config"];
    for section in ["grpc", "metrics"] {
        assert_eq!(
            server_config_port(helm_config, section),
            server_config_port(&kustomize_config, section),
            "server.config.{section}.address port"
        );
    }
    assert_eq!(
        helm_config["spool"]["dir"],
        kustomize_config["spool"]["dir"]
    );
    for template in [
        "server-configmap.yaml",
        "server-deployment.yaml",
        "server-service.yaml",
    ] {
        let text = read(&format!("deploy/helm/netmon/templates/{template}"));
        assert!(
            text.starts_with("{{- if .Values.server.enabled }}\n")
                && text.trim_end().ends_with("{{- end }}"),
            "{template} renders only with server.enabled"
        );
    }
}
