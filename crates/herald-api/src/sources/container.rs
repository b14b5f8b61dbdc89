//! `ContainerSource` (sources.knative.dev/v1, storage) and the legacy
//! `sources.eventing.knative.dev/v1alpha1 ContainerSource` (flat `image`/`args`/`env`).
//!
//! Herald runs a ContainerSource's container as a local process (its `command` and `args`,
//! with `K_SINK`/`K_CE_OVERRIDES` in the environment) rather than pulling an image, so unlike
//! Knative a container needs an `image` *or* a `command`: a container with only a `command` is
//! valid. A container with an image and no command needs an image runtime (later work).

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec, PodTemplateSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
#[cfg(test)]
use serde_json::json;

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
    STORAGE_STASH_PREFIX, decode_at, default_sink_namespace, to_value, validate_source_spec,
};

pub const KIND: &str = "ContainerSource";
pub const API_VERSION: &str = "sources.knative.dev/v1";
pub const LEGACY_API_VERSION: &str = "sources.eventing.knative.dev/v1alpha1";

/// The container name Knative's legacy ContainerSource gave a flat `image` spec.
pub const LEGACY_CONTAINER_NAME: &str = "source";

/// ContainerSource's dependent conditions (`container_lifecycle.go`).
pub const CONDITIONS: ConditionSet =
    ConditionSet::new(&["SinkBindingReady", "ReceiveAdapterReady"]);

/// ContainerSourceSpec defines the desired state of ContainerSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSourceSpec {
    /// Template describes the pods that will be created. Herald runs each container's
    /// `command`/`args` as a local process.
    #[serde(default)]
    pub template: PodTemplateSpec,
    /// Sink is a reference to an object that will resolve to a uri to use as the sink.
    #[serde(default)]
    pub sink: Destination,
    /// CloudEventOverrides defines overrides to control the output format and modifications
    /// of the event sent to the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
}

/// ContainerSourceStatus defines the observed state of ContainerSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSourceStatus {
    /// The duck SourceStatus: conditions, observedGeneration, sinkUri, ceAttributes.
    #[serde(flatten)]
    pub source_status: SourceStatus,
}

pub type ContainerSource = Object<ContainerSourceSpec, ContainerSourceStatus>;

/// The legacy v1alpha1 ContainerSource spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSourceSpecV1Alpha1 {
    /// Template describes the pods that will be created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplateSpec>,
    /// Image is the image to run inside of the container (deprecated; use template).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// Args are passed to the ContainerSpec as they are (deprecated; use template).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Env is the list of environment variables to set in the container (deprecated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// ServiceAccountName is the name of the ServiceAccount to use to run this source
    /// (deprecated; use template).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// Sink is a reference to an object that will resolve to a domain name to use as the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<ObjectReference>,
}

pub type ContainerSourceV1Alpha1 = Object<ContainerSourceSpecV1Alpha1, ContainerSourceStatus>;

impl Kind for ContainerSource {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        let name = self.name().to_string();
        if let Some(spec) = &mut self.spec.template.spec {
            // Knative names an unnamed container `<source name>-<index>`.
            for (i, c) in spec.containers.iter_mut().enumerate() {
                if c.name.is_empty() {
                    c.name = format!("{name}-{i}");
                }
            }
        }
        let ns = self.namespace().to_string();
        default_sink_namespace(&mut self.spec.sink, &ns);
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let containers = self
            .spec
            .template
            .spec
            .as_ref()
            .map(|s| s.containers.as_slice())
            .unwrap_or(&[]);
        if containers.is_empty() {
            errs.push(FieldError::required("spec.template.spec.containers"));
        }
        for (i, c) in containers.iter().enumerate() {
            let p = format!("spec.template.spec.containers[{i}]");
            if c.name.is_empty() {
                errs.push(FieldError::required(format!("{p}.name")));
            }
            let has_image = c.image.as_deref().is_some_and(|s| !s.is_empty());
            let has_command = c.command.as_deref().is_some_and(|s| !s.is_empty());
            if !has_image && !has_command {
                errs.push(FieldError::new(
                    format!("{p}.image"),
                    crate::field::FieldReason::Required,
                    "Required value: an image, or a command Herald runs as a local process",
                ));
            }
            if containers[..i].iter().any(|o| o.name == c.name) && !c.name.is_empty() {
                errs.push(FieldError::new(
                    format!("{p}.name"),
                    crate::field::FieldReason::Duplicate,
                    format!("Duplicate value: {:?}", c.name),
                ));
            }
        }
        validate_source_spec(&mut errs, &self.spec.sink, self.spec.ce_overrides.as_ref());
        errs
    }
}

