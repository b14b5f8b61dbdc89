//! PingSource (and the legacy CronJobSource, stored as a PingSource): sends one
//! `dev.knative.sources.ping` event per tick of a cron schedule.
//!
//! Each tick is sent by its own task so a slow sink never delays later ticks; at most
//! [`MAX_IN_FLIGHT`] ticks may be undelivered at once, further ticks are dropped with a warning.
//! Only future ticks fire: ticks missed while Herald was down (or while the process was
//! suspended) are not replayed, like Knative's mtping. Unlike mtping there is no 0–500 ms
//! random jitter: it spreads many adapters' load in a cluster, while Herald is one process and a
//! per-second schedule should fire on the second.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use herald_api::sources::ping::{DEFAULT_SCHEDULE, PingSourceSpec, decode_base64};
use herald_ce::{Data, Event};
use jiff::Timestamp;
use tokio::sync::Semaphore;

use crate::cron::Schedule;
use crate::emitter::Emitter;
use crate::runtime::SourceContext;

/// The type of every PingSource event.
pub const EVENT_TYPE: &str = "dev.knative.sources.ping";

/// Ticks that may be in delivery at once before new ticks are dropped.
pub const MAX_IN_FLIGHT: usize = 16;

/// Why a PingSource spec cannot run (admission should have rejected it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("the spec does not decode: {0}")]
    Decode(String),
    #[error("{0}")]
    Schedule(#[from] crate::cron::CronError),
    #[error("spec.dataBase64 is not valid base64")]
    Base64,
}

impl SpecError {
    fn reason(&self) -> &'static str {
        match self {
            SpecError::Schedule(_) => "InvalidSchedule",
            SpecError::Decode(_) | SpecError::Base64 => "InvalidSpec",
        }
    }
}

/// What one PingSource sends, decoded once per generation.
#[derive(Debug, Clone)]
pub struct Ping {
    pub schedule: Schedule,
    /// Every tick's event, without `id` and `time` (the emitter fills them per send).
    pub event: Event,
}

/// The event source attribute: `/apis/v1/namespaces/<ns>/pingsources/<name>`.
pub fn source_attr(namespace: &str, name: &str) -> String {
    format!("/apis/v1/namespaces/{namespace}/pingsources/{name}")
}

impl Ping {
    /// Decodes a storage-form PingSource spec.
    pub fn from_spec(
        spec: &serde_json::Value,
        namespace: &str,
        name: &str,
    ) -> Result<Ping, SpecError> {
        let spec: PingSourceSpec =
            serde_json::from_value(spec.clone()).map_err(|e| SpecError::Decode(e.to_string()))?;
        let schedule = if spec.schedule.is_empty() {
            DEFAULT_SCHEDULE
        } else {
            &spec.schedule
        };
        let schedule = Schedule::parse(schedule, &spec.timezone)?;
        let data = if !spec.data_base64.is_empty() {
            Some(decode_base64(&spec.data_base64).ok_or(SpecError::Base64)?)
        } else if !spec.data.is_empty() {
            Some(spec.data.into_bytes())
        } else {
            None
        };
        let mut event = Event::new("", source_attr(namespace, name), EVENT_TYPE);
        event.datacontenttype = (!spec.content_type.is_empty()).then_some(spec.content_type);
        event.data = data.map(|d| Data::Binary(Bytes::from(d)));
        Ok(Ping { schedule, event })
    }
}

/// Runs the source until `ctx.cancel` fires.
pub async fn run(ctx: SourceContext) {
    let key = ctx.key().clone();
    let ping = match Ping::from_spec(&ctx.plan.spec, &key.namespace, &key.name) {
        Ok(p) => p,
        Err(e) => {
            ctx.failed(e.reason(), e.to_string());
            ctx.cancel.cancelled().await;
            return;
        }
    };
    ctx.ready();
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut after = Timestamp::now();
    loop {
        let Some(tick) = ping.schedule.next_after(after) else {
            tracing::info!(source = %key, "the schedule has no further ticks");
            ctx.cancel.cancelled().await;
            return;
        };
        tokio::select! {
            _ = sleep_until(tick) => {}
            _ = ctx.cancel.cancelled() => return,
        }
        match in_flight.clone().try_acquire_owned() {
            Ok(permit) => {
                let (emitter, event, cancel, key) = (
                    ctx.emitter.clone(),
                    ping.event.clone(),
                    ctx.cancel.clone(),
                    key.clone(),
                );
                tokio::spawn(async move {
                    send(&emitter, event, &cancel, &key).await;
                    drop(permit);
                });
            }
            Err(_) => tracing::warn!(
                source = %key,
                %tick,
                "dropping a tick: {MAX_IN_FLIGHT} earlier ticks are still being delivered"
            ),
        }
        after = resume_after(&ping.schedule, tick, Timestamp::now());
    }
}

