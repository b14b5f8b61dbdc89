//! `Trigger` (eventing.knative.dev/v1, storage) and the seeds' legacy `v1alpha1` Trigger.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conditions::ConditionSet;
use crate::field::{FieldError, FieldErrors};
use crate::messaging::channelable::DeliveryStatus;
use crate::meta::{DeliverySpec, Destination, KReference, Status};
use crate::object::Object;
use crate::registry::{
    AGE_COLUMN, ConvertFn, Ctx, Kind, PrinterColumn, READY_COLUMN, REASON_COLUMN, Resource,
    ServedVersion, Typed, set_type,
};
use crate::validation::{
    is_attribute_name, validate_delivery, validate_destination, validate_kreference,
};

use super::support::{
    annotation, annotation_path, check_immutable, convert_lossless, default_destination_namespace,
    described, put_spec, set_label, spec_of,
};

pub const GROUP: &str = "eventing.knative.dev";
pub const API_VERSION: &str = "eventing.knative.dev/v1";
pub const LEGACY_API_VERSION: &str = "eventing.knative.dev/v1alpha1";
pub const KIND: &str = "Trigger";

/// Label naming the Trigger's Broker.
pub const BROKER_LABEL: &str = "eventing.knative.dev/broker";
/// Annotation naming an object the Trigger depends on (a JSON ObjectReference).
pub const DEPENDENCY_ANNOTATION: &str = "knative.dev/dependency";
/// Annotation asking for the default Broker to be injected (`enabled`/`disabled`).
pub const INJECTION_ANNOTATION: &str = "eventing.knative.dev/injection";

/// Trigger's dependent conditions (`trigger_lifecycle.go`).
pub const CONDITIONS: ConditionSet = ConditionSet::new(&[
    "BrokerReady",
    "SubscriptionReady",
    "DependencyReady",
    "SubscriberResolved",
    "DeadLetterSinkResolved",
]);

/// TriggerFilter: the legacy exact-match filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerFilter {
    /// Attributes filters events by exact match on event context attributes. Each key is the
    /// attribute name; an empty value matches any value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// SubscriptionsAPIFilter: one filter of the CloudEvents Subscriptions API dialects. Exactly
/// one dialect may be set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionsApiFilter {
    /// All evaluates to true if all the nested expressions evaluate to true.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all: Vec<SubscriptionsApiFilter>,
    /// Any evaluates to true if at least one of the nested expressions evaluates to true.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any: Vec<SubscriptionsApiFilter>,
    /// Not evaluates to true if the nested expression evaluates to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<SubscriptionsApiFilter>>,
    /// Exact evaluates to true if the values of the matching CloudEvents attributes all
    /// exactly match the associated value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exact: BTreeMap<String, String>,
    /// Prefix evaluates to true if the values of the matching CloudEvents attributes all
    /// start with the associated value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prefix: BTreeMap<String, String>,
    /// Suffix evaluates to true if the values of the matching CloudEvents attributes all end
    /// with the associated value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub suffix: BTreeMap<String, String>,
    /// CESQL is a CloudEvents SQL expression that is evaluated to true or false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cesql: Option<String>,
}

/// TriggerSpec defines the desired state of a Trigger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerSpec {
    /// Broker is the broker that this trigger receives events from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub broker: String,
    /// BrokerRef is a KReference to the broker that this trigger receives events from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_ref: Option<KReference>,
    /// Filter is the filter to apply against all events from the Broker. Only events that
    /// pass this filter will be sent to the Subscriber. Ignored when `filters` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<TriggerFilter>,
    /// Filters is an array of SubscriptionsAPIFilter that evaluate to true or false. If any
    /// filter expression in the array evaluates to false, the event is not sent to the
    /// Subscriber.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<SubscriptionsApiFilter>,
    /// Subscriber is the addressable that receives events from the Broker that pass the
    /// Filter. It is required.
    #[serde(default)]
    pub subscriber: Destination,
    /// Delivery contains the delivery spec for this specific trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
}

