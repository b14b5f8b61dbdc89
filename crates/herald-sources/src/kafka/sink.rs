//! KafkaSink's runtime: a session connects to the bootstrap servers, makes sure the topic
//! exists (creating it when `numPartitions`/`replicationFactor` say so) and opens one producer
//! per partition; the sink's endpoint on the ingress writes each CloudEvent it receives as one
//! record and answers 202 only once Kafka acknowledged it (acks = all). While Kafka cannot be
//! reached the endpoint answers 503, so senders retry, and the sink is not Ready; the session
//! reconnects with backoff.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use herald_api::eventing::kafkasink::{KafkaSinkSpec, MODE_STRUCTURED};
use herald_ce::{Mode, decode_http};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use rskafka::chrono::{TimeZone, Utc};
use rskafka::client::Client;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::record::Record;
use tokio::sync::Notify;

use super::encode::{self, ContentMode, ProducerRecord};
use super::partitioner::Partitioner;
use crate::runtime::SourceContext;
use crate::webhook::Webhook;

use super::client::CONNECT_TIMEOUT;
/// The longest a request waits for Kafka's acknowledgement before answering 503.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle session checks that the broker still answers.
const HEALTH_INTERVAL: Duration = Duration::from_secs(3);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
const ALLOW: &str = "POST, OPTIONS";

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("cannot connect to Kafka at {addr}: {error}")]
    Connect { addr: String, error: String },
    #[error("topic {0:?} does not exist (set numPartitions or replicationFactor to create it)")]
    TopicNotFound(String),
    #[error("cannot create topic {topic:?}: {error}")]
    CreateTopic { topic: String, error: String },
    #[error("lost the connection to Kafka: {0}")]
    Lost(String),
}

impl SessionError {
    fn reason(&self) -> &'static str {
        match self {
            SessionError::Connect { .. } => "ConnectionFailed",
            SessionError::TopicNotFound(_) => "TopicNotFound",
            SessionError::CreateTopic { .. } => "TopicCreationFailed",
            SessionError::Lost(_) => "ConnectionLost",
        }
    }
}

/// The topic's producers, one per partition (index = partition id order).
struct Producers {
    partitions: Vec<PartitionClient>,
}

/// What the endpoint can do right now.
enum State {
    Up(Arc<Producers>),
    Down(String),
}

/// The sink's endpoint, served on the ingress for as long as the sink runs.
struct Endpoint {
    topic: String,
    mode: ContentMode,
    state: RwLock<State>,
    partitioner: Partitioner,
    /// Woken when a produce fails, so the session checks the connection at once.
    trouble: Notify,
}

impl Endpoint {
    fn set(&self, s: State) {
        if let Ok(mut st) = self.state.write() {
            *st = s;
        }
    }

    fn producers(&self) -> Result<Arc<Producers>, String> {
        match self.state.read().as_deref() {
            Ok(State::Up(p)) => Ok(p.clone()),
            Ok(State::Down(why)) => Err(why.clone()),
            Err(_) => Err("the sink's state is unavailable".into()),
        }
    }

    async fn post(&self, headers: &HeaderMap, body: Bytes) -> Response {
        let event = match decode_http(headers, body) {
            Ok((Mode::Batch, _)) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    "batched mode is not supported: send one CloudEvent per request",
                );
            }
            Ok((_, events)) => events.into_iter().next(),
            Err(e) => return text(StatusCode::BAD_REQUEST, format!("invalid CloudEvent: {e}")),
        };
        let Some(event) = event else {
            return text(StatusCode::BAD_REQUEST, "expected exactly one CloudEvent");
        };
        let producers = match self.producers() {
            Ok(p) => p,
            Err(why) => return unavailable(&why),
        };
        let record = encode::encode(&event, self.mode);
        let partition = self
            .partitioner
            .partition(record.key.as_deref(), producers.partitions.len());
        let Some(client) = producers.partitions.get(partition) else {
            return unavailable("the topic has no partitions");
        };
        let produced = tokio::time::timeout(
            PRODUCE_TIMEOUT,
            client.produce(vec![to_rskafka(record)], Compression::NoCompression),
        )
        .await;
        match produced {
            Ok(Ok(_)) => StatusCode::ACCEPTED.into_response(),
            Ok(Err(e)) => {
                self.trouble.notify_one();
                tracing::warn!(topic = %self.topic, partition, "produce failed: {e}");
                unavailable(&format!("Kafka did not accept the record: {e}"))
            }
            Err(_) => {
                self.trouble.notify_one();
                unavailable("Kafka did not acknowledge the record in time")
            }
        }
    }
}

