//! Applying a reconciler's child objects to the store (Sequence/Parallel channels and
//! subscriptions): create what is missing, update what drifted, delete what is no longer
//! wanted, and never touch an object the parent does not own.
//!
//! Ownership is the parent's UID in the child's `metadata.ownerReferences`; the store's owner
//! cascade garbage-collects the children when the parent is deleted. A same-named object
//! without that reference is left alone and reported (the reconciler also sees it through its
//! `View` and puts it in the parent's status).

use std::collections::BTreeSet;

use herald_store::{Store, StoreError};
use serde_json::{Map, Value};

use crate::reconcilers::Child;
use crate::view::str_at;

pub const CHANNELS: &str = "messaging.knative.dev/channels";
pub const IN_MEMORY_CHANNELS: &str = "messaging.knative.dev/inmemorychannels";
pub const SUBSCRIPTIONS: &str = "messaging.knative.dev/subscriptions";
pub const EVENT_TYPES: &str = "eventing.knative.dev/eventtypes";

/// The resources a parent kind may create children of: where stale children are looked for
/// (a Sequence whose channel template changed from InMemoryChannel to another kind leaves
/// InMemoryChannels behind that are no longer among its desired children).
pub fn child_resources(parent_resource: &str) -> &'static [&'static str] {
    match parent_resource {
        "flows.knative.dev/sequences" | "flows.knative.dev/parallels" => {
            &[CHANNELS, IN_MEMORY_CHANNELS, SUBSCRIPTIONS]
        }
        // Sources register the types they emit (the source-duck EventType reconciler).
        r if r.starts_with("sources.knative.dev/") || r.starts_with("sources.herald.dev/") => {
            &[EVENT_TYPES]
        }
        _ => &[],
    }
}

/// A controller ownerReference to `parent` (`apiVersion`, `kind`, `metadata.name`/`uid`).
pub fn controller_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> Value {
    serde_json::json!({
        "apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
        "controller": true, "blockOwnerDeletion": true,
    })
}

fn owner_refs(obj: &Value) -> impl Iterator<Item = &Value> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Whether `obj` has an ownerReference to `uid`.
pub fn owned_by(obj: &Value, uid: &str) -> bool {
    !uid.is_empty() && owner_refs(obj).any(|r| str_at(r, "/uid") == uid)
}

/// Whether `obj` has an ownerReference to `uid` with `controller: true`.
pub fn controlled_by(obj: &Value, uid: &str) -> bool {
    !uid.is_empty()
        && owner_refs(obj).any(|r| {
            str_at(r, "/uid") == uid && r.get("controller").and_then(Value::as_bool) == Some(true)
        })
}

/// What applying the children did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub deleted: Vec<String>,
    /// Desired children whose name is taken by an object the parent does not own.
    pub not_owned: Vec<String>,
}

impl Report {
    pub fn changed(&self) -> bool {
        !(self.created.is_empty() && self.updated.is_empty() && self.deleted.is_empty())
    }
}

/// Fields whose change cannot be applied in place: the child is deleted and re-created.
fn immutable_changed(resource: &str, old: &Value, new: &Value) -> bool {
    resource == SUBSCRIPTIONS && old.pointer("/spec/channel") != new.pointer("/spec/channel")
}

/// `existing` with the desired `spec`, ownerReferences and labels/annotations (desired keys
/// win, others are kept); status and the rest of the metadata are kept. `None` when nothing
/// differs.
fn merged(existing: &Value, desired: &Value) -> Option<Value> {
    let mut out = existing.clone();
    let spec_changed = existing.get("spec") != desired.get("spec");
    let obj = out.as_object_mut()?;
    match desired.get("spec") {
        Some(s) => obj.insert("spec".into(), s.clone()),
        None => obj.remove("spec"),
    };
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()?;
    for field in ["labels", "annotations"] {
        let Some(want) = desired.pointer(&format!("/metadata/{field}")) else {
            continue;
        };
        let Some(want) = want.as_object() else {
            continue;
        };
        let have = meta
            .entry(field)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(have) = have.as_object_mut() {
            for (k, v) in want {
                have.insert(k.clone(), v.clone());
            }
        }
    }
    match desired.pointer("/metadata/ownerReferences") {
        Some(r) => meta.insert("ownerReferences".into(), r.clone()),
        None => meta.remove("ownerReferences"),
    };
    if spec_changed {
        let g = meta.get("generation").and_then(Value::as_i64).unwrap_or(1);
        meta.insert("generation".into(), Value::from(g + 1));
    }
    (out != *existing).then_some(out)
}

