//! `NatsJetStreamSource` (`sources.herald.dev/v1alpha1`): Knative defines no NATS source (its
//! eventing-natss only has a channel and a broker), so Herald defines a small one in its own
//! group: a durable pull consumer on a JetStream stream, acknowledged after the sink accepted.

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
use crate::validation::is_absolute_uri;

use super::support::{
    CATEGORIES, SINK_COLUMN, SecretValueFromSource, default_sink_namespace, is_go_duration,
    validate_secret_value, validate_source_spec,
};

pub const KIND: &str = "NatsJetStreamSource";
pub const GROUP: &str = "sources.herald.dev";
pub const API_VERSION: &str = "sources.herald.dev/v1alpha1";
/// The server used when `spec.url` is empty.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";
/// The ack wait used when `spec.ackWait` is empty.
pub const DEFAULT_ACK_WAIT: &str = "30s";

/// Conditions of the source, as for Knative's receive-adapter sources.
pub const CONDITIONS: ConditionSet = ConditionSet::new(&["SinkProvided", "Deployed"]);

/// Where a new durable consumer starts; an existing consumer keeps its position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliverPolicy {
    /// Every message still in the stream.
    #[default]
    All,
    /// Only messages published after the consumer was created.
    New,
}

/// TLS to the NATS server. The server is verified against `caCert` (else the system's roots)
/// unless `skipVerify`; `cert` + `key` are a client certificate for servers that verify clients.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NatsTls {
    /// PEM CA certificate(s) that signed the server's certificate, read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<SecretValueFromSource>,
    /// PEM client certificate chain (with `key`), read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<SecretValueFromSource>,
    /// PEM private key of the client certificate, read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<SecretValueFromSource>,
    /// Accept any server certificate (testing only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_verify: bool,
}

/// NatsJetStreamSourceSpec: which stream to consume and where to send the events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NatsJetStreamSourceSpec {
    /// URL of the NATS server (`nats://host:port`, or `tls://host:port` to require TLS);
    /// default `nats://127.0.0.1:4222`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// Name of the JetStream stream to consume.
    #[serde(default)]
    pub stream: String,
    /// Subjects of the stream, used only to create it when it does not exist. Without them a
    /// missing stream keeps the source not Ready (`StreamNotFound`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// Only messages whose subject matches this filter (wildcards allowed); all when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// Name of the durable pull consumer; default `herald-<namespace>-<name>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consumer_name: String,
    /// Where a newly created consumer starts: `all` (default) or `new`.
    #[serde(default)]
    pub deliver_policy: DeliverPolicy,
    /// How long JetStream waits for an acknowledgement before redelivering (Go duration,
    /// default `30s`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ack_wait: String,
    /// NATS user name (with `password`), read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<SecretValueFromSource>,
    /// NATS password, read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretValueFromSource>,
    /// NATS authentication token, read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretValueFromSource>,
    /// TLS settings. TLS is used when this is set, when the URL is `tls://`, or when the
    /// server requires it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<NatsTls>,
    /// Sink is a reference to an object that will resolve to a uri to use as the sink.
    #[serde(default)]
    pub sink: Destination,
    /// CloudEventOverrides defines overrides to control the output format and modifications
    /// of the event sent to the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
}

/// NatsJetStreamSourceStatus: the duck SourceStatus.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NatsJetStreamSourceStatus {
    /// The duck SourceStatus: conditions, observedGeneration, sinkUri, ceAttributes.
    #[serde(flatten)]
    pub source_status: SourceStatus,
}

pub type NatsJetStreamSource = Object<NatsJetStreamSourceSpec, NatsJetStreamSourceStatus>;

/// JetStream names may not contain whitespace, `.`, `*`, `>`, path separators or be empty.
pub fn is_jetstream_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '/' | '\\')
        })
}

