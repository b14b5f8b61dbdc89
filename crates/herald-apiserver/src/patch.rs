//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch
//! (simplified) and server-side apply (simplified).
//!
//! Simplifications, documented because they differ from kube-apiserver:
//! - Strategic merge patch is applied as a JSON merge patch after dropping `$`-directive keys
//!   (`$setElementOrder/...`, `$retainKeys`, `$deleteFromPrimitiveList/...`); a map with
//!   `$patch: delete` deletes that key. Lists are replaced, never merged by key. Herald's
//!   core kinds (ConfigMap, Secret, Namespace, Service) have no lists where this matters to kubectl.
//! - Server-side apply merges the applied object into the live one (maps merge recursively,
//!   lists and scalars are replaced). `managedFields` are not tracked, so there are no field
//!   ownership conflicts and fields dropped from a later apply are not removed.

use serde_json::{Map, Value};

/// The PATCH flavours kubectl sends, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchKind::Apply)
            }
            _ => None,
        }
    }
}

/// RFC 7386 merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// RFC 6902 JSON patch; the error names the failing operation.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| format!("invalid JSON patch: {e}"))?;
    json_patch::patch(target, &ops).map_err(|e| e.to_string())
}

/// Turns a strategic merge patch into a plain merge patch (see the module docs).
pub fn strip_directives(patch: &Value) -> Value {
    match patch {
        Value::Object(m) => {
            if m.get("$patch").and_then(Value::as_str) == Some("delete") {
                return Value::Null;
            }
            let mut out = Map::new();
            for (k, v) in m {
                if k.starts_with('$') {
                    continue;
                }
                out.insert(k.clone(), strip_directives(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("delete"))
                .map(strip_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Strategic merge patch, simplified (see the module docs).
pub fn strategic_patch(target: &mut Value, patch: &Value) {
    merge_patch(target, &strip_directives(patch));
}

/// Server-side apply without field ownership: `applied` is deep-merged into `live`.
pub fn apply(live: &mut Value, applied: &Value) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            for (k, v) in a {
                match l.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => apply(existing, v),
                    _ => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (l, a) => *l = a.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types() {
        let cases = [
            ("application/merge-patch+json", Some(PatchKind::Merge)),
            ("application/json-patch+json", Some(PatchKind::Json)),
            (
                "application/strategic-merge-patch+json; charset=utf-8",
                Some(PatchKind::Strategic),
            ),
            ("application/apply-patch+yaml", Some(PatchKind::Apply)),
            ("application/json", None),
        ];
        for (ct, want) in cases {
            assert_eq!(PatchKind::from_content_type(ct), want, "{ct}");
        }
    }

    #[test]
    fn patches() {
        let base =
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"list": [1, 2], "x": 1}});
        let cases: Vec<(PatchKind, Value, Value)> = vec![
            (
                PatchKind::Merge,
                json!({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"list": [3]}}),
                json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"list": [3], "x": 1}}),
            ),
            (
                PatchKind::Json,
                json!([{"op": "replace", "path": "/spec/x", "value": 2}, {"op": "add", "path": "/spec/list/-", "value": 9}]),
                json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"list": [1, 2, 9], "x": 2}}),
            ),
            (
                PatchKind::Strategic,
                json!({"$setElementOrder/list": [1], "metadata": {"labels": {"$patch": "delete"}}, "spec": {"x": 5, "$retainKeys": ["x"]}}),
                json!({"metadata": {}, "spec": {"list": [1, 2], "x": 5}}),
            ),
            (
                PatchKind::Apply,
                json!({"metadata": {"labels": {"c": "3"}}, "spec": {"list": [7]}}),
                json!({"metadata": {"labels": {"a": "1", "b": "2", "c": "3"}}, "spec": {"list": [7], "x": 1}}),
            ),
        ];
        for (kind, p, want) in cases {
            let mut doc = base.clone();
            match kind {
                PatchKind::Merge => merge_patch(&mut doc, &p),
                PatchKind::Json => json_patch(&mut doc, &p).expect("json patch"),
                PatchKind::Strategic => strategic_patch(&mut doc, &p),
                PatchKind::Apply => apply(&mut doc, &p),
            }
            assert_eq!(doc, want, "{kind:?}");
        }
        let mut doc = base.clone();
        let err = json_patch(
            &mut doc,
            &json!([{"op": "test", "path": "/spec/x", "value": 2}]),
        );
        assert!(err.is_err());
        assert!(json_patch(&mut doc, &json!({"op": "x"})).is_err());
    }
}
