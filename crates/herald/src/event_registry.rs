//! The event registry's traffic side: what brokers and channels accepted (the data plane's
//! observation window, drained every interval) becomes `status.lastSeen`/`status.eventCount` of
//! the EventTypes it matches and, in namespaces that enable it, new EventTypes (Knative's
//! `eventtype-auto-create`, reference §6.5.1). Matching and planning are pure ([`plan`]); [`run`]
//! does the store I/O off the async threads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use herald_api::Registry;
use herald_dataplane::observe::Seen;
use herald_dataplane::{DataPlane, StreamKind};
use herald_store::{Store, StoreError};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Namespace annotation switching traffic-based registration on (`enabled`) or off (`disabled`).
pub const AUTO_CREATE_ANNOTATION: &str = "herald.dev/eventtype-auto-create";
/// Knative's feature flag (`config-features` in `knative-eventing`): the default for namespaces
/// without the annotation.
pub const FEATURE_FLAG: &str = "eventtype-auto-create";
/// Label on EventTypes created from traffic (counted against the namespace's limit).
pub const AUTO_CREATED_LABEL: &str = "herald.dev/auto-created";
/// Knative's description of auto-created EventTypes.
pub const AUTO_CREATED_DESCRIPTION: &str = "Event Type auto-created by controller";

const EVENT_TYPES: &str = "eventing.knative.dev/eventtypes";

/// Settings of the registry's traffic side.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// How often observations are written (the precision of `lastSeen`).
    pub interval: Duration,
    /// Most EventTypes traffic may create in one namespace.
    pub auto_create_limit: usize,
}

/// The stream an observation belongs to, as an EventType `reference` names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stream {
    /// `Broker`, `Channel` or `InMemoryChannel`.
    pub kind: String,
    pub api_version: String,
    pub name: String,
    pub uid: String,
}

/// One namespace's inputs to a flush.
pub struct Namespace<'a> {
    pub name: &'a str,
    pub auto_create: bool,
    pub event_types: &'a [Value],
    /// The referenced Broker/Channel of each observed stream name (None: deleted meanwhile).
    pub stream: &'a dyn Fn(&Seen) -> Option<Stream>,
}

/// What a flush does in one namespace.
#[derive(Debug, Default, PartialEq)]
pub struct Flush {
    /// EventType name → (events to add, latest time seen).
    pub touch: BTreeMap<String, (u64, jiff::Timestamp)>,
    pub create: Vec<Value>,
    /// New pairs not registered because the namespace reached its limit.
    pub refused: u64,
}

fn attr<'a>(et: &'a Value, name: &str) -> Option<&'a str> {
    et.pointer("/spec/attributes")?
        .as_array()?
        .iter()
        .find(|a| a.get("name").and_then(Value::as_str) == Some(name))?
        .get("value")?
        .as_str()
}

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

/// Whether EventType `et` describes events of `seen`: same referenced stream, same `type`, and
/// the same `source` when the EventType names one.
fn matches(et: &Value, seen: &Seen) -> bool {
    let kind = str_at(et, "/spec/reference/kind");
    let kind_ok = match seen.stream.kind {
        StreamKind::Broker => kind == "Broker",
        StreamKind::Channel => kind == "Channel" || kind == "InMemoryChannel",
    };
    kind_ok
        && str_at(et, "/spec/reference/name") == seen.stream.name
        && attr(et, "type") == Some(seen.ty.as_str())
        && attr(et, "source").is_none_or(|s| s == seen.source)
}

/// Knative's auto-created name: `et-<reference name>-<hash of type, source, namespace, name>`,
/// in DNS-1123 form.
pub fn auto_name(seen: &Seen) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let key = [
        seen.ty.as_str(),
        seen.source.as_str(),
        seen.stream.namespace.as_str(),
        seen.stream.name.as_str(),
    ]
    .join("\0");
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut prefix: String = seen
        .stream
        .name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '-',
        })
        .collect();
    prefix.truncate(200);
    format!("et-{}-{h:016x}", prefix.trim_matches('-'))
}

