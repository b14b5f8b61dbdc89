//! Knative requires data to survive mode changes byte for byte (DP-25/DP-26):
//! binary → structured → binary must keep every attribute and the exact body.
#![allow(clippy::unwrap_used)]

mod support;

use herald_ce::{
    AttrValue, Data, Event, Mode, SpecVersion, decode_http, encode_batch, encode_binary,
    encode_structured, from_json, to_json,
};
use support::{body, headers};

struct Case {
    name: &'static str,
    specversion: &'static [u8],
    content_type: Option<&'static [u8]>,
    body: &'static [u8],
}

const CASES: &[Case] = &[
    Case {
        name: "json",
        specversion: b"1.0",
        content_type: Some(b"application/json"),
        body: br#"{"a": [1, 2.50, "x\u00e9"], "b": null}"#,
    },
    Case {
        name: "json charset",
        specversion: b"1.0",
        content_type: Some(b"application/json; charset=utf-8"),
        body: br#"[true,false]"#,
    },
    Case {
        name: "json+suffix",
        specversion: b"1.0",
        content_type: Some(b"application/vnd.api+json"),
        body: br#""just a string""#,
    },
    Case {
        name: "invalid json under json type",
        specversion: b"1.0",
        content_type: Some(b"application/json"),
        body: b"{not json",
    },
    Case {
        name: "text",
        specversion: b"1.0",
        content_type: Some(b"text/plain"),
        body: "héllo \"quoted\"\n\ttab \\ back".as_bytes(),
    },
    Case {
        name: "text not utf8",
        specversion: b"1.0",
        content_type: Some(b"text/plain; charset=latin1"),
        body: b"caf\xe9",
    },
    Case {
        name: "xml",
        specversion: b"1.0",
        content_type: Some(b"application/xml"),
        body: b"<?xml version=\"1.0\"?>\n<a b=\"c\">d &amp; e</a>",
    },
    Case {
        name: "octet-stream",
        specversion: b"1.0",
        content_type: Some(b"application/octet-stream"),
        body: b"\x00\x01\xfe\xff\x80binary\r\n",
    },
    Case {
        name: "octet-stream utf8",
        specversion: b"1.0",
        content_type: Some(b"application/octet-stream"),
        body: b"looks like text",
    },
    Case {
        name: "no content type, json body",
        specversion: b"1.0",
        content_type: None,
        body: br#"{"k":"v"}"#,
    },
    Case {
        name: "no content type, binary body",
        specversion: b"1.0",
        content_type: None,
        body: b"\xff\x00",
    },
    Case {
        name: "empty body",
        specversion: b"1.0",
        content_type: None,
        body: b"",
    },
    Case {
        name: "0.3 json",
        specversion: b"0.3",
        content_type: Some(b"application/json"),
        body: br#"{"v":0.3}"#,
    },
    Case {
        name: "0.3 octet-stream",
        specversion: b"0.3",
        content_type: Some(b"application/octet-stream"),
        body: b"\x00\xff\x10",
    },
    Case {
        name: "0.3 text",
        specversion: b"0.3",
        content_type: Some(b"text/csv"),
        body: b"a,b\n1,2\n",
    },
];

fn binary_request(c: &Case) -> http::HeaderMap {
    let schema: &[u8] = if c.specversion == b"0.3" {
        b"ce-schemaurl"
    } else {
        b"ce-dataschema"
    };
    let mut pairs: Vec<(&str, &[u8])> = vec![
        ("ce-specversion", c.specversion),
        ("ce-id", b"id%20with%20spaces"),
        ("ce-source", b"https://example.com/src?x=1"),
        ("ce-type", b"dev.knative.test"),
        ("ce-subject", b"%E2%82%AC%22%25"),
        ("ce-time", b"2024-02-29T12:00:00.5+01:00"),
        (
            std::str::from_utf8(schema).unwrap(),
            b"https://schema.example/x",
        ),
        ("ce-ext1", b"value"),
        ("ce-ext2", b"with%20space%0Aand%20newline"),
    ];
    if let Some(ct) = c.content_type {
        pairs.push(("content-type", ct));
    }
    headers(&pairs)
}

