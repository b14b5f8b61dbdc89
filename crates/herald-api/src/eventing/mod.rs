//! `eventing.knative.dev` kinds: Broker, Trigger, EventType, KafkaSink.

use crate::registry::Resource;

pub mod broker;
pub mod eventtype;
pub mod kafkasink;
pub mod support;
pub mod trigger;

#[cfg(test)]
mod manifest_tests;

/// Every resource of this group family.
pub fn resources() -> Vec<Resource> {
    vec![
        broker::resource(),
        trigger::resource(),
        eventtype::resource(),
        kafkasink::resource(),
    ]
}
