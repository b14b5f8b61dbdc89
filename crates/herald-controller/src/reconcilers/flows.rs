//! Sequence and Parallel, built like Knative's from channels and subscriptions they own
//! (`pkg/reconciler/{sequence,parallel}/resources`), with Knative's names:
//!
//! - Sequence `s`: channel and subscription `s-kn-sequence-<i>` per step; subscription *i*
//!   listens on channel *i*, calls step *i* and replies to channel *i+1* (the last one to
//!   `spec.reply`, or nowhere).
//! - Parallel `p`: ingress channel `p-kn-parallel`; per branch a channel `p-kn-parallel-<i>`,
//!   a filter subscription `p-kn-parallel-filter-<i>` on the ingress channel (subscriber = the
//!   filter, reply = the branch channel) and a subscription `p-kn-parallel-<i>` on the branch
//!   channel (subscriber = the branch's, reply = the branch's else `spec.reply`).
//!
//! The channel kind follows `spec.channelTemplate`: `InMemoryChannel` children for an
//! InMemoryChannel template, else `Channel` children carrying the template (Herald's default
//! `DurableChannel` included). The flow's address is its first channel's; its conditions
//! aggregate the children's `Ready` conditions. The runner applies the children
//! ([`crate::children`]); a same-named object the flow does not own is left alone and reported
//! here as `NotOwned`.

use herald_api::conditions::{ConditionSet, READY};
use herald_api::eventing::trigger::ObjectReference;
use herald_api::messaging::channelable::{ChannelTemplateSpec, builtin_channel_template};
use herald_api::meta::{
    AddressStatus, Addressable, Condition, ConditionStatus, DeliverySpec, Destination, KReference,
};
use serde_json::{Value, json};

use super::common::*;
use super::{Child, Outcome};
use crate::children::{self, CHANNELS, IN_MEMORY_CHANNELS, SUBSCRIPTIONS};
use crate::env::Env;
use crate::view::View;

pub const ADDRESSABLE: &str = "Addressable";
pub const CHANNELS_READY: &str = "ChannelsReady";
pub const SUBSCRIPTIONS_READY: &str = "SubscriptionsReady";
/// Reason of a child whose name is taken by an object the flow does not own.
pub const NOT_OWNED: &str = "NotOwned";

const MESSAGING_V1: &str = "messaging.knative.dev/v1";

pub use herald_api::flows::parallel::{
    self as parallel, Parallel, ParallelBranchStatus, ParallelChannelStatus, ParallelStatus,
    ParallelSubscriptionStatus,
};
pub use herald_api::flows::sequence::{
    self as sequence, CONDITIONS, Sequence, SequenceChannelStatus, SequenceStatus,
    SequenceSubscriptionStatus,
};

/// `SequenceChannelName`: `<seq>-kn-sequence-<i>`.
pub fn sequence_channel_name(seq: &str, i: usize) -> String {
    format!("{seq}-kn-sequence-{i}")
}

/// `SequenceSubscriptionName`: the same as the step's channel.
pub fn sequence_subscription_name(seq: &str, i: usize) -> String {
    sequence_channel_name(seq, i)
}

/// `ParallelChannelName`: the ingress channel, `<p>-kn-parallel`.
pub fn parallel_channel_name(p: &str) -> String {
    format!("{p}-kn-parallel")
}

/// `ParallelBranchChannelName`: `<p>-kn-parallel-<i>`.
pub fn parallel_branch_channel_name(p: &str, i: usize) -> String {
    format!("{p}-kn-parallel-{i}")
}

/// `ParallelFilterSubscriptionName`: `<p>-kn-parallel-filter-<i>`.
pub fn parallel_filter_subscription_name(p: &str, i: usize) -> String {
    format!("{p}-kn-parallel-filter-{i}")
}

/// `ParallelSubscriptionName`: `<p>-kn-parallel-<i>`.
pub fn parallel_subscription_name(p: &str, i: usize) -> String {
    format!("{p}-kn-parallel-{i}")
}

