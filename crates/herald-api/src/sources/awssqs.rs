//! `AwsSqsSource`: stored as `sources.knative.dev/v1alpha1 AwsSqsSource` (eventing-contrib's
//! shape with a Destination sink), also served at the seeds' legacy
//! `sources.eventing.knative.dev/v1alpha1` (ObjectReference sink).

use std::collections::BTreeMap;

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
use crate::validation::is_absolute_uri;

use super::support::{
    CATEGORIES, GROUP, LEGACY_GROUP, ObjectReference, SINK_COLUMN, SecretKeySelector,
    default_sink_namespace, simple_down, simple_up, validate_secret_key_selector,
    validate_source_spec,
};

pub const KIND: &str = "AwsSqsSource";
pub const API_VERSION: &str = "sources.knative.dev/v1alpha1";
pub const LEGACY_API_VERSION: &str = "sources.eventing.knative.dev/v1alpha1";

/// AwsSqsSource's dependent conditions (eventing-contrib `awssqs_types.go`).
pub const CONDITIONS: ConditionSet = ConditionSet::new(&["SinkProvided", "Deployed"]);

/// AwsSqsSourceSpec defines the desired state of the source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsSqsSourceSpec {
    /// QueueURL of the SQS queue that we will poll from.
    #[serde(default, rename = "queueUrl")]
    pub queue_url: String,
    /// AwsCredsSecret is the credential to use to poll the AWS SQS queue (an AWS shared
    /// credentials file). Without it the default credential chain is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_creds_secret: Option<SecretKeySelector>,
    /// Annotations to add to the receive adapter (for example an IAM role annotation).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// ServiceAccountName is the name of the ServiceAccount that will be used to run the
    /// receive adapter.
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

/// AwsSqsSourceStatus defines the observed state of the source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsSqsSourceStatus {
    /// The duck SourceStatus: conditions, observedGeneration, sinkUri, ceAttributes.
    #[serde(flatten)]
    pub source_status: SourceStatus,
}

pub type AwsSqsSource = Object<AwsSqsSourceSpec, AwsSqsSourceStatus>;

/// The legacy AwsSqsSource spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsSqsSourceSpecV1Alpha1 {
    /// QueueURL of the SQS queue that we will poll from.
    #[serde(default, rename = "queueUrl", skip_serializing_if = "String::is_empty")]
    pub queue_url: String,
    /// AwsCredsSecret is the credential to use to poll the AWS SQS queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_creds_secret: Option<SecretKeySelector>,
    /// Annotations to add to the receive adapter.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Sink is a reference to an object that will resolve to a domain name to use as the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<ObjectReference>,
    /// ServiceAccountName is the name of the ServiceAccount that will be used to run the
    /// receive adapter.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
}

pub type AwsSqsSourceV1Alpha1 = Object<AwsSqsSourceSpecV1Alpha1, AwsSqsSourceStatus>;

impl Kind for AwsSqsSource {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        let ns = self.namespace().to_string();
        default_sink_namespace(&mut self.spec.sink, &ns);
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let s = &self.spec;
        if s.queue_url.is_empty() {
            errs.push(FieldError::required("spec.queueUrl"));
        } else if !is_absolute_uri(&s.queue_url) {
            errs.push(FieldError::invalid(
                "spec.queueUrl",
                format!("invalid value: {}: must be an absolute URL", s.queue_url),
            ));
        }
        if let Some(sec) = &s.aws_creds_secret {
            errs.extend_at("spec.awsCredsSecret", validate_secret_key_selector(sec));
        }
        validate_source_spec(&mut errs, &s.sink, s.ce_overrides.as_ref());
        errs
    }
}

const SHARED: &[&str] = &[
    "queueUrl",
    "awsCredsSecret",
    "annotations",
    "serviceAccountName",
];

fn up(v: Value) -> Result<Value, FieldErrors> {
    simple_up(v, SHARED, &[], API_VERSION, KIND)
}

