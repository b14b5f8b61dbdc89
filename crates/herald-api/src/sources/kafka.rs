//! `KafkaSource` (sources.knative.dev/v1, storage; v1beta1) and the legacy
//! `sources.eventing.knative.dev/v1alpha1 KafkaSource` of the seeds, whose `bootstrapServers`
//! and `topics` are single comma-separated strings.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::conditions::ConditionSet;
use crate::field::{FieldError, FieldErrors};
use crate::meta::{CloudEventOverrides, DeliverySpec, Destination, SourceStatus};
use crate::object::Object;
use crate::registry::{
    AGE_COLUMN, Ctx, Kind, PrinterColumn, READY_COLUMN, REASON_COLUMN, Resource, ServedVersion,
    Typed, set_type,
};
use crate::schema::structural;
use crate::validation::validate_delivery;

use super::support::{
    CATEGORIES, Conv, GROUP, LEGACY_GROUP, LEGACY_STASH_PREFIX, ObjectReference,
    STORAGE_STASH_PREFIX, SecretValueFromSource, check_immutable, default_sink_namespace,
    split_csv, validate_secret_key_selector, validate_source_spec,
};

pub const KIND: &str = "KafkaSource";
pub const API_VERSION: &str = "sources.knative.dev/v1";
pub const V1BETA1_API_VERSION: &str = "sources.knative.dev/v1beta1";
pub const LEGACY_API_VERSION: &str = "sources.eventing.knative.dev/v1alpha1";

/// Start from the oldest available offset.
pub const OFFSET_EARLIEST: &str = "earliest";
/// Start from the newest offset (the default).
pub const OFFSET_LATEST: &str = "latest";
/// Deliver events of a partition one at a time, in order (the default).
pub const ORDERED: &str = "ordered";
/// Deliver events concurrently.
pub const UNORDERED: &str = "unordered";
/// The label choosing how record keys are read (Knative's `KafkaKeyTypeLabel`).
pub const KEY_TYPE_LABEL: &str = "kafkasources.sources.knative.dev/key-type";
/// The values [`KEY_TYPE_LABEL`] may take; `string` is the default.
pub const KEY_TYPES: &[&str] = &["string", "int", "float", "byte-array"];

/// KafkaSource's dependent conditions (`kafka_lifecycle.go`, without the OIDC one).
pub const CONDITIONS: ConditionSet = ConditionSet::new(&[
    "SinkProvided",
    "Deployed",
    "ConnectionEstablished",
    "InitialOffsetsCommitted",
]);

/// SASL authentication.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSaslSpec {
    /// Enable SASL authentication.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable: bool,
    /// User is the Kubernetes secret containing the SASL username.
    #[serde(default, skip_serializing_if = "is_default")]
    pub user: SecretValueFromSource,
    /// Password is the Kubernetes secret containing the SASL password.
    #[serde(default, skip_serializing_if = "is_default")]
    pub password: SecretValueFromSource,
    /// Type of SASL mechanism: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(default, rename = "type", skip_serializing_if = "is_default")]
    pub type_: SecretValueFromSource,
}

/// TLS settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaTlsSpec {
    /// Enable TLS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable: bool,
    /// Cert is the Kubernetes secret containing the client certificate.
    #[serde(default, skip_serializing_if = "is_default")]
    pub cert: SecretValueFromSource,
    /// Key is the Kubernetes secret containing the client key.
    #[serde(default, skip_serializing_if = "is_default")]
    pub key: SecretValueFromSource,
    /// CACert is the Kubernetes secret containing the server CA cert.
    #[serde(default, skip_serializing_if = "is_default")]
    pub ca_cert: SecretValueFromSource,
}

/// Network settings of the Kafka client.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaNetSpec {
    /// SASL authentication.
    #[serde(default, skip_serializing_if = "is_default")]
    pub sasl: KafkaSaslSpec,
    /// TLS settings.
    #[serde(default, skip_serializing_if = "is_default")]
    pub tls: KafkaTlsSpec,
}

fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}

