//! GcpPubSubSource (Knative-GCP's CloudPubSubSource shape): pulls a subscription on the
//! topic and sends each message as a `google.cloud.pubsub.topic.v1.messagePublished` event.
//!
//! At-least-once: a message is acknowledged only after the sink accepted its event; while it
//! is being delivered a lease keeper extends its ack deadline, and a final delivery failure
//! nacks it (`modifyAckDeadline 0`) so Pub/Sub redelivers it. The subscription is
//! Knative-GCP's `cre-src_<ns>_<name>_<uid>`, created on the topic when absent, so a restart
//! (spec change, crash) resumes where the last acknowledged message left off.
//!
//! Where Pub/Sub is: `PUBSUB_EMULATOR_HOST` of `herald serve` (the emulator: plain HTTP, no
//! credentials), as Google's client libraries do; otherwise `pubsub.googleapis.com` with an
//! OAuth2 token from a service account key: the spec's `secret` when resolved, else the file
//! named by `GOOGLE_APPLICATION_CREDENTIALS`.

mod api;
mod auth;
mod convert;

use std::time::Duration;

use herald_api::sources::gcppubsub::{
    DEFAULT_ACK_DEADLINE, DEFAULT_RETENTION_DURATION, GcpPubSubSourceSpec,
};
use herald_api::sources::support::parse_go_duration;
use tokio_util::sync::CancellationToken;

use crate::emitter::EmitError;
use crate::runtime::SourceContext;
use api::{ApiError, Client, ReceivedMessage, SubscriptionSettings};
use auth::{ServiceAccountKey, TokenSource};

pub use convert::{DATA_SCHEMA, EVENT_TYPE, event_source, subscription_id, to_event};

/// The emulator's address (`host:port`), as Google's client libraries read it.
pub const EMULATOR_ENV: &str = "PUBSUB_EMULATOR_HOST";
/// A service account key file, Google's Application Default Credentials.
pub const CREDENTIALS_ENV: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// The project when neither the spec nor the key names one.
pub const PROJECT_ENV: &str = "GOOGLE_CLOUD_PROJECT";
/// Messages asked for per pull.
const MAX_MESSAGES: u32 = 10;
/// How long one pull may wait for messages.
const POLL_WAIT: Duration = Duration::from_secs(20);
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Why the spec and environment do not give a runnable source.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("the spec does not decode: {0}")]
    Spec(String),
    #[error(
        "no project: set spec.project (or {PROJECT_ENV} of herald serve, or use a key with project_id)"
    )]
    NoProject,
    #[error(
        "no credentials for Google Cloud: the Secret {0} is missing, {CREDENTIALS_ENV} is not set, and {EMULATOR_ENV} (the emulator) is not set either"
    )]
    NoCredentials(String),
    #[error("{0}")]
    Key(String),
}

/// What the process environment contributes (read once per start).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub emulator_host: Option<String>,
    /// Contents of the `GOOGLE_APPLICATION_CREDENTIALS` file.
    pub adc_key: Option<String>,
    pub project: Option<String>,
}

impl Environment {
    fn read() -> Self {
        let var = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
        Environment {
            emulator_host: var(EMULATOR_ENV),
            adc_key: var(CREDENTIALS_ENV).and_then(|p| std::fs::read_to_string(p).ok()),
            project: var(PROJECT_ENV),
        }
    }
}

/// Everything one run needs, resolved from spec, secret and environment.
#[derive(Debug)]
pub struct Config {
    /// Base URL of the Pub/Sub API.
    pub endpoint: String,
    /// `None` against the emulator.
    pub key: Option<ServiceAccountKey>,
    pub project: String,
    pub topic: String,
    pub subscription_id: String,
    /// `projects/<p>/subscriptions/<id>`.
    pub subscription: String,
    pub settings: SubscriptionSettings,
}

fn seconds(go: Option<&str>, default: &str) -> f64 {
    go.and_then(parse_go_duration)
        .or_else(|| parse_go_duration(default))
        .unwrap_or(0.0)
}

