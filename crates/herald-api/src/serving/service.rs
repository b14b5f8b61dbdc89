//! Knative Serving `Service` (serving.knative.dev/v1). Herald does not run revisions: the
//! spec is kept as-is and the Service is resolvable through its `herald.dev/url` annotation
//! (the controller reports it as `status.url`/`status.address`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conditions::ConditionSet;
use crate::core::{url_annotation, validate_url_annotation};
use crate::field::FieldErrors;
use crate::meta::{Addressable, Status};
use crate::object::Object;
use crate::registry::{
    AGE_COLUMN, Ctx, Kind, PrinterColumn, READY_COLUMN, REASON_COLUMN, Resource, ServedVersion,
    Typed, set_type,
};
use crate::schema::{preserve_unknown, structural};

pub const GROUP: &str = "serving.knative.dev";
pub const API_VERSION: &str = "serving.knative.dev/v1";
pub const KIND: &str = "Service";

/// Knative Service's dependent conditions (`service_lifecycle.go`).
pub const CONDITIONS: ConditionSet = ConditionSet::new(&["ConfigurationsReady", "RoutesReady"]);

/// The Service spec (template, traffic), kept as-is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct ServiceSpec(pub BTreeMap<String, Value>);

/// ServiceStatus represents the current state of a Knative Service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    #[serde(flatten)]
    pub status: Status,
    /// URL holds the url that will distribute traffic over the provided traffic targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Address holds the information needed for a Route to be the target of an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Addressable>,
    /// LatestReadyRevisionName holds the name of the latest Revision stamped out from this
    /// Configuration that has had its "Ready" condition become "True".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_ready_revision_name: Option<String>,
    /// LatestCreatedRevisionName is the last revision that was created from this
    /// Configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_created_revision_name: Option<String>,
}

pub type KService = Object<ServiceSpec, ServiceStatus>;

/// The URL a Knative Service resolves to: its `herald.dev/url` annotation, else its status
/// address or URL.
pub fn service_url(s: &KService) -> Option<String> {
    url_annotation(&s.metadata).map(str::to_string).or_else(|| {
        let st = s.status.as_ref()?;
        st.address
            .as_ref()
            .and_then(|a| a.url.clone())
            .or_else(|| st.url.clone())
    })
}

impl Kind for KService {
    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        validate_url_annotation(&self.metadata)
    }
}

/// The schema, with `spec` preserved as-is.
pub fn schema() -> Value {
    let mut s = structural::<KService>();
    if let Some(p) = s.get_mut("properties").and_then(Value::as_object_mut) {
        let mut spec = preserve_unknown();
        if let Some(m) = spec.as_object_mut() {
            m.insert(
                "description".into(),
                Value::String("ServiceSpec represents the configuration for the Service object (kept as-is by Herald).".into()),
            );
        }
        p.insert("spec".into(), spec);
    }
    s
}

pub static COLUMNS: [PrinterColumn; 4] = [
    PrinterColumn {
        name: "URL",
        type_: "string",
        json_path: ".status.url",
        priority: 0,
        description: "",
    },
    READY_COLUMN,
    REASON_COLUMN,
    AGE_COLUMN,
];

/// The Knative Service resource (v1).
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "services",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![ServedVersion {
            group: GROUP,
            version: "v1",
            kind: KIND,
            plural: "services",
            singular: "service",
            short_names: &["kservice", "ksvc"],
            categories: &["all", "knative", "serving"],
            columns: &COLUMNS,
            deprecated: None,
            schema,
            to_storage: |v| Ok(set_type(v, API_VERSION, KIND)),
            from_storage: |v| Ok(set_type(v, API_VERSION, KIND)),
        }],
        hooks: Box::new(Typed::<KService>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{NoConfig, decode};
    use crate::schema::unknown_fields;
    use serde_json::json;

    #[test]
    fn spec_is_preserved_and_url_resolves() {
        let v = json!({"apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": "my-service", "annotations": {"herald.dev/url": "http://127.0.0.1:9000"}},
            "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
        let s: KService = decode(&v).unwrap_or_default();
        assert_eq!(serde_json::to_value(&s).ok(), Some(v.clone()));
        assert_eq!(service_url(&s).as_deref(), Some("http://127.0.0.1:9000"));
        assert!(unknown_fields(&schema(), &v).is_empty());
        assert!(!schema().to_string().contains("$ref"));
        let ctx = Ctx { config: &NoConfig };
        assert!(s.validate(&ctx).is_empty());
        let mut bad = s.clone();
        bad.metadata.annotations = Some(BTreeMap::from([("herald.dev/url".into(), "nope".into())]));
        assert_eq!(
            bad.validate(&ctx).0[0].path,
            "metadata.annotations.herald.dev/url"
        );
    }
}