/// KafkaSourceSpec defines the desired state of the KafkaSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSourceSpec {
    /// Bootstrap servers are the Kafka servers the consumer will connect to.
    #[serde(default)]
    pub bootstrap_servers: Vec<String>,
    /// Network settings (SASL, TLS).
    #[serde(default, skip_serializing_if = "is_default")]
    pub net: KafkaNetSpec,
    /// Topic topics to consume messages from.
    #[serde(default)]
    pub topics: Vec<String>,
    /// ConsumerGroupID is the consumer group ID. Defaults to
    /// `knative-kafka-source-<uid>`. Immutable.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consumer_group: String,
    /// InitialOffset is the Initial Offset for the consumer group: `earliest` or `latest`
    /// (the default).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub initial_offset: String,
    /// Number of desired consumers running in the consumer group. Defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumers: Option<i32>,
    /// Ordering is the type of the consumer verticle: `ordered` (the default) or `unordered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<String>,
    /// Delivery contains the delivery spec for this source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
    /// Sink is a reference to an object that will resolve to a uri to use as the sink.
    #[serde(default)]
    pub sink: Destination,
    /// CloudEventOverrides defines overrides to control the output format and modifications
    /// of the event sent to the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
}

/// KafkaSourceStatus defines the observed state of KafkaSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSourceStatus {
    /// The duck SourceStatus: conditions, observedGeneration, sinkUri, ceAttributes.
    #[serde(flatten)]
    pub source_status: SourceStatus,
    /// Total number of consumers actually running in the consumer group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumers: Option<i32>,
    /// Use for labelSelectorPath when scaling Kafka source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Claims consumed by this KafkaSource instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<String>,
    /// The resolved `spec.delivery.deadLetterSink` (`deadLetterSinkUri`…).
    #[serde(flatten)]
    pub delivery: crate::messaging::channelable::DeliveryStatus,
}

pub type KafkaSource = Object<KafkaSourceSpec, KafkaSourceStatus>;

/// Receive adapter resources of the legacy source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaResourceSpec {
    /// Requested CPU and memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<KafkaRequestsSpec>,
    /// CPU and memory limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<KafkaRequestsSpec>,
}

/// CPU and memory of the legacy receive adapter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KafkaRequestsSpec {
    /// CPU, e.g. `250m`.
    #[serde(default, rename = "cpu", skip_serializing_if = "Option::is_none")]
    pub resource_cpu: Option<String>,
    /// Memory, e.g. `512Mi`.
    #[serde(default, rename = "memory", skip_serializing_if = "Option::is_none")]
    pub resource_memory: Option<String>,
}

/// The legacy v1alpha1 KafkaSource spec (the seeds' shape).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSourceSpecV1Alpha1 {
    /// Bootstrap servers are the Kafka servers the consumer will connect to, comma separated.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bootstrap_servers: String,
    /// Topics to consume messages from, comma separated.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topics: String,
    /// ConsumerGroupID is the consumer group ID.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consumer_group: String,
    /// Network settings (SASL, TLS).
    #[serde(default, skip_serializing_if = "is_default")]
    pub net: KafkaNetSpec,
    /// Sink is a reference to an object that will resolve to a domain name to use as the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<ObjectReference>,
    /// ServiceAccountName is the name of the ServiceAccount that will be used to run the
    /// Receive Adapter Deployment (kept by Herald, unused).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// Resource limits and requests of the receive adapter (kept by Herald, unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<KafkaResourceSpec>,
}

pub type KafkaSourceV1Alpha1 = Object<KafkaSourceSpecV1Alpha1, KafkaSourceStatus>;

fn validate_secret_value_opt(errs: &mut FieldErrors, path: &str, v: &SecretValueFromSource) {
    if let Some(s) = &v.secret_key_ref {
        errs.extend_at(
            &format!("{path}.secretKeyRef"),
            validate_secret_key_selector(s),
        );
    }
}

