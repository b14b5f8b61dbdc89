//! One dispatcher per Trigger: takes the events the Broker's [router](crate::router) hands it
//! (or, while lagging, reads the log itself from where the router stopped feeding it), and
//! delivers them with retries, replies and dead-lettering. The cursor advances only past events
//! that are done (delivered, dead-lettered, dropped or not matching), so a crash redelivers but
//! never loses. At most `concurrency` deliveries are in flight (1 when ordered), so a slow
//! subscriber leaves its backlog in the log, not in memory, and never slows other Triggers.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_ce::{AttrValue, Event};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::admit::{TTL_EXTENSION, ttl_of};
use crate::broker::BrokerRuntime;
use crate::delivery::{self, Format, Verdict};
use crate::envelope::{Envelope, passthrough_headers};
use crate::metrics::{add, inc};
use crate::plan::{ReplyTo, TriggerPlan};
use crate::router::{Item, READ_BATCH, READ_BYTES, Slot};
use crate::sender::{self, Request, Response};
use crate::shared::Shared;

/// How often an idle Trigger moves its cursor up to the router's position (so retention can
/// free segments of events it did not match).
const IDLE_COMMIT: Duration = Duration::from_secs(1);

/// A running dispatcher; dropping it stops the dispatcher and leaves the router.
pub struct DispatcherHandle {
    pub slot: Arc<Slot>,
    pub cancel: CancellationToken,
    broker: Arc<BrokerRuntime>,
    name: String,
}

impl DispatcherHandle {
    pub fn start(shared: Arc<Shared>, broker: Arc<BrokerRuntime>, plan: Arc<TriggerPlan>) -> Self {
        let log = &broker.log;
        let start = match log.cursor(&plan.uid) {
            Ok(Some(c)) => c,
            Ok(None) => log.head(),
            Err(e) => {
                tracing::error!(broker = %broker.key, trigger = plan.name, "cannot read the cursor, starting at the oldest event: {e}");
                log.first()
            }
        }
        .max(log.first());
        let name = plan.name.clone();
        let (slot, rx) = broker.router.add(&name, plan, start);
        let cancel = shared.shutdown.child_token();
        tokio::spawn(run(
            shared,
            broker.clone(),
            slot.clone(),
            rx,
            cancel.clone(),
            start,
        ));
        DispatcherHandle {
            slot,
            cancel,
            broker,
            name,
        }
    }

    pub fn plan(&self) -> Arc<TriggerPlan> {
        self.slot.plan.borrow().clone()
    }

    pub fn update(&self, plan: Arc<TriggerPlan>) {
        self.slot.plan.send_replace(plan);
    }
}

impl Drop for DispatcherHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.broker.router.remove_slot(&self.name, &self.slot);
    }
}

