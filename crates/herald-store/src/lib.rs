//! Herald's versioned object store on redb.
//!
//! Objects are JSON documents keyed by (resource key, namespace, name), where the resource key
//! is `herald_api::Resource::key()` (`eventing.knative.dev/brokers`, `core/namespaces`). Every
//! write bumps one global revision, the `resourceVersion`, and appends a watch event to a
//! persisted history so watches resume across restarts; a watch from a revision older than the
//! retained history fails with [`StoreError::Gone`] (HTTP 410).
//!
//! Layout (see `db.rs`): an `objects` table keyed by (resource, namespace, name), two indexes
//! (owner uid -> dependents for garbage collection, namespace -> contents for namespace
//! deletion), a `meta` table with the current revision and a `history` table (rv -> event)
//! trimmed to the newest [`StoreOptions::history_limit`] events. Writes are serialized by one
//! mutex held across the redb commit and the broadcast to live watches, so watches see events
//! in revision order.

use std::sync::Arc;

mod db;
mod obj;
mod store;
mod watch;

pub use store::{Store, StoreOptions};
pub use watch::Watch;

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
