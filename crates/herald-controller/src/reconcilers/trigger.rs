//! Trigger: its broker's readiness, subscriber and dead-letter sink resolution, the
//! `knative.dev/dependency` annotation, and subscription readiness from the broker's data plane.

use herald_api::meta::{ConditionStatus, KReference};

use super::Outcome;
use super::common::*;
use crate::env::{DataPlaneKind, Env};
use crate::resolve::{self, Resolved, lookup};
use crate::view::{View, str_at};

pub const BROKER_READY: &str = "BrokerReady";
pub const SUBSCRIBER_RESOLVED: &str = "SubscriberResolved";
pub const DEPENDENCY_READY: &str = "DependencyReady";
pub const SUBSCRIPTION_READY: &str = "SubscriptionReady";
pub use herald_api::eventing::trigger::DEPENDENCY_ANNOTATION;

pub use herald_api::eventing::trigger::{CONDITIONS, Trigger, TriggerSpec, TriggerStatus};

/// (namespace, name) of the trigger's broker: `spec.brokerRef` wins over `spec.broker`.
pub fn broker_of(t: &Trigger) -> (&str, &str) {
    match &t.spec.broker_ref {
        Some(r) => (
            r.namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(t.namespace()),
            r.name.as_str(),
        ),
        None => (t.namespace(), t.spec.broker.as_str()),
    }
}

pub fn reconcile(t: &Trigger, view: &dyn View, env: &Env) -> Outcome<TriggerStatus> {
    let (ns, now) = (t.namespace(), env.now.as_str());
    let mut st = t.status.clone().unwrap_or_default();
    let set = &CONDITIONS;
    let c = &mut st.status.conditions;
    set.initialize(c, now);
    mark_disabled_features(set, c, now);

    let (broker_ns, broker_name) = broker_of(t);
    let broker = env
        .registry
        .lookup_group_kind("eventing.knative.dev", "Broker")
        .and_then(|r| view.get(&r.key(), broker_ns, broker_name));
    match &broker {
        None => set.mark_false(
            c,
            BROKER_READY,
            "BrokerDoesNotExist",
            &format!("Broker {broker_name:?} does not exist"),
            now,
        ),
        Some(b) => match ready_condition(b) {
            Some(r) if r.status == ConditionStatus::True => set.mark_true(c, BROKER_READY, now),
            Some(r) => {
                let reason = r.reason.as_deref().unwrap_or("BrokerNotReady");
                let message = r.message.as_deref().unwrap_or("The broker is not ready");
                if r.status == ConditionStatus::False {
                    set.mark_false(c, BROKER_READY, reason, message, now);
                } else {
                    set.mark_unknown(c, BROKER_READY, reason, message, now);
                }
            }
            None => set.mark_unknown(
                c,
                BROKER_READY,
                "BrokerUnknown",
                "The status of the Broker is not known yet",
                now,
            ),
        },
    }

    let sub = mark_resolved(
        set,
        c,
        SUBSCRIBER_RESOLVED,
        resolve_dest(&t.spec.subscriber, ns, view, env),
        now,
    );
    st.subscriber_uri = sub.as_ref().map(|r| r.uri.clone());
    st.subscriber_ca_certs = sub.as_ref().and_then(|r| r.ca_certs.clone());
    st.subscriber_audience = sub.and_then(|r| r.audience);

    // The trigger's own dead-letter sink, else the broker's (as Knative's trigger reconciler).
    let own = t
        .spec
        .delivery
        .as_ref()
        .and_then(|d| d.dead_letter_sink.as_ref());
    let broker_dls = broker
        .as_ref()
        .map(|b| str_at(b, "/status/deadLetterSinkUri"))
        .filter(|u| !u.is_empty());
    match (own, broker_dls) {
        (None, Some(uri)) => {
            set.mark_true(c, DEAD_LETTER_SINK_RESOLVED, now);
            set_delivery_status(
                &mut st.delivery,
                Some(Resolved {
                    uri: uri.to_string(),
                    ..Default::default()
                }),
            );
        }
        _ => {
            let dls = mark_dead_letter_sink(set, c, t.spec.delivery.as_ref(), ns, view, env);
            set_delivery_status(&mut st.delivery, dls);
        }
    }

    mark_dependency(t, c, view, env);

    let readiness = env.data_plane_at(
        DataPlaneKind::Trigger,
        ns,
        t.name(),
        t.metadata.generation.unwrap_or(0),
    );
    mark_data_plane(set, c, &[SUBSCRIPTION_READY], &readiness, now);
    Outcome::status(st)
}