fn down(v: Value) -> Result<Value, FieldErrors> {
    simple_down(v, SHARED, &[], LEGACY_API_VERSION, KIND)
}

fn storage(v: Value) -> Result<Value, FieldErrors> {
    Ok(set_type(v, API_VERSION, KIND))
}

const COLUMNS: &[PrinterColumn] = &[READY_COLUMN, REASON_COLUMN, SINK_COLUMN, AGE_COLUMN];

/// The AwsSqsSource resource: sources.knative.dev/v1alpha1 (storage) and the legacy group.
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "awssqssources",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![
            ServedVersion {
                group: GROUP,
                version: "v1alpha1",
                kind: KIND,
                plural: "awssqssources",
                singular: "awssqssource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: None,
                schema: structural::<AwsSqsSource>,
                to_storage: storage,
                from_storage: storage,
            },
            ServedVersion {
                group: LEGACY_GROUP,
                version: "v1alpha1",
                kind: KIND,
                plural: "awssqssources",
                singular: "awssqssource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: Some(
                    "sources.eventing.knative.dev/v1alpha1 AwsSqsSource is deprecated; use sources.knative.dev/v1alpha1 AwsSqsSource",
                ),
                schema: structural::<AwsSqsSourceV1Alpha1>,
                to_storage: up,
                from_storage: down,
            },
        ],
        hooks: Box::new(Typed::<AwsSqsSource>::new()),
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
            "metadata": {"name": "awssqs-sample-source", "namespace": "default"},
            "spec": {
                "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/my-queue",
                "awsCredsSecret": {"name": "aws-credentials", "key": "credentials"},
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
    fn validation_errors() {
        check_cases(
            &resource(),
            &sample(),
            &[
                ("valid", json!({}), &[]),
                ("no creds is fine", json!({"awsCredsSecret": null}), &[]),
                ("no queue", json!({"queueUrl": null}), &["spec.queueUrl"]),
                (
                    "queue not a url",
                    json!({"queueUrl": "my-queue"}),
                    &["spec.queueUrl"],
                ),
                (
                    "creds without key",
                    json!({"awsCredsSecret": {"name": "aws"}}),
                    &["spec.awsCredsSecret.key"],
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

    #[test]
    fn legacy_round_trip() {
        let r = resource();
        let legacy = json!({
            "apiVersion": LEGACY_API_VERSION, "kind": KIND,
            "metadata": {"name": "awssqs-sample-source", "namespace": "default"},
            "spec": {
                "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/my-queue",
                "awsCredsSecret": {"name": "aws-credentials", "key": "credentials"},
                "annotations": {"iam.amazonaws.com/role": "arn:aws:iam::1:role/r"},
                "serviceAccountName": "sa",
                "sink": {"apiVersion": "serving.knative.dev/v1alpha1", "kind": "Service",
                         "name": "message-dumper"}
            }
        });
        let (stored, back) = round_trip(&r, LEGACY_API_VERSION, KIND, legacy.clone());
        assert_eq!(
            stored["spec"]["sink"],
            json!({"ref": {"apiVersion": "serving.knative.dev/v1alpha1", "kind": "Service",
                           "name": "message-dumper"}})
        );
        assert_eq!(back, legacy);
        admit(&r, stored).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn storage_only_fields_survive_legacy_view() {
        let r = resource();
        let mut stored = sample();
        stored["spec"]["sink"] = json!({"ref": {"apiVersion": "v1", "kind": "Service",
                                                "name": "s"}, "uri": "/path"});
        stored["spec"]["ceOverrides"] = json!({"extensions": {"team": "a"}});
        let v = served(&r, LEGACY_API_VERSION, KIND);
        let legacy = (v.from_storage)(stored.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            legacy["spec"]["sink"],
            json!({"apiVersion": "v1", "kind": "Service", "name": "s"})
        );
        let again = (v.to_storage)(legacy).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, stored);
    }
}
