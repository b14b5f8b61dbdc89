//! `messaging.knative.dev` kinds: Channel, InMemoryChannel, Subscription.

use crate::registry::Resource;

pub mod channel;
pub mod channelable;
pub mod inmemorychannel;
pub mod subscription;

/// Every resource of this group family.
pub fn resources() -> Vec<Resource> {
    vec![
        channel::resource(),
        inmemorychannel::resource(),
        subscription::resource(),
    ]
}
