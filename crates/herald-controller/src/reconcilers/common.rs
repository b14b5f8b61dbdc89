//! Condition helpers shared by reconcilers: destination results and data-plane readiness as
//! conditions, the same way in every kind.

use herald_api::conditions::ConditionSet;
use herald_api::messaging::channelable::DeliveryStatus;
use herald_api::meta::{Condition, DeliverySpec, Destination};

use crate::env::{DataPlaneKind, DataPlaneReadiness, Env};
use crate::resolve::{ResolveError, Resolved, resolve};
use crate::view::View;

pub const DEAD_LETTER_SINK_RESOLVED: &str = "DeadLetterSinkResolved";
pub const DEAD_LETTER_SINK_NOT_CONFIGURED: &str = "DeadLetterSinkNotConfigured";
pub const NOT_IMPLEMENTED: &str = "NotImplemented";

/// Resolves a destination against the env's registry.
pub fn resolve_dest(
    dest: &Destination,
    namespace: &str,
    view: &dyn View,
    env: &Env,
) -> Result<Resolved, ResolveError> {
    resolve(dest, namespace, view, &env.registry)
}

/// Marks `cond` from a resolution result; returns the URI when resolved.
pub fn mark_resolved(
    set: &ConditionSet,
    conditions: &mut Vec<Condition>,
    cond: &str,
    result: Result<Resolved, ResolveError>,
    now: &str,
) -> Option<Resolved> {
    match result {
        Ok(r) => {
            set.mark_true(conditions, cond, now);
            Some(r)
        }
        Err(e) => {
            set.mark_false(conditions, cond, e.reason, &e.message, now);
            None
        }
    }
}

/// `DeadLetterSinkResolved` from `spec.delivery.deadLetterSink`: True with reason
/// `DeadLetterSinkNotConfigured` when none is set (as Knative does), else resolved or False.
pub fn mark_dead_letter_sink(
    set: &ConditionSet,
    conditions: &mut Vec<Condition>,
    delivery: Option<&DeliverySpec>,
    namespace: &str,
    view: &dyn View,
    env: &Env,
) -> Option<Resolved> {
    match delivery.and_then(|d| d.dead_letter_sink.as_ref()) {
        None => {
            set.mark_true_with_reason(
                conditions,
                DEAD_LETTER_SINK_RESOLVED,
                DEAD_LETTER_SINK_NOT_CONFIGURED,
                "No dead letter sink is configured.",
                &env.now,
            );
            None
        }
        Some(d) => {
            let r = resolve_dest(d, namespace, view, env);
            mark_resolved(set, conditions, DEAD_LETTER_SINK_RESOLVED, r, &env.now)
        }
    }
}

/// Marks each of `conds` from the data plane's readiness of one object.
pub fn mark_data_plane(
    set: &ConditionSet,
    conditions: &mut Vec<Condition>,
    conds: &[&str],
    readiness: &DataPlaneReadiness,
    now: &str,
) {
    for c in conds {
        match readiness {
            DataPlaneReadiness::Ready | DataPlaneReadiness::Applied { .. } => {
                set.mark_true(conditions, c, now)
            }
            DataPlaneReadiness::Pending { reason, message } => {
                set.mark_unknown(conditions, c, reason, message, now)
            }
            DataPlaneReadiness::Failed { reason, message } => {
                set.mark_false(conditions, c, reason, message, now)
            }
        }
    }
}

/// Shorthand: data-plane readiness of (kind, ns, name) marked on `conds`.
pub fn mark_data_plane_of(
    set: &ConditionSet,
    conditions: &mut Vec<Condition>,
    conds: &[&str],
    kind: DataPlaneKind,
    namespace: &str,
    name: &str,
    env: &Env,
) {
    let r = env.data_plane(kind, namespace, name);
    mark_data_plane(set, conditions, conds, &r, &env.now);
}

/// Marks a runtime condition False because the behaviour is not in this build.
pub fn mark_not_implemented(
    set: &ConditionSet,
    conditions: &mut Vec<Condition>,
    cond: &str,
    kind: &str,
    now: &str,
) {
    set.mark_false(
        conditions,
        cond,
        NOT_IMPLEMENTED,
        &format!("{kind} event delivery is not available in this build yet"),
        now,
    );
}

/// Conditions Knative reports for opt-in features Herald does not enable (OIDC, authorization):
/// True with the reason Knative uses when the feature is off, so they never block `Ready`.
pub fn mark_disabled_features(set: &ConditionSet, conditions: &mut Vec<Condition>, now: &str) {
    for c in set.dependents {
        match *c {
            "OIDCIdentityCreated" | "OIDCTokenSecretCreated" => set.mark_true_with_reason(
                conditions,
                c,
                "authentication-oidc feature disabled",
                "",
                now,
            ),
            "EventPoliciesReady" => set.mark_true_with_reason(
                conditions,
                c,
                "OIDCDisabled",
                "Feature \"authentication-oidc\" must be enabled to support Authorization",
                now,
            ),
            "TrustBundlePropagated" => set.mark_true_with_reason(
                conditions,
                c,
                "TransportEncryptionDisabled",
                "Transport encryption is disabled",
                now,
            ),
            _ => {}
        }
    }
}

/// Feature conditions handled by [`mark_disabled_features`].
pub const FEATURE_CONDITIONS: &[&str] = &[
    "OIDCIdentityCreated",
    "OIDCTokenSecretCreated",
    "EventPoliciesReady",
    "TrustBundlePropagated",
];

/// The dependents of `set` that are neither in `handled` nor feature conditions: the ones
/// standing for runtime behaviour (data plane, adapters).
pub fn remaining<'a>(set: &'a ConditionSet, handled: &'a [&'a str]) -> Vec<&'static str> {
    set.dependents
        .iter()
        .copied()
        .filter(|c| !handled.contains(c) && !FEATURE_CONDITIONS.contains(c))
        .collect()
}

/// The Ready condition of an object as JSON (`status.conditions[type=Ready]`).
pub fn ready_condition(obj: &serde_json::Value) -> Option<Condition> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .filter_map(|c| serde_json::from_value::<Condition>(c.clone()).ok())
        .find(|c| c.type_ == herald_api::conditions::READY)
}

/// Writes a resolved dead-letter sink (or clears it) into a `DeliveryStatus`.
pub fn set_delivery_status(d: &mut DeliveryStatus, r: Option<Resolved>) {
    *d = match r {
        Some(r) => DeliveryStatus {
            dead_letter_sink_uri: Some(r.uri),
            dead_letter_sink_ca_certs: r.ca_certs,
            dead_letter_sink_audience: r.audience,
        },
        None => DeliveryStatus::default(),
    };
}
