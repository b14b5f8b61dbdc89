//! OpenAPI v3 schemas generated from the Rust types, made structural the way Kubernetes wants
//! CRD schemas (every `$ref` inlined, `nullable` instead of null types), and the unknown-field
//! check that strict field validation (`fieldValidation=Strict`) and pruning need.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// How deep `$ref`s are inlined before a recursive type is cut off (recursive filters).
const MAX_DEPTH: usize = 12;

/// The structural OpenAPI v3 schema of `T`.
pub fn structural<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::openapi3().into_generator();
    let root = generator.into_root_schema_for::<T>().to_value();
    let defs = collect_defs(&root);
    let mut stack = Vec::new();
    let mut out = inline(&root, &defs, &mut stack);
    if let Some(m) = out.as_object_mut() {
        for k in ["$schema", "$defs", "definitions", "components", "title"] {
            m.remove(k);
        }
    }
    out
}

/// A schema that accepts any JSON object and keeps its fields.
pub fn preserve_unknown() -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

fn collect_defs(root: &Value) -> Map<String, Value> {
    let mut defs = Map::new();
    for p in ["/$defs", "/definitions", "/components/schemas"] {
        if let Some(Value::Object(m)) = root.pointer(p) {
            defs.extend(m.clone());
        }
    }
    defs
}

fn ref_name(r: &str) -> &str {
    r.rsplit('/').next().unwrap_or(r)
}

fn inline(schema: &Value, defs: &Map<String, Value>, stack: &mut Vec<String>) -> Value {
    match schema {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                let name = ref_name(r).to_string();
                if stack.contains(&name) || stack.len() > MAX_DEPTH {
                    return preserve_unknown();
                }
                let Some(target) = defs.get(&name) else {
                    return preserve_unknown();
                };
                stack.push(name);
                let mut resolved = inline(target, defs, stack);
                stack.pop();
                // Keep sibling keywords (description, nullable) next to the $ref.
                if let Value::Object(rm) = &mut resolved {
                    for (k, v) in m {
                        if k != "$ref" {
                            rm.insert(k.clone(), inline(v, defs, stack));
                        }
                    }
                }
                return resolved;
            }
            let mut out = Map::new();
            for (k, v) in m {
                if k == "$schema" || k == "title" || k == "$defs" || k == "definitions" {
                    continue;
                }
                out.insert(k.clone(), inline(v, defs, stack));
            }
            simplify(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| inline(v, defs, stack)).collect()),
        other => other.clone(),
    }
}

/// Collapses the shapes schemars emits for `Option<T>` and single-element `allOf`/`anyOf`
/// into plain structural schemas.
fn simplify(mut m: Map<String, Value>) -> Value {
    if let Some(Value::String(d)) = m.get_mut("description") {
        *d = unwrap_lines(d);
    }
    collapse_string_enum(&mut m);
    for key in ["allOf", "anyOf", "oneOf"] {
        let Some(Value::Array(items)) = m.get(key).cloned() else {
            continue;
        };
        let non_null: Vec<Value> = items
            .iter()
            .filter(|s| !is_null_schema(s))
            .cloned()
            .collect();
        if non_null.len() < items.len() {
            m.insert("nullable".into(), Value::Bool(true));
        }
        if non_null.len() == 1 {
            m.remove(key);
            if let Value::Object(inner) = &non_null[0] {
                for (k, v) in inner {
                    m.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        } else if non_null.len() != items.len() {
            m.insert(key.into(), Value::Array(non_null));
        }
    }
    // `type: ["string", "null"]` -> `type: string, nullable: true`
    if let Some(Value::Array(types)) = m.get("type").cloned() {
        let non_null: Vec<&Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .collect();
        if non_null.len() < types.len() {
            m.insert("nullable".into(), Value::Bool(true));
        }
        if non_null.len() == 1 {
            m.insert("type".into(), non_null[0].clone());
        }
    }
    if let Some(Value::Array(vals)) = m.get_mut("enum")
        && vals.iter().any(|v| !v.is_null())
    {
        vals.retain(|v| !v.is_null());
    }
    // Defaults are applied by Herald's defaulting, not by the schema.
    m.remove("default");
    Value::Object(m)
}

/// Joins the hard-wrapped lines of a doc comment so `kubectl explain` can wrap them itself;
/// blank lines stay paragraph breaks.
fn unwrap_lines(d: &str) -> String {
    d.split("\n\n")
        .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// A Rust enum whose variants have doc comments comes out of schemars as `oneOf` of one-value
/// schemas; Kubernetes wants `type: string` + `enum`, with the variants' docs in the description.
fn collapse_string_enum(m: &mut Map<String, Value>) {
    for key in ["oneOf", "anyOf"] {
        let Some(Value::Array(items)) = m.get(key) else {
            continue;
        };
        let mut values = Vec::new();
        let mut docs = Vec::new();
        for item in items.iter().filter(|s| !is_null_schema(s)) {
            let value = item.get("const").or_else(|| {
                item.get("enum")
                    .and_then(Value::as_array)
                    .filter(|a| a.len() == 1)
                    .and_then(|a| a.first())
            });
            let Some(Value::String(v)) = value else {
                return;
            };
            if let Some(Value::String(d)) = item.get("description") {
                docs.push(format!("`{v}`: {}", unwrap_lines(d)));
            }
            values.push(Value::String(v.clone()));
        }
        if values.is_empty() {
            return;
        }
        let nullable = items.iter().any(is_null_schema);
        m.remove(key);
        m.insert("type".into(), Value::String("string".into()));
        m.insert("enum".into(), Value::Array(values));
        if nullable {
            m.insert("nullable".into(), Value::Bool(true));
        }
        if !docs.is_empty() {
            let base = m
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let joined = docs.join("; ");
            let d = if base.is_empty() {
                joined
            } else {
                format!("{base} ({joined})")
            };
            m.insert("description".into(), Value::String(d));
        }
        return;
    }
}

fn is_null_schema(s: &Value) -> bool {
    s.get("type").and_then(Value::as_str) == Some("null")
        || s.get("enum")
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() == 1 && a[0].is_null())
        || s.get("const").is_some_and(Value::is_null)
}

/// Returns the paths (`spec.foo`, `spec.items[0].bar`) of fields in `instance` that `schema`
/// does not declare.
pub fn unknown_fields(schema: &Value, instance: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(schema, instance, "", &mut out, false);
    out
}

/// Removes the fields `schema` does not declare (Kubernetes pruning).
pub fn prune(schema: &Value, instance: &mut Value) {
    prune_walk(schema, instance);
}

/// The property schemas a schema declares, merged across `allOf`/`anyOf`/`oneOf`.
fn properties(schema: &Value) -> Option<Map<String, Value>> {
    let mut props = schema.get("properties").and_then(Value::as_object).cloned();
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(items)) = schema.get(key) {
            for item in items {
                if let Some(p) = properties(item) {
                    props.get_or_insert_with(Map::new).extend(p);
                }
            }
        }
    }
    props
}

