//! `EventType`: v1beta3 (storage), v1beta2 and v1beta1 (deprecated).
//!
//! Conversion follows Knative's `v1beta2/eventtype_conversion.go`: `type`, `source` and
//! `schema` become the attributes `type`, `source` and `dataschema` (Knative's converter
//! spells the last one `schemadata`; both are read back), and the v1beta1/v1beta2 `broker`
//! becomes a `reference` to an `eventing.knative.dev/v1` Broker. Because Herald validates the
//! storage form, and v1beta3 requires the `specversion` and `id` attributes, converting up adds
//! them (`required: true`, no value) as Knative's auto-created EventTypes carry them. Fields the
//! other version cannot hold (`schemaData`, extra attributes) are kept in the conversion stash
//! annotation, so round trips are lossless.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conditions::ConditionSet;
use crate::field::{FieldError, FieldErrors, FieldReason};
use crate::meta::{KReference, Status};
use crate::object::Object;
use crate::registry::{
    ConvertFn, Ctx, Kind, PrinterColumn, READY_COLUMN, REASON_COLUMN, Resource, ServedVersion,
    Typed, set_type,
};

use super::support::{convert_lossless, described, put_spec, spec_of};

pub const GROUP: &str = "eventing.knative.dev";
pub const API_VERSION: &str = "eventing.knative.dev/v1beta3";
pub const KIND: &str = "EventType";

/// EventType's dependent conditions (v1beta2/v1beta3 `eventtype_lifecycle.go`).
pub const CONDITIONS: ConditionSet = ConditionSet::new(&["ReferenceExists"]);

/// One CloudEvents attribute of an EventType.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventAttributeDefinition {
    /// Name of the CloudEvents attribute.
    pub name: String,
    /// Required indicates whether this attribute is required to be present on events.
    #[serde(default)]
    pub required: bool,
    /// Value of the attribute; may be a template with `{variable}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// EventTypeSpec (v1beta3) describes a type of event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeSpec {
    /// Reference is a KReference to the belonging addressable. For example, this could be a
    /// pointer to a Broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<KReference>,
    /// Description is an optional field used to describe the EventType, in any meaningful
    /// way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Attributes is an array of CloudEvent attributes and extension attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<EventAttributeDefinition>,
}

/// EventTypeStatus represents the current state of an EventType.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeStatus {
    #[serde(flatten)]
    pub status: Status,
    /// Herald: when the referenced Broker or Channel last accepted an event of this type and
    /// source (updated in batches, so up to the registry's flush interval late).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Herald: how many such events it accepted since the EventType existed (counted while
    /// Herald runs; events accepted just before a crash may be missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_count: Option<u64>,
}

pub type EventType = Object<EventTypeSpec, EventTypeStatus>;

impl EventTypeSpec {
    /// The value of the attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.value.as_deref())
    }
}

impl Kind for EventType {
    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        // v1beta3 `ValidateAttributes`: the four required CloudEvents attributes are declared.
        let missing: Vec<&str> = ["type", "source", "specversion", "id"]
            .into_iter()
            .filter(|n| !self.spec.attributes.iter().any(|a| a.name == *n))
            .collect();
        let mut errs = FieldErrors::new();
        if !missing.is_empty() {
            errs.push(FieldError::new(
                "spec.attributes",
                FieldReason::Required,
                format!("missing field(s): {}", missing.join(", ")),
            ));
        }
        errs
    }
    // Knative defines `CheckImmutableFields` ("All fields are immutable") but never calls it
    // from `Validate`, so updates are allowed.
}

/// EventTypeSpec of v1beta2 (and, with `broker`, v1beta1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeSpecV1Beta2 {
    /// Type represents the CloudEvents type. It is authoritative.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// Source is a URI, it represents the CloudEvents source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Schema is a URI, it represents the CloudEvents schemaurl extension attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// SchemaData allows the CloudEvents schema to be stored directly in the EventType.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_data: Option<String>,
    /// Broker refers to the Broker that can provide the EventType (deprecated).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub broker: String,
    /// Reference is a KReference to the belonging addressable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<KReference>,
    /// Description is an optional field used to describe the EventType.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

pub type EventTypeV1Beta2 = Object<EventTypeSpecV1Beta2, EventTypeStatus>;

fn attr(name: &str, required: bool, value: Option<String>) -> EventAttributeDefinition {
    EventAttributeDefinition {
        name: name.into(),
        required,
        value,
    }
}

fn is_broker_ref(r: &KReference) -> bool {
    r.kind == "Broker" && r.api_version.starts_with("eventing.knative.dev/")
}

fn up(mut v: Value) -> Result<Value, FieldErrors> {
    let l: EventTypeSpecV1Beta2 = spec_of(&v)?;
    let reference = l.reference.or_else(|| {
        (!l.broker.is_empty()).then(|| KReference {
            kind: "Broker".into(),
            name: l.broker.clone(),
            api_version: "eventing.knative.dev/v1".into(),
            namespace: None,
            group: None,
        })
    });
    let mut attributes = Vec::new();
    if !l.type_.is_empty() {
        attributes.push(attr("type", true, Some(l.type_)));
    }
    attributes.push(attr("source", true, l.source));
    attributes.push(attr("specversion", true, None));
    attributes.push(attr("id", true, None));
    if let Some(s) = l.schema {
        attributes.push(attr("dataschema", false, Some(s)));
    }
    let spec = EventTypeSpec {
        reference,
        description: l.description,
        attributes,
    };
    put_spec(&mut v, &spec)?;
    Ok(set_type(v, API_VERSION, KIND))
}

