//! List (with `limit`/`continue` pagination) and single-object reads.
//!
//! A continue token names the resourceVersion of the first page and the last
//! key returned. Later pages are cut from the collection as it was at that
//! resourceVersion (the store rebuilds it from history), so a paginated list
//! is one consistent snapshot even when objects change between pages, as
//! with etcd. Once `compact()` drops that history the token expires with the
//! real 410 answer.

use std::ops::Bound;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::kinds::Collection;
use crate::routes::Params;
use crate::selectors::Selectors;
use crate::shared::Shared;
use crate::status::{json_response, status_response};
use crate::store::ObjectKey;

/// The real server's message for an expired continue token.
const CONTINUE_EXPIRED: &str =
    "The provided continue parameter is too old to display a consistent \
list result. You can start a new list without the continue parameter, or use the continue token \
in this response to retrieve the remainder of the results. Continuing with the provided token \
results in an inconsistent list - objects that were created, modified, or deleted between the time \
the first chunk was returned and now may show up in the list.";

pub(crate) fn list(
    shared: &Shared,
    collection: &Collection,
    namespace: Option<&str>,
    params: &Params,
) -> Response {
    let selectors = match Selectors::parse(
        params.label_selector.as_deref(),
        params.field_selector.as_deref(),
    ) {
        Ok(s) => s,
        Err(message) => return status_response(400, &message),
    };
    // limit=0 (or none) means "everything", as on the real server.
    let limit = match params.limit.as_deref().map(str::parse::<usize>) {
        None | Some(Ok(0)) => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return status_response(400, "limit: Invalid value: must be a non-negative integer")
        }
    };

    let store = shared.store();
    let current = store.resource_version();
    let (at, start_after) =
        if let Some(token) = params.continue_token.as_deref().filter(|t| !t.is_empty()) {
            match ContinueToken::decode(token) {
                Some(t) => (t.rv, Some(t.after)),
                None => {
                    return status_response(
                        400,
                        "continue key is not valid: could not decode the token",
                    )
                }
            }
        } else {
            match params.resource_version.as_deref() {
                // Unset: a consistent read of the latest state. "0": any state,
                // which the fake also serves from the latest one.
                None | Some("") | Some("0") => (current, None),
                Some(text) => {
                    let Ok(requested) = text.parse::<u64>() else {
                        return status_response(
                            400,
                            &format!("resourceVersion: Invalid value: {text:?}"),
                        );
                    };
                    if requested > current {
                        return status_response(
                            504,
                            &format!("Too large resource version: {requested}, current: {current}"),
                        );
                    }
                    match params.resource_version_match.as_deref() {
                        Some("Exact") => (requested, None),
                        _ => (current, None),
                    }
                }
            }
        };

    let objects = match store.snapshot(collection, at) {
        Ok(objects) => objects,
        Err(_) if start_after.is_some() => return status_response(410, CONTINUE_EXPIRED),
        Err(too_old) => return status_response(410, &too_old.message()),
    };
    let lower = match &start_after {
        Some(key) => Bound::Excluded(key),
        None => Bound::Unbounded,
    };
    let mut matching = objects
        .range::<ObjectKey, _>((lower, Bound::Unbounded))
        .filter(|((ns, _), object)| {
            (namespace.is_none() || ns.as_deref() == namespace) && selectors.matches(object)
        });
    let mut items = Vec::new();
    let mut last_key = None;
    for (key, object) in matching.by_ref() {
        if limit.is_some_and(|l| items.len() == l) {
            // One more exists: the page is full and a continue token is due.
            let remaining = 1 + matching.count();
            return respond(
                collection,
                at,
                items,
                last_key.map(|k| (k, remaining)),
                &selectors,
            );
        }
        items.push((**object).clone());
        last_key = Some(key.clone());
    }
    respond(collection, at, items, None, &selectors)
}

fn respond(
    collection: &Collection,
    at: u64,
    items: Vec<Value>,
    more: Option<(ObjectKey, usize)>,
    selectors: &Selectors,
) -> Response {
    let mut metadata = json!({ "resourceVersion": at.to_string() });
    if let Some((after, remaining)) = more {
        metadata["continue"] = ContinueToken { rv: at, after }.encode().into();
        // The real server cannot count cheaply under a selector and leaves
        // the count out then.
        if selectors.is_empty() {
            metadata["remainingItemCount"] = remaining.into();
        }
    }
    let body = json!({
        "apiVersion": collection.api_version(),
        "kind": format!("{}List", collection.kind()),
        "metadata": metadata,
        "items": items,
    });
    json_response(StatusCode::OK, &body)
}

pub(crate) fn get(
    shared: &Shared,
    collection: &Collection,
    namespace: Option<String>,
    name: String,
) -> Response {
    let found = shared.store().get(collection, &(namespace, name.clone()));
    match found {
        Some(object) => json_response(StatusCode::OK, &object),
        None => status_response(404, &format!("{} {name:?} not found", collection.resource)),
    }
}

/// Where the next page starts. Encoded as hex of a small JSON document: as
/// opaque to clients as the real (base64) token and safe in a URL.
#[derive(Debug, PartialEq)]
struct ContinueToken {
    rv: u64,
    after: ObjectKey,
}

impl ContinueToken {
    fn encode(&self) -> String {
        let doc = json!({ "rv": self.rv, "ns": self.after.0, "name": self.after.1 }).to_string();
        doc.bytes().map(|b| format!("{b:02x}")).collect()
    }

    fn decode(token: &str) -> Option<Self> {
        if !token.len().is_multiple_of(2) {
            return None;
        }
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let doc: Value = serde_json::from_slice(&bytes).ok()?;
        let namespace = match doc.get("ns")? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => return None,
        };
        Some(ContinueToken {
            rv: doc.get("rv")?.as_u64()?,
            after: (namespace, doc.get("name")?.as_str()?.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        for after in [
            (None, "n1".to_owned()),
            (Some("kube-system".to_owned()), "p\"q".to_owned()),
        ] {
            let token = ContinueToken { rv: 42, after };
            assert_eq!(ContinueToken::decode(&token.encode()), Some(token));
        }
        assert_eq!(ContinueToken::decode("zz"), None);
        assert_eq!(ContinueToken::decode("abc"), None);
    }
}