/// Resolves the run's configuration (pure: unit-tested table-style).
pub fn resolve(
    spec: &serde_json::Value,
    secret: Option<&str>,
    env: &Environment,
    ids: (&str, &str, &str),
) -> Result<Config, ConfigError> {
    let spec: GcpPubSubSourceSpec =
        serde_json::from_value(spec.clone()).map_err(|e| ConfigError::Spec(e.to_string()))?;
    let (endpoint, key) = match &env.emulator_host {
        Some(host) if host.contains("://") => (host.clone(), None),
        Some(host) => (format!("http://{host}"), None),
        None => {
            let json = secret.or(env.adc_key.as_deref()).ok_or_else(|| {
                let s = spec.secret.as_ref();
                ConfigError::NoCredentials(format!(
                    "{}/{}",
                    s.map(|s| s.name.as_str()).unwrap_or_default(),
                    s.map(|s| s.key.as_str()).unwrap_or_default()
                ))
            })?;
            let key =
                ServiceAccountKey::parse(json).map_err(|e| ConfigError::Key(e.to_string()))?;
            (api::GOOGLE_ENDPOINT.to_string(), Some(key))
        }
    };
    let project = [
        Some(spec.project.clone()),
        key.as_ref().and_then(|k| k.project_id.clone()),
        env.project.clone(),
    ]
    .into_iter()
    .flatten()
    .find(|p| !p.is_empty())
    .ok_or(ConfigError::NoProject)?;
    let (namespace, name, uid) = ids;
    let sub_id = subscription_id(namespace, name, uid);
    let ack = seconds(spec.ack_deadline.as_deref(), DEFAULT_ACK_DEADLINE);
    let retention = seconds(
        spec.retention_duration.as_deref(),
        DEFAULT_RETENTION_DURATION,
    );
    Ok(Config {
        endpoint,
        key,
        settings: SubscriptionSettings {
            topic: format!("projects/{project}/topics/{}", spec.topic),
            ack_deadline_seconds: ack.clamp(10.0, 600.0) as u32,
            retain_acked_messages: spec.retain_acked_messages,
            message_retention_duration: format!("{}s", retention as u64),
        },
        subscription: format!("projects/{project}/subscriptions/{sub_id}"),
        subscription_id: sub_id,
        project,
        topic: spec.topic,
    })
}

/// Runs the source until `ctx.cancel` fires.
pub async fn run(ctx: SourceContext) {
    let plan = ctx.plan.clone();
    let ids = (
        plan.key.namespace.as_str(),
        plan.key.name.as_str(),
        plan.uid.as_str(),
    );
    let secret = plan.secrets.get("/secret").map(String::as_str);
    let cfg = match resolve(&plan.spec, secret, &Environment::read(), ids) {
        Ok(c) => c,
        Err(e) => {
            let reason = match e {
                ConfigError::NoCredentials(_) | ConfigError::Key(_) => "CredentialsInvalid",
                _ => "InvalidSpec",
            };
            ctx.failed(reason, e.to_string());
            ctx.cancel.cancelled().await;
            return;
        }
    };
    let client = Client::new(
        ctx.config.client.clone(),
        &cfg.endpoint,
        cfg.key.clone().map(TokenSource::new),
    );
    let mut backoff = Backoff::default();
    while !ctx.cancel.is_cancelled() {
        if let Err(e) = client
            .ensure_subscription(&cfg.subscription, &cfg.settings)
            .await
        {
            report(&ctx, &e, "creating subscription", &cfg.subscription);
            if !sleep(&ctx.cancel, backoff.next()).await {
                return;
            }
            continue;
        }
        ctx.ready();
        match pull_loop(&ctx, &client, &cfg, &mut backoff).await {
            Ok(()) => return,
            Err(e) => {
                report(&ctx, &e, "pulling", &cfg.subscription);
                if !sleep(&ctx.cancel, backoff.next()).await {
                    return;
                }
            }
        }
    }
}

fn report(ctx: &SourceContext, e: &ApiError, doing: &str, subscription: &str) {
    tracing::warn!(source = %ctx.key(), error = %e, "Pub/Sub {doing} {subscription} failed");
    let msg = format!("{doing} {subscription}: {e}");
    match e {
        ApiError::Connection { .. } | ApiError::Timeout { .. } => ctx.pending(e.reason(), msg),
        _ => ctx.failed(e.reason(), msg),
    }
}

/// Pulls and delivers until cancelled (`Ok`) or Pub/Sub fails (`Err`: the caller reports it,
/// backs off and re-creates the subscription if it was deleted).
async fn pull_loop(
    ctx: &SourceContext,
    client: &Client,
    cfg: &Config,
    backoff: &mut Backoff,
) -> Result<(), ApiError> {
    loop {
        let pulled = tokio::select! {
            r = client.pull(&cfg.subscription, MAX_MESSAGES, POLL_WAIT) => r?,
            _ = ctx.cancel.cancelled() => return Ok(()),
        };
        backoff.reset();
        ctx.ready();
        let mut pending = pulled.into_iter();
        while let Some(m) = pending.next() {
            if ctx.cancel.is_cancelled() {
                // Hand back what this run will not deliver, so the next run gets it at once.
                for rest in std::iter::once(m).chain(pending.by_ref()) {
                    let _ = client
                        .modify_ack_deadline(&cfg.subscription, &rest.ack_id, 0)
                        .await;
                }
                return Ok(());
            }
            deliver(ctx, client, cfg, m).await?;
        }
    }
}

