//! The request log tests inspect: what the client asked, in order.

use axum::extract::Query;
use axum::http::Uri;

use crate::routes::{parse_path, Route};

/// One request as received, including those answered with an injected
/// fault. `query` is the raw query string without the `?`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
}

impl RequestRecord {
    /// The decoded value of a query parameter (the last one if repeated).
    pub fn param(&self, name: &str) -> Option<String> {
        parse_query(&self.query)
            .into_iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The resource of a collection or object URL (`pods`, `replicasets`).
    pub fn resource(&self) -> Option<String> {
        match parse_path(&self.path) {
            Route::Collection { collection, .. } | Route::Object { collection, .. } => {
                Some(collection.resource)
            }
            _ => None,
        }
    }

    /// A `GET` on a collection with `watch=true` (or `1`).
    pub fn is_watch(&self) -> bool {
        self.is_collection_get() && is_true(self.param("watch").as_deref())
    }

    /// A `GET` on a collection without `watch`: one list page.
    pub fn is_list(&self) -> bool {
        self.is_collection_get() && !is_true(self.param("watch").as_deref())
    }

    fn is_collection_get(&self) -> bool {
        self.method == "GET" && matches!(parse_path(&self.path), Route::Collection { .. })
    }
}

pub(crate) fn is_true(value: Option<&str>) -> bool {
    matches!(value, Some("true" | "1"))
}

/// Decoded `key=value` pairs of a query string; undecodable input yields
/// none, so a request with garbage in it is served as if it had no options.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    let Ok(uri) = format!("/?{query}").parse::<Uri>() else {
        return Vec::new();
    };
    Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|Query(pairs)| pairs)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(path: &str, query: &str) -> RequestRecord {
        RequestRecord {
            method: "GET".into(),
            path: path.into(),
            query: query.into(),
        }
    }

    #[test]
    fn classifies_kube_requests() {
        let watch = rec(
            "/api/v1/namespaces/ns/pods",
            "&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=12",
        );
        assert!(watch.is_watch());
        assert!(!watch.is_list());
        assert_eq!(watch.resource().as_deref(), Some("pods"));
        assert_eq!(watch.param("resourceVersion").as_deref(), Some("12"));
        let list = rec("/apis/apps/v1/replicasets", "&limit=500&continue=abc%3D");
        assert!(list.is_list());
        assert_eq!(list.param("continue").as_deref(), Some("abc="));
        assert_eq!(list.resource().as_deref(), Some("replicasets"));
        assert!(!rec("/api/v1/namespaces/ns/pods/p1", "").is_list());
        assert_eq!(rec("/version", "").resource(), None);
    }
}
