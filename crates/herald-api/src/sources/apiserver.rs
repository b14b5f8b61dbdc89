//! `ApiServerSource` (sources.knative.dev/v1, storage), the legacy
//! `sources.eventing.knative.dev/v1alpha1 ApiServerSource` and the legacy
//! `KubernetesEventSource` (an ApiServerSource in Resource mode watching `v1 Event`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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
    CATEGORIES, Conv, GROUP, LEGACY_GROUP, LEGACY_STASH_PREFIX, ObjectReference, SINK_COLUMN,
    STORAGE_STASH_PREFIX, decode_at, default_sink_namespace, to_value, validate_label_selector,
    validate_source_spec,
};

pub const KIND: &str = "ApiServerSource";
pub const API_VERSION: &str = "sources.knative.dev/v1";
pub const LEGACY_API_VERSION: &str = "sources.eventing.knative.dev/v1alpha1";
pub const KES_KIND: &str = "KubernetesEventSource";

/// Send a reference to the changed object (the default).
pub const REFERENCE_MODE: &str = "Reference";
/// Send the whole changed object.
pub const RESOURCE_MODE: &str = "Resource";

/// Where a KubernetesEventSource's `namespace` is kept on the stored ApiServerSource.
pub const KES_NAMESPACE_ANNOTATION: &str = "herald.dev/v1alpha1-namespace";

/// ApiServerSource's dependent conditions (`apiserver_lifecycle.go`, without the OIDC one).
pub const CONDITIONS: ConditionSet =
    ConditionSet::new(&["SinkProvided", "Deployed", "SufficientPermissions"]);

/// A kind of resource to watch, with an optional label selector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiVersionKindSelector {
    /// APIVersion - the API version of the resource to watch.
    #[serde(default)]
    pub api_version: String,
    /// Kind of the resource to watch.
    #[serde(default)]
    pub kind: String,
    /// LabelSelector filters this source to objects to those resources pass the label
    /// selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// An apiVersion and kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiVersionKind {
    /// APIVersion - the API version of the resource to watch.
    #[serde(default)]
    pub api_version: String,
    /// Kind of the resource to watch.
    #[serde(default)]
    pub kind: String,
}

fn preserve_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
    })
}

/// ApiServerSourceSpec defines the desired state of ApiServerSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiServerSourceSpec {
    /// Resource are the resources this source will track and send related lifecycle events
    /// from the Kubernetes ApiServer, with an optional label selector to help filter.
    #[serde(default)]
    pub resources: Vec<ApiVersionKindSelector>,
    /// ResourceOwner is an additional filter to only track resources that are owned by a
    /// specific resource type. If ResourceOwner matches Resources[n] then Resources[n] is
    /// allowed to pass the ResourceOwner filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<ApiVersionKind>,
    /// EventMode controls the format of the event. `Reference` sends a dataref event type
    /// for the resource under watch. `Resource` sends the full resource lifecycle event.
    /// Defaults to `Reference`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
    /// ServiceAccountName is the name of the ServiceAccount to use to run this source.
    /// Defaults to `default` if not set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// NamespaceSelector is a label selector to capture the namespaces that should be watched
    /// by the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Filters is an experimental field that conforms to the CNCF CloudEvents Subscriptions
    /// API. It's an array of filter expressions that evaluate to true or false.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "preserve_list")]
    pub filters: Vec<Value>,
    /// Sink is a reference to an object that will resolve to a uri to use as the sink.
    #[serde(default)]
    pub sink: Destination,
    /// CloudEventOverrides defines overrides to control the output format and modifications
    /// of the event sent to the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
}

/// ApiServerSourceStatus defines the observed state of ApiServerSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiServerSourceStatus {
    /// The duck SourceStatus: conditions, observedGeneration, sinkUri, ceAttributes.
    #[serde(flatten)]
    pub source_status: SourceStatus,
    /// Namespaces show the namespaces currently watched by the ApiServerSource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
}

pub type ApiServerSource = Object<ApiServerSourceSpec, ApiServerSourceStatus>;

/// A resource watched by a legacy v1alpha1 ApiServerSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiServerResourceV1Alpha1 {
    /// API version of the resource to watch.
    #[serde(default)]
    pub api_version: String,
    /// Kind of the resource to watch.
    #[serde(default)]
    pub kind: String,
    /// LabelSelector restricts this source to objects with the selected labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// ControllerSelector restricts this source to objects with a controlling owner reference
    /// of the specified kind (only apiVersion and kind are used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_selector: Option<ControllerSelector>,
    /// If true, send an event referencing the object controlling the resource.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub controller: bool,
}

