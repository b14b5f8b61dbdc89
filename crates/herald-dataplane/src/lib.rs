//! Herald's data plane: the CloudEvents ingress, one log per Broker, one dispatcher per Trigger,
//! and delivery with Knative's semantics (retries, backoff, timeouts, dead-letter sinks,
//! replies). It is driven only by [`Plan`]s: it never reads the object store.

pub mod admit;
pub mod broker;
mod dataplane;
pub mod delivery;
mod dispatcher;
mod drain;
pub mod envelope;
mod ingress;
pub mod metrics;
pub mod observe;
pub mod plan;
mod router;
pub mod sender;
mod shared;
mod tail;

pub use dataplane::{DataPlane, DataPlaneError, PublishOrMissing};
pub use delivery::{BackoffPolicy, DeliveryPolicy, Format};
pub use plan::{BrokerKey, BrokerPlan, Plan, ReplyTo, Storage, StreamKind, TriggerPlan};
pub use shared::{Applied, DataPlaneConfig, MemoryLogLimits};
