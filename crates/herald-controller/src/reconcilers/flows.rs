//! Sequence and Parallel. Their address is reserved on Herald's ingress
//! (`<ingress>/flows/<ns>/<name>`, served once flows exist in the data plane) so references to
//! them resolve to a stable URL; `ChannelsReady`/`SubscriptionsReady` stay False until then.

use herald_api::meta::{AddressStatus, Addressable, Status};

use super::Outcome;
use super::common::*;
use crate::env::{DataPlaneKind, Env};
use crate::view::View;

pub const ADDRESSABLE: &str = "Addressable";

pub use herald_api::flows::parallel::{Parallel, ParallelStatus};
pub use herald_api::flows::sequence::{CONDITIONS, Sequence, SequenceStatus};

pub fn address(env: &Env, namespace: &str, name: &str) -> String {
    env.ingress_url(&["flows", namespace, name])
}

/// The part Sequence and Parallel share; their per-step statuses are left as they are.
fn reconcile_flow(status: &mut Status, addr: &mut AddressStatus, ns: &str, name: &str, env: &Env) {
    let now = env.now.as_str();
    let set = &CONDITIONS;
    let c = &mut status.conditions;
    set.initialize(c, now);
    mark_disabled_features(set, c, now);
    let http = Addressable {
        name: Some("http".into()),
        url: Some(address(env, ns, name)),
        ..Default::default()
    };
    *addr = AddressStatus {
        address: Some(http.clone()),
        addresses: vec![http],
    };
    set.mark_true(c, ADDRESSABLE, now);
    let data_plane = remaining(set, &[ADDRESSABLE]);
    mark_data_plane_of(set, c, &data_plane, DataPlaneKind::Flow, ns, name, env);
}

pub fn reconcile_sequence(s: &Sequence, _view: &dyn View, env: &Env) -> Outcome<SequenceStatus> {
    let mut st = s.status.clone().unwrap_or_default();
    reconcile_flow(
        &mut st.status,
        &mut st.address,
        s.namespace(),
        s.name(),
        env,
    );
    Outcome::status(st)
}

pub fn reconcile_parallel(p: &Parallel, _view: &dyn View, env: &Env) -> Outcome<ParallelStatus> {
    let mut st = p.status.clone().unwrap_or_default();
    reconcile_flow(
        &mut st.status,
        &mut st.address,
        p.namespace(),
        p.name(),
        env,
    );
    Outcome::status(st)
}

pub fn reconcile_sequence_json(
    obj: &serde_json::Value,
    view: &dyn View,
    env: &Env,
) -> Result<Outcome, super::ReconcileError> {
    super::typed(obj, view, env, reconcile_sequence)
}

pub fn reconcile_parallel_json(
    obj: &serde_json::Value,
    view: &dyn View,
    env: &Env,
) -> Result<Outcome, super::ReconcileError> {
    super::typed(obj, view, env, reconcile_parallel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, cond};
    use serde_json::json;

    #[test]
    fn sequence_gets_placeholder_address_and_is_not_ready() {
        let obj = json!({"apiVersion": "flows.knative.dev/v1", "kind": "Sequence",
            "metadata": {"namespace": "ns", "name": "seq", "generation": 1},
            "spec": {"steps": [{"uri": "http://a"}]}});
        let st = reconcile_sequence_json(&obj, &testing::view(), &testing::env())
            .map(|o| o.status)
            .unwrap_or_default();
        assert_eq!(st["address"]["url"], "http://in/flows/ns/seq");
        assert_eq!(
            cond(&st, "ChannelsReady"),
            ("False".into(), "DataPlaneUnavailable".into())
        );
        assert_eq!(
            cond(&st, "SubscriptionsReady"),
            ("False".into(), "DataPlaneUnavailable".into())
        );
        assert_eq!(
            cond(&st, "Ready"),
            ("False".into(), "DataPlaneUnavailable".into())
        );

        let obj = json!({"apiVersion": "flows.knative.dev/v1", "kind": "Parallel",
            "metadata": {"namespace": "ns", "name": "par", "generation": 1},
            "spec": {"branches": [{"subscriber": {"uri": "http://a"}}]}});
        let st = reconcile_parallel_json(&obj, &testing::view(), &testing::env())
            .map(|o| o.status)
            .unwrap_or_default();
        assert_eq!(st["address"]["url"], "http://in/flows/ns/par");
        assert_eq!(cond(&st, "Addressable"), ("True".into(), "".into()));
        assert_eq!(
            cond(&st, "Ready"),
            ("False".into(), "DataPlaneUnavailable".into())
        );
    }
}
