//! The consumer session: connect, resolve each partition's start offset (the group's committed
//! offset, else `initialOffset`), then one task per partition fetches records in order, emits
//! each and commits `offset + 1` only after the sink accepted it. Any connection error ends the
//! session; `run` reports it and reconnects with backoff.

use std::sync::Arc;
use std::time::Duration;

use herald_api::meta::{BackoffPolicy as ApiBackoff, DeliverySpec};
use herald_api::sources::kafka::{KafkaSourceSpec, OFFSET_EARLIEST};
use herald_api::validation::parse_iso8601_duration;
use herald_dataplane::DeliveryPolicy;
use herald_dataplane::delivery::BackoffPolicy;
use rskafka::BackoffConfig;
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::group::{GroupClient, GroupError};
use super::record::{self, KafkaRecord};
use crate::emitter::{self, Emitter};
use crate::runtime::SourceContext;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a fetch waits on the broker for new records.
const FETCH_WAIT_MS: i32 = 500;
const FETCH_BYTES: std::ops::Range<i32> = 1..4 * 1024 * 1024;
/// Pause before re-sending an event whose delivery finally failed (it is never skipped).
const REDELIVER_DELAY: Duration = Duration::from_secs(2);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("cannot connect to Kafka at {addr}: {error}")]
    Connect { addr: String, error: String },
    #[error("topic {0:?} does not exist")]
    TopicNotFound(String),
    #[error("consumer group: {0}")]
    Group(#[from] GroupError),
    #[error("topic {topic:?} partition {partition}: {error}")]
    Partition {
        topic: String,
        partition: i32,
        error: String,
    },
}

impl SessionError {
    fn reason(&self) -> &'static str {
        match self {
            SessionError::Connect { .. } => "ConnectionFailed",
            SessionError::TopicNotFound(_) => "TopicNotFound",
            SessionError::Group(GroupError::Connect { .. }) => "ConnectionFailed",
            SessionError::Group(_) => "OffsetCommitFailed",
            SessionError::Partition { .. } => "ConnectionLost",
        }
    }
}

/// What the session needs from the spec.
struct Settings {
    bootstrap: Vec<String>,
    topics: Vec<String>,
    group: String,
    earliest: bool,
    policy: DeliveryPolicy,
    namespace: String,
    name: String,
}

fn split(list: &[String]) -> Vec<String> {
    list.iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

pub async fn run(ctx: SourceContext) {
    let spec: KafkaSourceSpec = match serde_json::from_value(ctx.plan.spec.clone()) {
        Ok(s) => s,
        Err(e) => return park(&ctx, "InvalidSpec", format!("the spec cannot be read: {e}")).await,
    };
    if spec.net.sasl.enable || spec.net.tls.enable {
        let msg = "net.sasl and net.tls are not supported by Herald's Kafka client yet".to_string();
        return park(&ctx, "Unsupported", msg).await;
    }
    let key = ctx.key().clone();
    let s = Settings {
        bootstrap: split(&spec.bootstrap_servers),
        topics: split(&spec.topics),
        group: if spec.consumer_group.is_empty() {
            format!("knative-kafka-source-{}", ctx.plan.uid)
        } else {
            spec.consumer_group.clone()
        },
        earliest: spec.initial_offset == OFFSET_EARLIEST,
        policy: policy(spec.delivery.as_ref(), emitter::default_policy()),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
    };
    if s.bootstrap.is_empty() || s.topics.is_empty() {
        return park(
            &ctx,
            "InvalidSpec",
            "bootstrapServers and topics are required".into(),
        )
        .await;
    }
    let mut wait = Duration::from_millis(500);
    loop {
        let err = match session(&ctx, &s).await {
            Ok(()) => return,
            Err(e) => e,
        };
        tracing::warn!(source = %key, reason = err.reason(), "{err}");
        ctx.failed(err.reason(), err.to_string());
        tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(BACKOFF_MAX);
    }
}

async fn park(ctx: &SourceContext, reason: &str, message: String) {
    ctx.failed(reason, message);
    ctx.cancel.cancelled().await;
}

async fn connect(s: &Settings) -> Result<Client, SessionError> {
    let addr = s.bootstrap.join(",");
    let err = |e: String| SessionError::Connect {
        addr: addr.clone(),
        error: e,
    };
    let backoff = BackoffConfig {
        init_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline: Some(Duration::from_secs(5)),
    };
    let build = ClientBuilder::new(s.bootstrap.clone())
        .client_id("herald")
        .backoff_config(backoff)
        .build();
    match tokio::time::timeout(CONNECT_TIMEOUT, build).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(err(e.to_string())),
        Err(_) => Err(err("i/o timeout".into())),
    }
}

