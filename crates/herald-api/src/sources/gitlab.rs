//! `GitLabSource` (sources.knative.dev/v1alpha1, as in knative-extensions/eventing-gitlab).

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
    CATEGORIES, GROUP, SINK_COLUMN, SecretValueFromSource, default_sink_namespace,
    validate_secret_value, validate_source_spec,
};

pub const KIND: &str = "GitLabSource";
pub const API_VERSION: &str = "sources.knative.dev/v1alpha1";

/// GitLabSource's dependent conditions (eventing-gitlab `gitlabsource_lifecycle.go`).
pub const CONDITIONS: ConditionSet =
    ConditionSet::new(&["SinkProvided", "Deployed", "WebhookConfigured"]);

/// The GitLab project hooks a GitLabSource may enable
/// (https://docs.gitlab.com/ee/api/projects.html#add-project-hook).
pub const EVENT_TYPES: &[&str] = &[
    "confidential_issues_events",
    "confidential_note_events",
    "deployment_events",
    "issues_events",
    "job_events",
    "merge_requests_events",
    "note_events",
    "pipeline_events",
    "push_events",
    "tag_push_events",
    "wiki_page_events",
];

/// GitLabSourceSpec defines the desired state of GitLabSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitLabSourceSpec {
    /// ServiceAccountName holds the name of the Kubernetes service account as which the
    /// underlying resources should be run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// ProjectURL is the url of the GitLab project to receive events from, e.g.
    /// `https://gitlab.com/gitlab-org/gitlab-foss`.
    #[serde(default)]
    pub project_url: String,
    /// EventTypes is the list of webhooks to enable on the project, e.g. `push_events`.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// AccessToken is the Kubernetes secret containing the GitLab access token.
    #[serde(default)]
    pub access_token: SecretValueFromSource,
    /// SecretToken is the Kubernetes secret containing the GitLab secret token.
    #[serde(default)]
    pub secret_token: SecretValueFromSource,
    /// SSLVerify if true configures the webhook so the SSL verification is done when
    /// triggering the hook.
    #[serde(
        default,
        rename = "sslverify",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub ssl_verify: bool,
    /// Sink is a reference to an object that will resolve to a uri to use as the sink.
    #[serde(default)]
    pub sink: Destination,
    /// CloudEventOverrides defines overrides to control the output format and modifications
    /// of the event sent to the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
}

/// GitLabSourceStatus defines the observed state of GitLabSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitLabSourceStatus {
    /// The duck SourceStatus: conditions, observedGeneration, sinkUri, ceAttributes.
    #[serde(flatten)]
    pub source_status: SourceStatus,
    /// WebhookID of the project hook registered with GitLab.
    #[serde(default, rename = "webhookID", skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<i64>,
    /// Herald: the URL of the webhook endpoint Herald serves for this source (register it in
    /// the project's webhook settings).
    #[serde(
        default,
        rename = "webhookUrl",
        skip_serializing_if = "String::is_empty"
    )]
    pub webhook_url: String,
}

pub type GitLabSource = Object<GitLabSourceSpec, GitLabSourceStatus>;

impl Kind for GitLabSource {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        let ns = self.namespace().to_string();
        default_sink_namespace(&mut self.spec.sink, &ns);
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let s = &self.spec;
        if s.project_url.is_empty() {
            errs.push(FieldError::required("spec.projectUrl"));
        } else if !is_absolute_uri(&s.project_url) {
            errs.push(FieldError::invalid(
                "spec.projectUrl",
                format!("invalid value: {}: must be an absolute URL", s.project_url),
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
        validate_source_spec(&mut errs, &s.sink, s.ce_overrides.as_ref());
        errs
    }
}

fn storage(v: Value) -> Result<Value, FieldErrors> {
    Ok(set_type(v, API_VERSION, KIND))
}

const COLUMNS: &[PrinterColumn] = &[READY_COLUMN, REASON_COLUMN, SINK_COLUMN, AGE_COLUMN];

/// The GitLabSource resource (GitLab never had a legacy-group source).
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "gitlabsources",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![ServedVersion {
            group: GROUP,
            version: "v1alpha1",
            kind: KIND,
            plural: "gitlabsources",
            singular: "gitlabsource",
            short_names: &[],
            categories: CATEGORIES,
            columns: COLUMNS,
            deprecated: None,
            schema: structural::<GitLabSource>,
            to_storage: storage,
            from_storage: storage,
        }],
        hooks: Box::new(Typed::<GitLabSource>::new()),
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
            "metadata": {"name": "gitlabsource-sample", "namespace": "default"},
            "spec": {
                "eventTypes": ["push_events", "issues_events"],
                "projectUrl": "https://gitlab.com/knative/eventing",
                "sslverify": true,
                "accessToken": {"secretKeyRef": {"name": "gitlabsecret", "key": "accessToken"}},
                "secretToken": {"secretKeyRef": {"name": "gitlabsecret", "key": "secretToken"}},
                "sink": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                 "name": "gitlab-event-display"}}
            }
        })
    }

    #[test]
    fn resource_shape() {
        check_resource(&resource());
    }

    #[test]
    fn sample_round_trips_through_types() {
        let out = admit(&resource(), sample()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out["spec"]["sslverify"], json!(true));
        assert_eq!(out["spec"]["sink"]["ref"]["namespace"], json!("default"));
    }

    #[test]
    fn validation_errors() {
        check_cases(
            &resource(),
            &sample(),
            &[
                ("valid", json!({}), &[]),
                ("no url", json!({"projectUrl": null}), &["spec.projectUrl"]),
                (
                    "relative url",
                    json!({"projectUrl": "knative/eventing"}),
                    &["spec.projectUrl"],
                ),
                (
                    "no events",
                    json!({"eventTypes": null}),
                    &["spec.eventTypes"],
                ),
                (
                    "bad event",
                    json!({"eventTypes": ["push"]}),
                    &["spec.eventTypes[0]"],
                ),
                (
                    "no secret token",
                    json!({"secretToken": {}}),
                    &["spec.secretToken.secretKeyRef"],
                ),
                (
                    "access token without name",
                    json!({"accessToken": {"secretKeyRef": {"key": "k"}}}),
                    &["spec.accessToken.secretKeyRef.name"],
                ),
                (
                    "sink",
                    json!({"sink": {"uri": "relative"}}),
                    &["spec.sink.uri"],
                ),
            ],
        );
    }

    #[test]
    fn status_webhook_id() {
        let st = json!({"webhookID": 7, "conditions": [{"type": "Ready", "status": "Unknown"}]});
        let s: GitLabSourceStatus =
            serde_json::from_value(st.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.webhook_id, Some(7));
        assert_eq!(serde_json::to_value(&s).ok(), Some(st));
    }
}
