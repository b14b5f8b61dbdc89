//! RedisStreamSource: reads a Redis stream through a consumer group (XREADGROUP) and sends
//! each entry to the sink as `dev.knative.sources.redisstream`, acknowledging it (XACK) only
//! once the sink accepted it. Entries left pending by a crash or a failed delivery are read
//! again from the consumer's pending list, so nothing acknowledged upstream is ever lost.

#[cfg(feature = "redis")]
mod resp;

use base64::Engine as _;
use herald_api::sources::redisstream::RedisStreamSourceSpec;
use herald_api::sources::support::SecretValueFromSource;
use herald_ce::{Data, Event};

use crate::runtime::SourceContext;

/// The CloudEvent type (eventing-redis `adapter.go`).
pub const EVENT_TYPE: &str = "dev.knative.sources.redisstream";

/// What one RedisStreamSource runs, decoded and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `host:port` to dial.
    pub dial: String,
    /// `spec.address` as written: the CloudEvent source is `<address>/<stream>`.
    pub address: String,
    pub stream: String,
    pub group: String,
    pub consumers: usize,
    pub password: Option<String>,
    /// `Some` when `dialOptions.useTLS` is set.
    pub tls: Option<TlsSettings>,
}

pub use crate::tls::TlsSettings;

/// Why a spec cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid spec: {0}")]
    Decode(String),
    #[error("spec.dialOptions.{0}: the referenced Secret or key does not exist")]
    MissingSecret(&'static str),
}

impl ConfigError {
    pub fn reason(&self) -> &'static str {
        match self {
            ConfigError::Decode(_) => "InvalidSpec",
            ConfigError::MissingSecret(_) => "SecretNotFound",
        }
    }
}

impl Config {
    /// Reads the storage-form spec; the group defaults to `<namespace>.<name>`.
    pub fn from_plan(
        spec: &serde_json::Value,
        secrets: &std::collections::BTreeMap<String, String>,
        namespace: &str,
        name: &str,
    ) -> Result<Config, ConfigError> {
        let s: RedisStreamSourceSpec =
            serde_json::from_value(spec.clone()).map_err(|e| ConfigError::Decode(e.to_string()))?;
        let opts = s.dial_options.unwrap_or_default();
        // A referenced value must resolve; an unreferenced one is absent.
        let secret = |field: &'static str, v: &Option<SecretValueFromSource>| match v
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
        {
            None => Ok(None),
            Some(_) => secrets
                .get(&format!("/dialOptions/{field}"))
                .cloned()
                .map(Some)
                .ok_or(ConfigError::MissingSecret(field)),
        };
        let password = secret("password", &opts.password)?;
        let tls = if opts.use_tls {
            Some(TlsSettings {
                ca_pem: secret("caCert", &opts.ca_cert)?,
                cert_pem: secret("cert", &opts.cert)?,
                key_pem: secret("key", &opts.key)?,
                skip_verify: opts.skip_verify,
            })
        } else {
            None
        };
        let group = if s.group.is_empty() {
            format!("{namespace}.{name}")
        } else {
            s.group
        };
        Ok(Config {
            dial: s
                .address
                .strip_prefix("redis://")
                .unwrap_or(&s.address)
                .to_string(),
            address: s.address,
            stream: s.stream,
            group,
            consumers: usize::try_from(s.consumers.unwrap_or(1))
                .unwrap_or(1)
                .max(1),
            password,
            tls,
        })
    }

    /// The CloudEvent `source`: `<address>/<stream>`, as Knative's adapter builds it (with
    /// `redis://` in front when that alone is no URI reference, e.g. for an IP address).
    pub fn source(&self) -> String {
        herald_api::sources::redisstream::event_source(&self.address, &self.stream)
    }

    /// Consumer `i`'s name in the group: stable, so a restart reads its own pending entries.
    pub fn consumer(&self, i: usize) -> String {
        format!("{}-{i}", self.group)
    }
}

/// One stream entry as XREADGROUP returns it. `fields` is `None` for an entry that is still
/// pending but was deleted from the stream (XDEL, trimming).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub fields: Option<Vec<Vec<u8>>>,
}

