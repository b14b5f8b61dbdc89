//! EventType: `ReferenceExists` from `spec.reference` (v1beta2/v1beta3 lifecycle). Fully
//! functional: the event registry needs nothing from the data plane.

use super::Outcome;
use crate::env::Env;
use crate::resolve::{self, lookup};
use crate::view::View;

pub const REFERENCE_EXISTS: &str = "ReferenceExists";

pub use herald_api::eventing::eventtype::{CONDITIONS, EventType, EventTypeSpec, EventTypeStatus};

pub fn reconcile(et: &EventType, view: &dyn View, env: &Env) -> Outcome<EventTypeStatus> {
    let now = env.now.as_str();
    let mut st = et.status.clone().unwrap_or_default();
    let (set, c) = (&CONDITIONS, &mut st.status.conditions);
    set.initialize(c, now);
    match &et.spec.reference {
        None => set.mark_true_with_reason(
            c,
            REFERENCE_EXISTS,
            "ReferenceNotSet",
            "Reference not set",
            now,
        ),
        Some(r) => match lookup(r, et.namespace(), view, &env.registry) {
            Ok(_) => set.mark_true(c, REFERENCE_EXISTS, now),
            Err(e) if e.reason == resolve::reason::NOT_FOUND => set.mark_false(
                c,
                REFERENCE_EXISTS,
                "ResourceDoesNotExist",
                &format!("Referenced {e}"),
                now,
            ),
            Err(e) => set.mark_false(c, REFERENCE_EXISTS, "ResourceDoesNotExist", &e.message, now),
        },
    }
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
    use crate::testing::{self, cond};
    use serde_json::{Value, json};

    fn et(reference: Value) -> Value {
        json!({"apiVersion": "eventing.knative.dev/v1beta3", "kind": "EventType",
               "metadata": {"namespace": "ns", "name": "e", "generation": 2},
               "spec": {"reference": reference, "attributes": [{"name": "type", "value": "x", "required": true}]}})
    }

    #[test]
    fn table() {
        let broker = |name: &str| json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": name});
        let cases = [
            (
                "no reference",
                et(Value::Null),
                ("True", "ReferenceNotSet"),
                ("True", ""),
            ),
            ("existing", et(broker("b")), ("True", ""), ("True", "")),
            (
                "old apiVersion",
                et(
                    json!({"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "Broker", "name": "b"}),
                ),
                ("True", ""),
                ("True", ""),
            ),
            (
                "missing",
                et(broker("nope")),
                ("False", "ResourceDoesNotExist"),
                ("False", "ResourceDoesNotExist"),
            ),
            (
                "unknown kind",
                et(json!({"apiVersion": "x.io/v1", "kind": "X", "name": "n"})),
                ("False", "ResourceDoesNotExist"),
                ("False", "ResourceDoesNotExist"),
            ),
        ];
        for (name, obj, want, ready) in cases {
            let st = reconcile_json(&obj, &testing::view(), &testing::env())
                .map(|o| o.status)
                .unwrap_or_default();
            assert_eq!(
                cond(&st, REFERENCE_EXISTS),
                (want.0.into(), want.1.into()),
                "{name}"
            );
            assert_eq!(
                cond(&st, "Ready"),
                (ready.0.into(), ready.1.into()),
                "{name}"
            );
        }
    }
}
