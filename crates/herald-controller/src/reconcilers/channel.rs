//! Channel and InMemoryChannel: address on Herald's ingress (`<ingress>/channels/<ns>/<name>`,
//! path-routed as Knative's HTTPS IMC address), dead-letter sink, and the dispatcher/backing
//! channel conditions from the channel data plane. Herald implements `Channel` itself (no
//! backing channel object), so both kinds share this reconciler.

use herald_api::conditions::ConditionSet;
use herald_api::meta::{AddressStatus, Addressable, DeliverySpec};

use super::Outcome;
use super::common::*;
use crate::env::{DataPlaneKind, Env};
use crate::view::View;

pub const ADDRESSABLE: &str = "Addressable";

pub use herald_api::messaging::channel::{
    CONDITIONS as CHANNEL_CONDITIONS, Channel, ChannelSpec, ChannelStatus,
};
pub use herald_api::messaging::channelable::ChannelableStatus;
pub use herald_api::messaging::inmemorychannel::{
    CONDITIONS as IMC_CONDITIONS, InMemoryChannel, InMemoryChannelSpec,
};

/// The address of a channel on Herald's ingress.
pub fn address(env: &Env, namespace: &str, name: &str) -> String {
    env.ingress_url(&["channels", namespace, name])
}

/// The part both kinds share; `status.subscribers` (the data plane's report) is kept as is.
fn reconcile_channelable(
    set: &ConditionSet,
    st: &mut ChannelableStatus,
    delivery: Option<&DeliverySpec>,
    ns: &str,
    name: &str,
    view: &dyn View,
    env: &Env,
) {
    let now = env.now.as_str();
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

    let dls = mark_dead_letter_sink(set, c, delivery, ns, view, env);
    set_delivery_status(&mut st.delivery, dls);

    let data_plane = remaining(set, &[ADDRESSABLE, DEAD_LETTER_SINK_RESOLVED]);
    mark_data_plane_of(set, c, &data_plane, DataPlaneKind::Channel, ns, name, env);
}

pub fn reconcile_in_memory(
    ch: &InMemoryChannel,
    view: &dyn View,
    env: &Env,
) -> Outcome<ChannelableStatus> {
    let mut st = ch.status.clone().unwrap_or_default();
    let delivery = ch.spec.delivery.as_ref();
    reconcile_channelable(
        &IMC_CONDITIONS,
        &mut st,
        delivery,
        ch.namespace(),
        ch.name(),
        view,
        env,
    );
    Outcome::status(st)
}

/// Herald serves a `Channel` itself (no backing channel object), so `status.channel` stays unset
/// and `BackingChannelReady` reports the channel data plane.
pub fn reconcile_channel(ch: &Channel, view: &dyn View, env: &Env) -> Outcome<ChannelStatus> {
    let mut st = ch.status.clone().unwrap_or_default();
    let delivery = ch.spec.delivery.as_ref();
    reconcile_channelable(
        &CHANNEL_CONDITIONS,
        &mut st.channelable,
        delivery,
        ch.namespace(),
        ch.name(),
        view,
        env,
    );
    Outcome::status(st)
}

pub fn reconcile_in_memory_json(
    obj: &serde_json::Value,
    view: &dyn View,
    env: &Env,
) -> Result<Outcome, super::ReconcileError> {
    super::typed(obj, view, env, reconcile_in_memory)
}

pub fn reconcile_channel_json(
    obj: &serde_json::Value,
    view: &dyn View,
    env: &Env,
) -> Result<Outcome, super::ReconcileError> {
    super::typed(obj, view, env, reconcile_channel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, cond};
    use serde_json::{Value, json};

    fn ch(kind: &str, spec: Value) -> Value {
        json!({"apiVersion": "messaging.knative.dev/v1", "kind": kind,
               "metadata": {"namespace": "ns", "name": "c", "generation": 1}, "spec": spec})
    }

    #[test]
    fn table() {
        let env = testing::env();
        let view = testing::view();
        let imc = reconcile_in_memory_json(&ch("InMemoryChannel", json!({})), &view, &env)
            .map(|o| o.status)
            .unwrap_or_default();
        assert_eq!(imc["address"]["url"], "http://in/channels/ns/c");
        assert_eq!(cond(&imc, "Addressable"), ("True".into(), "".into()));
        assert_eq!(
            cond(&imc, "DeadLetterSinkResolved"),
            ("True".into(), "DeadLetterSinkNotConfigured".into())
        );
        assert_eq!(
            cond(&imc, "DispatcherReady"),
            ("False".into(), "DataPlaneUnavailable".into())
        );
        assert_eq!(
            cond(&imc, "Ready"),
            ("False".into(), "DataPlaneUnavailable".into())
        );

        let spec = json!({"delivery": {"deadLetterSink": {"uri": "http://dls"}}});
        let channel = reconcile_channel_json(&ch("Channel", spec), &view, &env)
            .map(|o| o.status)
            .unwrap_or_default();
        assert_eq!(channel["deadLetterSinkUri"], "http://dls");
        assert_eq!(
            cond(&channel, "BackingChannelReady"),
            ("False".into(), "DataPlaneUnavailable".into())
        );

        let spec = json!({"delivery": {"deadLetterSink": {"uri": "relative"}}});
        let channel = reconcile_channel_json(&ch("Channel", spec), &view, &env)
            .map(|o| o.status)
            .unwrap_or_default();
        assert_eq!(
            cond(&channel, "DeadLetterSinkResolved"),
            ("False".into(), "InvalidURI".into())
        );
        assert_eq!(channel.get("deadLetterSinkUri"), None);
    }
}
