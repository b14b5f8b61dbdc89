//! `GcpPubSubSource`: stored as `sources.knative.dev/v1alpha1 GcpPubSubSource` with the shape of
//! Knative-GCP's CloudPubSubSource, and served at the seeds' legacy
//! `sources.eventing.knative.dev/v1alpha1` with eventing-contrib's shape
//! (`googleCloudProject` -> `project`, `gcpCredsSecret` -> `secret`, ObjectReference sink).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    CATEGORIES, GROUP, LEGACY_GROUP, ObjectReference, SINK_COLUMN, SecretKeySelector,
    check_immutable, default_sink_namespace, parse_go_duration, simple_down, simple_up,
    validate_secret_key_selector, validate_source_spec,
};

pub const KIND: &str = "GcpPubSubSource";
pub const API_VERSION: &str = "sources.knative.dev/v1alpha1";
pub const LEGACY_API_VERSION: &str = "sources.eventing.knative.dev/v1alpha1";

/// Knative-GCP's default credential secret.
pub const DEFAULT_SECRET_NAME: &str = "google-cloud-key";
pub const DEFAULT_SECRET_KEY: &str = "key.json";
/// Default ack deadline (Go duration, 10s..600s).
pub const DEFAULT_ACK_DEADLINE: &str = "30s";
/// Default retention of messages (Go duration, 10m..7d).
pub const DEFAULT_RETENTION_DURATION: &str = "168h";

/// GcpPubSubSource's dependent conditions (eventing-contrib `gcppubsub_types.go`: a pull
/// subscription is a separate step from running the adapter).
pub const CONDITIONS: ConditionSet = ConditionSet::new(&["SinkProvided", "Deployed", "Subscribed"]);

/// GcpPubSubSourceSpec defines the desired state of the GcpPubSubSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpPubSubSourceSpec {
    /// Secret is the credential to use to create and poll the Pub/Sub subscription: a service
    /// account key in JSON. Defaults to `google-cloud-key` / `key.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretKeySelector>,
    /// Project is the ID of the Google Cloud Project that the Pub/Sub topic exists in.
    /// Defaults to the project of the credentials or the environment.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project: String,
    /// Topic is the ID of the Pub/Sub topic to subscribe to, within the project
    /// (`laconia`, not `projects/my-gcp-project/topics/laconia`).
    #[serde(default)]
    pub topic: String,
    /// AckDeadline is the default maximum time after a subscriber receives a message before
    /// the subscriber should acknowledge the message (Go duration, 10s..600s). Defaults to
    /// 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_deadline: Option<String>,
    /// RetainAckedMessages defines whether to retain acknowledged messages.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retain_acked_messages: bool,
    /// RetentionDuration defines how long to retain messages in backlog, from the time of
    /// publish (Go duration, 10m..168h). Defaults to 168h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_duration: Option<String>,
    /// ServiceAccountName is the Kubernetes service account used by the receive adapter.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// Sink is a reference to an object that will resolve to a uri to use as the sink.
    #[serde(default)]
    pub sink: Destination,
    /// CloudEventOverrides defines overrides to control the output format and modifications
    /// of the event sent to the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
}

/// GcpPubSubSourceStatus defines the observed state of GcpPubSubSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpPubSubSourceStatus {
    /// The duck SourceStatus: conditions, observedGeneration, sinkUri, ceAttributes.
    #[serde(flatten)]
    pub source_status: SourceStatus,
    /// ProjectID is the resolved project ID in use by the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// SubscriptionID is the created subscription ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
}

pub type GcpPubSubSource = Object<GcpPubSubSourceSpec, GcpPubSubSourceStatus>;

/// The legacy eventing-contrib GcpPubSubSource spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpPubSubSourceSpecV1Alpha1 {
    /// GcpCredsSecret is the credential to use to poll the Pub/Sub subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp_creds_secret: Option<SecretKeySelector>,
    /// GoogleCloudProject is the ID of the Google Cloud Project that the topic exists in.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub google_cloud_project: String,
    /// Topic is the ID of the Pub/Sub topic to subscribe to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topic: String,
    /// Sink is a reference to an object that will resolve to a domain name to use as the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<ObjectReference>,
    /// ServiceAccountName is the name of the ServiceAccount used by the receive adapter.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
}

pub type GcpPubSubSourceV1Alpha1 = Object<GcpPubSubSourceSpecV1Alpha1, GcpPubSubSourceStatus>;

