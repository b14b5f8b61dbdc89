//! Pure parts of the ApiServerSource: the CloudEvent for one object change (Knative's
//! `pkg/adapter/apiserver/events`), the owner filter, and the bookkeeping that turns list and
//! watch results into add/update/delete changes without repeating what was already sent.

use std::collections::BTreeMap;

use base64::Engine;
use herald_api::sources::apiserver::{ApiVersionKind, RESOURCE_MODE};
use herald_ce::{AttrValue, Data, Event};
use serde::Serialize;
use serde_json::Value;

/// What an event carries: a reference to the object (the default) or the object itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Reference,
    Resource,
}

impl Mode {
    /// `spec.mode`; anything but `Resource` is Reference (Knative's default).
    pub fn from_spec(mode: &str) -> Mode {
        if mode == RESOURCE_MODE {
            Mode::Resource
        } else {
            Mode::Reference
        }
    }
}

/// The kind of change an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Update,
    Delete,
}

/// `dev.knative.apiserver.{ref,resource}.{add,update,delete}`.
pub fn event_type(mode: Mode, op: Op) -> String {
    let m = match mode {
        Mode::Reference => "ref",
        Mode::Resource => "resource",
    };
    let o = match op {
        Op::Add => "add",
        Op::Update => "update",
        Op::Delete => "delete",
    };
    format!("dev.knative.apiserver.{m}.{o}")
}

/// Why an object cannot become an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("the object has no metadata.name")]
    NoName,
    #[error("the object could not be encoded: {0}")]
    Encode(String),
}

/// The resource (plural) name Kubernetes guesses from a kind (`UnsafeGuessKindToResource`),
/// which Knative uses for the subject: `Broker` → `brokers`, `Policy` → `policies`,
/// `Endpoints` unchanged.
pub fn guess_plural(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if lower.ends_with("endpoints") {
        lower
    } else if lower.ends_with('s') {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else if lower.is_empty() {
        lower
    } else {
        format!("{lower}s")
    }
}

/// Knative's self-link-like subject: `/apis/<apiVersion>/namespaces/<ns>/<plural>/<name>`,
/// also for core (`/apis/v1/...`) and cluster-scoped objects (empty namespace segment).
pub fn subject(api_version: &str, kind: &str, namespace: &str, name: &str) -> String {
    let version = if api_version.contains('.') && !api_version.contains('/') {
        format!("{api_version}/versionUnknown")
    } else {
        api_version.to_string()
    };
    format!(
        "/apis/{version}/namespaces/{namespace}/{}/{name}",
        guess_plural(kind)
    )
}

/// The Reference-mode data: a `corev1.ObjectReference` with Go's field order and omitempty.
#[derive(Serialize)]
struct ObjectRef<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    kind: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    namespace: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(rename = "apiVersion", skip_serializing_if = "str::is_empty")]
    api_version: &'a str,
}

fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The event for one change of `obj`. `source` is the API server's URL. `id` and `time` are
/// left for the emitter to fill in.
pub fn build_event(source: &str, mode: Mode, op: Op, obj: &Value) -> Result<Event, BuildError> {
    let api_version = str_at(obj, "/apiVersion");
    let kind = str_at(obj, "/kind");
    let name = str_at(obj, "/metadata/name");
    let namespace = str_at(obj, "/metadata/namespace");
    if name.is_empty() {
        return Err(BuildError::NoName);
    }
    let data = match mode {
        Mode::Reference => serde_json::to_string(&ObjectRef {
            kind,
            namespace,
            name,
            api_version,
        }),
        Mode::Resource => serde_json::to_string(obj),
    }
    .map_err(|e| BuildError::Encode(e.to_string()))?;
    let mut event = Event::new("", source, event_type(mode, op));
    event.subject = Some(subject(api_version, kind, namespace, name));
    event.datacontenttype = Some("application/json".into());
    event.data = Some(Data::Json(data));
    // Copied so Triggers can filter on them (Knative PRs #3741, #6696). A cluster-scoped
    // object has no namespace: the extension is left out rather than sent empty.
    for (ext, value) in [
        ("kind", kind),
        ("name", name),
        ("namespace", namespace),
        ("apiversion", api_version),
    ] {
        if !value.is_empty() {
            event.set_extension(ext, AttrValue::String(value.to_string()));
        }
    }
    Ok(event)
}

/// `spec.owner`: the object's controller (the owner reference with `controller: true`) must
/// have this kind, and this apiVersion when one is given (Knative's `controllerFilter`).
pub fn owner_matches(obj: &Value, owner: Option<&ApiVersionKind>) -> bool {
    let Some(owner) = owner else {
        return true;
    };
    let Some(refs) = obj
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
    else {
        return false;
    };
    refs.iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .is_some_and(|c| {
            (owner.api_version.is_empty() || str_at(c, "/apiVersion") == owner.api_version)
                && (owner.kind.is_empty() || str_at(c, "/kind") == owner.kind)
        })
}

fn key(obj: &Value) -> String {
    format!(
        "{}/{}",
        str_at(obj, "/metadata/namespace"),
        str_at(obj, "/metadata/name")
    )
}

