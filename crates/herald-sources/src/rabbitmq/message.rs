//! One AMQP message → the CloudEvent Knative's RabbitmqSource sends (reference §7; eventing-rabbitmq
//! `pkg/rabbit/message.go`). Pure: no I/O, so every rule is table-tested.
//!
//! - structured content type (`application/cloudevents+json`) → the event in the body;
//! - a `specversion` header → binary mode: headers (an optional `ce-` prefix dropped) are the
//!   attributes, `content-type` header (else the AMQP content type) the datacontenttype, `x-*`
//!   headers (RabbitMQ's own) ignored, the body the data;
//! - a missing `source` is filled with the source's own;
//! - anything else becomes `dev.knative.rabbitmq.event`: id = MessageId or a new UUID,
//!   subject = id, time = AMQP timestamp, data = body with the AMQP content type.
//!
//! A message that claims to be a CloudEvent but is not a valid one is wrapped like any other
//! message (Herald's choice: nothing is lost and the queue never loops on it).

use bytes::Bytes;
use herald_ce::{Data, Event, decode_http};
use http::{HeaderMap, HeaderName, HeaderValue};

/// The parts of an AMQP delivery the conversion reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub message_id: Option<String>,
    /// AMQP `timestamp` property: seconds since the Unix epoch.
    pub timestamp: Option<u64>,
    /// Application headers with their values as text.
    pub headers: Vec<(String, String)>,
}

/// The event, and why the message was wrapped although it claimed to be a CloudEvent.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    pub event: Event,
    pub malformed: Option<String>,
}

const STRUCTURED: &str = "application/cloudevents+json";

/// Converts `msg`; `source` is `/apis/v1/namespaces/<ns>/rabbitmqsources/<name>#<queue>`.
pub fn to_event(msg: &Message, source: &str) -> Converted {
    let structured = msg
        .content_type
        .as_deref()
        .is_some_and(|ct| herald_ce_essence(ct).eq_ignore_ascii_case(STRUCTURED));
    let attempt = if structured {
        Some(structured_event(msg, source))
    } else {
        header(msg, "specversion").map(|v| binary_event(msg, source, v))
    };
    match attempt {
        Some(Ok(event)) => Converted {
            event,
            malformed: None,
        },
        Some(Err(why)) => Converted {
            event: wrap(msg, source),
            malformed: Some(why),
        },
        None => Converted {
            event: wrap(msg, source),
            malformed: None,
        },
    }
}

fn herald_ce_essence(ct: &str) -> &str {
    ct.split_once(';').map_or(ct, |(m, _)| m).trim()
}

/// Header names compared case-insensitively with an optional `ce-` prefix, as Knative does.
fn attr_name(key: &str) -> String {
    let k = key.to_ascii_lowercase();
    k.strip_prefix("ce-").map(str::to_string).unwrap_or(k)
}

fn header<'a>(msg: &'a Message, name: &str) -> Option<&'a str> {
    msg.headers
        .iter()
        .find(|(k, _)| attr_name(k) == name)
        .map(|(_, v)| v.as_str())
}

fn structured_event(msg: &Message, source: &str) -> Result<Event, String> {
    let mut v: serde_json::Value = serde_json::from_slice(&msg.body)
        .map_err(|e| format!("structured CloudEvent is not JSON: {e}"))?;
    let obj = v
        .as_object_mut()
        .ok_or("structured CloudEvent is not a JSON object")?;
    if obj
        .get("source")
        .and_then(serde_json::Value::as_str)
        .is_none_or(str::is_empty)
    {
        obj.insert("source".into(), source.into());
    }
    let bytes = serde_json::to_vec(&v).map_err(|e| e.to_string())?;
    herald_ce::from_json(&bytes).map_err(|e| format!("invalid structured CloudEvent: {e}"))
}

