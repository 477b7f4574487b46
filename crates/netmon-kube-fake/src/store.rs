//! Objects and their change history: the fake's etcd.
//!
//! Like etcd behind a real API server there is one resourceVersion counter
//! for everything; each create, update and delete takes the next number. The
//! history keeps every change after `compacted_rv` with the object's previous
//! state, which serves three things: watches resumed from an old
//! resourceVersion, lists at an exact past resourceVersion (the snapshot a
//! paginated list keeps returning), and the 410 answers once a version has
//! been compacted away.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{json_type, Error};
use crate::kinds::Collection;
use crate::meta::{now_rfc3339, UidGenerator};

/// Namespace (None when cluster-scoped) and name. The derived order (None
/// first, then by namespace, then by name) is etcd's key order, so lists come
/// out in the order a real server returns them.
pub(crate) type ObjectKey = (Option<String>, String);

pub(crate) type Objects = BTreeMap<ObjectKey, Arc<Value>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change. `object` is what a watch sends (for a delete: the last state
/// with the delete's resourceVersion); `prev` the state before the change.
pub(crate) struct HistoryEvent {
    pub rv: u64,
    pub collection: Collection,
    pub key: ObjectKey,
    pub event_type: EventType,
    pub object: Arc<Value>,
    pub prev: Option<Arc<Value>>,
}

/// A resourceVersion older than the history reaches back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TooOld {
    pub requested: u64,
    pub oldest: u64,
}

impl TooOld {
    /// The message the real API server sends with its 410.
    pub fn message(&self) -> String {
        format!(
            "too old resource version: {} ({})",
            self.requested, self.oldest
        )
    }
}

pub(crate) struct Store {
    rv: u64,
    /// Every change with a resourceVersion above this is in `history`.
    compacted_rv: u64,
    objects: HashMap<Collection, Objects>,
    history: VecDeque<HistoryEvent>,
    uids: UidGenerator,
}

impl Store {
    pub fn new() -> Self {
        Store {
            rv: 0,
            compacted_rv: 0,
            objects: HashMap::new(),
            history: VecDeque::new(),
            uids: UidGenerator::new(),
        }
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Creates or replaces the object named by its apiVersion, kind,
    /// namespace and name; returns it as stored.
    pub fn apply(&mut self, mut object: Value) -> Result<Value, Error> {
        let (collection, key) = identify(&object)?;
        let prev = self
            .objects
            .get(&collection)
            .and_then(|objects| objects.get(&key))
            .cloned();
        let rv = self.rv + 1;
        let metadata = object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or(Error::MissingField("metadata.name"))?;
        metadata.insert("resourceVersion".into(), Value::String(rv.to_string()));
        // An update keeps the identity and age of the object it replaces, as
        // the real server does for a PUT without them.
        let inherited = |field: &str| {
            prev.as_ref()
                .and_then(|p| p.pointer(&format!("/metadata/{field}")))
                .cloned()
        };
        if !metadata.contains_key("uid") {
            let uid = inherited("uid").unwrap_or_else(|| Value::String(self.uids.next_uid()));
            metadata.insert("uid".into(), uid);
        }
        if !metadata.contains_key("creationTimestamp") {
            let created = inherited("creationTimestamp").unwrap_or_else(|| now_rfc3339().into());
            metadata.insert("creationTimestamp".into(), created);
        }
        self.rv = rv;
        let stored = Arc::new(object);
        self.objects
            .entry(collection.clone())
            .or_default()
            .insert(key.clone(), stored.clone());
        let event_type = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.history.push_back(HistoryEvent {
            rv,
            collection,
            key,
            event_type,
            object: stored.clone(),
            prev,
        });
        Ok((*stored).clone())
    }

    /// Removes an object; returns its last state carrying the delete's
    /// resourceVersion, which is what the DELETED event sends.
    pub fn delete(&mut self, collection: Collection, key: ObjectKey) -> Result<Value, Error> {
        let Some(prev) = self
            .objects
            .get_mut(&collection)
            .and_then(|objects| objects.remove(&key))
        else {
            return Err(Error::NotFound {
                collection: format!("{}/{}", collection.api_version(), collection.resource),
                namespace: key.0,
                name: key.1,
            });
        };
        self.rv += 1;
        let mut last = (*prev).clone();
        if let Some(metadata) = last.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.insert("resourceVersion".into(), Value::String(self.rv.to_string()));
        }
        let last = Arc::new(last);
        self.history.push_back(HistoryEvent {
            rv: self.rv,
            collection,
            key,
            event_type: EventType::Deleted,
            object: last.clone(),
            prev: Some(prev),
        });
        Ok((*last).clone())
    }

    pub fn get(&self, collection: &Collection, key: &ObjectKey) -> Option<Arc<Value>> {
        self.objects.get(collection)?.get(key).cloned()
    }

