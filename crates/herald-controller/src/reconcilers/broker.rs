//! Broker: address on Herald's ingress (`<ingress>/<ns>/<name>`), dead-letter sink, and the
//! data-plane conditions (ingress, trigger channel, filter) from the data plane's report.

use herald_api::meta::{AddressStatus, Addressable};

use super::Outcome;
use super::common::*;
use crate::env::{DataPlaneKind, Env};
use crate::view::View;

pub const ADDRESSABLE: &str = "Addressable";
pub const INGRESS_READY: &str = "IngressReady";
pub const TRIGGER_CHANNEL_READY: &str = "TriggerChannelReady";
pub const FILTER_READY: &str = "FilterReady";

pub use herald_api::eventing::broker::{Broker, BrokerSpec, BrokerStatus, CONDITIONS};

/// The address of a Broker on Herald's ingress.
pub fn address(env: &Env, namespace: &str, name: &str) -> String {
    env.ingress_url(&[namespace, name])
}

pub fn reconcile(b: &Broker, view: &dyn View, env: &Env) -> Outcome<BrokerStatus> {
    let (ns, name, now) = (b.namespace(), b.name(), env.now.as_str());
    let mut st = b.status.clone().unwrap_or_default();
    let set = &CONDITIONS;
    let c = &mut st.status.conditions;
    set.initialize(c, now);
    mark_disabled_features(set, c, now);

    let http = Addressable {
        name: Some("http".into()),
        url: Some(address(env, ns, name)),
        ..Default::default()
    };
    st.address = AddressStatus {
        address: Some(http.clone()),
        addresses: vec![http],
    };
    set.mark_true(c, ADDRESSABLE, now);

    let dls = mark_dead_letter_sink(set, c, b.spec.delivery.as_ref(), ns, view, env);
    set_delivery_status(&mut st.delivery, dls);

    let data_plane = remaining(set, &[ADDRESSABLE, DEAD_LETTER_SINK_RESOLVED]);
    mark_data_plane_of(set, c, &data_plane, DataPlaneKind::Broker, ns, name, env);
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
    use crate::env::{DataPlaneReadiness, DataPlaneStatus};
    use crate::testing::{self, cond};
    use serde_json::{Value, json};
    use std::sync::Arc;

    fn broker(spec: Value) -> Value {
        json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
               "metadata": {"namespace": "ns", "name": "default", "generation": 1}, "spec": spec})
    }

    fn run(obj: Value, env: &Env) -> Value {
        reconcile_json(&obj, &testing::view(), env)
            .map(|o| o.status)
            .unwrap_or_default()
    }

    #[test]
    fn table() {
        let env = testing::env();
        struct Case {
            name: &'static str,
            spec: Value,
            want: &'static [(&'static str, &'static str, &'static str)],
            dls: Option<&'static str>,
        }
        let cases = [
            Case {
                name: "no delivery",
                spec: json!({}),
                want: &[
                    ("Addressable", "True", ""),
                    (
                        "DeadLetterSinkResolved",
                        "True",
                        "DeadLetterSinkNotConfigured",
                    ),
                    ("IngressReady", "False", "DataPlaneUnavailable"),
                    ("FilterReady", "False", "DataPlaneUnavailable"),
                    ("TriggerChannelReady", "False", "DataPlaneUnavailable"),
                    ("Ready", "False", "DataPlaneUnavailable"),
                ],
                dls: None,
            },
            Case {
                name: "dls resolved",
                spec: json!({"delivery": {"deadLetterSink": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "annotated"}}}}),
                want: &[("DeadLetterSinkResolved", "True", "")],
                dls: Some("http://localhost:9000/hook"),
            },
            Case {
                name: "dls missing",
                spec: json!({"delivery": {"deadLetterSink": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "gone"}}}}),
                want: &[("DeadLetterSinkResolved", "False", "NotFound")],
                dls: None,
            },
        ];
        for case in cases {
            let st = run(broker(case.spec), &env);
            for (t, s, r) in case.want {
                assert_eq!(
                    cond(&st, t),
                    (s.to_string(), r.to_string()),
                    "{}: {t}",
                    case.name
                );
            }
            assert_eq!(
                st["address"]["url"], "http://in/ns/default",
                "{}",
                case.name
            );
            assert_eq!(st["addresses"][0]["name"], "http", "{}", case.name);
            assert_eq!(st["deadLetterSinkUri"].as_str(), case.dls, "{}", case.name);
        }
        let st = run(broker(json!({})), &env);
        assert_eq!(
            st["conditions"][0]["message"],
            "Herald's broker data plane is not available in this build"
        );
    }

    #[test]
    fn ready_with_data_plane() {
        let mut env = testing::env();
        let dp: DataPlaneStatus = Arc::new(|_, _, _| DataPlaneReadiness::Ready);
        env.data_plane = Some(dp);
        let st = run(broker(json!({})), &env);
        assert_eq!(cond(&st, "Ready"), ("True".into(), "".into()));
    }

    #[test]
    fn idempotent() {
        let env = testing::env();
        let mut obj = broker(json!({}));
        let first = run(obj.clone(), &env);
        obj["status"] = first.clone();
        let later = Env {
            now: "2030-01-01T00:00:00Z".into(),
            ..env
        };
        assert_eq!(run(obj, &later), first);
    }
}
