//! `Channel` (messaging.knative.dev/v1): a channel whose implementation is chosen by its
//! `channelTemplate` (the backing channel).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::ConditionSet;
use crate::eventing::support::described;
use crate::field::FieldErrors;
use crate::meta::{DeliverySpec, KReference};
use crate::object::Object;
use crate::registry::{
    AGE_COLUMN, Ctx, Kind, PrinterColumn, READY_COLUMN, REASON_COLUMN, Resource, ServedVersion,
    Typed, set_type,
};
use crate::validation::validate_delivery;

use super::channelable::{
    ChannelTemplateSpec, ChannelableStatus, SubscriberSpec, default_channel_template,
};
use crate::eventing::support::check_immutable;

pub const GROUP: &str = "messaging.knative.dev";
pub const API_VERSION: &str = "messaging.knative.dev/v1";
pub const KIND: &str = "Channel";

/// Channel's dependent conditions (`channel_lifecycle.go`, without EventPoliciesReady).
pub const CONDITIONS: ConditionSet = ConditionSet::new(&[
    "BackingChannelReady",
    "Addressable",
    "DeadLetterSinkResolved",
]);

/// ChannelSpec defines which subscribers have expressed interest in receiving events from
/// this Channel, and which backing channel implements it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelSpec {
    /// ChannelTemplate specifies which Channel CRD to use to create the CRD Channel backing
    /// this Channel. This is immutable after creation. Normally this is set by the Channel
    /// defaulter, not directly by the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_template: Option<ChannelTemplateSpec>,
    /// This is the list of subscriptions for this subscribable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribers: Vec<SubscriberSpec>,
    /// DeliverySpec contains the default delivery spec for each subscription to this
    /// Channelable. Each subscription delivery spec, if any, overrides this global delivery
    /// spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
}

/// ChannelStatus represents the current state of a Channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelStatus {
    #[serde(flatten)]
    pub channelable: ChannelableStatus,
    /// Channel is an KReference to the Channel CRD backing this Channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<KReference>,
}

pub type Channel = Object<ChannelSpec, ChannelStatus>;

impl Kind for Channel {
    fn set_defaults(&mut self, ctx: &Ctx) {
        if self.spec.channel_template.is_none() {
            let ns = self.namespace().to_string();
            self.spec.channel_template = Some(default_channel_template(ctx, &ns));
        }
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        match &self.spec.channel_template {
            Some(t) => errs.extend_at("spec.channelTemplate", t.validate()),
            None => errs.push(crate::field::FieldError::required("spec.channelTemplate")),
        }
        if let Some(d) = &self.spec.delivery {
            errs.extend_at("spec.delivery", validate_delivery(d));
        }
        errs
    }

    fn validate_update(&self, old: &Self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        check_immutable(
            &mut errs,
            "spec.channelTemplate",
            &old.spec.channel_template,
            &self.spec.channel_template,
        );
        errs
    }
}

/// URL, Age, Ready, Reason: the columns of every channel kind.
pub static COLUMNS: [PrinterColumn; 4] = [
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
];

/// The Channel resource (v1).
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "channels",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![ServedVersion {
            group: GROUP,
            version: "v1",
            kind: KIND,
            plural: "channels",
            singular: "channel",
            short_names: &["ch"],
            categories: &["all", "knative", "messaging", "channel"],
            columns: &COLUMNS,
            deprecated: None,
            schema: || {
                described::<Channel>(
                    "Channel represents a generic Channel. It is normally used when we want a Channel, but do not care much about what the underlying implementation is.",
                )
            },
            to_storage: |v| Ok(set_type(v, API_VERSION, KIND)),
            from_storage: |v| Ok(set_type(v, API_VERSION, KIND)),
        }],
        hooks: Box::new(Typed::<Channel>::new()),
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

    fn channel(v: serde_json::Value) -> Channel {
        decode(&v).unwrap_or_default()
    }

    #[test]
    fn defaults_template() {
        let mut c = channel(json!({"metadata": {"name": "c", "namespace": "ns"}}));
        c.set_defaults(&ctx());
        let t = c.spec.channel_template.clone().unwrap_or_default();
        assert_eq!(
            (t.api_version.as_str(), t.kind.as_str()),
            ("messaging.herald.dev/v1", "DurableChannel"),
            "Herald is durable by default"
        );
        assert!(c.validate(&ctx()).is_empty());
    }

    #[test]
    fn validation_and_immutability() {
        let cases: Vec<(serde_json::Value, Vec<&str>)> = vec![
            (
                json!({"channelTemplate": {"apiVersion": "a/v1", "kind": "K"}}),
                vec![],
            ),
            (json!({}), vec!["spec.channelTemplate"]),
            (
                json!({"channelTemplate": {"kind": "K"}, "delivery": {"backoffDelay": "soon"}}),
                vec![
                    "spec.channelTemplate.apiVersion",
                    "spec.delivery.backoffDelay",
                ],
            ),
        ];
        for (spec, want) in cases {
            let errs = channel(json!({"spec": spec})).validate(&ctx());
            let got: Vec<_> = errs.0.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(got, want, "{spec}");
        }
        let old =
            channel(json!({"spec": {"channelTemplate": {"apiVersion": "a/v1", "kind": "K"}}}));
        let new =
            channel(json!({"spec": {"channelTemplate": {"apiVersion": "a/v1", "kind": "J"}}}));
        let errs = new.validate_update(&old, &ctx());
        assert_eq!(errs.0[0].path, "spec.channelTemplate");
        let mut ok = old.clone();
        ok.spec.subscribers.push(SubscriberSpec::default());
        assert!(ok.validate_update(&old, &ctx()).is_empty());
    }

    #[test]
    fn schema_is_structural() {
        let s = (resource().versions[0].schema)();
        assert!(!s.to_string().contains("$ref"));
        assert_eq!(
            s.pointer("/properties/spec/properties/channelTemplate/properties/spec/x-kubernetes-preserve-unknown-fields"),
            Some(&json!(true))
        );
    }
}
