//! The AMQP side of the RabbitmqSource: connect (re-reading the connection Secret on every
//! attempt), declare the queue and its binding unless predeclared, consume with
//! `prefetch = parallelism`, send each message's event, and `basic.ack` it only once the sink
//! accepted the event. A final delivery failure `basic.nack`s with requeue (Knative's adapter
//! does the same), so RabbitMQ redelivers; an unacked message of a dropped connection (Herald
//! killed, restarted, or the spec changed) is redelivered by RabbitMQ too: at least once.

use std::time::Duration;

use amqprs::channel::{
    BasicAckArguments, BasicConsumeArguments, BasicNackArguments, BasicQosArguments, Channel,
    ConsumerMessage, ExchangeDeclareArguments, QueueBindArguments, QueueDeclareArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{FieldTable, FieldValue};
use herald_api::sources::rabbitmq::{RabbitmqSourceSpec, URI_KEY};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::config::{self, Backoff, Settings};
use super::message::{self, Message};
use crate::emitter::{self, EmitError, Emitter};
use crate::runtime::SourceContext;

/// Where the source plan puts the resolved `connectionSecret`.
const CONNECTION_SECRET_POINTER: &str = "/rabbitmqClusterReference/connectionSecret";

/// Why a session ended; the reason is what the source's conditions show.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("{0}")]
    Secret(String),
    #[error("{0}")]
    Uri(#[from] config::UriError),
    #[error("cannot connect to RabbitMQ at {addr}: {error}")]
    Connect { addr: String, error: String },
    #[error("setting up queue {queue:?}: {error}")]
    Setup { queue: String, error: String },
    #[error("the connection to RabbitMQ was lost: {0}")]
    Lost(String),
}

impl SessionError {
    fn reason(&self) -> &'static str {
        match self {
            SessionError::Secret(_) => "SecretUnavailable",
            SessionError::Uri(_) => "InvalidConnectionURI",
            SessionError::Connect { .. } => "ConnectionFailed",
            SessionError::Setup { .. } => "QueueSetupFailed",
            SessionError::Lost(_) => "ConnectionLost",
        }
    }
}

/// Pause before giving a message back after its delivery failed for good.
const REQUEUE_DELAY: Duration = Duration::from_secs(1);

/// Longest queue or exchange name AMQP can carry (a short string).
const MAX_NAME: usize = 255;

