//! `messaging` kinds (filled in by the kinds work).

use crate::registry::Resource;

/// Every resource of this group family.
pub fn resources() -> Vec<Resource> {
    Vec::new()
}
