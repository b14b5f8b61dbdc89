//! Source kinds (`sources.knative.dev`, plus the seeds' legacy `sources.eventing.knative.dev`
//! endpoints served from the same storage). One module per kind.

use crate::registry::Resource;

pub mod apiserver;
pub mod awssqs;
pub mod container;
pub mod gcppubsub;
pub mod github;
pub mod gitlab;
pub mod kafka;
pub mod natsjetstream;
pub mod ping;
pub mod rabbitmq;
pub mod redisstream;
pub mod sinkbinding;
pub mod support;

/// Every resource of this group family.
pub fn resources() -> Vec<Resource> {
    vec![
        apiserver::resource(),
        container::resource(),
        ping::resource(),
        sinkbinding::resource(),
        kafka::resource(),
        github::resource(),
        gitlab::resource(),
        gcppubsub::resource(),
        awssqs::resource(),
        natsjetstream::resource(),
        redisstream::resource(),
        rabbitmq::resource(),
    ]
}
