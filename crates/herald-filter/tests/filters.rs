//! Filter semantics, table-driven, after Knative's `eventfilter` tests and the rekt
//! `new_trigger_filters` vectors (reference §4.1, §4.2).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use herald_ce::{AttrValue, Event, SpecVersion};
use herald_filter::{Filter, FilterError, SubscriptionsApiFilter};
use serde_json::json;

fn event() -> Event {
    let mut extensions = BTreeMap::new();
    extensions.insert("myext".to_string(), AttrValue::String("hello".into()));
    extensions.insert("count".to_string(), AttrValue::Integer(5));
    Event {
        specversion: SpecVersion::V10,
        id: "1".into(),
        source: "/herald/test".into(),
        ty: "dev.knative.example.created".into(),
        datacontenttype: Some("application/json".into()),
        dataschema: None,
        subject: None,
        time: None,
        extensions,
        data: None,
    }
}

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn legacy_attributes() {
    let ev = event();
    let cases: &[(&[(&str, &str)], bool)] = &[
        (&[], true),
        (&[("type", "dev.knative.example.created")], true),
        (&[("type", "dev.knative.example.CREATED")], false),
        (&[("type", "")], true),
        (&[("source", "/herald/test"), ("type", "")], true),
        // "" means present and non-empty: an absent optional standard attribute fails.
        (&[("subject", "")], false),
        (&[("myext", "")], true),
        (&[("myext", "hello")], true),
        (&[("missing", "")], false),
        (&[("missing", "x")], false),
        (&[("count", "5")], true),
    ];
    for (pairs, want) in cases {
        let f = Filter::attributes(&attrs(pairs));
        assert_eq!(f.matches(&ev), *want, "{pairs:?}");
    }
}

fn filters(v: serde_json::Value) -> Vec<SubscriptionsApiFilter> {
    serde_json::from_value(v).unwrap()
}

#[test]
fn subscriptions_api_dialects() {
    let ev = event();
    let cases = [
        (json!([]), true),
        (
            json!([{"exact": {"type": "dev.knative.example.created"}}]),
            true,
        ),
        (json!([{"exact": {"type": "dev.knative.example"}}]), false),
        (json!([{"prefix": {"type": "dev.knative."}}]), true),
        (json!([{"prefix": {"type": "com."}}]), false),
        (json!([{"suffix": {"type": ".created"}}]), true),
        (json!([{"suffix": {"source": "/other"}}]), false),
        // A missing optional standard attribute exists as "", an extension does not.
        (json!([{"suffix": {"missing": "x"}}]), false),
        (json!([{"exact": {"count": "5"}}]), true),
        // Several keys: all must match.
        (
            json!([{"exact": {"type": "dev.knative.example.created", "myext": "nope"}}]),
            false,
        ),
        // The array is AND-ed.
        (
            json!([{"prefix": {"type": "dev."}}, {"exact": {"myext": "hello"}}]),
            true,
        ),
        (
            json!([{"prefix": {"type": "dev."}}, {"exact": {"myext": "bye"}}]),
            false,
        ),
        (
            json!([{"all": [{"prefix": {"type": "dev."}}, {"suffix": {"type": "created"}}]}]),
            true,
        ),
        (
            json!([{"all": [{"prefix": {"type": "dev."}}, {"suffix": {"type": "deleted"}}]}]),
            false,
        ),
        (
            json!([{"any": [{"exact": {"type": "x"}}, {"suffix": {"type": "created"}}]}]),
            true,
        ),
        (
            json!([{"any": [{"exact": {"type": "x"}}, {"exact": {"type": "y"}}]}]),
            false,
        ),
        (
            json!([{"not": {"exact": {"type": "dev.knative.example.created"}}}]),
            false,
        ),
        (json!([{"not": {"exact": {"type": "other"}}}]), true),
        (
            json!([{"not": {"not": {"prefix": {"source": "/herald"}}}}]),
            true,
        ),
        // Filters that cannot be built (empty value) are skipped: no filter passes.
        (json!([{"exact": {"type": ""}}]), true),
        (json!([{"not": {"exact": {"type": ""}}}]), true),
        (json!([{"any": [{"exact": {"type": ""}}]}]), true),
        (
            json!([{"any": [{"exact": {"type": ""}}, {"exact": {"type": "no"}}]}]),
            false,
        ),
    ];
    for (spec, want) in cases {
        let f = Filter::subscriptions_api(&filters(spec.clone())).unwrap();
        assert_eq!(f.matches(&ev), want, "{spec}");
    }
}

#[test]
fn filters_override_filter_attributes() {
    let ev = event();
    let legacy = attrs(&[("type", "nope")]);
    let f = Filter::for_trigger(
        Some(&legacy),
        &filters(json!([{"prefix": {"type": "dev."}}])),
    );
    assert!(f.unwrap().matches(&ev));
    let f = Filter::for_trigger(Some(&legacy), &[]).unwrap();
    assert!(!f.matches(&ev));
    assert!(Filter::for_trigger(None, &[]).unwrap().matches(&ev));
}

#[test]
fn cesql_filters() {
    let ev = event();
    let cases = [
        (
            json!([{"cesql": "type = 'dev.knative.example.created'"}]),
            true,
        ),
        (
            json!([{"cesql": "type LIKE 'dev.%' AND myext = 'hello'"}]),
            true,
        ),
        (json!([{"cesql": "count > 4 AND EXISTS myext"}]), true),
        (json!([{"cesql": "count > 5"}]), false),
        // Non-boolean results and errors do not pass (spec 1.2).
        (json!([{"cesql": "count + 1"}]), false),
        (json!([{"cesql": "missing = 'x'"}]), false),
        (json!([{"cesql": "NOT (missing = 'x')"}]), false),
        (json!([{"not": {"cesql": "source = '/other'"}}]), true),
        (
            json!([{"any": [{"cesql": "1 / 0 = 0"}, {"exact": {"myext": "hello"}}]}]),
            true,
        ),
        (
            json!([{"prefix": {"type": "dev."}}, {"cesql": "subject = 'x'"}]),
            false,
        ),
    ];
    for (spec, want) in cases {
        let f = Filter::subscriptions_api(&filters(spec.clone())).unwrap();
        assert_eq!(f.matches(&ev), want, "{spec}");
    }
}

#[test]
fn invalid_cesql_is_reported_with_its_path() {
    let err = Filter::subscriptions_api(&filters(
        json!([{"exact": {"type": "a"}}, {"all": [{"cesql": "type = "}]}]),
    ))
    .unwrap_err();
    let FilterError::Cesql { path, message } = err;
    assert_eq!(path, "[1].all[0]");
    assert!(message.contains("column"), "{message}");
}
