//! AwsSqsSource: long-polls an SQS queue and sends each message as Knative's (deprecated)
//! eventing-awssqs `aws.sqs.message` event ([`event`]).
//!
//! At-least-once: a message is deleted only after the sink accepted its event; when delivery
//! finally fails (after the emitter's retries) or Herald stops first, the message stays in the
//! queue and SQS makes it visible again once its visibility timeout expires — SQS's own
//! redelivery, and its redrive policy (a dead-letter queue after `maxReceiveCount`) is what
//! parks poison messages, so Herald needs no dead-letter sink of its own. A failed delete only
//! means a later duplicate, as in eventing-awssqs.

mod client;
mod config;
mod event;
mod sigv4;

use std::time::Duration;

use crate::emitter::EmitError;
use crate::runtime::SourceContext;

pub use event::EVENT_TYPE;

/// The secrets key of `spec.awsCredsSecret` (a SecretKeySelector, resolved by the planner).
const CREDS_SECRET: &str = "/awsCredsSecret";

/// Runs the source until `ctx.cancel` fires.
pub async fn run(ctx: SourceContext) {
    let key = ctx.key().clone();
    let secret = ctx.plan.secrets.get(CREDS_SECRET).map(String::as_str);
    let target = match config::resolve(&ctx.plan.spec, secret, &config::Env::from_process()) {
        Ok(t) => t,
        Err(e) => {
            ctx.failed(e.reason(), e.to_string());
            ctx.cancel.cancelled().await;
            return;
        }
    };
    let http = ctx.config.client.clone();
    let mut failures: u32 = 0;
    // The first poll, and the first after a failure, is a short one so readiness is known at
    // once rather than after a 20 s long poll on an empty queue.
    let mut healthy = false;
    loop {
        let wait = if healthy { client::MAX_WAIT_SECONDS } else { 0 };
        let polled = tokio::select! {
            r = client::receive(&http, &target, wait) => r,
            _ = ctx.cancel.cancelled() => return,
        };
        let messages = match polled {
            Ok(m) => m,
            Err(e) => {
                healthy = false;
                failures = failures.saturating_add(1);
                let wait = backoff(failures);
                tracing::warn!(source = %key, "polling {} failed, retrying in {wait:?}: {e}", target.queue_url);
                ctx.failed(e.reason(), e.to_string());
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = ctx.cancel.cancelled() => return,
                }
            }
        };
        failures = 0;
        healthy = true;
        ctx.ready();
        for m in messages {
            let event = event::to_event(&target.queue_url, &m, jiff::Timestamp::now());
            match ctx.emitter.emit(event, &ctx.cancel).await {
                Ok(()) => {
                    let Some(handle) = m.receipt_handle.as_deref() else {
                        continue;
                    };
                    if let Err(e) = client::delete(&http, &target, handle).await {
                        tracing::warn!(source = %key, "delivered message {:?} could not be deleted (SQS will redeliver it): {e}", m.message_id);
                    }
                }
                Err(EmitError::Cancelled) => return,
                Err(e) => tracing::warn!(
                    source = %key,
                    "message {:?} was not delivered; it stays in the queue for SQS to redeliver after its visibility timeout: {e}",
                    m.message_id
                ),
            }
        }
    }
}

/// The wait before the `n`th consecutive poll retry: 1 s doubling to at most 10 s.
fn backoff(n: u32) -> Duration {
    let secs = 1u64 << n.saturating_sub(1).min(4);
    Duration::from_secs(secs.min(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let got: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 10, 10, 10]);
    }
}