fn preserves(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
        || schema.as_object().is_some_and(|m| m.is_empty())
        || schema.as_bool() == Some(true)
}

fn walk(schema: &Value, instance: &Value, path: &str, out: &mut Vec<String>, _in_map: bool) {
    if preserves(schema) {
        return;
    }
    match instance {
        Value::Object(obj) => {
            let props = properties(schema);
            let additional = schema.get("additionalProperties");
            for (k, v) in obj {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if let Some(s) = props.as_ref().and_then(|p| p.get(k)) {
                    walk(s, v, &child, out, false);
                } else if let Some(a) = additional {
                    if a.as_bool() != Some(false) {
                        walk(a, v, &child, out, true);
                    } else {
                        out.push(child);
                    }
                } else if props.is_some() {
                    out.push(child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(s, v, &format!("{path}[{i}]"), out, false);
                }
            }
        }
        _ => {}
    }
}

fn prune_walk(schema: &Value, instance: &mut Value) {
    if preserves(schema) {
        return;
    }
    match instance {
        Value::Object(obj) => {
            let props = properties(schema);
            let additional = schema.get("additionalProperties").cloned();
            obj.retain(|k, _| {
                props.as_ref().is_some_and(|p| p.contains_key(k))
                    || additional
                        .as_ref()
                        .is_some_and(|a| a.as_bool() != Some(false))
                    || (props.is_none() && additional.is_none())
            });
            for (k, v) in obj.iter_mut() {
                if let Some(s) = props.as_ref().and_then(|p| p.get(k)) {
                    prune_walk(s, v);
                } else if let Some(a) = &additional {
                    prune_walk(a, v);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for v in items {
                    prune_walk(s, v);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Inner {
        a: Option<String>,
    }
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Outer {
        /// An inner value.
        inner: Option<Inner>,
        list: Vec<Inner>,
        map: BTreeMap<String, String>,
        recursive: Option<Box<Outer>>,
    }

    #[test]
    fn structural_inlines_and_detects_unknown() {
        let s = structural::<Outer>();
        assert!(!s.to_string().contains("$ref"), "{s}");
        assert_eq!(s.pointer("/properties/inner/type"), Some(&json!("object")));
        assert_eq!(s.pointer("/properties/inner/nullable"), Some(&json!(true)));
        let inst = json!({"inner": {"a": "x", "b": 1}, "list": [{"z": 1}], "map": {"k": "v"},
                          "recursive": {"anything": 1}, "top": true});
        let mut unknown = unknown_fields(&s, &inst);
        unknown.sort();
        assert_eq!(unknown, vec!["inner.b", "list[0].z", "top"]);
        let mut pruned = inst.clone();
        prune(&s, &mut pruned);
        assert_eq!(pruned.pointer("/inner/b"), None);
        assert_eq!(pruned.pointer("/map/k"), Some(&json!("v")));
    }

    /// A mode.
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    enum Mode {
        /// The first
        /// mode.
        First,
        /// The second mode.
        Second,
    }
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct WithEnum {
        /// Which
        /// mode.
        mode: Option<Mode>,
        plain: Mode,
    }

    #[test]
    fn documented_enums_become_string_enums() {
        let s = structural::<WithEnum>();
        let mode = &s["properties"]["mode"];
        assert_eq!(mode["type"], json!("string"), "{s}");
        assert_eq!(mode["enum"], json!(["First", "Second"]), "{s}");
        assert_eq!(mode["description"], json!("Which mode."), "{s}");
        let plain = &s["properties"]["plain"];
        assert_eq!(plain["enum"], json!(["First", "Second"]), "{s}");
        assert!(
            plain["description"]
                .as_str()
                .unwrap_or("")
                .contains("`First`: The first mode."),
            "{s}"
        );
    }
}