/// The flow owning the children.
struct Owner<'a> {
    api_version: &'static str,
    kind: &'static str,
    name: &'a str,
    namespace: &'a str,
    uid: &'a str,
}

impl Owner<'_> {
    fn metadata(&self, name: &str) -> Value {
        json!({
            "name": name,
            "namespace": self.namespace,
            "ownerReferences": [children::controller_ref(self.api_version, self.kind, self.name, self.uid)],
        })
    }
}

/// The channel kind a flow's children are made of.
#[derive(Debug, Clone)]
struct Channels {
    resource: &'static str,
    kind: &'static str,
    /// The children's `spec`.
    spec: Value,
}

fn channels(template: Option<&ChannelTemplateSpec>) -> Channels {
    let t = template.cloned().unwrap_or_else(builtin_channel_template);
    let knative = t.api_version.starts_with("messaging.knative.dev/");
    let own_spec = || t.spec.clone().unwrap_or_else(|| json!({}));
    match t.kind.as_str() {
        "InMemoryChannel" if knative => Channels {
            resource: IN_MEMORY_CHANNELS,
            kind: "InMemoryChannel",
            spec: own_spec(),
        },
        "Channel" if knative => Channels {
            resource: CHANNELS,
            kind: "Channel",
            spec: own_spec(),
        },
        _ => Channels {
            resource: CHANNELS,
            kind: "Channel",
            spec: json!({ "channelTemplate": t }),
        },
    }
}

impl Channels {
    fn child(&self, owner: &Owner<'_>, name: &str) -> Child {
        Child {
            resource: self.resource.into(),
            object: json!({
                "apiVersion": MESSAGING_V1, "kind": self.kind,
                "metadata": owner.metadata(name), "spec": self.spec,
            }),
        }
    }

    /// A Destination referencing one of the channels.
    fn destination(&self, namespace: &str, name: &str) -> Destination {
        Destination {
            ref_: Some(KReference {
                kind: self.kind.into(),
                namespace: Some(namespace.into()),
                name: name.into(),
                api_version: MESSAGING_V1.into(),
                group: None,
            }),
            ..Default::default()
        }
    }

    fn reference(&self, namespace: &str, name: &str) -> ObjectReference {
        ObjectReference {
            api_version: MESSAGING_V1.into(),
            kind: self.kind.into(),
            name: name.into(),
            namespace: Some(namespace.into()),
        }
    }
}

fn subscription_child(
    owner: &Owner<'_>,
    ch: &Channels,
    channel: &str,
    name: &str,
    subscriber: &Destination,
    reply: Option<&Destination>,
    delivery: Option<&DeliverySpec>,
) -> Child {
    let mut spec = json!({
        "channel": {"apiVersion": MESSAGING_V1, "kind": ch.kind, "name": channel},
        "subscriber": subscriber,
    });
    if let Some(r) = reply {
        spec["reply"] = json!(r);
    }
    if let Some(d) = delivery {
        spec["delivery"] = json!(d);
    }
    Child {
        resource: SUBSCRIPTIONS.into(),
        object: json!({
            "apiVersion": MESSAGING_V1, "kind": "Subscription",
            "metadata": owner.metadata(name), "spec": spec,
        }),
    }
}

fn subscription_reference(namespace: &str, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: MESSAGING_V1.into(),
        kind: "Subscription".into(),
        name: name.into(),
        namespace: Some(namespace.into()),
    }
}

fn condition(status: ConditionStatus, reason: &str, message: &str, now: &str) -> Condition {
    Condition {
        type_: READY.into(),
        status,
        last_transition_time: Some(now.into()),
        reason: Some(reason.into()),
        message: Some(message.into()),
        ..Default::default()
    }
}