/// TriggerStatus represents the current state of a Trigger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerStatus {
    #[serde(flatten)]
    pub status: Status,
    /// SubscriberURI is the resolved URI of the receiver for this Trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber_uri: Option<String>,
    /// SubscriberCACerts is the Certification Authority (CA) certificates in PEM format
    /// according to https://www.rfc-editor.org/rfc/rfc7468.
    #[serde(
        default,
        rename = "subscriberCACerts",
        skip_serializing_if = "Option::is_none"
    )]
    pub subscriber_ca_certs: Option<String>,
    /// SubscriberAudience is the OIDC audience of the subscriber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber_audience: Option<String>,
    /// The resolved dead letter sink.
    #[serde(flatten)]
    pub delivery: DeliveryStatus,
}

pub type Trigger = Object<TriggerSpec, TriggerStatus>;

/// Validates a list of Subscriptions API filters (`spec.filters`, also used by EventPolicy
/// and ApiServerSource). Paths are relative to the list (`[0].exact`).
pub fn validate_filters(filters: &[SubscriptionsApiFilter]) -> FieldErrors {
    let mut errs = FieldErrors::new();
    for (i, f) in filters.iter().enumerate() {
        errs.extend_at(&format!("[{i}]"), validate_filter(f));
    }
    errs
}

fn validate_attribute_map(m: &BTreeMap<String, String>) -> FieldErrors {
    let mut errs = FieldErrors::new();
    if m.len() > 1 {
        errs.push(FieldError::invalid(
            "",
            "Multiple items found, can have only one key-value",
        ));
    }
    for (k, v) in m {
        if !is_attribute_name(k) {
            errs.push(FieldError::invalid(
                k.clone(),
                format!("invalid key name {k:?}: Attribute name must start with a letter and can only contain lowercase alphanumeric"),
            ));
        } else if v.is_empty() {
            errs.push(FieldError::invalid(k.clone(), "value must not be empty"));
        }
    }
    errs
}

/// Validates one Subscriptions API filter and its nested filters.
pub fn validate_filter(f: &SubscriptionsApiFilter) -> FieldErrors {
    let mut errs = FieldErrors::new();
    let dialects = [
        !f.exact.is_empty(),
        !f.prefix.is_empty(),
        !f.suffix.is_empty(),
        !f.all.is_empty(),
        !f.any.is_empty(),
        f.not.is_some(),
        f.cesql.is_some(),
    ]
    .iter()
    .filter(|d| **d)
    .count();
    if dialects > 1 {
        errs.push(FieldError::invalid(
            "",
            "multiple dialects found, filters can have only one dialect set",
        ));
    } else if dialects == 0 {
        errs.push(FieldError::invalid(
            "",
            "no dialect found, filters must have one dialect set: exact, prefix, suffix, all, any, not, cesql",
        ));
    }
    errs.extend_at("exact", validate_attribute_map(&f.exact));
    errs.extend_at("prefix", validate_attribute_map(&f.prefix));
    errs.extend_at("suffix", validate_attribute_map(&f.suffix));
    errs.extend_at("all", validate_filters(&f.all));
    errs.extend_at("any", validate_filters(&f.any));
    if let Some(n) = &f.not {
        errs.extend_at("not", validate_filter(n));
    }
    if let Some(sql) = &f.cesql {
        if sql.trim().is_empty() {
            errs.push(FieldError::invalid(
                "cesql",
                "CESQL expression must not be empty",
            ));
        } else if let Err(e) = herald_cesql::Expression::parse(sql) {
            // The message points into the expression: position plus a caret line.
            errs.push(FieldError::invalid(
                "cesql",
                format!("invalid CESQL expression: {}", e.render(sql)),
            ));
        }
    }
    errs
}

/// The object a Trigger depends on (`knative.dev/dependency`), an ObjectReference.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DependencyRef {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
}