impl Kind for KafkaSource {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        let s = &mut self.spec;
        if s.consumer_group.is_empty() {
            // Knative uses the UID; before one is assigned, the namespaced name is unique too.
            let uid = self.metadata.uid.clone().unwrap_or_default();
            s.consumer_group = if uid.is_empty() {
                format!(
                    "knative-kafka-source-{}-{}",
                    self.metadata.namespace.as_deref().unwrap_or(""),
                    self.metadata.name.as_deref().unwrap_or("")
                )
            } else {
                format!("knative-kafka-source-{uid}")
            };
        }
        if s.initial_offset.is_empty() {
            s.initial_offset = OFFSET_LATEST.into();
        }
        if s.consumers.is_none() {
            s.consumers = Some(1);
        }
        if s.ordering.is_none() {
            s.ordering = Some(ORDERED.into());
        }
        let ns = self.metadata.namespace.clone().unwrap_or_default();
        default_sink_namespace(&mut self.spec.sink, &ns);
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let s = &self.spec;
        if s.bootstrap_servers.is_empty() {
            errs.push(FieldError::required("spec.bootstrapServers"));
        }
        for (i, b) in s.bootstrap_servers.iter().enumerate() {
            if b.trim().is_empty() || b.contains(char::is_whitespace) || b.contains(',') {
                errs.push(FieldError::invalid(
                    format!("spec.bootstrapServers[{i}]"),
                    format!("invalid value: {b:?}: expected host:port"),
                ));
            }
        }
        if s.topics.is_empty() {
            errs.push(FieldError::required("spec.topics"));
        }
        for (i, t) in s.topics.iter().enumerate() {
            let ok = !t.is_empty()
                && t.len() <= 249
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                && t != "."
                && t != "..";
            if !ok {
                errs.push(FieldError::invalid(
                    format!("spec.topics[{i}]"),
                    format!("invalid value: {t:?}: not a legal Kafka topic name"),
                ));
            }
        }
        if !s.initial_offset.is_empty()
            && s.initial_offset != OFFSET_EARLIEST
            && s.initial_offset != OFFSET_LATEST
        {
            errs.push(FieldError::not_supported(
                "spec.initialOffset",
                &s.initial_offset,
                &[OFFSET_EARLIEST, OFFSET_LATEST],
            ));
        }
        if let Some(n) = s.consumers
            && n < 1
        {
            errs.push(FieldError::invalid(
                "spec.consumers",
                format!("invalid value: {n}: must be >= 1"),
            ));
        }
        if let Some(o) = &s.ordering
            && o != ORDERED
            && o != UNORDERED
        {
            errs.push(FieldError::not_supported(
                "spec.ordering",
                o,
                &[ORDERED, UNORDERED],
            ));
        }
        if let Some(d) = &s.delivery {
            errs.extend_at("spec.delivery", validate_delivery(d));
        }
        let sasl = &s.net.sasl;
        if sasl.enable {
            for (name, v) in [("user", &sasl.user), ("password", &sasl.password)] {
                if v.secret_key_ref.is_none() {
                    errs.push(FieldError::required(format!(
                        "spec.net.sasl.{name}.secretKeyRef"
                    )));
                }
            }
        }
        for (name, v) in [
            ("user", &sasl.user),
            ("password", &sasl.password),
            ("type", &sasl.type_),
        ] {
            validate_secret_value_opt(&mut errs, &format!("spec.net.sasl.{name}"), v);
        }
        let tls = &s.net.tls;
        for (name, v) in [
            ("cert", &tls.cert),
            ("key", &tls.key),
            ("caCert", &tls.ca_cert),
        ] {
            validate_secret_value_opt(&mut errs, &format!("spec.net.tls.{name}"), v);
        }
        if tls.cert.secret_key_ref.is_some() != tls.key.secret_key_ref.is_some() {
            errs.push(FieldError::invalid(
                "spec.net.tls",
                "cert and key must be set together",
            ));
        }
        if let Some(t) = self
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(KEY_TYPE_LABEL))
            .filter(|t| !KEY_TYPES.contains(&t.as_str()))
        {
            errs.push(FieldError::invalid(
                format!("metadata.labels[{KEY_TYPE_LABEL}]"),
                format!(
                    "invalid key type {t:?}: allowed values are {}",
                    KEY_TYPES.join(", ")
                ),
            ));
        }
        validate_source_spec(&mut errs, &s.sink, s.ce_overrides.as_ref());
        errs
    }

    fn validate_update(&self, old: &Self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        check_immutable(
            &mut errs,
            "spec.consumerGroup",
            &old.spec.consumer_group,
            &self.spec.consumer_group,
        );
        errs
    }
}

