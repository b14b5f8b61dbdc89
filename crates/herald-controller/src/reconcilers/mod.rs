//! Reconcilers: pure functions from an object, a [`View`] of the others and an [`Env`] to the
//! object's new status (plus, later, child objects to ensure). One module per kind.
//!
//! Each kind module has a typed `reconcile(&K, &dyn View, &Env) -> Outcome<Status>`; the runner
//! calls them through [`for_kind`], which adapts storage-form JSON to the typed function.

use herald_api::conditions::ConditionSet;
use herald_api::meta::Condition;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::env::Env;
use crate::view::View;

pub mod broker;
pub mod channel;
pub mod common;
pub mod eventtype;
pub mod flows;
pub mod kafkasink;
pub mod service;
pub mod sources;
pub mod subscription;
pub mod trigger;

/// The result of one reconcile.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<St = Value> {
    /// The complete new status (the runner adds `observedGeneration`).
    pub status: St,
    /// Objects this one owns and wants to exist (Sequence/Parallel channels and subscriptions,
    /// source adapters…). Not applied yet: the hook is here so reconcilers stay pure when
    /// they start creating children.
    pub children: Vec<Child>,
}

impl<St> Outcome<St> {
    pub fn status(status: St) -> Self {
        Outcome {
            status,
            children: Vec::new(),
        }
    }
}

/// A child object to create or update, owned by the reconciled object.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    /// Resource key of the child.
    pub resource: String,
    /// The desired object (storage form, with an ownerReference to the parent).
    pub object: Value,
}

/// A reconcile that could not run at all (the stored object does not decode).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    #[error("cannot decode the stored object: {0}")]
    Decode(String),
    #[error("cannot encode the status: {0}")]
    Encode(String),
}

/// A reconciler over storage-form JSON.
pub type ReconcileFn = fn(&Value, &dyn View, &Env) -> Result<Outcome, ReconcileError>;

/// Runs a typed reconciler on JSON.
pub fn typed<K, St>(
    obj: &Value,
    view: &dyn View,
    env: &Env,
    f: fn(&K, &dyn View, &Env) -> Outcome<St>,
) -> Result<Outcome, ReconcileError>
where
    K: DeserializeOwned,
    St: Serialize,
{
    let k: K =
        herald_api::registry::decode(obj).map_err(|e| ReconcileError::Decode(e.to_string()))?;
    let out = f(&k, view, env);
    let status =
        serde_json::to_value(&out.status).map_err(|e| ReconcileError::Encode(e.to_string()))?;
    Ok(Outcome {
        status,
        children: out.children,
    })
}

/// The reconciler of a storage group/kind; `None` for kinds the controller leaves alone
/// (core kinds without Knative status, kinds without a status).
pub fn for_kind(group: &str, kind: &str, has_status: bool) -> Option<ReconcileFn> {
    if !has_status {
        return None;
    }
    match dedicated(group, kind) {
        Some(f) => Some(f),
        None if group.is_empty() => None,
        None => Some(init_only),
    }
}

/// The kind's own reconciler, if it has one.
pub fn dedicated(group: &str, kind: &str) -> Option<ReconcileFn> {
    let f: ReconcileFn = match (group, kind) {
        ("", "Service") => service::reconcile_core_json,
        ("serving.knative.dev", "Service") => service::reconcile_serving_json,
        ("eventing.knative.dev", "Broker") => broker::reconcile_json,
        ("eventing.knative.dev", "Trigger") => trigger::reconcile_json,
        ("eventing.knative.dev", "EventType") => eventtype::reconcile_json,
        ("eventing.knative.dev", "KafkaSink") => kafkasink::reconcile_json,
        ("messaging.knative.dev", "Subscription") => subscription::reconcile_json,
        ("messaging.knative.dev", "Channel") => channel::reconcile_channel_json,
        ("messaging.knative.dev", "InMemoryChannel") => channel::reconcile_in_memory_json,
        ("flows.knative.dev", "Sequence") => flows::reconcile_sequence_json,
        ("flows.knative.dev", "Parallel") => flows::reconcile_parallel_json,
        (g, k) if !g.is_empty() && sources::by_kind(k).is_some() => sources::reconcile_json,
        _ => return None,
    };
    Some(f)
}

/// For kinds without a reconciler: `Ready` Unknown so clients see the object was seen, without
/// claiming anything about it.
pub fn init_only(obj: &Value, _view: &dyn View, env: &Env) -> Result<Outcome, ReconcileError> {
    let mut status = obj
        .get("status")
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    if !status.is_object() {
        status = Value::Object(Default::default());
    }
    let mut conditions: Vec<Condition> = status
        .get("conditions")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default();
    ConditionSet::new(&[]).initialize(&mut conditions, &env.now);
    let conditions =
        serde_json::to_value(conditions).map_err(|e| ReconcileError::Encode(e.to_string()))?;
    if let Some(m) = status.as_object_mut() {
        m.insert("conditions".into(), conditions);
    }
    Ok(Outcome::status(status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_api::Registry;

    /// Every kind of the real registry that this milestone covers has its own reconciler;
    /// others get `init_only` and core kinds without status nothing.
    #[test]
    fn real_registry_coverage() {
        let reg = Registry::new();
        let mut generic = Vec::new();
        for r in reg.resources() {
            match (
                dedicated(r.group, r.kind),
                for_kind(r.group, r.kind, r.has_status),
            ) {
                (Some(_), _) => {}
                (None, Some(_)) => generic.push(r.key()),
                (None, None) => assert!(
                    r.group.is_empty() || !r.has_status,
                    "{} has no reconciler",
                    r.key()
                ),
            }
        }
        for key in [
            "eventing.knative.dev/brokers",
            "eventing.knative.dev/triggers",
            "eventing.knative.dev/eventtypes",
            "messaging.knative.dev/subscriptions",
            "messaging.knative.dev/channels",
            "messaging.knative.dev/inmemorychannels",
            "flows.knative.dev/sequences",
            "flows.knative.dev/parallels",
            "sources.knative.dev/pingsources",
            "sources.knative.dev/apiserversources",
            "core/services",
        ] {
            assert!(reg.by_key(key).is_some(), "{key} missing from the registry");
            assert!(
                !generic.contains(&key.to_string()),
                "{key} has no dedicated reconciler"
            );
        }
    }
}
