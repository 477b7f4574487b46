//! Resource collections and the kind <-> resource naming between them.
//!
//! The real API server learns these names from its registry and from CRDs; the
//! fake has no registry, so it uses a table of the built-in kinds netmon
//! watches (and a few neighbours) plus English pluralisation rules for
//! anything else. Objects applied by tests carry their own `kind` and
//! `apiVersion`, so the table only decides the collection an object lands in
//! and the `kind` a list or bookmark reports.

/// One resource collection: what the URL `/apis/{group}/{version}/{resource}`
/// (or `/api/v1/{resource}` for the core group, `group == ""`) names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Collection {
    pub group: String,
    pub version: String,
    pub resource: String,
}

impl Collection {
    pub fn new(group: &str, version: &str, resource: &str) -> Self {
        Collection {
            group: group.to_owned(),
            version: version.to_owned(),
            resource: resource.to_owned(),
        }
    }

    /// The collection an object of `api_version`/`kind` is stored in.
    pub fn for_kind(api_version: &str, kind: &str) -> Self {
        let (group, version) = split_api_version(api_version);
        Collection::new(group, version, &resource_for_kind(kind))
    }

    /// `v1` for the core group, `group/version` otherwise, as objects spell it.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn kind(&self) -> String {
        kind_for_resource(&self.resource)
    }
}

/// Splits `apps/v1` into `("apps", "v1")` and `v1` into `("", "v1")`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// A built-in kind: group, preferred version, kind, resource, namespaced.
pub(crate) struct KnownKind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub resource: &'static str,
    pub namespaced: bool,
}

const fn known(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    resource: &'static str,
    namespaced: bool,
) -> KnownKind {
    KnownKind {
        group,
        version,
        kind,
        resource,
        namespaced,
    }
}

/// Built-in kinds whose names the rules below would get wrong (Endpoints,
/// Ingress, ...) or which discovery should always list.
pub(crate) const KNOWN_KINDS: &[KnownKind] = &[
    known("", "v1", "Pod", "pods", true),
    known("", "v1", "Service", "services", true),
    known("", "v1", "Endpoints", "endpoints", true),
    known("", "v1", "Node", "nodes", false),
    known("", "v1", "Namespace", "namespaces", false),
    known("", "v1", "ConfigMap", "configmaps", true),
    known("", "v1", "Secret", "secrets", true),
    known("", "v1", "ServiceAccount", "serviceaccounts", true),
    known("", "v1", "Event", "events", true),
    known("", "v1", "PersistentVolume", "persistentvolumes", false),
    known(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
    ),
    known("apps", "v1", "Deployment", "deployments", true),
    known("apps", "v1", "ReplicaSet", "replicasets", true),
    known("apps", "v1", "StatefulSet", "statefulsets", true),
    known("apps", "v1", "DaemonSet", "daemonsets", true),
    known("batch", "v1", "Job", "jobs", true),
    known("batch", "v1", "CronJob", "cronjobs", true),
    known(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        true,
    ),
    known("networking.k8s.io", "v1", "Ingress", "ingresses", true),
    known(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
    ),
];

/// `Pod` -> `pods`, `NetworkPolicy` -> `networkpolicies`, `Widget` -> `widgets`.
pub fn resource_for_kind(kind: &str) -> String {
    if let Some(k) = KNOWN_KINDS.iter().find(|k| k.kind == kind) {
        return k.resource.to_owned();
    }
    let lower = kind.to_ascii_lowercase();
    if let Some(stem) = lower.strip_suffix('y') {
        if !stem.ends_with(['a', 'e', 'i', 'o', 'u']) {
            return format!("{stem}ies");
        }
    }
    if lower.ends_with(['s', 'x', 'z']) || lower.ends_with("ch") || lower.ends_with("sh") {
        return format!("{lower}es");
    }
    format!("{lower}s")
}

/// `pods` -> `Pod`, `endpointslices` -> `EndpointSlice`. Unknown resources
/// get a singular with a capital first letter (`widgets` -> `Widget`): the
/// inner capitals of a CamelCase kind cannot be recovered from a resource name.
pub fn kind_for_resource(resource: &str) -> String {
    if let Some(k) = KNOWN_KINDS.iter().find(|k| k.resource == resource) {
        return k.kind.to_owned();
    }
    let singular = if let Some(stem) = resource.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = ["ses", "xes", "zes", "ches", "shes"]
        .iter()
        .find_map(|suffix| resource.strip_suffix(suffix).map(|s| (s, suffix)))
        .map(|(stem, suffix)| format!("{stem}{}", &suffix[..suffix.len() - 2]))
    {
        stem
    } else {
        resource.strip_suffix('s').unwrap_or(resource).to_owned()
    };
    let mut chars = singular.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Whether discovery should report the resource as namespaced, when nothing
/// better is known (objects stored decide for unknown resources).
pub(crate) fn known_namespaced(resource: &str) -> Option<bool> {
    KNOWN_KINDS
        .iter()
        .find(|k| k.resource == resource)
        .map(|k| k.namespaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trips() {
        for k in KNOWN_KINDS {
            assert_eq!(resource_for_kind(k.kind), k.resource);
            assert_eq!(kind_for_resource(k.resource), k.kind);
        }
    }

    #[test]
    fn fallback_rules() {
        assert_eq!(resource_for_kind("Widget"), "widgets");
        assert_eq!(resource_for_kind("Policy"), "policies");
        assert_eq!(resource_for_kind("Gateway"), "gateways");
        assert_eq!(resource_for_kind("Status"), "statuses");
        assert_eq!(resource_for_kind("Batch"), "batches");
        assert_eq!(kind_for_resource("widgets"), "Widget");
        assert_eq!(kind_for_resource("policies"), "Policy");
        assert_eq!(kind_for_resource("batches"), "Batch");
        assert_eq!(kind_for_resource("gateways"), "Gateway");
    }

    #[test]
    fn collections_from_api_version() {
        assert_eq!(
            Collection::for_kind("apps/v1", "ReplicaSet"),
            Collection::new("apps", "v1", "replicasets")
        );
        assert_eq!(
            Collection::for_kind("v1", "Pod"),
            Collection::new("", "v1", "pods")
        );
        assert_eq!(
            Collection::new("discovery.k8s.io", "v1", "endpointslices").api_version(),
            "discovery.k8s.io/v1"
        );
        assert_eq!(Collection::new("", "v1", "pods").api_version(), "v1");
    }
}
