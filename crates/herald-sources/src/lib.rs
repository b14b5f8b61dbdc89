//! Herald's event sources. Each source kind is a module with one job: turn something outside
//! (a clock, an API's changes, a process, a webhook) into CloudEvents sent to the source's
//! resolved sink. The runtime ([`Sources`]) is driven only by [`SourcePlan`]s, like the data
//! plane by its `Plan`: it never reads the object store, and reports per-generation readiness
//! back as data for the source reconcilers.

pub mod apiserver;
mod apiserver_events;
pub mod awssqs;
pub mod container;
pub mod cron;
pub mod emitter;
pub mod gcppubsub;
pub mod github;
pub mod gitlab;
pub mod kafka;
pub mod logs;
pub mod natsjetstream;
pub mod ping;
pub mod plan;
mod process;
pub mod rabbitmq;
mod receiver;
pub mod redisstream;
mod runtime;
pub mod tls;
pub mod webhook;

pub use emitter::{EmitError, Emitter};
pub use plan::{SinkTarget, SourceKey, SourceKind, SourcePlan};
pub use runtime::{ApiAccess, SourceContext, SourceStatus, Sources, SourcesConfig};