/// Where to look for the tick after `tick`: from `tick` itself (no drift), unless the next one is
/// already past at `now` — ticks missed while the process could not run are skipped, not replayed.
fn resume_after(schedule: &Schedule, tick: Timestamp, now: Timestamp) -> Timestamp {
    match schedule.next_after(tick) {
        Some(next) if next < now => now,
        _ => tick,
    }
}

async fn send(
    emitter: &Emitter,
    event: Event,
    cancel: &tokio_util::sync::CancellationToken,
    key: &crate::plan::SourceKey,
) {
    if let Err(e) = emitter.emit(event, cancel).await {
        tracing::warn!(source = %key, "a ping event was not delivered: {e}");
    }
}

/// Sleeps until the wall clock reaches `at` (re-checking, since timers run on the monotonic
/// clock and the wall clock may be stepped meanwhile).
async fn sleep_until(at: Timestamp) {
    loop {
        let left = at.duration_since(Timestamp::now());
        if left <= jiff::SignedDuration::ZERO {
            return;
        }
        let left = Duration::try_from(left).unwrap_or(Duration::from_secs(1));
        // Wake at least once a minute to notice wall clock steps.
        tokio::time::sleep(left.min(Duration::from_secs(60))).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn event_from_spec() {
        type Check = fn(&Result<Ping, SpecError>);
        let cases: Vec<(serde_json::Value, Check)> = vec![
            (
                json!({"schedule": "* * * * *", "data": "{\"a\":1}", "contentType": "application/json"}),
                |p| {
                    let e = &p.as_ref().unwrap().event;
                    assert_eq!(e.ty, EVENT_TYPE);
                    assert_eq!(e.source, "/apis/v1/namespaces/ns/pingsources/p");
                    assert_eq!(e.datacontenttype.as_deref(), Some("application/json"));
                    assert_eq!(e.data.as_ref().unwrap().as_bytes(), b"{\"a\":1}");
                    assert!(e.id.is_empty() && e.time.is_none());
                },
            ),
            (
                json!({"schedule": "@hourly", "dataBase64": "AAEC/w=="}),
                |p| {
                    let e = &p.as_ref().unwrap().event;
                    assert_eq!(e.data.as_ref().unwrap().as_bytes(), &[0u8, 1, 2, 255]);
                    assert_eq!(e.datacontenttype, None);
                },
            ),
            (json!({}), |p| {
                // An empty schedule is Knative's default (every minute); no data, no body.
                let p = p.as_ref().unwrap();
                assert!(p.event.data.is_none());
                let t: Timestamp = "2024-01-01T00:00:10Z".parse().unwrap();
                assert_eq!(
                    p.schedule.next_after(t).unwrap().to_string(),
                    "2024-01-01T00:01:00Z"
                );
            }),
            (json!({"schedule": "* * *"}), |p| {
                assert_eq!(p.as_ref().unwrap_err().reason(), "InvalidSchedule");
            }),
            (
                json!({"schedule": "* * * * *", "timezone": "Mars/Olympus"}),
                |p| assert_eq!(p.as_ref().unwrap_err().reason(), "InvalidSchedule"),
            ),
            (json!({"schedule": "* * * * *", "dataBase64": "%%%"}), |p| {
                assert_eq!(p.as_ref().unwrap_err(), &SpecError::Base64);
            }),
            (json!({"schedule": 5}), |p| {
                assert_eq!(p.as_ref().unwrap_err().reason(), "InvalidSpec");
            }),
        ];
        for (spec, check) in cases {
            check(&Ping::from_spec(&spec, "ns", "p"));
        }
    }

    #[test]
    fn missed_ticks_are_skipped_not_replayed() {
        let s = Schedule::parse("* * * * * *", "UTC").unwrap();
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        // (tick just fired, now, next tick to fire)
        let cases = [
            // On time: the very next second, even if `now` is a little past the tick.
            (
                "2024-01-01T00:00:10Z",
                "2024-01-01T00:00:10.3Z",
                "2024-01-01T00:00:11Z",
            ),
            // Late by more than a tick (suspended): resume after now, skipping 11..=14.
            (
                "2024-01-01T00:00:10Z",
                "2024-01-01T00:00:14.5Z",
                "2024-01-01T00:00:15Z",
            ),
        ];
        for (tick, now, want) in cases {
            let after = resume_after(&s, t(tick), t(now));
            assert_eq!(s.next_after(after).unwrap(), t(want), "{tick} {now}");
        }
    }
}
