//! Knative duck types shared by many kinds: conditions, status, references, destinations,
//! delivery specs, addressable and source status. Field names follow Knative's JSON exactly.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// A Knative condition (`knative.dev/pkg/apis.Condition`): unlike `metav1.Condition` it has a
/// `severity` and no `observedGeneration`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of condition, e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// `""` (error), `Warning` or `Info`; only non-error conditions do not affect Ready.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub severity: String,
    /// Last time the condition transitioned from one status to another (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// One-word CamelCase reason for the condition's last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable message indicating details about the transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Status of a condition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    True,
    False,
    #[default]
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// The duck `Status` every Knative resource embeds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The generation last processed by the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The latest available observations of the resource's state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Additional status information.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A reference to another object (`duckv1.KReference`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KReference {
    /// Kind of the referent.
    pub kind: String,
    /// Namespace of the referent; defaults to the referring object's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name of the referent.
    pub name: String,
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Group of the referent (only with the `kreference-group` feature in Knative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// Where to send events (`duckv1.Destination`): a `ref` to an Addressable, a `uri`, or both
/// (the `uri` is then resolved relative to the ref's address).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    /// Reference to an Addressable object.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub ref_: Option<KReference>,
    /// Absolute URI, or a URI relative to the ref's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// PEM CA certificates to trust for this destination.
    #[serde(default, rename = "CACerts", skip_serializing_if = "Option::is_none")]
    pub ca_certs: Option<String>,
    /// OIDC audience of the destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

/// Backoff policy for retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackoffPolicy {
    Linear,
    Exponential,
}

/// Event format forced on delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryFormat {
    /// Structured content mode (`application/cloudevents+json`).
    Json,
    /// Binary content mode (`ce-*` headers).
    Binary,
}

/// How events are delivered (`duckv1.DeliverySpec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliverySpec {
    /// Sink for events that could not be delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_sink: Option<Destination>,
    /// Minimum number of retries before the event is dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<i32>,
    /// `linear` or `exponential`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_policy: Option<BackoffPolicy>,
    /// Base backoff delay, an ISO-8601 duration such as `PT0.2S`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_delay: Option<String>,
    /// Per-attempt request timeout, an ISO-8601 duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Upper bound for honouring `Retry-After` on 429/503, an ISO-8601 duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_max: Option<String>,
    /// Force `json` (structured) or `binary` content mode on delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<DeliveryFormat>,
}

/// One address of an Addressable (`duckv1.Addressable`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Addressable {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, rename = "CACerts", skip_serializing_if = "Option::is_none")]
    pub ca_certs: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

/// Extensions added to every event a source emits (`duckv1.CloudEventOverrides`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudEventOverrides {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, String>,
}

/// Type and source of the events a source emits (`duckv1.CloudEventAttributes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudEventAttributes {
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// Common status of every source (`duckv1.SourceStatus`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    #[serde(flatten)]
    pub status: Status,
    /// The resolved URI of the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink_uri: Option<String>,
    #[serde(
        default,
        rename = "sinkCACerts",
        skip_serializing_if = "Option::is_none"
    )]
    pub sink_ca_certs: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink_audience: Option<String>,
    /// The CloudEvent attributes this source emits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ce_attributes: Vec<CloudEventAttributes>,
}

/// Address status shared by Addressables (`duckv1.AddressStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddressStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Addressable>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Addressable>,
}
