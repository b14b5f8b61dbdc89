//! One dispatcher per Trigger: reads the broker's log from the Trigger's cursor, filters, and
//! delivers with retries, replies and dead-lettering. The cursor advances only past events that
//! are done (delivered, dead-lettered, dropped or filtered out), so a crash redelivers but never
//! loses. At most `concurrency` deliveries are in flight (1 when ordered), so a slow subscriber
//! leaves its backlog in the log, not in memory, and never slows other Triggers.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use herald_ce::{AttrValue, Event};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::admit::{TTL_EXTENSION, ttl_of};
use crate::broker::BrokerRuntime;
use crate::delivery::{self, Format, Verdict};
use crate::envelope::{Envelope, passthrough_headers};
use crate::metrics::{add, inc};
use crate::plan::TriggerPlan;
use crate::sender::{self, Request, Response};
use crate::shared::Shared;

/// Records read from the log per batch.
const READ_BATCH: usize = 256;
const READ_BYTES: usize = 4 * 1024 * 1024;
/// Bytes of an error response kept in `knativeerrordata` (before base64), per DESIGN.md.
const ERROR_DATA_BYTES: usize = 1024;

/// A running dispatcher.
pub struct DispatcherHandle {
    pub plan: watch::Sender<Arc<TriggerPlan>>,
    pub cancel: CancellationToken,
}

impl DispatcherHandle {
    pub fn start(shared: Arc<Shared>, broker: Arc<BrokerRuntime>, plan: Arc<TriggerPlan>) -> Self {
        let (tx, rx) = watch::channel(plan);
        let cancel = shared.shutdown.child_token();
        tokio::spawn(run(shared, broker, rx, cancel.clone()));
        DispatcherHandle { plan: tx, cancel }
    }
}

impl Drop for DispatcherHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Which offsets are in flight, to compute the cursor: the lowest offset not yet done.
struct Progress {
    in_flight: BTreeSet<u64>,
    next_read: u64,
    committed: u64,
}

impl Progress {
    fn commit_point(&self) -> u64 {
        self.in_flight.first().copied().unwrap_or(self.next_read)
    }
}

fn commit(broker: &BrokerRuntime, uid: &str, progress: &Mutex<Progress>) {
    let Ok(mut p) = progress.lock() else { return };
    let point = p.commit_point();
    if point <= p.committed {
        return;
    }
    p.committed = point;
    // Under the lock, so concurrent completions store the cursor in increasing order. Cheap:
    // the log keeps cursors in memory and persists them in the background.
    if let Err(e) = broker.log.set_cursor(uid, point) {
        tracing::warn!(broker = %broker.key, trigger = uid, "cannot store the cursor: {e}");
    }
}

async fn run(
    shared: Arc<Shared>,
    broker: Arc<BrokerRuntime>,
    mut plan_rx: watch::Receiver<Arc<TriggerPlan>>,
    cancel: CancellationToken,
) {
    let plan = plan_rx.borrow_and_update().clone();
    let uid = plan.uid.clone();
    let log = broker.log.clone();
    let start = match log.cursor(&uid) {
        Ok(Some(c)) => c,
        Ok(None) => log.head(),
        Err(e) => {
            tracing::error!(broker = %broker.key, trigger = plan.name, "cannot read the cursor, starting at the oldest event: {e}");
            log.first()
        }
    }
    .max(log.first());
    let progress = Arc::new(Mutex::new(Progress {
        in_flight: BTreeSet::new(),
        next_read: start,
        committed: start,
    }));
    let limit = if plan.ordered {
        1
    } else {
        plan.concurrency.max(1)
    };
    let permits = Arc::new(Semaphore::new(limit));
    let mut head_rx = log.watch_head();
    let mut next = start;
    tracing::debug!(broker = %broker.key, trigger = plan.name, start, "dispatcher started");
    loop {
        if cancel.is_cancelled() {
            break;
        }
        let head = *head_rx.borrow_and_update();
        if next >= head {
            tokio::select! {
                r = head_rx.changed() => if r.is_err() { break },
                _ = cancel.cancelled() => break,
            }
            continue;
        }
        let records = match log.read(next, READ_BATCH, READ_BYTES) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(broker = %broker.key, trigger = plan.name, "cannot read the log at {next}: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    _ = cancel.cancelled() => break,
                }
            }
        };
        if records.is_empty() {
            // Everything up to head was lost to corruption (the log counted it).
            next = head.max(log.first());
            set_next_read(&progress, next);
            commit(&broker, &uid, &progress);
            continue;
        }
        for record in records {
            if cancel.is_cancelled() {
                break;
            }
            next = record.offset + 1;
            let plan = plan_rx.borrow_and_update().clone();
            let envelope = match Envelope::decode(&record.payload) {
                Ok(e) => e,
                Err(e) => {
                    inc(&shared.metrics.undecodable);
                    tracing::error!(broker = %broker.key, offset = record.offset, "skipping an undecodable log record: {e}");
                    set_next_read(&progress, next);
                    continue;
                }
            };
            if !plan.filter.matches(&envelope.event) {
                inc(&shared.metrics.filtered);
                set_next_read(&progress, next);
                continue;
            }
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = cancel.cancelled() => break,
            };
            if let Ok(mut p) = progress.lock() {
                p.in_flight.insert(record.offset);
                p.next_read = next;
            }
            let (shared, broker, progress, cancel) = (
                shared.clone(),
                broker.clone(),
                progress.clone(),
                cancel.clone(),
            );
            let offset = record.offset;
            tokio::spawn(async move {
                tokio::select! {
                    _ = deliver(&shared, &broker, &plan, envelope) => {
                        if let Ok(mut p) = progress.lock() {
                            p.in_flight.remove(&offset);
                        }
                        commit(&broker, &plan.uid, &progress);
                    }
                    // Shutdown or trigger removal: left in flight, redelivered later.
                    _ = cancel.cancelled() => {}
                }
                drop(permit);
            });
        }
        commit(&broker, &uid, &progress);
    }
    tracing::debug!(broker = %broker.key, trigger = uid, "dispatcher stopped");
}

