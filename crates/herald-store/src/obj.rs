//! Reading and writing the `metadata` fields the store owns, without trusting input shape.

use serde_json::{Map, Value};

use crate::StoreError;

/// The resource key of Namespaces, whose deletion empties them first.
pub(crate) const NAMESPACES: &str = "core/namespaces";

/// `brokers.eventing.knative.dev` for `eventing.knative.dev/brokers`, `namespaces` for
/// `core/namespaces`: the way Kubernetes names a resource in error messages.
pub(crate) fn qualified(resource: &str) -> String {
    match resource.split_once('/') {
        Some(("core", plural)) | Some(("", plural)) => plural.to_string(),
        Some((group, plural)) => format!("{plural}.{group}"),
        None => resource.to_string(),
    }
}

/// The `metadata` map, or `Invalid` for non-object JSON / non-object metadata.
pub(crate) fn meta(obj: &Value) -> Result<&Map<String, Value>, StoreError> {
    let o = obj
        .as_object()
        .ok_or_else(|| StoreError::Invalid("object must be a JSON object".into()))?;
    match o.get("metadata") {
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(StoreError::Invalid("metadata must be an object".into())),
        None => Err(StoreError::Invalid("metadata is required".into())),
    }
}

/// Mutable `metadata`, same validation as [`meta`].
pub(crate) fn meta_mut(obj: &mut Value) -> Result<&mut Map<String, Value>, StoreError> {
    let o = obj
        .as_object_mut()
        .ok_or_else(|| StoreError::Invalid("object must be a JSON object".into()))?;
    match o.get_mut("metadata") {
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(StoreError::Invalid("metadata must be an object".into())),
        None => Err(StoreError::Invalid("metadata is required".into())),
    }
}

/// A string field of metadata; absent, null or non-string reads as "".
pub(crate) fn str_field<'a>(m: &'a Map<String, Value>, field: &str) -> &'a str {
    m.get(field).and_then(Value::as_str).unwrap_or("")
}

/// Metadata string field from a whole object ("" when anything is missing).
pub(crate) fn obj_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub(crate) fn has_finalizers(obj: &Value) -> bool {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

pub(crate) fn is_deleting(obj: &Value) -> bool {
    obj.get("metadata")
        .and_then(|m| m.get("deletionTimestamp"))
        .is_some_and(|v| !v.is_null())
}

/// Uids named by `metadata.ownerReferences`, deduplicated.
pub(crate) fn owner_uids(obj: &Value) -> Vec<String> {
    let mut out: Vec<String> = obj
        .get("metadata")
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// Sets a metadata field; the object was validated before, so a missing map is a no-op.
pub(crate) fn set_meta(obj: &mut Value, field: &str, v: Value) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert(field.to_string(), v);
    }
}

/// Now, as Kubernetes writes timestamps: RFC 3339, second precision, UTC `Z`.
pub(crate) fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Marks an object as being deleted (once): `deletionTimestamp` and a zero grace period.
/// Returns whether it changed.
pub(crate) fn mark_deleting(obj: &mut Value) -> bool {
    if is_deleting(obj) {
        return false;
    }
    set_meta(obj, "deletionTimestamp", Value::String(now()));
    set_meta(obj, "deletionGracePeriodSeconds", Value::from(0));
    true
}

/// Sets `status.phase: Terminating` on a Namespace; returns whether it changed.
pub(crate) fn set_terminating(obj: &mut Value) -> bool {
    let Some(o) = obj.as_object_mut() else {
        return false;
    };
    let status = o
        .entry("status")
        .or_insert_with(|| Value::Object(Map::new()));
    if !status.is_object() {
        *status = Value::Object(Map::new());
    }
    match status.as_object_mut() {
        Some(s) if s.get("phase").and_then(Value::as_str) != Some("Terminating") => {
            s.insert("phase".into(), Value::String("Terminating".into()));
            true
        }
        _ => false,
    }
}

/// Five random characters from Kubernetes' generateName alphabet (no vowels, so generated names
/// do not spell words).
pub(crate) fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}
