//! Broker ingress, black-box (reference `knative-eventing.md` §5.1–§5.2, DP-1..DP-22): the real
//! binary, real kubectl, raw HTTP (reqwest and curl), and a recording subscriber.
//!
//! Every test starts its own Herald with a durable Broker `default` (no channel template) and,
//! where deliveries prove what the ingress stored, a catch-all Trigger to a recording sink.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Herald;
use common::broker::*;
use common::sink::{Reply, Sink};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers of this file (shared ones are in common/broker.rs).

/// Herald with Broker `default` and a catch-all Trigger `all` delivering to `sink` `/all`.
fn start_catch_all(sink: &Sink) -> (Herald, Client, String) {
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[trigger("all", &sink.at("/all"), json!({}))],
    );
    let url = broker_url(&h);
    (h, Client::new(), url)
}

/// Percent-decodes a header value (CloudEvents HTTP binding §3.1.3.2).
fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf-8 after percent-decoding")
}

/// Words of a message (split on anything but letters and digits), to find attribute names.
fn words(msg: &str) -> Vec<String> {
    msg.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// curl with the headers exactly as written (names keep their case); returns the status code.
fn curl(url: &str, headers: &[&str], body: &str) -> u16 {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["-X", "POST", url, "--data-binary", body]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.stderr(Stdio::piped()).output().expect("run curl");
    let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
    code.parse()
        .unwrap_or_else(|_| panic!("curl: {code:?} {}", String::from_utf8_lossy(&out.stderr)))
}

// ---------------------------------------------------------------------------------------------
// DP-1, DP-14, DP-21: content modes.

/// DP-1/DP-14: binary mode with JSON, XML and Thrift data is accepted with 202 and an empty body;
/// DP-21/DP-25: the subscriber gets each event with its data and `knativearrivaltime`.
#[test]
fn dp1_dp14_binary_mode_accepted_with_empty_202() {
    let sink = Sink::start();
    let (h, c, url) = start_catch_all(&sink);
    let cases: [(&str, &str, &[u8]); 3] = [
        ("bin-json", "application/json", br#"{"hello":"world"}"#),
        (
            "bin-xml",
            "application/xml",
            b"<?xml version=\"1.0\"?><hello>world</hello>",
        ),
        (
            "bin-thrift",
            "application/vnd.apache.thrift.binary",
            &[0x80, 0x01, 0x00, 0x01, 0xff, 0x00, 0x7f],
        ),
    ];
    for (id, ct, body) in cases {
        let r = post_binary(
            &c,
            &url,
            id,
            "dev.herald.test",
            &[("content-type", ct)],
            body,
        );
        assert_202(&r, id);
    }
    let got = sink.wait_for("/all", 3, WAIT);
    for (id, ct, body) in cases {
        let r = with_id(&got, id);
        assert_eq!(r.header("content-type"), Some(ct), "{id}");
        assert_eq!(r.body, body, "{id}: data byte-identical");
        assert!(r.header("ce-knativearrivaltime").is_some(), "{id}: DP-21");
    }
    drop(h);
}

/// DP-1: structured mode (`application/cloudevents+json`), with JSON data and with
/// `data_base64`, is accepted and delivered with the same attributes and data.
#[test]
fn dp1_structured_mode_accepted() {
    let sink = Sink::start();
    let (_h, c, url) = start_catch_all(&sink);
    let ct = [("content-type", "application/cloudevents+json")];
    let json_event = json!({
        "specversion": "1.0", "id": "st-json", "source": "/herald/tests", "type": "dev.herald.st",
        "subject": "sub", "myext": "ext-value", "datacontenttype": "application/json",
        "data": {"hello": "world", "n": 1},
    });
    assert_202(
        &c.post(&url, &ct, json_event.to_string().as_bytes()),
        "st-json",
    );
    let b64_event = json!({
        "specversion": "1.0", "id": "st-b64", "source": "/herald/tests", "type": "dev.herald.st",
        "datacontenttype": "application/octet-stream", "data_base64": "AAEC/w==",
    });
    assert_202(
        &c.post(&url, &ct, b64_event.to_string().as_bytes()),
        "st-b64",
    );

    let got = sink.wait_for("/all", 2, WAIT);
    let r = with_id(&got, "st-json");
    assert_eq!(r.header("ce-specversion"), Some("1.0"));
    assert_eq!(r.header("ce-type"), Some("dev.herald.st"));
    assert_eq!(r.header("ce-source"), Some("/herald/tests"));
    assert_eq!(r.header("ce-subject"), Some("sub"));
    assert_eq!(r.header("ce-myext"), Some("ext-value"));
    let data: Value = serde_json::from_slice(&r.body).expect("JSON data");
    assert_eq!(data, json!({"hello": "world", "n": 1}));
    let r = with_id(&got, "st-b64");
    assert_eq!(
        r.body,
        [0u8, 1, 2, 255],
        "data_base64 decoded to the same bytes"
    );
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
}

/// DP-6: batched mode (`application/cloudevents-batch+json`) is accepted; every event of the
/// batch is stored and delivered.
#[test]
fn dp6_batched_mode_stores_every_event() {
    let sink = Sink::start();
    let (_h, c, url) = start_catch_all(&sink);
    let batch = json!([
        {"specversion": "1.0", "id": "batch-1", "source": "/herald/tests", "type": "dev.herald.b",
         "datacontenttype": "application/json", "data": {"i": 1}},
        {"specversion": "1.0", "id": "batch-2", "source": "/herald/tests", "type": "dev.herald.b",
         "data": "plain"},
        {"specversion": "1.0", "id": "batch-3", "source": "/herald/tests", "type": "dev.herald.b"},
    ]);
    let r = c.post(
        &url,
        &[("content-type", "application/cloudevents-batch+json")],
        batch.to_string().as_bytes(),
    );
    assert_202(&r, "batch");
    let got = sink.wait_for("/all", 3, WAIT);
    for id in ["batch-1", "batch-2", "batch-3"] {
        with_id(&got, id);
    }
    let one: Value = serde_json::from_slice(&with_id(&got, "batch-1").body).expect("json");
    assert_eq!(one, json!({"i": 1}));
    sink.expect_no_more("/all", 3, Duration::from_millis(500));

    // An invalid member rejects the whole batch (nothing stored).
    let bad = json!([
        {"specversion": "1.0", "id": "batch-4", "source": "/s", "type": "t"},
        {"specversion": "1.0", "source": "/s", "type": "t"},
    ]);
    let r = c.post(
        &url,
        &[("content-type", "application/cloudevents-batch+json")],
        bad.to_string().as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    sink.expect_no_more("/all", 3, Duration::from_millis(500));
}

/// DP-2/DP-3: CloudEvents 0.3 is accepted (binary and structured) and NOT upgraded: the
/// subscriber sees `specversion: 0.3`.
#[test]
fn dp2_dp3_specversion_03_accepted_not_upgraded() {
    let sink = Sink::start();
    let (_h, c, url) = start_catch_all(&sink);
    let r = c.post(
        &url,
        &[
            ("ce-specversion", "0.3"),
            ("ce-id", "v03-bin"),
            ("ce-source", "/herald/tests"),
            ("ce-type", "dev.herald.v03"),
            ("content-type", "text/plain"),
        ],
        b"zero point three",
    );
    assert_202(&r, "0.3 binary");
    let st = json!({"specversion": "0.3", "id": "v03-st", "source": "/herald/tests",
                    "type": "dev.herald.v03", "datacontenttype": "text/plain", "data": "st"});
    let r = c.post(
        &url,
        &[("content-type", "application/cloudevents+json")],
        st.to_string().as_bytes(),
    );
    assert_202(&r, "0.3 structured");
    let got = sink.wait_for("/all", 2, WAIT);
    for id in ["v03-bin", "v03-st"] {
        let r = with_id(&got, id);
        assert_eq!(r.header("ce-specversion"), Some("0.3"), "{id}: {r:#?}");
    }
    assert_eq!(with_id(&got, "v03-bin").body, b"zero point three");
}

/// CE HTTP binding: percent-encoded `ce-*` values are decoded into the attribute (a filter on
/// the decoded value matches; structured delivery shows it) and re-encoded on binary delivery.
#[test]
fn percent_encoded_header_values_are_decoded() {
    let sink = Sink::start();
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[
            trigger(
                "decoded",
                &sink.at("/bin"),
                json!({"filter": {"attributes": {"subject": "hello wörld"}}}),
            ),
            trigger(
                "structured",
                &sink.at("/json"),
                json!({"delivery": {"format": "json"}}),
            ),
        ],
    );
    let c = Client::new();
    let r = post_binary(
        &c,
        &broker_url(&h),
        "pct-1",
        "dev.herald.pct",
        &[("ce-subject", "hello%20w%C3%B6rld")],
        b"{}",
    );
    assert_202(&r, "percent-encoded subject");
    let got = sink.wait_for("/bin", 1, WAIT);
    let subject = got[0].header("ce-subject").expect("ce-subject");
    assert_eq!(pct_decode(subject), "hello wörld", "raw header {subject:?}");
    let got = sink.wait_for("/json", 1, WAIT);
    let ev: Value = serde_json::from_slice(&got[0].body).expect("structured");
    assert_eq!(ev["subject"], "hello wörld", "{ev}");
}

// ---------------------------------------------------------------------------------------------
// DP-4, DP-5: invalid events.

/// DP-5: each missing required attribute (binary and structured) → 400 naming it; nothing is
/// delivered (regression knative/eventing#5143).
#[test]
fn dp5_missing_required_attribute_is_400_naming_it() {
    let sink = Sink::start();
    let (_h, c, url) = start_catch_all(&sink);
    for missing in ["specversion", "id", "source", "type"] {
        let all = [
            ("ce-specversion", "1.0"),
            ("ce-id", "missing"),
            ("ce-source", "/herald/tests"),
            ("ce-type", "dev.herald.missing"),
            ("content-type", "application/json"),
        ];
        let header = format!("ce-{missing}");
        let headers: Vec<_> = all.into_iter().filter(|(n, _)| *n != header).collect();
        let r = c.post(&url, &headers, b"{}");
        assert_eq!(r.status, 400, "binary without {missing}: {}", r.body);
        assert!(
            words(&r.body).contains(&missing.to_string()),
            "binary without {missing}: the message names it: {:?}",
            r.body
        );

        let mut ev = json!({"specversion": "1.0", "id": "missing", "source": "/herald/tests",
                            "type": "dev.herald.missing"});
        ev.as_object_mut().expect("object").remove(missing);
        let r = c.post(
            &url,
            &[("content-type", "application/cloudevents+json")],
            ev.to_string().as_bytes(),
        );
        assert_eq!(r.status, 400, "structured without {missing}: {}", r.body);
        assert!(
            words(&r.body).contains(&missing.to_string()),
            "structured without {missing}: the message names it: {:?}",
            r.body
        );
    }
    // Empty id/source/type are as bad as missing ones.
    let r = post_binary(&c, &url, "", "dev.herald.missing", &[], b"{}");
    assert_eq!(r.status, 400, "empty ce-id: {}", r.body);
    sink.expect_no_more("/all", 0, Duration::from_millis(500));
}

/// DP-5: invalid JSON in structured (and batched) mode → 400.
#[test]
fn dp5_invalid_structured_json_is_400() {
    let sink = Sink::start();
    let (_h, c, url) = start_catch_all(&sink);
    let bodies: [&[u8]; 4] = [
        br#"{"specversion":"1.0","id":"x","source":"/s","type":"t""#,
        b"not json at all",
        b"[1, 2, 3]",
        br#"{"specversion":"1.0","id":"x","source":"/s","type":"t","data_base64":"***"}"#,
    ];
    for body in bodies {
        let r = c.post(
            &url,
            &[("content-type", "application/cloudevents+json")],
            body,
        );
        assert_eq!(
            r.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(body),
            r.body
        );
    }
    let r = c.post(
        &url,
        &[("content-type", "application/cloudevents-batch+json")],
        b"[{\"specversion\":",
    );
    assert_eq!(r.status, 400, "batch: {}", r.body);
    sink.expect_no_more("/all", 0, Duration::from_millis(500));
}

/// DP-4: an unknown specversion (`19.0`) → 400, in binary and structured mode.
#[test]
fn dp4_unknown_specversion_is_400() {
    let sink = Sink::start();
    let (_h, c, url) = start_catch_all(&sink);
    let r = c.post(
        &url,
        &[
            ("ce-specversion", "19.0"),
            ("ce-id", "v19"),
            ("ce-source", "/herald/tests"),
            ("ce-type", "dev.herald.v19"),
        ],
        b"",
    );
    assert_eq!(r.status, 400, "binary 19.0: {}", r.body);
    let st = json!({"specversion": "19.0", "id": "v19", "source": "/s", "type": "t"});
    let r = c.post(
        &url,
        &[("content-type", "application/cloudevents+json")],
        st.to_string().as_bytes(),
    );
    assert_eq!(r.status, 400, "structured 19.0: {}", r.body);
    sink.expect_no_more("/all", 0, Duration::from_millis(500));
}

// ---------------------------------------------------------------------------------------------
// DP-10, DP-11, DP-12: verbs and routing.

/// DP-12: unknown broker → 404, `/` → 404; a path that is not `/<ns>/<broker>` → 400.
#[test]
fn dp12_unknown_broker_404_malformed_path_400() {
    let sink = Sink::start();
    let (h, c, _url) = start_catch_all(&sink);
    for (path, want) in [
        ("/default/nope", 404),
        ("/other/default", 404),
        ("/", 404),
        ("/onlyone", 400),
        ("/a/b/c", 400),
    ] {
        let r = post_binary(
            &c,
            &format!("{}{path}", h.ingress),
            "route",
            "dev.herald.route",
            &[],
            b"{}",
        );
        assert_eq!(r.status, want, "POST {path}: {}", r.body);
    }
    sink.expect_no_more("/all", 0, Duration::from_millis(300));
}

/// DP-10: GET/PUT/DELETE/PATCH on a broker → 405 with `Allow: POST, OPTIONS`.
#[test]
fn dp10_other_methods_are_405_with_allow() {
    let sink = Sink::start();
    let (_h, c, url) = start_catch_all(&sink);
    for method in ["GET", "PUT", "DELETE", "PATCH"] {
        let r = c.send(
            method,
            &url,
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "m"),
                ("ce-source", "/s"),
                ("ce-type", "t"),
            ],
            b"",
        );
        assert_eq!(r.status, 405, "{method}: {}", r.body);
        assert_eq!(r.header("allow"), Some("POST, OPTIONS"), "{method}");
    }
    sink.expect_no_more("/all", 0, Duration::from_millis(300));
}