fn down_spec(s: EventTypeSpec, v1beta1: bool) -> EventTypeSpecV1Beta2 {
    let value = |n: &str| s.attribute(n).map(str::to_string);
    let mut out = EventTypeSpecV1Beta2 {
        type_: value("type").unwrap_or_default(),
        source: value("source").filter(|s| !s.is_empty()),
        schema: value("dataschema").or_else(|| value("schemadata")),
        schema_data: None,
        broker: String::new(),
        reference: s.reference.clone(),
        description: s.description.clone(),
    };
    if v1beta1
        && let Some(r) = &s.reference
        && is_broker_ref(r)
    {
        out.broker = r.name.clone();
        out.reference = None;
    }
    out
}

fn down_v1beta2(mut v: Value) -> Result<Value, FieldErrors> {
    let s: EventTypeSpec = spec_of(&v)?;
    put_spec(&mut v, &down_spec(s, false))?;
    Ok(set_type(v, "eventing.knative.dev/v1beta2", KIND))
}

fn down_v1beta1(mut v: Value) -> Result<Value, FieldErrors> {
    let s: EventTypeSpec = spec_of(&v)?;
    put_spec(&mut v, &down_spec(s, true))?;
    Ok(set_type(v, "eventing.knative.dev/v1beta1", KIND))
}

fn v1beta2_to_storage(v: Value) -> Result<Value, FieldErrors> {
    convert_lossless(v, up, down_v1beta2)
}
fn v1beta2_from_storage(v: Value) -> Result<Value, FieldErrors> {
    convert_lossless(v, down_v1beta2, up)
}
fn v1beta1_to_storage(v: Value) -> Result<Value, FieldErrors> {
    convert_lossless(v, up, down_v1beta1)
}
fn v1beta1_from_storage(v: Value) -> Result<Value, FieldErrors> {
    convert_lossless(v, down_v1beta1, up)
}

const fn col(name: &'static str, json_path: &'static str) -> PrinterColumn {
    PrinterColumn {
        name,
        type_: "string",
        json_path,
        priority: 0,
        description: "",
    }
}

pub static COLUMNS_V1BETA3: [PrinterColumn; 9] = [
    col("Type", ".spec.attributes[?(@.name==\"type\")].value"),
    col("Source", ".spec.attributes[?(@.name==\"source\")].value"),
    col("Reference Name", ".spec.reference.name"),
    col("Reference Kind", ".spec.reference.kind"),
    col("Description", ".spec.description"),
    READY_COLUMN,
    REASON_COLUMN,
    LAST_SEEN_COLUMN,
    EVENTS_COLUMN,
];

/// Herald's `-o wide` columns: which types are live.
const LAST_SEEN_COLUMN: PrinterColumn = PrinterColumn {
    name: "Last Seen",
    type_: "date",
    json_path: ".status.lastSeen",
    priority: 1,
    description: "When the referenced Broker or Channel last accepted such an event",
};
const EVENTS_COLUMN: PrinterColumn = PrinterColumn {
    name: "Events",
    type_: "integer",
    json_path: ".status.eventCount",
    priority: 1,
    description: "Events of this type and source accepted so far",
};

pub static COLUMNS_V1BETA2: [PrinterColumn; 10] = [
    col("Type", ".spec.type"),
    col("Source", ".spec.source"),
    col("Schema", ".spec.schema"),
    col("Reference Name", ".spec.reference.name"),
    col("Reference Kind", ".spec.reference.kind"),
    col("Description", ".spec.description"),
    READY_COLUMN,
    REASON_COLUMN,
    LAST_SEEN_COLUMN,
    EVENTS_COLUMN,
];

const CATEGORIES: &[&str] = &["all", "knative", "eventing"];

