//! A minimal decoder for Kubernetes' protobuf request bodies.
//!
//! client-go's typed clients (used by `kubectl create namespace|configmap|secret`) send core
//! objects as `application/vnd.kubernetes.protobuf`: the `k8s\0` magic, then a
//! `runtime.Unknown` envelope around the object's protobuf. Herald decodes the fields its core
//! kinds use (ObjectMeta's name, generateName, namespace, labels, annotations, finalizers;
//! Namespace finalizers; ConfigMap and Secret data) into JSON; responses are always JSON,
//! which those clients accept. Other kinds answer 415.

use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

/// One protobuf field: number and payload.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or("truncated protobuf varint")?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err("protobuf varint too long".into())
}

fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (num, wire) = (key >> 3, key & 7);
        let f = match wire {
            0 => Field::Varint(varint(buf, &mut pos)?),
            1 => {
                pos = pos.checked_add(8).ok_or("overflow")?;
                Field::Fixed
            }
            5 => {
                pos = pos.checked_add(4).ok_or("overflow")?;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).map_err(|e| e.to_string())?;
                let end = pos.checked_add(len).ok_or("overflow")?;
                let b = buf.get(pos..end).ok_or("truncated protobuf field")?;
                pos = end;
                Field::Bytes(b)
            }
            w => return Err(format!("unsupported protobuf wire type {w}")),
        };
        if pos > buf.len() {
            return Err("truncated protobuf message".into());
        }
        out.push((num, f));
    }
    Ok(out)
}

fn string(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|e| format!("invalid UTF-8 in protobuf string: {e}"))
}

/// A `map<string, string|bytes>` entry; `bytes_as_base64` renders bytes values like JSON does.
fn map_entry(b: &[u8], bytes_as_base64: bool) -> Result<(String, Value), String> {
    let mut k = String::new();
    let mut v = Value::String(String::new());
    for (n, f) in fields(b)? {
        if let Field::Bytes(x) = f {
            match n {
                1 => k = string(x)?,
                2 if bytes_as_base64 => {
                    v = serde_json::to_value(k8s_openapi::ByteString(x.to_vec()))
                        .map_err(|e| e.to_string())?
                }
                2 => v = Value::String(string(x)?),
                _ => {}
            }
        }
    }
    Ok((k, v))
}

fn object_meta(b: &[u8]) -> Result<Value, String> {
    let mut m = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut finalizers = Vec::new();
    for (n, f) in fields(b)? {
        let Field::Bytes(x) = f else { continue };
        match n {
            1 => {
                m.insert("name".into(), json!(string(x)?));
            }
            2 => {
                m.insert("generateName".into(), json!(string(x)?));
            }
            3 => {
                m.insert("namespace".into(), json!(string(x)?));
            }
            6 => {
                m.insert("resourceVersion".into(), json!(string(x)?));
            }
            11 => {
                let (k, v) = map_entry(x, false)?;
                labels.insert(k, v);
            }
            12 => {
                let (k, v) = map_entry(x, false)?;
                annotations.insert(k, v);
            }
            14 => finalizers.push(json!(string(x)?)),
            _ => {}
        }
    }
    m.retain(|_, v| v.as_str() != Some(""));
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(m))
}

