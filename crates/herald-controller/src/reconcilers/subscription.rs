//! Subscription: channel, subscriber, reply and dead-letter sink resolved into
//! `status.physicalSubscription`, `ChannelReady` from the channel, and `AddedToChannel` from the
//! channel data plane.

use herald_api::meta::{ConditionStatus, Destination};

use super::Outcome;
use super::common::*;
use crate::env::{DataPlaneKind, Env};
use crate::resolve::{Resolved, lookup};
use crate::view::{View, str_at};

pub const REFERENCES_RESOLVED: &str = "ReferencesResolved";
pub const ADDED_TO_CHANNEL: &str = "AddedToChannel";
pub const CHANNEL_READY: &str = "ChannelReady";

pub use herald_api::messaging::subscription::{
    CONDITIONS, Subscription, SubscriptionSpec, SubscriptionStatus,
    SubscriptionStatusPhysicalSubscription as PhysicalSubscription,
};

pub fn reconcile(s: &Subscription, view: &dyn View, env: &Env) -> Outcome<SubscriptionStatus> {
    let (ns, now) = (s.namespace(), env.now.as_str());
    let mut st = s.status.clone().unwrap_or_default();
    let set = &CONDITIONS;
    let c = &mut st.status.conditions;
    set.initialize(c, now);
    mark_disabled_features(set, c, now);

    // Knative requires the channel in the Subscription's own namespace.
    let mut channel_ref = s.spec.channel.clone();
    channel_ref.namespace = None;
    let channel = lookup(&channel_ref, ns, view, &env.registry);
    let resolve_opt = |d: &Option<Destination>| d.as_ref().map(|d| resolve_dest(d, ns, view, env));
    let subscriber = resolve_opt(&s.spec.subscriber);
    let reply = resolve_opt(&s.spec.reply);
    let dls = s
        .spec
        .delivery
        .as_ref()
        .and_then(|d| d.dead_letter_sink.as_ref())
        .map(|d| resolve_dest(d, ns, view, env));

    let ps = st
        .physical_subscription
        .get_or_insert_with(PhysicalSubscription::default);
    let ok = |r: &Option<Result<Resolved, _>>| r.as_ref().and_then(|r| r.as_ref().ok()).cloned();
    let (sub, rep) = (ok(&subscriber), ok(&reply));
    ps.subscriber_uri = sub.as_ref().map(|r| r.uri.clone());
    ps.subscriber_ca_certs = sub.as_ref().and_then(|r| r.ca_certs.clone());
    ps.subscriber_audience = sub.and_then(|r| r.audience);
    ps.reply_uri = rep.as_ref().map(|r| r.uri.clone());
    ps.reply_ca_certs = rep.as_ref().and_then(|r| r.ca_certs.clone());
    ps.reply_audience = rep.and_then(|r| r.audience);
    // No own dead-letter sink: the channel's (as Knative's subscription reconciler).
    let dls_ok = match &dls {
        Some(r) => r.as_ref().ok().cloned(),
        None => channel
            .as_ref()
            .ok()
            .map(|(_, ch, _)| str_at(ch, "/status/deadLetterSinkUri"))
            .filter(|u| !u.is_empty())
            .map(|u| Resolved {
                uri: u.to_string(),
                ..Default::default()
            }),
    };
    ps.dead_letter_sink_uri = dls_ok.as_ref().map(|r| r.uri.clone());
    ps.dead_letter_sink_ca_certs = dls_ok.as_ref().and_then(|r| r.ca_certs.clone());
    ps.dead_letter_sink_audience = dls_ok.and_then(|r| r.audience);

    let failure = [
        (
            "ChannelReferenceFailed",
            "spec.channel",
            channel.as_ref().err(),
        ),
        (
            "SubscriberResolveFailed",
            "spec.subscriber",
            subscriber.as_ref().and_then(|r| r.as_ref().err()),
        ),
        (
            "ReplyResolveFailed",
            "spec.reply",
            reply.as_ref().and_then(|r| r.as_ref().err()),
        ),
        (
            "DeadLetterSinkResolveFailed",
            "spec.delivery.deadLetterSink",
            dls.as_ref().and_then(|r| r.as_ref().err()),
        ),
    ]
    .into_iter()
    .find_map(|(reason, field, e)| e.map(|e| (reason, format!("Failed to resolve {field}: {e}"))));
    match failure {
        Some((reason, message)) => set.mark_false(c, REFERENCES_RESOLVED, reason, &message, now),
        None => set.mark_true(c, REFERENCES_RESOLVED, now),
    }

    match &channel {
        Ok((_, ch, _)) => match ready_condition(ch) {
            Some(r) if r.status == ConditionStatus::True => set.mark_true(c, CHANNEL_READY, now),
            r => {
                let detail = r
                    .and_then(|r| r.message.or(r.reason))
                    .unwrap_or_else(|| "not reconciled yet".into());
                set.mark_false(
                    c,
                    CHANNEL_READY,
                    "ChannelNotReady",
                    &format!("Channel is not ready: {detail}"),
                    now,
                );
            }
        },
        Err(e) => set.mark_false(c, CHANNEL_READY, "ChannelReferenceFailed", &e.message, now),
    }

    let data_plane = remaining(set, &[CHANNEL_READY, REFERENCES_RESOLVED]);
    // Ready only once the channel's dispatcher runs this generation of the Subscription.
    let readiness = env.data_plane_at(
        DataPlaneKind::Subscription,
        ns,
        s.name(),
        s.metadata.generation.unwrap_or(0),
    );
    mark_data_plane(set, c, &data_plane, &readiness, now);
    Outcome::status(st)
}