fn single(h: &http::HeaderMap, b: bytes::Bytes) -> (Mode, Event) {
    let (mode, mut evs) = decode_http(h, b).unwrap();
    assert_eq!(evs.len(), 1);
    (mode, evs.remove(0))
}

fn without_data(ev: &Event) -> Event {
    Event {
        data: None,
        ..ev.clone()
    }
}

#[test]
fn binary_structured_binary_is_identical() {
    for c in CASES {
        let (mode, ev1) = single(&binary_request(c), body(c.body));
        assert_eq!(mode, Mode::Binary, "{}", c.name);
        assert_eq!(ev1.subject.as_deref(), Some("€\"%"), "{}", c.name);

        let (sh, sb) = encode_structured(&ev1);
        let (mode, ev2) = single(&sh, sb.clone());
        assert_eq!(mode, Mode::Structured, "{}", c.name);
        assert_eq!(
            without_data(&ev2),
            without_data(&ev1),
            "{}: {}",
            c.name,
            String::from_utf8_lossy(&sb)
        );
        let bytes2 = ev2.data.as_ref().map_or(&b""[..], Data::as_bytes);
        assert_eq!(
            bytes2,
            c.body,
            "{}: {}",
            c.name,
            String::from_utf8_lossy(&sb)
        );

        let (bh, bb) = encode_binary(&ev2);
        assert_eq!(&bb[..], c.body, "{}", c.name);
        assert!(!bh.contains_key("ce-datacontenttype"), "{}", c.name);
        assert_eq!(
            bh.get("content-type").map(|v| v.as_bytes()),
            c.content_type,
            "{}",
            c.name
        );
        let (_, ev3) = single(&bh, bb);
        assert_eq!(ev3, ev1, "{}", c.name);
    }
}

#[test]
fn versions_are_never_upgraded() {
    for c in CASES.iter().filter(|c| c.specversion == b"0.3") {
        let (_, ev) = single(&binary_request(c), body(c.body));
        let json: serde_json::Value = serde_json::from_slice(&to_json(&ev)).unwrap();
        assert_eq!(json["specversion"], "0.3", "{}", c.name);
        assert_eq!(json["schemaurl"], "https://schema.example/x", "{}", c.name);
        assert!(
            json.get("dataschema").is_none() && json.get("data_base64").is_none(),
            "{}",
            c.name
        );
        let (bh, _) = encode_binary(&ev);
        assert_eq!(bh.get("ce-specversion").unwrap(), "0.3");
        assert_eq!(bh.get("ce-schemaurl").unwrap(), "https://schema.example/x");
    }
}

#[test]
fn binary_headers_are_percent_encoded() {
    let mut ev = Event::new("a b", "/s", "t");
    ev.subject = Some("ünï \"%\" ok".into());
    ev.set_extension("num", AttrValue::Integer(-7));
    ev.set_extension("flag", AttrValue::Boolean(true));
    ev.set_extension("bin", AttrValue::Binary(vec![1, 2, 3]));
    ev.set_extension("when", AttrValue::Timestamp("2020-01-01T00:00:00Z".into()));
    let (h, b) = encode_binary(&ev);
    let cases = [
        ("ce-id", "a%20b"),
        ("ce-subject", "%C3%BCn%C3%AF%20%22%25%22%20ok"),
        ("ce-num", "-7"),
        ("ce-flag", "true"),
        ("ce-bin", "AQID"),
        ("ce-when", "2020-01-01T00:00:00Z"),
        ("ce-specversion", "1.0"),
    ];
    for (name, want) in cases {
        assert_eq!(h.get(name).unwrap(), want, "{name}");
    }
    assert!(b.is_empty());
    assert!(!h.contains_key("content-type"));
}

