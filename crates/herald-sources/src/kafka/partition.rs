//! Consuming one assigned partition: fetch records, deliver each as a CloudEvent (one at a time
//! for `ordering: ordered`, up to a bound at once for `unordered`), and commit an offset only
//! once every record before it was delivered or dead-lettered.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use herald_ce::Event;
use herald_dataplane::delivery::set_dead_letter_extensions;
use rskafka::client::partition::PartitionClient;
use rskafka::record::RecordAndOffset;
use tokio::sync::Mutex;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::consumer::SessionError;
use super::group::GroupClient;
use super::record::{self, KafkaRecord, KeyType};
use super::window::Window;
use crate::emitter::{EmitError, Emitter};

/// How long a fetch waits on the broker for new records.
const FETCH_WAIT_MS: i32 = 500;
const FETCH_BYTES: std::ops::Range<i32> = 1..4 * 1024 * 1024;
/// Pause before re-sending an event neither the sink nor a dead-letter sink accepted (it is
/// never skipped).
const REDELIVER_DELAY: Duration = Duration::from_secs(2);

/// One assigned partition and where to start.
pub(super) struct Partition {
    pub topic: String,
    pub partition: i32,
    pub client: Arc<PartitionClient>,
    /// The committed offset (the next record to deliver).
    pub start: i64,
    /// The `source` attribute of its plain records.
    pub source: String,
    /// How record keys are read.
    pub keys: KeyType,
}

/// Where events go: the sink, and the dead-letter sink for those the sink finally refused.
#[derive(Clone)]
pub(super) struct Delivery {
    pub sink: Emitter,
    pub dead_letter: Option<Emitter>,
}

type Fetched = Result<Vec<RecordAndOffset>, rskafka::client::error::Error>;

/// Consumes `p` until `revoke` (stop fetching, finish what is in flight) or `abort` (give up
/// deliveries in flight too). Commits go through `group` as this member.
pub(super) async fn consume(
    p: Partition,
    delivery: Delivery,
    max_in_flight: usize,
    group: Arc<Mutex<GroupClient>>,
    revoke: CancellationToken,
    abort: CancellationToken,
) -> Result<(), SessionError> {
    let mut window = Window::new(p.start);
    let mut backlog: VecDeque<RecordAndOffset> = VecDeque::new();
    let mut deliveries: JoinSet<(i64, bool)> = JoinSet::new();
    let mut fetching: Option<JoinHandle<Fetched>> = None;
    let result = loop {
        while !revoke.is_cancelled() && deliveries.len() < max_in_flight {
            let Some(r) = backlog.pop_front() else { break };
            let offset = r.offset;
            let event = to_event(&p, r);
            window.start(offset);
            let (d, abort) = (delivery.clone(), abort.clone());
            let at = format!("{}/{}/{offset}", p.topic, p.partition);
            deliveries.spawn(async move { (offset, deliver(&d, event, &abort, &at).await) });
        }
        if revoke.is_cancelled() && deliveries.is_empty() {
            break Ok(());
        }
        if fetching.is_none() && backlog.is_empty() && !revoke.is_cancelled() {
            let (client, from) = (p.client.clone(), window.next());
            fetching = Some(tokio::spawn(async move {
                client
                    .fetch_records(from, FETCH_BYTES, FETCH_WAIT_MS)
                    .await
                    .map(|(records, _high)| records)
            }));
        }
        tokio::select! {
            _ = revoke.cancelled(), if !revoke.is_cancelled() => {}
            done = deliveries.join_next(), if !deliveries.is_empty() => match done {
                Some(Ok((offset, true))) => {
                    if let Some(at) = window.finish(offset)
                        && let Err(e) = group.lock().await.commit(&p.topic, p.partition, at).await
                    {
                        break Err(e.into());
                    }
                }
                // Abandoned (aborted): not committed, the next owner delivers it again.
                Some(Ok((_, false))) => {}
                Some(Err(e)) => break Err(partition_error(&p, e.to_string())),
                None => {}
            },
            fetched = poll(&mut fetching) => {
                fetching = None;
                let mut records = match fetched {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => break Err(partition_error(&p, e.to_string())),
                    Err(e) => break Err(partition_error(&p, e.to_string())),
                };
                records.sort_by_key(|r| r.offset);
                let from = window.next();
                backlog.extend(records.into_iter().filter(|r| r.offset >= from));
            }
        }
    };
    if let Some(f) = fetching {
        f.abort();
    }
    result
}

