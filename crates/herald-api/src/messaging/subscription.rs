//! `Subscription` (messaging.knative.dev/v1): routes events received on a Channel to a
//! subscriber, and its reply to `reply`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::ConditionSet;
use crate::eventing::support::described;
use crate::field::{FieldError, FieldErrors};
use crate::meta::{DeliverySpec, Destination, KReference, Status};
use crate::object::Object;
use crate::registry::{
    AGE_COLUMN, Ctx, Kind, PrinterColumn, READY_COLUMN, REASON_COLUMN, Resource, ServedVersion,
    Typed, set_type,
};
use crate::validation::{validate_delivery, validate_destination};

use crate::eventing::support::{check_immutable, default_destination_namespace};

pub const GROUP: &str = "messaging.knative.dev";
pub const API_VERSION: &str = "messaging.knative.dev/v1";
pub const KIND: &str = "Subscription";

/// Subscription's dependent conditions (`subscription_lifecycle.go`, without
/// OIDCIdentityCreated).
pub const CONDITIONS: ConditionSet =
    ConditionSet::new(&["ReferencesResolved", "AddedToChannel", "ChannelReady"]);

/// SubscriptionSpec specifies the Channel for incoming events, a Subscriber target for
/// processing those events and where to put the result of the processing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionSpec {
    /// Reference to a channel that will be used to create the subscription. The channel must
    /// be in the Subscription's namespace. This field is immutable.
    #[serde(default)]
    pub channel: KReference,
    /// Subscriber is reference to function for processing events. Events from the Channel
    /// will be delivered here and replies are sent to a Destination as specified by the
    /// Reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber: Option<Destination>,
    /// Reply specifies (optionally) how to handle events returned from the Subscriber target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Destination>,
    /// Delivery configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
}

/// The fully resolved URIs of a Subscription.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionStatusPhysicalSubscription {
    /// SubscriberURI is the fully resolved URI for spec.subscriber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber_uri: Option<String>,
    /// SubscriberCACerts is the CA certificates of the subscriber.
    #[serde(
        default,
        rename = "subscriberCACerts",
        skip_serializing_if = "Option::is_none"
    )]
    pub subscriber_ca_certs: Option<String>,
    /// SubscriberAudience is the OIDC audience for the subscriber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber_audience: Option<String>,
    /// ReplyURI is the fully resolved URI for the spec.reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_uri: Option<String>,
    /// ReplyCACerts is the CA certificates of the reply.
    #[serde(
        default,
        rename = "replyCACerts",
        skip_serializing_if = "Option::is_none"
    )]
    pub reply_ca_certs: Option<String>,
    /// ReplyAudience is the OIDC audience for the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_audience: Option<String>,
    /// DeadLetterSinkURI is the fully resolved URI for the spec.delivery.deadLetterSink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_sink_uri: Option<String>,
    /// DeadLetterSinkCACerts is the CA certificates of the dead letter sink.
    #[serde(
        default,
        rename = "deadLetterSinkCACerts",
        skip_serializing_if = "Option::is_none"
    )]
    pub dead_letter_sink_ca_certs: Option<String>,
    /// DeadLetterSinkAudience is the OIDC audience for the dead letter sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_sink_audience: Option<String>,
}

/// SubscriptionStatus (computed) for a subscription.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionStatus {
    #[serde(flatten)]
    pub status: Status,
    /// PhysicalSubscription is the fully resolved values that this Subscription represents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_subscription: Option<SubscriptionStatusPhysicalSubscription>,
}

pub type Subscription = Object<SubscriptionSpec, SubscriptionStatus>;

fn is_empty_destination(d: &Option<Destination>) -> bool {
    d.as_ref().is_none_or(|d| *d == Destination::default())
}

impl Kind for Subscription {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        let ns = self.namespace().to_string();
        for d in [&mut self.spec.subscriber, &mut self.spec.reply]
            .into_iter()
            .flatten()
        {
            default_destination_namespace(d, &ns);
        }
        if let Some(dls) = self
            .spec
            .delivery
            .as_mut()
            .and_then(|d| d.dead_letter_sink.as_mut())
        {
            default_destination_namespace(dls, &ns);
        }
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let s = &self.spec;
        let c = &s.channel;
        if c.kind.is_empty() && c.name.is_empty() && c.api_version.is_empty() {
            errs.push(FieldError::new(
                "spec.channel",
                crate::field::FieldReason::Required,
                "missing field(s): the Subscription must reference a channel",
            ));
            return errs;
        }
        for (field, value) in [
            ("apiVersion", &c.api_version),
            ("kind", &c.kind),
            ("name", &c.name),
        ] {
            if value.is_empty() {
                errs.push(FieldError::required(format!("spec.channel.{field}")));
            }
        }
        if let Some(ns) = c.namespace.as_deref()
            && !ns.is_empty()
            && ns != self.namespace()
        {
            errs.push(FieldError::invalid(
                "spec.channel.namespace",
                format!(
                    "channel namespace must be empty or equal to the Subscription namespace {:?}",
                    self.namespace()
                ),
            ));
        }
        let (no_sub, no_reply) = (
            is_empty_destination(&s.subscriber),
            is_empty_destination(&s.reply),
        );
        if no_sub && no_reply {
            errs.push(FieldError::new(
                "spec.subscriber",
                crate::field::FieldReason::Required,
                "missing field(s): reply, subscriber: the Subscription must reference at least one of (reply or a subscriber)",
            ));
        }
        if let (false, Some(d)) = (no_sub, &s.subscriber) {
            errs.extend_at("spec.subscriber", validate_destination(d));
        }
        if let (false, Some(d)) = (no_reply, &s.reply) {
            errs.extend_at("spec.reply", validate_destination(d));
        }
        if let Some(d) = &s.delivery {
            errs.extend_at("spec.delivery", validate_delivery(d));
        }
        errs
    }

    fn validate_update(&self, old: &Self, _ctx: &Ctx) -> FieldErrors {
        // Only subscriber and reply are mutable (Knative ignores only those in the diff).
        let mut errs = FieldErrors::new();
        check_immutable(
            &mut errs,
            "spec.channel",
            &old.spec.channel,
            &self.spec.channel,
        );
        check_immutable(
            &mut errs,
            "spec.delivery",
            &old.spec.delivery,
            &self.spec.delivery,
        );
        errs
    }
}

