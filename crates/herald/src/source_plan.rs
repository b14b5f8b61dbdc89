//! Builds the source runtime's plans from the source objects in the store (pure: [`build`]) and
//! keeps the runtime in step with the store (I/O: [`run`]). A source runs once its reconciler has
//! resolved `status.sinkUri`; after each apply the source kinds are re-reconciled so their
//! conditions show the runtime's readiness.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use herald_api::Registry;
use herald_sources::{SinkTarget, SourceKey, SourceKind, SourcePlan, Sources};
use herald_store::Store;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Looks up `key` of Secret `name` in a namespace.
pub type SecretLookup<'a> = &'a dyn Fn(&str, &str, &str) -> Option<String>;

/// The plans for the current source objects of each kind.
pub fn build(objects: &[(SourceKind, Vec<Value>)], secret: SecretLookup<'_>) -> Vec<SourcePlan> {
    let mut plans = Vec::new();
    for (kind, list) in objects {
        for obj in list {
            if let Some(p) = plan_of(*kind, obj, secret) {
                plans.push(p);
            }
        }
    }
    plans
}

fn plan_of(kind: SourceKind, obj: &Value, secret: SecretLookup<'_>) -> Option<SourcePlan> {
    let meta = obj.get("metadata")?;
    if meta.get("deletionTimestamp").is_some_and(|v| !v.is_null()) {
        return None;
    }
    let ns = meta.get("namespace")?.as_str()?;
    let name = meta.get("name")?.as_str()?;
    let uid = meta.get("uid").and_then(Value::as_str).unwrap_or_default();
    let generation = meta.get("generation").and_then(Value::as_i64).unwrap_or(0);
    let status = obj.get("status");
    let sink = target(status, "sink");
    let dead_letter_sink = target(status, "deadLetterSink");
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let ce_overrides = spec
        .pointer("/ceOverrides/extensions")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let mut secrets = BTreeMap::new();
    collect_secrets(&spec, String::new(), ns, secret, &mut secrets);
    let labels = meta
        .get("labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Some(SourcePlan {
        key: SourceKey::new(kind, ns, name),
        uid: uid.to_string(),
        generation,
        sink,
        dead_letter_sink,
        ce_overrides,
        spec,
        labels,
        secrets,
    })
}