pub async fn run(ctx: SourceContext) {
    let key = ctx.key().clone();
    let spec: RabbitmqSourceSpec = match serde_json::from_value(ctx.plan.spec.clone()) {
        Ok(s) => s,
        Err(e) => return park(&ctx, "InvalidSpec", format!("the spec cannot be read: {e}")).await,
    };
    let settings = Settings::from_spec(&spec, &key.namespace, &key.name);
    if settings.secret.is_none() {
        let msg = format!(
            "RabbitmqCluster {:?} cannot be resolved: Herald runs no RabbitMQ operator; set \
             rabbitmqClusterReference.connectionSecret to a Secret with key {URI_KEY:?}",
            settings.cluster
        );
        return park(&ctx, "ClusterUnresolvable", msg).await;
    }
    if settings.queue.len() > MAX_NAME || settings.exchange.len() > MAX_NAME {
        let msg = format!("queue and exchange names are at most {MAX_NAME} bytes");
        return park(&ctx, "InvalidSpec", msg).await;
    }
    let emitter = ctx.emitter.clone().with_policy(config::policy(
        spec.delivery.as_ref(),
        emitter::default_policy(),
    ));
    let mut backoff = Backoff::default();
    loop {
        let err = match session(&ctx, &settings, &emitter, &mut backoff).await {
            Ok(()) => return,
            Err(e) => e,
        };
        tracing::warn!(source = %key, reason = err.reason(), "{err}");
        ctx.failed(err.reason(), err.to_string());
        let wait = backoff.next();
        tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Reports a condition that only a spec change can fix, then waits to be stopped.
async fn park(ctx: &SourceContext, reason: &str, message: String) {
    ctx.failed(reason, message);
    ctx.cancel.cancelled().await;
}

/// One connection's life: returns `Ok` when the source is stopped, `Err` when the connection
/// could not be made or was lost.
async fn session(
    ctx: &SourceContext,
    s: &Settings,
    emitter: &Emitter,
    backoff: &mut Backoff,
) -> Result<(), SessionError> {
    let secret = s.secret.as_deref().unwrap_or_default();
    let uri = connection_uri(ctx, secret)?;
    let mut addr = config::parse_uri(&uri)?;
    if let Some(v) = &s.vhost {
        addr.vhost = v.clone();
    }
    let shown = format!("{}:{}", addr.host, addr.port);
    let connect_err = |e: String| SessionError::Connect {
        addr: shown.clone(),
        error: e,
    };
    let mut args = OpenConnectionArguments::new(&addr.host, addr.port, &addr.user, &addr.password);
    args.virtual_host(&addr.vhost)
        .heartbeat(10)
        .connection_name(&format!("herald {}", ctx.key()));
    let conn = tokio::select! {
        _ = ctx.cancel.cancelled() => return Ok(()),
        r = tokio::time::timeout(Duration::from_secs(15), Connection::open(&args)) => match r {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(connect_err(e.to_string())),
            Err(_) => return Err(connect_err("timed out".into())),
        },
    };
    let setup_err = |e: amqprs::error::Error| SessionError::Setup {
        queue: s.queue.clone(),
        error: e.to_string(),
    };
    let ch = conn.open_channel(None).await.map_err(setup_err)?;
    ch.basic_qos(BasicQosArguments::new(0, s.parallelism, false))
        .await
        .map_err(setup_err)?;
    if !s.predeclared {
        declare(&conn, &ch, s).await.map_err(setup_err)?;
    }
    let consume = BasicConsumeArguments::new(&s.queue, "")
        .manual_ack(true)
        .finish();
    let (_tag, mut rx) = ch.basic_consume_rx(consume).await.map_err(setup_err)?;
    ctx.ready();
    backoff.reset();

    let mut inflight = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let result = loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => break Ok(()),
            m = rx.recv() => match m {
                Some(m) => {
                    let (ch, emitter, cancel, source) =
                        (ch.clone(), emitter.clone(), ctx.cancel.clone(), s.source.clone());
                    inflight.spawn(async move { deliver(m, &ch, &emitter, &cancel, &source).await });
                }
                None => break Err(SessionError::Lost("the consumer was closed".into())),
            },
            Some(Ok(Err(e))) = inflight.join_next() => break Err(SessionError::Lost(e)),
            _ = tick.tick() => if !conn.is_open() || !ch.is_open() {
                break Err(SessionError::Lost("the server closed the connection".into()));
            },
        }
    };
    // Unacked messages go back to the queue when the connection closes.
    inflight.abort_all();
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.close()).await;
    result
}

/// Declares the queue (durable, of the spec's type), makes sure the exchange exists (a durable
/// `topic` exchange is created when missing) and binds the queue to it with `#`.
async fn declare(
    conn: &Connection,
    ch: &Channel,
    s: &Settings,
) -> Result<(), amqprs::error::Error> {
    let mut qargs = FieldTable::new();
    if let (Ok(k), Ok(v)) = (
        "x-queue-type".try_into(),
        amqprs::LongStr::try_from(s.queue_type.as_str()),
    ) {
        qargs.insert(k, FieldValue::S(v));
    }
    ch.queue_declare(
        QueueDeclareArguments::new(&s.queue)
            .durable(true)
            .arguments(qargs)
            .finish(),
    )
    .await?;
    // A passive declare that fails closes its channel: probe on a throwaway one.
    let probe = conn.open_channel(None).await?;
    let exists = probe
        .exchange_declare(
            ExchangeDeclareArguments::new(&s.exchange, "topic")
                .passive(true)
                .finish(),
        )
        .await
        .is_ok();
    let _ = probe.close().await;
    if !exists {
        ch.exchange_declare(
            ExchangeDeclareArguments::new(&s.exchange, "topic")
                .durable(true)
                .finish(),
        )
        .await?;
    }
    ch.queue_bind(QueueBindArguments::new(&s.queue, &s.exchange, "#").finish())
        .await
}