/// A child as the flow sees it: its `Ready` condition (Unknown while missing, False
/// `NotOwned` when the name is taken) and whether it exists as the flow's.
fn child_ready(
    view: &dyn View,
    owner: &Owner<'_>,
    resource: &str,
    kind: &str,
    name: &str,
    now: &str,
) -> (Condition, bool) {
    match view.get(resource, owner.namespace, name) {
        None => (
            condition(
                ConditionStatus::Unknown,
                "NotFound",
                &format!("{kind} {name} does not exist yet"),
                now,
            ),
            false,
        ),
        Some(o) if !owner.uid.is_empty() && !children::owned_by(&o, owner.uid) => (
            condition(
                ConditionStatus::False,
                NOT_OWNED,
                &format!(
                    "{kind} {name} already exists and is not owned by {} {}",
                    owner.kind, owner.name
                ),
                now,
            ),
            false,
        ),
        Some(o) => {
            let ready = ready_condition(&o).unwrap_or_else(|| Condition {
                type_: READY.into(),
                status: ConditionStatus::Unknown,
                ..Default::default()
            });
            (ready, true)
        }
    }
}

/// Marks `cond` from the children's Ready conditions: True when all are True, False (with
/// the first failing child) when one is False, Unknown otherwise.
fn mark_children(
    set: &ConditionSet,
    c: &mut Vec<Condition>,
    cond: &str,
    not_ready: &str,
    items: &[(&str, &Condition)],
    now: &str,
) {
    let detail = |name: &str, r: &Condition| {
        let reason = r.reason.as_deref().unwrap_or("");
        let message = r.message.as_deref().unwrap_or("");
        format!("{name} is not ready: {reason} {message}")
            .trim_end()
            .to_string()
    };
    if let Some((name, r)) = items
        .iter()
        .find(|(_, r)| r.status == ConditionStatus::False)
    {
        let reason = if r.reason.as_deref() == Some(NOT_OWNED) {
            NOT_OWNED
        } else {
            not_ready
        };
        set.mark_false(c, cond, reason, &detail(name, r), now);
    } else if let Some((name, r)) = items
        .iter()
        .find(|(_, r)| r.status != ConditionStatus::True)
    {
        set.mark_unknown(c, cond, not_ready, &detail(name, r), now);
    } else if items.is_empty() {
        set.mark_false(c, cond, not_ready, "there are none", now);
    } else {
        set.mark_true(c, cond, now);
    }
}

/// `Addressable` and the address: the first channel's, once it exists as the flow's.
fn mark_address(
    set: &ConditionSet,
    c: &mut Vec<Condition>,
    addr: &mut AddressStatus,
    first: (&str, &Condition, bool),
    namespace: &str,
    env: &Env,
) {
    let now = env.now.as_str();
    let (name, ready, exists) = first;
    if exists {
        let http = Addressable {
            name: Some("http".into()),
            url: Some(super::channel::address(env, namespace, name)),
            ..Default::default()
        };
        *addr = AddressStatus {
            address: Some(http.clone()),
            addresses: vec![http],
        };
        set.mark_true(c, ADDRESSABLE, now);
        return;
    }
    *addr = AddressStatus::default();
    let message = ready.message.as_deref().unwrap_or("");
    if ready.reason.as_deref() == Some(NOT_OWNED) {
        set.mark_false(c, ADDRESSABLE, NOT_OWNED, message, now);
    } else {
        set.mark_unknown(c, ADDRESSABLE, "ChannelNotCreated", message, now);
    }
}