/// Which offsets are in flight, to compute the cursor: the lowest offset not yet done.
struct Progress {
    in_flight: BTreeSet<u64>,
    /// Everything before this that is not in flight is done.
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

fn advance(progress: &Mutex<Progress>, next: u64) {
    if let Ok(mut p) = progress.lock() {
        p.next_read = p.next_read.max(next);
    }
}

/// What one dispatcher task owns.
struct Dispatcher {
    shared: Arc<Shared>,
    broker: Arc<BrokerRuntime>,
    slot: Arc<Slot>,
    cancel: CancellationToken,
    progress: Arc<Mutex<Progress>>,
    permits: Arc<Semaphore>,
    uid: String,
    name: String,
}

async fn run(
    shared: Arc<Shared>,
    broker: Arc<BrokerRuntime>,
    slot: Arc<Slot>,
    mut rx: mpsc::Receiver<Item>,
    cancel: CancellationToken,
    start: u64,
) {
    let plan = slot.plan.borrow().clone();
    let limit = if plan.ordered {
        1
    } else {
        plan.concurrency.max(1)
    };
    let d = Dispatcher {
        shared,
        broker,
        slot,
        cancel,
        progress: Arc::new(Mutex::new(Progress {
            in_flight: BTreeSet::new(),
            next_read: start,
            committed: start,
        })),
        permits: Arc::new(Semaphore::new(limit)),
        uid: plan.uid.clone(),
        name: plan.name.clone(),
    };
    tracing::debug!(broker = %d.broker.key, trigger = d.name, start, "dispatcher started");
    let mut idle = tokio::time::interval(IDLE_COMMIT);
    idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if d.cancel.is_cancelled() {
            break;
        }
        if let Some(from) = d.slot.lag_from() {
            // The router stopped feeding us at `from`: what it queued before comes first.
            while let Ok(item) = rx.try_recv() {
                if !d.process(item).await {
                    return;
                }
            }
            if !d.catch_up(from).await {
                break;
            }
            continue;
        }
        tokio::select! {
            item = rx.recv() => match item {
                Some(item) => if !d.process(item).await { break },
                None => break,
            },
            _ = d.slot.lagged.notified() => {}
            _ = idle.tick() => {
                // Read the position before looking at the queue: everything routed to us
                // before it is then already received.
                let p = d.broker.router.position();
                if rx.is_empty() && d.slot.lag_from().is_none() {
                    advance(&d.progress, p);
                }
                commit(&d.broker, &d.uid, &d.progress);
            }
            _ = d.cancel.cancelled() => break,
        }
    }
    tracing::debug!(broker = %d.broker.key, trigger = d.name, "dispatcher stopped");
}

