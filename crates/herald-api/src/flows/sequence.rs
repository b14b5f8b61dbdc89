//! `Sequence` (flows.knative.dev/v1): an ordered list of steps, wired with channels and
//! subscriptions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::ConditionSet;
use crate::eventing::support::default_destination_namespace;
use crate::eventing::support::described;
use crate::eventing::trigger::ObjectReference;
use crate::field::{FieldError, FieldErrors};
use crate::messaging::channel::COLUMNS;
use crate::messaging::channelable::{ChannelTemplateSpec, default_channel_template};
use crate::meta::{AddressStatus, Condition, DeliverySpec, Destination, Status};
use crate::object::Object;
use crate::registry::{Ctx, Kind, Resource, ServedVersion, Typed, set_type};
use crate::validation::{validate_delivery, validate_destination};

pub const GROUP: &str = "flows.knative.dev";
pub const API_VERSION: &str = "flows.knative.dev/v1";
pub const KIND: &str = "Sequence";

/// Sequence's dependent conditions (`sequence_lifecycle.go`, without EventPoliciesReady).
pub const CONDITIONS: ConditionSet =
    ConditionSet::new(&["ChannelsReady", "SubscriptionsReady", "Addressable"]);

/// One step of a Sequence: where to send the event, and how.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SequenceStep {
    /// Subscriber receiving the step event (a Destination: `ref`, `uri`, `CACerts`,
    /// `audience`).
    #[serde(flatten)]
    pub destination: Destination,
    /// Delivery is the delivery specification for events to the subscriber. This includes
    /// things like retries, DLQ, etc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
}

/// SequenceSpec defines the steps of a Sequence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SequenceSpec {
    /// Steps is the list of Destinations (processors / functions) that will be called in the
    /// order provided. Each step has its own delivery options.
    #[serde(default)]
    pub steps: Vec<SequenceStep>,
    /// ChannelTemplate specifies which Channel CRD to use. If left unspecified, it is set to
    /// the default Channel CRD for the namespace (or cluster, in case there are no defaults
    /// for the namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_template: Option<ChannelTemplateSpec>,
    /// Reply is a Reference to where the result of the last Subscriber gets sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Destination>,
}

/// The status of one Subscription a Sequence created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SequenceSubscriptionStatus {
    /// Subscription is the reference to the underlying Subscription.
    #[serde(default)]
    pub subscription: ObjectReference,
    /// ReadyCondition indicates whether the Subscription is ready or not.
    #[serde(default)]
    pub ready: Condition,
}

/// The status of one Channel a Sequence created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SequenceChannelStatus {
    /// Channel is the reference to the underlying channel.
    #[serde(default)]
    pub channel: ObjectReference,
    /// ReadyCondition indicates whether the Channel is ready or not.
    #[serde(default)]
    pub ready: Condition,
}

/// SequenceStatus represents the current state of a Sequence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SequenceStatus {
    #[serde(flatten)]
    pub status: Status,
    /// SubscriptionStatuses is an array of corresponding Subscription statuses. Matches the
    /// Spec.Steps array in the order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscription_statuses: Vec<SequenceSubscriptionStatus>,
    /// ChannelStatuses is an array of corresponding Channel statuses. Matches the
    /// Spec.Steps array in the order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channel_statuses: Vec<SequenceChannelStatus>,
    /// Address is the starting point of this Sequence: its first channel.
    #[serde(flatten)]
    pub address: AddressStatus,
}

pub type Sequence = Object<SequenceSpec, SequenceStatus>;

impl Kind for Sequence {
    fn set_defaults(&mut self, ctx: &Ctx) {
        let ns = self.namespace().to_string();
        if self.spec.channel_template.is_none() {
            self.spec.channel_template = Some(default_channel_template(ctx, &ns));
        }
        for step in &mut self.spec.steps {
            default_destination_namespace(&mut step.destination, &ns);
        }
        if let Some(r) = &mut self.spec.reply {
            default_destination_namespace(r, &ns);
        }
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if self.spec.steps.is_empty() {
            errs.push(FieldError::required("spec.steps"));
        }
        for (i, s) in self.spec.steps.iter().enumerate() {
            errs.extend_at(
                &format!("spec.steps[{i}]"),
                validate_destination(&s.destination),
            );
            if let Some(d) = &s.delivery {
                errs.extend_at(&format!("spec.steps[{i}].delivery"), validate_delivery(d));
            }
        }
        match &self.spec.channel_template {
            Some(t) => errs.extend_at("spec.channelTemplate", t.validate()),
            None => errs.push(FieldError::required("spec.channelTemplate")),
        }
        if let Some(r) = &self.spec.reply {
            errs.extend_at("spec.reply", validate_destination(r));
        }
        errs
    }
}

