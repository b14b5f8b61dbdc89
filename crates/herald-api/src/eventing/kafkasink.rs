//! `KafkaSink` (eventing.knative.dev/v1alpha1, eventing-kafka-broker's
//! `kafka_sink_types.go`): an Addressable that writes every CloudEvent it receives to one Kafka
//! topic, in binary or structured content mode.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::ConditionSet;
use crate::field::{FieldError, FieldErrors};
use crate::meta::{AddressStatus, Status};
use crate::object::Object;
use crate::registry::{
    AGE_COLUMN, Ctx, Kind, PrinterColumn, READY_COLUMN, REASON_COLUMN, Resource, ServedVersion,
    Typed, set_type,
};

use super::broker::GROUP;
use super::support::{check_immutable, described};

pub const KIND: &str = "KafkaSink";
pub const API_VERSION: &str = "eventing.knative.dev/v1alpha1";

/// CloudEvents binary content mode: attributes in `ce_*` headers, data as the record value.
pub const MODE_BINARY: &str = "binary";
/// CloudEvents structured content mode: the JSON event format as the record value.
pub const MODE_STRUCTURED: &str = "structured";

/// The dependent conditions, named like Knative's ingress condition set (without the
/// ConfigMap/probe plumbing of its separate data plane).
pub const CONDITIONS: ConditionSet =
    ConditionSet::new(&["Addressable", "DataPlaneAvailable", "TopicReady"]);

/// A Secret by name (`auth.secret.ref`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretReference {
    /// Secret name.
    #[serde(default)]
    pub name: String,
}

/// The Secret holding the Kafka client's credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KafkaSinkSecret {
    /// Secret reference.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub ref_: Option<SecretReference>,
}

/// Auth configurations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KafkaSinkAuth {
    /// Auth secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<KafkaSinkSecret>,
}

/// KafkaSinkSpec defines the desired state of the Kafka Sink.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSinkSpec {
    /// Topic name to send events. Immutable.
    #[serde(default)]
    pub topic: String,
    /// Number of topic partitions. With `numPartitions` or `replicationFactor` set, a missing
    /// topic is created; with neither, the topic must exist. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_partitions: Option<i32>,
    /// Topic replication factor (see `numPartitions`). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i32>,
    /// A list of host/port pairs to use for establishing the initial connection to the Kafka
    /// cluster.
    #[serde(default)]
    pub bootstrap_servers: Vec<String>,
    /// CloudEvent content mode of Kafka messages sent to the topic: `binary` (the default) or
    /// `structured`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_mode: Option<String>,
    /// Auth configurations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<KafkaSinkAuth>,
}

impl KafkaSinkSpec {
    /// The content mode after defaulting.
    pub fn content_mode(&self) -> &str {
        self.content_mode.as_deref().unwrap_or(MODE_BINARY)
    }

    /// The `auth.secret.ref.name`, if set.
    pub fn auth_secret(&self) -> Option<&str> {
        let r = self.auth.as_ref()?.secret.as_ref()?.ref_.as_ref()?;
        Some(r.name.as_str())
    }
}

/// KafkaSinkStatus represents the current state of the KafkaSink.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSinkStatus {
    #[serde(flatten)]
    pub status: Status,
    /// The endpoint that writes events to the topic (`address`, `addresses`).
    #[serde(flatten)]
    pub address: AddressStatus,
}

pub type KafkaSink = Object<KafkaSinkSpec, KafkaSinkStatus>;

/// Whether `t` is a legal Kafka topic name (Kafka's `Topic.validate`: 1-249 of `[a-zA-Z0-9._-]`,
/// not `.` or `..`).
pub fn is_legal_topic(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 249
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && t != "."
        && t != ".."
}

impl Kind for KafkaSink {
    /// Knative's webhook defaults `structured`, but the CRD schema defaults `binary` and the API
    /// server applies it first, so a KafkaSink without `contentMode` writes binary records.
    fn set_defaults(&mut self, _ctx: &Ctx) {
        if self.spec.content_mode.as_deref().is_none_or(str::is_empty) {
            self.spec.content_mode = Some(MODE_BINARY.into());
        }
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let s = &self.spec;
        if s.topic.is_empty() {
            errs.push(FieldError::required("spec.topic"));
        } else if !is_legal_topic(&s.topic) {
            errs.push(FieldError::invalid(
                "spec.topic",
                format!("invalid value: {:?}: not a legal Kafka topic name", s.topic),
            ));
        }
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
        let mode = s.content_mode();
        if mode != MODE_BINARY && mode != MODE_STRUCTURED {
            errs.push(FieldError::not_supported(
                "spec.contentMode",
                mode,
                &[MODE_BINARY, MODE_STRUCTURED],
            ));
        }
        if let Some(n) = s.num_partitions
            && n <= 0
        {
            errs.push(FieldError::invalid(
                "spec.numPartitions",
                format!("invalid value: {n}: must be > 0"),
            ));
        }
        if let Some(r) = s.replication_factor
            && !(1..=i32::from(i16::MAX)).contains(&r)
        {
            errs.push(FieldError::invalid(
                "spec.replicationFactor",
                format!("invalid value: {r}: must be between 1 and 32767"),
            ));
        }
        if let Some(KafkaSinkAuth {
            secret: Some(KafkaSinkSecret { ref_: Some(r) }),
        }) = &s.auth
            && r.name.is_empty()
        {
            errs.push(FieldError::required("spec.auth.secret.ref.name"));
        }
        errs
    }

