//! `Broker` (eventing.knative.dev/v1, storage) and the seeds' legacy `v1alpha1` Broker.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conditions::ConditionSet;
use crate::field::{FieldError, FieldErrors};
use crate::messaging::channelable::{ChannelTemplateSpec, DeliveryStatus};
use crate::meta::{AddressStatus, BackoffPolicy, DeliverySpec, KReference, Status};
use crate::object::Object;
use crate::registry::{
    AGE_COLUMN, ConvertFn, Ctx, Kind, PrinterColumn, READY_COLUMN, REASON_COLUMN, Resource,
    ServedVersion, Typed, set_type,
};
use crate::validation::{validate_delivery, validate_kreference};

use super::support::{
    annotation, annotation_path, check_immutable, config_yaml, convert_lossless, described,
    json_annotation, put_spec, scoped_field, set_annotation, set_json_annotation, spec_of,
};

pub const GROUP: &str = "eventing.knative.dev";
pub const API_VERSION: &str = "eventing.knative.dev/v1";
pub const LEGACY_API_VERSION: &str = "eventing.knative.dev/v1alpha1";
pub const KIND: &str = "Broker";

/// Annotation selecting the Broker implementation.
pub const CLASS_ANNOTATION: &str = "eventing.knative.dev/broker.class";
/// The default Broker class.
pub const DEFAULT_CLASS: &str = "MTChannelBasedBroker";
/// Herald annotation holding a v1alpha1 `spec.channelTemplateSpec` as JSON.
pub const CHANNEL_TEMPLATE_ANNOTATION: &str = "herald.dev/channel-template-spec";

/// MTChannelBasedBroker's dependent conditions (`broker_lifecycle_mt.go`).
pub const CONDITIONS: ConditionSet = ConditionSet::new(&[
    "IngressReady",
    "TriggerChannelReady",
    "FilterReady",
    "Addressable",
    "DeadLetterSinkResolved",
]);

/// BrokerSpec defines the desired state of a Broker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerSpec {
    /// Config is a KReference to the configuration that specifies configuration options for
    /// this Broker. For example, this could be a pointer to a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<KReference>,
    /// Delivery contains the default delivery spec for each trigger to this Broker, if not
    /// overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
}

/// BrokerStatus represents the current state of a Broker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerStatus {
    #[serde(flatten)]
    pub status: Status,
    /// The address of the Broker ingress (`address`, `addresses`).
    #[serde(flatten)]
    pub address: AddressStatus,
    /// The resolved dead letter sink.
    #[serde(flatten)]
    pub delivery: DeliveryStatus,
}

pub type Broker = Object<BrokerSpec, BrokerStatus>;

/// The v1alpha1 Broker spec (served for the seeds' manifests).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerSpecV1Alpha1 {
    /// ChannelTemplateSpec is the template of the channel backing this Broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_template_spec: Option<ChannelTemplateSpec>,
    /// Delivery is the delivery specification to be used internally by the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
}

pub type BrokerV1Alpha1 = Object<BrokerSpecV1Alpha1, BrokerStatus>;

/// The Broker's channel template, from the v1alpha1 annotation.
pub fn channel_template(b: &Broker) -> Option<ChannelTemplateSpec> {
    annotation(&b.metadata, CHANNEL_TEMPLATE_ANNOTATION).and_then(|s| serde_json::from_str(s).ok())
}

fn builtin_delivery() -> DeliverySpec {
    DeliverySpec {
        retry: Some(10),
        backoff_policy: Some(BackoffPolicy::Exponential),
        backoff_delay: Some("PT0.2S".into()),
        ..Default::default()
    }
}