fn decode_kind(kind: &str, raw: &[u8]) -> Result<Value, String> {
    let mut obj = Map::new();
    let mut data = Map::new();
    let mut binary = Map::new();
    let mut string_data = Map::new();
    for (n, f) in fields(raw)? {
        match (kind, n, f) {
            (_, 1, Field::Bytes(x)) => {
                obj.insert("metadata".into(), object_meta(x)?);
            }
            ("Namespace", 2, Field::Bytes(x)) => {
                let fin: Vec<Value> = fields(x)?
                    .into_iter()
                    .filter_map(|(n, f)| match (n, f) {
                        (1, Field::Bytes(s)) => string(s).ok().map(Value::String),
                        _ => None,
                    })
                    .collect();
                let spec = if fin.is_empty() {
                    json!({})
                } else {
                    json!({"finalizers": fin})
                };
                obj.insert("spec".into(), spec);
            }
            ("ConfigMap", 2, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, false)?;
                data.insert(k, v);
            }
            ("ConfigMap", 3, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, true)?;
                binary.insert(k, v);
            }
            ("ConfigMap", 4, Field::Varint(b)) | ("Secret", 5, Field::Varint(b)) => {
                obj.insert("immutable".into(), json!(b != 0));
            }
            ("Secret", 2, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, true)?;
                data.insert(k, v);
            }
            ("Secret", 3, Field::Bytes(x)) => {
                obj.insert("type".into(), json!(string(x)?));
            }
            ("Secret", 4, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, false)?;
                string_data.insert(k, v);
            }
            _ => {}
        }
    }
    for (k, m) in [
        ("data", data),
        ("binaryData", binary),
        ("stringData", string_data),
    ] {
        if !m.is_empty() {
            obj.insert(k.into(), Value::Object(m));
        }
    }
    Ok(Value::Object(obj))
}

/// Decodes a protobuf body into JSON (with `apiVersion`/`kind` from the envelope).
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("the protobuf body lacks the k8s magic prefix")?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (n, f) in fields(rest)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (n, f) in fields(tm)? {
                    if let Field::Bytes(x) = f {
                        match n {
                            1 => api_version = string(x)?,
                            2 => kind = string(x)?,
                            _ => {}
                        }
                    }
                }
            }
            (2, Field::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    if !matches!(kind.as_str(), "Namespace" | "ConfigMap" | "Secret") {
        return Err(format!(
            "protobuf bodies are only supported for Namespace, ConfigMap and Secret (got {kind:?}); send application/json"
        ));
    }
    let mut obj = decode_kind(&kind, raw)?;
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(api_version));
        m.insert("kind".into(), json!(kind));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_kubectl_create_namespace() {
        // Captured from `kubectl create namespace foo` (kubectl 1.32).
        let body = b"k8s\x00\n\x0f\n\x02v1\x12\tNamespace\x12\x1b\n\x13\n\x03foo\x12\x00\x1a\x00\"\x00*\x002\x008\x00B\x00\x12\x00\x1a\x02\n\x00\x1a\x00\"\x00";
        let v = decode(body).expect("decode");
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}, "spec": {}})
        );
    }

    #[test]
    fn decodes_secret_data_and_rejects_garbage() {
        // Secret{metadata{name:"s", labels{a:b}}, data{k: "hi"}, type "Opaque"}
        let meta = [
            &[0x0a, 1, b's'][..],
            &[0x5a, 6, 0x0a, 1, b'a', 0x12, 1, b'b'][..],
        ]
        .concat();
        let mut raw = vec![0x0a, meta.len() as u8];
        raw.extend(&meta);
        raw.extend([0x12, 7, 0x0a, 1, b'k', 0x12, 2, b'h', b'i']);
        raw.extend([0x1a, 6]);
        raw.extend(b"Opaque");
        let tm = [&[0x0a, 2][..], b"v1", &[0x12, 6], b"Secret"].concat();
        let mut body = b"k8s\0".to_vec();
        body.extend([0x0a, tm.len() as u8]);
        body.extend(&tm);
        body.extend([0x12, raw.len() as u8]);
        body.extend(&raw);
        let v = decode(&body).expect("decode");
        assert_eq!(v["data"]["k"], json!("aGk="));
        assert_eq!(v["type"], json!("Opaque"));
        assert_eq!(v["metadata"]["labels"]["a"], json!("b"));
        for bad in [&b"xyz"[..], b"k8s\0\x0a\xff", b"k8s\0\x0a\x05ab", b"k8s\0"] {
            assert!(decode(bad).is_err());
        }
    }
}
