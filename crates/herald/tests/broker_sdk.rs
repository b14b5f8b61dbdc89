//! Interop with the Python CloudEvents SDK (PyPI `cloudevents` 1.11): events sent with
//! `to_binary`/`to_structured` are accepted (202) and delivered with identical attributes and
//! data, and subscribers using the SDK's `from_http` read Herald's deliveries, binary and
//! structured (reference §5.1 DP-1, §5.3 DP-23..DP-26).
//!
//! `HERALD_TEST_PYTHON` names a Python with `cloudevents` and `requests` (./test.sh creates it).

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::Herald;
use common::broker::{READY, WAIT, apply, trigger};
use common::python::{python, run_py};
use common::sink::{Received, Sink};
use serde_json::{Value, json};

/// Parses a delivery with the SDK's `from_http`.
fn sdk_parse(r: &Received) -> Value {
    let headers: serde_json::Map<String, Value> = r
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), Value::String(v.clone())))
        .collect();
    let body = base64::engine::general_purpose::STANDARD.encode(&r.body);
    run_py(
        "receive.py",
        &[],
        &json!({"headers": headers, "body_b64": body}),
    )
}

/// Sent with the SDK, delivered binary and structured, read back with the SDK: identical
/// attributes (plus `knativearrivaltime`) and data, JSON and bytes alike.
#[test]
fn python_sdk_events_round_trip_through_the_broker() {
    python();
    let sink = Sink::start();
    let h = Herald::start();
    apply(
        &h,
        &[
            json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                   "metadata": {"name": "default"}, "spec": {}}),
            trigger("bin", &sink.at("/bin"), json!({})),
            trigger(
                "json",
                &sink.at("/json"),
                json!({"delivery": {"format": "json"}}),
            ),
        ],
    );
    h.wait_jsonpath(&["broker", "default"], READY, "True");
    h.wait_jsonpath(&["trigger", "bin"], READY, "True");
    h.wait_jsonpath(&["trigger", "json"], READY, "True");
    let url = format!("{}/default/default", h.ingress);

    let attrs = |id: &str, ct: &str| {
        json!({"id": id, "source": "/python/sdk", "type": "dev.herald.sdk",
               "subject": "sdk-subject", "myext": "from-python", "datacontenttype": ct})
    };
    let bytes: Vec<u8> = vec![0, 1, 2, 254, 255, 128, 10];
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let cases = [
        (
            "sdk-bin-json",
            "binary",
            json!({"attributes": attrs("sdk-bin-json", "application/json"),
                   "data": {"hello": "sdk", "n": [1, 2]}}),
        ),
        (
            "sdk-st-json",
            "structured",
            json!({"attributes": attrs("sdk-st-json", "application/json"),
                   "data": {"structured": true}}),
        ),
        (
            "sdk-bin-bytes",
            "binary",
            json!({"attributes": attrs("sdk-bin-bytes", "application/octet-stream"),
                   "data_b64": b64}),
        ),
        (
            "sdk-st-bytes",
            "structured",
            json!({"attributes": attrs("sdk-st-bytes", "application/octet-stream"),
                   "data_b64": b64}),
        ),
    ];
    let mut sent = Vec::new();
    for (id, mode, spec) in &cases {
        let out = run_py("send.py", &[&url, mode], spec);
        assert_eq!(out["status"], 202, "{id} ({mode}): {out}");
        assert_eq!(out["body"], "", "{id}: a 202 has an empty body");
        sent.push((*id, out["sent"].clone(), spec.clone()));
    }

    let mut mismatches = Vec::new();
    for path in ["/bin", "/json"] {
        let got = sink.wait_for(path, cases.len(), WAIT);
        for r in &got {
            if path == "/json" {
                let ct = r.header("content-type").unwrap_or_default();
                assert!(ct.starts_with("application/cloudevents+json"), "{ct}");
            } else {
                assert!(r.header("ce-id").is_some(), "binary delivery: {r:#?}");
            }
            let parsed = sdk_parse(r);
            let id = parsed["attributes"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let (_, sent_attrs, spec) = sent
                .iter()
                .find(|(i, _, _)| *i == id)
                .unwrap_or_else(|| panic!("{path}: unexpected event {parsed}"));
            let recv = &parsed["attributes"];
            for (k, v) in sent_attrs.as_object().expect("attributes") {
                if recv[k] != *v {
                    mismatches.push(format!("{path} {id}: {k} sent {v} received {}", recv[k]));
                }
            }
            if recv["knativearrivaltime"].as_str().is_none() {
                mismatches.push(format!("{path} {id}: no knativearrivaltime"));
            }
            if !recv["knativebrokerttl"].is_null() {
                mismatches.push(format!(
                    "{path} {id}: knativebrokerttl reached the subscriber"
                ));
            }
            let data_ok = match spec.get("data_b64") {
                Some(b) => parsed["data_b64"] == *b,
                None => parsed["data"] == spec["data"],
            };
            if !data_ok {
                mismatches.push(format!("{path} {id}: data sent {spec} parsed {parsed}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    sink.expect_no_more("/bin", cases.len(), Duration::from_millis(300));
}