#[test]
fn structured_json_shape() {
    let mut ev = Event::new("1", "/s", "t");
    ev.set_extension("num", AttrValue::Integer(5));
    ev.set_extension("flag", AttrValue::Boolean(false));
    ev.set_extension("bin", AttrValue::Binary(vec![255]));
    ev.set_extension("u", AttrValue::Uri("https://x".into()));
    let cases: &[(Option<&str>, Data, serde_json::Value)] = &[
        (
            None,
            Data::Json("{\"a\":1}".into()),
            serde_json::json!({"data": {"a": 1}}),
        ),
        (
            Some("text/plain"),
            Data::Text("hi".into()),
            serde_json::json!({"data": "hi"}),
        ),
        (
            Some("application/octet-stream"),
            Data::Binary(body(b"hi")),
            serde_json::json!({"data_base64": "aGk="}),
        ),
        (
            Some("application/json"),
            Data::Binary(body(b"[1]")),
            serde_json::json!({"data": [1]}),
        ),
        (
            Some("application/json"),
            Data::Text("not json".into()),
            serde_json::json!({"data_base64": "bm90IGpzb24="}),
        ),
    ];
    for (ct, data, want) in cases {
        ev.datacontenttype = ct.map(str::to_owned);
        ev.data = Some(data.clone());
        let (h, b) = encode_structured(&ev);
        assert_eq!(
            h.get("content-type").unwrap(),
            "application/cloudevents+json; charset=utf-8"
        );
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["num"], 5);
        assert_eq!(v["flag"], false);
        assert_eq!(v["bin"], "/w==");
        assert_eq!(v["u"], "https://x");
        for (k, wv) in want.as_object().unwrap() {
            assert_eq!(&v[k], wv, "{ct:?} {data:?}");
        }
        let back = from_json(&b).unwrap();
        assert_eq!(
            back.data.as_ref().map(Data::as_bytes),
            Some(data.as_bytes()),
            "{ct:?}"
        );
        assert_eq!(back.attribute("num"), Some(AttrValue::Integer(5)));
        assert_eq!(back.attribute("flag"), Some(AttrValue::Boolean(false)));
    }
}

#[test]
fn batch_round_trip() {
    let mut a = Event::new("1", "/s", "t");
    a.data = Some(Data::Json("{\"x\":[]}".into()));
    let mut b = Event::new("2", "/s", "t");
    b.specversion = SpecVersion::V03;
    b.datacontenttype = Some("text/plain".into());
    b.data = Some(Data::Text("line\n".into()));
    let events = vec![a, b];
    let (h, body) = encode_batch(&events);
    let (mode, back) = decode_http(&h, body).unwrap();
    assert_eq!(mode, Mode::Batch);
    assert_eq!(back, events);
    let (h, body) = encode_batch(&[]);
    assert_eq!(&body[..], b"[]");
    assert_eq!(decode_http(&h, body).unwrap().1, vec![]);
}

/// JSON data with whitespace around it (a trailing newline from `echo` or a file) is still
/// JSON: structured mode embeds it as a JSON value, which cannot carry the outer whitespace.
#[test]
fn json_with_outer_whitespace_is_embedded_trimmed() {
    let mut h = http::HeaderMap::new();
    for (n, v) in [
        ("ce-specversion", "1.0"),
        ("ce-id", "1"),
        ("ce-source", "/s"),
        ("ce-type", "t"),
        ("content-type", "application/json"),
    ] {
        h.insert(n, http::HeaderValue::from_static(v));
    }
    let (_, events) =
        herald_ce::decode_http(&h, bytes::Bytes::from_static(b" {\"a\":1}\n")).unwrap();
    let json = String::from_utf8(herald_ce::to_json(&events[0])).unwrap();
    assert!(json.contains(r#""data":{"a":1}"#), "{json}");
    let back = herald_ce::from_json(json.as_bytes()).unwrap();
    assert_eq!(back.data.unwrap().as_bytes(), b"{\"a\":1}");
}