/// The owner a legacy resource must be controlled by (an `OwnerReference`; only apiVersion
/// and kind were used).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControllerSelector {
    /// API version of the controller.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Kind of the controller.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name of the controller (unused).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// UID of the controller (unused).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

/// The legacy v1alpha1 ApiServerSource spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiServerSourceSpecV1Alpha1 {
    /// Resources is the list of resources to watch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ApiServerResourceV1Alpha1>,
    /// ServiceAccountName is the name of the ServiceAccount to use to run this source.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// Sink is a reference to an object that will resolve to a domain name to use as the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<ObjectReference>,
    /// Mode is the mode the receive adapter controller runs under: `Ref` or `Resource`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
}

pub type ApiServerSourceV1Alpha1 = Object<ApiServerSourceSpecV1Alpha1, ApiServerSourceStatus>;

/// The legacy KubernetesEventSource spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesEventSourceSpec {
    /// Namespace that we watch kubernetes events in.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// ServiceAccountName is the name of the ServiceAccount to use to run this source.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// Sink is a reference to an object that will resolve to a domain name to use as the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<ObjectReference>,
}

pub type KubernetesEventSource = Object<KubernetesEventSourceSpec, ApiServerSourceStatus>;

/// True for an apiVersion `schema.ParseGroupVersion` accepts (`v1`, `apps/v1`).
fn is_api_version(s: &str) -> bool {
    !s.is_empty()
        && s.matches('/').count() <= 1
        && !s.starts_with('/')
        && !s.ends_with('/')
        && !s.contains(char::is_whitespace)
}

impl Kind for ApiServerSource {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        if self.spec.mode.is_empty() {
            self.spec.mode = REFERENCE_MODE.into();
        }
        if self.spec.service_account_name.is_empty() {
            self.spec.service_account_name = "default".into();
        }
        let ns = self.namespace().to_string();
        default_sink_namespace(&mut self.spec.sink, &ns);
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let s = &self.spec;
        if s.mode != REFERENCE_MODE && s.mode != RESOURCE_MODE {
            errs.push(FieldError::not_supported(
                "spec.mode",
                &s.mode,
                &[REFERENCE_MODE, RESOURCE_MODE],
            ));
        }
        if s.resources.is_empty() {
            errs.push(FieldError::required("spec.resources"));
        }
        for (i, r) in s.resources.iter().enumerate() {
            let p = format!("spec.resources[{i}]");
            if r.api_version.is_empty() {
                errs.push(FieldError::required(format!("{p}.apiVersion")));
            } else if !is_api_version(&r.api_version) {
                errs.push(FieldError::invalid(
                    format!("{p}.apiVersion"),
                    format!("invalid value: {}", r.api_version),
                ));
            }
            if r.kind.is_empty() {
                errs.push(FieldError::required(format!("{p}.kind")));
            }
            if let Some(sel) = &r.selector {
                errs.extend_at(&format!("{p}.selector"), validate_label_selector(sel));
            }
        }
        if let Some(o) = &s.owner {
            if !o.api_version.is_empty() && !is_api_version(&o.api_version) {
                errs.push(FieldError::invalid(
                    "spec.owner.apiVersion",
                    format!("invalid value: {}", o.api_version),
                ));
            }
            if o.kind.is_empty() {
                errs.push(FieldError::required("spec.owner.kind"));
            }
        }
        if let Some(sel) = &s.namespace_selector {
            errs.extend_at("spec.namespaceSelector", validate_label_selector(sel));
        }
        for (i, f) in s.filters.iter().enumerate() {
            // The Subscriptions API filter dialects are validated by the Trigger filter code;
            // here only the shape (one object per filter) is checked.
            if !f.is_object() {
                errs.push(FieldError::invalid(
                    format!("spec.filters[{i}]"),
                    "expected an object",
                ));
            }
        }
        validate_source_spec(&mut errs, &s.sink, s.ce_overrides.as_ref());
        errs
    }
}