pub fn reconcile_sequence(s: &Sequence, view: &dyn View, env: &Env) -> Outcome<SequenceStatus> {
    let now = env.now.as_str();
    let owner = Owner {
        api_version: sequence::API_VERSION,
        kind: sequence::KIND,
        name: s.name(),
        namespace: s.namespace(),
        uid: s.metadata.uid.as_deref().unwrap_or(""),
    };
    let ns = owner.namespace;
    let ch = channels(s.spec.channel_template.as_ref());
    let steps = &s.spec.steps;

    let mut kids = Vec::new();
    for i in 0..steps.len() {
        kids.push(ch.child(&owner, &sequence_channel_name(owner.name, i)));
    }
    for (i, step) in steps.iter().enumerate() {
        let reply = match steps.get(i + 1) {
            Some(_) => Some(ch.destination(ns, &sequence_channel_name(owner.name, i + 1))),
            None => s.spec.reply.clone(),
        };
        kids.push(subscription_child(
            &owner,
            &ch,
            &sequence_channel_name(owner.name, i),
            &sequence_subscription_name(owner.name, i),
            &step.destination,
            reply.as_ref(),
            step.delivery.as_ref(),
        ));
    }

    let mut st = s.status.clone().unwrap_or_default();
    let set = &CONDITIONS;
    let c = &mut st.status.conditions;
    set.initialize(c, now);
    mark_disabled_features(set, c, now);

    let mut channel_statuses = Vec::new();
    let mut subscription_statuses = Vec::new();
    let mut first = None;
    for i in 0..steps.len() {
        let name = sequence_channel_name(owner.name, i);
        let (ready, exists) = child_ready(view, &owner, ch.resource, ch.kind, &name, now);
        if i == 0 {
            first = Some((name.clone(), ready.clone(), exists));
        }
        channel_statuses.push(SequenceChannelStatus {
            channel: ch.reference(ns, &name),
            ready,
        });
        let name = sequence_subscription_name(owner.name, i);
        let (ready, _) = child_ready(view, &owner, SUBSCRIPTIONS, "Subscription", &name, now);
        subscription_statuses.push(SequenceSubscriptionStatus {
            subscription: subscription_reference(ns, &name),
            ready,
        });
    }
    let items: Vec<_> = channel_statuses
        .iter()
        .map(|s| (s.channel.name.as_str(), &s.ready))
        .collect();
    mark_children(set, c, CHANNELS_READY, "ChannelsNotReady", &items, now);
    let items: Vec<_> = subscription_statuses
        .iter()
        .map(|s| (s.subscription.name.as_str(), &s.ready))
        .collect();
    mark_children(
        set,
        c,
        SUBSCRIPTIONS_READY,
        "SubscriptionsNotReady",
        &items,
        now,
    );
    match &first {
        Some((name, ready, exists)) => {
            mark_address(set, c, &mut st.address, (name, ready, *exists), ns, env)
        }
        None => {
            st.address = AddressStatus::default();
            set.mark_false(c, ADDRESSABLE, "NoSteps", "the sequence has no steps", now);
        }
    }
    st.channel_statuses = channel_statuses;
    st.subscription_statuses = subscription_statuses;
    Outcome {
        status: st,
        children: kids,
    }
}

