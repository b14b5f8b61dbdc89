//! `flows.knative.dev` kinds: Sequence, Parallel.

use crate::registry::Resource;

pub mod parallel;
pub mod sequence;

/// Every resource of this group family.
pub fn resources() -> Vec<Resource> {
    vec![sequence::resource(), parallel::resource()]
}