/// True for a Pub/Sub topic ID: 3-255 characters, starting with a letter, of letters,
/// digits and `-_.~+%`, not starting with `goog`.
fn is_topic_id(s: &str) -> bool {
    (3..=255).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~+%".contains(c))
        && !s.to_ascii_lowercase().starts_with("goog")
}

fn check_duration(
    errs: &mut FieldErrors,
    path: &str,
    value: Option<&String>,
    min: f64,
    max: f64,
    range: &str,
) {
    let Some(v) = value else { return };
    match parse_go_duration(v) {
        Some(d) if (min..=max).contains(&d) => {}
        Some(_) => errs.push(FieldError::invalid(
            path,
            format!("invalid value: {v}: must be between {range}"),
        )),
        None => errs.push(FieldError::invalid(
            path,
            format!("invalid value: {v}: not a duration such as 30s or 1h"),
        )),
    }
}

impl Kind for GcpPubSubSource {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        let s = &mut self.spec;
        if s.secret.is_none() {
            s.secret = Some(SecretKeySelector {
                name: DEFAULT_SECRET_NAME.into(),
                key: DEFAULT_SECRET_KEY.into(),
                optional: None,
            });
        }
        if s.ack_deadline.is_none() {
            s.ack_deadline = Some(DEFAULT_ACK_DEADLINE.into());
        }
        if s.retention_duration.is_none() {
            s.retention_duration = Some(DEFAULT_RETENTION_DURATION.into());
        }
        let ns = self.metadata.namespace.clone().unwrap_or_default();
        default_sink_namespace(&mut self.spec.sink, &ns);
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let s = &self.spec;
        if s.topic.is_empty() {
            errs.push(FieldError::required("spec.topic"));
        } else if !is_topic_id(&s.topic) {
            errs.push(FieldError::invalid(
                "spec.topic",
                format!("invalid value: {}: not a Pub/Sub topic ID", s.topic),
            ));
        }
        if let Some(sec) = &s.secret {
            errs.extend_at("spec.secret", validate_secret_key_selector(sec));
        }
        check_duration(
            &mut errs,
            "spec.ackDeadline",
            s.ack_deadline.as_ref(),
            10.0,
            600.0,
            "10s and 10m",
        );
        check_duration(
            &mut errs,
            "spec.retentionDuration",
            s.retention_duration.as_ref(),
            600.0,
            604_800.0,
            "10m and 168h",
        );
        validate_source_spec(&mut errs, &s.sink, s.ce_overrides.as_ref());
        errs
    }

    /// The subscription is created from these fields; changing them would orphan it (Knative
    /// GCP makes them immutable too). The sink and overrides may change.
    fn validate_update(&self, old: &Self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let (o, n) = (&old.spec, &self.spec);
        check_immutable(&mut errs, "spec.topic", &o.topic, &n.topic);
        check_immutable(&mut errs, "spec.project", &o.project, &n.project);
        check_immutable(&mut errs, "spec.secret", &o.secret, &n.secret);
        check_immutable(
            &mut errs,
            "spec.ackDeadline",
            &o.ack_deadline,
            &n.ack_deadline,
        );
        check_immutable(
            &mut errs,
            "spec.retainAckedMessages",
            &o.retain_acked_messages,
            &n.retain_acked_messages,
        );
        check_immutable(
            &mut errs,
            "spec.retentionDuration",
            &o.retention_duration,
            &n.retention_duration,
        );
        errs
    }
}

const SHARED: &[&str] = &["topic", "serviceAccountName"];
const RENAMES: &[(&str, &str)] = &[
    ("googleCloudProject", "project"),
    ("gcpCredsSecret", "secret"),
];

fn up(v: Value) -> Result<Value, FieldErrors> {
    simple_up(v, SHARED, RENAMES, API_VERSION, KIND)
}

fn down(v: Value) -> Result<Value, FieldErrors> {
    simple_down(v, SHARED, RENAMES, LEGACY_API_VERSION, KIND)
}

fn storage(v: Value) -> Result<Value, FieldErrors> {
    Ok(set_type(v, API_VERSION, KIND))
}

const COLUMNS: &[PrinterColumn] = &[READY_COLUMN, REASON_COLUMN, SINK_COLUMN, AGE_COLUMN];

