//! The consumer session: connect, check the topics, then run `consumers` members of the
//! consumer group in-process. Each member joins the group (`member`), gets its share of the
//! partitions from the group's leader (Kafka's `range` assignor), resolves each partition's start
//! offset (the group's committed offset, else `initialOffset`) and consumes them (`partition`)
//! until the group rebalances, then rejoins. Any connection error ends the session; `run`
//! reports it and reconnects with backoff.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use herald_api::meta::{BackoffPolicy as ApiBackoff, DeliverySpec};
use herald_api::sources::kafka::{KEY_TYPE_LABEL, KafkaSourceSpec, OFFSET_EARLIEST, UNORDERED};
use herald_api::validation::parse_iso8601_duration;
use herald_dataplane::DeliveryPolicy;
use herald_dataplane::delivery::BackoffPolicy;
use rskafka::client::Client;
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::assignor::{self, Assignment, RANGE};
use super::group::{GroupClient, GroupError};
use super::partition::{self, Delivery, Partition};
use super::record::KeyType;
use crate::emitter::{self, Emitter};
use crate::runtime::SourceContext;

const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A member that stops heartbeating for this long (a killed Herald) is evicted from the group
/// and its partitions go to the others.
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the coordinator waits for every member to rejoin during a rebalance.
const REBALANCE_TIMEOUT: Duration = Duration::from_secs(20);
/// Often enough to notice a rebalance quickly, well within the session timeout.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// On a rebalance, how long deliveries in flight may finish (and commit) before they are
/// abandoned to the partition's next owner.
const REVOKE_GRACE: Duration = Duration::from_secs(5);
/// Records of one partition in flight at once with `ordering: unordered`.
const UNORDERED_IN_FLIGHT: usize = 16;
/// Upper bound on `consumers` (members run in-process; more than partitions sit idle).
const MAX_CONSUMERS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub(super) enum SessionError {
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

    /// The group moved on: the member rejoins instead of the session reconnecting.
    fn is_rebalance(&self) -> bool {
        matches!(self, SessionError::Group(e) if e.is_rebalance())
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
    consumers: usize,
    /// How record keys are read (the key-type label).
    keys: KeyType,
    /// Records of one partition delivered at once: 1 for `ordering: ordered`.
    in_flight: usize,
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
        consumers: spec
            .consumers
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(1)
            .clamp(1, MAX_CONSUMERS),
        keys: KeyType::from_label(ctx.plan.labels.get(KEY_TYPE_LABEL).map(String::as_str)),
        in_flight: if spec.ordering.as_deref() == Some(UNORDERED) {
            UNORDERED_IN_FLIGHT
        } else {
            1
        },
    };
    if s.bootstrap.is_empty() || s.topics.is_empty() {
        return park(
            &ctx,
            "InvalidSpec",
            "bootstrapServers and topics are required".into(),
        )
        .await;
    }
    let s = Arc::new(s);
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
    super::client::connect(&s.bootstrap, "herald")
        .await
        .map_err(|e| connect_error(s, e))
}

fn connect_error(s: &Settings, error: String) -> SessionError {
    SessionError::Connect {
        addr: s.bootstrap.join(","),
        error,
    }
}

/// What every member of a session shares.
struct Shared {
    s: Arc<Settings>,
    client: Client,
    delivery: Delivery,
}