/// One partition to consume and where to start.
struct Assignment {
    topic: String,
    partition: i32,
    client: PartitionClient,
    offset: i64,
}

async fn session(ctx: &SourceContext, s: &Settings) -> Result<(), SessionError> {
    let assignments = tokio::select! {
        _ = ctx.cancel.cancelled() => return Ok(()),
        r = assign(s) => r?,
    };
    let (client_group, assignments) = assignments;
    ctx.ready();
    let group = Arc::new(Mutex::new(client_group));
    let mut tasks = JoinSet::new();
    for a in assignments {
        let source = record::source_uri(&s.namespace, &s.name, &a.topic);
        let emitter = ctx.emitter.clone().with_policy(s.policy.clone());
        let (group, cancel) = (group.clone(), ctx.cancel.clone());
        tasks.spawn(consume(a, source, group, emitter, cancel));
    }
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => return Ok(()),
            done = tasks.join_next() => match done {
                None => return Ok(()),
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => return Err(e),
                Some(Err(e)) => return Err(SessionError::Partition {
                    topic: String::new(), partition: -1, error: e.to_string(),
                }),
            },
        }
    }
}

/// Connects, looks the topics up and resolves each partition's start offset, committing the
/// initial offset of a new group so a restart starts where this one did.
async fn assign(s: &Settings) -> Result<(GroupClient, Vec<Assignment>), SessionError> {
    let client = connect(s).await?;
    let known = client
        .list_topics()
        .await
        .map_err(|e| SessionError::Connect {
            addr: s.bootstrap.join(","),
            error: e.to_string(),
        })?;
    let mut group = GroupClient::connect(&s.bootstrap, &s.group).await?;
    let mut out = Vec::new();
    for topic in &s.topics {
        let Some(t) = known.iter().find(|t| &t.name == topic) else {
            return Err(SessionError::TopicNotFound(topic.clone()));
        };
        let parts: Vec<i32> = t.partitions.iter().copied().collect();
        let committed = group.fetch(topic, &parts).await?;
        for p in parts {
            let perr = |e: rskafka::client::error::Error| SessionError::Partition {
                topic: topic.clone(),
                partition: p,
                error: e.to_string(),
            };
            let pc = client
                .partition_client(topic.clone(), p, UnknownTopicHandling::Retry)
                .await
                .map_err(perr)?;
            let offset = match committed.iter().find(|(cp, _)| *cp == p) {
                Some((_, o)) if *o >= 0 => *o,
                _ => {
                    let at = if s.earliest {
                        OffsetAt::Earliest
                    } else {
                        OffsetAt::Latest
                    };
                    let o = pc.get_offset(at).await.map_err(perr)?;
                    group.commit(topic, p, o).await?;
                    o
                }
            };
            out.push(Assignment {
                topic: topic.clone(),
                partition: p,
                client: pc,
                offset,
            });
        }
    }
    Ok((group, out))
}