/// The GcpPubSubSource resource: sources.knative.dev/v1alpha1 (storage) and the legacy group.
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "gcppubsubsources",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![
            ServedVersion {
                group: GROUP,
                version: "v1alpha1",
                kind: KIND,
                plural: "gcppubsubsources",
                singular: "gcppubsubsource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: None,
                schema: structural::<GcpPubSubSource>,
                to_storage: storage,
                from_storage: storage,
            },
            ServedVersion {
                group: LEGACY_GROUP,
                version: "v1alpha1",
                kind: KIND,
                plural: "gcppubsubsources",
                singular: "gcppubsubsource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: Some(
                    "sources.eventing.knative.dev/v1alpha1 GcpPubSubSource is deprecated; use sources.knative.dev/v1alpha1 GcpPubSubSource",
                ),
                schema: structural::<GcpPubSubSourceV1Alpha1>,
                to_storage: up,
                from_storage: down,
            },
        ],
        hooks: Box::new(Typed::<GcpPubSubSource>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::support::test_util::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": "testing-source", "namespace": "default"},
            "spec": {
                "project": "my-gcp-project",
                "topic": "laconia",
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
        assert_eq!(
            out["spec"]["secret"],
            json!({"name": "google-cloud-key", "key": "key.json"})
        );
        assert_eq!(out["spec"]["ackDeadline"], json!("30s"));
        assert_eq!(out["spec"]["retentionDuration"], json!("168h"));
        assert_eq!(out["spec"]["sink"]["ref"]["namespace"], json!("default"));
    }

    #[test]
    fn validation_errors() {
        check_cases(
            &resource(),
            &sample(),
            &[
                ("valid", json!({}), &[]),
                ("no topic", json!({"topic": null}), &["spec.topic"]),
                (
                    "full topic name",
                    json!({"topic": "projects/p/topics/t"}),
                    &["spec.topic"],
                ),
                (
                    "ack deadline too short",
                    json!({"ackDeadline": "5s"}),
                    &["spec.ackDeadline"],
                ),
                (
                    "ack deadline garbage",
                    json!({"ackDeadline": "soon"}),
                    &["spec.ackDeadline"],
                ),
                ("retention ok", json!({"retentionDuration": "1h30m"}), &[]),
                (
                    "retention too long",
                    json!({"retentionDuration": "200h"}),
                    &["spec.retentionDuration"],
                ),
                (
                    "secret without key",
                    json!({"secret": {"name": "s"}}),
                    &["spec.secret.key"],
                ),
                ("no sink", json!({"sink": null}), &["spec.sink"]),
                (
                    "ce overrides",
                    json!({"ceOverrides": {"extensions": {"data": "x"}}}),
                    &["spec.ceOverrides.extensions.data"],
                ),
            ],
        );
    }

    #[test]
    fn subscription_fields_are_immutable() {
        let r = resource();
        let old = admit(&r, sample()).unwrap_or_else(|e| panic!("{e}"));
        let mut new = old.clone();
        new["spec"]["sink"] = json!({"uri": "http://example.com"});
        assert_eq!(update(&r, &old, new.clone()), Ok(()));
        new["spec"]["topic"] = json!("other");
        new["spec"]["ackDeadline"] = json!("60s");
        let errs = update(&r, &old, new).err().unwrap_or_default();
        assert_eq!(paths(&errs), ["spec.topic", "spec.ackDeadline"]);
    }

    #[test]
    fn legacy_round_trip() {
        let r = resource();
        let legacy = json!({
            "apiVersion": LEGACY_API_VERSION, "kind": KIND,
            "metadata": {"name": "gcp-pubsub-source", "namespace": "default"},
            "spec": {
                "gcpCredsSecret": {"name": "google-cloud-key", "key": "key.json"},
                "googleCloudProject": "my-project",
                "topic": "testing",
                "sink": {"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "Broker",
                         "name": "default"}
            }
        });
        let (stored, back) = round_trip(&r, LEGACY_API_VERSION, KIND, legacy.clone());
        assert_eq!(stored["spec"]["project"], json!("my-project"));
        assert_eq!(stored["spec"]["secret"], legacy["spec"]["gcpCredsSecret"]);
        assert_eq!(back, legacy);
        // Defaults added on the stored object survive a legacy read-modify-write.
        let admitted = admit(&r, stored).unwrap_or_else(|e| panic!("{e}"));
        let v = served(&r, LEGACY_API_VERSION, KIND);
        let view = (v.from_storage)(admitted.clone()).unwrap_or_else(|e| panic!("{e}"));
        let again = (v.to_storage)(view).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, admitted);
    }
}
