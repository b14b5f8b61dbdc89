//! Read access to other objects for reconcilers: the store in production, a map in tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use herald_store::Store;
use serde_json::Value;

/// Read-only access to stored objects (storage form JSON), by resource key
/// (`herald_api::Resource::key()`), namespace and name.
pub trait View {
    fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value>;
    fn list(&self, resource: &str, namespace: &str) -> Vec<Value>;
}

/// A view over the store. A store failure must not look like "not found" (that would write a
/// wrong status), so the first error is kept and the runner retries the reconcile instead.
pub struct StoreView<'a> {
    store: &'a Store,
    error: Mutex<Option<String>>,
}

impl<'a> StoreView<'a> {
    pub fn new(store: &'a Store) -> Self {
        StoreView {
            store,
            error: Mutex::new(None),
        }
    }

    /// The first store error seen during the reconcile, if any.
    pub fn take_error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    fn record(&self, e: impl ToString) {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert_with(|| e.to_string());
        }
    }
}

impl View for StoreView<'_> {
    fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        match self.store.get(resource, namespace, name) {
            Ok(v) => v,
            Err(e) => {
                self.record(e);
                None
            }
        }
    }

    fn list(&self, resource: &str, namespace: &str) -> Vec<Value> {
        match self.store.list(resource, Some(namespace)) {
            Ok((items, _)) => items,
            Err(e) => {
                self.record(e);
                Vec::new()
            }
        }
    }
}

/// An in-memory view (table tests, tools).
#[derive(Debug, Default, Clone)]
pub struct MemoryView {
    objects: BTreeMap<(String, String, String), Value>,
}

impl MemoryView {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an object under `resource`, keyed by its `metadata.namespace`/`metadata.name`.
    pub fn insert(&mut self, resource: &str, obj: Value) {
        let ns = str_at(&obj, "/metadata/namespace").to_string();
        let name = str_at(&obj, "/metadata/name").to_string();
        self.objects.insert((resource.to_string(), ns, name), obj);
    }

    /// Builder form of [`MemoryView::insert`].
    pub fn with(mut self, resource: &str, obj: Value) -> Self {
        self.insert(resource, obj);
        self
    }
}

impl View for MemoryView {
    fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        self.objects
            .get(&(
                resource.to_string(),
                namespace.to_string(),
                name.to_string(),
            ))
            .cloned()
    }

    fn list(&self, resource: &str, namespace: &str) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((r, ns, _), _)| r == resource && ns == namespace)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// The string at a JSON pointer, or `""`.
pub fn str_at<'v>(v: &'v Value, pointer: &str) -> &'v str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}
