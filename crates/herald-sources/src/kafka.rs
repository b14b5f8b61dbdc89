//! KafkaSource (issue 8): consumes topics as `consumers` members of a consumer group and sends
//! each record to the sink as a CloudEvent, committing a record's offset only after the sink
//! (or the dead-letter sink) accepted its event. Records are fetched with `rskafka` (pure Rust,
//! tokio); the group membership and offset requests it lacks are hand-rolled (`wire`: encoding,
//! `group`: I/O, `assignor`: the consumer protocol). Behind the `kafka` feature.

#[cfg(feature = "kafka")]
mod assignor;
#[cfg(feature = "kafka")]
mod consumer;
#[cfg(feature = "kafka")]
mod group;
#[cfg(feature = "kafka")]
mod partition;
#[cfg(feature = "kafka")]
mod record;
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
