//! `GitHubSource` (sources.knative.dev/v1alpha1, storage, as in knative-extensions/eventing-github)
//! and the legacy `sources.eventing.knative.dev/v1alpha1 GitHubSource` (sink ObjectReference).

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
    CATEGORIES, GROUP, LEGACY_GROUP, ObjectReference, SINK_COLUMN, SecretValueFromSource,
    default_sink_namespace, simple_down, simple_up, validate_secret_value, validate_source_spec,
};

pub const KIND: &str = "GitHubSource";
pub const API_VERSION: &str = "sources.knative.dev/v1alpha1";
pub const LEGACY_API_VERSION: &str = "sources.eventing.knative.dev/v1alpha1";

/// GitHubSource's dependent conditions (eventing-github `githubsource_types.go`).
pub const CONDITIONS: ConditionSet =
    ConditionSet::new(&["SecretsProvided", "SinkProvided", "WebhookConfigured"]);

/// The GitHub webhook event names a GitHubSource may subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "check_suite",
    "commit_comment",
    "create",
    "delete",
    "deployment",
    "deployment_status",
    "fork",
    "gollum",
    "installation",
    "integration_installation",
    "issue_comment",
    "issues",
    "label",
    "member",
    "membership",
    "milestone",
    "organization",
    "org_block",
    "page_build",
    "ping",
    "project_card",
    "project_column",
    "project",
    "public",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "push",
    "release",
    "repository",
    "status",
    "team",
    "team_add",
    "watch",
];

/// GitHubSourceSpec defines the desired state of GitHubSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitHubSourceSpec {
    /// ServiceAccountName holds the name of the Kubernetes service account as which the
    /// underlying resources should be run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// OwnerAndRepository is the GitHub owner/org and repository to receive events from. The
    /// repository may be left off to receive events from an entire organization.
    /// Examples: `myuser/project`, `myorganization`.
    #[serde(default)]
    pub owner_and_repository: String,
    /// EventTypes are the GitHub "Webhook event names" to receive, e.g. `pull_request`.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// AccessToken is the Kubernetes secret containing the GitHub access token.
    #[serde(default)]
    pub access_token: SecretValueFromSource,
    /// SecretToken is the Kubernetes secret containing the GitHub secret token.
    #[serde(default)]
    pub secret_token: SecretValueFromSource,
    /// API URL if using GitHub Enterprise (default https://api.github.com).
    #[serde(
        default,
        rename = "githubAPIURL",
        skip_serializing_if = "String::is_empty"
    )]
    pub github_api_url: String,
    /// Secure can be set to true to configure the webhook to use https, or false to use http.
    /// Omitting it relies on the scheme of the receiver's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure: Option<bool>,
    /// Sink is a reference to an object that will resolve to a uri to use as the sink.
    #[serde(default)]
    pub sink: Destination,
    /// CloudEventOverrides defines overrides to control the output format and modifications
    /// of the event sent to the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
}

/// GitHubSourceStatus defines the observed state of GitHubSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitHubSourceStatus {
    /// The duck SourceStatus: conditions, observedGeneration, sinkUri, ceAttributes.
    #[serde(flatten)]
    pub source_status: SourceStatus,
    /// WebhookIDKey is the ID of the webhook registered with GitHub.
    #[serde(
        default,
        rename = "webhookIDKey",
        skip_serializing_if = "String::is_empty"
    )]
    pub webhook_id_key: String,
    /// Herald: the URL of the webhook endpoint Herald serves for this source (register it in
    /// the repository's webhook settings).
    #[serde(
        default,
        rename = "webhookUrl",
        skip_serializing_if = "String::is_empty"
    )]
    pub webhook_url: String,
}

pub type GitHubSource = Object<GitHubSourceSpec, GitHubSourceStatus>;

/// The legacy GitHubSource spec: as today, with a corev1 ObjectReference sink and no
/// `ceOverrides`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitHubSourceSpecV1Alpha1 {
    /// ServiceAccountName holds the name of the Kubernetes service account.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// OwnerAndRepository is the GitHub owner/org and repository to receive events from.
    #[serde(default)]
    pub owner_and_repository: String,
    /// EventTypes are the GitHub "Webhook event names" to receive.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// AccessToken is the Kubernetes secret containing the GitHub access token.
    #[serde(default)]
    pub access_token: SecretValueFromSource,
    /// SecretToken is the Kubernetes secret containing the GitHub secret token.
    #[serde(default)]
    pub secret_token: SecretValueFromSource,
    /// API URL if using GitHub Enterprise.
    #[serde(
        default,
        rename = "githubAPIURL",
        skip_serializing_if = "String::is_empty"
    )]
    pub github_api_url: String,
    /// Secure can be set to true to configure the webhook to use https.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure: Option<bool>,
    /// Sink is a reference to an object that will resolve to a domain name to use as the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<ObjectReference>,
}

pub type GitHubSourceV1Alpha1 = Object<GitHubSourceSpecV1Alpha1, GitHubSourceStatus>;

/// True for `owner` or `owner/repo` (GitHub names: letters, digits, `-`, `_`, `.`).
fn is_owner_and_repository(s: &str) -> bool {
    let ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    match s.split_once('/') {
        Some((o, r)) => ok(o) && ok(r),
        None => ok(s),
    }
}

