//! `Parallel` (flows.knative.dev/v1): fans events out to branches, each with an optional
//! filter, a subscriber and a reply.

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
pub const KIND: &str = "Parallel";

/// Parallel's dependent conditions (`parallel_lifecycle.go`, without EventPoliciesReady).
pub const CONDITIONS: ConditionSet =
    ConditionSet::new(&["ChannelsReady", "SubscriptionsReady", "Addressable"]);

/// One branch of a Parallel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParallelBranch {
    /// Filter is the expression guarding the branch: the event continues to the subscriber
    /// only when the filter returns an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Destination>,
    /// Subscriber receiving the event when the filter passes.
    #[serde(default)]
    pub subscriber: Destination,
    /// Reply is a Reference to where the result of Subscriber of this case gets sent to. If
    /// not specified, sent the result to the Parallel Reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Destination>,
    /// Delivery is the delivery specification for events to the subscriber. This includes
    /// things like retries, DLQ, etc. Needed for Roundtripping v1alpha1 <-> v1beta1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
}

/// ParallelSpec defines the branches of a Parallel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParallelSpec {
    /// Branches is the list of Filter/Subscribers pairs.
    #[serde(default)]
    pub branches: Vec<ParallelBranch>,
    /// ChannelTemplate specifies which Channel CRD to use. If left unspecified, it is set to
    /// the default Channel CRD for the namespace (or cluster, in case there are no defaults
    /// for the namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_template: Option<ChannelTemplateSpec>,
    /// Reply is a Reference to where the result of a case Subscriber gets sent to when the
    /// case does not have a Reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Destination>,
}

/// The status of a Channel a Parallel created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParallelChannelStatus {
    /// Channel is the reference to the underlying channel.
    #[serde(default)]
    pub channel: ObjectReference,
    /// ReadyCondition indicates whether the Channel is ready or not.
    #[serde(default)]
    pub ready: Condition,
}

/// The status of a Subscription a Parallel created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParallelSubscriptionStatus {
    /// Subscription is the reference to the underlying Subscription.
    #[serde(default)]
    pub subscription: ObjectReference,
    /// ReadyCondition indicates whether the Subscription is ready or not.
    #[serde(default)]
    pub ready: Condition,
}

/// The status of one branch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParallelBranchStatus {
    /// FilterSubscriptionStatus corresponds to the filter subscription status.
    #[serde(default)]
    pub filter_subscription_status: ParallelSubscriptionStatus,
    /// FilterChannelStatus corresponds to the filter channel status.
    #[serde(default)]
    pub filter_channel_status: ParallelChannelStatus,
    /// SubscriptionStatus corresponds to the subscriber subscription status.
    #[serde(default)]
    pub subscriber_subscription_status: ParallelSubscriptionStatus,
}

/// ParallelStatus represents the current state of a Parallel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParallelStatus {
    #[serde(flatten)]
    pub status: Status,
    /// IngressChannelStatus corresponds to the ingress channel status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_channel_status: Option<ParallelChannelStatus>,
    /// BranchStatuses is an array of corresponding to branch statuses. Matches the
    /// Spec.Branches array in the order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branch_statuses: Vec<ParallelBranchStatus>,
    /// Address is the ingress channel's address.
    #[serde(flatten)]
    pub address: AddressStatus,
}

pub type Parallel = Object<ParallelSpec, ParallelStatus>;

impl Kind for Parallel {
    fn set_defaults(&mut self, ctx: &Ctx) {
        let ns = self.namespace().to_string();
        if self.spec.channel_template.is_none() {
            self.spec.channel_template = Some(default_channel_template(ctx, &ns));
        }
        for b in &mut self.spec.branches {
            default_destination_namespace(&mut b.subscriber, &ns);
            for d in [&mut b.filter, &mut b.reply].into_iter().flatten() {
                default_destination_namespace(d, &ns);
            }
        }
        if let Some(r) = &mut self.spec.reply {
            default_destination_namespace(r, &ns);
        }
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if self.spec.branches.is_empty() {
            errs.push(FieldError::required("spec.branches"));
        }
        for (i, b) in self.spec.branches.iter().enumerate() {
            let at = format!("spec.branches[{i}]");
            if let Some(f) = &b.filter {
                errs.extend_at(&format!("{at}.filter"), validate_destination(f));
            }
            errs.extend_at(
                &format!("{at}.subscriber"),
                validate_destination(&b.subscriber),
            );
            if let Some(r) = &b.reply {
                errs.extend_at(&format!("{at}.reply"), validate_destination(r));
            }
            if let Some(d) = &b.delivery {
                errs.extend_at(&format!("{at}.delivery"), validate_delivery(d));
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

/// The Parallel resource (v1).
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "parallels",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![ServedVersion {
            group: GROUP,
            version: "v1",
            kind: KIND,
            plural: "parallels",
            singular: "parallel",
            short_names: &[],
            categories: &["all", "knative", "flows"],
            columns: &COLUMNS,
            deprecated: None,
            schema: || {
                described::<Parallel>(
                    "Parallel defines conditional branches that will be wired in series through Channels and Subscriptions.",
                )
            },
            to_storage: |v| Ok(set_type(v, API_VERSION, KIND)),
            from_storage: |v| Ok(set_type(v, API_VERSION, KIND)),
        }],
        hooks: Box::new(Typed::<Parallel>::new()),
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

    fn par(spec: Value) -> Parallel {
        decode(&json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": spec}))
            .unwrap_or_default()
    }

    #[test]
    fn defaults() {
        let mut p = par(
            json!({"branches": [{"filter": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "f"}},
                                              "subscriber": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "s"}}}]}),
        );
        p.set_defaults(&ctx());
        let b = &p.spec.branches[0];
        for d in [b.filter.as_ref(), Some(&b.subscriber)] {
            assert_eq!(
                d.and_then(|d| d.ref_.as_ref())
                    .and_then(|r| r.namespace.as_deref()),
                Some("ns")
            );
        }
        assert!(p.spec.channel_template.is_some());
        assert!(p.validate(&ctx()).is_empty());
    }

    #[test]
    fn validation() {
        let t = json!({"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel"});
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (
                json!({"branches": [{"subscriber": {"uri": "http://a"}}], "channelTemplate": t}),
                vec![],
            ),
            (json!({"channelTemplate": t}), vec!["spec.branches"]),
            (
                json!({"branches": [{"subscriber": {"uri": "http://a"}}, {"filter": {"uri": "x"}, "reply": {}}],
                    "channelTemplate": t}),
                vec![
                    "spec.branches[1].filter.uri",
                    "spec.branches[1].subscriber",
                    "spec.branches[1].reply",
                ],
            ),
            (
                json!({"branches": [{"subscriber": {"uri": "http://a"}, "delivery": {"timeout": "bad"}}],
                    "channelTemplate": t, "reply": {"uri": "/r"}}),
                vec!["spec.branches[0].delivery.timeout", "spec.reply.uri"],
            ),
        ];
        for (spec, want) in cases {
            let errs = par(spec.clone()).validate(&ctx());
            let got: Vec<_> = errs.0.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(got, want, "{spec}");
        }
    }

    #[test]
    fn schema_is_structural() {
        assert!(
            !(resource().versions[0].schema)()
                .to_string()
                .contains("$ref")
        );
    }
}
