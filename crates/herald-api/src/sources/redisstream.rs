//! `RedisStreamSource` (sources.knative.dev/v1alpha1, as in knative-extensions/eventing-redis
//! `redisstream_types.go`): reads a Redis stream through a consumer group.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::ConditionSet;
use crate::field::{FieldError, FieldErrors};
use crate::meta::{CloudEventOverrides, Destination, SourceStatus};
use crate::object::Object;
use crate::registry::{
    AGE_COLUMN, Ctx, Kind, PrinterColumn, READY_COLUMN, REASON_COLUMN, Resource, ServedVersion,
    Typed, set_type,
};
use crate::schema::structural;

use super::support::{
    CATEGORIES, GROUP, SINK_COLUMN, SecretValueFromSource, default_sink_namespace,
    validate_secret_value, validate_source_spec,
};

pub const KIND: &str = "RedisStreamSource";
pub const API_VERSION: &str = "sources.knative.dev/v1alpha1";

/// RedisStreamSource's dependent conditions (eventing-redis `redistream_lifecycle.go`).
pub const CONDITIONS: ConditionSet = ConditionSet::new(&["SinkProvided", "Deployed"]);

/// RedisStreamSourceSpec defines the desired state of the RedisStreamSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisStreamSourceSpec {
    /// Address is the Redis TCP address (`host:port`).
    #[serde(default)]
    pub address: String,
    /// Options are the connection options.
    #[serde(
        default,
        rename = "dialOptions",
        skip_serializing_if = "Option::is_none"
    )]
    pub dial_options: Option<RedisConnectionOptions>,
    /// Stream is the name of the stream.
    #[serde(default)]
    pub stream: String,
    /// Group is the name of the consumer group associated to this source. When left empty, a
    /// group named after the source is used.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Number of desired consumers running in the consumer group. Defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumers: Option<i32>,
    /// Sink is a reference to an object that will resolve to a uri to use as the sink.
    #[serde(default)]
    pub sink: Destination,
    /// CloudEventOverrides defines overrides to control the output format and modifications
    /// of the event sent to the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
}

/// RedisConnectionOptions are the options to connect to a Redis instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisConnectionOptions {
    /// Password to use for connecting to Redis (`AUTH`), read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretValueFromSource>,
    /// UseTLS indicates whether to use TLS or not.
    #[serde(default, rename = "useTLS", skip_serializing_if = "std::ops::Not::not")]
    pub use_tls: bool,
    /// SkipVerify indicates whether to skip TLS verification or not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_verify: bool,
    /// Cert is the Kubernetes secret containing the client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<SecretValueFromSource>,
    /// Key is the Kubernetes secret containing the client key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<SecretValueFromSource>,
    /// CACert is the Kubernetes secret containing the server CA cert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<SecretValueFromSource>,
}

/// RedisStreamSourceStatus defines the observed state of RedisStreamSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisStreamSourceStatus {
    /// The duck SourceStatus: conditions, observedGeneration, sinkUri, ceAttributes.
    #[serde(flatten)]
    pub source_status: SourceStatus,
    /// Total number of consumers actually running in the consumer group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumers: Option<i32>,
}

pub type RedisStreamSource = Object<RedisStreamSourceSpec, RedisStreamSourceStatus>;

/// The most consumers one source may run (each holds a connection).
pub const MAX_CONSUMERS: i32 = 64;

impl Kind for RedisStreamSource {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        let ns = self.namespace().to_string();
        default_sink_namespace(&mut self.spec.sink, &ns);
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let s = &self.spec;
        if s.address.is_empty() {
            errs.push(FieldError::required("spec.address"));
        } else if !is_tcp_address(&s.address) {
            errs.push(FieldError::invalid(
                "spec.address",
                format!("invalid value: {}: must be host:port", s.address),
            ));
        }
        if s.stream.is_empty() {
            errs.push(FieldError::required("spec.stream"));
        }
        if let Some(n) = s.consumers
            && !(1..=MAX_CONSUMERS).contains(&n)
        {
            errs.push(FieldError::invalid(
                "spec.consumers",
                format!("invalid value: {n}: must be between 1 and {MAX_CONSUMERS}"),
            ));
        }
        if let Some(o) = &s.dial_options {
            for (field, v) in [
                ("password", &o.password),
                ("cert", &o.cert),
                ("key", &o.key),
                ("caCert", &o.ca_cert),
            ] {
                if let Some(v) = v {
                    validate_secret_value(&mut errs, &format!("spec.dialOptions.{field}"), v);
                }
            }
        }
        validate_source_spec(&mut errs, &s.sink, s.ce_overrides.as_ref());
        errs
    }
}