/// The v1 template a legacy flat spec (`image`, `args`, `env`, `serviceAccountName`) means.
fn flat_template(flat: &ContainerSourceSpecV1Alpha1) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: None,
        spec: Some(PodSpec {
            containers: vec![Container {
                name: LEGACY_CONTAINER_NAME.into(),
                image: Some(flat.image.clone()).filter(|s| !s.is_empty()),
                args: Some(flat.args.clone()).filter(|a| !a.is_empty()),
                env: Some(flat.env.clone()).filter(|e| !e.is_empty()),
                ..Default::default()
            }],
            service_account_name: Some(flat.service_account_name.clone()).filter(|s| !s.is_empty()),
            ..Default::default()
        }),
    }
}

const FLAT_STASH: &str = "herald.dev/v1alpha1-flat";
const FLAT_FIELDS: &[&str] = &["image", "args", "env", "serviceAccountName"];

/// Legacy v1alpha1 -> v1: a flat spec becomes `template.spec.containers[0]`.
fn up(v: Value) -> Result<Value, FieldErrors> {
    let mut c = Conv::new(v)?;
    c.sink_up()?;
    let mut flat = serde_json::Map::new();
    for f in FLAT_FIELDS {
        if let Some(v) = c.take(f) {
            flat.insert((*f).to_string(), v);
        }
    }
    match c.take("template") {
        Some(t) => {
            c.put("template", t);
            // Knative ignored the deprecated fields when a template was given; keep them.
            for (k, v) in flat {
                c.stash(&format!("{LEGACY_STASH_PREFIX}{k}"), &v);
            }
        }
        None if !flat.is_empty() => {
            let flat_val = Value::Object(flat);
            let spec: ContainerSourceSpecV1Alpha1 = decode_at("spec", flat_val.clone())?;
            c.put("template", to_value(&flat_template(&spec))?);
            c.stash(FLAT_STASH, &flat_val);
        }
        None => {}
    }
    c.restore(STORAGE_STASH_PREFIX);
    c.stash_rest(LEGACY_STASH_PREFIX);
    Ok(c.finish(API_VERSION, KIND))
}

/// v1 -> legacy v1alpha1: the template is kept (v1alpha1 had it too), or turned back into the
/// flat fields it was made from.
fn down(v: Value) -> Result<Value, FieldErrors> {
    let mut c = Conv::new(v)?;
    c.sink_down()?;
    let flat = c.unstash(FLAT_STASH);
    if let Some(t) = c.take("template") {
        let template: PodTemplateSpec = decode_at("spec.template", t.clone())?;
        let same = flat.as_ref().and_then(|f| {
            serde_json::from_value::<ContainerSourceSpecV1Alpha1>(f.clone())
                .ok()
                .filter(|spec| flat_template(spec) == template)
        });
        match (same, flat) {
            (Some(_), Some(Value::Object(fields))) => {
                for (k, v) in fields {
                    c.put(&k, v);
                }
            }
            _ => c.put("template", t),
        }
    }
    c.restore(LEGACY_STASH_PREFIX);
    c.stash_rest(STORAGE_STASH_PREFIX);
    Ok(c.finish(LEGACY_API_VERSION, KIND))
}

fn storage(v: Value) -> Result<Value, FieldErrors> {
    Ok(set_type(v, API_VERSION, KIND))
}

const COLUMNS: &[PrinterColumn] = &[SINK_COLUMN, AGE_COLUMN, READY_COLUMN, REASON_COLUMN];

/// The ContainerSource resource: v1 (storage) and legacy v1alpha1.
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "containersources",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![
            ServedVersion {
                group: GROUP,
                version: "v1",
                kind: KIND,
                plural: "containersources",
                singular: "containersource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: None,
                schema: structural::<ContainerSource>,
                to_storage: storage,
                from_storage: storage,
            },
            ServedVersion {
                group: LEGACY_GROUP,
                version: "v1alpha1",
                kind: KIND,
                plural: "containersources",
                singular: "containersource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: Some(
                    "sources.eventing.knative.dev/v1alpha1 ContainerSource is deprecated; use sources.knative.dev/v1 ContainerSource",
                ),
                schema: structural::<ContainerSourceV1Alpha1>,
                to_storage: up,
                from_storage: down,
            },
        ],
        hooks: Box::new(Typed::<ContainerSource>::new()),
    }
}

