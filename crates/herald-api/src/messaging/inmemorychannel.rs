//! `InMemoryChannel` (messaging.knative.dev/v1, storage) and the legacy `v1alpha1` form,
//! whose subscribers live under `spec.subscribable.subscribers`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conditions::ConditionSet;
use crate::eventing::support::described;
use crate::field::FieldErrors;
use crate::meta::DeliverySpec;
use crate::object::Object;
use crate::registry::{ConvertFn, Ctx, Kind, Resource, ServedVersion, Typed, set_type};
use crate::validation::validate_delivery;

use super::channel::COLUMNS;
use super::channelable::{ChannelableStatus, SubscriberSpec};
use crate::eventing::support::{convert_lossless, put_spec, spec_of};

pub const GROUP: &str = "messaging.knative.dev";
pub const API_VERSION: &str = "messaging.knative.dev/v1";
pub const LEGACY_API_VERSION: &str = "messaging.knative.dev/v1alpha1";
pub const KIND: &str = "InMemoryChannel";

/// InMemoryChannel's dependent conditions. Knative's set also has `ServiceReady`,
/// `EndpointsReady` and `ChannelServiceReady`, which track the Kubernetes Service and pods of
/// the dispatcher; Herald dispatches in-process, so `DispatcherReady` (the channel is in the
/// applied data-plane Plan) covers them.
pub const CONDITIONS: ConditionSet =
    ConditionSet::new(&["DispatcherReady", "Addressable", "DeadLetterSinkResolved"]);

/// InMemoryChannelSpec defines which subscribers have expressed interest in receiving events
/// from this InMemoryChannel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InMemoryChannelSpec {
    /// This is the list of subscriptions for this subscribable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribers: Vec<SubscriberSpec>,
    /// DeliverySpec contains the default delivery spec for each subscription to this
    /// Channelable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
}

pub type InMemoryChannel = Object<InMemoryChannelSpec, ChannelableStatus>;

impl Kind for InMemoryChannel {
    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if let Some(d) = &self.spec.delivery {
            errs.extend_at("spec.delivery", validate_delivery(d));
        }
        for (i, s) in self.spec.subscribers.iter().enumerate() {
            if let Some(d) = &s.delivery {
                errs.extend_at(
                    &format!("spec.subscribers[{i}].delivery"),
                    validate_delivery(d),
                );
            }
        }
        errs
    }
}

/// A v1alpha1 subscriber (`duck/v1alpha1` `SubscriberSpec`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriberSpecV1Alpha1 {
    /// UID is used to understand the origin of the subscriber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Generation of the origin of the subscriber with uid:UID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// SubscriberURI is the endpoint for the subscriber.
    #[serde(
        default,
        rename = "subscriberURI",
        skip_serializing_if = "Option::is_none"
    )]
    pub subscriber_uri: Option<String>,
    /// ReplyURI is the endpoint for the reply.
    #[serde(default, rename = "replyURI", skip_serializing_if = "Option::is_none")]
    pub reply_uri: Option<String>,
    /// Delivery options for this subscriber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
}

/// v1alpha1 `spec.subscribable`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscribable {
    /// This is the list of subscriptions for this subscribable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribers: Vec<SubscriberSpecV1Alpha1>,
}

/// The v1alpha1 InMemoryChannel spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InMemoryChannelSpecV1Alpha1 {
    /// Channel conforms to Duck type Subscribable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribable: Option<Subscribable>,
    /// For round tripping (v1beta1 <-> v1alpha1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
}

pub type InMemoryChannelV1Alpha1 = Object<InMemoryChannelSpecV1Alpha1, ChannelableStatus>;

fn up(mut v: Value) -> Result<Value, FieldErrors> {
    let l: InMemoryChannelSpecV1Alpha1 = spec_of(&v)?;
    let subscribers = l
        .subscribable
        .map(|s| s.subscribers)
        .unwrap_or_default()
        .into_iter()
        .map(|s| SubscriberSpec {
            uid: s.uid,
            generation: s.generation,
            subscriber_uri: s.subscriber_uri,
            reply_uri: s.reply_uri,
            delivery: s.delivery,
            ..Default::default()
        })
        .collect();
    put_spec(
        &mut v,
        &InMemoryChannelSpec {
            subscribers,
            delivery: l.delivery,
        },
    )?;
    Ok(set_type(v, API_VERSION, KIND))
}