impl Trigger {
    fn validate_annotations(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if let Some(dep) = annotation(&self.metadata, DEPENDENCY_ANNOTATION) {
            let path = annotation_path(DEPENDENCY_ANNOTATION);
            match serde_json::from_str::<DependencyRef>(dep) {
                Err(e) => errs.push(FieldError::invalid(
                    path,
                    format!(
                        "The provided annotation was not a corev1.ObjectReference: {dep:?}: {e}"
                    ),
                )),
                Ok(r) => {
                    let mut sub = FieldErrors::new();
                    if !r.namespace.is_empty() && r.namespace != self.namespace() {
                        sub.push(FieldError::invalid(
                            "namespace",
                            format!(
                                "Namespace must be empty or equal to the trigger namespace {:?}",
                                self.namespace()
                            ),
                        ));
                    }
                    for (field, value) in [
                        ("kind", &r.kind),
                        ("name", &r.name),
                        ("apiVersion", &r.api_version),
                    ] {
                        if value.is_empty() {
                            sub.push(FieldError::required(field));
                        }
                    }
                    errs.extend_at(&path, sub);
                }
            }
        }
        if let Some(inj) = annotation(&self.metadata, INJECTION_ANNOTATION) {
            let path = annotation_path(INJECTION_ANNOTATION);
            if inj != "enabled" && inj != "disabled" {
                errs.push(FieldError::invalid(
                    path,
                    format!("The provided injection annotation value can only be \"enabled\" or \"disabled\", not {inj:?}"),
                ));
            } else if self.spec.broker != "default" {
                errs.push(FieldError::invalid(
                    path,
                    format!("The provided injection annotation is only used for default broker, but non-default broker specified here: {:?}", self.spec.broker),
                ));
            }
        }
        errs
    }
}

impl Kind for Trigger {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        let ns = self.namespace().to_string();
        if self.spec.filter.is_none() {
            self.spec.filter = Some(TriggerFilter::default());
        }
        default_destination_namespace(&mut self.spec.subscriber, &ns);
        if let Some(dls) = self
            .spec
            .delivery
            .as_mut()
            .and_then(|d| d.dead_letter_sink.as_mut())
        {
            default_destination_namespace(dls, &ns);
        }
        if !self.spec.broker.is_empty() {
            let broker = self.spec.broker.clone();
            set_label(&mut self.metadata, BROKER_LABEL, broker);
        }
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let s = &self.spec;
        match &s.broker_ref {
            Some(r) => errs.extend_at("spec.brokerRef", validate_kreference(r)),
            None if s.broker.is_empty() => errs.push(FieldError::required("spec.broker")),
            None => {}
        }
        if let Some(f) = &s.filter {
            for k in f.attributes.keys() {
                if !is_attribute_name(k) {
                    errs.push(FieldError::invalid(
                        format!("spec.filter.attributes.{k}"),
                        format!("invalid key name {k:?}: Attribute name must start with a letter and can only contain lowercase alphanumeric"),
                    ));
                }
            }
        }
        errs.extend_at("spec.filters", validate_filters(&s.filters));
        errs.extend_at("spec.subscriber", validate_destination(&s.subscriber));
        if let Some(d) = &s.delivery {
            errs.extend_at("spec.delivery", validate_delivery(d));
        }
        errs.extend(self.validate_annotations());
        errs
    }

    fn validate_update(&self, old: &Self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        check_immutable(
            &mut errs,
            "spec.broker",
            &old.spec.broker,
            &self.spec.broker,
        );
        check_immutable(
            &mut errs,
            "spec.brokerRef",
            &old.spec.broker_ref,
            &self.spec.broker_ref,
        );
        errs
    }
}

/// v1alpha1 `filter.sourceAndType`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerFilterSourceAndType {
    /// CloudEvents type to match; `Any` matches every type.
    #[serde(default, rename = "type")]
    pub type_: String,
    /// CloudEvents source to match; `Any` matches every source.
    #[serde(default)]
    pub source: String,
}

/// v1alpha1 Trigger filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerFilterV1Alpha1 {
    /// DeprecatedSourceAndType filters events on type and source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_and_type: Option<TriggerFilterSourceAndType>,
    /// Attributes filters events by exact match on event context attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
}

/// A `corev1.ObjectReference` as v1alpha1 subscribers used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Kind of the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name of the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// v1alpha1 subscriber: an object reference and/or a URI.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriberSpecV1Alpha1 {
    /// Reference to an object that will be used to find the target endpoint.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub ref_: Option<ObjectReference>,
    /// URI of the target endpoint, or a path relative to the ref's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

/// The v1alpha1 Trigger spec (served for the seeds' manifests).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerSpecV1Alpha1 {
    /// Broker is the broker that this trigger receives events from. Defaults to `default`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub broker: String,
    /// Filter is the filter to apply against all events from the Broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<TriggerFilterV1Alpha1>,
    /// Subscriber is the addressable that receives events from the Broker that pass the
    /// Filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber: Option<SubscriberSpecV1Alpha1>,
}

