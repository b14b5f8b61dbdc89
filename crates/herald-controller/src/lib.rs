//! Herald's controller: pure reconcilers (object + view of the others + environment → status),
//! destination (Addressable) resolution, and the runner that does the I/O against the store.
//!
//! Addresses Herald hands out (stable; the data plane serves them on the ingress listener):
//!
//! | kind | `status.address.url` |
//! |---|---|
//! | Broker | `<ingress>/<namespace>/<name>` |
//! | Channel, InMemoryChannel | `<ingress>/channels/<namespace>/<name>` |
//! | Sequence, Parallel | the address of their first channel: `<ingress>/channels/<namespace>/<name>-kn-sequence-0`, `…/<name>-kn-parallel` |
//! | core / serving Service | the `herald.dev/url` annotation (core `ExternalName`: `http://<externalName>[:<port>]`) |
//!
//! Until the data plane reports readiness ([`ControllerEnv::with_data_plane`]), data-plane
//! conditions are False with reason `DataPlaneUnavailable` and sources' runtime conditions False
//! with reason `NotImplemented`, so nothing claims `Ready=True` for behaviour that is not there.

pub mod children;
pub mod deps;
pub mod env;
pub mod queue;
pub mod reconcilers;
pub mod resolve;
pub mod runner;
pub mod uri;
pub mod view;

#[cfg(test)]
mod testing;

pub use env::{ControllerEnv, DataPlaneKind, DataPlaneReadiness, DataPlaneStatus, Env};
pub use reconcilers::{Child, Outcome};
pub use resolve::{ResolveError, Resolved, resolve};
pub use runner::{Controller, Requeue};
pub use view::{MemoryView, StoreView, View};