fn rv(obj: &Value) -> &str {
    str_at(obj, "/metadata/resourceVersion")
}

/// The objects one watch has seen (by namespace/name), so a re-list after an expired or broken
/// watch reports only real differences and repeated watch events are not sent twice.
#[derive(Debug, Default)]
pub struct Seen {
    objects: BTreeMap<String, Value>,
    listed: bool,
}

impl Seen {
    /// True once a first list has been taken in.
    pub fn listed(&self) -> bool {
        self.listed
    }

    /// An added or modified object: `Add` when new, `Update` when its resourceVersion moved,
    /// nothing when it was already seen as it is.
    pub fn upsert(&mut self, obj: Value) -> Option<(Op, Value)> {
        let op = match self.objects.get(&key(&obj)) {
            None => Op::Add,
            Some(old) if rv(old) == rv(&obj) && !rv(&obj).is_empty() => return None,
            Some(_) => Op::Update,
        };
        self.objects.insert(key(&obj), obj.clone());
        Some((op, obj))
    }

    /// A deleted object (sent even when never seen: the server says it existed).
    pub fn delete(&mut self, obj: Value) -> (Op, Value) {
        self.objects.remove(&key(&obj));
        (Op::Delete, obj)
    }

    /// A full list. The first one only records what exists (Knative's adapter sends nothing
    /// for objects that exist when it starts); later ones yield adds, updates and deletes
    /// (with the last seen object) against what was seen before.
    pub fn relist(&mut self, items: Vec<Value>) -> Vec<(Op, Value)> {
        if !self.listed {
            self.listed = true;
            self.objects = items.into_iter().map(|o| (key(&o), o)).collect();
            return Vec::new();
        }
        let listed: std::collections::BTreeSet<String> = items.iter().map(key).collect();
        let gone: Vec<String> = self
            .objects
            .keys()
            .filter(|k| !listed.contains(*k))
            .cloned()
            .collect();
        let mut changes: Vec<(Op, Value)> =
            items.into_iter().filter_map(|o| self.upsert(o)).collect();
        for k in gone {
            if let Some(old) = self.objects.remove(&k) {
                changes.push((Op::Delete, old));
            }
        }
        changes
    }
}