/// The event for an entry. The data is what Knative's adapter sends: the JSON encoding of the
/// entry's field-value list, where each field and value (a Go byte slice there) is a base64
/// string — `["ZmllbGQ=","dmFsdWU="]` for `field value`. It carries any bytes exactly.
pub fn to_event(source: &str, id: &str, fields: &[Vec<u8>]) -> Event {
    let b64 = base64::engine::general_purpose::STANDARD;
    let items: Vec<serde_json::Value> = fields
        .iter()
        .map(|f| serde_json::Value::String(b64.encode(f)))
        .collect();
    let mut ev = Event::new(id, source, EVENT_TYPE);
    ev.datacontenttype = Some("application/json".into());
    ev.data = Some(Data::Json(serde_json::Value::Array(items).to_string()));
    ev
}

/// Runs the source until `ctx.cancel` fires.
pub async fn run(ctx: SourceContext) {
    #[cfg(feature = "redis")]
    {
        let key = ctx.key().clone();
        match Config::from_plan(&ctx.plan.spec, &ctx.plan.secrets, &key.namespace, &key.name) {
            Ok(config) => consumer::run(ctx, config).await,
            Err(e) => {
                ctx.failed(e.reason(), e.to_string());
                ctx.cancel.cancelled().await;
            }
        }
    }
    #[cfg(not(feature = "redis"))]
    {
        ctx.failed("NotBuilt", "Herald was built without the `redis` feature");
        ctx.cancel.cancelled().await;
    }
}

#[cfg(feature = "redis")]
mod consumer;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn config_from_spec() {
        let mut secrets = BTreeMap::new();
        let base = json!({"address": "redis://r:6379", "stream": "s",
                          "sink": {"uri": "http://x"}});
        let c = Config::from_plan(&base, &secrets, "ns", "src").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.dial, "r:6379");
        assert_eq!(c.source(), "redis://r:6379/s");
        assert_eq!(c.group, "ns.src");
        assert_eq!(c.consumer(1), "ns.src-1");
        assert_eq!((c.consumers, c.password.as_deref()), (1, None));

        let mut with = base.clone();
        with["group"] = json!("g");
        with["consumers"] = json!(3);
        with["dialOptions"] = json!({"password": {"secretKeyRef": {"name": "r", "key": "p"}}});
        assert_eq!(
            Config::from_plan(&with, &secrets, "ns", "src"),
            Err(ConfigError::MissingSecret("password"))
        );
        secrets.insert("/dialOptions/password".into(), "pw".into());
        let c = Config::from_plan(&with, &secrets, "ns", "src").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.group.as_str(), c.consumers), ("g", 3));
        assert_eq!(c.password.as_deref(), Some("pw"));

        assert_eq!(c.tls, None);

        let mut tls = base.clone();
        tls["dialOptions"] = json!({"useTLS": true, "skipVerify": true,
            "caCert": {"secretKeyRef": {"name": "r", "key": "ca"}}});
        assert_eq!(
            Config::from_plan(&tls, &secrets, "ns", "src"),
            Err(ConfigError::MissingSecret("caCert"))
        );
        secrets.insert("/dialOptions/caCert".into(), "PEM".into());
        let c = Config::from_plan(&tls, &secrets, "ns", "src").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.tls,
            Some(TlsSettings {
                ca_pem: Some("PEM".into()),
                skip_verify: true,
                ..Default::default()
            })
        );
        let bad = json!({"address": 1});
        assert!(matches!(
            Config::from_plan(&bad, &secrets, "ns", "src"),
            Err(ConfigError::Decode(_))
        ));
    }

    #[test]
    fn events_carry_knatives_data_shape() {
        let ev = to_event(
            "redis://127.0.0.1:6379/s",
            "1-0",
            &[b"temp".to_vec(), b"21".to_vec(), vec![0xff, 0]],
        );
        assert_eq!(ev.ty, EVENT_TYPE);
        assert_eq!(ev.source, "redis://127.0.0.1:6379/s");
        assert_eq!(ev.id, "1-0");
        assert_eq!(ev.datacontenttype.as_deref(), Some("application/json"));
        assert_eq!(
            ev.data,
            Some(Data::Json(r#"["dGVtcA==","MjE=","/wA="]"#.into()))
        );
    }
}
