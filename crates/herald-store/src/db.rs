//! Tables and the write-transaction helpers (put, remove, cascading delete).
//!
//! Every write goes through [`Txn`], which assigns consecutive revisions, keeps the two indexes
//! in step with `objects`, appends each change to `history` and collects the events to broadcast
//! once the transaction has committed.

use std::collections::HashSet;
use std::fmt::Display;
use std::sync::Arc;

use redb::{
    MultimapTable, MultimapTableDefinition, ReadableMultimapTable, ReadableTable, Table,
    TableDefinition, WriteTransaction,
};
use serde_json::Value;

use crate::obj::{self, NAMESPACES};
use crate::{Deleted, EventType, Rv, StoreError, WatchEvent};

/// (resource, namespace, name); sorting by it gives a resource's objects by (namespace, name).
pub(crate) type ObjKey = (&'static str, &'static str, &'static str);
/// (event type, resource, namespace, name, object JSON): filterable without parsing the JSON.
pub(crate) type HistVal = (u8, &'static str, &'static str, &'static str, &'static [u8]);

pub(crate) const OBJECTS: TableDefinition<ObjKey, &[u8]> = TableDefinition::new("objects");
/// owner uid -> dependents, for ownerReference garbage collection without a full scan.
pub(crate) const OWNERS: MultimapTableDefinition<&str, ObjKey> =
    MultimapTableDefinition::new("owners");
/// (namespace, resource, name) of every namespaced object: what deleting a Namespace empties,
/// and how we know a terminating Namespace became empty.
pub(crate) const NS_INDEX: TableDefinition<ObjKey, ()> = TableDefinition::new("namespace_contents");
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const HISTORY: TableDefinition<u64, HistVal> = TableDefinition::new("history");
/// `meta` key of the current revision.
pub(crate) const META_RV: &str = "rv";

pub(crate) fn storage<E: Display>(e: E) -> StoreError {
    StoreError::Storage(e.to_string())
}

pub(crate) fn event_code(t: EventType) -> u8 {
    match t {
        EventType::Added => 0,
        EventType::Modified => 1,
        EventType::Deleted => 2,
    }
}

pub(crate) fn event_type(code: u8) -> EventType {
    match code {
        0 => EventType::Added,
        1 => EventType::Modified,
        _ => EventType::Deleted,
    }
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Value, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Storage(format!("corrupt object: {e}")))
}

fn encode(v: &Value) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(storage)
}

type Key3 = (String, String, String);

/// An open write transaction with all tables.
pub(crate) struct Txn<'t> {
    objects: Table<'t, ObjKey, &'static [u8]>,
    owners: MultimapTable<'t, &'static str, ObjKey>,
    ns_index: Table<'t, ObjKey, ()>,
    history: Table<'t, u64, HistVal>,
    meta: Table<'t, &'static str, u64>,
    /// The last revision assigned (the store's current one before the first write).
    pub rv: Rv,
    /// Changes made so far, in revision order.
    pub events: Vec<WatchEvent>,
}