impl Webhook for Endpoint {
    fn handle<'a>(
        &'a self,
        method: Method,
        headers: HeaderMap,
        body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Response> + Send + 'a>> {
        Box::pin(async move {
            match method {
                Method::POST => self.post(&headers, body).await,
                // The WebHook-style probe, as on a Broker's ingress (DP-11).
                Method::OPTIONS => (
                    StatusCode::OK,
                    [
                        (header::ALLOW, ALLOW),
                        (http::HeaderName::from_static("webhook-allowed-origin"), "*"),
                        (http::HeaderName::from_static("webhook-allowed-rate"), "*"),
                    ],
                )
                    .into_response(),
                _ => {
                    let mut r = text(
                        StatusCode::METHOD_NOT_ALLOWED,
                        format!("method {method} not allowed: send events with POST"),
                    );
                    r.headers_mut()
                        .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
                    r
                }
            }
        })
    }
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut msg = msg.into();
    msg.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg,
    )
        .into_response()
}

/// 503: Kafka cannot take the event now; the sender retries (Knative's receiver answers the same).
fn unavailable(why: &str) -> Response {
    text(StatusCode::SERVICE_UNAVAILABLE, why)
}

fn to_rskafka(r: ProducerRecord) -> Record {
    Record {
        key: r.key,
        value: r.value,
        headers: r.headers.into_iter().collect(),
        // rskafka's chrono has no clock: the time comes from jiff.
        timestamp: Utc
            .timestamp_millis_opt(jiff::Timestamp::now().as_millisecond())
            .single()
            .unwrap_or_default(),
    }
}

/// What the session needs from the spec.
struct Settings {
    bootstrap: Vec<String>,
    topic: String,
    /// `Some((partitions, replication factor))` when a missing topic is to be created.
    create: Option<(i32, i16)>,
}

pub async fn run(ctx: SourceContext) {
    let spec: KafkaSinkSpec = match serde_json::from_value(ctx.plan.spec.clone()) {
        Ok(s) => s,
        Err(e) => return park(&ctx, "InvalidSpec", format!("the spec cannot be read: {e}")).await,
    };
    let mode = if spec.content_mode() == MODE_STRUCTURED {
        ContentMode::Structured
    } else {
        ContentMode::Binary
    };
    let endpoint = Arc::new(Endpoint {
        topic: spec.topic.clone(),
        mode,
        state: RwLock::new(State::Down("the sink is connecting to Kafka".into())),
        partitioner: Partitioner::default(),
        trouble: Notify::new(),
    });
    ctx.serve_webhook(endpoint.clone());
    if let Some(secret) = spec.auth_secret() {
        let msg = format!(
            "auth.secret.ref ({secret:?}): SASL and TLS are not supported by Herald's Kafka client yet"
        );
        endpoint.set(State::Down(msg.clone()));
        return park(&ctx, "Unsupported", msg).await;
    }
    let create = (spec.num_partitions.is_some() || spec.replication_factor.is_some()).then(|| {
        let rf = spec.replication_factor.unwrap_or(1);
        (
            spec.num_partitions.unwrap_or(1),
            i16::try_from(rf).unwrap_or(1),
        )
    });
    let s = Settings {
        bootstrap: spec
            .bootstrap_servers
            .iter()
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty())
            .collect(),
        topic: spec.topic.clone(),
        create,
    };
    if s.bootstrap.is_empty() || s.topic.is_empty() {
        let msg = "bootstrapServers and topic are required".to_string();
        endpoint.set(State::Down(msg.clone()));
        return park(&ctx, "InvalidSpec", msg).await;
    }
    let key = ctx.key().clone();
    let mut wait = Duration::from_millis(500);
    loop {
        let err = match session(&ctx, &s, &endpoint, &mut wait).await {
            Ok(()) => return,
            Err(e) => e,
        };
        tracing::warn!(sink = %key, reason = err.reason(), "{err}");
        endpoint.set(State::Down(err.to_string()));
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

/// Connects and serves until cancelled (`Ok`) or the connection fails. `wait` (the reconnect
/// backoff) is reset once the sink is up.
async fn session(
    ctx: &SourceContext,
    s: &Settings,
    endpoint: &Endpoint,
    wait: &mut Duration,
) -> Result<(), SessionError> {
    let (client, producers) = tokio::select! {
        _ = ctx.cancel.cancelled() => return Ok(()),
        r = open(s) => r?,
    };
    endpoint.set(State::Up(Arc::new(producers)));
    ctx.ready();
    *wait = Duration::from_millis(500);
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(HEALTH_INTERVAL) => {}
            _ = endpoint.trouble.notified() => {}
        }
        check(&client, s).await?;
    }
}