pub static COLUMNS: [PrinterColumn; 3] = [AGE_COLUMN, READY_COLUMN, REASON_COLUMN];

/// The Subscription resource (v1).
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "subscriptions",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![ServedVersion {
            group: GROUP,
            version: "v1",
            kind: KIND,
            plural: "subscriptions",
            singular: "subscription",
            short_names: &["sub"],
            categories: &["all", "knative", "messaging"],
            columns: &COLUMNS,
            deprecated: None,
            schema: || {
                described::<Subscription>(
                    "Subscription routes events received on a Channel to a DNS name and corresponds to the subscriptions.channels.knative.dev CRD.",
                )
            },
            to_storage: |v| Ok(set_type(v, API_VERSION, KIND)),
            from_storage: |v| Ok(set_type(v, API_VERSION, KIND)),
        }],
        hooks: Box::new(Typed::<Subscription>::new()),
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

    fn sub(spec: Value) -> Subscription {
        decode(&json!({"metadata": {"name": "s", "namespace": "ns"}, "spec": spec}))
            .unwrap_or_default()
    }

    #[test]
    fn defaults() {
        let mut s = sub(
            json!({"channel": {"apiVersion": "messaging.knative.dev/v1", "kind": "Channel", "name": "c"},
            "subscriber": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "svc"}},
            "reply": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "r", "namespace": "other"}}}),
        );
        s.set_defaults(&ctx());
        let ns = |d: &Option<Destination>| {
            d.as_ref()
                .and_then(|d| d.ref_.as_ref())
                .and_then(|r| r.namespace.clone())
        };
        assert_eq!(ns(&s.spec.subscriber).as_deref(), Some("ns"));
        assert_eq!(ns(&s.spec.reply).as_deref(), Some("other"));
    }

    #[test]
    fn validation() {
        let ch = json!({"apiVersion": "messaging.knative.dev/v1", "kind": "Channel", "name": "c"});
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (
                json!({"channel": ch, "subscriber": {"uri": "http://x"}}),
                vec![],
            ),
            (json!({"channel": ch, "reply": {"uri": "http://x"}}), vec![]),
            (
                json!({"subscriber": {"uri": "http://x"}}),
                vec!["spec.channel"],
            ),
            (
                json!({"channel": {"kind": "Channel", "name": "c"}, "subscriber": {"uri": "http://x"}}),
                vec!["spec.channel.apiVersion"],
            ),
            (
                json!({"channel": {"apiVersion": "a/v1", "kind": "Channel", "name": "c", "namespace": "other"},
                    "subscriber": {"uri": "http://x"}}),
                vec!["spec.channel.namespace"],
            ),
            (json!({"channel": ch}), vec!["spec.subscriber"]),
            (
                json!({"channel": ch, "subscriber": {}}),
                vec!["spec.subscriber"],
            ),
            (
                json!({"channel": ch, "subscriber": {"uri": "rel"}, "reply": {"ref": {"kind": "K", "name": "n"}}}),
                vec!["spec.subscriber.uri", "spec.reply.ref.apiVersion"],
            ),
            (
                json!({"channel": ch, "subscriber": {"uri": "http://x"}, "delivery": {"retry": -2}}),
                vec!["spec.delivery.retry"],
            ),
        ];
        for (spec, want) in cases {
            let errs = sub(spec.clone()).validate(&ctx());
            let got: Vec<_> = errs.0.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(got, want, "{spec}");
        }
    }

    #[test]
    fn immutability() {
        let ch = json!({"apiVersion": "messaging.knative.dev/v1", "kind": "Channel", "name": "c"});
        let old = sub(json!({"channel": ch, "subscriber": {"uri": "http://x"}}));
        let mut new = old.clone();
        new.spec.channel.name = "d".into();
        new.spec.subscriber = Some(Destination {
            uri: Some("http://y".into()),
            ..Default::default()
        });
        let errs = new.validate_update(&old, &ctx());
        let got: Vec<_> = errs.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(got, vec!["spec.channel"]);
        assert_eq!(errs.0[0].message, "Immutable fields changed (-old +new)");
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
