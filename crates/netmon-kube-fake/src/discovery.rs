//! Minimal discovery (`/version`, `/api`, `/apis`, `/api/v1`,
//! `/apis/{group}/{version}`), enough for clients that look before they
//! list. It reports the built-in kinds of `kinds.rs` plus every collection
//! that has held an object, each with verbs get, list and watch.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::kinds::{kind_for_resource, known_namespaced, KNOWN_KINDS};
use crate::shared::Shared;
use crate::status::json_response;

pub(crate) fn version() -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "major": "1",
            "minor": "32",
            "gitVersion": "v1.32.0-netmon-fake",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "1970-01-01T00:00:00Z",
            "goVersion": "none",
            "compiler": "none",
            "platform": "linux/amd64"
        }),
    )
}

pub(crate) fn core_versions(shared: &Shared) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": shared.address.to_string()}
            ]
        }),
    )
}

pub(crate) fn groups(shared: &Shared) -> Response {
    let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (group, version, _, _) in served(shared) {
        if group.is_empty() {
            continue;
        }
        let list = versions.entry(group).or_default();
        if !list.contains(&version) {
            list.push(version);
        }
    }
    let groups: Vec<Value> = versions
        .into_iter()
        .map(|(group, versions)| {
            let entries: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
                .collect();
            json!({"name": group, "versions": entries, "preferredVersion": entries[0]})
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

pub(crate) fn resources(shared: &Shared, group: &str, version: &str) -> Response {
    let resources: Vec<Value> = served(shared)
        .into_iter()
        .filter(|(g, v, _, _)| g == group && v == version)
        .map(|(_, _, resource, namespaced)| {
            let kind = kind_for_resource(&resource);
            json!({
                "name": resource,
                "singularName": kind.to_ascii_lowercase(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": ["get", "list", "watch"]
            })
        })
        .collect();
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources
        }),
    )
}

/// (group, version, resource, namespaced), sorted and without duplicates.
fn served(shared: &Shared) -> Vec<(String, String, String, bool)> {
    let mut all: BTreeMap<(String, String, String), bool> = KNOWN_KINDS
        .iter()
        .map(|k| {
            let key = (
                k.group.to_owned(),
                k.version.to_owned(),
                k.resource.to_owned(),
            );
            (key, k.namespaced)
        })
        .collect();
    for (collection, namespaced) in shared.store().collections() {
        let key = (
            collection.group.clone(),
            collection.version.clone(),
            collection.resource.clone(),
        );
        all.entry(key)
            .or_insert_with(|| known_namespaced(&collection.resource).unwrap_or(namespaced));
    }
    all.into_iter().map(|((g, v, r), n)| (g, v, r, n)).collect()
}