fn set_next_read(progress: &Mutex<Progress>, next: u64) {
    if let Ok(mut p) = progress.lock() {
        p.next_read = next;
    }
}

/// The last failure of a delivery, for the dead-letter extensions.
struct Failure {
    status: Option<u16>,
    body: bytes::Bytes,
    dest: String,
}

/// Delivers one event to the Trigger's subscriber, with retries, reply handling and the
/// dead-letter sink. Returns when the event is done, whatever the outcome.
async fn deliver(shared: &Shared, broker: &BrokerRuntime, plan: &TriggerPlan, env: Envelope) {
    let Envelope { headers, mut event } = env;
    let ttl = ttl_of(&event);
    // The loop guard is the broker's business: subscribers never see it (DP-20).
    event.remove_extension(TTL_EXTENSION);
    let policy = &plan.delivery;
    let format = policy.format.unwrap_or(Format::Binary);
    let mut failure = Failure {
        status: None,
        body: bytes::Bytes::new(),
        dest: plan.subscriber.clone(),
    };
    let mut retry_after = None;
    for attempt in 0..=policy.retry {
        if attempt > 0 {
            inc(&shared.metrics.retries);
            let wait = policy.wait_before_retry(attempt, failure.status, retry_after);
            tokio::time::sleep(wait).await;
        }
        let result = sender::send(
            &shared.client,
            Request {
                uri: &plan.subscriber,
                event: &event,
                format,
                headers: &headers,
                namespace: Some(&plan.namespace),
                prefer_reply: true,
                timeout: policy.timeout(),
            },
        )
        .await;
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(
                    trigger = plan.name,
                    attempt,
                    "delivery to {} failed: {e}",
                    plan.subscriber
                );
                failure = Failure {
                    status: None,
                    body: bytes::Bytes::from(e.to_string()),
                    dest: plan.subscriber.clone(),
                };
                retry_after = None;
                continue;
            }
        };
        retry_after = resp
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| delivery::parse_retry_after(v, jiff::Timestamp::now()));
        match delivery::classify(resp.status) {
            Verdict::Success => match handle_reply(shared, broker, &plan.subscriber, &resp, ttl).await {
                Ok(()) => {
                    inc(&shared.metrics.delivered);
                    return;
                }
                Err(f) => failure = f,
            },
            Verdict::Retry => {
                failure = Failure {
                    status: Some(resp.status),
                    body: resp.body,
                    dest: plan.subscriber.clone(),
                }
            }
            Verdict::Fail => {
                failure = Failure {
                    status: Some(resp.status),
                    body: resp.body,
                    dest: plan.subscriber.clone(),
                };
                break;
            }
        }
    }
    dead_letter(shared, plan, event, headers, failure).await;
}