/// Legacy v1alpha1 resources -> (v1 resources, owner).
fn resources_up(
    legacy: &[ApiServerResourceV1Alpha1],
) -> (Vec<ApiVersionKindSelector>, Option<ApiVersionKind>) {
    let mut owner = None;
    let resources = legacy
        .iter()
        .map(|r| {
            if owner.is_none()
                && let Some(c) = &r.controller_selector
                && (!c.api_version.is_empty() || !c.kind.is_empty())
            {
                owner = Some(ApiVersionKind {
                    api_version: c.api_version.clone(),
                    kind: c.kind.clone(),
                });
            }
            ApiVersionKindSelector {
                api_version: r.api_version.clone(),
                kind: r.kind.clone(),
                selector: r
                    .label_selector
                    .clone()
                    .filter(|s| s != &LabelSelector::default()),
            }
        })
        .collect();
    (resources, owner)
}

fn mode_up(m: &str) -> &str {
    match m {
        "Ref" => REFERENCE_MODE,
        other => other,
    }
}

fn mode_down(m: &str) -> &str {
    match m {
        REFERENCE_MODE => "Ref",
        other => other,
    }
}

const LEGACY_RESOURCES_STASH: &str = "herald.dev/v1alpha1-resources";

/// Legacy v1alpha1 ApiServerSource -> v1.
fn up(v: Value) -> Result<Value, FieldErrors> {
    let mut c = Conv::new(v)?;
    c.sink_up()?;
    c.keep(&["serviceAccountName"]);
    if let Some(m) = c.take_str("mode")? {
        c.put("mode", json!(mode_up(&m)));
    }
    if let Some(r) = c.take("resources") {
        let legacy: Vec<ApiServerResourceV1Alpha1> = decode_at("spec.resources", r.clone())?;
        let (resources, owner) = resources_up(&legacy);
        c.put("resources", to_value(&resources)?);
        if let Some(o) = owner {
            c.put("owner", to_value(&o)?);
        }
        // Controller flags and full owner references have no v1 equivalent: keep the
        // original list when converting it loses something.
        if legacy
            .iter()
            .any(|r| r.controller || r.controller_selector.is_some())
        {
            c.stash(LEGACY_RESOURCES_STASH, &r);
        }
    }
    c.restore(STORAGE_STASH_PREFIX);
    c.stash_rest(LEGACY_STASH_PREFIX);
    Ok(c.finish(API_VERSION, KIND))
}

/// v1 -> legacy v1alpha1 ApiServerSource.
fn down(v: Value) -> Result<Value, FieldErrors> {
    let mut c = Conv::new(v)?;
    c.sink_down()?;
    c.keep(&["serviceAccountName"]);
    if let Some(m) = c.take_str("mode")? {
        c.put("mode", json!(mode_down(&m)));
    }
    let stashed = c.unstash(LEGACY_RESOURCES_STASH);
    let resources: Vec<ApiVersionKindSelector> = match c.take("resources") {
        Some(r) => decode_at("spec.resources", r)?,
        None => Vec::new(),
    };
    let owner: Option<ApiVersionKind> = match c.take("owner") {
        Some(o) => Some(decode_at("spec.owner", o)?),
        None => None,
    };
    let stashed = stashed
        .and_then(|s| serde_json::from_value::<Vec<ApiServerResourceV1Alpha1>>(s).ok())
        .filter(|s| resources_up(s) == (resources.clone(), owner.clone()));
    match stashed {
        Some(legacy) => c.put("resources", to_value(&legacy)?),
        None => {
            if !resources.is_empty() {
                let legacy: Vec<ApiServerResourceV1Alpha1> = resources
                    .iter()
                    .map(|r| ApiServerResourceV1Alpha1 {
                        api_version: r.api_version.clone(),
                        kind: r.kind.clone(),
                        label_selector: r.selector.clone(),
                        ..Default::default()
                    })
                    .collect();
                c.put("resources", to_value(&legacy)?);
            }
            if let Some(o) = owner {
                c.stash(&format!("{STORAGE_STASH_PREFIX}owner"), &to_value(&o)?);
            }
        }
    }
    c.restore(LEGACY_STASH_PREFIX);
    c.stash_rest(STORAGE_STASH_PREFIX);
    Ok(c.finish(LEGACY_API_VERSION, KIND))
}

fn kes_resources() -> Value {
    json!([{"apiVersion": "v1", "kind": "Event"}])
}

