#![allow(clippy::unwrap_used)]

mod support;

use herald_ce::{AttrValue, CeError, Data, Mode, SpecVersion, decode_http, is_cloudevent};
use support::{body, headers};

/// Header pairs as tests write them.
type Pairs = [(&'static str, &'static [u8])];
/// An error and the predicate its variant must satisfy.
type VariantCheck = (CeError, fn(&CeError) -> bool);

const BIN: &[(&str, &[u8])] = &[
    ("ce-specversion", b"1.0"),
    ("ce-id", b"1"),
    ("ce-source", b"/src"),
    ("ce-type", b"t"),
];

fn with(extra: &[(&'static str, &'static [u8])]) -> Vec<(&'static str, &'static [u8])> {
    let mut v = BIN.to_vec();
    v.extend_from_slice(extra);
    v
}

#[test]
fn binary_mode_attributes() {
    let h = headers(&with(&[
        ("CE-Subject", b"hello%20w%C3%B6rld"),
        ("Ce-Time", b"2020-01-02T03:04:05Z"),
        ("ce-dataschema", b"https://schema/x"),
        ("ce-myext", b"a%22b%25"),
        ("content-type", b"application/json"),
    ]));
    let (mode, evs) = decode_http(&h, body(b"{\"a\":1}")).unwrap();
    assert_eq!(mode, Mode::Binary);
    let ev = &evs[0];
    assert_eq!(ev.specversion, SpecVersion::V10);
    assert_eq!(
        (ev.id.as_str(), ev.source.as_str(), ev.ty.as_str()),
        ("1", "/src", "t")
    );
    assert_eq!(ev.subject.as_deref(), Some("hello wörld"));
    assert_eq!(ev.time.as_deref(), Some("2020-01-02T03:04:05Z"));
    assert_eq!(ev.dataschema.as_deref(), Some("https://schema/x"));
    assert_eq!(ev.datacontenttype.as_deref(), Some("application/json"));
    assert_eq!(
        ev.extensions.get("myext"),
        Some(&AttrValue::String("a\"b%".into()))
    );
    assert_eq!(ev.data, Some(Data::Binary(body(b"{\"a\":1}"))));
}

#[test]
fn binary_mode_empty_body_and_v03() {
    let h = headers(&[
        ("ce-specversion", b"0.3"),
        ("ce-id", b"1"),
        ("ce-source", b"/src"),
        ("ce-type", b"t"),
        ("ce-schemaurl", b"/relative/schema"),
        ("ce-datacontentencoding", b"base64"),
    ]);
    let (_, evs) = decode_http(&h, body(b"")).unwrap();
    assert_eq!(evs[0].specversion, SpecVersion::V03);
    assert_eq!(evs[0].dataschema.as_deref(), Some("/relative/schema"));
    assert_eq!(evs[0].data, None);
    assert!(evs[0].extensions.is_empty());
}

