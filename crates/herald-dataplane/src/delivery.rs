//! Delivery policy: Knative's `DeliverySpec` resolved into durations, and the pure rules that
//! decide what a response means (reference §3, DP-37..DP-44). No I/O here.

use std::time::Duration;

use base64::Engine;
use herald_ce::{AttrValue, Event};

/// Bytes of an error response kept in `knativeerrordata` (before base64), per DESIGN.md.
pub const ERROR_DATA_BYTES: usize = 1024;

/// `delivery.backoffPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackoffPolicy {
    Linear,
    #[default]
    Exponential,
}

/// `delivery.format`: forces the HTTP content mode of deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Structured mode (`application/cloudevents+json`).
    Json,
    /// Binary mode (`ce-*` headers).
    Binary,
}

/// The per-attempt timeout used when `delivery.timeout` is unset. Knative's core dispatcher has
/// none (a hung subscriber holds a slot forever); Kafka's is 600 s. Herald bounds it so a stuck
/// subscriber turns into retries and, eventually, the dead-letter sink.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The effective delivery of one Trigger (its own `delivery`, else its Broker's).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryPolicy {
    /// Retries after the first attempt (`retry`); total attempts = retry + 1.
    pub retry: u32,
    pub backoff_policy: BackoffPolicy,
    /// `backoffDelay`; `None` means retries are immediate (as Knative when unset).
    pub backoff_delay: Option<Duration>,
    /// Per-attempt timeout (`timeout`), else [`DEFAULT_TIMEOUT`].
    pub timeout: Option<Duration>,
    /// `retryAfterMax`: when set, `Retry-After` on 429/503 is honoured up to this bound.
    pub retry_after_max: Option<Duration>,
    /// Resolved `deadLetterSink` URI.
    pub dead_letter_sink: Option<String>,
    pub format: Option<Format>,
}

/// What one response (or the lack of one) means for the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered (2xx).
    Success,
    /// Failed, worth another attempt.
    Retry,
    /// Failed for good: no retry (straight to the dead-letter sink, if any).
    Fail,
}

/// Response-code semantics of the Knative data-plane spec (DP-37): 2xx success; 404, 408, 409,
/// 429 and 5xx retried; every other code (1xx, 3xx, 400, 401, 403, other 4xx) is a failure that
/// is not retried. Codes outside the table (e.g. 418) are not retried, like Knative's dispatchers
/// (the spec's SHOULD, DP-38, is documented as a deviation in docs/delivery.md).
pub fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Success,
        404 | 408 | 409 | 429 | 500..=599 => Verdict::Retry,
        _ => Verdict::Fail,
    }
}