pub type TriggerV1Alpha1 = Object<TriggerSpecV1Alpha1, TriggerStatus>;

fn any_to_empty(s: &str) -> String {
    if s == "Any" {
        String::new()
    } else {
        s.to_string()
    }
}

fn up(mut v: Value) -> Result<Value, FieldErrors> {
    let l: TriggerSpecV1Alpha1 = spec_of(&v)?;
    let filter = l.filter.map(|f| {
        let mut attributes = f.attributes.unwrap_or_default();
        if let Some(st) = f.source_and_type {
            attributes.insert("type".into(), any_to_empty(&st.type_));
            attributes.insert("source".into(), any_to_empty(&st.source));
        }
        TriggerFilter { attributes }
    });
    let subscriber = l
        .subscriber
        .map(|s| Destination {
            ref_: s.ref_.map(|r| KReference {
                kind: r.kind,
                namespace: r.namespace,
                name: r.name,
                api_version: r.api_version,
                group: None,
            }),
            uri: s.uri,
            ..Default::default()
        })
        .unwrap_or_default();
    let spec = TriggerSpec {
        broker: if l.broker.is_empty() {
            "default".into()
        } else {
            l.broker
        },
        filter,
        subscriber,
        ..Default::default()
    };
    put_spec(&mut v, &spec)?;
    Ok(set_type(v, API_VERSION, KIND))
}

fn down(mut v: Value) -> Result<Value, FieldErrors> {
    let s: TriggerSpec = spec_of(&v)?;
    let subscriber = (s.subscriber != Destination::default()).then(|| SubscriberSpecV1Alpha1 {
        ref_: s.subscriber.ref_.map(|r| ObjectReference {
            api_version: r.api_version,
            kind: r.kind,
            name: r.name,
            namespace: r.namespace,
        }),
        uri: s.subscriber.uri,
    });
    let spec = TriggerSpecV1Alpha1 {
        broker: s.broker,
        filter: s.filter.map(|f| TriggerFilterV1Alpha1 {
            source_and_type: None,
            attributes: (!f.attributes.is_empty()).then_some(f.attributes),
        }),
        subscriber,
    };
    put_spec(&mut v, &spec)?;
    Ok(set_type(v, LEGACY_API_VERSION, KIND))
}

fn to_storage_v1alpha1(v: Value) -> Result<Value, FieldErrors> {
    convert_lossless(v, up, down)
}

fn from_storage_v1alpha1(v: Value) -> Result<Value, FieldErrors> {
    convert_lossless(v, down, up)
}

pub static COLUMNS: [PrinterColumn; 5] = [
    PrinterColumn {
        name: "Broker",
        type_: "string",
        json_path: ".spec.broker",
        priority: 0,
        description: "",
    },
    PrinterColumn {
        name: "Subscriber_URI",
        type_: "string",
        json_path: ".status.subscriberUri",
        priority: 0,
        description: "",
    },
    AGE_COLUMN,
    READY_COLUMN,
    REASON_COLUMN,
];

const CATEGORIES: &[&str] = &["all", "knative", "eventing"];