/// Plans one namespace's flush.
pub fn plan(ns: &Namespace<'_>, seen: &[Seen], limit: usize) -> Flush {
    let mut out = Flush::default();
    let mut auto_created = ns
        .event_types
        .iter()
        .filter(|et| {
            et.pointer(&format!(
                "/metadata/labels/{}",
                AUTO_CREATED_LABEL.replace('/', "~1")
            ))
            .is_some()
        })
        .count();
    let mut created: BTreeSet<String> = BTreeSet::new();
    for s in seen {
        let mut matched = false;
        for et in ns.event_types.iter().filter(|et| matches(et, s)) {
            matched = true;
            let e = out
                .touch
                .entry(str_at(et, "/metadata/name").to_string())
                .or_insert((0, s.last_seen));
            e.0 += s.count;
            e.1 = e.1.max(s.last_seen);
        }
        if matched || !ns.auto_create {
            continue;
        }
        let name = auto_name(s);
        if created.contains(&name) {
            continue;
        }
        if auto_created >= limit {
            out.refused += 1;
            continue;
        }
        let Some(stream) = (ns.stream)(s) else {
            continue;
        };
        auto_created += 1;
        created.insert(name.clone());
        out.create.push(json!({
            "apiVersion": "eventing.knative.dev/v1beta3",
            "kind": "EventType",
            "metadata": {
                "name": name,
                "namespace": ns.name,
                "labels": {AUTO_CREATED_LABEL: "true"},
                "ownerReferences": [{
                    "apiVersion": stream.api_version, "kind": stream.kind,
                    "name": stream.name, "uid": stream.uid,
                }],
            },
            "spec": {
                "reference": {"apiVersion": stream.api_version, "kind": stream.kind,
                              "name": stream.name, "namespace": ns.name},
                "description": AUTO_CREATED_DESCRIPTION,
                "attributes": [
                    {"name": "type", "required": true, "value": s.ty},
                    {"name": "source", "required": true, "value": s.source},
                    {"name": "specversion", "required": true, "value": "1.0"},
                    {"name": "id", "required": true},
                ],
            },
            "status": {"lastSeen": s.last_seen.to_string(), "eventCount": s.count},
        }));
    }
    out
}

/// Whether traffic registers EventTypes in `namespace`: its annotation, else Knative's flag.
fn auto_create_enabled(namespace: Option<&Value>, feature_default: bool) -> bool {
    let annotation = namespace.and_then(|n| {
        n.pointer(&format!(
            "/metadata/annotations/{}",
            AUTO_CREATE_ANNOTATION.replace('/', "~1")
        ))
        .and_then(Value::as_str)
    });
    match annotation {
        Some(v) => v.eq_ignore_ascii_case("enabled"),
        None => feature_default,
    }
}

/// Writes observations into the registry every interval until `shutdown`.
pub async fn run(
    store: Store,
    registry: Arc<Registry>,
    data_plane: DataPlane,
    config: RegistryConfig,
    shutdown: CancellationToken,
) {
    let registry_key = |group: &str, kind: &str| {
        registry
            .lookup_group_kind(group, kind)
            .map(|r| r.key())
            .unwrap_or_default()
    };
    let keys = Keys {
        namespaces: registry_key("", "Namespace"),
        config_maps: registry_key("", "ConfigMap"),
        brokers: registry_key("eventing.knative.dev", "Broker"),
        channels: registry_key("messaging.knative.dev", "Channel"),
        imcs: registry_key("messaging.knative.dev", "InMemoryChannel"),
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(config.interval) => {}
            _ = shutdown.cancelled() => return,
        }
        let seen = data_plane.drain_observed();
        if seen.is_empty() {
            continue;
        }
        let (store, keys, limit) = (store.clone(), keys.clone(), config.auto_create_limit);
        let flushed = tokio::task::spawn_blocking(move || flush(&store, &keys, seen, limit)).await;
        match flushed {
            Ok(Ok(refused)) => {
                herald_dataplane::metrics::add(&data_plane.metrics().eventtypes_refused, refused)
            }
            Ok(Err(e)) => tracing::warn!("event registry: {e}"),
            Err(e) => tracing::warn!("event registry: flush failed: {e}"),
        }
    }
}