/// A JSON sample used by tests.
#[cfg(test)]
fn sample() -> Value {
    json!({
        "apiVersion": API_VERSION, "kind": KIND,
        "metadata": {"name": "heartbeat", "namespace": "default"},
        "spec": {
            "template": {"spec": {"containers": [
                {"image": "gcr.io/knative-releases/heartbeats", "args": ["--period=1"]}
            ]}},
            "sink": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                             "name": "event-display"}}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::support::test_util::*;

    #[test]
    fn resource_shape() {
        check_resource(&resource());
    }

    #[test]
    fn defaults_name_containers() {
        let out = admit(&resource(), sample()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["name"],
            json!("heartbeat-0")
        );
        assert_eq!(out["spec"]["sink"]["ref"]["namespace"], json!("default"));
    }

    #[test]
    fn validation_errors() {
        let r = resource();
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            ("valid", json!({}), vec![]),
            (
                "command only is fine",
                json!({"template": {"spec": {"containers": [{"command": ["/bin/gen"]}]}}}),
                vec![],
            ),
            (
                "no containers",
                json!({"template": {"spec": {"containers": []}}}),
                vec!["spec.template.spec.containers"],
            ),
            (
                "no template",
                json!({"template": {}}),
                vec!["spec.template.spec.containers"],
            ),
            (
                "neither image nor command",
                json!({"template": {"spec": {"containers": [{"name": "a", "args": ["x"]}]}}}),
                vec!["spec.template.spec.containers[0].image"],
            ),
            (
                "duplicate names",
                json!({"template": {"spec": {"containers": [
                    {"name": "a", "image": "i"}, {"name": "a", "image": "i"}]}}}),
                vec!["spec.template.spec.containers[1].name"],
            ),
            ("no sink", json!({"sink": {}}), vec!["spec.sink"]),
            (
                "ce overrides",
                json!({"ceOverrides": {"extensions": {"Bad": "x"}}}),
                vec!["spec.ceOverrides.extensions.Bad"],
            ),
        ];
        let cases: Vec<(&str, Value, &[&str])> = cases
            .iter()
            .map(|(n, p, w)| (*n, p.clone(), w.as_slice()))
            .collect();
        check_cases(&r, &sample(), &cases);
    }

    #[test]
    fn legacy_flat_round_trip() {
        let r = resource();
        let legacy = json!({
            "apiVersion": LEGACY_API_VERSION, "kind": KIND,
            "metadata": {"name": "heartbeat", "namespace": "default"},
            "spec": {
                "image": "gcr.io/knative-releases/heartbeats",
                "args": ["--period=1", "--label=<none>"],
                "env": [{"name": "POD_NAME", "value": "x"}],
                "serviceAccountName": "robot",
                "sink": {"apiVersion": "serving.knative.dev/v1alpha1", "kind": "Service",
                         "name": "event-display"}
            }
        });
        let (stored, back) = round_trip(&r, LEGACY_API_VERSION, KIND, legacy.clone());
        assert_eq!(
            stored["spec"]["template"],
            json!({"spec": {"serviceAccountName": "robot", "containers": [{
                "name": "source", "image": "gcr.io/knative-releases/heartbeats",
                "args": ["--period=1", "--label=<none>"],
                "env": [{"name": "POD_NAME", "value": "x"}]}]}})
        );
        assert_eq!(back, legacy);
        let admitted = admit(&r, stored).unwrap_or_else(|e| panic!("{e}"));
        // Defaulting does not break the flat view.
        let v = served(&r, LEGACY_API_VERSION, KIND);
        let view = (v.from_storage)(admitted).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(view["spec"]["image"], legacy["spec"]["image"]);
    }

    #[test]
    fn legacy_template_round_trip() {
        let r = resource();
        let mut legacy = sample();
        legacy["apiVersion"] = json!(LEGACY_API_VERSION);
        legacy["spec"]["sink"] = json!({"apiVersion": "v1", "kind": "Service", "name": "s"});
        let (stored, back) = round_trip(&r, LEGACY_API_VERSION, KIND, legacy.clone());
        assert_eq!(stored["spec"]["template"], legacy["spec"]["template"]);
        assert_eq!(back, legacy);
    }

    #[test]
    fn edited_template_is_shown_as_template() {
        let r = resource();
        let v = served(&r, LEGACY_API_VERSION, KIND);
        let mut stored = sample();
        stored["metadata"]["annotations"] = json!({FLAT_STASH: "{\"image\":\"old\"}"});
        let legacy = (v.from_storage)(stored.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(legacy["spec"]["template"], stored["spec"]["template"]);
        assert_eq!(legacy["spec"].get("image"), None);
    }
}