/// The Trigger resource: v1 (storage) and v1alpha1.
pub fn resource() -> Resource {
    let served = |version: &'static str,
                  schema: fn() -> Value,
                  to_storage: ConvertFn,
                  from_storage: ConvertFn| ServedVersion {
        group: GROUP,
        version,
        kind: KIND,
        plural: "triggers",
        singular: "trigger",
        short_names: &[],
        categories: CATEGORIES,
        columns: &COLUMNS,
        deprecated: None,
        schema,
        to_storage,
        from_storage,
    };
    Resource {
        group: GROUP,
        plural: "triggers",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![
            served(
                "v1",
                || {
                    described::<Trigger>(
                        "Trigger represents a request to have events delivered to a subscriber from a Broker's event pool.",
                    )
                },
                |v| Ok(set_type(v, API_VERSION, KIND)),
                |v| Ok(set_type(v, API_VERSION, KIND)),
            ),
            served(
                "v1alpha1",
                || {
                    described::<TriggerV1Alpha1>(
                        "Trigger (v1alpha1, converted to eventing.knative.dev/v1) represents a request to have events delivered to a subscriber from a Broker's event pool.",
                    )
                },
                to_storage_v1alpha1,
                from_storage_v1alpha1,
            ),
        ],
        hooks: Box::new(Typed::<Trigger>::new()),
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

    fn trigger(v: Value) -> Trigger {
        decode(&v).unwrap_or_default()
    }

    fn paths(errs: &FieldErrors) -> Vec<String> {
        errs.0.iter().map(|e| e.path.clone()).collect()
    }

    #[test]
    fn defaults() {
        let mut t = trigger(json!({
            "metadata": {"name": "t", "namespace": "ns"},
            "spec": {"broker": "b", "subscriber": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "s"}}}
        }));
        t.set_defaults(&ctx());
        assert_eq!(t.spec.filter, Some(TriggerFilter::default()));
        assert_eq!(
            t.spec
                .subscriber
                .ref_
                .as_ref()
                .and_then(|r| r.namespace.as_deref()),
            Some("ns")
        );
        assert_eq!(
            t.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(BROKER_LABEL))
                .map(String::as_str),
            Some("b")
        );
        let v = serde_json::to_value(&t).unwrap_or_default();
        assert_eq!(v["spec"]["filter"], json!({}));
    }

    #[test]
    fn validation() {
        let sub = json!({"uri": "http://x"});
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (json!({"broker": "b", "subscriber": sub}), vec![]),
            (json!({"subscriber": sub}), vec!["spec.broker"]),
            (
                json!({"brokerRef": {"kind": "Broker", "name": "b"}, "subscriber": sub}),
                vec!["spec.brokerRef.apiVersion"],
            ),
            (json!({"broker": "b"}), vec!["spec.subscriber"]),
            (
                json!({"broker": "b", "subscriber": {"uri": "/rel"}}),
                vec!["spec.subscriber.uri"],
            ),
            (
                json!({"broker": "b", "subscriber": sub, "filter": {"attributes": {"Type": "x", "ok": ""}}}),
                vec!["spec.filter.attributes.Type"],
            ),
            (
                json!({"broker": "b", "subscriber": sub, "filters": [{"exact": {"type": "a"}, "prefix": {"source": "b"}}]}),
                vec!["spec.filters[0]"],
            ),
            (
                json!({"broker": "b", "subscriber": sub, "filters": [{}]}),
                vec!["spec.filters[0]"],
            ),
            (
                json!({"broker": "b", "subscriber": sub, "filters": [{"exact": {"type": "a"}}, {"suffix": {"Bad-Name": "x"}}]}),
                vec!["spec.filters[1].suffix.Bad-Name"],
            ),
            (
                json!({"broker": "b", "subscriber": sub, "filters": [{"exact": {"type": ""}}]}),
                vec!["spec.filters[0].exact.type"],
            ),
            (
                json!({"broker": "b", "subscriber": sub, "filters": [{"all": [{"exact": {"type": "a"}}, {"exact": {"X": "b"}}]}]}),
                vec!["spec.filters[0].all[1].exact.X"],
            ),
            (
                json!({"broker": "b", "subscriber": sub, "filters": [{"any": [{"not": {"cesql": ""}}]}]}),
                vec!["spec.filters[0].any[0].not.cesql"],
            ),
            (
                json!({"broker": "b", "subscriber": sub, "filters": [{"cesql": "type = 'x'"}]}),
                vec![],
            ),
            (
                json!({"broker": "b", "subscriber": sub, "filters": [{"all": [{"cesql": "type = 'x' AND"}]}]}),
                vec!["spec.filters[0].all[0].cesql"],
            ),
            (
                json!({"broker": "b", "subscriber": sub, "delivery": {"retry": -1}}),
                vec!["spec.delivery.retry"],
            ),
        ];
        for (spec, want) in cases {
            let t = trigger(json!({"metadata": {"name": "t", "namespace": "ns"}, "spec": spec}));
            assert_eq!(paths(&t.validate(&ctx())), want, "{spec}");
        }
        let t = trigger(
            json!({"spec": {"broker": "b", "subscriber": sub, "filters": [{"exact": {"a": "1"}, "not": {"exact": {"b": "2"}}}]}}),
        );
        assert_eq!(
            t.validate(&ctx()).0[0].message,
            "multiple dialects found, filters can have only one dialect set"
        );
    }

    #[test]
    fn annotations_validation() {
        let sub = json!({"uri": "http://x"});
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (
                json!({DEPENDENCY_ANNOTATION: "{\"apiVersion\":\"v1\",\"kind\":\"K\",\"name\":\"n\"}"}),
                vec![],
            ),
            (
                json!({DEPENDENCY_ANNOTATION: "nope"}),
                vec!["metadata.annotations.knative.dev/dependency"],
            ),
            (
                json!({DEPENDENCY_ANNOTATION: "{\"kind\":\"K\",\"name\":\"n\",\"namespace\":\"other\"}"}),
                vec![
                    "metadata.annotations.knative.dev/dependency.namespace",
                    "metadata.annotations.knative.dev/dependency.apiVersion",
                ],
            ),
            (
                json!({INJECTION_ANNOTATION: "maybe"}),
                vec!["metadata.annotations.eventing.knative.dev/injection"],
            ),
        ];
        for (ann, want) in cases {
            let t = trigger(
                json!({"metadata": {"namespace": "ns", "annotations": ann}, "spec": {"broker": "b", "subscriber": sub}}),
            );
            assert_eq!(paths(&t.validate(&ctx())), want, "{ann}");
        }
    }

    #[test]
    fn immutability() {
        let old = trigger(json!({"spec": {"broker": "a", "subscriber": {"uri": "http://x"}}}));
        let new = trigger(json!({"spec": {"broker": "b", "subscriber": {"uri": "http://y"}}}));
        let errs = new.validate_update(&old, &ctx());
        assert_eq!(paths(&errs), vec!["spec.broker"]);
        assert_eq!(errs.0[0].message, "Immutable fields changed (-old +new)");
        let mut ok = old.clone();
        ok.spec.subscriber.uri = Some("http://z".into());
        ok.spec.filter = Some(TriggerFilter::default());
        assert!(ok.validate_update(&old, &ctx()).is_empty());
    }

    #[test]
    fn seed_converts_and_round_trips() {
        let seed = json!({
            "apiVersion": "eventing.knative.dev/v1alpha1",
            "kind": "Trigger",
            "metadata": {"name": "my-service-trigger"},
            "spec": {
                "broker": "default",
                "filter": {"attributes": {"type": "dev.knative.foo.bar", "myextension": "my-extension-value"}},
                "subscriber": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "my-service"}}
            }
        });
        let r = resource();
        let storage = (r.versions[1].to_storage)(seed.clone()).unwrap_or_default();
        assert_eq!(storage["apiVersion"], json!(API_VERSION));
        assert_eq!(
            storage["spec"]["subscriber"]["ref"]["kind"],
            json!("Service")
        );
        assert_eq!(
            storage["spec"]["filter"]["attributes"]["myextension"],
            json!("my-extension-value")
        );
        let back = (r.versions[1].from_storage)(storage.clone()).unwrap_or_default();
        assert_eq!(back, seed);
        let mut obj = storage;
        obj["metadata"]["namespace"] = json!("default");
        r.hooks.default(&mut obj, &ctx()).unwrap_or_default();
        assert!(r.hooks.validate(&obj, None, &ctx()).is_ok());

        // v1-only fields survive a read-modify-write through v1alpha1.
        obj["spec"]["filters"] = json!([{"prefix": {"type": "dev."}}]);
        obj["spec"]["delivery"] = json!({"retry": 2});
        let legacy = (r.versions[1].from_storage)(obj.clone()).unwrap_or_default();
        assert!(legacy["spec"].get("filters").is_none());
        let again = (r.versions[1].to_storage)(legacy).unwrap_or_default();
        assert_eq!(again, obj);
    }

    #[test]
    fn source_and_type_converts() {
        let legacy = json!({"apiVersion": LEGACY_API_VERSION, "kind": "Trigger", "metadata": {"name": "t"},
            "spec": {"filter": {"sourceAndType": {"type": "dev.x", "source": "Any"}},
                     "subscriber": {"uri": "http://x"}}});
        let storage = to_storage_v1alpha1(legacy).unwrap_or_default();
        assert_eq!(storage["spec"]["broker"], json!("default"));
        assert_eq!(
            storage["spec"]["filter"]["attributes"],
            json!({"type": "dev.x", "source": ""})
        );
    }

    #[test]
    fn schemas_are_structural() {
        for v in resource().versions {
            let s = (v.schema)().to_string();
            assert!(!s.contains("$ref"), "{}: {s}", v.version);
        }
    }
}