/// Legacy v1alpha1 -> v1: the comma-separated strings become lists.
fn up(v: Value) -> Result<Value, FieldErrors> {
    let mut c = Conv::new(v)?;
    c.sink_up()?;
    c.keep(&["consumerGroup", "net"]);
    for field in ["bootstrapServers", "topics"] {
        if let Some(s) = c.take_str(field)? {
            let list = split_csv(&s);
            // Keep the exact original text when joining the list would not give it back.
            if list.join(",") != s {
                c.stash(&format!("{LEGACY_STASH_PREFIX}{field}"), &json!(s));
            }
            c.put(field, json!(list));
        }
    }
    c.restore(STORAGE_STASH_PREFIX);
    c.stash_rest(LEGACY_STASH_PREFIX);
    Ok(c.finish(API_VERSION, KIND))
}

/// v1 -> legacy v1alpha1: the lists are joined with commas.
fn down(v: Value) -> Result<Value, FieldErrors> {
    let mut c = Conv::new(v)?;
    c.sink_down()?;
    c.keep(&["consumerGroup", "net"]);
    for field in ["bootstrapServers", "topics"] {
        let original = c
            .unstash(&format!("{LEGACY_STASH_PREFIX}{field}"))
            .and_then(|v| v.as_str().map(str::to_string));
        if let Some(v) = c.take(field) {
            let list: Vec<String> = super::support::decode_at(&format!("spec.{field}"), v)?;
            let text = match original {
                Some(o) if split_csv(&o) == list => o,
                _ => list.join(","),
            };
            if !text.is_empty() {
                c.put(field, json!(text));
            }
        }
    }
    c.restore(LEGACY_STASH_PREFIX);
    c.stash_rest(STORAGE_STASH_PREFIX);
    Ok(c.finish(LEGACY_API_VERSION, KIND))
}

fn storage(v: Value) -> Result<Value, FieldErrors> {
    Ok(set_type(v, API_VERSION, KIND))
}

fn beta_down(v: Value) -> Result<Value, FieldErrors> {
    Ok(set_type(v, V1BETA1_API_VERSION, KIND))
}

const COLUMNS: &[PrinterColumn] = &[
    PrinterColumn {
        name: "Topics",
        type_: "string",
        json_path: ".spec.topics",
        priority: 0,
        description: "The topics consumed",
    },
    PrinterColumn {
        name: "BootstrapServers",
        type_: "string",
        json_path: ".spec.bootstrapServers",
        priority: 0,
        description: "The Kafka bootstrap servers",
    },
    READY_COLUMN,
    REASON_COLUMN,
    AGE_COLUMN,
];