    /// Knative: the topic and how it was created cannot change (the records already written
    /// stay where they are).
    fn validate_update(&self, old: &Self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let (new, old) = (&self.spec, &old.spec);
        check_immutable(&mut errs, "spec.topic", &old.topic, &new.topic);
        check_immutable(
            &mut errs,
            "spec.numPartitions",
            &old.num_partitions,
            &new.num_partitions,
        );
        check_immutable(
            &mut errs,
            "spec.replicationFactor",
            &old.replication_factor,
            &new.replication_factor,
        );
        errs
    }
}

pub static COLUMNS: [PrinterColumn; 4] = [
    PrinterColumn {
        name: "URL",
        type_: "string",
        json_path: ".status.address.url",
        priority: 0,
        description: "",
    },
    AGE_COLUMN,
    READY_COLUMN,
    REASON_COLUMN,
];

const CATEGORIES: &[&str] = &["all", "knative", "eventing"];

/// The KafkaSink resource (v1alpha1 only, as in Knative).
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "kafkasinks",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![ServedVersion {
            group: GROUP,
            version: "v1alpha1",
            kind: KIND,
            plural: "kafkasinks",
            singular: "kafkasink",
            short_names: &[],
            categories: CATEGORIES,
            columns: &COLUMNS,
            deprecated: None,
            schema: || {
                described::<KafkaSink>(
                    "Kafka Sink is Addressable, it receives events and send them to a Kafka topic.",
                )
            },
            to_storage: |v| Ok(set_type(v, API_VERSION, KIND)),
            from_storage: |v| Ok(set_type(v, API_VERSION, KIND)),
        }],
        hooks: Box::new(Typed::<KafkaSink>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::NoConfig;
    use serde_json::{Value, json};

    fn ctx() -> Ctx<'static> {
        Ctx { config: &NoConfig }
    }

    fn admit(spec: Value) -> Result<Value, FieldErrors> {
        let r = resource();
        let mut obj = json!({"apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": "s", "namespace": "default"}, "spec": spec});
        r.hooks.default(&mut obj, &ctx())?;
        r.hooks.validate(&obj, None, &ctx())?;
        Ok(obj)
    }

    fn paths(e: FieldErrors) -> Vec<String> {
        e.0.into_iter().map(|f| f.path).collect()
    }

    #[test]
    fn defaults_to_binary() {
        let obj = admit(json!({"topic": "t", "bootstrapServers": ["k:9092"]}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(obj["spec"]["contentMode"], json!("binary"));
        let obj = admit(json!({"topic": "t", "bootstrapServers": ["k:9092"],
                               "contentMode": "structured"}))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(obj["spec"]["contentMode"], json!("structured"));
    }

    #[test]
    fn validation_field_paths() {
        let e = admit(json!({"contentMode": "json", "numPartitions": 0,
                             "replicationFactor": 40000, "bootstrapServers": [],
                             "auth": {"secret": {"ref": {}}}}))
        .err()
        .unwrap_or_default();
        assert_eq!(
            paths(e),
            [
                "spec.topic",
                "spec.bootstrapServers",
                "spec.contentMode",
                "spec.numPartitions",
                "spec.replicationFactor",
                "spec.auth.secret.ref.name",
            ]
        );
        let e = admit(json!({"topic": "no spaces", "bootstrapServers": ["a:1,b:2"]}))
            .err()
            .unwrap_or_default();
        assert_eq!(paths(e), ["spec.topic", "spec.bootstrapServers[0]"]);
    }

    #[test]
    fn topic_and_partitioning_are_immutable() {
        let r = resource();
        let old = admit(json!({"topic": "t", "bootstrapServers": ["k:9092"], "numPartitions": 2}))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut new = old.clone();
        new["spec"]["topic"] = json!("u");
        new["spec"]["numPartitions"] = json!(3);
        new["spec"]["replicationFactor"] = json!(1);
        new["spec"]["contentMode"] = json!("structured");
        let e = r
            .hooks
            .validate(&new, Some(&old), &ctx())
            .err()
            .unwrap_or_default();
        assert_eq!(
            paths(e),
            ["spec.topic", "spec.numPartitions", "spec.replicationFactor"]
        );
        // Content mode and bootstrap servers may change.
        let mut ok = old.clone();
        ok["spec"]["contentMode"] = json!("structured");
        ok["spec"]["bootstrapServers"] = json!(["other:9092"]);
        assert!(r.hooks.validate(&ok, Some(&old), &ctx()).is_ok());
    }

    #[test]
    fn legal_topics() {
        for t in ["a", "a.b_c-D9", &"x".repeat(249)] {
            assert!(is_legal_topic(t), "{t}");
        }
        for t in ["", ".", "..", "a b", "a/b", &"x".repeat(250)] {
            assert!(!is_legal_topic(t), "{t}");
        }
    }
}