/// KubernetesEventSource -> ApiServerSource v1 (Resource mode, `v1 Event`).
fn kes_up(v: Value) -> Result<Value, FieldErrors> {
    let mut c = Conv::new(v)?;
    c.sink_up()?;
    c.keep(&["serviceAccountName"]);
    c.restore(STORAGE_STASH_PREFIX);
    if !c.to.contains_key("resources") {
        c.put("resources", kes_resources());
    }
    if !c.to.contains_key("mode") {
        c.put("mode", json!(RESOURCE_MODE));
    }
    // `namespace` lands in herald.dev/v1alpha1-namespace.
    c.stash_rest(LEGACY_STASH_PREFIX);
    Ok(c.finish(API_VERSION, KIND))
}

/// ApiServerSource v1 -> KubernetesEventSource.
fn kes_down(v: Value) -> Result<Value, FieldErrors> {
    let mut c = Conv::new(v)?;
    c.sink_down()?;
    c.keep(&["serviceAccountName"]);
    if c.from.get("resources") == Some(&kes_resources()) {
        c.from.remove("resources");
    }
    if c.from.get("mode") == Some(&json!(RESOURCE_MODE)) {
        c.from.remove("mode");
    }
    c.restore(LEGACY_STASH_PREFIX);
    c.stash_rest(STORAGE_STASH_PREFIX);
    Ok(c.finish(LEGACY_API_VERSION, KES_KIND))
}

fn storage(v: Value) -> Result<Value, FieldErrors> {
    Ok(set_type(v, API_VERSION, KIND))
}

const COLUMNS: &[PrinterColumn] = &[SINK_COLUMN, AGE_COLUMN, READY_COLUMN, REASON_COLUMN];