impl<'t> Txn<'t> {
    pub fn open(w: &'t WriteTransaction) -> Result<Txn<'t>, StoreError> {
        let meta = w.open_table(META).map_err(storage)?;
        let rv = meta
            .get(META_RV)
            .map_err(storage)?
            .map(|g| g.value())
            .unwrap_or(0);
        Ok(Txn {
            objects: w.open_table(OBJECTS).map_err(storage)?,
            owners: w.open_multimap_table(OWNERS).map_err(storage)?,
            ns_index: w.open_table(NS_INDEX).map_err(storage)?,
            history: w.open_table(HISTORY).map_err(storage)?,
            meta,
            rv,
            events: Vec::new(),
        })
    }

    /// Records the revision and trims history to the newest `limit` events.
    pub fn finish(&mut self, limit: u64) -> Result<(), StoreError> {
        self.meta.insert(META_RV, self.rv).map_err(storage)?;
        let bound = self.rv.saturating_sub(limit);
        loop {
            let first = self
                .history
                .first()
                .map_err(storage)?
                .map(|(k, _)| k.value());
            match first {
                Some(k) if k <= bound => {
                    self.history.remove(k).map_err(storage)?;
                }
                _ => return Ok(()),
            }
        }
    }

    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Result<Option<Value>, StoreError> {
        match self.objects.get((resource, ns, name)).map_err(storage)? {
            Some(g) => Ok(Some(decode(g.value())?)),
            None => Ok(None),
        }
    }

    fn record(
        &mut self,
        t: EventType,
        resource: &str,
        ns: &str,
        name: &str,
        obj: &Value,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.history
            .insert(self.rv, (event_code(t), resource, ns, name, bytes))
            .map_err(storage)?;
        self.events.push(WatchEvent {
            type_: t,
            resource: resource.to_string(),
            namespace: ns.to_string(),
            name: name.to_string(),
            rv: self.rv,
            object: Arc::new(obj.clone()),
        });
        Ok(())
    }

    /// Writes `obj` at a new revision (ADDED when `old` is None, else MODIFIED) and returns it
    /// as stored.
    pub fn put(
        &mut self,
        resource: &str,
        ns: &str,
        name: &str,
        mut obj: Value,
        old: Option<&Value>,
    ) -> Result<Value, StoreError> {
        self.rv += 1;
        obj::set_meta(
            &mut obj,
            "resourceVersion",
            Value::String(self.rv.to_string()),
        );
        let bytes = encode(&obj)?;
        self.objects
            .insert((resource, ns, name), bytes.as_slice())
            .map_err(storage)?;
        let old_owners = old.map(obj::owner_uids).unwrap_or_default();
        let new_owners = obj::owner_uids(&obj);
        for u in old_owners.iter().filter(|u| !new_owners.contains(u)) {
            self.owners
                .remove(u.as_str(), (resource, ns, name))
                .map_err(storage)?;
        }
        for u in new_owners.iter().filter(|u| !old_owners.contains(u)) {
            self.owners
                .insert(u.as_str(), (resource, ns, name))
                .map_err(storage)?;
        }
        if !ns.is_empty() {
            self.ns_index
                .insert((ns, resource, name), ())
                .map_err(storage)?;
        }
        let t = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(t, resource, ns, name, &obj, &bytes)?;
        Ok(obj)
    }

    /// Removes an object at a new revision (DELETED) and returns its last state. No cascade.
    fn remove(
        &mut self,
        resource: &str,
        ns: &str,
        name: &str,
        mut last: Value,
    ) -> Result<Value, StoreError> {
        self.rv += 1;
        obj::set_meta(
            &mut last,
            "resourceVersion",
            Value::String(self.rv.to_string()),
        );
        self.objects.remove((resource, ns, name)).map_err(storage)?;
        for u in obj::owner_uids(&last) {
            self.owners
                .remove(u.as_str(), (resource, ns, name))
                .map_err(storage)?;
        }
        if !ns.is_empty() {
            self.ns_index
                .remove((ns, resource, name))
                .map_err(storage)?;
        }
        let bytes = encode(&last)?;
        self.record(EventType::Deleted, resource, ns, name, &last, &bytes)?;
        Ok(last)
    }

    /// Whether any namespaced object remains in `ns`.
    pub fn ns_has_contents(&self, ns: &str) -> Result<bool, StoreError> {
        let mut r = self.ns_index.range((ns, "", "")..).map_err(storage)?;
        match r.next() {
            Some(e) => {
                let (k, _) = e.map_err(storage)?;
                Ok(k.value().0 == ns)
            }
            None => Ok(false),
        }
    }

    /// (resource, name) of everything in `ns`.
    fn ns_contents(&self, ns: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for e in self.ns_index.range((ns, "", "")..).map_err(storage)? {
            let (k, _) = e.map_err(storage)?;
            let (kns, res, name) = k.value();
            if kns != ns {
                break;
            }
            out.push((res.to_string(), name.to_string()));
        }
        Ok(out)
    }

    /// Objects whose ownerReferences name `uid`.
    fn dependents(&self, uid: &str) -> Result<Vec<Key3>, StoreError> {
        let mut out = Vec::new();
        for v in self.owners.get(uid).map_err(storage)? {
            let g = v.map_err(storage)?;
            let (r, ns, n) = g.value();
            out.push((r.to_string(), ns.to_string(), n.to_string()));
        }
        Ok(out)
    }

    /// Deletes `obj` (already loaded from its key) by the finalizer rule and cascades.
    pub fn delete(
        &mut self,
        resource: &str,
        ns: &str,
        name: &str,
        obj: Value,
    ) -> Result<Deleted, StoreError> {
        let mut visiting = HashSet::new();
        self.delete_rec(resource, ns, name, obj, &mut visiting)
    }

    fn delete_rec(
        &mut self,
        resource: &str,
        ns: &str,
        name: &str,
        mut obj: Value,
        visiting: &mut HashSet<Key3>,
    ) -> Result<Deleted, StoreError> {
        // An ownerReference cycle must not recurse forever: each object is handled once.
        if !visiting.insert((resource.to_string(), ns.to_string(), name.to_string())) {
            return Ok(Deleted::Pending(obj));
        }
        if resource == NAMESPACES {
            for (res, n) in self.ns_contents(name)? {
                if let Some(child) = self.get(&res, name, &n)? {
                    self.delete_rec(&res, name, &n, child, visiting)?;
                }
            }
        }
        let blocked =
            obj::has_finalizers(&obj) || (resource == NAMESPACES && self.ns_has_contents(name)?);
        if blocked {
            let old = obj.clone();
            let mut changed = obj::mark_deleting(&mut obj);
            if resource == NAMESPACES {
                changed |= obj::set_terminating(&mut obj);
            }
            if changed {
                obj = self.put(resource, ns, name, obj, Some(&old))?;
            }
            return Ok(Deleted::Pending(obj));
        }
        let last = self.remove(resource, ns, name, obj)?;
        self.after_removed(resource, ns, &last, visiting)?;
        Ok(Deleted::Gone(last))
    }

    /// Cascades after an object is gone: its dependents, and its Namespace if that was
    /// terminating and is now empty.
    fn after_removed(
        &mut self,
        resource: &str,
        ns: &str,
        last: &Value,
        visiting: &mut HashSet<Key3>,
    ) -> Result<(), StoreError> {
        let uid = obj::obj_str(last, "uid");
        if !uid.is_empty() {
            for (r, n_ns, n) in self.dependents(uid)? {
                if let Some(child) = self.get(&r, &n_ns, &n)? {
                    self.delete_rec(&r, &n_ns, &n, child, visiting)?;
                }
            }
        }
        if !ns.is_empty() && resource != NAMESPACES {
            self.maybe_finish_namespace(ns, visiting)?;
        }
        Ok(())
    }

    /// Removes a terminating Namespace once it is empty and has no finalizers of its own.
    fn maybe_finish_namespace(
        &mut self,
        ns: &str,
        visiting: &mut HashSet<Key3>,
    ) -> Result<(), StoreError> {
        // A Namespace being deleted by this very cascade is finished by its own delete.
        let key = (NAMESPACES.to_string(), String::new(), ns.to_string());
        if visiting.contains(&key) {
            return Ok(());
        }
        let Some(nso) = self.get(NAMESPACES, "", ns)? else {
            return Ok(());
        };
        if obj::is_deleting(&nso) && !obj::has_finalizers(&nso) && !self.ns_has_contents(ns)? {
            visiting.insert(key);
            let last = self.remove(NAMESPACES, "", ns, nso)?;
            self.after_removed(NAMESPACES, "", &last, visiting)?;
        }
        Ok(())
    }

    /// Completes a deletion that an update unblocked (finalizers removed): removes the object
    /// and cascades, or for a non-empty Namespace keeps it terminating.
    pub fn finish_deletion(
        &mut self,
        resource: &str,
        ns: &str,
        name: &str,
        obj: Value,
        old: &Value,
    ) -> Result<Value, StoreError> {
        if resource == NAMESPACES && self.ns_has_contents(name)? {
            let mut obj = obj;
            obj::set_terminating(&mut obj);
            return self.put(resource, ns, name, obj, Some(old));
        }
        let mut visiting = HashSet::new();
        visiting.insert((resource.to_string(), ns.to_string(), name.to_string()));
        let last = self.remove(resource, ns, name, obj)?;
        self.after_removed(resource, ns, &last, &mut visiting)?;
        Ok(last)
    }
}
