//! RabbitmqSource (issue 8): consumes a RabbitMQ queue and sends each message to the sink as a
//! CloudEvent, acknowledging it only after the sink accepted the event. The AMQP client is
//! `amqprs` (tokio-native, 4 crates on top of Herald's tree), behind the `rabbitmq` feature.

#[cfg(feature = "rabbitmq")]
mod config;
#[cfg(feature = "rabbitmq")]
mod consumer;
#[cfg(feature = "rabbitmq")]
mod message;

use crate::runtime::SourceContext;

/// Runs the source until `ctx.cancel` fires.
pub async fn run(ctx: SourceContext) {
    #[cfg(feature = "rabbitmq")]
    consumer::run(ctx).await;
    #[cfg(not(feature = "rabbitmq"))]
    {
        ctx.failed(
            "NotBuilt",
            "Herald was built without the `rabbitmq` feature",
        );
        ctx.cancel.cancelled().await;
    }
}