/// The EventType resource: v1beta3 (storage), v1beta2, v1beta1 (deprecated).
pub fn resource() -> Resource {
    let served = |version: &'static str,
                  columns: &'static [PrinterColumn],
                  deprecated: Option<&'static str>,
                  schema: fn() -> Value,
                  to_storage: ConvertFn,
                  from_storage: ConvertFn| ServedVersion {
        group: GROUP,
        version,
        kind: KIND,
        plural: "eventtypes",
        singular: "eventtype",
        short_names: &[],
        categories: CATEGORIES,
        columns,
        deprecated,
        schema,
        to_storage,
        from_storage,
    };
    Resource {
        group: GROUP,
        plural: "eventtypes",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![
            served(
                "v1beta3",
                &COLUMNS_V1BETA3,
                None,
                || {
                    described::<EventType>(
                        "EventType represents a type of event that can be consumed from a Broker.",
                    )
                },
                |v| Ok(set_type(v, API_VERSION, KIND)),
                |v| Ok(set_type(v, API_VERSION, KIND)),
            ),
            served(
                "v1beta2",
                &COLUMNS_V1BETA2,
                None,
                || {
                    described::<EventTypeV1Beta2>(
                        "EventType represents a type of event that can be consumed from a Broker.",
                    )
                },
                v1beta2_to_storage,
                v1beta2_from_storage,
            ),
            served(
                "v1beta1",
                &COLUMNS_V1BETA2,
                Some(
                    "eventing.knative.dev/v1beta1 EventType is deprecated; use eventing.knative.dev/v1beta3",
                ),
                || {
                    described::<EventTypeV1Beta2>(
                        "EventType represents a type of event that can be consumed from a Broker.",
                    )
                },
                v1beta1_to_storage,
                v1beta1_from_storage,
            ),
        ],
        hooks: Box::new(Typed::<EventType>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{NoConfig, decode};
    use serde_json::json;

    fn ctx() -> Ctx<'static> {
        Ctx { config: &NoConfig }
    }

    #[test]
    fn validation() {
        let full = json!([{"name": "type", "required": true, "value": "t"}, {"name": "source", "required": true},
                          {"name": "specversion", "required": true}, {"name": "id", "required": true}]);
        let et: EventType = decode(&json!({"spec": {"attributes": full}})).unwrap_or_default();
        assert!(et.validate(&ctx()).is_empty());
        let et: EventType =
            decode(&json!({"spec": {"attributes": [{"name": "type", "value": "t"}]}}))
                .unwrap_or_default();
        let errs = et.validate(&ctx());
        assert_eq!(errs.0.len(), 1);
        assert_eq!(errs.0[0].path, "spec.attributes");
        assert_eq!(
            errs.0[0].message,
            "missing field(s): source, specversion, id"
        );
    }

    #[test]
    fn v1beta2_converts_and_round_trips() {
        let legacy = json!({
            "apiVersion": "eventing.knative.dev/v1beta2", "kind": "EventType",
            "metadata": {"name": "et", "namespace": "ns"},
            "spec": {"type": "dev.knative.foo", "source": "https://example.com/src",
                     "schema": "https://example.com/schema.json", "schemaData": "{}",
                     "reference": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"},
                     "description": "d"}
        });
        let r = resource();
        let storage = (r.versions[1].to_storage)(legacy.clone()).unwrap_or_default();
        assert_eq!(storage["apiVersion"], json!(API_VERSION));
        let et: EventType = decode(&storage).unwrap_or_default();
        assert_eq!(et.spec.attribute("type"), Some("dev.knative.foo"));
        assert_eq!(et.spec.attribute("source"), Some("https://example.com/src"));
        assert_eq!(
            et.spec.attribute("dataschema"),
            Some("https://example.com/schema.json")
        );
        assert!(r.hooks.validate(&storage, None, &ctx()).is_ok());
        let back = (r.versions[1].from_storage)(storage).unwrap_or_default();
        assert_eq!(back, legacy);
    }

    #[test]
    fn v1beta1_broker_becomes_reference() {
        let legacy = json!({
            "apiVersion": "eventing.knative.dev/v1beta1", "kind": "EventType",
            "metadata": {"name": "et"},
            "spec": {"type": "dev.knative.foo", "broker": "default"}
        });
        let r = resource();
        assert!(r.versions[2].deprecated.is_some());
        let storage = (r.versions[2].to_storage)(legacy.clone()).unwrap_or_default();
        assert_eq!(
            storage["spec"]["reference"],
            json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"})
        );
        assert!(r.hooks.validate(&storage, None, &ctx()).is_ok());
        let back = (r.versions[2].from_storage)(storage.clone()).unwrap_or_default();
        assert_eq!(back, legacy);
        // Read as v1beta2 the broker is a reference.
        let v2 = (r.versions[1].from_storage)(storage).unwrap_or_default();
        assert_eq!(v2["spec"]["reference"]["name"], json!("default"));
        assert!(v2["spec"].get("broker").is_none());
    }

    #[test]
    fn v1beta3_extra_attributes_survive_v1beta2() {
        let storage = json!({
            "apiVersion": API_VERSION, "kind": "EventType", "metadata": {"name": "et"},
            "spec": {"attributes": [
                {"name": "type", "required": true, "value": "t"},
                {"name": "source", "required": true, "value": "s"},
                {"name": "specversion", "required": true, "value": "1.0"},
                {"name": "id", "required": true},
                {"name": "myext", "required": false, "value": "x"}]}
        });
        let r = resource();
        let v2 = (r.versions[1].from_storage)(storage.clone()).unwrap_or_default();
        assert_eq!(v2["spec"]["type"], json!("t"));
        let again = (r.versions[1].to_storage)(v2).unwrap_or_default();
        assert_eq!(again, storage);
    }

    #[test]
    fn schemas_are_structural() {
        for v in resource().versions {
            let s = (v.schema)().to_string();
            assert!(!s.contains("$ref"), "{}: {s}", v.version);
        }
    }
}
