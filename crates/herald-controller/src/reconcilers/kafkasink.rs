//! KafkaSink: its address on Herald's ingress (`<ingress>/sinks/<ns>/kafkasinks/<name>`), and
//! `TopicReady` / `DataPlaneAvailable` from the sink runtime's per-generation readiness (the
//! runtime connects to Kafka and creates or finds the topic).

use herald_api::meta::{AddressStatus, Addressable};

use super::Outcome;
use super::common::*;
use crate::env::{DataPlaneKind, DataPlaneReadiness, Env};
use crate::view::View;

pub use herald_api::eventing::kafkasink::{CONDITIONS, KafkaSink, KafkaSinkStatus};

pub const ADDRESSABLE: &str = "Addressable";
pub const DATA_PLANE_AVAILABLE: &str = "DataPlaneAvailable";
pub const TOPIC_READY: &str = "TopicReady";

/// The runtime reports this reason when Herald was built without Kafka support.
const NOT_BUILT: &str = "NotBuilt";

/// The address of a KafkaSink on Herald's ingress.
pub fn address(env: &Env, namespace: &str, name: &str) -> String {
    env.ingress_url(&["sinks", namespace, "kafkasinks", name])
}

pub fn reconcile(s: &KafkaSink, _view: &dyn View, env: &Env) -> Outcome<KafkaSinkStatus> {
    let (ns, name, now) = (s.namespace(), s.name(), env.now.as_str());
    let mut st = s.status.clone().unwrap_or_default();
    let set = &CONDITIONS;
    let c = &mut st.status.conditions;
    set.initialize(c, now);

    // The address does not depend on Kafka: while Kafka is down, the endpoint answers 503 and
    // senders retry, instead of their destinations failing to resolve.
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

    let generation = s.metadata.generation.unwrap_or(0);
    let readiness = env.data_plane_at(DataPlaneKind::Source("KafkaSink"), ns, name, generation);
    let data_plane = match &readiness {
        DataPlaneReadiness::Failed { reason, .. } if reason == NOT_BUILT => readiness.clone(),
        // Herald's data plane is in-process: it is there unless the build lacks Kafka.
        DataPlaneReadiness::Failed { .. } => DataPlaneReadiness::Ready,
        other => other.clone(),
    };
    mark_data_plane(set, c, &[DATA_PLANE_AVAILABLE], &data_plane, now);
    mark_data_plane(set, c, &[TOPIC_READY], &readiness, now);
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
    use crate::env::DataPlaneStatus;
    use crate::testing::{self, cond};
    use serde_json::{Value, json};
    use std::sync::Arc;

    fn sink() -> Value {
        json!({"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "KafkaSink",
               "metadata": {"namespace": "ns", "name": "orders", "generation": 2},
               "spec": {"topic": "t", "bootstrapServers": ["k:9092"]}})
    }

    fn run(readiness: DataPlaneReadiness) -> Value {
        let mut env = testing::env();
        let dp: DataPlaneStatus = Arc::new(move |kind: DataPlaneKind, ns: &str, name: &str| {
            assert_eq!(
                (kind, ns, name),
                (DataPlaneKind::Source("KafkaSink"), "ns", "orders")
            );
            readiness.clone()
        });
        env.data_plane = Some(dp);
        reconcile_json(&sink(), &testing::view(), &env)
            .map(|o| o.status)
            .unwrap_or_default()
    }

    /// (name, the runtime's readiness, wanted (condition, status, reason)s).
    type Case = (
        &'static str,
        DataPlaneReadiness,
        &'static [(&'static str, &'static str, &'static str)],
    );

    #[test]
    fn table() {
        let failed = |reason: &str| DataPlaneReadiness::Failed {
            reason: reason.into(),
            message: "m".into(),
        };
        let cases: [Case; 5] = [
            (
                "running this generation",
                DataPlaneReadiness::Applied { generation: 2 },
                &[("TopicReady", "True", ""), ("Ready", "True", "")],
            ),
            (
                "older generation",
                DataPlaneReadiness::Applied { generation: 1 },
                &[
                    ("TopicReady", "Unknown", "DataPlanePending"),
                    ("Ready", "Unknown", "DataPlanePending"),
                ],
            ),
            (
                "kafka unreachable",
                failed("ConnectionFailed"),
                &[
                    ("DataPlaneAvailable", "True", ""),
                    ("TopicReady", "False", "ConnectionFailed"),
                    ("Ready", "False", "ConnectionFailed"),
                ],
            ),
            (
                "auth unsupported",
                failed("Unsupported"),
                &[
                    ("TopicReady", "False", "Unsupported"),
                    ("Ready", "False", "Unsupported"),
                ],
            ),
            (
                "built without kafka",
                failed("NotBuilt"),
                &[
                    ("DataPlaneAvailable", "False", "NotBuilt"),
                    ("Ready", "False", "NotBuilt"),
                ],
            ),
        ];
        for (name, readiness, want) in cases {
            let st = run(readiness);
            assert_eq!(
                cond(&st, "Addressable"),
                ("True".into(), "".into()),
                "{name}"
            );
            assert_eq!(
                st["address"]["url"], "http://in/sinks/ns/kafkasinks/orders",
                "{name}"
            );
            assert_eq!(st["addresses"][0]["name"], "http", "{name}");
            for (t, s, r) in want {
                assert_eq!(cond(&st, t), (s.to_string(), r.to_string()), "{name}: {t}");
            }
        }
    }
}