/// The KafkaSource resource: v1 (storage), v1beta1 and the legacy v1alpha1.
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "kafkasources",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![
            ServedVersion {
                group: GROUP,
                version: "v1",
                kind: KIND,
                plural: "kafkasources",
                singular: "kafkasource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: None,
                schema: structural::<KafkaSource>,
                to_storage: storage,
                from_storage: storage,
            },
            ServedVersion {
                group: GROUP,
                version: "v1beta1",
                kind: KIND,
                plural: "kafkasources",
                singular: "kafkasource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: None,
                schema: structural::<KafkaSource>,
                to_storage: storage,
                from_storage: beta_down,
            },
            ServedVersion {
                group: LEGACY_GROUP,
                version: "v1alpha1",
                kind: KIND,
                plural: "kafkasources",
                singular: "kafkasource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: Some(
                    "sources.eventing.knative.dev/v1alpha1 KafkaSource is deprecated; use sources.knative.dev/v1 KafkaSource",
                ),
                schema: structural::<KafkaSourceV1Alpha1>,
                to_storage: up,
                from_storage: down,
            },
        ],
        hooks: Box::new(Typed::<KafkaSource>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::support::test_util::*;

    /// The seed manifest, verbatim.
    const SEED: &str = r#"
apiVersion: sources.eventing.knative.dev/v1alpha1
kind: KafkaSource
metadata:
  name: kafka-sample
  namespace: default
spec:
  consumerGroup: knative-group
  bootstrapServers: my-cluster-kafka-bootstrap.kafka:9092
  topics: knative-demo,news
  sink:
    apiVersion: eventing.knative.dev/v1alpha1
    kind: Broker
    name: default
"#;

    fn sample() -> Value {
        json!({
            "apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": "kafka", "namespace": "default", "uid": "1234"},
            "spec": {
                "bootstrapServers": ["broker:9092"],
                "topics": ["knative-demo"],
                "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                                 "name": "default"}}
            }
        })
    }

    #[test]
    fn resource_shape() {
        let r = resource();
        check_resource(&r);
        let names: Vec<&str> = r.versions[0].columns.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            ["Topics", "BootstrapServers", "Ready", "Reason", "Age"]
        );
    }

    #[test]
    fn seed_converts_exactly() {
        let r = resource();
        let seed: Value = serde_saphyr::from_str(SEED).unwrap_or_else(|e| panic!("{e}"));
        let (stored, back) = round_trip(&r, LEGACY_API_VERSION, KIND, seed.clone());
        assert_eq!(
            stored,
            json!({
                "apiVersion": "sources.knative.dev/v1", "kind": "KafkaSource",
                "metadata": {"name": "kafka-sample", "namespace": "default"},
                "spec": {
                    "consumerGroup": "knative-group",
                    "bootstrapServers": ["my-cluster-kafka-bootstrap.kafka:9092"],
                    "topics": ["knative-demo", "news"],
                    "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1alpha1",
                                     "kind": "Broker", "name": "default"}}
                }
            })
        );
        assert_eq!(back, seed);
        // The stored form is admitted; its defaults survive a legacy read-modify-write.
        let admitted = admit(&r, stored).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(admitted["spec"]["initialOffset"], json!("latest"));
        assert_eq!(admitted["spec"]["consumers"], json!(1));
        assert_eq!(admitted["spec"]["consumerGroup"], json!("knative-group"));
        let v = served(&r, LEGACY_API_VERSION, KIND);
        let view = (v.from_storage)(admitted.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(view["spec"]["topics"], json!("knative-demo,news"));
        assert_eq!(
            view["spec"]["bootstrapServers"],
            seed["spec"]["bootstrapServers"]
        );
        let again = (v.to_storage)(view).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, admitted);
    }

    #[test]
    fn legacy_spacing_and_extras_survive() {
        let r = resource();
        let legacy = json!({
            "apiVersion": LEGACY_API_VERSION, "kind": KIND,
            "metadata": {"name": "k", "namespace": "default"},
            "spec": {"bootstrapServers": "a:9092, b:9092", "topics": "t1 ,t2",
                     "consumerGroup": "g", "serviceAccountName": "sa",
                     "resources": {"limits": {"cpu": "1"}},
                     "net": {"sasl": {"enable": true,
                                      "user": {"secretKeyRef": {"name": "s", "key": "u"}},
                                      "password": {"secretKeyRef": {"name": "s", "key": "p"}}}},
                     "sink": {"apiVersion": "v1", "kind": "Service", "name": "svc",
                              "namespace": "other"}}
        });
        let (stored, back) = round_trip(&r, LEGACY_API_VERSION, KIND, legacy.clone());
        assert_eq!(
            stored["spec"]["bootstrapServers"],
            json!(["a:9092", "b:9092"])
        );
        assert_eq!(stored["spec"]["topics"], json!(["t1", "t2"]));
        assert_eq!(stored["spec"]["net"], legacy["spec"]["net"]);
        assert_eq!(back, legacy);
        admit(&r, stored).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn defaults() {
        let out = admit(&resource(), sample()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out["spec"]["consumerGroup"],
            json!("knative-kafka-source-1234")
        );
        assert_eq!(out["spec"]["initialOffset"], json!("latest"));
        assert_eq!(out["spec"]["consumers"], json!(1));
        assert_eq!(out["spec"]["ordering"], json!("ordered"));
        assert_eq!(out["spec"]["sink"]["ref"]["namespace"], json!("default"));
    }

    #[test]
    fn validation_errors() {
        let r = resource();
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            ("valid", json!({}), vec![]),
            (
                "no servers",
                json!({"bootstrapServers": []}),
                vec!["spec.bootstrapServers"],
            ),
            (
                "bad server",
                json!({"bootstrapServers": ["a:1,b:2"]}),
                vec!["spec.bootstrapServers[0]"],
            ),
            ("no topics", json!({"topics": []}), vec!["spec.topics"]),
            (
                "bad topic",
                json!({"topics": ["ok", "not ok"]}),
                vec!["spec.topics[1]"],
            ),
            (
                "offset",
                json!({"initialOffset": "middle"}),
                vec!["spec.initialOffset"],
            ),
            ("consumers", json!({"consumers": 0}), vec!["spec.consumers"]),
            (
                "ordering",
                json!({"ordering": "random"}),
                vec!["spec.ordering"],
            ),
            (
                "delivery",
                json!({"delivery": {"retry": -1, "backoffDelay": "soon"}}),
                vec!["spec.delivery.retry", "spec.delivery.backoffDelay"],
            ),
            (
                "sasl without secrets",
                json!({"net": {"sasl": {"enable": true,
                                        "type": {"secretKeyRef": {"name": "s"}}}}}),
                vec![
                    "spec.net.sasl.user.secretKeyRef",
                    "spec.net.sasl.password.secretKeyRef",
                    "spec.net.sasl.type.secretKeyRef.key",
                ],
            ),
            (
                "tls cert without key",
                json!({"net": {"tls": {"enable": true,
                                       "cert": {"secretKeyRef": {"name": "s", "key": "c"}}}}}),
                vec!["spec.net.tls"],
            ),
            (
                "sink",
                json!({"sink": {"ref": {"kind": "Broker", "name": "b"}}}),
                vec!["spec.sink.ref.apiVersion"],
            ),
            (
                "ce overrides",
                json!({"ceOverrides": {"extensions": {"type": "x"}}}),
                vec!["spec.ceOverrides.extensions.type"],
            ),
        ];
        let cases: Vec<(&str, Value, &[&str])> = cases
            .iter()
            .map(|(n, p, w)| (*n, p.clone(), w.as_slice()))
            .collect();
        check_cases(&r, &sample(), &cases);
    }

    #[test]
    fn key_type_label() {
        let r = resource();
        for t in KEY_TYPES {
            let mut obj = sample();
            obj["metadata"]["labels"] = json!({KEY_TYPE_LABEL: t});
            admit(&r, obj).unwrap_or_else(|e| panic!("{t}: {e}"));
        }
        let mut obj = sample();
        obj["metadata"]["labels"] = json!({KEY_TYPE_LABEL: "double"});
        let errs = admit(&r, obj).err().unwrap_or_default();
        assert_eq!(paths(&errs), [format!("metadata.labels[{KEY_TYPE_LABEL}]")]);
    }

    #[test]
    fn consumer_group_is_immutable() {
        let r = resource();
        let old = admit(&r, sample()).unwrap_or_else(|e| panic!("{e}"));
        let mut new = old.clone();
        new["spec"]["topics"] = json!(["other"]);
        assert_eq!(update(&r, &old, new.clone()), Ok(()));
        new["spec"]["consumerGroup"] = json!("changed");
        let errs = update(&r, &old, new).err().unwrap_or_default();
        assert_eq!(paths(&errs), ["spec.consumerGroup"]);
    }

    #[test]
    fn v1beta1_same_shape() {
        let r = resource();
        let mut obj = sample();
        obj["apiVersion"] = json!(V1BETA1_API_VERSION);
        let (stored, back) = round_trip(&r, V1BETA1_API_VERSION, KIND, obj.clone());
        assert_eq!(stored["apiVersion"], json!(API_VERSION));
        assert_eq!(back, obj);
    }
}
