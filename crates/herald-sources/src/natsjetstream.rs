//! NatsJetStreamSource (`sources.herald.dev/v1alpha1`): a durable pull consumer on a JetStream
//! stream. Each message becomes one CloudEvent (passed through when it already is one) and is
//! acknowledged (`+ACK`) only after the sink accepted it; a final delivery failure answers
//! `-NAK` with a delay so JetStream redelivers later. While an event is being retried the
//! source sends `+WPI` (work in progress) so the ack wait does not expire under it.
//!
//! The NATS client is hand-rolled ([`proto`], [`client`]): the source needs CONNECT, SUB, PUB,
//! MSG/HMSG and a handful of JetStream JSON API subjects, while `async-nats` (even without
//! default features) adds about 70 crates (nkeys, ed25519/curve25519, rustls glue, `time`…).

#[cfg(feature = "nats")]
mod client;
#[cfg(feature = "nats")]
mod proto;

use crate::runtime::SourceContext;

/// The `type` of events made from plain (non-CloudEvent) messages.
pub const EVENT_TYPE: &str = "dev.herald.sources.natsjetstream";

/// The `source` of events made from plain messages: the source object's API path and the
/// stream, as Knative's KafkaSource does with topics.
pub fn event_source(namespace: &str, name: &str, stream: &str) -> String {
    format!("/apis/v1/namespaces/{namespace}/natsjetstreamsources/{name}#{stream}")
}

/// Runs the source until `ctx.cancel` fires.
#[cfg(not(feature = "nats"))]
pub async fn run(ctx: SourceContext) {
    ctx.failed("NotBuilt", "Herald was built without the `nats` feature");
    ctx.cancel.cancelled().await;
}

#[cfg(feature = "nats")]
pub use imp::run;

#[cfg(feature = "nats")]
mod imp {
    use std::time::Duration;

    use bytes::Bytes;
    use herald_api::sources::natsjetstream::{
        DEFAULT_ACK_WAIT, DEFAULT_URL, DeliverPolicy, NatsJetStreamSourceSpec,
    };
    use herald_api::sources::support::parse_go_duration;
    use herald_ce::{Data, Event};
    use http::{HeaderMap, HeaderName, HeaderValue};
    use serde_json::{Value, json};

    use super::client::{ApiError, Client, ClientError};
    use super::proto::{AckInfo, Auth, Headers, Msg};
    use super::{EVENT_TYPE, SourceContext, event_source};
    use crate::emitter::EmitError;
    use crate::tls::TlsSettings;

    /// Messages asked for per pull request.
    const BATCH: u64 = 16;
    /// How long a pull request waits on the server for messages.
    const PULL_EXPIRES: Duration = Duration::from_secs(5);
    /// Extra time for a pull's end-of-request status before the connection counts as dead.
    const PULL_GRACE: Duration = Duration::from_secs(10);
    const API_TIMEOUT: Duration = Duration::from_secs(5);
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Redelivery delay asked for with `-NAK` after a final delivery failure.
    const NAK_DELAY: Duration = Duration::from_secs(5);
    const BACKOFF_MIN: Duration = Duration::from_millis(500);
    const BACKOFF_MAX: Duration = Duration::from_secs(30);

    /// The spec, resolved into what a session needs.
    #[derive(Debug, Clone, PartialEq)]
    pub(super) struct Config {
        pub addr: String,
        pub auth: Auth,
        /// `Some` when `spec.tls` is set or the URL is `tls://`; the server may still ask for
        /// TLS on a `nats://` URL, then it is verified against the system's roots.
        pub tls: Option<TlsSettings>,
        pub stream: String,
        pub subjects: Vec<String>,
        pub filter: String,
        pub consumer: String,
        pub deliver_policy: DeliverPolicy,
        pub ack_wait: Duration,
        pub source: String,
    }