    /// Forgets all history: resourceVersions older than the current one can no
    /// longer be watched from or listed at.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted_rv = self.rv;
    }

    /// Changes after `rv`, oldest first, or `TooOld` if some were forgotten.
    pub fn events_after(
        &self,
        rv: u64,
    ) -> Result<impl Iterator<Item = &HistoryEvent> + '_, TooOld> {
        if rv < self.compacted_rv {
            return Err(self.too_old(rv));
        }
        let start = self.history.partition_point(|e| e.rv <= rv);
        Ok(self.history.range(start..))
    }

    /// The collection's objects as they were at resourceVersion `at`, rebuilt
    /// by undoing later changes.
    pub fn snapshot(&self, collection: &Collection, at: u64) -> Result<Cow<'_, Objects>, TooOld> {
        static EMPTY: Objects = BTreeMap::new();
        let current = self.objects.get(collection).unwrap_or(&EMPTY);
        if at >= self.rv {
            return Ok(Cow::Borrowed(current));
        }
        let later = self.events_after(at)?;
        let mut objects = current.clone();
        for event in later.collect::<Vec<_>>().into_iter().rev() {
            if &event.collection != collection {
                continue;
            }
            match &event.prev {
                Some(prev) => objects.insert(event.key.clone(), prev.clone()),
                None => objects.remove(&event.key),
            };
        }
        Ok(Cow::Owned(objects))
    }

    pub fn too_old(&self, requested: u64) -> TooOld {
        TooOld {
            requested,
            oldest: self.compacted_rv,
        }
    }

    /// Every collection that has held an object, with whether its objects are
    /// namespaced (as far as the stored objects tell).
    pub fn collections(&self) -> impl Iterator<Item = (&Collection, bool)> + '_ {
        self.objects.iter().map(|(collection, objects)| {
            let namespaced = objects.keys().any(|(ns, _)| ns.is_some());
            (collection, namespaced)
        })
    }
}

/// The collection and key an object belongs to, from its own fields.
pub(crate) fn identify(object: &Value) -> Result<(Collection, ObjectKey), Error> {
    let fields = object
        .as_object()
        .ok_or_else(|| Error::NotAnObject(json_type(object)))?;
    let api_version = required_str(fields, "apiVersion")?;
    let kind = required_str(fields, "kind")?;
    let metadata = match fields.get("metadata") {
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(Error::WrongType {
                field: "metadata",
                found: json_type(other),
            })
        }
        None => return Err(Error::MissingField("metadata.name")),
    };
    let name = match metadata.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(Error::MissingField("metadata.name")),
    };
    let namespace = match metadata.get("namespace") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(Error::WrongType {
                field: "metadata.namespace",
                found: json_type(other),
            })
        }
    };
    Ok((Collection::for_kind(api_version, kind), (namespace, name)))
}

fn required_str<'a>(fields: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, Error> {
    match fields.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(Error::MissingField(field)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ns: &str, name: &str, phase: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": ns}, "status": {"phase": phase}})
    }

    fn names(objects: &Objects) -> Vec<String> {
        objects.keys().map(|(_, n)| n.clone()).collect()
    }

    #[test]
    fn snapshot_undoes_later_changes() {
        let pods = Collection::new("", "v1", "pods");
        let mut s = Store::new();
        s.apply(pod("a", "p1", "Pending")).unwrap();
        s.apply(pod("a", "p2", "Pending")).unwrap();
        let at = s.resource_version();
        s.apply(pod("a", "p1", "Running")).unwrap();
        s.apply(pod("a", "p3", "Pending")).unwrap();
        s.delete(pods.clone(), (Some("a".into()), "p2".into()))
            .unwrap();
        assert_eq!(
            names(&s.snapshot(&pods, s.resource_version()).unwrap()),
            ["p1", "p3"]
        );
        let then = s.snapshot(&pods, at).unwrap();
        assert_eq!(names(&then), ["p1", "p2"]);
        assert_eq!(
            then[&(Some("a".into()), "p1".into())]["status"]["phase"],
            "Pending"
        );
        s.compact();
        assert_eq!(
            s.snapshot(&pods, at).unwrap_err().message(),
            "too old resource version: 2 (5)"
        );
    }

    #[test]
    fn updates_keep_uid_and_creation_time() {
        let mut s = Store::new();
        let first = s.apply(pod("a", "p1", "Pending")).unwrap();
        let second = s.apply(pod("a", "p1", "Running")).unwrap();
        assert_eq!(first["metadata"]["uid"], second["metadata"]["uid"]);
        assert_eq!(
            first["metadata"]["creationTimestamp"],
            second["metadata"]["creationTimestamp"]
        );
        assert_eq!(second["metadata"]["resourceVersion"], "2");
    }
}