fn binary_event(msg: &Message, source: &str, version: &str) -> Result<Event, String> {
    if version != "1.0" && version != "0.3" {
        return Err(format!("unsupported specversion {version:?}"));
    }
    let mut h = HeaderMap::new();
    let mut has_source = false;
    let mut has_ct = false;
    for (k, v) in &msg.headers {
        let name = attr_name(k);
        if name == "traceparent" || name == "tracestate" || name.starts_with("x-") {
            continue;
        }
        let value =
            HeaderValue::from_str(&pct_encode(v)).map_err(|e| format!("header {k:?}: {e}"))?;
        if name == "content-type" {
            has_ct = true;
            h.insert(http::header::CONTENT_TYPE, value);
            continue;
        }
        if name == "source" && !v.is_empty() {
            has_source = true;
        }
        if name == "source" && v.is_empty() {
            continue;
        }
        let hn = HeaderName::from_bytes(format!("ce-{name}").as_bytes())
            .map_err(|e| format!("header {k:?}: {e}"))?;
        h.insert(hn, value);
    }
    if !has_source {
        let v = HeaderValue::from_str(&pct_encode(source)).map_err(|e| e.to_string())?;
        h.insert("ce-source", v);
    }
    if !has_ct && let Some(ct) = msg.content_type.as_deref().filter(|c| !c.is_empty()) {
        let v = HeaderValue::from_str(ct).map_err(|e| format!("content type: {e}"))?;
        h.insert(http::header::CONTENT_TYPE, v);
    }
    let (_, mut events) = decode_http(&h, Bytes::from(msg.body.clone()))
        .map_err(|e| format!("invalid binary CloudEvent: {e}"))?;
    events.pop().ok_or_else(|| "no event".to_string())
}

/// Percent-encodes what the HTTP binding may not carry raw (the decoder reverses it).
fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'"' && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn is_cloudevents_media_type(ct: &str) -> bool {
    herald_ce_essence(ct)
        .to_ascii_lowercase()
        .starts_with("application/cloudevents")
}