/// `host:port` (an optional `redis://` scheme is tolerated), with a numeric port.
pub fn is_tcp_address(s: &str) -> bool {
    let s = s.strip_prefix("redis://").unwrap_or(s);
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok_and(|p| p > 0)
        }
        None => false,
    }
}

/// The CloudEvent `source` of a RedisStreamSource: Knative's `<address>/<stream>`. With a host
/// name that is a valid URI reference (`redis.ns.svc:6379/orders` reads as scheme
/// `redis.ns.svc`); with an IP address it is not (`127.0.0.1:6379/orders` has a colon in its
/// first segment and no valid scheme, so brokers reject the event — Knative's SDK does too).
/// Then Herald writes `redis://<address>/<stream>` instead.
pub fn event_source(address: &str, stream: &str) -> String {
    let plain = format!("{address}/{stream}");
    let scheme = plain.split_once(':').map(|(s, _)| s).unwrap_or("");
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if valid_scheme || !plain.contains(':') {
        plain
    } else {
        format!("redis://{plain}")
    }
}

fn storage(v: serde_json::Value) -> Result<serde_json::Value, FieldErrors> {
    Ok(set_type(v, API_VERSION, KIND))
}

const COLUMNS: &[PrinterColumn] = &[READY_COLUMN, REASON_COLUMN, SINK_COLUMN, AGE_COLUMN];

/// The RedisStreamSource resource: sources.knative.dev/v1alpha1.
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "redisstreamsources",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![ServedVersion {
            group: GROUP,
            version: "v1alpha1",
            kind: KIND,
            plural: "redisstreamsources",
            singular: "redisstreamsource",
            short_names: &[],
            categories: CATEGORIES,
            columns: COLUMNS,
            deprecated: None,
            schema: structural::<RedisStreamSource>,
            to_storage: storage,
            from_storage: storage,
        }],
        hooks: Box::new(Typed::<RedisStreamSource>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::support::test_util::*;
    use serde_json::{Value, json};

    fn sample() -> Value {
        json!({
            "apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": "mystream", "namespace": "default"},
            "spec": {
                "address": "rediscluster.redis.svc.cluster.local:6379",
                "stream": "mystream",
                "group": "mygroup",
                "dialOptions": {"password": {"secretKeyRef": {"name": "redis", "key": "password"}}},
                "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                                 "name": "default"}}
            }
        })
    }

    #[test]
    fn resource_shape() {
        check_resource(&resource());
    }

    #[test]
    fn defaults() {
        let out = admit(&resource(), sample()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out["spec"]["sink"]["ref"]["namespace"], json!("default"));
    }

    #[test]
    fn addresses() {
        for (a, ok) in [
            ("127.0.0.1:6379", true),
            ("redis:6379", true),
            ("redis://redis:6379", true),
            ("[::1]:6379", true),
            ("redis", false),
            ("redis:0", false),
            ("redis:port", false),
            (":6379", false),
            ("http://redis:6379", false),
        ] {
            assert_eq!(is_tcp_address(a), ok, "{a}");
        }
    }

    #[test]
    fn event_sources() {
        for (address, want) in [
            (
                "redis.redis.svc.cluster.local:6379",
                "redis.redis.svc.cluster.local:6379/s",
            ),
            ("localhost:6379", "localhost:6379/s"),
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379/s"),
            ("127.0.0.1:6379", "redis://127.0.0.1:6379/s"),
            ("[::1]:6379", "redis://[::1]:6379/s"),
            ("my_redis:6379", "redis://my_redis:6379/s"),
        ] {
            assert_eq!(event_source(address, "s"), want, "{address}");
        }
    }

    #[test]
    fn validation_errors() {
        check_cases(
            &resource(),
            &sample(),
            &[
                ("valid", json!({}), &[]),
                ("no group is fine", json!({"group": null}), &[]),
                ("no options is fine", json!({"dialOptions": null}), &[]),
                ("no address", json!({"address": null}), &["spec.address"]),
                (
                    "bad address",
                    json!({"address": "redis"}),
                    &["spec.address"],
                ),
                ("no stream", json!({"stream": null}), &["spec.stream"]),
                (
                    "zero consumers",
                    json!({"consumers": 0}),
                    &["spec.consumers"],
                ),
                ("two consumers", json!({"consumers": 2}), &[]),
                (
                    "password without key",
                    json!({"dialOptions": {"password": {"secretKeyRef": {"name": "r"}}}}),
                    &["spec.dialOptions.password.secretKeyRef.key"],
                ),
                ("no sink", json!({"sink": null}), &["spec.sink"]),
                (
                    "ce overrides",
                    json!({"ceOverrides": {"extensions": {"specversion": "2"}}}),
                    &["spec.ceOverrides.extensions.specversion"],
                ),
            ],
        );
    }
}