/// Awaits the fetch in progress; never completes when there is none.
async fn poll(
    fetching: &mut Option<JoinHandle<Fetched>>,
) -> Result<Fetched, tokio::task::JoinError> {
    match fetching {
        Some(h) => h.await,
        None => std::future::pending().await,
    }
}

fn partition_error(p: &Partition, error: String) -> SessionError {
    SessionError::Partition {
        topic: p.topic.clone(),
        partition: p.partition,
        error,
    }
}

fn to_event(p: &Partition, r: RecordAndOffset) -> Event {
    let kr = KafkaRecord {
        partition: p.partition,
        offset: r.offset,
        key: r.record.key,
        value: r.record.value,
        headers: r.record.headers.into_iter().collect(),
        time: rfc3339(r.record.timestamp.timestamp_millis()),
    };
    let (event, note) = record::to_event_with(&kr, &p.source, p.keys);
    if let Some(note) = note {
        tracing::warn!(
            topic = %p.topic,
            partition = p.partition,
            offset = r.offset,
            "record wrapped as a plain record: {note}"
        );
    }
    event
}

/// Delivers one event: to the sink (with the delivery policy's retries); when that finally
/// fails, to the dead-letter sink with Knative's error extensions. When neither accepts it,
/// waits and starts over — the record is never skipped, so without a dead-letter sink a
/// refused record stalls its partition. Returns false when `abort` fired first.
async fn deliver(d: &Delivery, event: Event, abort: &CancellationToken, at: &str) -> bool {
    loop {
        let err = match d.sink.emit(event.clone(), abort).await {
            Ok(()) => return true,
            Err(e) => e,
        };
        if abort.is_cancelled() {
            return false;
        }
        match &d.dead_letter {
            Some(dls) => match dls.emit(dead_lettered(&d.sink, &event, &err), abort).await {
                Ok(()) => {
                    tracing::warn!(record = at, "delivery failed, dead-lettered: {err}");
                    return true;
                }
                Err(e) if abort.is_cancelled() => {
                    tracing::debug!(record = at, "dead-lettering abandoned: {e}");
                    return false;
                }
                Err(e) => tracing::warn!(
                    record = at,
                    "delivery failed ({err}) and so did dead-lettering ({e}); will send again"
                ),
            },
            None => tracing::warn!(record = at, "delivery failed, will send again: {err}"),
        }
        tokio::select! {
            _ = abort.cancelled() => return false,
            _ = tokio::time::sleep(REDELIVER_DELAY) => {}
        }
    }
}

/// The event as the sink got it, marked with why it failed (as Herald's broker dead-letters).
fn dead_lettered(sink: &Emitter, event: &Event, err: &EmitError) -> Event {
    with_error(
        sink.prepare(event.clone()),
        sink.sink().unwrap_or_default(),
        err,
    )
}

fn with_error(mut event: Event, dest: &str, err: &EmitError) -> Event {
    let body: &[u8] = match err {
        EmitError::Rejected { body, .. } => body.as_bytes(),
        EmitError::Unreachable { error, .. } => error.as_bytes(),
        EmitError::NoSink | EmitError::Cancelled => &[],
    };
    set_dead_letter_extensions(&mut event, dest, err.status(), body);
    event
}

/// The record timestamp (milliseconds since the epoch) as RFC 3339.
fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_ce::AttrValue;

    #[test]
    fn dead_lettered_events_carry_knative_error_extensions() {
        let e = Event::new("partition:0/offset:3", "/s", "t");
        let err = EmitError::Rejected {
            status: 400,
            attempts: 1,
            body: "bad".into(),
        };
        let got = with_error(e, "http://sink/", &err);
        assert_eq!(
            got.attribute("knativeerrordest"),
            Some(AttrValue::Uri("http://sink/".into()))
        );
        assert_eq!(
            got.attribute("knativeerrorcode"),
            Some(AttrValue::Integer(400))
        );
        assert_eq!(
            got.attribute("knativeerrordata"),
            Some(AttrValue::String("YmFk".into()))
        );
        assert_eq!(got.id, "partition:0/offset:3");
        let unreachable = EmitError::Unreachable {
            attempts: 3,
            error: String::new(),
        };
        let got = with_error(Event::new("i", "/s", "t"), "http://sink/", &unreachable);
        assert_eq!(
            got.attribute("knativeerrorcode"),
            Some(AttrValue::Integer(500))
        );
        assert_eq!(got.attribute("knativeerrordata"), None);
    }
}