/// DP-11: OPTIONS → 200 with `Allow` and the WebHook headers.
#[test]
fn dp11_options_probe() {
    let sink = Sink::start();
    let (_h, c, url) = start_catch_all(&sink);
    let r = c.send("OPTIONS", &url, &[], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
    assert_eq!(r.header("webhook-allowed-origin"), Some("*"));
    assert_eq!(r.header("webhook-allowed-rate"), Some("*"));
}

// ---------------------------------------------------------------------------------------------
// DP-7, DP-8: HTTP details.

/// DP-7: header names are case-insensitive (`CE-ID`, `Ce-Type`, …); DP-8: an `Upgrade: h2c`
/// header is ignored and the POST is handled normally.
#[test]
fn dp7_mixed_case_headers_dp8_upgrade_ignored() {
    let sink = Sink::start();
    let (_h, _c, url) = start_catch_all(&sink);
    let code = curl(
        &url,
        &[
            "CE-SpecVersion: 1.0",
            "CE-ID: mixed-case",
            "Ce-Source: /herald/tests",
            "Ce-Type: dev.herald.case",
            "CE-MyExt: shouting",
            "Content-Type: application/json",
        ],
        "{\"a\":1}",
    );
    assert_eq!(code, 202, "mixed-case header names");
    let code = curl(
        &url,
        &[
            "ce-specversion: 1.0",
            "ce-id: upgrade",
            "ce-source: /herald/tests",
            "ce-type: dev.herald.upgrade",
            "Content-Type: application/json",
            "Connection: Upgrade",
            "Upgrade: h2c",
        ],
        "{\"a\":2}",
    );
    assert_eq!(code, 202, "Upgrade: h2c is ignored");
    let got = sink.wait_for("/all", 2, WAIT);
    let r = with_id(&got, "mixed-case");
    assert_eq!(r.header("ce-type"), Some("dev.herald.case"));
    assert_eq!(r.header("ce-myext"), Some("shouting"));
    assert_eq!(with_id(&got, "upgrade").body, b"{\"a\":2}");
}

// ---------------------------------------------------------------------------------------------
// DP-19, DP-20, DP-22: broker behaviour.

/// DP-19: a Broker with no Triggers accepts events (202) and drops them. Before the Broker
/// exists its address is 404; `status.address.url` is the ingress address.
#[test]
fn dp19_broker_without_triggers_accepts() {
    let h = Herald::start();
    let c = Client::new();
    let url = broker_url(&h);
    let r = post_binary(&c, &url, "early", "dev.herald.t", &[], b"{}");
    assert_eq!(r.status, 404, "no broker yet: {}", r.body);
    apply(&h, &[broker("default", json!({}))]);
    h.wait_jsonpath(&["broker", "default"], READY, "True");
    h.wait_jsonpath(&["broker", "default"], "{.status.address.url}", &url);
    for i in 0..5 {
        let r = post_binary(&c, &url, &format!("lonely-{i}"), "dev.herald.t", &[], b"{}");
        assert_202(&r, "broker without triggers");
    }
}

/// DP-20: `ce-knativebrokerttl: 1` (or 0) → 400: the event has no hops left. A TTL of 2 is
/// accepted, and `knativebrokerttl` never reaches the subscriber.
#[test]
fn dp20_exhausted_ttl_is_400() {
    let sink = Sink::start();
    let (_h, c, url) = start_catch_all(&sink);
    for ttl in ["1", "0"] {
        let r = post_binary(
            &c,
            &url,
            "ttl-dead",
            "dev.herald.ttl",
            &[("ce-knativebrokerttl", ttl)],
            b"{}",
        );
        assert_eq!(r.status, 400, "ttl {ttl}: {}", r.body);
    }
    let r = post_binary(
        &c,
        &url,
        "ttl-alive",
        "dev.herald.ttl",
        &[("ce-knativebrokerttl", "2")],
        b"{}",
    );
    assert_202(&r, "ttl 2");
    let got = sink.wait_for("/all", 1, WAIT);
    assert_eq!(got[0].header("ce-id"), Some("ttl-alive"));
    assert_eq!(
        got[0].header("ce-knativebrokerttl"),
        None,
        "DP-20: subscribers never see knativebrokerttl"
    );
    sink.expect_no_more("/all", 1, Duration::from_millis(300));
}

/// DP-22: a body larger than `--max-request-bytes` → 413 (declared length, chunked, structured);
/// an event under the limit is accepted and delivered whole.
#[test]
fn dp22_body_over_max_request_bytes_is_413() {
    let sink = Sink::start();
    let dir = tempfile::tempdir().expect("tmp");
    let h = Herald::start_with(&dir.path().join("data"), &["--max-request-bytes", "65536"]);
    setup(
        &h,
        json!({}),
        &[trigger("all", &sink.at("/all"), json!({}))],
    );
    let url = broker_url(&h);
    let octets = [("content-type", "application/octet-stream")];

    // A fresh client (connection) per oversized request: see the Connection check below.
    let big = vec![b'x'; 70_000];
    let r = post_binary(
        &Client::new(),
        &url,
        "too-big",
        "dev.herald.size",
        &octets,
        &big,
    );
    assert_eq!(r.status, 413, "{}", r.body);
    let connection = r.header("connection").map(str::to_string);
    let st = json!({"specversion": "1.0", "id": "too-big-st", "source": "/s", "type": "t",
                    "data": "y".repeat(70_000)});
    let r = Client::new().post(
        &url,
        &[("content-type", "application/cloudevents+json")],
        st.to_string().as_bytes(),
    );
    assert_eq!(r.status, 413, "structured: {}", r.body);

    // Without Content-Length (chunked), the limit still holds.
    let path = dir.path().join("big.bin");
    std::fs::write(&path, &big).expect("write body");
    let code = curl(
        &url,
        &[
            "ce-specversion: 1.0",
            "ce-id: too-big-chunked",
            "ce-source: /s",
            "ce-type: t",
            "Content-Type: application/octet-stream",
            "Transfer-Encoding: chunked",
        ],
        &format!("@{}", path.display()),
    );
    assert_eq!(code, 413, "chunked body over the limit");

    let ok = vec![b'z'; 60_000];
    let r = post_binary(
        &Client::new(),
        &url,
        "fits",
        "dev.herald.size",
        &octets,
        &ok,
    );
    assert_202(&r, "under the limit");
    let got = sink.wait_for("/all", 1, WAIT);
    assert_eq!(got[0].header("ce-id"), Some("fits"));
    assert_eq!(got[0].body.len(), ok.len());
    sink.expect_no_more("/all", 1, Duration::from_millis(300));

    // Herald answers 413 without reading the body and then closes the connection; it must say
    // so, or a keep-alive client reuses the dead connection for its next event (reqwest then
    // fails that request with IncompleteMessage; curl notices "Connection 0 seems to be dead").
    assert_eq!(
        connection.as_deref(),
        Some("close"),
        "a 413 sent without reading the body needs `Connection: close`"
    );
}

/// DP-22: the default limit is 4 MiB: 1 MiB is accepted, 5 MiB is 413. (curl sends the 5 MiB
/// with `Expect: 100-continue` and reads the early answer; a client that insists on writing
/// the whole body may see the connection closed instead, which HTTP allows.)
#[test]
fn dp22_default_limit_is_4_mib() {
    let sink = Sink::start();
    let (_h, c, url) = start_catch_all(&sink);
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("five-mib.bin");
    std::fs::write(&path, vec![1u8; 5 << 20]).expect("write body");
    let code = curl(
        &url,
        &[
            "ce-specversion: 1.0",
            "ce-id: five-mib",
            "ce-source: /s",
            "ce-type: t",
            "Content-Type: application/octet-stream",
        ],
        &format!("@{}", path.display()),
    );
    assert_eq!(code, 413, "5 MiB over the default limit");
    let octets = [("content-type", "application/octet-stream")];
    let r = post_binary(
        &c,
        &url,
        "one-mib",
        "dev.herald.size",
        &octets,
        &vec![2u8; 1 << 20],
    );
    assert_202(&r, "1 MiB");
    let got = sink.wait_for("/all", 1, WAIT);
    assert_eq!(got[0].header("ce-id"), Some("one-mib"));
    assert_eq!(got[0].body.len(), 1 << 20);
}

// ---------------------------------------------------------------------------------------------
// DP-15: durability.

/// DP-15: every acknowledged (202) event survives a SIGKILL right after the 202, and is
/// delivered after restart.
#[test]
fn dp15_acknowledged_events_survive_kill9() {
    let sink = Sink::start();
    // The subscriber is down (503) until after the crash; retries are slow.
    sink.fallback("/down", Reply::status(503));
    let dir = tempfile::tempdir().expect("tmp");
    let data_dir = dir.path().join("data");
    let mut h = Herald::start_in(&data_dir);
    setup(
        &h,
        json!({}),
        &[trigger(
            "durable",
            &sink.at("/down"),
            json!({"delivery": {"retry": 10, "backoffPolicy": "linear", "backoffDelay": "PT5S"}}),
        )],
    );
    let c = Client::new();
    let url = broker_url(&h);
    let ids: Vec<String> = (0..20).map(|i| format!("durable-{i}")).collect();
    for id in &ids {
        assert_202(
            &post_binary(&c, &url, id, "dev.herald.durable", &[], b"{}"),
            id,
        );
    }
    h.kill9();
    sink.fallback("/down", Reply::status(202));
    let restarted = Instant::now();
    let h = Herald::start_in(&data_dir);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let after: Vec<String> = sink
            .received("/down")
            .iter()
            .filter(|r| r.at >= restarted)
            .filter_map(|r| r.header("ce-id").map(str::to_string))
            .collect();
        let missing: Vec<&String> = ids.iter().filter(|id| !after.contains(id)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged events not delivered after the restart: {missing:?}\nherald log:\n{}",
            h.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