#[test]
fn structured_mode_data_forms() {
    let cases: &[(&str, Option<Data>)] = &[
        (
            r#""data":{"x": [1, 2]}"#,
            Some(Data::Json(r#"{"x": [1, 2]}"#.into())),
        ),
        (
            r#""datacontenttype":"application/vnd.x+json","data":"s""#,
            Some(Data::Json("\"s\"".into())),
        ),
        (
            r#""datacontenttype":"text/plain","data":"a\nb""#,
            Some(Data::Text("a\nb".into())),
        ),
        (
            r#""datacontenttype":"text/plain","data":{"k":1}"#,
            Some(Data::Json(r#"{"k":1}"#.into())),
        ),
        (
            r#""data_base64":"AAH/""#,
            Some(Data::Binary(body(&[0, 1, 255]))),
        ),
        (r#""data_base64":"AAE""#, Some(Data::Binary(body(&[0, 1])))),
        (r#""data":null"#, None),
        ("", None),
    ];
    for (members, want) in cases {
        let sep = if members.is_empty() { "" } else { "," };
        let json =
            format!(r#"{{"specversion":"1.0","id":"1","source":"/s","type":"t"{sep}{members}}}"#);
        let h = headers(&[(
            "content-type",
            b"application/cloudevents+json; charset=UTF-8",
        )]);
        let (mode, evs) =
            decode_http(&h, body(json.as_bytes())).unwrap_or_else(|e| panic!("{members}: {e}"));
        assert_eq!(mode, Mode::Structured);
        assert_eq!(&evs[0].data, want, "{members}");
    }
}

#[test]
fn structured_extensions_and_v03() {
    let json = br#"{"specversion":"0.3","id":"1","source":"/s","type":"t","schemaurl":"/sch",
        "datacontentencoding":"base64","data":"aGk=","n":42,"f":3.0,"b":true,"s":"x","nul":null}"#;
    let h = headers(&[("content-type", b"Application/CloudEvents+JSON")]);
    let (_, evs) = decode_http(&h, body(json)).unwrap();
    let ev = &evs[0];
    assert_eq!(ev.specversion, SpecVersion::V03);
    assert_eq!(ev.dataschema.as_deref(), Some("/sch"));
    assert_eq!(ev.data, Some(Data::Binary(body(b"hi"))));
    assert_eq!(ev.attribute("n"), Some(AttrValue::Integer(42)));
    assert_eq!(ev.attribute("f"), Some(AttrValue::Integer(3)));
    assert_eq!(ev.attribute("b"), Some(AttrValue::Boolean(true)));
    assert_eq!(ev.attribute("s"), Some(AttrValue::String("x".into())));
    assert_eq!(ev.attribute("nul"), None);
}

#[test]
fn batches() {
    let h = headers(&[("content-type", b"application/cloudevents-batch+json")]);
    let (mode, evs) = decode_http(&h, body(b"[]")).unwrap();
    assert_eq!((mode, evs.len()), (Mode::Batch, 0));
    let two = br#"[{"specversion":"1.0","id":"1","source":"/s","type":"t"},
                   {"specversion":"0.3","id":"2","source":"/s","type":"t"}]"#;
    let (_, evs) = decode_http(&h, body(two)).unwrap();
    assert_eq!(
        evs.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["1", "2"]
    );
}

#[test]
fn detection() {
    let cases: &[(&Pairs, bool)] = &[
        (&[("ce-specversion", b"1.0")], true),
        (&[("CE-SPECVERSION", b"1.0")], true),
        (&[("content-type", b"application/cloudevents+json")], true),
        (
            &[("content-type", b"application/cloudevents-batch+json")],
            true,
        ),
        (&[("content-type", b"application/cloudevents+avro")], true),
        (&[("content-type", b"application/json")], false),
        (&[("ce-id", b"1")], false),
        (&[], false),
    ];
    for (h, want) in cases {
        assert_eq!(is_cloudevent(&headers(h)), *want, "{h:?}");
    }
}

/// Each error case: headers, body, and a fragment the message must contain.
#[test]
fn errors() {
    const S: &[u8] = b"application/cloudevents+json";
    const B: &[u8] = b"application/cloudevents-batch+json";
    #[allow(clippy::type_complexity)]
    let cases: Vec<(Vec<(&str, &[u8])>, &[u8], &str)> = vec![
        (vec![("content-type", b"application/json")], b"{}", "not a CloudEvent"),
        (vec![], b"", "no content type"),
        (vec![("content-type", b"application/cloudevents+avro")], b"", "unsupported content type"),
        (vec![("content-type", b"application/cloudevents+protobuf")], b"", "unsupported content type"),
        // binary mode
        (vec![("ce-specversion", b"19.0"), ("ce-id", b"1")], b"", "unsupported specversion \"19.0\""),
        (BIN.iter().copied().filter(|(n, _)| *n != "ce-id").collect(), b"", "missing required attribute \"id\""),
        (BIN.iter().copied().filter(|(n, _)| *n != "ce-source").collect(), b"", "missing required attribute \"source\""),
        (BIN.iter().copied().filter(|(n, _)| *n != "ce-type").collect(), b"", "missing required attribute \"type\""),
        (with(&[("ce-id", b"2")]), b"", "malformed header \"ce-id\": duplicate header"),
        (with(&[("ce-x", b"1"), ("ce-x", b"2")]), b"", "malformed header \"ce-x\": duplicate header"),
        (with(&[("ce-specversion", b"1.0")]), b"", "ce-specversion\": duplicate"),
        (with(&[("ce-subject", b"bad%zz")]), b"", "malformed header \"ce-subject\": invalid percent-encoding"),
        (with(&[("ce-subject", b"%FF")]), b"", "not valid UTF-8"),
        (with(&[("ce-my_ext", b"1")]), b"", "invalid attribute \"my_ext\""),
        (with(&[("ce-data", b"1")]), b"", "invalid attribute \"data\": reserved"),
        (with(&[("ce-time", b"noon")]), b"", "invalid attribute \"time\""),
        (with(&[("ce-dataschema", b"rel/path")]), b"", "invalid attribute \"dataschema\""),
        (with(&[("ce-subject", b"")]), b"", "invalid attribute \"subject\": must not be empty"),
        (vec![("ce-specversion", b"1.0"), ("ce-id", b""), ("ce-source", b"/s"), ("ce-type", b"t")], b"", "\"id\": must not be empty"),
        // structured mode
        (vec![("content-type", S)], b"{\"id\":", "invalid JSON in structured event at line 1 column 6"),
        (vec![("content-type", S)], b"{\"specversion\" 1", "invalid JSON in structured event at line 1 column"),
        (vec![("content-type", S)], b"[]", "expected a CloudEvent JSON object"),
        (vec![("content-type", S)], b"", "invalid JSON in structured event"),
        (vec![("content-type", S)], br#"{"id":"1","source":"/s","type":"t"}"#, "missing required attribute \"specversion\""),
        (vec![("content-type", S)], br#"{"specversion":"19.0"}"#, "unsupported specversion \"19.0\""),
        (vec![("content-type", S)], br#"{"specversion":1.0}"#, "\"specversion\": must be a JSON string"),
        (vec![("content-type", S)], br#"{"specversion":"1.0","source":"/s","type":"t"}"#, "missing required attribute \"id\""),
        (vec![("content-type", S)], br#"{"specversion":"1.0","id":1,"source":"/s","type":"t"}"#, "invalid attribute \"id\": must be a JSON string, not a number"),
        (vec![("content-type", S)], br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","ext":1.5}"#, "invalid attribute \"ext\": must be an integer"),
        (vec![("content-type", S)], br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","ext":2147483648}"#, "invalid attribute \"ext\": integer out of 32-bit range"),
        (vec![("content-type", S)], br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","ext":99999999999999999999}"#, "invalid attribute \"ext\""),
        (vec![("content-type", S)], br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","ext":[1]}"#, "not an array"),
        (vec![("content-type", S)], br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","Bad-Name":"x"}"#, "invalid attribute \"Bad-Name\""),
        (vec![("content-type", S)], br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":1,"data_base64":"AA=="}"#, "must not appear together"),
        (vec![("content-type", S)], br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"!!"}"#, "invalid base64"),
        (vec![("content-type", S)], br#"{"specversion":"1.0","id":"1","id":"2","source":"/s","type":"t"}"#, "\"id\": member appears more than once"),
        (vec![("content-type", S)], br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","schemaurl":"x"}"#, "", ),
        (vec![("content-type", S)], br#"{"specversion":"0.3","id":"1","source":"/s","type":"t","data_base64":"AA=="}"#, "invalid attribute \"data_base64\""),
        (vec![("content-type", S)], br#"{"specversion":"0.3","id":"1","source":"/s","type":"t","datacontentencoding":"gzip","data":"x"}"#, "datacontentencoding"),
        (vec![("content-type", S)], br#"{"specversion":"0.3","id":"1","source":"/s","type":"t","datacontentencoding":"base64","data":{}}"#, "must be a base64 string"),
        (vec![("content-type", S)], br#"{"specversion":"1.0","id":"1","source":"a b","type":"t"}"#, "invalid attribute \"source\""),
        // batches
        (vec![("content-type", B)], b"{}", "invalid JSON in event batch"),
        (vec![("content-type", B)], br#"[{"specversion":"1.0","id":"1","source":"/s","type":"t"},{"specversion":"1.0","id":"1","source":"/s","type":"t"},{"specversion":"1.0","source":"/s","type":"t"}]"#, "event [2]: missing required attribute \"id\""),
        (vec![("content-type", B)], br#"[{"specversion":"2.0"}]"#, "event [0]: unsupported specversion"),
    ];
    for (h, b, want) in cases {
        let res = decode_http(&headers(&h), body(b));
        if want.is_empty() {
            assert!(
                res.is_ok(),
                "{h:?} {:?}: {res:?}",
                String::from_utf8_lossy(b)
            );
            continue;
        }
        let err = match res {
            Ok(ok) => panic!(
                "{h:?} {:?}: expected error {want:?}, got {ok:?}",
                String::from_utf8_lossy(b)
            ),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(want),
            "{h:?} {:?}: {err:?} does not contain {want:?}",
            String::from_utf8_lossy(b)
        );
    }
}

#[test]
fn error_variants() {
    let s = headers(&[("content-type", b"application/cloudevents+json")]);
    let cases: Vec<VariantCheck> = vec![
        (decode_http(&headers(&[]), body(b"")).unwrap_err(), |e| {
            matches!(e, CeError::NotACloudEvent(_))
        }),
        (
            decode_http(
                &headers(&[("content-type", b"application/cloudevents+avro")]),
                body(b""),
            )
            .unwrap_err(),
            |e| matches!(e, CeError::UnsupportedContentType(_)),
        ),
        (decode_http(&s, body(b"{")).unwrap_err(), |e| {
            matches!(e, CeError::MalformedJson(_))
        }),
        (
            decode_http(&s, body(br#"{"specversion":"2"}"#)).unwrap_err(),
            |e| matches!(e, CeError::UnknownSpecVersion(v) if v == "2"),
        ),
        (
            decode_http(&s, body(br#"{"specversion":"1.0"}"#)).unwrap_err(),
            |e| matches!(e, CeError::MissingAttribute("id")),
        ),
        (
            decode_http(&headers(&with(&[("ce-x", b"%")])), body(b"")).unwrap_err(),
            |e| matches!(e, CeError::MalformedHeader { name, .. } if name == "ce-x"),
        ),
        (
            decode_http(&headers(&with(&[("ce-time", b"x")])), body(b"")).unwrap_err(),
            |e| matches!(e, CeError::InvalidAttribute { name, .. } if name == "time"),
        ),
        (herald_ce::decode_record(&[9]).unwrap_err(), |e| {
            matches!(e, CeError::Record(_))
        }),
    ];
    for (err, check) in cases {
        assert!(check(&err), "{err:?}");
    }
}
