//! A Kafka record → the CloudEvent sent to the sink (reference §7, KafkaSource row): records
//! that already are CloudEvents under the Kafka protocol binding pass through (binary: `ce_*`
//! headers; structured: `content-type: application/cloudevents+json`); others are wrapped as
//! `dev.knative.kafka.event`.

use bytes::Bytes;
use herald_ce::{AttrValue, Data, Event, decode_http, pct};
use http::{HeaderMap, HeaderName, HeaderValue};

/// The type of wrapped records.
pub const EVENT_TYPE: &str = "dev.knative.kafka.event";

/// How record keys are read: the `kafkasources.sources.knative.dev/key-type` label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyType {
    /// UTF-8 text (invalid sequences replaced).
    #[default]
    String,
    /// A big-endian signed integer of 4 or 8 bytes; other lengths are read as text.
    Int,
    /// A big-endian IEEE 754 float of 4 or 8 bytes; other lengths are read as text.
    Float,
    /// The bytes as they are (a Binary attribute: base64 on the wire).
    ByteArray,
}

impl KeyType {
    /// The label's value; unknown values (refused by validation) read as text, as in Knative.
    pub fn from_label(value: Option<&str>) -> KeyType {
        match value {
            Some("int") => KeyType::Int,
            Some("float") => KeyType::Float,
            Some("byte-array") => KeyType::ByteArray,
            _ => KeyType::String,
        }
    }

    /// The `key`/`partitionkey` attribute value of a record key, as Knative's key deserializer
    /// reads it. CloudEvents integers are 32-bit, so a 64-bit key outside that range is text;
    /// floats have no CloudEvents type and are text (`1.5`, `2.0`).
    pub fn attr(self, key: &[u8]) -> AttrValue {
        let text = || AttrValue::String(String::from_utf8_lossy(key).into_owned());
        let int = |i: i64| match i32::try_from(i) {
            Ok(_) => AttrValue::Integer(i),
            Err(_) => AttrValue::String(i.to_string()),
        };
        let float = |f: f64| AttrValue::String(format!("{f:?}"));
        match (self, key.len()) {
            (KeyType::Int, 4) => int(i64::from(i32::from_be_bytes(
                key.try_into().unwrap_or_default(),
            ))),
            (KeyType::Int, 8) => int(i64::from_be_bytes(key.try_into().unwrap_or_default())),
            (KeyType::Float, 4) => float(f64::from(f32::from_be_bytes(
                key.try_into().unwrap_or_default(),
            ))),
            (KeyType::Float, 8) => float(f64::from_be_bytes(key.try_into().unwrap_or_default())),
            (KeyType::ByteArray, _) => AttrValue::Binary(key.to_vec()),
            _ => text(),
        }
    }
}

/// One fetched record, independent of the client crate.
#[derive(Debug, Clone, Default)]
pub struct KafkaRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// RFC 3339 timestamp of the record.
    pub time: String,
}

/// `/apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>`, Knative's source attribute.
pub fn source_uri(namespace: &str, name: &str, topic: &str) -> String {
    format!("/apis/v1/namespaces/{namespace}/kafkasources/{name}#{topic}")
}

fn header<'a>(r: &'a KafkaRecord, name: &str) -> Option<&'a [u8]> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// Converts a record with text keys; see [`to_event_with`].
#[cfg(test)]
pub fn to_event(r: &KafkaRecord, source: &str) -> (Event, Option<String>) {
    to_event_with(r, source, KeyType::String)
}

/// Converts a record; a record that claims to be a CloudEvent but is malformed is wrapped
/// like any other record (never dropped), and the returned note says why.
pub fn to_event_with(r: &KafkaRecord, source: &str, keys: KeyType) -> (Event, Option<String>) {
    let ct = header(r, "content-type").and_then(|v| std::str::from_utf8(v).ok());
    let binary = r
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("ce_specversion"));
    let structured = ct.is_some_and(|c| {
        c.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("application/cloudevents+json")
    });
    if binary || structured {
        match passthrough(r) {
            Ok(ev) => return (ev, None),
            Err(e) => return (wrap(r, source, keys), Some(e)),
        }
    }
    (wrap(r, source, keys), None)
}