/// A NATS subject: non-empty dot-separated tokens without whitespace; `>` only last.
pub fn is_subject(s: &str) -> bool {
    let tokens: Vec<&str> = s.split('.').collect();
    !s.is_empty()
        && tokens.iter().enumerate().all(|(i, t)| {
            !t.is_empty()
                && !t.chars().any(|c| c.is_whitespace() || c.is_control())
                && (*t != ">" || i + 1 == tokens.len())
        })
}

impl Kind for NatsJetStreamSource {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        let ns = self.namespace().to_string();
        default_sink_namespace(&mut self.spec.sink, &ns);
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let s = &self.spec;
        let nats_url = is_absolute_uri(&s.url)
            && (s.url.starts_with("nats://") || s.url.starts_with("tls://"));
        if !s.url.is_empty() && !nats_url {
            errs.push(FieldError::invalid(
                "spec.url",
                format!(
                    "invalid value: {}: must be a nats://host:port or tls://host:port URL",
                    s.url
                ),
            ));
        }
        if s.stream.is_empty() {
            errs.push(FieldError::required("spec.stream"));
        } else if !is_jetstream_name(&s.stream) {
            errs.push(FieldError::invalid(
                "spec.stream",
                format!(
                    "invalid value: {}: must not contain '.', '*', '>' or whitespace",
                    s.stream
                ),
            ));
        }
        for (i, subj) in s.subjects.iter().enumerate() {
            if !is_subject(subj) {
                errs.push(FieldError::invalid(
                    format!("spec.subjects[{i}]"),
                    format!("invalid value: {subj}: not a NATS subject"),
                ));
            }
        }
        if !s.subject.is_empty() && !is_subject(&s.subject) {
            errs.push(FieldError::invalid(
                "spec.subject",
                format!("invalid value: {}: not a NATS subject", s.subject),
            ));
        }
        if !s.consumer_name.is_empty() && !is_jetstream_name(&s.consumer_name) {
            errs.push(FieldError::invalid(
                "spec.consumerName",
                format!(
                    "invalid value: {}: must not contain '.', '*', '>' or whitespace",
                    s.consumer_name
                ),
            ));
        }
        if !s.ack_wait.is_empty() && !is_go_duration(&s.ack_wait) {
            errs.push(FieldError::invalid(
                "spec.ackWait",
                format!("invalid value: {}: not a duration such as 30s", s.ack_wait),
            ));
        }
        for (field, v) in [
            ("user", &s.user),
            ("password", &s.password),
            ("token", &s.token),
        ] {
            if let Some(v) = v {
                validate_secret_value(&mut errs, &format!("spec.{field}"), v);
            }
        }
        if let Some(tls) = &s.tls {
            for (field, v) in [
                ("caCert", &tls.ca_cert),
                ("cert", &tls.cert),
                ("key", &tls.key),
            ] {
                if let Some(v) = v {
                    validate_secret_value(&mut errs, &format!("spec.tls.{field}"), v);
                }
            }
            if tls.cert.is_some() != tls.key.is_some() {
                errs.push(FieldError::invalid(
                    "spec.tls.key",
                    "cert and key must be given together",
                ));
            }
        }
        if s.user.is_some() != s.password.is_some() {
            errs.push(FieldError::invalid(
                "spec.password",
                "user and password must be given together",
            ));
        }
        validate_source_spec(&mut errs, &s.sink, s.ce_overrides.as_ref());
        errs
    }
}

fn storage(v: serde_json::Value) -> Result<serde_json::Value, FieldErrors> {
    Ok(set_type(v, API_VERSION, KIND))
}

const STREAM_COLUMN: PrinterColumn = PrinterColumn {
    name: "Stream",
    type_: "string",
    json_path: ".spec.stream",
    priority: 0,
    description: "The JetStream stream consumed",
};

const COLUMNS: &[PrinterColumn] = &[
    STREAM_COLUMN,
    SINK_COLUMN,
    AGE_COLUMN,
    READY_COLUMN,
    REASON_COLUMN,
];

