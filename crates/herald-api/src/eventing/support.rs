//! Helpers shared by the eventing, messaging and flows kinds: annotations, YAML defaults read
//! from ConfigMaps, destination namespace defaulting, immutability checks and the lossless
//! conversion between served versions.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::field::{FieldError, FieldErrors};
use crate::meta::{Destination, ObjectMeta};
use crate::registry::{ConvertFn, Ctx, decode};

/// The structural schema of `T` with a kind-specific top-level description (`kubectl explain`).
pub fn described<T: schemars::JsonSchema>(description: &str) -> Value {
    let mut s = crate::schema::structural::<T>();
    if let Some(m) = s.as_object_mut() {
        m.insert("description".into(), Value::String(description.into()));
    }
    s
}

/// The namespace Knative's default ConfigMaps live in.
pub const SYSTEM_NAMESPACE: &str = "knative-eventing";

/// Annotation where a conversion keeps the fields the target version cannot represent, so a
/// read-modify-write through an older version loses nothing.
pub const CONVERSION_STASH_ANNOTATION: &str = "herald.dev/conversion-stash";

/// Returns an annotation's value.
pub fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// Sets an annotation.
pub fn set_annotation(meta: &mut ObjectMeta, key: &str, value: impl Into<String>) {
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_string(), value.into());
}

/// Sets a label.
pub fn set_label(meta: &mut ObjectMeta, key: &str, value: impl Into<String>) {
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_string(), value.into());
}

/// The field path of an annotation, as Herald reports it (`metadata.annotations.<key>`).
pub fn annotation_path(key: &str) -> String {
    format!("metadata.annotations.{key}")
}

/// Reads a YAML document from `key` of ConfigMap `knative-eventing/<name>`.
pub fn config_yaml(ctx: &Ctx, name: &str, key: &str) -> Option<Value> {
    let data = ctx.config.config_map(SYSTEM_NAMESPACE, name)?;
    let text = data.get(key)?;
    serde_saphyr::from_str::<Value>(text).ok()
}

/// The `namespaceDefaults.<ns>` entry of a defaults document, else its `clusterDefault`.
pub fn scoped_default<'a>(cfg: &'a Value, ns: &str) -> Option<&'a Value> {
    cfg.get("namespaceDefaults")
        .and_then(|n| n.get(ns))
        .or_else(|| cfg.get("clusterDefault"))
        .filter(|v| v.is_object())
}

/// A field of the namespace default, falling back to the cluster default field by field.
pub fn scoped_field<'a>(cfg: &'a Value, ns: &str, field: &str) -> Option<&'a Value> {
    cfg.get("namespaceDefaults")
        .and_then(|n| n.get(ns))
        .and_then(|d| d.get(field))
        .or_else(|| cfg.get("clusterDefault").and_then(|d| d.get(field)))
        .filter(|v| !v.is_null())
}

/// Defaults `ref.namespace` of a destination to `ns`.
pub fn default_destination_namespace(d: &mut Destination, ns: &str) {
    if let Some(r) = &mut d.ref_
        && r.namespace.as_deref().unwrap_or("").is_empty()
        && !ns.is_empty()
    {
        r.namespace = Some(ns.to_string());
    }
}

/// An immutability error at `path` when `old != new`.
pub fn check_immutable<T: PartialEq>(errs: &mut FieldErrors, path: &str, old: &T, new: &T) {
    if old != new {
        errs.push(FieldError::immutable(path));
    }
}

/// Decodes `obj.spec` (absent or null = default), prefixing error paths with `spec`.
pub fn spec_of<T: DeserializeOwned + Default>(obj: &Value) -> Result<T, FieldErrors> {
    match obj.get("spec") {
        None | Some(Value::Null) => Ok(T::default()),
        Some(s) => decode(s).map_err(|e| {
            let mut out = FieldErrors::new();
            out.extend_at("spec", e);
            out
        }),
    }
}

/// Replaces `obj.spec` with `spec` encoded as JSON.
pub fn put_spec<T: Serialize>(obj: &mut Value, spec: &T) -> Result<(), FieldErrors> {
    let spec = crate::registry::encode(spec)?;
    if let Some(m) = obj.as_object_mut() {
        m.insert("spec".into(), spec);
    }
    Ok(())
}

/// Returns an annotation of a JSON object.
pub fn json_annotation(obj: &Value, key: &str) -> Option<String> {
    obj.pointer("/metadata/annotations")?
        .get(key)?
        .as_str()
        .map(str::to_string)
}

