//! Server-side `meta.k8s.io/v1` Tables (what `kubectl get` prints), built like the CRD table
//! convertor: a `Name` column, then the printer columns evaluated on the object in the
//! requested version; `date` columns are rendered as relative ages (`5s`, `3m2s`, `2d`).

use herald_api::registry::PrinterColumn;
use serde_json::{Value, json};

use crate::jsonpath::JsonPath;

/// What each row carries in `object` (`includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// `duration.HumanDuration` from k8s.io/apimachinery, so ages read exactly like kubectl's.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The age of an RFC 3339 timestamp relative to `now`.
pub fn age(ts: &str, now: jiff::Timestamp) -> String {
    match ts.parse::<jiff::Timestamp>() {
        Ok(t) => human_duration(now.as_second() - t.as_second()),
        Err(_) => "<invalid>".into(),
    }
}

/// One cell as the CRD table convertor renders it (`None` becomes `<none>` in kubectl).
fn cell(col: &PrinterColumn, results: &[&Value], now: jiff::Timestamp) -> Value {
    let Some(first) = results.first() else {
        return Value::Null;
    };
    match col.type_ {
        "integer" => first
            .as_i64()
            .or_else(|| first.as_f64().map(|f| f as i64))
            .map_or(Value::Null, Value::from),
        "number" => first.as_f64().map_or(Value::Null, Value::from),
        "boolean" => first.as_bool().map_or(Value::Null, Value::from),
        "date" => first
            .as_str()
            .map_or(Value::Null, |s| Value::String(age(s, now))),
        _ => {
            // Several matches are joined with commas (kube-apiserver keeps only the first).
            let parts: Vec<String> = results
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            Value::String(parts.join(","))
        }
    }
}

/// `columnDefinitions` for a kind's columns.
pub fn column_definitions(columns: &[PrinterColumn]) -> Vec<Value> {
    let mut defs = vec![json!({
        "name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace. It is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
    })];
    for c in columns {
        defs.push(json!({
            "name": c.name, "type": c.type_, "format": "", "priority": c.priority,
            "description": c.description,
        }));
    }
    defs
}

/// `PartialObjectMetadata` of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// Removes Secret payloads so they never reach a table.
pub fn redact(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.remove("data");
        m.remove("stringData");
    }
}

/// One row for an object (already in the requested version).
pub fn row(
    obj: &Value,
    columns: &[PrinterColumn],
    include: IncludeObject,
    sensitive: bool,
    now: jiff::Timestamp,
) -> Value {
    let mut shown = obj.clone();
    if sensitive {
        redact(&mut shown);
    }
    let mut cells = vec![
        shown
            .pointer("/metadata/name")
            .cloned()
            .unwrap_or(Value::Null),
    ];
    for c in columns {
        let v = match JsonPath::parse(c.json_path) {
            Ok(p) => cell(c, &p.eval(&shown), now),
            Err(_) => Value::Null,
        };
        cells.push(v);
    }
    let mut r = json!({"cells": cells});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => r["object"] = partial_metadata(&shown),
        IncludeObject::Object if sensitive => r["object"] = partial_metadata(&shown),
        IncludeObject::Object => r["object"] = shown,
    }
    r
}

/// A whole Table.
pub fn table(
    objs: &[Value],
    columns: &[PrinterColumn],
    include: IncludeObject,
    sensitive: bool,
    resource_version: &str,
) -> Value {
    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| row(o, columns, include, sensitive, now))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": column_definitions(columns),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_apimachinery() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (182, "3m2s"),
            (600, "10m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60 * 5, "3h5m"),
            (10 * 3600, "10h"),
            (2 * 86400, "2d"),
            (2 * 86400 + 3600 * 5, "2d5h"),
            (30 * 86400, "30d"),
            (365 * 2 * 86400, "2y"),
            ((365 * 2 + 10) * 86400, "2y10d"),
            (365 * 9 * 86400, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn rows_render_columns() {
        const COLS: &[PrinterColumn] = &[
            PrinterColumn {
                name: "URL",
                type_: "string",
                json_path: ".status.address.url",
                priority: 0,
                description: "",
            },
            herald_api::registry::READY_COLUMN,
            PrinterColumn {
                name: "Retries",
                type_: "integer",
                json_path: ".spec.retry",
                priority: 1,
                description: "",
            },
            herald_api::registry::AGE_COLUMN,
        ];
        let now: jiff::Timestamp = "2024-01-01T00:10:00Z".parse().expect("ts");
        let obj = json!({
            "metadata": {"name": "b", "creationTimestamp": "2024-01-01T00:05:00Z"},
            "spec": {"retry": 3},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        });
        let r = row(&obj, COLS, IncludeObject::Metadata, false, now);
        assert_eq!(r["cells"], json!(["b", null, "True", 3, "5m"]));
        assert_eq!(r["object"]["kind"], json!("PartialObjectMetadata"));
        let secret = json!({"metadata": {"name": "s"}, "data": {"k": "c2VjcmV0"}});
        let r = row(&secret, &[], IncludeObject::Object, true, now);
        assert!(!r.to_string().contains("c2VjcmV0"));
    }
}