/// The NatsJetStreamSource resource: sources.herald.dev/v1alpha1.
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "natsjetstreamsources",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![ServedVersion {
            group: GROUP,
            version: "v1alpha1",
            kind: KIND,
            plural: "natsjetstreamsources",
            singular: "natsjetstreamsource",
            short_names: &[],
            categories: CATEGORIES,
            columns: COLUMNS,
            deprecated: None,
            schema: structural::<NatsJetStreamSource>,
            to_storage: storage,
            from_storage: storage,
        }],
        hooks: Box::new(Typed::<NatsJetStreamSource>::new()),
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
            "metadata": {"name": "orders", "namespace": "default"},
            "spec": {
                "url": "nats://127.0.0.1:4222",
                "stream": "ORDERS",
                "subjects": ["orders.>"],
                "subject": "orders.created",
                "consumerName": "herald-orders",
                "deliverPolicy": "new",
                "ackWait": "10s",
                "user": {"secretKeyRef": {"name": "nats", "key": "user"}},
                "password": {"secretKeyRef": {"name": "nats", "key": "password"}},
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
        assert_eq!(out["spec"]["deliverPolicy"], json!("new"));
    }

    #[test]
    fn validation_errors() {
        check_cases(
            &resource(),
            &sample(),
            &[
                ("valid", json!({}), &[]),
                (
                    "minimal",
                    json!({"url": null, "subjects": null, "subject": null, "consumerName": null,
                           "deliverPolicy": null, "ackWait": null, "user": null, "password": null}),
                    &[],
                ),
                ("no stream", json!({"stream": null}), &["spec.stream"]),
                ("dotted stream", json!({"stream": "a.b"}), &["spec.stream"]),
                ("http url", json!({"url": "http://x:4222"}), &["spec.url"]),
                (
                    "bad subjects",
                    json!({"subjects": ["a..b"]}),
                    &["spec.subjects[0]"],
                ),
                ("bad filter", json!({"subject": "a.>.b"}), &["spec.subject"]),
                (
                    "bad consumer",
                    json!({"consumerName": "a*"}),
                    &["spec.consumerName"],
                ),
                (
                    "bad ack wait",
                    json!({"ackWait": "soon"}),
                    &["spec.ackWait"],
                ),
                ("user alone", json!({"password": null}), &["spec.password"]),
                (
                    "token without key",
                    json!({"token": {"secretKeyRef": {"name": "n"}}}),
                    &["spec.token.secretKeyRef.key"],
                ),
                ("no sink", json!({"sink": null}), &["spec.sink"]),
                ("tls url", json!({"url": "tls://nats.example:4222"}), &[]),
                (
                    "tls with a CA and a client certificate",
                    json!({"tls": {"caCert": {"secretKeyRef": {"name": "t", "key": "ca.crt"}},
                                   "cert": {"secretKeyRef": {"name": "t", "key": "tls.crt"}},
                                   "key": {"secretKeyRef": {"name": "t", "key": "tls.key"}}}}),
                    &[],
                ),
                (
                    "tls cert without key",
                    json!({"tls": {"cert": {"secretKeyRef": {"name": "t", "key": "tls.crt"}}}}),
                    &["spec.tls.key"],
                ),
                (
                    "tls CA without a key name",
                    json!({"tls": {"caCert": {"secretKeyRef": {"name": "t"}}}}),
                    &["spec.tls.caCert.secretKeyRef.key"],
                ),
            ],
        );
    }

    #[test]
    fn names_and_subjects() {
        for (s, ok) in [
            ("ORDERS", true),
            ("a.b", false),
            ("a b", false),
            ("", false),
            ("x>", false),
        ] {
            assert_eq!(is_jetstream_name(s), ok, "{s}");
        }
        for (s, ok) in [
            ("a.b", true),
            ("a.*.c", true),
            ("a.>", true),
            (">", true),
            ("a.>.b", false),
            ("a..b", false),
            ("", false),
            ("a b", false),
        ] {
            assert_eq!(is_subject(s), ok, "{s}");
        }
    }
}