/// The Sequence resource (v1).
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "sequences",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![ServedVersion {
            group: GROUP,
            version: "v1",
            kind: KIND,
            plural: "sequences",
            singular: "sequence",
            short_names: &[],
            categories: &["all", "knative", "flows"],
            columns: &COLUMNS,
            deprecated: None,
            schema: || {
                described::<Sequence>(
                    "Sequence defines a sequence of Subscribers that will be wired in series through Channels and Subscriptions.",
                )
            },
            to_storage: |v| Ok(set_type(v, API_VERSION, KIND)),
            from_storage: |v| Ok(set_type(v, API_VERSION, KIND)),
        }],
        hooks: Box::new(Typed::<Sequence>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{NoConfig, decode};
    use serde_json::{Value, json};

    fn ctx() -> Ctx<'static> {
        Ctx { config: &NoConfig }
    }

    fn seq(spec: Value) -> Sequence {
        decode(&json!({"metadata": {"name": "s", "namespace": "ns"}, "spec": spec}))
            .unwrap_or_default()
    }

    #[test]
    fn steps_flatten_destination() {
        let spec = json!({"steps": [{"ref": {"apiVersion": "v1", "kind": "Service", "name": "a"}, "delivery": {"retry": 1}},
                                    {"uri": "http://b"}]});
        let mut s = seq(spec);
        assert_eq!(s.spec.steps[1].destination.uri.as_deref(), Some("http://b"));
        s.set_defaults(&ctx());
        assert_eq!(
            s.spec.steps[0]
                .destination
                .ref_
                .as_ref()
                .and_then(|r| r.namespace.as_deref()),
            Some("ns")
        );
        assert_eq!(
            s.spec.channel_template.as_ref().map(|t| t.kind.as_str()),
            Some("DurableChannel")
        );
        let v = serde_json::to_value(&s.spec).unwrap_or_default();
        assert_eq!(v["steps"][1], json!({"uri": "http://b"}));
        assert!(s.validate(&ctx()).is_empty());
    }

    #[test]
    fn validation() {
        let t = json!({"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel"});
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (
                json!({"steps": [{"uri": "http://a"}], "channelTemplate": t}),
                vec![],
            ),
            (json!({"channelTemplate": t}), vec!["spec.steps"]),
            (
                json!({"steps": [{"uri": "http://a"}, {}], "channelTemplate": t}),
                vec!["spec.steps[1]"],
            ),
            (
                json!({"steps": [{"uri": "http://a", "delivery": {"retry": -1}}], "channelTemplate": {"kind": "X"},
                    "reply": {"uri": "rel"}}),
                vec![
                    "spec.steps[0].delivery.retry",
                    "spec.channelTemplate.apiVersion",
                    "spec.reply.uri",
                ],
            ),
            (
                json!({"steps": [{"uri": "http://a"}]}),
                vec!["spec.channelTemplate"],
            ),
        ];
        for (spec, want) in cases {
            let errs = seq(spec.clone()).validate(&ctx());
            let got: Vec<_> = errs.0.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(got, want, "{spec}");
        }
    }

    #[test]
    fn status_round_trips() {
        let v = json!({"conditions": [{"type": "Ready", "status": "Unknown"}],
            "subscriptionStatuses": [{"subscription": {"apiVersion": "messaging.knative.dev/v1", "kind": "Subscription", "name": "s-kn-sequence-0", "namespace": "ns"},
                                      "ready": {"type": "Ready", "status": "True"}}],
            "address": {"url": "http://x"}});
        let s: SequenceStatus = serde_json::from_value(v.clone()).unwrap_or_default();
        assert_eq!(serde_json::to_value(&s).ok(), Some(v));
    }

    #[test]
    fn schema_is_structural() {
        let s = (resource().versions[0].schema)();
        assert!(!s.to_string().contains("$ref"));
        assert!(
            s.pointer("/properties/spec/properties/steps/items/properties/uri")
                .is_some()
        );
    }
}