impl Kind for Broker {
    fn set_defaults(&mut self, ctx: &Ctx) {
        let ns = self.namespace().to_string();
        let cfg = config_yaml(ctx, "config-br-defaults", "default-br-config");
        let field = |f: &str| cfg.as_ref().and_then(|c| scoped_field(c, &ns, f)).cloned();
        if annotation(&self.metadata, CLASS_ANNOTATION)
            .unwrap_or("")
            .is_empty()
        {
            let class = field("brokerClass")
                .and_then(|v| v.as_str().map(str::to_string))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_CLASS.to_string());
            set_annotation(&mut self.metadata, CLASS_ANNOTATION, class);
        }
        // `spec.config` from the defaults (Knative ships a ConfigMap reference); a Broker
        // with a v1alpha1 channel template is configured by that template instead.
        if self.spec.config.is_none()
            && annotation(&self.metadata, CHANNEL_TEMPLATE_ANNOTATION).is_none()
            && let Some(kind) = field("kind").and_then(|v| v.as_str().map(str::to_string))
            && let Some(name) = field("name").and_then(|v| v.as_str().map(str::to_string))
        {
            self.spec.config = Some(KReference {
                kind,
                name,
                namespace: field("namespace").and_then(|v| v.as_str().map(str::to_string)),
                api_version: field("apiVersion")
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "v1".into()),
                group: None,
            });
        }
        if self.spec.delivery.is_none() {
            self.spec.delivery = Some(
                field("delivery")
                    .and_then(|v| serde_json::from_value(v).ok())
                    .unwrap_or_else(builtin_delivery),
            );
        }
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if annotation(&self.metadata, CLASS_ANNOTATION)
            .unwrap_or("")
            .is_empty()
        {
            errs.push(FieldError::required(annotation_path(CLASS_ANNOTATION)));
        }
        if let Some(raw) = annotation(&self.metadata, CHANNEL_TEMPLATE_ANNOTATION) {
            let path = annotation_path(CHANNEL_TEMPLATE_ANNOTATION);
            match serde_json::from_str::<ChannelTemplateSpec>(raw) {
                Ok(t) => errs.extend_at(&path, t.validate()),
                Err(e) => errs.push(FieldError::invalid(
                    path,
                    format!("not a channel template spec: {e}"),
                )),
            }
        }
        if let Some(c) = &self.spec.config {
            errs.extend_at("spec.config", validate_kreference(c));
        }
        if let Some(d) = &self.spec.delivery {
            errs.extend_at("spec.delivery", validate_delivery(d));
        }
        errs
    }

    /// The class is immutable, as in Knative. The channel (v1alpha1 `channelTemplateSpec`,
    /// `spec.config`) may change: Knative forbids it because it would lose every buffered event;
    /// Herald drains the old log into delivery first (docs/channels.md).
    fn validate_update(&self, old: &Self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        check_immutable(
            &mut errs,
            &annotation_path(CLASS_ANNOTATION),
            &annotation(&old.metadata, CLASS_ANNOTATION),
            &annotation(&self.metadata, CLASS_ANNOTATION),
        );
        errs
    }
}

/// v1alpha1 -> v1: the channel template moves into the annotation.
fn up(mut v: Value) -> Result<Value, FieldErrors> {
    let legacy: BrokerSpecV1Alpha1 = spec_of(&v)?;
    let template = match &legacy.channel_template_spec {
        Some(t) => Some(serde_json::to_string(t).map_err(|e| {
            FieldErrors::from(FieldError::invalid(
                "spec.channelTemplateSpec",
                e.to_string(),
            ))
        })?),
        None => None,
    };
    set_json_annotation(&mut v, CHANNEL_TEMPLATE_ANNOTATION, template);
    put_spec(
        &mut v,
        &BrokerSpec {
            config: None,
            delivery: legacy.delivery,
        },
    )?;
    Ok(set_type(v, API_VERSION, KIND))
}

/// v1 -> v1alpha1: the annotation becomes `spec.channelTemplateSpec` again.
fn down(mut v: Value) -> Result<Value, FieldErrors> {
    let spec: BrokerSpec = spec_of(&v)?;
    let template = json_annotation(&v, CHANNEL_TEMPLATE_ANNOTATION)
        .and_then(|s| serde_json::from_str::<ChannelTemplateSpec>(&s).ok());
    if template.is_some() {
        set_json_annotation(&mut v, CHANNEL_TEMPLATE_ANNOTATION, None);
    }
    put_spec(
        &mut v,
        &BrokerSpecV1Alpha1 {
            channel_template_spec: template,
            delivery: spec.delivery,
        },
    )?;
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
        name: "URL",
        type_: "string",
        json_path: ".status.address.url",
        priority: 0,
        description: "",
    },
    AGE_COLUMN,
    READY_COLUMN,
    REASON_COLUMN,
    PrinterColumn {
        name: "Class",
        type_: "string",
        json_path: ".metadata.annotations.eventing\\.knative\\.dev/broker\\.class",
        priority: 0,
        description: "",
    },
];