/// Runs the members until one fails or the source stops. The source is Ready once every
/// member has joined and resolved its partitions' start offsets (so records produced after
/// Ready are never skipped by `initialOffset: latest`).
async fn session(ctx: &SourceContext, s: &Arc<Settings>) -> Result<(), SessionError> {
    let client = tokio::select! {
        _ = ctx.cancel.cancelled() => return Ok(()),
        r = connect(s) => r?,
    };
    let known = client
        .list_topics()
        .await
        .map_err(|e| connect_error(s, e.to_string()))?;
    if let Some(t) = s
        .topics
        .iter()
        .find(|t| !known.iter().any(|k| &k.name == *t))
    {
        return Err(SessionError::TopicNotFound(t.clone()));
    }
    let dead_letter = ctx.plan.dead_letter_sink.as_ref().map(|d| {
        Emitter::new(
            ctx.config.client.clone(),
            Some(d.uri.clone()),
            ctx.plan.ce_overrides.clone(),
            s.policy.clone(),
        )
    });
    let sh = Arc::new(Shared {
        s: s.clone(),
        client,
        delivery: Delivery {
            sink: ctx.emitter.clone().with_policy(s.policy.clone()),
            dead_letter,
        },
    });
    let stop = ctx.cancel.child_token();
    let (synced_tx, mut synced_rx) = mpsc::unbounded_channel();
    let mut members = JoinSet::new();
    for i in 0..s.consumers {
        members.spawn(member(sh.clone(), i, stop.clone(), synced_tx.clone()));
    }
    let mut synced = BTreeSet::new();
    let result = loop {
        tokio::select! {
            Some(i) = synced_rx.recv() => {
                if synced.insert(i) && synced.len() == s.consumers {
                    ctx.ready();
                }
            }
            done = members.join_next() => match done {
                None => break Ok(()),
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => break Err(e),
                Some(Err(e)) => break Err(SessionError::Partition {
                    topic: String::new(), partition: -1, error: e.to_string(),
                }),
            },
        }
    };
    stop.cancel();
    let drain = async { while members.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(REVOKE_GRACE, drain).await;
    result
}

/// What a member does after a generation ends.
enum Next {
    Rejoin,
    Stop,
}

/// Leaves the group when the member ends, however it ends (the runtime aborts a source's task
/// when its spec changes), so the other members take its partitions over at once instead of
/// after the session timeout.
struct LeaveOnDrop(Arc<Mutex<GroupClient>>);

impl Drop for LeaveOnDrop {
    fn drop(&mut self) {
        let group = self.0.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let leave = async { group.lock().await.leave().await };
                if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(2), leave).await {
                    tracing::debug!("leaving the consumer group: {e}");
                }
            });
        }
    }
}

/// One member of the consumer group: join, take the assigned partitions, consume them until
/// the group rebalances, repeat.
async fn member(
    sh: Arc<Shared>,
    index: usize,
    stop: CancellationToken,
    synced: mpsc::UnboundedSender<usize>,
) -> Result<(), SessionError> {
    let group = tokio::select! {
        _ = stop.cancelled() => return Ok(()),
        r = GroupClient::connect(&sh.s.bootstrap, &sh.s.group) => r?,
    };
    let group = Arc::new(Mutex::new(group));
    let _leave = LeaveOnDrop(group.clone());
    let protocols = [(RANGE, assignor::encode_subscription(&sh.s.topics))];
    // The generation this member last consumed in, while it rejoins after a rebalance.
    let mut left: Option<i32> = None;
    loop {
        let join = async {
            let mut g = group.lock().await;
            g.join(SESSION_TIMEOUT, REBALANCE_TIMEOUT, &protocols).await
        };
        let joined = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            r = join => r?,
        };
        // A rebalance always starts a new generation. A coordinator that signalled one but
        // kept the generation (tansu, after evicting a dead member) would hand out the old
        // assignment and orphan the dead member's partitions: join afresh instead.
        if left.take() == Some(joined.generation) {
            tracing::info!(
                group = sh.s.group,
                generation = joined.generation,
                "rebalance kept the generation, joining the group afresh"
            );
            group.lock().await.leave().await?;
            continue;
        }
        let assignments = if joined.is_leader() {
            assign(&sh, &joined.members).await?
        } else {
            Vec::new()
        };
        let mine = match group.lock().await.sync(&assignments).await {
            Ok(b) => assignor::decode_assignment(&b)?,
            Err(e) if e.is_rebalance() => continue,
            Err(e) => return Err(e.into()),
        };
        let parts = match start_offsets(&sh, &group, &mine).await {
            Ok(p) => p,
            Err(e) if e.is_rebalance() => continue,
            Err(e) => return Err(e),
        };
        tracing::info!(
            group = sh.s.group,
            member = joined.member,
            generation = joined.generation,
            "consumer group member assigned {mine:?}"
        );
        let _ = synced.send(index);
        match generation(&sh, &group, parts, &stop).await? {
            Next::Rejoin => left = Some(joined.generation),
            Next::Stop => return Ok(()),
        }
    }
}