/// Maps the Kafka binding onto the HTTP binding (`ce_x` → `ce-x`) and decodes it there. Kafka
/// header values are plain UTF-8, so attribute values are percent-encoded on the way, as the
/// HTTP binding expects (a `%` in a value must not read as an escape).
fn passthrough(r: &KafkaRecord) -> Result<Event, String> {
    let mut h = HeaderMap::new();
    for (k, v) in &r.headers {
        let lower = k.to_ascii_lowercase();
        let invalid = || format!("header {k:?} is not a valid CloudEvents attribute");
        let (name, value) = match lower.strip_prefix("ce_") {
            Some(attr) => {
                let text = std::str::from_utf8(v).map_err(|_| invalid())?;
                let value = HeaderValue::from_str(&pct::encode(text));
                (format!("ce-{attr}"), value)
            }
            None if lower == "content-type" => (lower, HeaderValue::from_bytes(v)),
            None => continue,
        };
        let (Ok(n), Ok(v)) = (HeaderName::try_from(name), value) else {
            return Err(invalid());
        };
        h.append(n, v);
    }
    let body = Bytes::from(r.value.clone().unwrap_or_default());
    let (_, mut events) = decode_http(&h, body).map_err(|e| format!("invalid CloudEvent: {e}"))?;
    match events.len() {
        1 => events.pop().ok_or_else(|| "no event".to_string()),
        n => Err(format!("expected one CloudEvent, got {n}")),
    }
}

/// `kafkaheader<name>`: the header name lower-cased with non-alphanumerics stripped.
pub fn header_extension(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    format!("kafkaheader{clean}")
}

