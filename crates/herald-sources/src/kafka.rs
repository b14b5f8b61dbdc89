//! KafkaSource (issue 8): consumes topics as `consumers` members of a consumer group and sends
//! each record to the sink as a CloudEvent, committing a record's offset only after the sink
//! (or the dead-letter sink) accepted its event. Records are fetched with `rskafka` (pure Rust,
//! tokio); the group membership and offset requests it lacks are hand-rolled (`wire`: encoding,
//! `group`: I/O, `assignor`: the consumer protocol). Behind the `kafka` feature.
//!
//! KafkaSink, its counterpart, writes the CloudEvents it receives to a topic (`sink.rs`,
//! encoded by `encode.rs`, placed by `partitioner.rs`).

#[cfg(feature = "kafka")]
mod assignor;
#[cfg(feature = "kafka")]
mod client;
#[cfg(feature = "kafka")]
mod consumer;
#[cfg(feature = "kafka")]
mod encode;
#[cfg(feature = "kafka")]
mod group;
#[cfg(feature = "kafka")]
mod partition;
#[cfg(feature = "kafka")]
mod partitioner;
#[cfg(feature = "kafka")]
mod record;
#[cfg(feature = "kafka")]
mod sink;
#[cfg(feature = "kafka")]
mod window;
#[cfg(feature = "kafka")]
mod wire;

use crate::runtime::SourceContext;

/// Runs the source until `ctx.cancel` fires.
pub async fn run(ctx: SourceContext) {
    #[cfg(feature = "kafka")]
    consumer::run(ctx).await;
    #[cfg(not(feature = "kafka"))]
    {
        ctx.failed("NotBuilt", "Herald was built without the `kafka` feature");
        ctx.cancel.cancelled().await;
    }
}

/// Runs a KafkaSink until `ctx.cancel` fires.
pub async fn run_sink(ctx: SourceContext) {
    #[cfg(feature = "kafka")]
    sink::run(ctx).await;
    #[cfg(not(feature = "kafka"))]
    {
        ctx.failed("NotBuilt", "Herald was built without the `kafka` feature");
        ctx.cancel.cancelled().await;
    }
}