    /// Why the spec cannot run (the API validates the same; this guards stored objects).
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub(super) enum ConfigError {
        #[error("spec cannot be read: {0}")]
        Decode(String),
        #[error("spec.url {0:?} is not a nats://host:port or tls://host:port URL")]
        Url(String),
        #[error("spec.stream is required")]
        NoStream,
        #[error("spec.ackWait {0:?} is not a duration")]
        AckWait(String),
        #[error("the Secret key referenced by spec.{0} does not exist")]
        MissingSecret(&'static str),
    }

    impl Config {
        pub fn from_plan(
            spec: &Value,
            secrets: &std::collections::BTreeMap<String, String>,
            namespace: &str,
            name: &str,
        ) -> Result<Config, ConfigError> {
            let s: NatsJetStreamSourceSpec = serde_json::from_value(spec.clone())
                .map_err(|e| ConfigError::Decode(e.to_string()))?;
            let url = if s.url.is_empty() {
                DEFAULT_URL
            } else {
                &s.url
            };
            let parsed = reqwest::Url::parse(url).map_err(|_| ConfigError::Url(url.into()))?;
            let host = match parsed.host_str() {
                Some(h) if matches!(parsed.scheme(), "nats" | "tls") && !h.is_empty() => h,
                _ => return Err(ConfigError::Url(url.into())),
            };
            let addr = format!("{host}:{}", parsed.port().unwrap_or(4222));
            let secret = |field: &'static str, set: bool| -> Result<Option<String>, ConfigError> {
                // `field` is the path below `spec`, e.g. `tls.caCert` at pointer `/tls/caCert`.
                if !set {
                    return Ok(None);
                }
                secrets
                    .get(&format!("/{}", field.replace('.', "/")))
                    .cloned()
                    .map(Some)
                    .ok_or(ConfigError::MissingSecret(field))
            };
            let tls = match &s.tls {
                Some(t) => Some(TlsSettings {
                    ca_pem: secret("tls.caCert", t.ca_cert.is_some())?,
                    cert_pem: secret("tls.cert", t.cert.is_some())?,
                    key_pem: secret("tls.key", t.key.is_some())?,
                    skip_verify: t.skip_verify,
                }),
                None if parsed.scheme() == "tls" => Some(TlsSettings::default()),
                None => None,
            };
            let mut auth = Auth {
                user: secret("user", s.user.is_some())?,
                password: secret("password", s.password.is_some())?,
                token: secret("token", s.token.is_some())?,
            };
            // Credentials in the URL (nats://user:pass@host) when none come from Secrets.
            if auth.user.is_none() && !parsed.username().is_empty() {
                auth.user = Some(parsed.username().to_string());
                auth.password = parsed.password().map(str::to_string);
            }
            if s.stream.is_empty() {
                return Err(ConfigError::NoStream);
            }
            let ack = if s.ack_wait.is_empty() {
                DEFAULT_ACK_WAIT
            } else {
                &s.ack_wait
            };
            let ack_wait = parse_go_duration(ack)
                .filter(|d| *d >= 0.001)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| ConfigError::AckWait(ack.into()))?;
            let consumer = if s.consumer_name.is_empty() {
                format!("herald-{namespace}-{name}").replace(['.', '*', '>', ' '], "_")
            } else {
                s.consumer_name.clone()
            };
            Ok(Config {
                addr,
                auth,
                tls,
                source: event_source(namespace, name, &s.stream),
                stream: s.stream,
                subjects: s.subjects,
                filter: s.subject,
                consumer,
                deliver_policy: s.deliver_policy,
                ack_wait,
            })
        }

