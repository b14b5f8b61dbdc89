//! `serving.knative.dev` kinds: the Knative Service, as a subscriber/sink address.

use crate::registry::Resource;

pub mod service;

/// Every resource of this group family.
pub fn resources() -> Vec<Resource> {
    vec![service::resource()]
}