impl Kind for GitHubSource {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        let ns = self.namespace().to_string();
        default_sink_namespace(&mut self.spec.sink, &ns);
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let s = &self.spec;
        if s.owner_and_repository.is_empty() {
            errs.push(FieldError::required("spec.ownerAndRepository"));
        } else if !is_owner_and_repository(&s.owner_and_repository) {
            errs.push(FieldError::invalid(
                "spec.ownerAndRepository",
                format!(
                    "invalid value: {}: expected owner or owner/repository",
                    s.owner_and_repository
                ),
            ));
        }
        if s.event_types.is_empty() {
            errs.push(FieldError::required("spec.eventTypes"));
        }
        for (i, t) in s.event_types.iter().enumerate() {
            if !EVENT_TYPES.contains(&t.as_str()) {
                errs.push(FieldError::not_supported(
                    format!("spec.eventTypes[{i}]"),
                    t,
                    EVENT_TYPES,
                ));
            }
        }
        validate_secret_value(&mut errs, "spec.accessToken", &s.access_token);
        validate_secret_value(&mut errs, "spec.secretToken", &s.secret_token);
        if !s.github_api_url.is_empty() && !is_absolute_uri(&s.github_api_url) {
            errs.push(FieldError::invalid(
                "spec.githubAPIURL",
                format!(
                    "invalid value: {}: must be an absolute URL",
                    s.github_api_url
                ),
            ));
        }
        validate_source_spec(&mut errs, &s.sink, s.ce_overrides.as_ref());
        errs
    }
}

const SHARED: &[&str] = &[
    "serviceAccountName",
    "ownerAndRepository",
    "eventTypes",
    "accessToken",
    "secretToken",
    "githubAPIURL",
    "secure",
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

/// The GitHubSource resource: sources.knative.dev/v1alpha1 (storage) and the legacy group.
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "githubsources",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![
            ServedVersion {
                group: GROUP,
                version: "v1alpha1",
                kind: KIND,
                plural: "githubsources",
                singular: "githubsource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: None,
                schema: structural::<GitHubSource>,
                to_storage: storage,
                from_storage: storage,
            },
            ServedVersion {
                group: LEGACY_GROUP,
                version: "v1alpha1",
                kind: KIND,
                plural: "githubsources",
                singular: "githubsource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: Some(
                    "sources.eventing.knative.dev/v1alpha1 GitHubSource is deprecated; use sources.knative.dev/v1alpha1 GitHubSource",
                ),
                schema: structural::<GitHubSourceV1Alpha1>,
                to_storage: up,
                from_storage: down,
            },
        ],
        hooks: Box::new(Typed::<GitHubSource>::new()),
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
            "metadata": {"name": "githubsourcesample", "namespace": "default"},
            "spec": {
                "eventTypes": ["pull_request"],
                "ownerAndRepository": "knative/eventing",
                "accessToken": {"secretKeyRef": {"name": "githubsecret", "key": "accessToken"}},
                "secretToken": {"secretKeyRef": {"name": "githubsecret", "key": "secretToken"}},
                "sink": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                 "name": "github-message-dumper"}}
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
                ("org only", json!({"ownerAndRepository": "knative"}), &[]),
                (
                    "no repo",
                    json!({"ownerAndRepository": null}),
                    &["spec.ownerAndRepository"],
                ),
                (
                    "bad repo",
                    json!({"ownerAndRepository": "a/b/c"}),
                    &["spec.ownerAndRepository"],
                ),
                ("no events", json!({"eventTypes": []}), &["spec.eventTypes"]),
                (
                    "bad event",
                    json!({"eventTypes": ["push", "nope"]}),
                    &["spec.eventTypes[1]"],
                ),
                (
                    "no access token",
                    json!({"accessToken": null}),
                    &["spec.accessToken.secretKeyRef"],
                ),
                (
                    "secret token without key",
                    json!({"secretToken": {"secretKeyRef": {"name": "s"}}}),
                    &["spec.secretToken.secretKeyRef.key"],
                ),
                (
                    "api url",
                    json!({"githubAPIURL": "github.local"}),
                    &["spec.githubAPIURL"],
                ),
                ("no sink", json!({"sink": null}), &["spec.sink"]),
                (
                    "ce overrides",
                    json!({"ceOverrides": {"extensions": {"time": "now"}}}),
                    &["spec.ceOverrides.extensions.time"],
                ),
            ],
        );
    }

    #[test]
    fn legacy_round_trip() {
        let r = resource();
        let mut legacy = sample();
        legacy["apiVersion"] = json!(LEGACY_API_VERSION);
        legacy["spec"]["sink"] =
            json!({"apiVersion": "serving.knative.dev/v1alpha1", "kind": "Service", "name": "d"});
        legacy["spec"]["secure"] = json!(true);
        legacy["spec"]["githubAPIURL"] = json!("https://github.example.com/api/v3/");
        let (stored, back) = round_trip(&r, LEGACY_API_VERSION, KIND, legacy.clone());
        assert_eq!(
            stored["spec"]["sink"],
            json!({"ref": {"apiVersion": "serving.knative.dev/v1alpha1", "kind": "Service",
                           "name": "d"}})
        );
        assert_eq!(stored["spec"]["secure"], json!(true));
        assert_eq!(back, legacy);
        admit(&r, stored).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn status_webhook_id() {
        let st = json!({"sinkUri": "http://x", "webhookIDKey": "42"});
        let s: GitHubSourceStatus =
            serde_json::from_value(st.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.webhook_id_key, "42");
        assert_eq!(serde_json::to_value(&s).ok(), Some(st));
    }
}