/// DER certificates from a PEM bundle (the `CERTIFICATE` blocks; others are skipped).
pub fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let Some(end) = body.find(END) else { break };
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.push(der);
        }
        rest = &body[end + END.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ns: &str, name: &str, rv: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"namespace": ns, "name": name, "resourceVersion": rv}})
    }

    #[test]
    fn plurals_and_subjects() {
        let cases = [
            (
                "v1",
                "Pod",
                "default",
                "p",
                "/apis/v1/namespaces/default/pods/p",
            ),
            (
                "eventing.knative.dev/v1",
                "Broker",
                "ns",
                "b",
                "/apis/eventing.knative.dev/v1/namespaces/ns/brokers/b",
            ),
            (
                "networking.k8s.io/v1",
                "NetworkPolicy",
                "ns",
                "np",
                "/apis/networking.k8s.io/v1/namespaces/ns/networkpolicies/np",
            ),
            (
                "v1",
                "Endpoints",
                "ns",
                "e",
                "/apis/v1/namespaces/ns/endpoints/e",
            ),
            (
                "v1",
                "Namespace",
                "",
                "ns1",
                "/apis/v1/namespaces//namespaces/ns1",
            ),
            (
                "example.com",
                "Thing",
                "ns",
                "t",
                "/apis/example.com/versionUnknown/namespaces/ns/things/t",
            ),
        ];
        for (av, kind, ns, name, want) in cases {
            assert_eq!(subject(av, kind, ns, name), want, "{av} {kind}");
        }
    }

    #[test]
    fn events_per_mode_and_op() {
        let obj = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
            "metadata": {"namespace": "ns", "name": "b", "uid": "u1", "resourceVersion": "7"},
            "spec": {"x": 1}});
        let cases = [
            (
                Mode::Reference,
                Op::Add,
                "dev.knative.apiserver.ref.add",
                r#"{"kind":"Broker","namespace":"ns","name":"b","apiVersion":"eventing.knative.dev/v1"}"#
                    .to_string(),
            ),
            (
                Mode::Reference,
                Op::Delete,
                "dev.knative.apiserver.ref.delete",
                r#"{"kind":"Broker","namespace":"ns","name":"b","apiVersion":"eventing.knative.dev/v1"}"#
                    .to_string(),
            ),
            (
                Mode::Resource,
                Op::Update,
                "dev.knative.apiserver.resource.update",
                obj.to_string(),
            ),
        ];
        for (mode, op, ty, data) in cases {
            let e =
                build_event("https://api:6443", mode, op, &obj).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(e.ty, ty);
            assert_eq!(e.source, "https://api:6443");
            assert_eq!(
                e.subject.as_deref(),
                Some("/apis/eventing.knative.dev/v1/namespaces/ns/brokers/b")
            );
            assert_eq!(e.datacontenttype.as_deref(), Some("application/json"));
            assert_eq!(e.data, Some(Data::Json(data)));
            assert!(e.id.is_empty());
            let ext: Vec<(&str, String)> = e
                .extensions
                .iter()
                .map(|(k, v)| (k.as_str(), format!("{v:?}")))
                .collect();
            assert_eq!(ext.len(), 4, "{ext:?}");
            for (k, want) in [
                ("kind", "Broker"),
                ("name", "b"),
                ("namespace", "ns"),
                ("apiversion", "eventing.knative.dev/v1"),
            ] {
                assert_eq!(
                    e.extensions.get(k),
                    Some(&AttrValue::String(want.into())),
                    "{k}"
                );
            }
        }
    }

    #[test]
    fn cluster_scoped_and_nameless() {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n1"}});
        let e = build_event("s", Mode::Reference, Op::Add, &ns).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            e.data,
            Some(Data::Json(
                r#"{"kind":"Namespace","name":"n1","apiVersion":"v1"}"#.into()
            ))
        );
        assert!(!e.extensions.contains_key("namespace"));
        assert_eq!(
            build_event("s", Mode::Resource, Op::Add, &json!({"metadata": {}})),
            Err(BuildError::NoName)
        );
    }

    #[test]
    fn owner_filter() {
        let owned = |controller: bool| {
            json!({"metadata": {"name": "p", "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "controller": controller}
            ]}})
        };
        let rs = |av: &str, kind: &str| ApiVersionKind {
            api_version: av.into(),
            kind: kind.into(),
        };
        let cases = [
            ("no filter", owned(false), None, true),
            (
                "controller matches",
                owned(true),
                Some(rs("apps/v1", "ReplicaSet")),
                true,
            ),
            ("kind only", owned(true), Some(rs("", "ReplicaSet")), true),
            (
                "other kind",
                owned(true),
                Some(rs("apps/v1", "Deployment")),
                false,
            ),
            (
                "other version",
                owned(true),
                Some(rs("apps/v2", "ReplicaSet")),
                false,
            ),
            (
                "not controller",
                owned(false),
                Some(rs("", "ReplicaSet")),
                false,
            ),
            (
                "no owners",
                pod("n", "p", "1"),
                Some(rs("", "ReplicaSet")),
                false,
            ),
        ];
        for (name, obj, owner, want) in cases {
            assert_eq!(owner_matches(&obj, owner.as_ref()), want, "{name}");
        }
    }

    fn ops(changes: &[(Op, Value)]) -> Vec<(Op, String, String)> {
        changes
            .iter()
            .map(|(op, o)| (*op, key(o), rv(o).to_string()))
            .collect()
    }

    #[test]
    fn seen_turns_lists_and_watch_events_into_changes() {
        let mut seen = Seen::default();
        assert!(!seen.listed());
        // The first list sends nothing.
        assert!(
            seen.relist(vec![pod("a", "x", "1"), pod("a", "y", "1")])
                .is_empty()
        );
        assert!(seen.listed());
        assert_eq!(
            seen.upsert(pod("a", "z", "2")).map(|(op, _)| op),
            Some(Op::Add)
        );
        assert_eq!(
            seen.upsert(pod("a", "x", "3")).map(|(op, _)| op),
            Some(Op::Update)
        );
        assert_eq!(seen.upsert(pod("a", "x", "3")), None, "a repeated event");
        assert_eq!(seen.delete(pod("a", "z", "4")).0, Op::Delete);
        // A re-list: x unchanged, y changed, w new, and nothing of z (already deleted).
        let mut x_gone = seen.relist(vec![pod("a", "x", "3"), pod("a", "w", "5")]);
        x_gone.sort_by_key(|(_, o)| key(o));
        assert_eq!(
            ops(&x_gone),
            vec![
                (Op::Add, "a/w".into(), "5".into()),
                (Op::Delete, "a/y".into(), "1".into()),
            ]
        );
        let changed = seen.relist(vec![pod("a", "x", "6"), pod("a", "w", "5")]);
        assert_eq!(ops(&changed), vec![(Op::Update, "a/x".into(), "6".into())]);
    }

    #[test]
    fn event_types() {
        assert_eq!(Mode::from_spec("Resource"), Mode::Resource);
        assert_eq!(Mode::from_spec("Reference"), Mode::Reference);
        assert_eq!(Mode::from_spec(""), Mode::Reference);
        assert_eq!(
            event_type(Mode::Resource, Op::Delete),
            "dev.knative.apiserver.resource.delete"
        );
        assert_eq!(
            event_type(Mode::Reference, Op::Update),
            "dev.knative.apiserver.ref.update"
        );
    }

    #[test]
    fn pem_bundle() {
        let pem = "junk\n-----BEGIN CERTIFICATE-----\nAQID\nBA==\n-----END CERTIFICATE-----\n\
                   -----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n\
                   -----BEGIN CERTIFICATE-----\nBQY=\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_certificates(pem), vec![vec![1, 2, 3, 4], vec![5, 6]]);
        assert!(pem_certificates("nothing").is_empty());
    }
}