impl DeliveryPolicy {
    /// Knative's shipped Broker default: `retry: 10, backoffPolicy: exponential, backoffDelay: PT0.2S`.
    pub fn broker_default() -> Self {
        DeliveryPolicy {
            retry: 10,
            backoff_policy: BackoffPolicy::Exponential,
            backoff_delay: Some(Duration::from_millis(200)),
            ..Default::default()
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    /// The wait before retry `k` (k = 1..=retry): `delay·k` (linear) or `delay·2^k`
    /// (exponential), as Knative's API documents (DESIGN.md). Saturates instead of overflowing.
    pub fn backoff(&self, k: u32) -> Duration {
        let Some(delay) = self.backoff_delay else {
            return Duration::ZERO;
        };
        let factor: u32 = match self.backoff_policy {
            BackoffPolicy::Linear => k,
            BackoffPolicy::Exponential => 1u32.checked_shl(k.min(31)).unwrap_or(u32::MAX),
        };
        delay.saturating_mul(factor)
    }

    /// The wait before retry `k` after a response with `status` and an optional parsed
    /// `Retry-After`: the backoff, raised to `min(Retry-After, retryAfterMax)` for 429/503 when
    /// `retryAfterMax` is set (Knative's `delivery-retryafter` semantics; `PT0S` ignores it).
    pub fn wait_before_retry(
        &self,
        k: u32,
        status: Option<u16>,
        retry_after: Option<Duration>,
    ) -> Duration {
        let backoff = self.backoff(k);
        match (status, retry_after, self.retry_after_max) {
            (Some(429 | 503), Some(ra), Some(max)) => backoff.max(ra.min(max)),
            _ => backoff,
        }
    }
}

/// Parses `Retry-After` (delay-seconds or an HTTP-date) relative to `now`.
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let delta = when.as_millisecond() - now.as_millisecond();
    Some(Duration::from_millis(delta.max(0) as u64))
}

/// Marks an event for its dead-letter sink the way Knative does (DP-41..43): `knativeerrordest`
/// (where delivery failed), `knativeerrorcode` (the last HTTP status, 500 when there was none)
/// and, when the failed answer had a body, `knativeerrordata` (its first
/// [`ERROR_DATA_BYTES`], base64).
pub fn set_dead_letter_extensions(event: &mut Event, dest: &str, status: Option<u16>, body: &[u8]) {
    event.set_extension("knativeerrordest", AttrValue::Uri(dest.to_string()));
    event.set_extension(
        "knativeerrorcode",
        AttrValue::Integer(i64::from(status.unwrap_or(500))),
    );
    if !body.is_empty() {
        let head = &body[..body.len().min(ERROR_DATA_BYTES)];
        event.set_extension(
            "knativeerrordata",
            AttrValue::String(base64::engine::general_purpose::STANDARD.encode(head)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_matches_the_spec_table() {
        let cases = [
            (100, Verdict::Fail),
            (200, Verdict::Success),
            (202, Verdict::Success),
            (204, Verdict::Success),
            (301, Verdict::Fail),
            (400, Verdict::Fail),
            (401, Verdict::Fail),
            (403, Verdict::Fail),
            (404, Verdict::Retry),
            (408, Verdict::Retry),
            (409, Verdict::Retry),
            (410, Verdict::Fail),
            (418, Verdict::Fail),
            (429, Verdict::Retry),
            (500, Verdict::Retry),
            (502, Verdict::Retry),
            (503, Verdict::Retry),
            (599, Verdict::Retry),
        ];
        for (code, want) in cases {
            assert_eq!(classify(code), want, "{code}");
        }
    }

    #[test]
    fn backoff_formulas() {
        let ms = Duration::from_millis;
        let lin = DeliveryPolicy {
            backoff_policy: BackoffPolicy::Linear,
            backoff_delay: Some(ms(100)),
            ..Default::default()
        };
        let exp = DeliveryPolicy {
            backoff_policy: BackoffPolicy::Exponential,
            ..lin.clone()
        };
        for (k, l, e) in [(1, 100, 200), (2, 200, 400), (3, 300, 800), (5, 500, 3200)] {
            assert_eq!(lin.backoff(k), ms(l), "linear {k}");
            assert_eq!(exp.backoff(k), ms(e), "exponential {k}");
        }
        assert_eq!(DeliveryPolicy::default().backoff(3), Duration::ZERO);
        assert!(exp.backoff(200) >= ms(100));
    }

    #[test]
    fn retry_after_only_with_max_and_429_or_503() {
        let s = Duration::from_secs;
        let base = DeliveryPolicy {
            backoff_policy: BackoffPolicy::Linear,
            backoff_delay: Some(Duration::from_millis(100)),
            ..Default::default()
        };
        let capped = DeliveryPolicy {
            retry_after_max: Some(s(5)),
            ..base.clone()
        };
        assert_eq!(
            base.wait_before_retry(1, Some(429), Some(s(3))),
            Duration::from_millis(100)
        );
        assert_eq!(capped.wait_before_retry(1, Some(429), Some(s(3))), s(3));
        assert_eq!(capped.wait_before_retry(1, Some(503), Some(s(30))), s(5));
        assert_eq!(
            capped.wait_before_retry(1, Some(500), Some(s(3))),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn retry_after_parsing() {
        let now = jiff::Timestamp::from_second(1_700_000_000).unwrap_or_default();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("soon", now), None);
        let date = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&(now + jiff::SignedDuration::from_secs(4)))
            .unwrap_or_default();
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(4)));
    }
}