#[derive(Clone)]
struct Keys {
    namespaces: String,
    config_maps: String,
    brokers: String,
    channels: String,
    imcs: String,
}

fn flush(store: &Store, keys: &Keys, seen: Vec<Seen>, limit: usize) -> Result<u64, StoreError> {
    let feature_default = store
        .get(&keys.config_maps, "knative-eventing", "config-features")?
        .and_then(|cm| {
            cm.pointer(&format!("/data/{FEATURE_FLAG}"))
                .and_then(Value::as_str)
                .map(|v| v.eq_ignore_ascii_case("enabled"))
        })
        .unwrap_or(false);
    let mut by_ns: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    for s in seen {
        by_ns.entry(s.stream.namespace.clone()).or_default().push(s);
    }
    let mut refused = 0;
    for (ns, seen) in by_ns {
        let (event_types, _) = store.list(EVENT_TYPES, Some(&ns))?;
        let namespace = store.get(&keys.namespaces, "", &ns)?;
        let stream = |s: &Seen| -> Option<Stream> {
            let candidates: &[(&str, &str, &str)] = match s.stream.kind {
                StreamKind::Broker => &[(&keys.brokers, "Broker", "eventing.knative.dev/v1")],
                StreamKind::Channel => &[
                    (&keys.channels, "Channel", "messaging.knative.dev/v1"),
                    (&keys.imcs, "InMemoryChannel", "messaging.knative.dev/v1"),
                ],
            };
            candidates.iter().find_map(|(key, kind, api_version)| {
                let obj = store.get(key, &ns, &s.stream.name).ok()??;
                Some(Stream {
                    kind: kind.to_string(),
                    api_version: api_version.to_string(),
                    name: s.stream.name.clone(),
                    uid: str_at(&obj, "/metadata/uid").to_string(),
                })
            })
        };
        let f = plan(
            &Namespace {
                name: &ns,
                auto_create: auto_create_enabled(namespace.as_ref(), feature_default),
                event_types: &event_types,
                stream: &stream,
            },
            &seen,
            limit,
        );
        refused += f.refused;
        for et in f.create {
            match store.create(EVENT_TYPES, et) {
                Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        for (name, (count, last_seen)) in f.touch {
            touch(store, &ns, &name, count, last_seen)?;
        }
    }
    Ok(refused)
}

/// Adds `count` to an EventType's `eventCount` and moves `lastSeen` forward (read-modify-write,
/// retried on a conflicting write such as the controller's status update).
fn touch(
    store: &Store,
    ns: &str,
    name: &str,
    count: u64,
    last_seen: jiff::Timestamp,
) -> Result<(), StoreError> {
    for _ in 0..5 {
        let Some(mut et) = store.get(EVENT_TYPES, ns, name)? else {
            return Ok(());
        };
        let status = et
            .as_object_mut()
            .map(|o| o.entry("status").or_insert_with(|| json!({})));
        let Some(Value::Object(status)) = status else {
            return Ok(());
        };
        let previous = status
            .get("lastSeen")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        let latest = previous.map_or(last_seen, |p| p.max(last_seen));
        let total = status
            .get("eventCount")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .saturating_add(count);
        status.insert("lastSeen".into(), json!(latest.to_string()));
        status.insert("eventCount".into(), json!(total));
        match store.update(EVENT_TYPES, et) {
            Ok(_) | Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use herald_dataplane::BrokerKey;

    fn seen(broker: &str, ty: &str, source: &str, count: u64, at: i64) -> Seen {
        Seen {
            stream: BrokerKey::new("ns", broker),
            ty: ty.into(),
            source: source.into(),
            count,
            last_seen: jiff::Timestamp::from_second(at).unwrap(),
        }
    }

    fn et(name: &str, broker: &str, ty: &str, source: Option<&str>) -> Value {
        let mut attrs = vec![json!({"name": "type", "value": ty})];
        if let Some(s) = source {
            attrs.push(json!({"name": "source", "value": s}));
        }
        json!({"metadata": {"name": name}, "spec": {"reference": {"kind": "Broker", "name": broker}, "attributes": attrs}})
    }

    fn stream(s: &Seen) -> Option<Stream> {
        Some(Stream {
            kind: "Broker".into(),
            api_version: "eventing.knative.dev/v1".into(),
            name: s.stream.name.clone(),
            uid: "b-uid".into(),
        })
    }

    #[test]
    fn known_types_are_touched_and_new_ones_created_up_to_the_limit() {
        let ets = vec![
            et("any-source", "b", "t1", None),
            et("exact", "b", "t1", Some("s1")),
            et("other-broker", "c", "t1", None),
        ];
        let ns = Namespace {
            name: "ns",
            auto_create: true,
            event_types: &ets,
            stream: &stream,
        };
        let seen = vec![
            seen("b", "t1", "s1", 3, 100),
            seen("b", "t1", "s2", 2, 200),
            seen("b", "new1", "s", 1, 300),
            seen("b", "new2", "s", 1, 300),
            seen("b", "new3", "s", 1, 300),
        ];
        let f = plan(&ns, &seen, 2);
        assert_eq!(f.touch["any-source"].0, 5);
        assert_eq!(f.touch["any-source"].1.as_second(), 200);
        assert_eq!(f.touch["exact"].0, 3);
        assert!(!f.touch.contains_key("other-broker"));
        assert_eq!(f.create.len(), 2);
        assert_eq!(f.refused, 1);
        let c = &f.create[0];
        assert_eq!(c["spec"]["reference"]["name"], "b");
        assert_eq!(c["spec"]["attributes"][0]["value"], "new1");
        assert_eq!(c["metadata"]["ownerReferences"][0]["uid"], "b-uid");
        assert_eq!(c["status"]["eventCount"], 1);
        assert!(c["metadata"]["name"].as_str().unwrap().starts_with("et-b-"));
    }

    #[test]
    fn disabled_namespaces_only_count() {
        let ns = Namespace {
            name: "ns",
            auto_create: false,
            event_types: &[],
            stream: &stream,
        };
        let f = plan(&ns, &[seen("b", "t", "s", 1, 1)], 10);
        assert_eq!(f, Flush::default());
    }

    #[test]
    fn the_limit_counts_existing_auto_created_types() {
        let mut existing = et("et-b-1", "b", "old", None);
        existing["metadata"]["labels"] = json!({AUTO_CREATED_LABEL: "true"});
        let ets = [existing];
        let ns = Namespace {
            name: "ns",
            auto_create: true,
            event_types: &ets,
            stream: &stream,
        };
        let f = plan(&ns, &[seen("b", "t", "s", 1, 1)], 1);
        assert_eq!((f.create.len(), f.refused), (0, 1));
    }

    #[test]
    fn switch_annotation_overrides_the_feature_flag() {
        let ns = |v: &str| json!({"metadata": {"annotations": {AUTO_CREATE_ANNOTATION: v}}});
        assert!(auto_create_enabled(Some(&ns("enabled")), false));
        assert!(!auto_create_enabled(Some(&ns("disabled")), true));
        assert!(auto_create_enabled(Some(&json!({"metadata": {}})), true));
        assert!(!auto_create_enabled(None, false));
    }

    #[test]
    fn auto_names_are_stable_dns_names() {
        let a = auto_name(&seen("My_Broker", "t", "s", 1, 1));
        assert_eq!(a, auto_name(&seen("My_Broker", "t", "s", 9, 9)));
        assert_ne!(a, auto_name(&seen("My_Broker", "t", "s2", 1, 1)));
        assert!(a.starts_with("et-my-broker-"), "{a}");
    }
}