fn wrap(r: &KafkaRecord, source: &str, keys: KeyType) -> Event {
    let mut ev = Event::new(
        format!("partition:{}/offset:{}", r.partition, r.offset),
        source,
        EVENT_TYPE,
    );
    ev.subject = Some(format!("partition:{}#{}", r.partition, r.offset));
    ev.time = Some(r.time.clone());
    // An empty key is no key, as Knative's key deserializer reads it.
    if let Some(k) = r.key.as_deref().filter(|k| !k.is_empty()) {
        let key = keys.attr(k);
        ev.set_extension("key", key.clone());
        ev.set_extension("partitionkey", key);
    }
    for (name, value) in &r.headers {
        let ext = header_extension(name);
        if ext == "kafkaheader" {
            continue;
        }
        let v = String::from_utf8_lossy(value).into_owned();
        ev.set_extension(&ext, AttrValue::String(v));
    }
    // A malformed "CloudEvent" keeps its content type only as `kafkaheadercontenttype`:
    // labelled `application/cloudevents*` the wrapped event would read as structured mode.
    if let Some(ct) = header(r, "content-type").map(|v| String::from_utf8_lossy(v).into_owned())
        && !ct
            .trim()
            .to_ascii_lowercase()
            .starts_with("application/cloudevents")
    {
        ev.datacontenttype = Some(ct);
    }
    if let Some(v) = &r.value {
        ev.data = Some(Data::Binary(Bytes::from(v.clone())));
    }
    ev
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_types_read_keys_like_knative() {
        use AttrValue::*;
        let s = |v: &str| String(v.to_string());
        for (ty, key, want) in [
            (KeyType::String, b"k1".to_vec(), s("k1")),
            (KeyType::Int, 42i32.to_be_bytes().to_vec(), Integer(42)),
            (KeyType::Int, (-7i64).to_be_bytes().to_vec(), Integer(-7)),
            (
                KeyType::Int,
                (1i64 << 40).to_be_bytes().to_vec(),
                s("1099511627776"),
            ),
            (KeyType::Int, b"abc".to_vec(), s("abc")),
            (KeyType::Float, 1.5f32.to_be_bytes().to_vec(), s("1.5")),
            (KeyType::Float, 2.0f64.to_be_bytes().to_vec(), s("2.0")),
            (KeyType::Float, b"x".to_vec(), s("x")),
            (KeyType::ByteArray, vec![0, 255], Binary(vec![0, 255])),
        ] {
            assert_eq!(ty.attr(&key), want, "{ty:?} {key:?}");
        }
        assert_eq!(KeyType::from_label(Some("byte-array")), KeyType::ByteArray);
        assert_eq!(KeyType::from_label(None), KeyType::String);
        let r = KafkaRecord {
            key: Some(7i32.to_be_bytes().to_vec()),
            ..Default::default()
        };
        let (ev, _) = to_event_with(&r, "/s", KeyType::Int);
        assert_eq!(ev.extensions.get("key"), Some(&Integer(7)));
        assert_eq!(ev.extensions.get("partitionkey"), Some(&Integer(7)));
        let empty = KafkaRecord {
            key: Some(Vec::new()),
            ..Default::default()
        };
        assert!(!to_event(&empty, "/s").0.extensions.contains_key("key"));
    }

    use super::*;

    fn rec(value: &str, headers: &[(&str, &str)]) -> KafkaRecord {
        KafkaRecord {
            partition: 2,
            offset: 7,
            key: Some(b"k1".to_vec()),
            value: Some(value.as_bytes().to_vec()),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
            time: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn plain_record_is_wrapped() {
        let r = rec(
            "hi",
            &[("content-type", "text/plain"), ("X-Trace_Id", "abc")],
        );
        let (ev, note) = to_event(&r, "/s#t");
        assert!(note.is_none());
        assert_eq!(ev.ty, EVENT_TYPE);
        assert_eq!(ev.id, "partition:2/offset:7");
        assert_eq!(ev.subject.as_deref(), Some("partition:2#7"));
        assert_eq!(ev.source, "/s#t");
        assert_eq!(ev.time.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(ev.datacontenttype.as_deref(), Some("text/plain"));
        let ext = |n: &str| {
            ev.extensions
                .get(n)
                .and_then(|v| v.as_str().map(String::from))
        };
        assert_eq!(ext("key").as_deref(), Some("k1"));
        assert_eq!(ext("partitionkey").as_deref(), Some("k1"));
        assert_eq!(ext("kafkaheaderxtraceid").as_deref(), Some("abc"));
        assert_eq!(ext("kafkaheadercontenttype").as_deref(), Some("text/plain"));
        assert_eq!(ev.data, Some(Data::Binary(Bytes::from_static(b"hi"))));
    }

    #[test]
    fn binary_cloudevent_passes_through() {
        let r = rec(
            "{\"a\":1}",
            &[
                ("ce_specversion", "1.0"),
                ("ce_id", "e1"),
                ("ce_source", "/mine"),
                ("ce_type", "my.type"),
                ("ce_myext", "v"),
                ("content-type", "application/json"),
                ("other", "ignored"),
            ],
        );
        let (ev, note) = to_event(&r, "/s#t");
        assert!(note.is_none());
        assert_eq!(
            (ev.id.as_str(), ev.source.as_str(), ev.ty.as_str()),
            ("e1", "/mine", "my.type")
        );
        assert_eq!(ev.datacontenttype.as_deref(), Some("application/json"));
        assert!(ev.extensions.contains_key("myext"));
        assert!(!ev.extensions.contains_key("other"));
    }

    #[test]
    fn structured_cloudevent_passes_through() {
        let body = r#"{"specversion":"1.0","id":"s1","source":"/x","type":"t.s","data":{"b":2}}"#;
        let (ev, note) = to_event(
            &rec(body, &[("content-type", "application/cloudevents+json")]),
            "/s#t",
        );
        assert!(note.is_none());
        assert_eq!((ev.id.as_str(), ev.ty.as_str()), ("s1", "t.s"));
    }

    #[test]
    fn malformed_cloudevents_are_wrapped_with_a_note() {
        for r in [
            rec("{", &[("content-type", "application/cloudevents+json")]),
            rec("x", &[("ce_specversion", "1.0"), ("ce_id", "e")]),
        ] {
            let (ev, note) = to_event(&r, "/s#t");
            assert_eq!(ev.ty, EVENT_TYPE);
            assert!(note.is_some());
            assert_ne!(
                ev.datacontenttype.as_deref(),
                Some("application/cloudevents+json")
            );
        }
    }

    #[test]
    fn header_extension_names() {
        for (h, want) in [
            ("Foo", "kafkaheaderfoo"),
            ("x-b_c.d", "kafkaheaderxbcd"),
            ("A1", "kafkaheadera1"),
        ] {
            assert_eq!(header_extension(h), want);
        }
    }
}