pub fn reconcile_json(
    obj: &serde_json::Value,
    view: &dyn View,
    env: &Env,
) -> Result<Outcome, super::ReconcileError> {
    super::typed(obj, view, env, reconcile)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, IMCS, cond};
    use serde_json::{Value, json};

    fn sub(channel: &str, extra: Value) -> Value {
        let mut s = json!({"apiVersion": "messaging.knative.dev/v1", "kind": "Subscription",
            "metadata": {"namespace": "ns", "name": "s", "generation": 1},
            "spec": {"channel": {"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel", "name": channel},
                     "subscriber": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "annotated"}}}});
        if let Some(e) = extra.as_object() {
            for (k, v) in e {
                s["spec"][k] = v.clone();
            }
        }
        s
    }

    #[test]
    fn table() {
        let view = testing::view().with(
            IMCS,
            json!({"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel",
                   "metadata": {"namespace": "ns", "name": "ch"},
                   "status": {"address": {"url": "http://in/channels/ns/ch"}, "deadLetterSinkUri": "http://ch-dls",
                              "conditions": [{"type": "Ready", "status": "False", "reason": "DataPlaneUnavailable", "message": "no dp"}]}}),
        );
        let env = testing::env();
        type Want = &'static [(&'static str, &'static str, &'static str)];
        let cases: Vec<(&str, Value, Want, Value)> = vec![
            (
                "missing channel",
                sub("nope", json!({})),
                &[
                    ("ReferencesResolved", "False", "ChannelReferenceFailed"),
                    ("ChannelReady", "False", "ChannelReferenceFailed"),
                    ("AddedToChannel", "False", "DataPlaneUnavailable"),
                ],
                json!({"subscriberUri": "http://localhost:9000/hook"}),
            ),
            (
                "resolved, channel dls inherited",
                sub("ch", json!({"reply": {"uri": "http://reply"}})),
                &[
                    ("ReferencesResolved", "True", ""),
                    ("ChannelReady", "False", "ChannelNotReady"),
                    ("Ready", "False", "DataPlaneUnavailable"),
                ],
                json!({"subscriberUri": "http://localhost:9000/hook", "replyUri": "http://reply", "deadLetterSinkUri": "http://ch-dls"}),
            ),
            (
                "bad reply",
                sub(
                    "ch",
                    json!({"reply": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "plain"}}, "delivery": {"deadLetterSink": {"uri": "http://own"}}}),
                ),
                &[("ReferencesResolved", "False", "ReplyResolveFailed")],
                json!({"subscriberUri": "http://localhost:9000/hook", "deadLetterSinkUri": "http://own"}),
            ),
        ];
        for (name, obj, want, physical) in cases {
            let st = reconcile_json(&obj, &view, &env)
                .map(|o| o.status)
                .unwrap_or_default();
            for (t, s, r) in want {
                assert_eq!(cond(&st, t), (s.to_string(), r.to_string()), "{name}: {t}");
            }
            assert_eq!(st["physicalSubscription"], physical, "{name}");
        }
    }
}