/// Sets (`Some`) or removes (`None`) an annotation of a JSON object; drops an emptied map.
pub fn set_json_annotation(obj: &mut Value, key: &str, value: Option<String>) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    match value {
        Some(v) => {
            let ann = meta
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if !ann.is_object() {
                *ann = Value::Object(Map::new());
            }
            if let Some(a) = ann.as_object_mut() {
                a.insert(key.to_string(), Value::String(v));
            }
        }
        None => {
            let empty = match meta.get_mut("annotations").and_then(Value::as_object_mut) {
                Some(a) => {
                    a.remove(key);
                    a.is_empty()
                }
                None => false,
            };
            if empty {
                meta.remove("annotations");
            }
        }
    }
}

fn spec_field(obj: &Value, key: &str) -> Value {
    obj.get("spec")
        .and_then(|s| s.get(key))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Converts `obj` with `forward` without losing fields the target cannot represent.
///
/// The stash annotation carries, per top-level spec field of the target, `{if, then}`: when
/// the converted field still equals `if` (the user did not change what it derives from), it
/// is restored to `then`. After converting, the fields of `obj` that `backward` would not
/// reproduce are stashed the same way for the way back.
pub fn convert_lossless(
    mut obj: Value,
    forward: ConvertFn,
    backward: ConvertFn,
) -> Result<Value, FieldErrors> {
    let stash = json_annotation(&obj, CONVERSION_STASH_ANNOTATION)
        .and_then(|s| serde_json::from_str::<Map<String, Value>>(&s).ok());
    set_json_annotation(&mut obj, CONVERSION_STASH_ANNOTATION, None);
    let mut out = forward(obj.clone())?;
    if let Some(stash) = stash {
        for (k, rule) in stash {
            let cond = rule.get("if").cloned().unwrap_or(Value::Null);
            let then = rule.get("then").cloned().unwrap_or(Value::Null);
            if spec_field(&out, &k) != cond {
                continue;
            }
            if let Some(spec) = out.get_mut("spec").and_then(Value::as_object_mut) {
                if then.is_null() {
                    spec.remove(&k);
                } else {
                    spec.insert(k, then);
                }
            } else if !then.is_null()
                && let Some(m) = out.as_object_mut()
            {
                let mut spec = Map::new();
                spec.insert(k, then);
                m.insert("spec".into(), Value::Object(spec));
            }
        }
    }
    let back = backward(out.clone())?;
    let mut keys: Vec<String> = Vec::new();
    for v in [&obj, &back] {
        if let Some(s) = v.get("spec").and_then(Value::as_object) {
            keys.extend(s.keys().cloned());
        }
    }
    keys.sort();
    keys.dedup();
    let mut new_stash = Map::new();
    for k in keys {
        let (orig, derived) = (spec_field(&obj, &k), spec_field(&back, &k));
        if orig != derived {
            let mut rule = Map::new();
            rule.insert("if".into(), derived);
            rule.insert("then".into(), orig);
            new_stash.insert(k, Value::Object(rule));
        }
    }
    if !new_stash.is_empty() {
        set_json_annotation(
            &mut out,
            CONVERSION_STASH_ANNOTATION,
            Some(Value::Object(new_stash).to_string()),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotations_on_json() {
        let mut v = json!({"metadata": {"name": "x"}});
        set_json_annotation(&mut v, "a", Some("1".into()));
        assert_eq!(json_annotation(&v, "a").as_deref(), Some("1"));
        set_json_annotation(&mut v, "a", None);
        assert_eq!(v, json!({"metadata": {"name": "x"}}));
    }

    #[test]
    fn scoped_defaults() {
        let cfg = json!({"clusterDefault": {"brokerClass": "A", "delivery": {"retry": 1}},
                         "namespaceDefaults": {"ns1": {"brokerClass": "B"}}});
        assert_eq!(scoped_field(&cfg, "ns1", "brokerClass"), Some(&json!("B")));
        assert_eq!(scoped_field(&cfg, "ns2", "brokerClass"), Some(&json!("A")));
        assert_eq!(
            scoped_field(&cfg, "ns1", "delivery"),
            Some(&json!({"retry": 1}))
        );
        assert_eq!(
            scoped_default(&cfg, "ns1"),
            Some(&json!({"brokerClass": "B"}))
        );
    }

    fn drop_b(mut v: Value) -> Result<Value, FieldErrors> {
        if let Some(s) = v.get_mut("spec").and_then(Value::as_object_mut) {
            s.remove("b");
        }
        Ok(v)
    }

    #[test]
    fn stash_restores_unrepresentable_fields() {
        let storage = json!({"metadata": {"name": "x"}, "spec": {"a": 1, "b": 2}});
        let legacy = convert_lossless(storage.clone(), drop_b, drop_b).unwrap_or_default();
        assert_eq!(legacy.pointer("/spec/b"), None);
        assert!(json_annotation(&legacy, CONVERSION_STASH_ANNOTATION).is_some());
        let back = convert_lossless(legacy, drop_b, drop_b).unwrap_or_default();
        assert_eq!(back, storage);
    }
}