fn down(mut v: Value) -> Result<Value, FieldErrors> {
    let s: InMemoryChannelSpec = spec_of(&v)?;
    let subscribers: Vec<_> = s
        .subscribers
        .into_iter()
        .map(|s| SubscriberSpecV1Alpha1 {
            uid: s.uid,
            generation: s.generation,
            subscriber_uri: s.subscriber_uri,
            reply_uri: s.reply_uri,
            delivery: s.delivery,
        })
        .collect();
    put_spec(
        &mut v,
        &InMemoryChannelSpecV1Alpha1 {
            subscribable: (!subscribers.is_empty()).then_some(Subscribable { subscribers }),
            delivery: s.delivery,
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

/// The InMemoryChannel resource: v1 (storage) and v1alpha1.
pub fn resource() -> Resource {
    let served = |version: &'static str,
                  schema: fn() -> Value,
                  to_storage: ConvertFn,
                  from_storage: ConvertFn| ServedVersion {
        group: GROUP,
        version,
        kind: KIND,
        plural: "inmemorychannels",
        singular: "inmemorychannel",
        short_names: &["imc"],
        categories: &["all", "knative", "messaging", "channel"],
        columns: &COLUMNS,
        deprecated: None,
        schema,
        to_storage,
        from_storage,
    };
    Resource {
        group: GROUP,
        plural: "inmemorychannels",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![
            served(
                "v1",
                || {
                    described::<InMemoryChannel>(
                        "InMemoryChannel is a resource representing an in memory channel. Events are not persisted.",
                    )
                },
                |v| Ok(set_type(v, API_VERSION, KIND)),
                |v| Ok(set_type(v, API_VERSION, KIND)),
            ),
            served(
                "v1alpha1",
                || {
                    described::<InMemoryChannelV1Alpha1>(
                        "InMemoryChannel (v1alpha1, converted to messaging.knative.dev/v1) is a resource representing an in memory channel.",
                    )
                },
                to_storage_v1alpha1,
                from_storage_v1alpha1,
            ),
        ],
        hooks: Box::new(Typed::<InMemoryChannel>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{NoConfig, decode};
    use serde_json::json;

    #[test]
    fn validation() {
        let ctx = Ctx { config: &NoConfig };
        let c: InMemoryChannel = decode(&json!({"spec": {"delivery": {"retry": -1},
            "subscribers": [{"uid": "u", "delivery": {"timeout": "PT0S"}}]}}))
        .unwrap_or_default();
        let paths: Vec<_> = c.validate(&ctx).0.into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            vec![
                "spec.delivery.retry",
                "spec.subscribers[0].delivery.timeout"
            ]
        );
    }

    #[test]
    fn v1alpha1_round_trips() {
        let legacy = json!({
            "apiVersion": LEGACY_API_VERSION, "kind": KIND, "metadata": {"name": "imc"},
            "spec": {"subscribable": {"subscribers": [{"uid": "u1", "generation": 1,
                "subscriberURI": "http://s", "replyURI": "http://r"}]}}
        });
        let r = resource();
        let storage = (r.versions[1].to_storage)(legacy.clone()).unwrap_or_default();
        assert_eq!(storage["apiVersion"], json!(API_VERSION));
        assert_eq!(
            storage["spec"]["subscribers"],
            json!([{"uid": "u1", "generation": 1, "subscriberUri": "http://s", "replyUri": "http://r"}])
        );
        let back = (r.versions[1].from_storage)(storage).unwrap_or_default();
        assert_eq!(back, legacy);
        // v1-only subscriber fields survive a v1alpha1 read-modify-write.
        let v1 = json!({"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "imc"},
            "spec": {"subscribers": [{"uid": "u1", "subscriberUri": "http://s", "subscriberAudience": "aud"}]}});
        let l = (r.versions[1].from_storage)(v1.clone()).unwrap_or_default();
        assert_eq!((r.versions[1].to_storage)(l).unwrap_or_default(), v1);
    }

    #[test]
    fn schemas_are_structural() {
        for v in resource().versions {
            assert!(!(v.schema)().to_string().contains("$ref"), "{}", v.version);
        }
    }
}