/// Sends one message's event; acks it on success, nacks it otherwise.
async fn deliver(
    ctx: &SourceContext,
    client: &Client,
    cfg: &Config,
    m: ReceivedMessage,
) -> Result<(), ApiError> {
    let event = to_event(&cfg.project, &cfg.topic, &cfg.subscription_id, &m.message);
    let lease = keep_lease(client, cfg, &m.ack_id);
    let sent = ctx.emitter.emit(event, &ctx.cancel).await;
    lease.cancel();
    match sent {
        Ok(()) => client.acknowledge(&cfg.subscription, &m.ack_id).await,
        Err(e) => {
            if !matches!(e, EmitError::Cancelled) {
                tracing::warn!(source = %ctx.key(), message_id = %m.message.message_id, error = %e,
                    "event not delivered; the message is nacked for redelivery");
            }
            client
                .modify_ack_deadline(&cfg.subscription, &m.ack_id, 0)
                .await
        }
    }
}

/// Extends the message's ack deadline every half deadline while its event is being delivered
/// (the emitter's retries can outlast one deadline). Stops when the returned token is cancelled.
fn keep_lease(client: &Client, cfg: &Config, ack_id: &str) -> CancellationToken {
    let stop = CancellationToken::new();
    let (client, sub, ack_id) = (client.clone(), cfg.subscription.clone(), ack_id.to_string());
    let deadline = cfg.settings.ack_deadline_seconds;
    let period = Duration::from_secs(u64::from(deadline / 2).max(1));
    let token = stop.clone();
    tokio::spawn(async move {
        while sleep(&token, period).await {
            if let Err(e) = client.modify_ack_deadline(&sub, &ack_id, deadline).await {
                tracing::debug!(error = %e, "extending an ack deadline failed");
            }
        }
    });
    stop
}

/// Sleeps `d`; false when cancelled first.
async fn sleep(cancel: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = cancel.cancelled() => false,
    }
}

/// Exponential reconnect backoff, 0.5 s doubling to 10 s (a pull is cheap; recover fast).
#[derive(Debug, Default)]
struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let d = self.next.unwrap_or(BACKOFF_MIN);
        self.next = Some((d * 2).min(BACKOFF_MAX));
        d
    }

    fn reset(&mut self) {
        self.next = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = include_str!("gcppubsub/testdata/test-key.pem");

    fn key_json(project: Option<&str>) -> String {
        json!({"type": "service_account", "client_email": "h@p.iam.gserviceaccount.com",
               "private_key": KEY, "project_id": project})
        .to_string()
    }

    fn spec(extra: serde_json::Value) -> serde_json::Value {
        let mut s = json!({"topic": "laconia", "ackDeadline": "30s", "retentionDuration": "1h",
                           "secret": {"name": "google-cloud-key", "key": "key.json"},
                           "sink": {"uri": "http://x"}});
        if let (Some(o), Some(e)) = (s.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        s
    }

    #[test]
    fn resolves_endpoint_credentials_and_project() {
        let emu = Environment {
            emulator_host: Some("127.0.0.1:8085".into()),
            ..Default::default()
        };
        let ids = ("ns", "src", "uid");
        let c = resolve(&spec(json!({"project": "test"})), None, &emu, ids)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.endpoint, "http://127.0.0.1:8085");
        assert!(c.key.is_none());
        assert_eq!(
            c.subscription,
            "projects/test/subscriptions/cre-src_ns_src_uid"
        );
        assert_eq!(
            c.settings,
            SubscriptionSettings {
                topic: "projects/test/topics/laconia".into(),
                ack_deadline_seconds: 30,
                retain_acked_messages: false,
                message_retention_duration: "3600s".into(),
            }
        );
        // Real Google Cloud: the project comes from spec, else key, else environment.
        let secret = key_json(Some("from-key"));
        let none = Environment::default();
        let c =
            resolve(&spec(json!({})), Some(&secret), &none, ids).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (c.endpoint.as_str(), c.project.as_str()),
            (api::GOOGLE_ENDPOINT, "from-key")
        );
        assert!(c.key.is_some());
        let adc = Environment {
            adc_key: Some(key_json(None)),
            project: Some("from-env".into()),
            ..Default::default()
        };
        let c = resolve(&spec(json!({})), None, &adc, ids).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.project, "from-env");
        let c = resolve(&spec(json!({"project": "p"})), None, &adc, ids)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.project, "p");
    }

    #[test]
    fn resolve_errors() {
        let ids = ("ns", "src", "uid");
        let none = Environment::default();
        assert!(matches!(
            resolve(&spec(json!({})), None, &none, ids),
            Err(ConfigError::NoCredentials(s)) if s == "google-cloud-key/key.json"
        ));
        assert!(matches!(
            resolve(&spec(json!({})), Some("{}"), &none, ids),
            Err(ConfigError::Key(_))
        ));
        let emu = Environment {
            emulator_host: Some("http://h:1".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(&spec(json!({})), None, &emu, ids).err(),
            Some(ConfigError::NoProject)
        );
        assert!(matches!(
            resolve(&json!({"topic": 5}), None, &emu, ids),
            Err(ConfigError::Spec(_))
        ));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut b = Backoff::default();
        let got: Vec<u64> = (0..9).map(|_| b.next().as_millis() as u64).collect();
        assert_eq!(
            got,
            [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000, 10000]
        );
        b.reset();
        assert_eq!(b.next(), BACKOFF_MIN);
    }
}