/// The ApiServerSource resource: v1 (storage), legacy v1alpha1 ApiServerSource and
/// KubernetesEventSource.
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "apiserversources",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![
            ServedVersion {
                group: GROUP,
                version: "v1",
                kind: KIND,
                plural: "apiserversources",
                singular: "apiserversource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: None,
                schema: structural::<ApiServerSource>,
                to_storage: storage,
                from_storage: storage,
            },
            ServedVersion {
                group: LEGACY_GROUP,
                version: "v1alpha1",
                kind: KIND,
                plural: "apiserversources",
                singular: "apiserversource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: Some(
                    "sources.eventing.knative.dev/v1alpha1 ApiServerSource is deprecated; use sources.knative.dev/v1 ApiServerSource",
                ),
                schema: structural::<ApiServerSourceV1Alpha1>,
                to_storage: up,
                from_storage: down,
            },
            ServedVersion {
                group: LEGACY_GROUP,
                version: "v1alpha1",
                kind: KES_KIND,
                plural: "kuberneteseventsources",
                singular: "kuberneteseventsource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: Some(
                    "sources.eventing.knative.dev/v1alpha1 KubernetesEventSource is deprecated; use sources.knative.dev/v1 ApiServerSource",
                ),
                schema: structural::<KubernetesEventSource>,
                to_storage: kes_up,
                from_storage: kes_down,
            },
        ],
        hooks: Box::new(Typed::<ApiServerSource>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::support::test_util::*;

    fn sample() -> Value {
        json!({
            "apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": "api", "namespace": "default"},
            "spec": {
                "resources": [{"apiVersion": "v1", "kind": "Pod",
                               "selector": {"matchLabels": {"app": "web"}}}],
                "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                                 "name": "default"}}
            }
        })
    }

    #[test]
    fn resource_shape() {
        let r = resource();
        check_resource(&r);
        let s = (r.versions[0].schema)();
        assert_eq!(
            s.pointer(
                "/properties/spec/properties/filters/items/x-kubernetes-preserve-unknown-fields"
            ),
            Some(&json!(true))
        );
        assert!(
            s.pointer("/properties/status/properties/namespaces")
                .is_some()
        );
    }

    #[test]
    fn defaults() {
        let out = admit(&resource(), sample()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out["spec"]["mode"], json!("Reference"));
        assert_eq!(out["spec"]["serviceAccountName"], json!("default"));
        assert_eq!(out["spec"]["sink"]["ref"]["namespace"], json!("default"));
    }

    #[test]
    fn validation_errors() {
        let r = resource();
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            ("valid", json!({}), vec![]),
            (
                "no resources",
                json!({"resources": []}),
                vec!["spec.resources"],
            ),
            (
                "resource fields",
                json!({"resources": [{"apiVersion": "a/b/c"}, {"kind": "Pod"}]}),
                vec![
                    "spec.resources[0].apiVersion",
                    "spec.resources[0].kind",
                    "spec.resources[1].apiVersion",
                ],
            ),
            ("bad mode", json!({"mode": "Everything"}), vec!["spec.mode"]),
            (
                "bad selector",
                json!({"resources": [{"apiVersion": "v1", "kind": "Pod", "selector":
                    {"matchExpressions": [{"key": "a", "operator": "Near"}]}}]}),
                vec!["spec.resources[0].selector.matchExpressions[0].operator"],
            ),
            (
                "bad namespace selector",
                json!({"namespaceSelector": {"matchLabels": {"bad key!": "x"}}}),
                vec!["spec.namespaceSelector.matchLabels.bad key!"],
            ),
            (
                "owner without kind",
                json!({"owner": {"apiVersion": "apps/v1"}}),
                vec!["spec.owner.kind"],
            ),
            (
                "sink uri relative",
                json!({"sink": {"uri": "/x"}}),
                vec!["spec.sink.uri"],
            ),
            (
                "ce overrides",
                json!({"ceOverrides": {"extensions": {"source": "x"}}}),
                vec!["spec.ceOverrides.extensions.source"],
            ),
        ];
        let cases: Vec<(&str, Value, &[&str])> = cases
            .iter()
            .map(|(n, p, w)| (*n, p.clone(), w.as_slice()))
            .collect();
        check_cases(&r, &sample(), &cases);
    }

    #[test]
    fn legacy_apiserversource_round_trip() {
        let r = resource();
        let legacy = json!({
            "apiVersion": LEGACY_API_VERSION, "kind": KIND,
            "metadata": {"name": "testevents", "namespace": "default"},
            "spec": {
                "mode": "Ref",
                "serviceAccountName": "events-sa",
                "resources": [
                    {"apiVersion": "v1", "kind": "Event"},
                    {"apiVersion": "v1", "kind": "Pod", "controller": true,
                     "controllerSelector": {"apiVersion": "apps/v1", "kind": "ReplicaSet"}}
                ],
                "sink": {"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "Broker",
                         "name": "default"}
            }
        });
        let (stored, back) = round_trip(&r, LEGACY_API_VERSION, KIND, legacy.clone());
        assert_eq!(stored["spec"]["mode"], json!("Reference"));
        assert_eq!(
            stored["spec"]["owner"],
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet"})
        );
        assert_eq!(
            stored["spec"]["resources"],
            json!([{"apiVersion": "v1", "kind": "Event"}, {"apiVersion": "v1", "kind": "Pod"}])
        );
        assert_eq!(
            stored["spec"]["sink"],
            json!({"ref": {"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "Broker",
                           "name": "default"}})
        );
        assert_eq!(back, legacy);
        admit(&r, stored).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn legacy_view_of_edited_v1_object() {
        // The stash is ignored once the v1 resources changed.
        let r = resource();
        let v = served(&r, LEGACY_API_VERSION, KIND);
        let mut stored = sample();
        stored["metadata"]["annotations"] = json!({LEGACY_RESOURCES_STASH:
            "[{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"controller\":true}]"});
        stored["spec"]["owner"] = json!({"apiVersion": "apps/v1", "kind": "Deployment"});
        let legacy = (v.from_storage)(stored.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            legacy["spec"]["resources"],
            json!([{"apiVersion": "v1", "kind": "Pod",
                    "labelSelector": {"matchLabels": {"app": "web"}}}])
        );
        let again = (v.to_storage)(legacy).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again["spec"], stored["spec"]);
    }

    #[test]
    fn kubernetes_event_source_round_trip() {
        let r = resource();
        let legacy = json!({
            "apiVersion": LEGACY_API_VERSION, "kind": KES_KIND,
            "metadata": {"name": "k8sevents", "namespace": "default"},
            "spec": {
                "namespace": "other",
                "serviceAccountName": "events-sa",
                "sink": {"apiVersion": "serving.knative.dev/v1alpha1", "kind": "Service",
                         "name": "event-display"}
            }
        });
        let (stored, back) = round_trip(&r, LEGACY_API_VERSION, KES_KIND, legacy.clone());
        assert_eq!(stored["kind"], json!(KIND));
        assert_eq!(stored["spec"]["mode"], json!("Resource"));
        assert_eq!(stored["spec"]["resources"], kes_resources());
        assert_eq!(
            stored["metadata"]["annotations"][KES_NAMESPACE_ANNOTATION],
            json!("\"other\"")
        );
        assert_eq!(back, legacy);
        admit(&r, stored).unwrap_or_else(|e| panic!("{e}"));
    }
}