const CATEGORIES: &[&str] = &["all", "knative", "eventing"];

/// The Broker resource: v1 (storage) and v1alpha1.
pub fn resource() -> Resource {
    let served = |version: &'static str,
                  schema: fn() -> Value,
                  to_storage: ConvertFn,
                  from_storage: ConvertFn| ServedVersion {
        group: GROUP,
        version,
        kind: KIND,
        plural: "brokers",
        singular: "broker",
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
        plural: "brokers",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![
            served(
                "v1",
                || {
                    described::<Broker>(
                        "Broker collects a pool of events that are consumable using Triggers. Brokers provide a well-known endpoint for event delivery that senders can use with minimal knowledge of the event routing strategy. Subscribers use Triggers to request delivery of events from a Broker's pool to a specific URL or Addressable endpoint.",
                    )
                },
                |v| Ok(set_type(v, API_VERSION, KIND)),
                |v| Ok(set_type(v, API_VERSION, KIND)),
            ),
            served(
                "v1alpha1",
                || {
                    described::<BrokerV1Alpha1>(
                        "Broker (v1alpha1, converted to eventing.knative.dev/v1) collects a pool of events that are consumable using Triggers.",
                    )
                },
                to_storage_v1alpha1,
                from_storage_v1alpha1,
            ),
        ],
        hooks: Box::new(Typed::<Broker>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{ConfigLookup, NoConfig, decode};
    use serde_json::json;
    use std::collections::BTreeMap;

    struct Cm(&'static str);
    impl ConfigLookup for Cm {
        fn config_map(&self, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
            (ns == "knative-eventing" && name == "config-br-defaults")
                .then(|| BTreeMap::from([("default-br-config".to_string(), self.0.to_string())]))
        }
    }

    fn ctx() -> Ctx<'static> {
        Ctx { config: &NoConfig }
    }

    fn broker(v: Value) -> Broker {
        decode(&v).unwrap_or_default()
    }

    #[test]
    fn defaults() {
        let mut b = broker(json!({"metadata": {"name": "b", "namespace": "ns"}}));
        b.set_defaults(&ctx());
        assert_eq!(
            annotation(&b.metadata, CLASS_ANNOTATION),
            Some(DEFAULT_CLASS)
        );
        assert_eq!(b.spec.delivery, Some(builtin_delivery()));
        assert_eq!(b.spec.config, None);

        let cm = Cm(
            "clusterDefault:\n  brokerClass: Kafka\n  apiVersion: v1\n  kind: ConfigMap\n  name: kafka-config\n  namespace: knative-eventing\n  delivery:\n    retry: 3\nnamespaceDefaults:\n  special:\n    brokerClass: NatsJetStreamBroker\n",
        );
        let cctx = Ctx { config: &cm };
        let cases = [("ns", "Kafka"), ("special", "NatsJetStreamBroker")];
        for (ns, class) in cases {
            let mut b = broker(json!({"metadata": {"name": "b", "namespace": ns}}));
            b.set_defaults(&cctx);
            assert_eq!(annotation(&b.metadata, CLASS_ANNOTATION), Some(class));
            assert_eq!(b.spec.delivery.as_ref().and_then(|d| d.retry), Some(3));
            assert_eq!(
                b.spec.config.as_ref().map(|c| c.name.as_str()),
                Some("kafka-config")
            );
        }
        // An explicit class and delivery are kept.
        let mut b = broker(
            json!({"metadata": {"name": "b", "annotations": {CLASS_ANNOTATION: "X"}},
                                  "spec": {"delivery": {"retry": 1}}}),
        );
        b.set_defaults(&cctx);
        assert_eq!(annotation(&b.metadata, CLASS_ANNOTATION), Some("X"));
        assert_eq!(b.spec.delivery.as_ref().and_then(|d| d.retry), Some(1));
    }

    fn paths(errs: &FieldErrors) -> Vec<String> {
        errs.0.iter().map(|e| e.path.clone()).collect()
    }

    #[test]
    fn validation() {
        let cases = [
            (
                json!({"metadata": {"annotations": {CLASS_ANNOTATION: "MTChannelBasedBroker"}}}),
                vec![],
            ),
            (
                json!({"metadata": {}}),
                vec!["metadata.annotations.eventing.knative.dev/broker.class"],
            ),
            (
                json!({"metadata": {"annotations": {CLASS_ANNOTATION: "A"}},
                       "spec": {"config": {"kind": "ConfigMap", "name": ""}, "delivery": {"retry": -1, "backoffDelay": "x"}}}),
                vec![
                    "spec.config.name",
                    "spec.config.apiVersion",
                    "spec.delivery.retry",
                    "spec.delivery.backoffDelay",
                ],
            ),
            (
                json!({"metadata": {"annotations": {CLASS_ANNOTATION: "A", CHANNEL_TEMPLATE_ANNOTATION: "{\"kind\":\"X\"}"}}}),
                vec!["metadata.annotations.herald.dev/channel-template-spec.apiVersion"],
            ),
        ];
        for (v, want) in cases {
            assert_eq!(paths(&broker(v.clone()).validate(&ctx())), want, "{v}");
        }
    }

    #[test]
    fn immutability() {
        let old = broker(json!({"metadata": {"annotations": {CLASS_ANNOTATION: "A"}},
                                "spec": {"config": {"kind": "ConfigMap", "name": "c", "apiVersion": "v1"}}}));
        let new = broker(json!({"metadata": {"annotations": {CLASS_ANNOTATION: "B"}},
                                "spec": {"delivery": {"retry": 2}}}));
        let errs = new.validate_update(&old, &ctx());
        // The channel may change (Herald drains the old log); the class may not.
        assert_eq!(
            paths(&errs),
            vec!["metadata.annotations.eventing.knative.dev/broker.class"]
        );
        assert_eq!(errs.0[0].message, "Immutable fields changed (-old +new)");
        // Delivery is mutable.
        let mut same = old.clone();
        same.spec.delivery = Some(DeliverySpec::default());
        assert!(same.validate_update(&old, &ctx()).is_empty());
    }

    #[test]
    fn seed_converts_and_round_trips() {
        let seed = json!({
            "apiVersion": "eventing.knative.dev/v1alpha1",
            "kind": "Broker",
            "metadata": {"name": "default"},
            "spec": {"channelTemplateSpec": {"apiVersion": "messaging.knative.dev/v1alpha1", "kind": "InMemoryChannel"}}
        });
        let r = resource();
        let storage = (r.versions[1].to_storage)(seed.clone()).unwrap_or_default();
        assert_eq!(storage["apiVersion"], json!(API_VERSION));
        assert_eq!(storage["spec"], json!({}));
        let b = broker(storage.clone());
        assert_eq!(
            channel_template(&b).map(|t| t.kind),
            Some("InMemoryChannel".into())
        );
        let back = (r.versions[1].from_storage)(storage.clone()).unwrap_or_default();
        assert_eq!(back, seed);

        // Defaults and validation pass on the converted seed.
        let mut obj = storage;
        r.hooks.default(&mut obj, &ctx()).unwrap_or_default();
        assert!(r.hooks.validate(&obj, None, &ctx()).is_ok());
        // A storage object with `spec.config` survives a v1alpha1 round trip.
        obj["spec"]["config"] = json!({"kind": "ConfigMap", "name": "c", "apiVersion": "v1"});
        let legacy = (r.versions[1].from_storage)(obj.clone()).unwrap_or_default();
        assert!(legacy["spec"].get("config").is_none());
        let again = (r.versions[1].to_storage)(legacy).unwrap_or_default();
        assert_eq!(again, obj);
    }

    #[test]
    fn schemas_are_structural() {
        for v in resource().versions {
            let s = (v.schema)().to_string();
            assert!(!s.contains("$ref"), "{}: {s}", v.version);
            assert!(s.contains("deadLetterSinkUri"));
        }
    }
}