/// The leader's job: every member's partitions, by the range assignor over the topics each
/// member subscribed to, as they exist now.
async fn assign(
    sh: &Shared,
    members: &[(String, Vec<u8>)],
) -> Result<Vec<(String, Vec<u8>)>, SessionError> {
    let mut subscriptions = BTreeMap::new();
    for (m, meta) in members {
        subscriptions.insert(m.clone(), assignor::decode_subscription(meta)?);
    }
    let known = sh
        .client
        .list_topics()
        .await
        .map_err(|e| connect_error(&sh.s, e.to_string()))?;
    let partitions: BTreeMap<String, Vec<i32>> = known
        .into_iter()
        .filter(|t| {
            subscriptions
                .values()
                .any(|topics| topics.contains(&t.name))
        })
        .map(|t| (t.name, t.partitions.into_iter().collect()))
        .collect();
    Ok(assignor::range(&subscriptions, &partitions)
        .into_iter()
        .map(|(m, a)| (m, assignor::encode_assignment(&a)))
        .collect())
}

/// Resolves each assigned partition's start offset, committing the initial offset of a
/// partition the group has none for, so a restart starts where this member did.
async fn start_offsets(
    sh: &Shared,
    group: &Mutex<GroupClient>,
    mine: &Assignment,
) -> Result<Vec<Partition>, SessionError> {
    let mut out = Vec::new();
    for (topic, parts) in mine {
        let committed = group.lock().await.fetch(topic, parts).await?;
        for &p in parts {
            let perr = |e: rskafka::client::error::Error| SessionError::Partition {
                topic: topic.clone(),
                partition: p,
                error: e.to_string(),
            };
            let pc: PartitionClient = sh
                .client
                .partition_client(topic.clone(), p, UnknownTopicHandling::Retry)
                .await
                .map_err(perr)?;
            let start = match committed.iter().find(|(cp, _)| *cp == p) {
                Some((_, o)) if *o >= 0 => *o,
                _ => {
                    let at = if sh.s.earliest {
                        OffsetAt::Earliest
                    } else {
                        OffsetAt::Latest
                    };
                    let o = pc.get_offset(at).await.map_err(perr)?;
                    group.lock().await.commit(topic, p, o).await?;
                    o
                }
            };
            out.push(Partition {
                topic: topic.clone(),
                partition: p,
                client: Arc::new(pc),
                start,
                source: super::record::source_uri(&sh.s.namespace, &sh.s.name, topic),
                keys: sh.s.keys,
            });
        }
    }
    Ok(out)
}

/// Consumes this member's partitions for one generation, heartbeating, until the group
/// rebalances or the source stops. On a rebalance fetching stops at once; deliveries in flight
/// get [`REVOKE_GRACE`] to finish and commit, after which they are abandoned (the partition's
/// next owner delivers them again: at-least-once).
async fn generation(
    sh: &Arc<Shared>,
    group: &Arc<Mutex<GroupClient>>,
    parts: Vec<Partition>,
    stop: &CancellationToken,
) -> Result<Next, SessionError> {
    let abort = stop.child_token();
    let revoke = abort.child_token();
    let mut tasks = JoinSet::new();
    for p in parts {
        let consume = partition::consume(
            p,
            sh.delivery.clone(),
            sh.s.in_flight,
            group.clone(),
            revoke.clone(),
            abort.clone(),
        );
        tasks.spawn(consume);
    }
    let mut beat = tokio::time::interval(HEARTBEAT_INTERVAL);
    let outcome = loop {
        tokio::select! {
            _ = stop.cancelled() => break Ok(Next::Stop),
            _ = beat.tick() => match group.lock().await.heartbeat().await {
                Ok(()) => {}
                Err(e) if e.is_rebalance() => break Ok(Next::Rejoin),
                Err(e) => break Err(e.into()),
            },
            Some(done) = tasks.join_next() => match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.is_rebalance() => break Ok(Next::Rejoin),
                Ok(Err(e)) => break Err(e),
                Err(e) => break Err(SessionError::Partition {
                    topic: String::new(), partition: -1, error: e.to_string(),
                }),
            },
        }
    };
    revoke.cancel();
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(REVOKE_GRACE, drain).await.is_err() {
        abort.cancel();
        while tasks.join_next().await.is_some() {}
    }
    outcome
}

/// The emitter's retries: `spec.delivery`'s `retry`, `backoffPolicy`, `backoffDelay` and
/// `timeout` over `default` (its dead-letter sink comes resolved in the plan).
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
