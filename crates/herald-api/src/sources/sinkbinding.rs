//! `SinkBinding` (sources.knative.dev/v1): projects a resolved sink into a subject's
//! environment (`K_SINK`, `K_CE_OVERRIDES`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
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
use crate::validation::is_dns1123_subdomain;

use super::support::{
    CATEGORIES, GROUP, SINK_COLUMN, default_sink_namespace, validate_label_selector,
    validate_source_spec,
};

pub const KIND: &str = "SinkBinding";
pub const API_VERSION: &str = "sources.knative.dev/v1";

/// SinkBinding's dependent conditions (`sinkbinding_lifecycle.go`, without the OIDC and
/// trust-bundle ones, which Herald has no use for).
pub const CONDITIONS: ConditionSet = ConditionSet::new(&["SinkBindingAvailable", "SinkProvided"]);

/// A reference to the subject(s) of a binding (`tracker.Reference`): one object by name, or
/// every object matching a label selector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    /// API version of the referent.
    #[serde(default)]
    pub api_version: String,
    /// Kind of the referent.
    #[serde(default)]
    pub kind: String,
    /// Namespace of the referent. Defaults to the binding's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Name of the referent. Mutually exclusive with Selector.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Selector of the referents. Mutually exclusive with Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// SinkBindingSpec holds the desired state of the SinkBinding (from the client).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SinkBindingSpec {
    /// Subject references the resource(s) whose "runtime contract" should be augmented by
    /// Binding implementations.
    #[serde(default)]
    pub subject: Reference,
    /// Sink is a reference to an object that will resolve to a uri to use as the sink.
    #[serde(default)]
    pub sink: Destination,
    /// CloudEventOverrides defines overrides to control the output format and modifications
    /// of the event sent to the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
}

/// SinkBindingStatus communicates the observed state of the SinkBinding (from the controller).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SinkBindingStatus {
    /// The duck SourceStatus: conditions, observedGeneration, sinkUri, ceAttributes.
    #[serde(flatten)]
    pub source_status: SourceStatus,
}

pub type SinkBinding = Object<SinkBindingSpec, SinkBindingStatus>;

/// True for a C identifier (Kubernetes kinds).
fn is_c_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Validates a `tracker.Reference` (paths relative to it).
pub fn validate_reference(r: &Reference) -> FieldErrors {
    let mut errs = FieldErrors::new();
    if r.api_version.is_empty() {
        errs.push(FieldError::required("apiVersion"));
    } else if r.api_version.matches('/').count() > 1 || r.api_version.contains(' ') {
        errs.push(FieldError::invalid(
            "apiVersion",
            format!("invalid value: {}", r.api_version),
        ));
    }
    if r.kind.is_empty() {
        errs.push(FieldError::required("kind"));
    } else if !is_c_identifier(&r.kind) {
        errs.push(FieldError::invalid(
            "kind",
            format!("invalid value: {}", r.kind),
        ));
    }
    if !r.namespace.is_empty() && (!is_dns1123_subdomain(&r.namespace) || r.namespace.contains('.'))
    {
        errs.push(FieldError::invalid(
            "namespace",
            format!("invalid value: {}", r.namespace),
        ));
    }
    match (&r.selector, r.name.is_empty()) {
        (Some(_), false) => errs.push(FieldError::invalid(
            "",
            "expected exactly one, got both: name, selector",
        )),
        (Some(sel), true) => errs.extend_at("selector", validate_label_selector(sel)),
        (None, false) => {
            if !is_dns1123_subdomain(&r.name) {
                errs.push(FieldError::invalid(
                    "name",
                    format!("invalid value: {}", r.name),
                ));
            }
        }
        (None, true) => errs.push(FieldError::invalid(
            "",
            "expected exactly one, got neither: name, selector",
        )),
    }
    errs
}

impl Kind for SinkBinding {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        let ns = self.namespace().to_string();
        if self.spec.subject.namespace.is_empty() {
            self.spec.subject.namespace = ns.clone();
        }
        default_sink_namespace(&mut self.spec.sink, &ns);
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        errs.extend_at("spec.subject", validate_reference(&self.spec.subject));
        validate_source_spec(&mut errs, &self.spec.sink, self.spec.ce_overrides.as_ref());
        errs
    }
}

fn storage(v: Value) -> Result<Value, FieldErrors> {
    Ok(set_type(v, API_VERSION, KIND))
}

const COLUMNS: &[PrinterColumn] = &[SINK_COLUMN, AGE_COLUMN, READY_COLUMN, REASON_COLUMN];

/// The SinkBinding resource (v1 only: SinkBinding never existed in the legacy group).
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "sinkbindings",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![ServedVersion {
            group: GROUP,
            version: "v1",
            kind: KIND,
            plural: "sinkbindings",
            singular: "sinkbinding",
            short_names: &[],
            categories: CATEGORIES,
            columns: COLUMNS,
            deprecated: None,
            schema: structural::<SinkBinding>,
            to_storage: storage,
            from_storage: storage,
        }],
        hooks: Box::new(Typed::<SinkBinding>::new()),
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
            "metadata": {"name": "bind-heartbeat", "namespace": "default"},
            "spec": {
                "subject": {"apiVersion": "batch/v1", "kind": "Job",
                            "selector": {"matchLabels": {"app": "heartbeat-cron"}}},
                "sink": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                 "name": "event-display"}},
                "ceOverrides": {"extensions": {"sink": "bound"}}
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
        assert_eq!(out["spec"]["subject"]["namespace"], json!("default"));
        assert_eq!(out["spec"]["sink"]["ref"]["namespace"], json!("default"));
    }

    #[test]
    fn validation_errors() {
        let r = resource();
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            ("valid", json!({}), vec![]),
            (
                "by name",
                json!({"subject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}),
                vec![],
            ),
            (
                "subject empty",
                json!({"subject": {}}),
                vec![
                    "spec.subject.apiVersion",
                    "spec.subject.kind",
                    "spec.subject",
                ],
            ),
            (
                "name and selector",
                json!({"subject": {"apiVersion": "v1", "kind": "Pod", "name": "a",
                                   "selector": {}}}),
                vec!["spec.subject"],
            ),
            (
                "bad name",
                json!({"subject": {"apiVersion": "v1", "kind": "Pod", "name": "A_b"}}),
                vec!["spec.subject.name"],
            ),
            (
                "bad selector",
                json!({"subject": {"apiVersion": "v1", "kind": "Pod",
                                   "selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}}),
                vec!["spec.subject.selector.matchExpressions[0].values"],
            ),
            (
                "sink without kind",
                json!({"sink": {"ref": {"apiVersion": "v1", "kind": "", "name": "x"}}}),
                vec!["spec.sink.ref.kind"],
            ),
            (
                "ce override of id",
                json!({"ceOverrides": {"extensions": {"id": "1"}}}),
                vec!["spec.ceOverrides.extensions.id"],
            ),
        ];
        let cases: Vec<(&str, Value, &[&str])> = cases
            .iter()
            .map(|(n, p, w)| (*n, p.clone(), w.as_slice()))
            .collect();
        check_cases(&r, &sample(), &cases);
    }

    #[test]
    fn status_flatten_round_trips() {
        let status = json!({"observedGeneration": 2, "sinkUri": "http://x",
                            "conditions": [{"type": "Ready", "status": "True"}]});
        let s: SinkBindingStatus =
            serde_json::from_value(status.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.source_status.sink_uri.as_deref(), Some("http://x"));
        assert_eq!(serde_json::to_value(&s).ok(), Some(status));
    }
}