pub fn reconcile_parallel(p: &Parallel, view: &dyn View, env: &Env) -> Outcome<ParallelStatus> {
    let now = env.now.as_str();
    let owner = Owner {
        api_version: parallel::API_VERSION,
        kind: parallel::KIND,
        name: p.name(),
        namespace: p.namespace(),
        uid: p.metadata.uid.as_deref().unwrap_or(""),
    };
    let ns = owner.namespace;
    let ch = channels(p.spec.channel_template.as_ref());
    let branches = &p.spec.branches;
    let ingress = parallel_channel_name(owner.name);

    let mut kids = vec![ch.child(&owner, &ingress)];
    for i in 0..branches.len() {
        kids.push(ch.child(&owner, &parallel_branch_channel_name(owner.name, i)));
    }
    for (i, b) in branches.iter().enumerate() {
        let branch_channel = parallel_branch_channel_name(owner.name, i);
        let to_branch = ch.destination(ns, &branch_channel);
        // Knative leaves the filter subscription without a subscriber when there is no filter
        // (the channel forwards straight to the reply); Herald's Subscriptions need one, so
        // the branch channel itself is the subscriber.
        let (subscriber, reply) = match &b.filter {
            Some(f) => (f, Some(&to_branch)),
            None => (&to_branch, None),
        };
        kids.push(subscription_child(
            &owner,
            &ch,
            &ingress,
            &parallel_filter_subscription_name(owner.name, i),
            subscriber,
            reply,
            None,
        ));
        kids.push(subscription_child(
            &owner,
            &ch,
            &branch_channel,
            &parallel_subscription_name(owner.name, i),
            &b.subscriber,
            b.reply.as_ref().or(p.spec.reply.as_ref()),
            b.delivery.as_ref(),
        ));
    }

    let mut st = p.status.clone().unwrap_or_default();
    let set = &parallel::CONDITIONS;
    let c = &mut st.status.conditions;
    set.initialize(c, now);
    mark_disabled_features(set, c, now);

    let (ready, ingress_exists) = child_ready(view, &owner, ch.resource, ch.kind, &ingress, now);
    let ingress_status = ParallelChannelStatus {
        channel: ch.reference(ns, &ingress),
        ready,
    };
    let mut branch_statuses = Vec::new();
    for i in 0..branches.len() {
        let sub = |name: String| {
            let (ready, _) = child_ready(view, &owner, SUBSCRIPTIONS, "Subscription", &name, now);
            ParallelSubscriptionStatus {
                subscription: subscription_reference(ns, &name),
                ready,
            }
        };
        let name = parallel_branch_channel_name(owner.name, i);
        let (ready, _) = child_ready(view, &owner, ch.resource, ch.kind, &name, now);
        branch_statuses.push(ParallelBranchStatus {
            filter_subscription_status: sub(parallel_filter_subscription_name(owner.name, i)),
            filter_channel_status: ParallelChannelStatus {
                channel: ch.reference(ns, &name),
                ready,
            },
            subscriber_subscription_status: sub(parallel_subscription_name(owner.name, i)),
        });
    }
    let mut chans = vec![(ingress.as_str(), &ingress_status.ready)];
    let mut subs = Vec::new();
    for b in &branch_statuses {
        chans.push((
            b.filter_channel_status.channel.name.as_str(),
            &b.filter_channel_status.ready,
        ));
        for s in [
            &b.filter_subscription_status,
            &b.subscriber_subscription_status,
        ] {
            subs.push((s.subscription.name.as_str(), &s.ready));
        }
    }
    mark_children(set, c, CHANNELS_READY, "ChannelsNotReady", &chans, now);
    mark_children(
        set,
        c,
        SUBSCRIPTIONS_READY,
        "SubscriptionsNotReady",
        &subs,
        now,
    );
    mark_address(
        set,
        c,
        &mut st.address,
        (&ingress, &ingress_status.ready, ingress_exists),
        ns,
        env,
    );
    st.ingress_channel_status = Some(ingress_status);
    st.branch_statuses = branch_statuses;
    Outcome {
        status: st,
        children: kids,
    }
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
    use crate::view::MemoryView;

    const UID: &str = "u-1";

    fn seq(spec: Value) -> Value {
        json!({"apiVersion": "flows.knative.dev/v1", "kind": "Sequence",
            "metadata": {"namespace": "ns", "name": "seq", "generation": 1, "uid": UID}, "spec": spec})
    }

    fn par(spec: Value) -> Value {
        json!({"apiVersion": "flows.knative.dev/v1", "kind": "Parallel",
            "metadata": {"namespace": "ns", "name": "par", "generation": 1, "uid": UID}, "spec": spec})
    }

    fn imc() -> Value {
        json!({"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel"})
    }

    /// (resource, name, spec) of each child, in order.
    fn children_of(out: &Outcome) -> Vec<(String, String, Value)> {
        out.children
            .iter()
            .map(|c| {
                (
                    c.resource.clone(),
                    c.object["metadata"]["name"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    c.object["spec"].clone(),
                )
            })
            .collect()
    }

    fn ch_ref(kind: &str, name: &str) -> Value {
        json!({"ref": {"apiVersion": "messaging.knative.dev/v1", "kind": kind, "name": name, "namespace": "ns"}})
    }

    fn on(kind: &str, name: &str) -> Value {
        json!({"apiVersion": "messaging.knative.dev/v1", "kind": kind, "name": name})
    }

    #[test]
    fn sequence_children() {
        let env = testing::env();
        let view = testing::view();
        let step = |u: &str| json!({"uri": u});
        // (case, spec, [(resource, name, spec)] of the children)
        type Case = (
            &'static str,
            Value,
            Vec<(&'static str, &'static str, Value)>,
        );
        let cases: Vec<Case> = vec![
            (
                "three steps on InMemoryChannels, reply, per-step delivery",
                json!({"channelTemplate": imc(),
                       "steps": [step("http://a"), {"uri": "http://b", "delivery": {"retry": 3}}, step("http://c")],
                       "reply": {"uri": "http://display"}}),
                vec![
                    (IN_MEMORY_CHANNELS, "seq-kn-sequence-0", json!({})),
                    (IN_MEMORY_CHANNELS, "seq-kn-sequence-1", json!({})),
                    (IN_MEMORY_CHANNELS, "seq-kn-sequence-2", json!({})),
                    (
                        SUBSCRIPTIONS,
                        "seq-kn-sequence-0",
                        json!({"channel": on("InMemoryChannel", "seq-kn-sequence-0"), "subscriber": step("http://a"),
                               "reply": ch_ref("InMemoryChannel", "seq-kn-sequence-1")}),
                    ),
                    (
                        SUBSCRIPTIONS,
                        "seq-kn-sequence-1",
                        json!({"channel": on("InMemoryChannel", "seq-kn-sequence-1"), "subscriber": step("http://b"),
                               "reply": ch_ref("InMemoryChannel", "seq-kn-sequence-2"), "delivery": {"retry": 3}}),
                    ),
                    (
                        SUBSCRIPTIONS,
                        "seq-kn-sequence-2",
                        json!({"channel": on("InMemoryChannel", "seq-kn-sequence-2"), "subscriber": step("http://c"),
                               "reply": {"uri": "http://display"}}),
                    ),
                ],
            ),
            (
                "default template: Channels carrying it, no reply at the end",
                json!({"channelTemplate": {"apiVersion": "messaging.herald.dev/v1", "kind": "DurableChannel"},
                       "steps": [{"ref": {"apiVersion": "v1", "kind": "Service", "name": "annotated"}}]}),
                vec![
                    (
                        CHANNELS,
                        "seq-kn-sequence-0",
                        json!({"channelTemplate": {"apiVersion": "messaging.herald.dev/v1", "kind": "DurableChannel"}}),
                    ),
                    (
                        SUBSCRIPTIONS,
                        "seq-kn-sequence-0",
                        json!({"channel": on("Channel", "seq-kn-sequence-0"),
                               "subscriber": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "annotated"}}}),
                    ),
                ],
            ),
            (
                "InMemoryChannel template spec is the children's spec",
                json!({"channelTemplate": {"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel",
                                           "spec": {"delivery": {"retry": 1}}},
                       "steps": [step("http://a")]}),
                vec![
                    (
                        IN_MEMORY_CHANNELS,
                        "seq-kn-sequence-0",
                        json!({"delivery": {"retry": 1}}),
                    ),
                    (
                        SUBSCRIPTIONS,
                        "seq-kn-sequence-0",
                        json!({"channel": on("InMemoryChannel", "seq-kn-sequence-0"), "subscriber": step("http://a")}),
                    ),
                ],
            ),
        ];
        for (name, spec, want) in cases {
            let out = reconcile_sequence_json(&seq(spec), &view, &env);
            let out = out.unwrap_or_else(|e| panic!("{name}: {e}"));
            let got = children_of(&out);
            let want: Vec<_> = want
                .into_iter()
                .map(|(r, n, s)| (r.to_string(), n.to_string(), s))
                .collect();
            assert_eq!(got, want, "{name}");
            for c in &out.children {
                assert_eq!(
                    c.object["metadata"]["ownerReferences"],
                    json!([{"apiVersion": "flows.knative.dev/v1", "kind": "Sequence", "name": "seq",
                            "uid": UID, "controller": true, "blockOwnerDeletion": true}]),
                    "{name}"
                );
                assert_eq!(c.object["metadata"]["namespace"], "ns");
            }
        }
    }

    #[test]
    fn parallel_children() {
        let env = testing::env();
        let view = testing::view();
        let spec = json!({"channelTemplate": imc(),
            "branches": [
                {"filter": {"uri": "http://f0"}, "subscriber": {"uri": "http://s0"}},
                {"subscriber": {"uri": "http://s1"}, "reply": {"uri": "http://r1"}, "delivery": {"retry": 2}},
            ],
            "reply": {"uri": "http://reply"}});
        let out = reconcile_parallel_json(&par(spec), &view, &env);
        let out = out.unwrap_or_else(|e| panic!("{e}"));
        let imc = |n: &str| (IN_MEMORY_CHANNELS.to_string(), n.to_string(), json!({}));
        let sub = |n: &str, s: Value| (SUBSCRIPTIONS.to_string(), n.to_string(), s);
        assert_eq!(
            children_of(&out),
            vec![
                imc("par-kn-parallel"),
                imc("par-kn-parallel-0"),
                imc("par-kn-parallel-1"),
                sub(
                    "par-kn-parallel-filter-0",
                    json!({"channel": on("InMemoryChannel", "par-kn-parallel"), "subscriber": {"uri": "http://f0"},
                           "reply": ch_ref("InMemoryChannel", "par-kn-parallel-0")})
                ),
                sub(
                    "par-kn-parallel-0",
                    json!({"channel": on("InMemoryChannel", "par-kn-parallel-0"), "subscriber": {"uri": "http://s0"},
                           "reply": {"uri": "http://reply"}})
                ),
                // No filter: the ingress forwards straight into the branch channel.
                sub(
                    "par-kn-parallel-filter-1",
                    json!({"channel": on("InMemoryChannel", "par-kn-parallel"),
                           "subscriber": ch_ref("InMemoryChannel", "par-kn-parallel-1")})
                ),
                sub(
                    "par-kn-parallel-1",
                    json!({"channel": on("InMemoryChannel", "par-kn-parallel-1"), "subscriber": {"uri": "http://s1"},
                           "reply": {"uri": "http://r1"}, "delivery": {"retry": 2}})
                ),
            ]
        );
    }

    fn ready_child(kind: &str, name: &str, status: &str, reason: &str, owner_uid: &str) -> Value {
        json!({"apiVersion": "messaging.knative.dev/v1", "kind": kind,
            "metadata": {"namespace": "ns", "name": name,
                         "ownerReferences": [{"uid": owner_uid, "controller": true}]},
            "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": status, "reason": reason}]}})
    }

    #[test]
    fn sequence_status_aggregates_children() {
        let env = testing::env();
        let spec =
            json!({"channelTemplate": imc(), "steps": [{"uri": "http://a"}, {"uri": "http://b"}]});
        let all = |sub1: (&str, &str), ch1_owner: &str| {
            MemoryView::new()
                .with(
                    IN_MEMORY_CHANNELS,
                    ready_child("InMemoryChannel", "seq-kn-sequence-0", "True", "", UID),
                )
                .with(
                    IN_MEMORY_CHANNELS,
                    ready_child(
                        "InMemoryChannel",
                        "seq-kn-sequence-1",
                        "True",
                        "",
                        ch1_owner,
                    ),
                )
                .with(
                    SUBSCRIPTIONS,
                    ready_child("Subscription", "seq-kn-sequence-0", "True", "", UID),
                )
                .with(
                    SUBSCRIPTIONS,
                    ready_child("Subscription", "seq-kn-sequence-1", sub1.0, sub1.1, UID),
                )
        };
        type Want = &'static [(&'static str, &'static str, &'static str)];
        let cases: Vec<(&str, MemoryView, Want, &str)> = vec![
            (
                "nothing created yet",
                MemoryView::new(),
                &[
                    ("ChannelsReady", "Unknown", "ChannelsNotReady"),
                    ("SubscriptionsReady", "Unknown", "SubscriptionsNotReady"),
                    ("Addressable", "Unknown", "ChannelNotCreated"),
                    ("Ready", "Unknown", "ChannelNotCreated"),
                ],
                "",
            ),
            (
                "all ready",
                all(("True", ""), UID),
                &[
                    ("ChannelsReady", "True", ""),
                    ("SubscriptionsReady", "True", ""),
                    ("Addressable", "True", ""),
                    ("Ready", "True", ""),
                ],
                "http://in/channels/ns/seq-kn-sequence-0",
            ),
            (
                "a subscription failing",
                all(("False", "ReplyResolveFailed"), UID),
                &[
                    ("ChannelsReady", "True", ""),
                    ("SubscriptionsReady", "False", "SubscriptionsNotReady"),
                    ("Ready", "False", "SubscriptionsNotReady"),
                ],
                "http://in/channels/ns/seq-kn-sequence-0",
            ),
            (
                "a channel name taken by another object",
                all(("True", ""), "someone-else"),
                &[
                    ("ChannelsReady", "False", "NotOwned"),
                    ("Ready", "False", "NotOwned"),
                ],
                "http://in/channels/ns/seq-kn-sequence-0",
            ),
        ];
        for (name, view, want, url) in cases {
            let st = reconcile_sequence_json(&seq(spec.clone()), &view, &env)
                .map(|o| o.status)
                .unwrap_or_default();
            for (t, s, r) in want {
                assert_eq!(cond(&st, t), (s.to_string(), r.to_string()), "{name}: {t}");
            }
            assert_eq!(st["address"]["url"].as_str().unwrap_or(""), url, "{name}");
            assert_eq!(
                st["channelStatuses"][1]["channel"],
                json!({"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel",
                       "name": "seq-kn-sequence-1", "namespace": "ns"}),
                "{name}"
            );
            assert_eq!(
                st["subscriptionStatuses"][1]["subscription"]["name"], "seq-kn-sequence-1",
                "{name}"
            );
        }
    }

    #[test]
    fn parallel_status_aggregates_children() {
        let env = testing::env();
        let spec =
            json!({"channelTemplate": imc(), "branches": [{"subscriber": {"uri": "http://a"}}]});
        let mut view = MemoryView::new();
        for n in ["par-kn-parallel", "par-kn-parallel-0"] {
            view.insert(
                IN_MEMORY_CHANNELS,
                ready_child("InMemoryChannel", n, "True", "", UID),
            );
        }
        view.insert(
            SUBSCRIPTIONS,
            ready_child("Subscription", "par-kn-parallel-filter-0", "True", "", UID),
        );
        let st = reconcile_parallel_json(&par(spec.clone()), &view, &env)
            .map(|o| o.status)
            .unwrap_or_default();
        assert_eq!(
            st["address"]["url"],
            "http://in/channels/ns/par-kn-parallel"
        );
        assert_eq!(
            st["ingressChannelStatus"]["channel"]["name"],
            "par-kn-parallel"
        );
        assert_eq!(st["ingressChannelStatus"]["ready"]["status"], "True");
        let b = &st["branchStatuses"][0];
        assert_eq!(
            b["filterChannelStatus"]["channel"]["name"],
            "par-kn-parallel-0"
        );
        assert_eq!(b["filterSubscriptionStatus"]["ready"]["status"], "True");
        assert_eq!(
            b["subscriberSubscriptionStatus"]["ready"]["status"],
            "Unknown"
        );
        assert_eq!(cond(&st, "ChannelsReady"), ("True".into(), "".into()));
        assert_eq!(
            cond(&st, "SubscriptionsReady"),
            ("Unknown".into(), "SubscriptionsNotReady".into())
        );
        assert_eq!(
            cond(&st, "Ready"),
            ("Unknown".into(), "SubscriptionsNotReady".into())
        );

        view.insert(
            SUBSCRIPTIONS,
            ready_child("Subscription", "par-kn-parallel-0", "True", "", UID),
        );
        let st = reconcile_parallel_json(&par(spec), &view, &env)
            .map(|o| o.status)
            .unwrap_or_default();
        assert_eq!(cond(&st, "Ready"), ("True".into(), "".into()));
    }
}