/// The desired object as it is created: in the parent's namespace, generation 1, no status.
fn for_create(desired: &Value, namespace: &str) -> Value {
    let mut obj = desired.clone();
    if let Some(o) = obj.as_object_mut() {
        o.remove("status");
        if let Some(m) = o
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
        {
            m.insert("namespace".into(), Value::from(namespace));
            m.insert("generation".into(), Value::from(1));
            for k in ["resourceVersion", "uid", "creationTimestamp"] {
                m.remove(k);
            }
        }
    }
    obj
}

/// Ensures `children` of `parent` (stored at `parent_resource`) exist as desired and deletes
/// the parent's stale children. Any store error aborts (the runner retries the whole
/// reconcile; every step is idempotent).
pub fn apply(
    store: &Store,
    parent: &Value,
    parent_resource: &str,
    children: &[Child],
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let ns = str_at(parent, "/metadata/namespace");
    let uid = str_at(parent, "/metadata/uid");
    if uid.is_empty() {
        return Ok(report); // cannot own anything (never the case for stored objects)
    }
    let mut desired_keys = BTreeSet::new();
    for child in children {
        let name = str_at(&child.object, "/metadata/name");
        if name.is_empty() {
            continue;
        }
        desired_keys.insert((child.resource.as_str(), name));
        let label = format!("{}/{name}", child.resource);
        let desired = for_create(&child.object, ns);
        match store.get(&child.resource, ns, name)? {
            None => {
                store.create(&child.resource, desired)?;
                report.created.push(label);
            }
            Some(existing) if !owned_by(&existing, uid) => report.not_owned.push(label),
            Some(existing) if existing.pointer("/metadata/deletionTimestamp").is_some() => {
                // Being deleted (finalizers): re-created once it is gone.
            }
            Some(existing) if immutable_changed(&child.resource, &existing, &desired) => {
                let old_uid = str_at(&existing, "/metadata/uid");
                match store.delete(&child.resource, ns, name, Some(old_uid), None) {
                    Ok(_) | Err(StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
                store.create(&child.resource, desired)?;
                report.updated.push(label);
            }
            Some(existing) => {
                if let Some(updated) = merged(&existing, &desired) {
                    store.update(&child.resource, updated)?;
                    report.updated.push(label);
                }
            }
        }
    }
    // The parent may have been deleted while this reconcile ran: its owner cascade removed
    // the children that existed then, but not those created above. Checking after creating
    // covers every interleaving: then nothing is desired and every owned child goes.
    let name = str_at(parent, "/metadata/name");
    let parent_alive = store
        .get(parent_resource, ns, name)?
        .is_some_and(|p| str_at(&p, "/metadata/uid") == uid);
    if !parent_alive {
        desired_keys.clear();
    }
    let mut resources: BTreeSet<&str> = child_resources(parent_resource).iter().copied().collect();
    resources.extend(children.iter().map(|c| c.resource.as_str()));
    for resource in resources {
        let (items, _) = store.list(resource, Some(ns))?;
        for item in items {
            let name = str_at(&item, "/metadata/name");
            if desired_keys.contains(&(resource, name))
                || !controlled_by(&item, uid)
                || item.pointer("/metadata/deletionTimestamp").is_some()
            {
                continue;
            }
            let item_uid = str_at(&item, "/metadata/uid");
            match store.delete(resource, ns, name, Some(item_uid), None) {
                Ok(_) | Err(StoreError::NotFound { .. }) => {
                    report.deleted.push(format!("{resource}/{name}"))
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SEQS: &str = "flows.knative.dev/sequences";

    fn parent(store: &Store) -> Result<Value, StoreError> {
        store.create(
            SEQS,
            json!({"apiVersion": "flows.knative.dev/v1", "kind": "Sequence",
                   "metadata": {"namespace": "default", "name": "seq", "generation": 1}, "spec": {}}),
        )
    }

    fn child(resource: &str, name: &str, uid: &str, spec: Value) -> Child {
        let kind = match resource {
            SUBSCRIPTIONS => "Subscription",
            IN_MEMORY_CHANNELS => "InMemoryChannel",
            _ => "Channel",
        };
        Child {
            resource: resource.into(),
            object: json!({"apiVersion": "messaging.knative.dev/v1", "kind": kind,
                "metadata": {"name": name, "namespace": "default",
                             "ownerReferences": [controller_ref("flows.knative.dev/v1", "Sequence", "seq", uid)]},
                "spec": spec}),
        }
    }

    /// A reconcile that read its parent just before the parent was deleted must not leave the
    /// children it creates behind (the owner cascade ran before they existed).
    #[test]
    fn children_of_a_parent_deleted_meanwhile_are_removed() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let p = parent(&store)?;
        let uid = str_at(&p, "/metadata/uid").to_string();
        store.delete(SEQS, "default", "seq", None, None)?;
        let want = vec![
            child(CHANNELS, "seq-kn-sequence-0", &uid, json!({})),
            child(SUBSCRIPTIONS, "seq-kn-sequence-0", &uid, json!({})),
        ];
        apply(&store, &p, SEQS, &want)?;
        assert!(store.list(CHANNELS, Some("default"))?.0.is_empty());
        assert!(store.list(SUBSCRIPTIONS, Some("default"))?.0.is_empty());
        Ok(())
    }

    #[test]
    fn create_update_keep_status_delete_stale_and_leave_foreign_alone()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        let p = parent(&store)?;
        let uid = str_at(&p, "/metadata/uid").to_string();
        // A foreign object with a desired child's name.
        store.create(
            CHANNELS,
            json!({"apiVersion": "messaging.knative.dev/v1", "kind": "Channel",
                   "metadata": {"namespace": "default", "name": "seq-kn-sequence-1"}, "spec": {"x": 1}}),
        )?;
        let want = vec![
            child(CHANNELS, "seq-kn-sequence-0", &uid, json!({"a": 1})),
            child(CHANNELS, "seq-kn-sequence-1", &uid, json!({"a": 1})),
            child(
                SUBSCRIPTIONS,
                "seq-kn-sequence-0",
                &uid,
                json!({"channel": {"name": "c0"}}),
            ),
        ];
        let r = apply(&store, &p, SEQS, &want)?;
        assert_eq!(
            r.created,
            vec![
                "messaging.knative.dev/channels/seq-kn-sequence-0",
                "messaging.knative.dev/subscriptions/seq-kn-sequence-0"
            ]
        );
        assert_eq!(
            r.not_owned,
            vec!["messaging.knative.dev/channels/seq-kn-sequence-1"]
        );
        let foreign = store.get(CHANNELS, "default", "seq-kn-sequence-1")?;
        assert_eq!(foreign.map(|f| f["spec"].clone()), Some(json!({"x": 1})));
        let c0 = store
            .get(CHANNELS, "default", "seq-kn-sequence-0")?
            .unwrap_or_default();
        assert_eq!(c0["metadata"]["generation"], 1);
        assert_eq!(c0["metadata"]["ownerReferences"][0]["uid"], uid.as_str());

        // Nothing changed: nothing written.
        let r = apply(&store, &p, SEQS, &want)?;
        assert!(!r.changed(), "{r:?}");

        // A status written by the channel's reconciler survives a spec update.
        let mut c0 = c0;
        c0["status"] = json!({"address": {"url": "http://x"}});
        store.update(CHANNELS, c0)?;
        let want2 = vec![
            child(CHANNELS, "seq-kn-sequence-0", &uid, json!({"a": 2})),
            child(
                SUBSCRIPTIONS,
                "seq-kn-sequence-0",
                &uid,
                json!({"channel": {"name": "other"}}),
            ),
        ];
        let r = apply(&store, &p, SEQS, &want2)?;
        assert_eq!(r.updated.len(), 2, "{r:?}");
        let c0 = store
            .get(CHANNELS, "default", "seq-kn-sequence-0")?
            .unwrap_or_default();
        assert_eq!(c0["spec"], json!({"a": 2}));
        assert_eq!(c0["metadata"]["generation"], 2);
        assert_eq!(c0["status"]["address"]["url"], "http://x");
        let s0 = store
            .get(SUBSCRIPTIONS, "default", "seq-kn-sequence-0")?
            .unwrap_or_default();
        assert_eq!(s0["spec"]["channel"]["name"], "other");

        // Stale: a step removed. The foreign object stays.
        let r = apply(&store, &p, SEQS, &want2[..1])?;
        assert_eq!(
            r.deleted,
            vec!["messaging.knative.dev/subscriptions/seq-kn-sequence-0"]
        );
        assert!(
            store
                .get(SUBSCRIPTIONS, "default", "seq-kn-sequence-0")?
                .is_none()
        );
        assert!(
            store
                .get(CHANNELS, "default", "seq-kn-sequence-1")?
                .is_some()
        );

        // Deleting the parent garbage-collects its children.
        store.delete(SEQS, "default", "seq", None, None)?;
        assert!(
            store
                .get(CHANNELS, "default", "seq-kn-sequence-0")?
                .is_none()
        );
        assert!(
            store
                .get(CHANNELS, "default", "seq-kn-sequence-1")?
                .is_some()
        );
        Ok(())
    }

    #[test]
    fn ownership_predicates() {
        let o = json!({"metadata": {"ownerReferences": [
            {"uid": "a", "controller": true}, {"uid": "b"}]}});
        assert!(owned_by(&o, "a") && owned_by(&o, "b") && !owned_by(&o, "c"));
        assert!(controlled_by(&o, "a") && !controlled_by(&o, "b"));
        assert!(!owned_by(&o, "") && !controlled_by(&json!({}), "a"));
        assert_eq!(
            child_resources("eventing.knative.dev/brokers"),
            &[] as &[&str]
        );
    }
}
