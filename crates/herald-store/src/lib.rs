//! Herald's versioned object store on redb.
//!
//! Objects are JSON documents keyed by (resource key, namespace, name), where the resource key
//! is `herald_api::Resource::key()` (`eventing.knative.dev/brokers`, `core/namespaces`). Every
//! write bumps one global revision, the `resourceVersion`, and appends a watch event to a
//! persisted history so watches resume across restarts; a watch from a revision older than the
//! retained history fails with [`StoreError::Gone`] (HTTP 410).
//!
//! API SKELETON: signatures are fixed; bodies are being implemented by the store work.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

/// A resourceVersion: the global revision of the store.
pub type Rv = u64;

/// The kind of change a watch event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// `ADDED`, `MODIFIED` or `DELETED`, as in a Kubernetes `WatchEvent`.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change. `object` is the stored JSON after the change (for `Deleted`, the last state,
/// with the deletion's resourceVersion).
#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub type_: EventType,
    /// The resource key (`Resource::key()`).
    pub resource: String,
    pub namespace: String,
    pub name: String,
    pub rv: Rv,
    pub object: Arc<Value>,
}

/// Store failures; each maps to one Kubernetes status code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// 409 AlreadyExists
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists { resource: String, name: String },
    /// 404 NotFound
    #[error("{resource} \"{name}\" not found")]
    NotFound { resource: String, name: String },
    /// 409 Conflict (stale resourceVersion or uid precondition)
    #[error(
        "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict { resource: String, name: String },
    /// 410 Gone: the requested resourceVersion is older than the retained history.
    #[error("too old resource version: {requested} ({oldest})")]
    Gone { requested: Rv, oldest: Rv },
    /// 400: the object lacks metadata.name or has malformed metadata.
    #[error("{0}")]
    Invalid(String),
    /// 500: the database failed.
    #[error("storage error: {0}")]
    Storage(String),
}

/// Result of a delete.
#[derive(Debug, Clone)]
pub enum Deleted {
    /// The object is gone (finalizers were empty); the last state.
    Gone(Value),
    /// The object has finalizers: `deletionTimestamp` was set and it stays until they are removed.
    Pending(Value),
}

/// A live watch: historical events after the requested revision, then live ones.
pub struct Watch {
    _private: (),
}

impl Watch {
    /// The next event, or `None` when the watch ended (the store shut down or the consumer
    /// fell too far behind; clients then re-list, as with a Kubernetes watch timeout).
    pub async fn next(&mut self) -> Option<WatchEvent> {
        todo!()
    }
}

/// The object store. Cheap to clone (shared handle).
#[derive(Clone)]
pub struct Store {
    _private: Arc<()>,
}

impl Store {
    /// Opens (or creates) the store in `dir` (created with mode 0700; the database file is
    /// 0600 because it holds Secrets).
    pub fn open(_dir: &Path) -> Result<Store, StoreError> {
        todo!()
    }

    /// The current global revision.
    pub fn current_rv(&self) -> Rv {
        todo!()
    }

    /// One object, or `None`.
    pub fn get(&self, _resource: &str, _namespace: &str, _name: &str) -> Result<Option<Value>, StoreError> {
        todo!()
    }

    /// All objects of a resource, in one namespace or all (`None`), sorted by namespace then
    /// name, with the revision the list is consistent at.
    pub fn list(&self, _resource: &str, _namespace: Option<&str>) -> Result<(Vec<Value>, Rv), StoreError> {
        todo!()
    }

    /// Creates an object. The store sets `metadata.uid`, `creationTimestamp` and
    /// `resourceVersion` (and generates `metadata.name` from `generateName` when needed);
    /// every other field is stored as given.
    pub fn create(&self, _resource: &str, _obj: Value) -> Result<Value, StoreError> {
        todo!()
    }

    /// Replaces an object. If `metadata.resourceVersion` is set it must equal the stored one
    /// (else Conflict). `uid` and `creationTimestamp` are kept from the stored object. If the
    /// object has a `deletionTimestamp` and no finalizers left, it is deleted instead.
    pub fn update(&self, _resource: &str, _obj: Value) -> Result<Value, StoreError> {
        todo!()
    }

    /// Deletes an object. With finalizers it only gets a `deletionTimestamp`. Deleting cascades:
    /// objects whose `ownerReferences` name the deleted uid are deleted too, and deleting a
    /// Namespace deletes everything in it (the namespace stays `Terminating` while objects
    /// with finalizers remain). `uid`/`rv` are optional preconditions.
    pub fn delete(
        &self,
        _resource: &str,
        _namespace: &str,
        _name: &str,
        _uid: Option<&str>,
        _rv: Option<&str>,
    ) -> Result<Deleted, StoreError> {
        todo!()
    }

    /// Watches changes with revision > `since` (or only future changes for `None`), filtered
    /// by resource and namespace when given. `Gone` when `since` is older than the history.
    pub fn watch(&self, _resource: Option<&str>, _namespace: Option<&str>, _since: Option<Rv>) -> Result<Watch, StoreError> {
        todo!()
    }
}