/// A message that is not a CloudEvent, as `dev.knative.rabbitmq.event`.
fn wrap(msg: &Message, source: &str) -> Event {
    let id = msg
        .message_id
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut ev = Event::new(
        id.clone(),
        source,
        herald_api::sources::rabbitmq::EVENT_TYPE,
    );
    ev.subject = Some(id);
    ev.time = msg
        .timestamp
        .and_then(|t| i64::try_from(t).ok())
        .and_then(|t| jiff::Timestamp::from_second(t).ok())
        .map(|t| t.to_string());
    // A CloudEvents media type cannot describe data: in binary mode it would make the event
    // itself look structured. Such (malformed) messages go without a content type.
    ev.datacontenttype = msg
        .content_type
        .clone()
        .filter(|c| !c.is_empty() && !is_cloudevents_media_type(c));
    if !msg.body.is_empty() {
        ev.data = Some(Data::Binary(Bytes::from(msg.body.clone())));
    }
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "/apis/v1/namespaces/ns/rabbitmqsources/s#q";

    fn msg(body: &str, ct: Option<&str>, headers: &[(&str, &str)]) -> Message {
        Message {
            body: body.as_bytes().to_vec(),
            content_type: ct.map(str::to_string),
            message_id: None,
            timestamp: None,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn plain_message_is_wrapped() {
        let mut m = msg("hello", Some("text/plain"), &[("x-foo", "1")]);
        m.message_id = Some("m-1".into());
        m.timestamp = Some(1_700_000_000);
        let c = to_event(&m, SRC);
        assert_eq!(c.malformed, None);
        let e = c.event;
        assert_eq!(e.ty, "dev.knative.rabbitmq.event");
        assert_eq!(e.source, SRC);
        assert_eq!(e.id, "m-1");
        assert_eq!(e.subject.as_deref(), Some("m-1"));
        assert_eq!(e.time.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(e.datacontenttype.as_deref(), Some("text/plain"));
        assert_eq!(e.data.as_ref().map(Data::as_bytes), Some(&b"hello"[..]));
        assert!(e.extensions.is_empty());
    }

    #[test]
    fn plain_message_without_id_gets_a_uuid_subject() {
        let e = to_event(&msg("", None, &[]), SRC).event;
        assert_eq!(e.id.len(), 36);
        assert_eq!(e.subject.as_deref(), Some(e.id.as_str()));
        assert_eq!(e.time, None);
        assert_eq!(e.data, None);
        assert_eq!(e.datacontenttype, None);
    }

    #[test]
    fn binary_cloudevent_passes_through() {
        let m = msg(
            r#"{"a":1}"#,
            Some("application/json"),
            &[
                ("specversion", "1.0"),
                ("id", "e-1"),
                ("type", "com.example.t"),
                ("ce-subject", "sub é"),
                ("myext", "v"),
                ("x-death", "ignored"),
                ("traceparent", "00-x"),
            ],
        );
        let c = to_event(&m, SRC);
        assert_eq!(c.malformed, None);
        let e = c.event;
        assert_eq!(
            (e.id.as_str(), e.ty.as_str(), e.source.as_str()),
            ("e-1", "com.example.t", SRC)
        );
        assert_eq!(e.subject.as_deref(), Some("sub é"));
        assert_eq!(e.datacontenttype.as_deref(), Some("application/json"));
        assert_eq!(
            e.extensions.keys().collect::<Vec<_>>(),
            vec![&"myext".to_string()]
        );
    }

    #[test]
    fn binary_keeps_its_source_and_content_type_header() {
        let m = msg(
            "x",
            Some("text/plain"),
            &[
                ("specversion", "1.0"),
                ("id", "1"),
                ("type", "t"),
                ("source", "/mine"),
                ("content-type", "text/csv"),
            ],
        );
        let e = to_event(&m, SRC).event;
        assert_eq!(e.source, "/mine");
        assert_eq!(e.datacontenttype.as_deref(), Some("text/csv"));
    }

    #[test]
    fn structured_cloudevent_passes_through_with_source_filled() {
        let body = r#"{"specversion":"1.0","id":"s-1","type":"t.s","data":{"k":true}}"#;
        let c = to_event(
            &msg(
                body,
                Some("application/cloudevents+json; charset=utf-8"),
                &[],
            ),
            SRC,
        );
        assert_eq!(c.malformed, None);
        assert_eq!(
            (
                c.event.id.as_str(),
                c.event.ty.as_str(),
                c.event.source.as_str()
            ),
            ("s-1", "t.s", SRC)
        );
        assert_eq!(
            c.event.data.as_ref().map(Data::as_bytes),
            Some(&br#"{"k":true}"#[..])
        );
    }

    #[test]
    fn malformed_cloudevents_are_wrapped() {
        let cases: &[(&str, Message)] = &[
            (
                "structured not json",
                msg("{nope", Some("application/cloudevents+json"), &[]),
            ),
            (
                "structured without id",
                msg(
                    r#"{"specversion":"1.0","type":"t"}"#,
                    Some("application/cloudevents+json"),
                    &[],
                ),
            ),
            (
                "binary without type",
                msg("x", None, &[("specversion", "1.0"), ("id", "1")]),
            ),
            (
                "binary bad version",
                msg(
                    "x",
                    None,
                    &[("specversion", "9"), ("id", "1"), ("type", "t")],
                ),
            ),
        ];
        for (name, m) in cases {
            let c = to_event(m, SRC);
            assert!(c.malformed.is_some(), "{name}");
            assert_eq!(c.event.datacontenttype, None, "{name}");
            assert_eq!(c.event.ty, "dev.knative.rabbitmq.event", "{name}");
            assert_eq!(
                c.event.data.as_ref().map(Data::as_bytes),
                Some(m.body.as_slice()),
                "{name}"
            );
        }
    }

    #[test]
    fn percent_encoding_round_trips_through_the_binding() {
        assert_eq!(pct_encode("a b%\"é"), "a%20b%25%22%C3%A9");
    }
}