/// The broker still answers and the topic still exists.
async fn check(client: &Client, s: &Settings) -> Result<(), SessionError> {
    let topics = tokio::time::timeout(CONNECT_TIMEOUT, client.list_topics())
        .await
        .map_err(|_| SessionError::Lost("metadata request timed out".into()))?
        .map_err(|e| SessionError::Lost(e.to_string()))?;
    if !topics.iter().any(|t| t.name == s.topic) {
        return Err(SessionError::TopicNotFound(s.topic.clone()));
    }
    Ok(())
}

async fn connect(s: &Settings) -> Result<Client, SessionError> {
    super::client::connect(&s.bootstrap, "herald-kafka-sink")
        .await
        .map_err(|error| SessionError::Connect {
            addr: s.bootstrap.join(","),
            error,
        })
}

/// Connects, creates the topic if it is missing and allowed to, and opens its partitions.
async fn open(s: &Settings) -> Result<(Client, Producers), SessionError> {
    let client = connect(s).await?;
    let lost = |e: rskafka::client::error::Error| SessionError::Lost(e.to_string());
    let mut partitions = partitions_of(&client, &s.topic).await?;
    if partitions.is_none()
        && let Some((n, rf)) = s.create
    {
        let controller = client.controller_client().map_err(lost)?;
        if let Err(e) = controller.create_topic(&s.topic, n, rf, 5_000).await {
            // Another writer may have created it meanwhile: only fail if it is still missing.
            if partitions_of(&client, &s.topic).await?.is_none() {
                return Err(SessionError::CreateTopic {
                    topic: s.topic.clone(),
                    error: e.to_string(),
                });
            }
        }
        // Metadata may lag the creation briefly.
        for _ in 0..50 {
            partitions = partitions_of(&client, &s.topic).await?;
            if partitions.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let Some(ids) = partitions else {
        return Err(SessionError::TopicNotFound(s.topic.clone()));
    };
    let mut clients = Vec::with_capacity(ids.len());
    for p in ids {
        let pc = client
            .partition_client(s.topic.clone(), p, UnknownTopicHandling::Error)
            .await
            .map_err(lost)?;
        clients.push(pc);
    }
    Ok((
        client,
        Producers {
            partitions: clients,
        },
    ))
}

/// The topic's partition ids in order, `None` when the topic does not exist.
async fn partitions_of(client: &Client, topic: &str) -> Result<Option<Vec<i32>>, SessionError> {
    let topics = client
        .list_topics()
        .await
        .map_err(|e| SessionError::Lost(e.to_string()))?;
    Ok(topics
        .into_iter()
        .find(|t| t.name == topic)
        .map(|t| t.partitions.into_iter().collect::<Vec<i32>>())
        .filter(|p| !p.is_empty()))
}