/// A 200 with a body is a reply (DP-45): it must be a CloudEvent (else the delivery failed,
/// DP-51) and it goes back into the broker; failing to store it fails the delivery (DP-48).
/// Any other 2xx, or a 200 without a body, is plain success; a 202 is never a reply.
async fn handle_reply(
    shared: &Shared,
    broker: &BrokerRuntime,
    subscriber: &str,
    resp: &Response,
    ttl: Option<i64>,
) -> Result<(), Failure> {
    if resp.status != 200 || (resp.body.is_empty() && !herald_ce::is_cloudevent(&resp.headers)) {
        return Ok(());
    }
    // A malformed reply is the subscriber's failure (DP-51): dead-lettered with the
    // subscriber's URL and its response body, like any other failed delivery.
    let malformed = |msg: String| {
        tracing::debug!(broker = %broker.key, "delivery to {subscriber} failed: {msg}");
        Failure {
            status: Some(502),
            body: resp.body.clone(),
            dest: subscriber.to_string(),
        }
    };
    let mut events = match herald_ce::decode_http(&resp.headers, resp.body.clone()) {
        Ok((_, events)) if events.len() == 1 => events,
        Ok(_) => return Err(malformed("a reply must be exactly one CloudEvent".into())),
        Err(e) => return Err(malformed(format!("the reply is not a valid CloudEvent: {e}"))),
    };
    // The reply continues the original's hop count (DP-52); the publish path decrements it.
    for e in &mut events {
        e.set_extension(
            TTL_EXTENSION,
            AttrValue::Integer(ttl.unwrap_or(shared.config.default_ttl)),
        );
    }
    let headers = passthrough_headers(&resp.headers);
    match broker
        .publish(events, &headers, shared.config.default_ttl)
        .await
    {
        Ok(_) => {
            inc(&shared.metrics.replies);
            Ok(())
        }
        Err(crate::broker::PublishError::Admit(e)) => {
            // The reply looped too often: drop it, the original was delivered (DP-49).
            tracing::info!(broker = %broker.key, "dropping a reply: {e}");
            Ok(())
        }
        Err(e) => Err(Failure {
            status: Some(503),
            body: bytes::Bytes::from(format!("storing the reply failed: {e}")),
            dest: broker.address.clone(),
        }),
    }
}

/// Sends the original event with `knativeerrordest`, `knativeerrorcode` and `knativeerrordata`
/// to the dead-letter sink, with the same retry policy (DP-41..43); without a sink (or if it
/// fails too) the event is dropped and counted.
async fn dead_letter(
    shared: &Shared,
    plan: &TriggerPlan,
    mut event: Event,
    headers: Vec<(String, String)>,
    failure: Failure,
) {
    let policy = &plan.delivery;
    let Some(dls) = policy.dead_letter_sink.as_deref() else {
        inc(&shared.metrics.dropped);
        tracing::warn!(
            trigger = plan.name,
            namespace = plan.namespace,
            id = event.id,
            "dropping an event after failed delivery (no dead-letter sink); last status {:?}",
            failure.status
        );
        return;
    };
    event.set_extension("knativeerrordest", AttrValue::Uri(failure.dest.clone()));
    event.set_extension(
        "knativeerrorcode",
        AttrValue::Integer(i64::from(failure.status.unwrap_or(500))),
    );
    if !failure.body.is_empty() {
        let head = &failure.body[..failure.body.len().min(ERROR_DATA_BYTES)];
        event.set_extension(
            "knativeerrordata",
            AttrValue::String(base64::engine::general_purpose::STANDARD.encode(head)),
        );
    }
    let format = policy.format.unwrap_or(Format::Binary);
    let mut last_status = None;
    let mut retry_after = None;
    for attempt in 0..=policy.retry {
        if attempt > 0 {
            add(&shared.metrics.retries, 1);
            tokio::time::sleep(policy.wait_before_retry(attempt, last_status, retry_after)).await;
        }
        let result = sender::send(
            &shared.client,
            Request {
                uri: dls,
                event: &event,
                format,
                headers: &headers,
                namespace: Some(&plan.namespace),
                prefer_reply: false,
                timeout: policy.timeout(),
            },
        )
        .await;
        match result {
            Ok(r) if delivery::classify(r.status) == Verdict::Success => {
                inc(&shared.metrics.dead_lettered);
                return;
            }
            Ok(r) => {
                last_status = Some(r.status);
                retry_after = r
                    .headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| delivery::parse_retry_after(v, jiff::Timestamp::now()));
                if delivery::classify(r.status) == Verdict::Fail {
                    break;
                }
            }
            Err(_) => {
                last_status = None;
                retry_after = None;
            }
        }
    }
    inc(&shared.metrics.dropped);
    tracing::warn!(
        trigger = plan.name,
        namespace = plan.namespace,
        id = event.id,
        "dropping an event: its dead-letter sink {dls} failed too"
    );
}