/// Fetches one partition in order; each record's offset is committed after its event was
/// accepted. An event whose delivery finally fails is retried (never skipped), which stalls the
/// partition rather than losing the record.
async fn consume(
    mut a: Assignment,
    source: String,
    group: Arc<Mutex<GroupClient>>,
    emitter: Emitter,
    cancel: CancellationToken,
) -> Result<(), SessionError> {
    let perr = |e: String| SessionError::Partition {
        topic: a.topic.clone(),
        partition: a.partition,
        error: e,
    };
    loop {
        let fetched = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            r = a.client.fetch_records(a.offset, FETCH_BYTES, FETCH_WAIT_MS) => r,
        };
        let (mut records, _high) = fetched.map_err(|e| perr(e.to_string()))?;
        records.sort_by_key(|r| r.offset);
        let start = a.offset;
        for r in records.into_iter().filter(|r| r.offset >= start) {
            let kr = KafkaRecord {
                partition: a.partition,
                offset: r.offset,
                key: r.record.key,
                value: r.record.value,
                headers: r.record.headers.into_iter().collect(),
                time: rfc3339(r.record.timestamp.timestamp_millis()),
            };
            let (event, note) = record::to_event(&kr, &source);
            if let Some(note) = note {
                tracing::warn!(topic = %a.topic, partition = a.partition, offset = r.offset, "record wrapped as a plain record: {note}");
            }
            loop {
                match emitter.emit(event.clone(), &cancel).await {
                    Ok(()) => break,
                    Err(e) => {
                        if cancel.is_cancelled() {
                            return Ok(());
                        }
                        tracing::warn!(topic = %a.topic, partition = a.partition, offset = r.offset, "delivery failed, will retry: {e}");
                        tokio::select! {
                            _ = cancel.cancelled() => return Ok(()),
                            _ = tokio::time::sleep(REDELIVER_DELAY) => {}
                        }
                    }
                }
            }
            a.offset = r.offset + 1;
            group
                .lock()
                .await
                .commit(&a.topic, a.partition, a.offset)
                .await?;
        }
    }
}

/// The emitter's retries: `spec.delivery`'s `retry`, `backoffPolicy`, `backoffDelay` and
/// `timeout` over `default` (its dead-letter sink is not honoured: failed events are re-sent).
fn policy(delivery: Option<&DeliverySpec>, default: DeliveryPolicy) -> DeliveryPolicy {
    let Some(d) = delivery else { return default };
    let duration =
        |v: Option<&String>, or: Option<Duration>| match v.map(|s| parse_iso8601_duration(s)) {
            Some(Ok(v)) => Some(v),
            _ => or,
        };
    DeliveryPolicy {
        retry: d
            .retry
            .map_or(default.retry, |r| u32::try_from(r).unwrap_or(0)),
        backoff_policy: match d.backoff_policy {
            Some(ApiBackoff::Linear) => BackoffPolicy::Linear,
            Some(ApiBackoff::Exponential) => BackoffPolicy::Exponential,
            None => default.backoff_policy,
        },
        backoff_delay: duration(d.backoff_delay.as_ref(), default.backoff_delay),
        timeout: duration(d.timeout.as_ref(), default.timeout),
        ..default
    }
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

    #[test]
    fn delivery_spec_overrides_the_default_policy() {
        let d = DeliverySpec {
            retry: Some(0),
            backoff_policy: Some(ApiBackoff::Linear),
            backoff_delay: Some("PT0.5S".into()),
            timeout: Some("bad".into()),
            ..Default::default()
        };
        let default = emitter::default_policy();
        let p = policy(Some(&d), default.clone());
        assert_eq!(p.retry, 0);
        assert_eq!(p.backoff_policy, BackoffPolicy::Linear);
        assert_eq!(p.backoff_delay, Some(Duration::from_millis(500)));
        assert_eq!(p.timeout, default.timeout);
        assert_eq!(policy(None, default.clone()).retry, default.retry);
    }

    #[test]
    fn lists_split_on_commas() {
        let got = split(&["a, b".into(), "c".into(), ",".into()]);
        assert_eq!(got, vec!["a", "b", "c"]);
    }
}
