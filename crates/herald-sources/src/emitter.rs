//! Sends a source's events to its sink: adds `ceOverrides` extensions (DP-57), fills `id` and
//! `time` when a source leaves them empty (DP-59), and retries like any other delivery — a
//! source that sends straight to a service must not lose events to a blip (the seeds'
//! "architecture 1").

use std::collections::BTreeMap;
use std::time::Duration;

use herald_ce::{AttrValue, Event};
use herald_dataplane::delivery::{Verdict, classify, parse_retry_after};
use herald_dataplane::sender::{self, Request};
use herald_dataplane::{DeliveryPolicy, Format};
use tokio_util::sync::CancellationToken;

/// Why an event did not reach the sink.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    #[error("the source has no resolved sink")]
    NoSink,
    #[error("the sink answered {status} after {attempts} attempt(s): {body}")]
    Rejected {
        status: u16,
        attempts: u32,
        body: String,
    },
    #[error("the sink could not be reached after {attempts} attempt(s): {error}")]
    Unreachable { attempts: u32, error: String },
    #[error("the source was stopped before the event was delivered")]
    Cancelled,
}

impl EmitError {
    /// The HTTP status the sink gave, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            EmitError::Rejected { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Retries a source makes by default: Knative's broker default (10 retries, exponential from
/// 200 ms, about 3.4 minutes in all).
pub fn default_policy() -> DeliveryPolicy {
    DeliveryPolicy {
        timeout: Some(Duration::from_secs(30)),
        ..DeliveryPolicy::broker_default()
    }
}

/// Sends events to one sink. Cheap to clone.
#[derive(Clone)]
pub struct Emitter {
    client: reqwest::Client,
    sink: Option<String>,
    overrides: BTreeMap<String, String>,
    policy: DeliveryPolicy,
}

impl Emitter {
    pub fn new(
        client: reqwest::Client,
        sink: Option<String>,
        overrides: BTreeMap<String, String>,
        policy: DeliveryPolicy,
    ) -> Self {
        Emitter {
            client,
            sink,
            overrides,
            policy,
        }
    }

    /// The same emitter with another retry policy (e.g. fewer retries for a webhook that must
    /// answer its caller quickly).
    pub fn with_policy(mut self, policy: DeliveryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn sink(&self) -> Option<&str> {
        self.sink.as_deref()
    }

    pub fn policy(&self) -> &DeliveryPolicy {
        &self.policy
    }

    /// The event as it goes out: overrides applied, `id` and `time` filled in.
    pub fn prepare(&self, mut event: Event) -> Event {
        for (k, v) in &self.overrides {
            event.set_extension(k, AttrValue::String(v.clone()));
        }
        if event.id.is_empty() {
            event.id = uuid::Uuid::new_v4().to_string();
        }
        if event.time.is_none() {
            event.time = Some(jiff::Timestamp::now().to_string());
        }
        event
    }

    /// Delivers one event, retrying per the policy; gives up early when `cancel` fires.
    pub async fn emit(&self, event: Event, cancel: &CancellationToken) -> Result<(), EmitError> {
        let Some(sink) = self.sink.as_deref() else {
            return Err(EmitError::NoSink);
        };
        let event = self.prepare(event);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let req = Request {
                uri: sink,
                event: &event,
                format: self.policy.format.unwrap_or(Format::Binary),
                headers: &[],
                namespace: None,
                prefer_reply: false,
                timeout: self.policy.timeout(),
            };
            let sent = tokio::select! {
                r = sender::send(&self.client, req) => r,
                _ = cancel.cancelled() => return Err(EmitError::Cancelled),
            };
            let (err, status, retry_after) = match sent {
                Ok(resp) => {
                    let verdict = classify(resp.status);
                    if verdict == Verdict::Success {
                        return Ok(());
                    }
                    let retry_after = resp
                        .headers
                        .get(http::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
                    let body = String::from_utf8_lossy(&resp.body[..resp.body.len().min(256)])
                        .into_owned();
                    let err = EmitError::Rejected {
                        status: resp.status,
                        attempts: attempt,
                        body,
                    };
                    if verdict == Verdict::Fail {
                        return Err(err);
                    }
                    (err, Some(resp.status), retry_after)
                }
                Err(e) => (
                    EmitError::Unreachable {
                        attempts: attempt,
                        error: e.to_string(),
                    },
                    None,
                    None,
                ),
            };
            if attempt > self.policy.retry {
                return Err(err);
            }
            let wait = self.policy.wait_before_retry(attempt, status, retry_after);
            tracing::debug!(
                sink,
                attempt,
                "source delivery failed, retrying in {wait:?}: {err}"
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => return Err(EmitError::Cancelled),
            }
        }
    }
}
