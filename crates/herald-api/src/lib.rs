//! Herald's resource model: every kind Herald serves, with its versions, defaults, validation,
//! condition sets and conversions. Pure data and functions: no I/O, no async.
//!
//! The API server and the controllers see kinds only through [`registry::Registry`], which maps
//! every served group/version/kind to one stored resource (its storage version).

pub mod conditions;
pub mod field;
pub mod meta;
pub mod object;
pub mod registry;
pub mod schema;
pub mod validation;

pub mod core;
pub mod eventing;
pub mod flows;
pub mod messaging;
pub mod serving;
pub mod sources;

pub use field::{FieldError, FieldErrors};
pub use object::Object;
pub use registry::{Registry, Resource, ServedVersion};

/// Every built-in resource, in discovery order.
pub fn all_resources() -> Vec<registry::Resource> {
    let mut all = Vec::new();
    all.extend(core::resources());
    all.extend(eventing::resources());
    all.extend(messaging::resources());
    all.extend(flows::resources());
    all.extend(sources::resources());
    all.extend(serving::resources());
    all
}