/// A resolved destination in a status: `<prefix>Uri`, `<prefix>CACerts`, `<prefix>Audience`.
fn target(status: Option<&Value>, prefix: &str) -> Option<SinkTarget> {
    let field = |suffix: &str| {
        status
            .and_then(|s| s.get(format!("{prefix}{suffix}")))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    field("Uri")
        .filter(|u| !u.is_empty())
        .map(|uri| SinkTarget {
            uri,
            ca_certs: field("CACerts"),
            audience: field("Audience"),
        })
}

/// Resolves every `secretKeyRef: {name, key}` in the spec, and every bare `{name, key}` under a
/// field named `secret` or `…Secret`, keyed by the JSON pointer of the object holding it
/// (`/secretToken`, `/template/spec/containers/0/env/1/valueFrom`, `/awsCredsSecret`, `/secret`).
fn collect_secrets(
    v: &Value,
    path: String,
    ns: &str,
    secret: SecretLookup<'_>,
    out: &mut BTreeMap<String, String>,
) {
    match v {
        Value::Object(m) => {
            // `{secretKeyRef: {name, key}}`, or a bare SecretKeySelector `{name, key}` under a
            // field named `secret` / `…Secret` (GcpPubSubSource `secret`, AwsSqsSource
            // `awsCredsSecret`).
            let field = path.rsplit('/').next().unwrap_or_default();
            let selector = m
                .get("secretKeyRef")
                .or_else(|| (field == "secret" || field.ends_with("Secret")).then_some(v));
            if let Some(r) = selector {
                let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
                // RabbitmqSource's `connectionSecret` names a whole Secret: its key is `uri`.
                let default_key = if field == "connectionSecret" {
                    "uri"
                } else {
                    ""
                };
                let key = r.get("key").and_then(Value::as_str).unwrap_or(default_key);
                if let Some(value) = secret(ns, name, key) {
                    out.insert(path.clone(), value);
                }
            }
            for (k, child) in m {
                collect_secrets(child, format!("{path}/{k}"), ns, secret, out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                collect_secrets(child, format!("{path}/{i}"), ns, secret, out);
            }
        }
        _ => {}
    }
}

/// A Secret's value for `key`: `data` (base64) or `stringData`.
pub fn secret_value(secret: &Value, key: &str) -> Option<String> {
    if let Some(b64) = secret
        .pointer("/data")
        .and_then(|d| d.get(key))
        .and_then(Value::as_str)
    {
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        return String::from_utf8(bytes).ok();
    }
    secret
        .pointer("/stringData")
        .and_then(|d| d.get(key))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Keeps the source runtime in step with the store until `shutdown`.
pub async fn run(
    store: Store,
    registry: Arc<Registry>,
    sources: Sources,
    requeue: herald_controller::Requeue,
    shutdown: CancellationToken,
) {
    let kinds: Vec<(SourceKind, String)> = SourceKind::ALL
        .into_iter()
        .filter_map(|k| {
            let r = registry.lookup_group_kind(k.group(), k.name())?;
            Some((k, r.key()))
        })
        .collect();
    let secrets_key = registry
        .lookup_group_kind("", "Secret")
        .map(|r| r.key())
        .unwrap_or_default();
    let mut relevant: Vec<String> = kinds.iter().map(|(_, k)| k.clone()).collect();
    relevant.push(secrets_key.clone());
    loop {
        let since = store.current_rv();
        let objects: Vec<(SourceKind, Vec<Value>)> = kinds
            .iter()
            .map(|(k, key)| {
                (
                    *k,
                    store.list(key, None).map(|(v, _)| v).unwrap_or_default(),
                )
            })
            .collect();
        let lookup = |ns: &str, name: &str, key: &str| {
            let s = store.get(&secrets_key, ns, name).ok().flatten()?;
            secret_value(&s, key)
        };
        let plans = build(&objects, &lookup);
        sources.apply(plans);
        // Re-reconcile now; runtimes that become ready later re-queue their kind themselves.
        for (k, _) in &kinds {
            requeue.kind(k.group(), k.name());
        }
        if !crate::store_changes::wait(&store, since, &relevant, "sources", &shutdown).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn plans_carry_sink_overrides_and_secrets() {
        let gh = json!({"apiVersion": "sources.knative.dev/v1alpha1", "kind": "GitHubSource",
            "metadata": {"namespace": "ns", "name": "gh", "uid": "u1", "generation": 2},
            "spec": {"ownerAndRepository": "o/r", "eventTypes": ["push"],
                     "secretToken": {"secretKeyRef": {"name": "s", "key": "token"}},
                     "accessToken": {"secretKeyRef": {"name": "s", "key": "missing"}},
                     "ceOverrides": {"extensions": {"team": "a"}}},
            "status": {"sinkUri": "http://sink/", "deadLetterSinkUri": "http://dls/"}});
        let pending = json!({"metadata": {"namespace": "ns", "name": "p", "generation": 1},
            "spec": {"schedule": "* * * * *"}});
        let deleted = json!({"metadata": {"namespace": "ns", "name": "d",
            "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"sinkUri": "http://x/"}});
        let lookup = |ns: &str, name: &str, key: &str| {
            (ns == "ns" && name == "s" && key == "token").then(|| "hunter2".to_string())
        };
        let plans = build(
            &[
                (SourceKind::GitHub, vec![gh]),
                (SourceKind::Ping, vec![pending, deleted]),
            ],
            &lookup,
        );
        assert_eq!(plans.len(), 2);
        let gh = &plans[0];
        assert_eq!(gh.key, SourceKey::new(SourceKind::GitHub, "ns", "gh"));
        assert_eq!(gh.generation, 2);
        assert_eq!(gh.sink.as_ref().unwrap().uri, "http://sink/");
        assert_eq!(gh.dead_letter_sink.as_ref().unwrap().uri, "http://dls/");
        assert_eq!(gh.ce_overrides.get("team").map(String::as_str), Some("a"));
        assert_eq!(
            gh.secrets.get("/secretToken").map(String::as_str),
            Some("hunter2")
        );
        assert!(!gh.secrets.contains_key("/accessToken"));
        // A bare SecretKeySelector under `secret` (GcpPubSubSource) resolves at its pointer.
        let ps = json!({"metadata": {"namespace": "ns", "name": "ps"},
            "spec": {"topic": "t", "secret": {"name": "s", "key": "token"},
                     "other": {"name": "s", "key": "token"}}});
        let plans_ps = build(&[(SourceKind::GcpPubSub, vec![ps])], &lookup);
        let keys: Vec<&String> = plans_ps[0].secrets.keys().collect();
        assert_eq!(keys, ["/secret"]);
        assert_eq!(plans[1].sink, None, "no sinkUri yet: runs without a sink");
    }

    #[test]
    fn selector_fields_resolve_at_their_own_pointer() {
        let sqs = json!({"metadata": {"namespace": "ns", "name": "q", "generation": 1},
            "spec": {"queueUrl": "http://h/1/q",
                     "awsCredsSecret": {"name": "aws", "key": "credentials"}},
            "status": {"sinkUri": "http://sink/"}});
        let lookup = |ns: &str, name: &str, key: &str| {
            (ns == "ns" && name == "aws" && key == "credentials").then(|| "file".to_string())
        };
        let plans = build(&[(SourceKind::AwsSqs, vec![sqs])], &lookup);
        assert_eq!(
            plans[0].secrets.get("/awsCredsSecret").map(String::as_str),
            Some("file")
        );
    }

    #[test]
    fn bare_selectors_and_connection_secrets_resolve() {
        let spec = json!({"awsCredsSecret": {"name": "aws", "key": "credentials"},
            "rabbitmqClusterReference": {"name": "c", "connectionSecret": {"name": "rmq"}}});
        let lookup = |_: &str, name: &str, key: &str| Some(format!("{name}:{key}"));
        let mut out = BTreeMap::new();
        collect_secrets(&spec, String::new(), "ns", &lookup, &mut out);
        assert_eq!(
            out.get("/awsCredsSecret").map(String::as_str),
            Some("aws:credentials")
        );
        assert_eq!(
            out.get("/rabbitmqClusterReference/connectionSecret")
                .map(String::as_str),
            Some("rmq:uri")
        );
    }

    #[test]
    fn secret_values_from_data_or_string_data() {
        let s = json!({"data": {"a": "aGk="}, "stringData": {"b": "there"}});
        assert_eq!(secret_value(&s, "a").as_deref(), Some("hi"));
        assert_eq!(secret_value(&s, "b").as_deref(), Some("there"));
        assert_eq!(secret_value(&s, "c"), None);
    }
}