/// Sends one message's event; acks after the sink accepted it, nacks (requeue) after the last
/// retry failed. An error means the channel is unusable.
async fn deliver(
    m: ConsumerMessage,
    ch: &Channel,
    emitter: &Emitter,
    cancel: &CancellationToken,
    source: &str,
) -> Result<(), String> {
    let Some(tag) = m.deliver.as_ref().map(|d| d.delivery_tag()) else {
        return Ok(());
    };
    let msg = to_message(&m);
    let converted = message::to_event(&msg, source);
    if let Some(why) = &converted.malformed {
        tracing::warn!(%source, "message claims to be a CloudEvent but is not ({why}); sent wrapped");
    }
    match emitter.emit(converted.event, cancel).await {
        Ok(()) => ch
            .basic_ack(BasicAckArguments::new(tag, false))
            .await
            .map_err(|e| format!("ack failed: {e}")),
        // The connection closes next; RabbitMQ requeues the message.
        Err(EmitError::Cancelled) => Ok(()),
        Err(e) => {
            tracing::warn!(%source, "event not delivered, message requeued: {e}");
            // A sink that rejects for good (4xx) would otherwise get the message back at once.
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(REQUEUE_DELAY) => {}
            }
            ch.basic_nack(BasicNackArguments::new(tag, false, true))
                .await
                .map_err(|e| format!("nack failed: {e}"))
        }
    }
}

fn to_message(m: &ConsumerMessage) -> Message {
    let p = m.basic_properties.as_ref();
    let headers = p
        .and_then(|p| p.headers())
        .map(|t| {
            t.as_ref()
                .iter()
                .filter_map(|(k, v)| Some((k.as_ref().clone(), field_text(v)?)))
                .collect()
        })
        .unwrap_or_default();
    Message {
        body: m.content.clone().unwrap_or_default(),
        content_type: p.and_then(|p| p.content_type()).cloned(),
        message_id: p.and_then(|p| p.message_id()).cloned(),
        timestamp: p.and_then(|p| p.timestamp()),
        headers,
    }
}

/// A header value as text; tables, arrays and voids have none.
fn field_text(v: &FieldValue) -> Option<String> {
    Some(match v {
        FieldValue::t(b) => b.to_string(),
        FieldValue::b(n) => n.to_string(),
        FieldValue::B(n) => n.to_string(),
        FieldValue::s(n) => n.to_string(),
        FieldValue::u(n) => n.to_string(),
        FieldValue::I(n) => n.to_string(),
        FieldValue::i(n) => n.to_string(),
        FieldValue::l(n) => n.to_string(),
        FieldValue::f(n) => n.to_string(),
        FieldValue::d(n) => n.to_string(),
        FieldValue::S(s) => s.as_ref().clone(),
        FieldValue::T(t) => i64::try_from(*t)
            .ok()
            .and_then(|t| jiff::Timestamp::from_second(t).ok())?
            .to_string(),
        FieldValue::x(b) => String::from_utf8_lossy(&Vec::<u8>::from(b.clone())).into_owned(),
        FieldValue::D(_) | FieldValue::A(_) | FieldValue::F(_) | FieldValue::V => return None,
    })
}

/// The connection URI: key `uri` of the `connectionSecret`, resolved by the source plan (a
/// change to the Secret restarts the source with the new value).
fn connection_uri(ctx: &SourceContext, name: &str) -> Result<String, SessionError> {
    ctx.plan
        .secrets
        .get(CONNECTION_SECRET_POINTER)
        .cloned()
        .ok_or_else(|| {
            SessionError::Secret(format!(
                "connection Secret {}/{name}: does not exist or has no key {URI_KEY:?}",
                ctx.key().namespace
            ))
        })
}