        /// The durable consumer's configuration (explicit acks, unlimited redeliveries).
        pub fn consumer_config(&self) -> Value {
            let mut c = json!({
                "durable_name": self.consumer,
                "deliver_policy": match self.deliver_policy {
                    DeliverPolicy::All => "all",
                    DeliverPolicy::New => "new",
                },
                "ack_policy": "explicit",
                "ack_wait": self.ack_wait.as_nanos() as u64,
                "max_deliver": -1,
                "replay_policy": "instant",
                "max_ack_pending": 1000,
            });
            if !self.filter.is_empty() {
                c["filter_subject"] = json!(self.filter);
            }
            json!({"stream_name": self.stream, "config": c})
        }
    }

    /// Why a session ended: a reason for the Ready condition and a message.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub(super) enum SessionError {
        #[error("{0}")]
        Connection(ClientError),
        #[error("stream {0} does not exist and spec.subjects is empty, so it cannot be created")]
        StreamNotFound(String),
        #[error("stream {0}: {1}")]
        Stream(String, String),
        #[error("consumer {0}: {1}")]
        Consumer(String, String),
    }

    impl From<ClientError> for SessionError {
        fn from(e: ClientError) -> Self {
            SessionError::Connection(e)
        }
    }

    impl SessionError {
        fn reason(&self) -> &'static str {
            match self {
                SessionError::Connection(ClientError::Dial { .. } | ClientError::Refused(_)) => {
                    "ConnectionFailed"
                }
                SessionError::Connection(ClientError::Tls { .. }) => "TLSHandshakeFailed",
                SessionError::Connection(ClientError::TlsConfig(_)) => "InvalidTLSConfig",
                SessionError::Connection(_) => "ConnectionLost",
                SessionError::StreamNotFound(_) => "StreamNotFound",
                SessionError::Stream(..) => "StreamFailed",
                SessionError::Consumer(..) => "ConsumerFailed",
            }
        }
    }

    pub async fn run(ctx: SourceContext) {
        let (p, key) = (&ctx.plan, ctx.key());
        let cfg = match Config::from_plan(&p.spec, &p.secrets, &key.namespace, &key.name) {
            Ok(c) => c,
            Err(e) => {
                ctx.failed("InvalidSpec", e.to_string());
                ctx.cancel.cancelled().await;
                return;
            }
        };
        ctx.pending("Connecting", format!("connecting to nats://{}", cfg.addr));
        let mut backoff = BACKOFF_MIN;
        loop {
            let mut served = false;
            let end = tokio::select! {
                _ = ctx.cancel.cancelled() => return,
                e = session(&ctx, &cfg, &mut served) => e,
            };
            let Some(e) = end else { return };
            if served {
                backoff = BACKOFF_MIN;
            }
            tracing::warn!(source = %ctx.key(), error = %e, "NATS JetStream source: retrying in {backoff:?}");
            ctx.failed(e.reason(), e.to_string());
            tokio::select! {
                _ = ctx.cancel.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Connects, makes sure the stream and consumer exist, then pulls and delivers until
    /// something fails (`Some`) or the source is stopped (`None`).
    async fn session(ctx: &SourceContext, cfg: &Config, served: &mut bool) -> Option<SessionError> {
        let mut c =
            match Client::connect(&cfg.addr, &cfg.auth, cfg.tls.as_ref(), CONNECT_TIMEOUT).await {
                Ok(c) => c,
                Err(e) => return Some(e.into()),
            };
        if let Err(e) = ensure_stream(&mut c, cfg).await {
            return Some(e);
        }
        if let Err(e) = ensure_consumer(&mut c, cfg).await {
            return Some(e);
        }
        ctx.ready();
        *served = true;
        loop {
            match pull(ctx, &mut c, cfg).await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(e),
            }
        }
    }

    async fn ensure_stream(c: &mut Client, cfg: &Config) -> Result<(), SessionError> {
        let info = c
            .api(
                &format!("$JS.API.STREAM.INFO.{}", cfg.stream),
                &json!({}),
                API_TIMEOUT,
            )
            .await?;
        match ApiError::of(&info) {
            None => Ok(()),
            // 10059: stream not found.
            Some(e) if e.err_code == 10059 || e.code == 404 => {
                if cfg.subjects.is_empty() {
                    return Err(SessionError::StreamNotFound(cfg.stream.clone()));
                }
                let body = json!({"name": cfg.stream, "subjects": cfg.subjects,
                                  "retention": "limits", "storage": "file"});
                let r = c
                    .api(
                        &format!("$JS.API.STREAM.CREATE.{}", cfg.stream),
                        &body,
                        API_TIMEOUT,
                    )
                    .await?;
                match ApiError::of(&r) {
                    None => Ok(()),
                    Some(e) => Err(SessionError::Stream(cfg.stream.clone(), e.description)),
                }
            }
            Some(e) => Err(SessionError::Stream(cfg.stream.clone(), e.description)),
        }
    }

    async fn ensure_consumer(c: &mut Client, cfg: &Config) -> Result<(), SessionError> {
        let subject = format!(
            "$JS.API.CONSUMER.DURABLE.CREATE.{}.{}",
            cfg.stream, cfg.consumer
        );
        let r = c.api(&subject, &cfg.consumer_config(), API_TIMEOUT).await?;
        match ApiError::of(&r) {
            None => Ok(()),
            Some(e) => Err(SessionError::Consumer(cfg.consumer.clone(), e.description)),
        }
    }

    /// One pull request: delivers what arrives until the server ends the request. `Ok(false)`
    /// when the source was stopped mid-delivery.
    async fn pull(ctx: &SourceContext, c: &mut Client, cfg: &Config) -> Result<bool, SessionError> {
        let inbox = c.reply_subject();
        let req = json!({"batch": BATCH, "expires": PULL_EXPIRES.as_nanos() as u64});
        let subject = format!("$JS.API.CONSUMER.MSG.NEXT.{}.{}", cfg.stream, cfg.consumer);
        c.publish(&subject, Some(&inbox), req.to_string().as_bytes())
            .await?;
        let mut got = 0;
        while got < BATCH {
            let Some(m) = c.next_msg(PULL_EXPIRES + PULL_GRACE).await? else {
                return Err(ClientError::Timeout(subject, PULL_EXPIRES + PULL_GRACE).into());
            };
            if let Some((code, desc)) = &m.status {
                if m.subject != inbox {
                    continue;
                }
                match code {
                    100 => continue, // Heartbeat.
                    404 | 408 => return Ok(true),
                    409 if desc.contains("Consumer Deleted")
                        || desc.contains("Consumer is push based") =>
                    {
                        return Err(SessionError::Consumer(cfg.consumer.clone(), desc.clone()));
                    }
                    _ => return Ok(true), // 409 limits and others end this request.
                }
            }
            let Some(info) = m.reply.as_deref().and_then(super::proto::ack_info) else {
                continue; // Not a JetStream delivery (a late API reply).
            };
            got += 1;
            if !deliver(ctx, c, cfg, &m, &info).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Emits one message and acknowledges it; `Ok(false)` if the source was stopped first
    /// (the message stays unacknowledged and is redelivered after the ack wait).
    async fn deliver(
        ctx: &SourceContext,
        c: &mut Client,
        cfg: &Config,
        m: &Msg,
        info: &AckInfo,
    ) -> Result<bool, SessionError> {
        let reply = m.reply.as_deref().unwrap_or_default();
        let event = to_event(&m.subject, &m.headers, m.payload.clone(), info, &cfg.source);
        let emit = ctx.emitter.emit(event, &ctx.cancel);
        tokio::pin!(emit);
        let mut progress = tokio::time::interval(cfg.ack_wait / 2);
        progress.tick().await;
        let result = loop {
            tokio::select! {
                r = &mut emit => break r,
                _ = progress.tick() => c.publish(reply, None, b"+WPI").await?,
            }
        };
        match result {
            Ok(()) => c.publish(reply, None, b"+ACK").await?,
            Err(EmitError::Cancelled) => return Ok(false),
            Err(e) => {
                tracing::warn!(source = %ctx.key(), stream_seq = info.stream_seq, error = %e,
                    "NATS JetStream source: event not delivered, asking for redelivery");
                let nak = format!("-NAK {}", json!({"delay": NAK_DELAY.as_nanos() as u64}));
                c.publish(reply, None, nak.as_bytes()).await?;
            }
        }
        Ok(true)
    }

    /// The CloudEvent for a message: the message itself when it is a valid CloudEvent (binary
    /// `ce-*` headers, or structured JSON), otherwise a `dev.herald.sources.natsjetstream`
    /// event carrying the payload. A message that claims to be a CloudEvent but is not a valid
    /// one is wrapped like any other, so nothing is dropped.
    pub(super) fn to_event(
        subject: &str,
        headers: &Headers,
        payload: Bytes,
        info: &AckInfo,
        source: &str,
    ) -> Event {
        if let Some(ev) = as_cloudevent(headers, &payload) {
            return ev;
        }
        let mut ev = Event::new(
            format!("{}:{}", info.stream, info.stream_seq),
            source,
            EVENT_TYPE,
        );
        ev.subject = Some(subject.to_string());
        ev.time = jiff::Timestamp::from_nanosecond(info.timestamp_nanos)
            .ok()
            .map(|t| t.to_string());
        ev.datacontenttype = headers.get("content-type").map(str::to_string);
        ev.data = (!payload.is_empty()).then_some(Data::Binary(payload));
        ev
    }

    fn as_cloudevent(headers: &Headers, payload: &Bytes) -> Option<Event> {
        let mut map = HeaderMap::new();
        for (k, v) in &headers.0 {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()),
                HeaderValue::from_str(v),
            ) {
                map.append(k, v);
            }
        }
        if herald_ce::is_cloudevent(&map) {
            return match herald_ce::decode_http(&map, payload.clone()) {
                Ok((herald_ce::Mode::Binary | herald_ce::Mode::Structured, mut evs))
                    if evs.len() == 1 =>
                {
                    evs.pop()
                }
                _ => None,
            };
        }
        // The CloudEvents NATS binding without headers: structured JSON with no content type.
        if map.get(http::header::CONTENT_TYPE).is_none()
            && payload.first() == Some(&b'{')
            && serde_json::from_slice::<Value>(payload)
                .ok()
                .is_some_and(|v| v.get("specversion").is_some_and(Value::is_string))
        {
            return herald_ce::from_json(payload)
                .ok()
                .filter(|e| e.validate().is_ok());
        }
        None
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::collections::BTreeMap;

        fn info() -> AckInfo {
            AckInfo {
                stream: "ORDERS".into(),
                consumer: "c".into(),
                delivered: 1,
                stream_seq: 42,
                consumer_seq: 7,
                timestamp_nanos: 1_700_000_000_123_456_789,
            }
        }

        fn h(pairs: &[(&str, &str)]) -> Headers {
            Headers(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        }

        const SRC: &str = "/apis/v1/namespaces/ns/natsjetstreamsources/s#ORDERS";

        #[test]
        fn plain_messages_are_wrapped() {
            let ev = to_event(
                "orders.new",
                &h(&[("Content-Type", "application/json")]),
                Bytes::from_static(b"{\"a\":1}"),
                &info(),
                SRC,
            );
            assert_eq!(
                (ev.id.as_str(), ev.source.as_str(), ev.ty.as_str()),
                ("ORDERS:42", SRC, EVENT_TYPE)
            );
            assert_eq!(ev.subject.as_deref(), Some("orders.new"));
            assert_eq!(ev.time.as_deref(), Some("2023-11-14T22:13:20.123456789Z"));
            assert_eq!(ev.datacontenttype.as_deref(), Some("application/json"));
            assert_eq!(
                ev.data.as_ref().map(|d| d.as_bytes().to_vec()),
                Some(b"{\"a\":1}".to_vec())
            );
            assert!(ev.extensions.is_empty());
            let empty = to_event("x", &h(&[]), Bytes::new(), &info(), SRC);
            assert_eq!((empty.data, empty.datacontenttype), (None, None));
        }

        #[test]
        fn cloudevents_pass_through() {
            let binary = to_event(
                "x",
                &h(&[
                    ("ce-specversion", "1.0"),
                    ("ce-id", "e1"),
                    ("ce-source", "/s"),
                    ("ce-type", "t.t"),
                    ("CE-Ext", "v"),
                    ("content-type", "text/plain"),
                ]),
                Bytes::from_static(b"hi"),
                &info(),
                SRC,
            );
            assert_eq!(
                (
                    binary.id.as_str(),
                    binary.source.as_str(),
                    binary.ty.as_str()
                ),
                ("e1", "/s", "t.t")
            );
            assert_eq!(binary.datacontenttype.as_deref(), Some("text/plain"));
            assert_eq!(binary.extensions.len(), 1);
            let json =
                br#"{"specversion":"1.0","id":"e2","source":"/s","type":"t","data":{"a":1}}"#;
            for hs in [
                h(&[("Content-Type", "application/cloudevents+json")]),
                h(&[]),
            ] {
                let ev = to_event("x", &hs, Bytes::from_static(json), &info(), SRC);
                assert_eq!((ev.id.as_str(), ev.ty.as_str()), ("e2", "t"));
            }
        }

        #[test]
        fn malformed_cloudevents_are_wrapped() {
            for (hs, body) in [
                (h(&[("ce-specversion", "1.0"), ("ce-id", "e1")]), &b"x"[..]),
                (
                    h(&[
                        ("ce-specversion", "9.9"),
                        ("ce-id", "e"),
                        ("ce-source", "/s"),
                        ("ce-type", "t"),
                    ]),
                    b"x",
                ),
                (
                    h(&[("content-type", "application/cloudevents+json")]),
                    b"{not json",
                ),
                (h(&[]), br#"{"specversion":"1.0","id":"only-id"}"#),
            ] {
                let ev = to_event("bad", &hs, Bytes::copy_from_slice(body), &info(), SRC);
                assert_eq!(
                    (ev.id.as_str(), ev.ty.as_str()),
                    ("ORDERS:42", EVENT_TYPE),
                    "{hs:?}"
                );
                assert_eq!(ev.data.map(|d| d.as_bytes().to_vec()), Some(body.to_vec()));
            }
        }

        #[test]
        fn config_from_spec() {
            let mut secrets = BTreeMap::new();
            secrets.insert("/token".to_string(), "s3cret".to_string());
            let spec = json!({"url": "nats://me:pw@nats.example:4333", "stream": "ORDERS",
                              "subject": "orders.*", "ackWait": "1m", "deliverPolicy": "new",
                              "token": {"secretKeyRef": {"name": "n", "key": "t"}}});
            let c = Config::from_plan(&spec, &secrets, "my.ns", "src")
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.addr, "nats.example:4333");
            assert_eq!(
                c.auth,
                Auth {
                    user: Some("me".into()),
                    password: Some("pw".into()),
                    token: Some("s3cret".into())
                }
            );
            assert_eq!(c.consumer, "herald-my_ns-src");
            assert_eq!(c.ack_wait, Duration::from_secs(60));
            assert_eq!(
                c.consumer_config(),
                json!({"stream_name": "ORDERS", "config": {
                "durable_name": "herald-my_ns-src", "deliver_policy": "new", "ack_policy": "explicit",
                "ack_wait": 60_000_000_000u64, "max_deliver": -1, "replay_policy": "instant",
                "max_ack_pending": 1000, "filter_subject": "orders.*"}})
            );
            let d = Config::from_plan(&json!({"stream": "S"}), &BTreeMap::new(), "ns", "n")
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (d.addr.as_str(), d.ack_wait, d.auth.clone(), d.tls.clone()),
                (
                    "127.0.0.1:4222",
                    Duration::from_secs(30),
                    Auth::default(),
                    None
                )
            );
            // TLS: a tls:// URL alone means the system's roots; spec.tls brings its Secrets.
            let t = Config::from_plan(
                &json!({"stream": "S", "url": "tls://nats.example"}),
                &BTreeMap::new(),
                "ns",
                "n",
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (t.addr.as_str(), t.tls),
                ("nats.example:4222", Some(TlsSettings::default()))
            );
            secrets.insert("/tls/caCert".to_string(), "CA PEM".to_string());
            let spec = json!({"stream": "S", "tls": {"skipVerify": true,
                "caCert": {"secretKeyRef": {"name": "t", "key": "ca.crt"}}}});
            let t = Config::from_plan(&spec, &secrets, "ns", "n").unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                t.tls,
                Some(TlsSettings {
                    ca_pem: Some("CA PEM".into()),
                    skip_verify: true,
                    ..Default::default()
                })
            );
            assert!(
                !d.consumer_config()["config"]
                    .as_object()
                    .is_some_and(|o| o.contains_key("filter_subject"))
            );
            for (spec, err) in [
                (json!({"stream": ""}), ConfigError::NoStream),
                (
                    json!({"stream": "S", "url": "http://x"}),
                    ConfigError::Url("http://x".into()),
                ),
                (
                    json!({"stream": "S", "ackWait": "x"}),
                    ConfigError::AckWait("x".into()),
                ),
                (
                    json!({"stream": "S", "token": {"secretKeyRef": {"name": "n", "key": "k"}}}),
                    ConfigError::MissingSecret("token"),
                ),
                (
                    json!({"stream": "S", "tls": {"cert": {"secretKeyRef": {"name": "t", "key": "c"}}}}),
                    ConfigError::MissingSecret("tls.cert"),
                ),
            ] {
                assert_eq!(
                    Config::from_plan(&spec, &BTreeMap::new(), "ns", "n"),
                    Err(err),
                    "{spec}"
                );
            }
        }
    }
}