impl Dispatcher {
    /// Starts delivering one matching event (waits for a delivery slot). False when cancelled.
    async fn process(&self, (offset, envelope): Item) -> bool {
        let permit = tokio::select! {
            p = self.permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return false },
            _ = self.cancel.cancelled() => return false,
        };
        if let Ok(mut p) = self.progress.lock() {
            p.in_flight.insert(offset);
            // Offsets before this one that were routed to us came earlier (FIFO).
            p.next_read = p.next_read.max(offset + 1);
        }
        let plan = self.slot.plan.borrow().clone();
        let (shared, broker, progress, cancel) = (
            self.shared.clone(),
            self.broker.clone(),
            self.progress.clone(),
            self.cancel.clone(),
        );
        tokio::spawn(async move {
            tokio::select! {
                _ = deliver(&shared, &broker, &plan, (*envelope).clone()) => {
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
        true
    }

    /// Reads the log from `from` with this Trigger's own filter until it reaches the router's
    /// position, then rejoins the router. False when cancelled.
    async fn catch_up(&self, from: u64) -> bool {
        let log = self.broker.log.clone();
        let router = self.broker.router.clone();
        let mut pos_rx = router.watch_position();
        let mut next = from.max(log.first());
        loop {
            if self.cancel.is_cancelled() {
                return false;
            }
            let p = *pos_rx.borrow_and_update();
            if next == p {
                if router.try_rejoin(&self.name, &self.slot, next) {
                    advance(&self.progress, next);
                    commit(&self.broker, &self.uid, &self.progress);
                    tracing::debug!(broker = %self.broker.key, trigger = self.name, next, "dispatcher joined the router");
                    return true;
                }
                // Not in the index yet (a Plan is being applied), or the router moved on.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(10)) => continue,
                    _ = self.cancel.cancelled() => return false,
                }
            }
            if next > p {
                // Our cursor is ahead of the router (a new Trigger starts at the head).
                tokio::select! {
                    r = pos_rx.changed() => if r.is_err() { return false },
                    _ = self.cancel.cancelled() => return false,
                }
                continue;
            }
            let records = match log.read(next, READ_BATCH, READ_BYTES) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(broker = %self.broker.key, trigger = self.name, "cannot read the log at {next}: {e}");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                        _ = self.cancel.cancelled() => return false,
                    }
                }
            };
            let records: Vec<_> = records.into_iter().filter(|r| r.offset < p).collect();
            if records.is_empty() {
                // Lost to corruption or retention (the log counted it).
                next = p;
                advance(&self.progress, next);
                continue;
            }
            for r in records {
                next = r.offset + 1;
                let envelope = match Envelope::decode(&r.payload) {
                    Ok(e) => e,
                    Err(e) => {
                        inc(&self.shared.metrics.undecodable);
                        tracing::error!(broker = %self.broker.key, offset = r.offset, "skipping an undecodable log record: {e}");
                        advance(&self.progress, next);
                        continue;
                    }
                };
                let plan = self.slot.plan.borrow().clone();
                if !plan.filter.matches(&envelope.event) {
                    advance(&self.progress, next);
                    continue;
                }
                if !self.process((r.offset, Arc::new(envelope))).await {
                    return false;
                }
            }
            commit(&self.broker, &self.uid, &self.progress);
        }
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
            Verdict::Success => match handle_reply(shared, broker, plan, &resp, ttl).await {
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
    plan: &TriggerPlan,
    resp: &Response,
    ttl: Option<i64>,
) -> Result<(), Failure> {
    let subscriber = plan.subscriber.as_str();
    if resp.status != 200 || (resp.body.is_empty() && !herald_ce::is_cloudevent(&resp.headers)) {
        return Ok(());
    }
    match &plan.reply {
        ReplyTo::Broker => {}
        // A Subscription without `reply` drops replies (DP-50).
        ReplyTo::Drop => return Ok(()),
        ReplyTo::Uri(uri) => return forward_reply(shared, plan, uri, resp).await,
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
        Err(e) => {
            return Err(malformed(format!(
                "the reply is not a valid CloudEvent: {e}"
            )));
        }
    };
    // The reply continues the original's hop count (DP-52); the publish path decrements it.
    for e in &mut events {
        e.set_extension(
            TTL_EXTENSION,
            AttrValue::Integer(ttl.unwrap_or(shared.config.default_ttl)),
        );
    }
    let headers = passthrough_headers(&resp.headers);
    // Replies go to the Broker's current log, also while an old one drains.
    let active = shared.broker(&broker.key);
    let target: &BrokerRuntime = active.as_deref().unwrap_or(broker);
    match target
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

/// A Subscription's reply goes to its `reply` (DP-50). A body that is not a CloudEvent is plain
/// success for a channel (as Knative's channel dispatcher). If the reply cannot be delivered,
/// the whole delivery failed: it is retried, then dead-lettered with `knativeerrordest` = the
/// reply URL.
async fn forward_reply(
    shared: &Shared,
    plan: &TriggerPlan,
    uri: &str,
    resp: &Response,
) -> Result<(), Failure> {
    let Ok((_, events)) = herald_ce::decode_http(&resp.headers, resp.body.clone()) else {
        return Ok(());
    };
    let Some(event) = events.into_iter().next() else {
        return Ok(());
    };
    let headers = passthrough_headers(&resp.headers);
    let result = sender::send(
        &shared.client,
        Request {
            uri,
            event: &event,
            format: plan.delivery.format.unwrap_or(Format::Binary),
            headers: &headers,
            namespace: Some(&plan.namespace),
            prefer_reply: false,
            timeout: plan.delivery.timeout(),
        },
    )
    .await;
    match result {
        Ok(r) if delivery::classify(r.status) == Verdict::Success => {
            inc(&shared.metrics.replies);
            Ok(())
        }
        Ok(r) => Err(Failure {
            status: Some(r.status),
            body: r.body,
            dest: uri.to_string(),
        }),
        Err(e) => Err(Failure {
            status: None,
            body: bytes::Bytes::from(e.to_string()),
            dest: uri.to_string(),
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
    delivery::set_dead_letter_extensions(&mut event, &failure.dest, failure.status, &failure.body);
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
