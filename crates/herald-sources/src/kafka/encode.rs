//! A CloudEvent → the Kafka record a KafkaSink writes, under the CloudEvents Kafka protocol
//! binding (the inverse of `record.rs`, which reads such records back):
//!
//! - binary mode: one `ce_<attribute>` header per context attribute (UTF-8 text, not
//!   percent-encoded: Kafka headers are bytes), `content-type` = `datacontenttype`, value = data;
//! - structured mode: value = the JSON event format, `content-type: application/cloudevents+json`.
//!
//! In both modes the record key is the `partitionkey` extension (binding §3.1, and what Knative's
//! receiver does with the CloudEvents SDK's `PartitionKeyExtensionInterceptor`); without it the
//! record has no key.

use herald_ce::{Data, Event, SpecVersion, to_json};

/// The content type of a structured-mode record.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";

/// How events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentMode {
    Binary,
    Structured,
}

/// A record to produce, independent of the client crate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Header names are unique.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Encodes `ev` for the topic.
pub fn encode(ev: &Event, mode: ContentMode) -> ProducerRecord {
    let key = ev
        .extensions
        .get("partitionkey")
        .map(|v| v.to_canonical_string().into_bytes());
    match mode {
        ContentMode::Binary => ProducerRecord {
            key,
            value: ev.data.as_ref().map(|d| Data::as_bytes(d).to_vec()),
            headers: binary_headers(ev),
        },
        ContentMode::Structured => ProducerRecord {
            key,
            value: Some(to_json(ev)),
            headers: vec![(
                "content-type".into(),
                STRUCTURED_CONTENT_TYPE.as_bytes().to_vec(),
            )],
        },
    }
}

fn binary_headers(ev: &Event) -> Vec<(String, Vec<u8>)> {
    let mut h = Vec::with_capacity(8 + ev.extensions.len());
    let mut put = |name: &str, v: &str| h.push((format!("ce_{name}"), v.as_bytes().to_vec()));
    put("specversion", ev.specversion.as_str());
    put("id", &ev.id);
    put("source", &ev.source);
    put("type", &ev.ty);
    if let Some(s) = &ev.subject {
        put("subject", s);
    }
    if let Some(t) = &ev.time {
        put("time", t);
    }
    if let Some(ds) = &ev.dataschema {
        let name = match ev.specversion {
            SpecVersion::V10 => "dataschema",
            SpecVersion::V03 => "schemaurl",
        };
        put(name, ds);
    }
    for (name, v) in &ev.extensions {
        put(name, &v.to_canonical_string());
    }
    if let Some(ct) = &ev.datacontenttype {
        h.push(("content-type".into(), ct.as_bytes().to_vec()));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::super::record::{KafkaRecord, to_event};
    use super::*;
    use bytes::Bytes;
    use herald_ce::AttrValue;

    fn event() -> Event {
        let mut ev = Event::new("e-1", "/my/source", "dev.example.order");
        ev.subject = Some("order 42 – 100% done".into());
        ev.time = Some("2026-01-02T03:04:05.678Z".into());
        ev.dataschema = Some("https://example.com/schema".into());
        ev.datacontenttype = Some("application/json".into());
        ev.set_extension("partitionkey", AttrValue::String("customer-7".into()));
        ev.set_extension("count", AttrValue::Integer(3));
        ev.set_extension("flag", AttrValue::Boolean(true));
        ev.data = Some(Data::Json(r#"{"total":9.5}"#.into()));
        ev
    }

    fn header<'a>(r: &'a ProducerRecord, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The record as the KafkaSource reads it back.
    fn read_back(r: &ProducerRecord) -> Event {
        let kr = KafkaRecord {
            partition: 0,
            offset: 0,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r.headers.clone(),
            time: "2026-01-01T00:00:00Z".into(),
        };
        let (ev, note) = to_event(&kr, "/unused");
        assert_eq!(note, None);
        ev
    }

    #[test]
    fn binary_mode_headers_and_value() {
        let r = encode(&event(), ContentMode::Binary);
        assert_eq!(r.key.as_deref(), Some(&b"customer-7"[..]));
        assert_eq!(r.value.as_deref(), Some(&br#"{"total":9.5}"#[..]));
        let names: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "ce_specversion",
                "ce_id",
                "ce_source",
                "ce_type",
                "ce_subject",
                "ce_time",
                "ce_dataschema",
                "ce_count",
                "ce_flag",
                "ce_partitionkey",
                "content-type"
            ]
        );
        // Raw UTF-8, not percent-encoded.
        assert_eq!(header(&r, "ce_subject"), Some("order 42 – 100% done"));
        assert_eq!(header(&r, "ce_count"), Some("3"));
        assert_eq!(header(&r, "ce_flag"), Some("true"));
        assert_eq!(header(&r, "content-type"), Some("application/json"));
    }

    #[test]
    fn structured_mode_value() {
        let ev = event();
        let r = encode(&ev, ContentMode::Structured);
        assert_eq!(r.key.as_deref(), Some(&b"customer-7"[..]));
        assert_eq!(
            r.headers,
            [(
                "content-type".to_string(),
                b"application/cloudevents+json".to_vec()
            )]
        );
        let value = r.value.clone().unwrap_or_default();
        assert_eq!(herald_ce::from_json(&value).ok(), Some(ev));
    }

    /// What the sink writes, the source reads back with identical attributes and data, in both
    /// modes (values with `%`, non-ASCII text, integer and boolean extensions included).
    #[test]
    fn round_trips_through_the_kafka_source() {
        let ev = event();
        let binary = read_back(&encode(&ev, ContentMode::Binary));
        // Binary mode carries data as bytes; extension types become strings on any text binding.
        assert_eq!(
            (&binary.id, &binary.source, &binary.ty, &binary.subject),
            (&ev.id, &ev.source, &ev.ty, &ev.subject)
        );
        assert_eq!(
            (&binary.time, &binary.dataschema, &binary.datacontenttype),
            (&ev.time, &ev.dataschema, &ev.datacontenttype)
        );
        let ext = |e: &Event, n: &str| e.extensions.get(n).map(AttrValue::to_canonical_string);
        for n in ["partitionkey", "count", "flag"] {
            assert_eq!(ext(&binary, n), ext(&ev, n), "{n}");
        }
        assert_eq!(
            binary.data.as_ref().map(|d| d.as_bytes().to_vec()),
            Some(br#"{"total":9.5}"#.to_vec())
        );
        assert_eq!(read_back(&encode(&ev, ContentMode::Structured)), ev);
    }

    #[test]
    fn no_data_no_key() {
        let ev = Event::new("1", "/s", "t");
        let r = encode(&ev, ContentMode::Binary);
        assert_eq!((r.key, r.value), (None, None));
        assert!(!r.headers.iter().any(|(k, _)| k == "content-type"));
        let mut bin = Event::new("2", "/s", "t");
        bin.data = Some(Data::Binary(Bytes::from_static(&[0, 255])));
        let r = encode(&bin, ContentMode::Binary);
        assert_eq!(r.value, Some(vec![0, 255]));
    }
}
