//! HTTP entry point: logs the request, applies latency and injected
//! failures, then dispatches by URL shape. Routing is generic (any group,
//! version and resource name), so it is done by hand instead of with a fixed
//! set of axum routes.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use axum::Router;

use crate::kinds::Collection;
use crate::requests::{is_true, parse_query, RequestRecord};
use crate::shared::Shared;
use crate::status::status_response;
use crate::{discovery, list, watch};

/// What a URL names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    Version,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/api/v1`, `/apis/{group}/{version}`
    Resources {
        group: String,
        version: String,
    },
    Collection {
        collection: Collection,
        namespace: Option<String>,
    },
    Object {
        collection: Collection,
        namespace: Option<String>,
        name: String,
    },
    Unknown,
}

pub(crate) fn parse_path(path: &str) -> Route {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return Route::Version,
        ["api"] => return Route::CoreVersions,
        ["apis"] => return Route::Groups,
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Route::Unknown,
    };
    let collection = |resource: &str| Collection::new(group, version, resource);
    match rest {
        [] => Route::Resources {
            group: group.to_owned(),
            version: version.to_owned(),
        },
        [resource] => Route::Collection {
            collection: collection(resource),
            namespace: None,
        },
        ["namespaces", namespace, resource] => Route::Collection {
            collection: collection(resource),
            namespace: Some((*namespace).to_owned()),
        },
        ["namespaces", namespace, resource, name] => Route::Object {
            collection: collection(resource),
            namespace: Some((*namespace).to_owned()),
            name: (*name).to_owned(),
        },
        // Also `namespaces/{name}`: a Namespace is a cluster-scoped object.
        [resource, name] => Route::Object {
            collection: collection(resource),
            namespace: None,
            name: (*name).to_owned(),
        },
        _ => Route::Unknown,
    }
}

/// The query parameters of list and watch requests that the fake honours.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pub watch: bool,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub limit: Option<String>,
    pub continue_token: Option<String>,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub timeout_seconds: Option<String>,
    pub allow_watch_bookmarks: bool,
    pub send_initial_events: bool,
}

impl Params {
    fn parse(query: &str) -> Self {
        let mut params = Params::default();
        for (key, value) in parse_query(query) {
            match key.as_str() {
                "watch" => params.watch = is_true(Some(&value)),
                "resourceVersion" => params.resource_version = Some(value),
                "resourceVersionMatch" => params.resource_version_match = Some(value),
                "limit" => params.limit = Some(value),
                "continue" => params.continue_token = Some(value),
                "labelSelector" => params.label_selector = Some(value),
                "fieldSelector" => params.field_selector = Some(value),
                "timeoutSeconds" => params.timeout_seconds = Some(value),
                "allowWatchBookmarks" => params.allow_watch_bookmarks = is_true(Some(&value)),
                "sendInitialEvents" => params.send_initial_events = is_true(Some(&value)),
                _ => {}
            }
        }
        params
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    shared.requests().push(RequestRecord {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
    });

    let latency = shared.faults().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    // Decided after the delay: an outage that starts while a slow request
    // waits fails that request too.
    let failure = shared.faults().take_failure();
    if let Some((code, message)) = failure {
        return status_response(code, message);
    }
    if method != Method::GET {
        return status_response(
            405,
            &format!("the fake API server only serves GET (got {method}); change objects through FakeApiServer::apply/delete"),
        );
    }

    let params = Params::parse(&query);
    match parse_path(&path) {
        Route::Version => discovery::version(),
        Route::CoreVersions => discovery::core_versions(&shared),
        Route::Groups => discovery::groups(&shared),
        Route::Resources { group, version } => discovery::resources(&shared, &group, &version),
        Route::Collection {
            collection,
            namespace,
        } if params.watch => watch::serve(shared, collection, namespace, &params),
        Route::Collection {
            collection,
            namespace,
        } => list::list(&shared, &collection, namespace.as_deref(), &params),
        Route::Object { .. } if params.watch => status_response(
            400,
            "the fake API server does not watch a single object by its URL; \
             watch the collection with fieldSelector=metadata.name=NAME",
        ),
        Route::Object {
            collection,
            namespace,
            name,
        } => list::get(&shared, &collection, namespace, name),
        Route::Unknown => status_response(404, "the server could not find the requested resource"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("/api/v1/pods"),
            Route::Collection {
                collection: Collection::new("", "v1", "pods"),
                namespace: None
            }
        );
        assert_eq!(
            parse_path("/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices"),
            Route::Collection {
                collection: Collection::new("discovery.k8s.io", "v1", "endpointslices"),
                namespace: Some("kube-system".into())
            }
        );
        assert_eq!(
            parse_path("/apis/apps/v1/namespaces/a/replicasets/rs1"),
            Route::Object {
                collection: Collection::new("apps", "v1", "replicasets"),
                namespace: Some("a".into()),
                name: "rs1".into()
            }
        );
        assert_eq!(
            parse_path("/api/v1/namespaces/kube-system"),
            Route::Object {
                collection: Collection::new("", "v1", "namespaces"),
                namespace: None,
                name: "kube-system".into()
            }
        );
        assert_eq!(
            parse_path("/apis/batch/v1"),
            Route::Resources {
                group: "batch".into(),
                version: "v1".into()
            }
        );
        assert_eq!(parse_path("/api/v1/nodes/n1/status"), Route::Unknown);
        assert_eq!(parse_path("/healthz"), Route::Unknown);
    }
}