/// `DependencyReady`: True unless the annotation names an object that does not exist.
fn mark_dependency(
    t: &Trigger,
    c: &mut Vec<herald_api::meta::Condition>,
    view: &dyn View,
    env: &Env,
) {
    let (set, now) = (&CONDITIONS, env.now.as_str());
    let Some(raw) = t
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEPENDENCY_ANNOTATION))
    else {
        set.mark_true(c, DEPENDENCY_READY, now);
        return;
    };
    let dep: KReference = match serde_json::from_str(raw) {
        Ok(d) => d,
        Err(e) => {
            set.mark_false(
                c,
                DEPENDENCY_READY,
                "ReferenceError",
                &format!("annotation {DEPENDENCY_ANNOTATION} is not a valid object reference: {e}"),
                now,
            );
            return;
        }
    };
    match lookup(&dep, t.namespace(), view, &env.registry) {
        Ok(_) => set.mark_true(c, DEPENDENCY_READY, now),
        Err(e) if e.reason == resolve::reason::NOT_FOUND => set.mark_false(
            c,
            DEPENDENCY_READY,
            "DependencyDoesNotExist",
            &format!("Dependency does not exist: {}", e.message),
            now,
        ),
        Err(e) => set.mark_false(c, DEPENDENCY_READY, e.reason, &e.message, now),
    }
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
    use crate::env::{DataPlaneReadiness, DataPlaneStatus};
    use crate::testing::{self, BROKERS, cond};
    use serde_json::{Value, json};
    use std::sync::Arc;

    fn trigger(broker: &str, subscriber: Value, extra: Value) -> Value {
        let mut t = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
               "metadata": {"namespace": "ns", "name": "t", "generation": 1},
               "spec": {"broker": broker, "subscriber": subscriber}});
        if let (Some(m), Some(e)) = (t.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if k == "metadata" {
                    m["metadata"]["annotations"] = v["annotations"].clone();
                } else {
                    m["spec"][k] = v.clone();
                }
            }
        }
        t
    }

    fn ready_broker(name: &str, dls: Option<&str>) -> Value {
        let mut b = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
            "metadata": {"namespace": "ns", "name": name},
            "status": {"address": {"url": format!("http://in/ns/{name}")},
                       "conditions": [{"type": "Ready", "status": "True"}]}});
        if let Some(d) = dls {
            b["status"]["deadLetterSinkUri"] = json!(d);
        }
        b
    }

    fn svc(name: &str) -> Value {
        json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": name}})
    }

    type Want = &'static [(&'static str, &'static str, &'static str)];

    #[test]
    fn table() {
        let view = testing::view()
            .with(BROKERS, ready_broker("ready", Some("http://dls")))
            .with(
                BROKERS,
                json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                  "metadata": {"namespace": "ns", "name": "sick"},
                  "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "DataPlaneUnavailable", "message": "m"}]}}),
            );
        let env = testing::env();
        type Case = (
            &'static str,
            Value,
            Want,
            Option<&'static str>,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "missing broker",
                trigger("nope", svc("annotated"), json!({})),
                &[
                    ("BrokerReady", "False", "BrokerDoesNotExist"),
                    ("SubscriberResolved", "True", ""),
                    ("DependencyReady", "True", ""),
                    (
                        "DeadLetterSinkResolved",
                        "True",
                        "DeadLetterSinkNotConfigured",
                    ),
                    ("SubscriptionReady", "False", "DataPlaneUnavailable"),
                    ("Ready", "False", "BrokerDoesNotExist"),
                ],
                Some("http://localhost:9000/hook"),
                None,
            ),
            (
                "broker not ready copies reason",
                trigger("sick", svc("annotated"), json!({})),
                &[("BrokerReady", "False", "DataPlaneUnavailable")],
                Some("http://localhost:9000/hook"),
                None,
            ),
            (
                "ready broker, dls inherited",
                trigger("ready", svc("annotated"), json!({})),
                &[
                    ("BrokerReady", "True", ""),
                    ("DeadLetterSinkResolved", "True", ""),
                    ("Ready", "False", "DataPlaneUnavailable"),
                ],
                Some("http://localhost:9000/hook"),
                Some("http://dls"),
            ),
            (
                "own dls wins",
                trigger(
                    "ready",
                    svc("annotated"),
                    json!({"delivery": {"deadLetterSink": {"uri": "http://own"}}}),
                ),
                &[("DeadLetterSinkResolved", "True", "")],
                Some("http://localhost:9000/hook"),
                Some("http://own"),
            ),
            (
                "unresolvable subscriber",
                trigger("ready", svc("plain"), json!({})),
                &[("SubscriberResolved", "False", "ServiceHasNoAddress")],
                None,
                Some("http://dls"),
            ),
            (
                "missing subscriber",
                trigger("ready", svc("gone"), json!({})),
                &[("SubscriberResolved", "False", "NotFound")],
                None,
                Some("http://dls"),
            ),
            (
                "missing dependency",
                trigger(
                    "ready",
                    json!({"uri": "http://s"}),
                    json!({"metadata": {"annotations": {"knative.dev/dependency": "{\"kind\":\"PingSource\",\"name\":\"p\",\"apiVersion\":\"sources.knative.dev/v1\"}"}}}),
                ),
                &[("DependencyReady", "False", "DependencyDoesNotExist")],
                Some("http://s"),
                Some("http://dls"),
            ),
            (
                "existing dependency",
                trigger(
                    "ready",
                    json!({"uri": "http://s"}),
                    json!({"metadata": {"annotations": {"knative.dev/dependency": "{\"kind\":\"Broker\",\"name\":\"ready\",\"apiVersion\":\"eventing.knative.dev/v1\"}"}}}),
                ),
                &[("DependencyReady", "True", "")],
                Some("http://s"),
                Some("http://dls"),
            ),
        ];
        for (name, obj, want, sub, dls) in cases {
            let st = reconcile_json(&obj, &view, &env)
                .map(|o| o.status)
                .unwrap_or_default();
            for (t, s, r) in want {
                assert_eq!(cond(&st, t), (s.to_string(), r.to_string()), "{name}: {t}");
            }
            assert_eq!(st["subscriberUri"].as_str(), sub, "{name}");
            assert_eq!(st["deadLetterSinkUri"].as_str(), dls, "{name}");
        }
        let st = reconcile_json(&trigger("nope", svc("annotated"), json!({})), &view, &env)
            .map(|o| o.status)
            .unwrap_or_default();
        let broker_ready = st["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "BrokerReady"))
            .cloned();
        assert_eq!(
            broker_ready.map(|c| c["message"].clone()),
            Some(json!("Broker \"nope\" does not exist"))
        );
    }

    #[test]
    fn ready_when_everything_is() {
        let view = testing::view().with(BROKERS, ready_broker("ready", None));
        let mut env = testing::env();
        let dp: DataPlaneStatus = Arc::new(|_, _, _| DataPlaneReadiness::Ready);
        env.data_plane = Some(dp);
        let st = reconcile_json(&trigger("ready", svc("annotated"), json!({})), &view, &env)
            .map(|o| o.status)
            .unwrap_or_default();
        assert_eq!(cond(&st, "Ready"), ("True".into(), "".into()));
    }
}
