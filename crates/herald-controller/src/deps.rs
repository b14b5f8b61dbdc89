//! Which objects to re-reconcile when another object changes. Deliberately coarse (same
//! namespace, by kind) rather than a per-reference tracker: correct by construction, cheap at
//! Herald's scale, and the periodic resync covers anything else.

use herald_api::Resource;
use herald_store::EventType;
use serde_json::Value;

/// Kinds others send events to: a change to their address affects every destination holder.
pub fn is_addressable(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("eventing.knative.dev", "Broker" | "KafkaSink")
            | ("messaging.knative.dev", "Channel" | "InMemoryChannel")
            | ("flows.knative.dev", "Sequence" | "Parallel")
            | ("", "Service")
            | ("serving.knative.dev", "Service")
    )
}

/// Kinds whose status depends on other objects: Destinations (subscriber, reply, sink,
/// dead-letter sink), a broker or channel, a reference (EventType) or a dependency annotation.
pub fn has_references(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("eventing.knative.dev", "Broker" | "Trigger" | "EventType")
            | (
                "messaging.knative.dev",
                "Channel" | "InMemoryChannel" | "Subscription"
            )
            | ("flows.knative.dev", _)
            | ("sources.knative.dev" | "sources.herald.dev", _)
    )
}

/// Whether a change (`event`) to an object of `changed` must re-reconcile the objects of
/// `target` in the same namespace. Addressable changes (address, readiness) fan out on every
/// event; any other kind only matters by existing or not (EventType references, Trigger
/// dependency annotations, references to the wrong kind), so only on add/delete.
pub fn affects(changed: &Resource, event: EventType, target: &Resource) -> bool {
    if changed.group.is_empty() && changed.kind != "Service" {
        return false; // Namespaces, ConfigMaps, Secrets: nothing references them (yet).
    }
    if is_subscription_kind(changed) {
        // Triggers and Subscriptions come by the thousand and nothing depends on them (they
        // are not addressable): fanning out on each add made creating N Triggers O(N²). A
        // destination that names one by mistake gets its message refreshed by the resync.
        return false;
    }
    let fan_out = is_addressable(changed.group, changed.kind) || event != EventType::Modified;
    fan_out && has_references(target.group, target.kind)
}

/// Triggers and Subscriptions: the per-subscriber kinds.
fn is_subscription_kind(r: &Resource) -> bool {
    matches!(
        (r.group, r.kind),
        ("eventing.knative.dev", "Trigger") | ("messaging.knative.dev", "Subscription")
    )
}

/// The controllers of an object: `(group, kind, name)` of each ownerReference with
/// `controller: true`. A change to a child (a flow's channel or subscription: created, status
/// written, deleted) re-queues its controller, which aggregates the children's readiness and
/// re-creates deleted ones. Owners live in the child's namespace.
pub fn controllers(obj: &Value) -> Vec<(String, String, String)> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .filter_map(|r| {
            let av = r.get("apiVersion")?.as_str()?;
            let group = av.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            Some((
                group.to_string(),
                r.get("kind")?.as_str()?.to_string(),
                r.get("name")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::registry;

    #[test]
    fn edges() {
        let reg = registry();
        let r = |k: &str| reg.by_key(k).map(|r| (r.group, r.kind));
        let res = |k: &str| reg.by_key(k);
        let (Some(broker), Some(trigger), Some(ping), Some(svc), Some(ns)) = (
            res("eventing.knative.dev/brokers"),
            res("eventing.knative.dev/triggers"),
            res("sources.knative.dev/pingsources"),
            res("core/services"),
            res("core/namespaces"),
        ) else {
            panic!("test registry incomplete: {:?}", r("core/services"));
        };
        assert!(affects(broker, EventType::Modified, trigger));
        assert!(affects(svc, EventType::Modified, ping));
        assert!(affects(svc, EventType::Modified, broker)); // dead-letter sinks
        assert!(!affects(trigger, EventType::Modified, trigger)); // status writes don't fan out
        assert!(affects(ping, EventType::Added, trigger)); // dependency annotation
        assert!(!affects(trigger, EventType::Added, trigger)); // creating N Triggers stays O(N)
        assert!(!affects(trigger, EventType::Deleted, ping));
        assert!(!affects(broker, EventType::Modified, svc));
        assert!(!affects(ns, EventType::Added, trigger));
    }

    #[test]
    fn controllers_of_a_child() {
        let child = serde_json::json!({"metadata": {"ownerReferences": [
            {"apiVersion": "flows.knative.dev/v1", "kind": "Sequence", "name": "s", "uid": "u", "controller": true},
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "v"}]}});
        assert_eq!(
            controllers(&child),
            vec![("flows.knative.dev".into(), "Sequence".into(), "s".into())]
        );
        assert!(controllers(&serde_json::json!({})).is_empty());
    }
}
