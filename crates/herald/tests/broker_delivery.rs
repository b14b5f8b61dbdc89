//! Broker delivery to subscribers, black-box (reference `knative-eventing.md` §3, §4 and §5.3:
//! DP-23..DP-44): the real binary, real kubectl, raw HTTP, and recording subscribers whose
//! answers are scripted per path.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::Herald;
use common::broker::*;
use common::sink::{Received, Reply, Sink};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers of this file (shared ones are in common/broker.rs).

// ---------------------------------------------------------------------------------------------
/// Gaps between consecutive receipts.
fn gaps(got: &[Received]) -> Vec<Duration> {
    got.windows(2)
        .map(|w| w[1].at.duration_since(w[0].at))
        .collect()
}

/// Backoff check with tolerant bounds: at least 90 % of the expected gap, less than
/// expected + 1.5 s.
fn assert_gaps(what: &str, got: &[Received], expected_ms: &[u64]) {
    let g = gaps(got);
    assert!(
        g.len() >= expected_ms.len(),
        "{what}: {} receipts",
        got.len()
    );
    for (k, (gap, want)) in g.iter().zip(expected_ms).enumerate() {
        let want = Duration::from_millis(*want);
        assert!(
            *gap >= want.mul_f64(0.9) && *gap < want + Duration::from_millis(1500),
            "{what}: gap before retry {} was {gap:?}, expected {want:?} (all gaps {g:?})",
            k + 1
        );
    }
}

/// `ce-id`s of binary-mode deliveries, in order.
fn ids(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.header("ce-id").unwrap_or("<none>").to_string())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A loose RFC 3339 check: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
fn looks_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (s.ends_with('Z') || s.ends_with('z') || s[s.len() - 6..].starts_with(['+', '-']))
}

/// A URL where nothing listens (connection refused).
fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}/nobody")
}

/// `retry` retries 50 ms apart (linear).
fn fast_retry(retry: u32) -> Value {
    json!({"retry": retry, "backoffPolicy": "linear", "backoffDelay": "PT0.05S"})
}

// ---------------------------------------------------------------------------------------------
// DP-23..DP-30, DP-53: what a subscriber receives.

/// DP-23/DP-25/DP-28/DP-29/DP-21: binary POST with every attribute as sent, plus
/// `knativearrivaltime`; `Prefer: reply`, `Kn-Namespace`; never `knativebrokerttl`.
/// DP-30/DP-53: only the passthrough headers arrive; traceparent keeps its trace-id.
#[test]
fn dp23_dp25_dp28_dp29_dp30_binary_delivery() {
    let sink = Sink::start();
    let h = Herald::start();
    setup(&h, json!({}), &[trigger("t1", &sink.at("/a"), json!({}))]);
    let c = Client::new();
    let attrs = [
        ("ce-specversion", "1.0"),
        ("ce-id", "full-1"),
        ("ce-source", "/herald/tests/full"),
        ("ce-type", "dev.herald.full"),
        ("ce-subject", "the-subject"),
        ("ce-time", "2026-01-02T03:04:05Z"),
        ("ce-dataschema", "https://example.com/schema.json"),
        ("ce-myext", "my-value"),
        ("ce-num", "42"),
        ("ce-flag", "true"),
        ("content-type", "application/json"),
    ];
    let passthrough = [
        ("x-request-id", "req-123"),
        ("knative-foo", "bar"),
        ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        ("tracestate", "congo=t61rcWkgMzE"),
    ];
    let dropped = [("x-custom", "1"), ("authorization", "Bearer nope")];
    let mut headers = attrs.to_vec();
    headers.extend(passthrough);
    headers.extend(dropped);
    let body = br#"{"hello": "world",  "spaces":  true}"#;
    assert_202(&c.post(&broker_url(&h), &headers, body), "full event");

    let got = sink.wait_for("/a", 1, WAIT);
    let r = &got[0];
    assert_eq!(r.method, "POST", "DP-23");
    for (n, v) in attrs {
        assert_eq!(r.header(n), Some(v), "DP-25: {n} identical\n{r:#?}");
    }
    assert_eq!(r.body, body, "DP-26: data byte-identical");
    let arrival = r
        .header("ce-knativearrivaltime")
        .expect("DP-21 arrival time");
    assert!(looks_rfc3339(arrival), "knativearrivaltime {arrival:?}");
    let mut extra_ce: Vec<&str> = r
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| n.starts_with("ce-") && !attrs.iter().any(|(a, _)| a == n))
        .collect();
    extra_ce.sort();
    assert_eq!(
        extra_ce,
        ["ce-knativearrivaltime"],
        "no other attributes (knativebrokerttl never reaches subscribers)"
    );
    assert_eq!(r.header("prefer"), Some("reply"), "DP-28");
    assert_eq!(r.header("kn-namespace"), Some("default"), "DP-29");
    // DP-30: passthrough headers.
    assert_eq!(r.header("x-request-id"), Some("req-123"));
    assert_eq!(r.header("knative-foo"), Some("bar"));
    assert_eq!(
        r.header("x-b3-traceid"),
        Some("80f198ee56343ba864fe8b2a57d3eff7")
    );
    for (n, _) in dropped {
        assert_eq!(r.header(n), None, "DP-30: {n} is not passed through");
    }
    // DP-53: the trace id survives; the span is Herald's own.
    let tp = r.header("traceparent").expect("DP-53 traceparent");
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent {tp:?}");
    assert_eq!(
        parts[1], "0af7651916cd43dd8448eb211c80319c",
        "trace-id kept"
    );
    assert_eq!(parts[2].len(), 16, "span id {tp:?}");
    assert_ne!(parts[2], "b7ad6b7169203331", "a new span id");
    assert_eq!(r.header("tracestate"), Some("congo=t61rcWkgMzE"));
}

/// DP-24: `delivery.format: json` → structured mode (`application/cloudevents+json`) with
/// the same attributes and data; no `ce-*` headers.
#[test]
fn dp24_format_json_delivers_structured() {
    let sink = Sink::start();
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[trigger(
            "structured",
            &sink.at("/s"),
            json!({"delivery": {"format": "json"}}),
        )],
    );
    let c = Client::new();
    let r = post_binary(
        &c,
        &broker_url(&h),
        "fmt-1",
        "dev.herald.fmt",
        &[
            ("ce-subject", "subj"),
            ("ce-time", "2026-01-02T03:04:05Z"),
            ("ce-myext", "my-value"),
        ],
        br#"{"k":[1,2,3]}"#,
    );
    assert_202(&r, "fmt-1");
    let got = sink.wait_for("/s", 1, WAIT);
    let r = &got[0];
    assert_eq!(r.method, "POST");
    let ct = r.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/cloudevents+json"),
        "DP-24 content type {ct:?}"
    );
    assert!(
        !r.headers.iter().any(|(n, _)| n.starts_with("ce-")),
        "structured mode has no ce-* headers: {:?}",
        r.headers
    );
    assert_eq!(r.header("prefer"), Some("reply"));
    assert_eq!(r.header("kn-namespace"), Some("default"));
    let ev: Value = serde_json::from_slice(&r.body).expect("structured JSON");
    for (k, v) in [
        ("specversion", "1.0"),
        ("id", "fmt-1"),
        ("source", "/herald/tests"),
        ("type", "dev.herald.fmt"),
        ("subject", "subj"),
        ("time", "2026-01-02T03:04:05Z"),
        ("myext", "my-value"),
        ("datacontenttype", "application/json"),
    ] {
        assert_eq!(ev[k], v, "{k} in {ev}");
    }
    assert_eq!(ev["data"], json!({"k": [1, 2, 3]}), "{ev}");
    assert!(
        ev["knativearrivaltime"].as_str().is_some_and(looks_rfc3339),
        "{ev}"
    );
    assert!(ev.get("knativebrokerttl").is_none(), "{ev}");
}

/// DP-25/DP-26: data is byte-identical: non-UTF-8 octets, JSON with its own whitespace, XML —
/// in binary delivery, and (for the octets) as `data_base64` in structured delivery.
#[test]
fn dp26_data_is_byte_identical() {
    let sink = Sink::start();
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[
            trigger("bin", &sink.at("/bin"), json!({})),
            trigger(
                "json",
                &sink.at("/json"),
                json!({"delivery": {"format": "json"}}),
            ),
        ],
    );
    let c = Client::new();
    let octets: Vec<u8> = (0..=255u8).rev().chain(0..=255u8).collect();
    // JSON with its own inner whitespace, and JSON ending in a newline (as `echo` or a file
    // written by an editor leaves it).
    let json_text = b"{ \"a\" : 1,\n  \"b\":[ true , null ]\t}".to_vec();
    let json_nl = b"{\"a\":1}\n".to_vec();
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<r a='1'>w\u{f6}rld &amp; more</r>"
        .as_bytes()
        .to_vec();
    let cases = [
        ("octets", "application/octet-stream", octets.clone()),
        ("json", "application/json", json_text.clone()),
        ("json-nl", "application/json", json_nl.clone()),
        ("xml", "application/xml", xml.clone()),
    ];
    let url = broker_url(&h);
    for (id, ct, body) in &cases {
        let r = post_binary(
            &c,
            &url,
            id,
            "dev.herald.data",
            &[("content-type", ct)],
            body,
        );
        assert_202(&r, id);
    }
    let got = sink.wait_for("/bin", 4, WAIT);
    for (id, ct, body) in &cases {
        let r = with_id(&got, id);
        assert_eq!(&r.body, body, "{id}: binary delivery keeps the bytes");
        assert_eq!(r.header("content-type"), Some(*ct), "{id}");
    }
    let got = sink.wait_for("/json", 4, WAIT);
    let structured: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("structured"))
        .collect();
    let find = |id: &str| {
        structured
            .iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {structured:?}"))
    };
    let b64 = find("octets")["data_base64"].as_str().expect("data_base64");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    assert_eq!(decoded, octets, "octets in structured mode");
    // CloudEvents JSON format §3.1: JSON content under a JSON `datacontenttype` is stored as
    // a JSON value in `data` (not as `data_base64`).
    let j: Value = serde_json::from_slice(&json_text).expect("json");
    assert_eq!(find("json")["data"], j, "{}", find("json"));
    assert_eq!(
        find("json-nl")["data"],
        json!({"a": 1}),
        "JSON data with a trailing newline is still JSON: {}",
        find("json-nl")
    );
    let x = find("xml");
    let xml_back = match (x["data"].as_str(), x["data_base64"].as_str()) {
        (Some(s), _) => s.as_bytes().to_vec(),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .expect("base64"),
        _ => panic!("xml data missing: {x}"),
    };
    assert_eq!(xml_back, xml);
}

// ---------------------------------------------------------------------------------------------
// DP-31/DP-32 and §4: filters.

/// DP-31/DP-32: each Trigger receives only its matching events, an event matching two Triggers
/// is delivered once to each, and two Triggers with the same subscriber each deliver.
#[test]
fn dp31_dp32_each_matching_trigger_gets_one_delivery() {
    let sink = Sink::start();
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[
            trigger(
                "has-ext",
                &sink.at("/ext"),
                json!({"filter": {"attributes": {"myext": ""}}}),
            ),
            trigger(
                "b-suffix",
                &sink.at("/b"),
                json!({"filters": [{"suffix": {"type": ".b"}}]}),
            ),
            trigger("same-1", &sink.at("/same"), json!({})),
            trigger("same-2", &sink.at("/same"), json!({})),
        ],
    );
    let c = Client::new();
    let url = broker_url(&h);
    for (id, ty, ext) in [
        ("e1", "x.b", None),
        ("e2", "x.a", Some("1")),
        ("e3", "x.b", Some("1")),
        ("e4", "x.a", None),
    ] {
        let extra: Vec<(&str, &str)> = ext.map(|v| ("ce-myext", v)).into_iter().collect();
        assert_202(&post_binary(&c, &url, id, ty, &extra, b"{}"), id);
    }
    sink.wait_for("/ext", 2, WAIT);
    sink.wait_for("/b", 2, WAIT);
    sink.wait_for("/same", 8, WAIT);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sorted(ids(&sink.received("/ext"))), ["e2", "e3"]);
    assert_eq!(sorted(ids(&sink.received("/b"))), ["e1", "e3"]);
    assert_eq!(
        sorted(ids(&sink.received("/same"))),
        ["e1", "e1", "e2", "e2", "e3", "e3", "e4", "e4"],
        "DP-32: one delivery per trigger, even to the same destination"
    );
}

/// §4.1/§4.2: legacy `filter.attributes` (exact; `""` = present and non-empty) and the
/// `filters` dialects exact/prefix/suffix/all/any/not; top-level `filters` are AND-ed and
/// override `filter`.
#[test]
fn filters_dialects_select_events() {
    let sink = Sink::start();
    let h = Herald::start();
    let t = |name: &str, spec: Value| trigger(name, &sink.at(&format!("/{name}")), spec);
    setup(
        &h,
        json!({}),
        &[
            t(
                "exact",
                json!({"filters": [{"exact": {"type": "dev.herald.exact"}}]}),
            ),
            t(
                "prefix",
                json!({"filters": [{"prefix": {"type": "dev.herald.pre"}}]}),
            ),
            t(
                "suffix",
                json!({"filters": [{"suffix": {"source": "/end"}}]}),
            ),
            t(
                "all",
                json!({"filters": [{"all": [{"prefix": {"type": "dev.herald"}},
                                             {"exact": {"myext": "yes"}}]}]}),
            ),
            t(
                "any",
                json!({"filters": [{"any": [{"exact": {"type": "dev.herald.exact"}},
                                             {"suffix": {"type": ".any"}}]}]}),
            ),
            t(
                "not",
                json!({"filters": [{"not": {"prefix": {"type": "dev.herald"}}}]}),
            ),
            t(
                "and",
                json!({"filters": [{"prefix": {"type": "dev.herald"}},
                                   {"exact": {"subject": "s1"}}]}),
            ),
            t(
                "override",
                json!({"filter": {"attributes": {"type": "no.such.type"}},
                       "filters": [{"exact": {"type": "dev.herald.exact"}}]}),
            ),
            t(
                "legacy-present",
                json!({"filter": {"attributes": {"myext": ""}}}),
            ),
            t(
                "legacy-exact",
                json!({"filter": {"attributes": {"type": "dev.herald.exact", "source": "/x"}}}),
            ),
            t(
                "legacy-subject",
                json!({"filter": {"attributes": {"subject": ""}}}),
            ),
        ],
    );
    let c = Client::new();
    let url = broker_url(&h);
    // (id, type, source, extra headers)
    type Case<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, &'a str)]);
    let events: [Case; 5] = [
        (
            "e1",
            "dev.herald.exact",
            "/x",
            &[("ce-myext", "yes"), ("ce-subject", "s1")],
        ),
        ("e2", "dev.herald.prefix.more", "/x/end", &[]),
        ("e3", "other.any", "/y", &[]),
        ("e4", "dev.herald.any", "/end", &[("ce-myext", "no")]),
        ("e5", "zzz", "/z", &[]),
    ];
    for (id, ty, source, extra) in events {
        let mut headers = vec![
            ("ce-specversion", "1.0"),
            ("ce-id", id),
            ("ce-source", source),
            ("ce-type", ty),
            ("content-type", "application/json"),
        ];
        headers.extend_from_slice(extra);
        assert_202(&c.post(&url, &headers, b"{}"), id);
    }
    let want: [(&str, &[&str]); 11] = [
        ("exact", &["e1"]),
        ("prefix", &["e2"]),
        ("suffix", &["e2", "e4"]),
        ("all", &["e1"]),
        ("any", &["e1", "e3", "e4"]),
        ("not", &["e3", "e5"]),
        ("and", &["e1"]),
        ("override", &["e1"]),
        ("legacy-present", &["e1", "e4"]),
        ("legacy-exact", &["e1"]),
        ("legacy-subject", &["e1"]),
    ];
    for (name, ids_) in want {
        sink.wait_for(&format!("/{name}"), ids_.len(), WAIT);
    }
    std::thread::sleep(Duration::from_secs(1));
    for (name, ids_) in want {
        assert_eq!(
            sorted(ids(&sink.received(&format!("/{name}")))),
            ids_,
            "trigger {name}"
        );
    }
}

/// CESQL filters (reference §4.3) deliver exactly the matching events end to end; an invalid
/// expression is refused at apply time with a 422 that points into the expression.
#[test]
fn cesql_filters_deliver_exactly_the_matching_events() {
    let sink = Sink::start();
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[trigger(
            "sql",
            &sink.at("/sql"),
            json!({"filters": [{"cesql": "type LIKE 'dev.herald.%' AND (region IN ('eu', 'us') OR priority > 5)"}]}),
        )],
    );
    let c = Client::new();
    let url = broker_url(&h);
    // (id, type, extra headers, delivered?)
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], bool);
    let cases: [Case; 6] = [
        ("s1", "dev.herald.sql", &[("ce-region", "eu")], true),
        (
            "s2",
            "dev.herald.sql",
            &[("ce-region", "asia"), ("ce-priority", "9")],
            true,
        ),
        ("s3", "dev.herald.sql", &[("ce-region", "asia")], false),
        // `priority` is a string in binary mode; CESQL casts it for `>`: "3" > 5 is false.
        (
            "s4",
            "dev.herald.sql",
            &[("ce-region", "asia"), ("ce-priority", "3")],
            false,
        ),
        // A missing attribute is an error, even on one side of OR: the event does not pass.
        ("s5", "dev.herald.sql", &[("ce-priority", "9")], false),
        ("s6", "com.other.sql", &[("ce-region", "eu")], false),
    ];
    for (id, ty, extra, _) in &cases {
        assert_202(&post_binary(&c, &url, id, ty, extra, b"{}"), id);
    }
    let want: Vec<&str> = cases.iter().filter(|c| c.3).map(|c| c.0).collect();
    let got = sink.wait_for("/sql", want.len(), WAIT);
    sink.expect_no_more("/sql", want.len(), Duration::from_millis(700));
    let mut ids: Vec<&str> = got.iter().filter_map(|r| r.header("ce-id")).collect();
    ids.sort();
    assert_eq!(ids, want);

    let bad = trigger(
        "bad",
        &sink.at("/bad"),
        json!({"filters": [{"cesql": "type = 'x' AND"}]}),
    );
    let out = h.kubectl_stdin(&["apply", "-f", "-"], Some(&bad.to_string()));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("spec.filters[0].cesql"), "{stderr}");
    assert!(stderr.contains("column"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// DP-37..DP-40: retries.

/// DP-37/DP-39: with `retry: 2`, retryable answers (404, 408, 409, 429, 5xx, timeout) get 3
/// attempts; non-retryable ones (400, 401, 403, 410, 418, 3xx) get 1.
#[test]
fn dp37_dp39_retryable_codes_get_retry_plus_one_attempts() {
    let sink = Sink::start();
    let h = Herald::start();
    let retryable = [404u16, 408, 409, 429, 500, 502, 503, 504];
    let final_ = [400u16, 401, 403, 410, 418, 302];
    let mut triggers = Vec::new();
    for code in retryable.iter().chain(&final_) {
        let path = format!("/c{code}");
        sink.fallback(&path, Reply::status(*code));
        triggers.push(trigger(
            &format!("code-{code}"),
            &sink.at(&path),
            json!({"delivery": fast_retry(2)}),
        ));
    }
    // No answer within `timeout` counts as a failed attempt (DP-40).
    sink.fallback("/slow", Reply::status(202).delay(Duration::from_secs(2)));
    let mut d = fast_retry(2);
    d["timeout"] = json!("PT0.5S");
    triggers.push(trigger(
        "timeout",
        &sink.at("/slow"),
        json!({"delivery": d}),
    ));
    setup(&h, json!({}), &triggers);
    let c = Client::new();
    assert_202(
        &post_binary(&c, &broker_url(&h), "codes", "dev.herald.codes", &[], b"{}"),
        "codes",
    );
    for code in retryable {
        sink.wait_for(&format!("/c{code}"), 3, WAIT);
    }
    for code in final_ {
        sink.wait_for(&format!("/c{code}"), 1, WAIT);
    }
    sink.wait_for("/slow", 3, WAIT);
    std::thread::sleep(Duration::from_millis(1500));
    let mut wrong = Vec::new();
    for (code, want) in retryable
        .iter()
        .map(|c| (c.to_string(), 3))
        .chain(final_.iter().map(|c| (c.to_string(), 1)))
        .chain([("timeout".to_string(), 3)])
    {
        let path = if code == "timeout" {
            "/slow".to_string()
        } else {
            format!("/c{code}")
        };
        let n = sink.received(&path).len();
        if n != want {
            wrong.push(format!("{code}: {n} attempts, want {want}"));
        }
    }
    assert!(wrong.is_empty(), "attempt counts: {wrong:?}");
}

/// DP-39: backoff before retry k (k = 1..retry) is `delay·k` (linear) or `delay·2^k`
/// (exponential, Herald's documented choice). Both triggers get the same event.
#[test]
fn dp39_backoff_timing() {
    // (policy, status the subscriber answers, expected gaps in ms)
    let cases = [
        ("linear", 500, [200, 400, 600]),
        ("exponential", 503, [400, 800, 1600]),
    ];
    let sink = Sink::start();
    let h = Herald::start();
    let triggers: Vec<Value> = cases
        .iter()
        .map(|(policy, status, _)| {
            let path = format!("/{policy}");
            sink.fallback(&path, Reply::status(*status));
            trigger(
                policy,
                &sink.at(&path),
                json!({"delivery": {"retry": 3, "backoffPolicy": policy, "backoffDelay": "PT0.2S"}}),
            )
        })
        .collect();
    setup(&h, json!({}), &triggers);
    let c = Client::new();
    assert_202(
        &post_binary(&c, &broker_url(&h), "backoff", "t", &[], b"{}"),
        "backoff",
    );
    for (policy, _, gaps) in cases {
        let path = format!("/{policy}");
        let got = sink.wait_for(&path, 4, WAIT);
        assert_gaps(policy, &got, &gaps);
    }
    for (policy, _, _) in cases {
        sink.expect_no_more(&format!("/{policy}"), 4, Duration::from_millis(500));
    }
}

/// §3: a Broker without `delivery` is defaulted to retry 10, exponential, PT0.2S, which its
/// Triggers use (first retries observed: 0.4 s, 0.8 s, 1.6 s).
#[test]
fn broker_default_delivery_is_retry_10_exponential() {
    let sink = Sink::start();
    sink.fallback("/def", Reply::status(500));
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[trigger("def", &sink.at("/def"), json!({}))],
    );
    for (field, want) in [
        ("retry", "10"),
        ("backoffPolicy", "exponential"),
        ("backoffDelay", "PT0.2S"),
    ] {
        h.wait_jsonpath(
            &["broker", "default"],
            &format!("{{.spec.delivery.{field}}}"),
            want,
        );
    }
    let c = Client::new();
    assert_202(
        &post_binary(&c, &broker_url(&h), "def", "t", &[], b"{}"),
        "def",
    );
    let got = sink.wait_for("/def", 4, WAIT);
    assert_gaps("broker default", &got, &[400, 800, 1600]);
}

/// DP-40: `timeout` bounds each attempt: a reply delayed 2 s past `timeout: PT0.5S` is a
/// failed attempt, retried long before the 2 s are up.
#[test]
fn dp40_timeout_fails_the_attempt() {
    let sink = Sink::start();
    sink.script("/t", vec![Reply::status(202).delay(Duration::from_secs(2))]);
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[trigger(
            "t",
            &sink.at("/t"),
            json!({"delivery": {"retry": 1, "timeout": "PT0.5S",
                                "backoffPolicy": "linear", "backoffDelay": "PT0.1S"}}),
        )],
    );
    let c = Client::new();
    assert_202(
        &post_binary(&c, &broker_url(&h), "to", "t", &[], b"{}"),
        "to",
    );
    let got = sink.wait_for("/t", 2, WAIT);
    let gap = got[1].at.duration_since(got[0].at);
    assert!(
        gap >= Duration::from_millis(540) && gap < Duration::from_millis(1900),
        "the retry follows the 0.5 s timeout + 0.1 s backoff, not the 2 s reply: {gap:?}"
    );
    sink.expect_no_more("/t", 2, Duration::from_millis(2500));
}

/// DP-40: `Retry-After` on 429 is honoured up to `retryAfterMax`; without `retryAfterMax` it
/// is ignored.
#[test]
fn dp40_retry_after_honoured_only_with_retry_after_max() {
    let sink = Sink::start();
    for p in ["/honoured", "/capped", "/ignored"] {
        sink.script(p, vec![Reply::status(429).header("retry-after", "2")]);
    }
    let h = Herald::start();
    let d = |max: Option<&str>| {
        let mut d = json!({"retry": 1, "backoffPolicy": "linear", "backoffDelay": "PT0.1S"});
        if let Some(m) = max {
            d["retryAfterMax"] = json!(m);
        }
        json!({"delivery": d})
    };
    setup(
        &h,
        json!({}),
        &[
            trigger("honoured", &sink.at("/honoured"), d(Some("PT5S"))),
            trigger("capped", &sink.at("/capped"), d(Some("PT1S"))),
            trigger("ignored", &sink.at("/ignored"), d(None)),
        ],
    );
    let c = Client::new();
    assert_202(
        &post_binary(&c, &broker_url(&h), "ra", "t", &[], b"{}"),
        "ra",
    );
    let gap = |p: &str| {
        let got = sink.wait_for(p, 2, WAIT);
        got[1].at.duration_since(got[0].at)
    };
    let honoured = gap("/honoured");
    assert!(
        honoured >= Duration::from_millis(1800) && honoured < Duration::from_millis(3500),
        "Retry-After: 2 with retryAfterMax PT5S: {honoured:?}"
    );
    let capped = gap("/capped");
    assert!(
        capped >= Duration::from_millis(900) && capped < Duration::from_millis(1900),
        "Retry-After: 2 capped by retryAfterMax PT1S: {capped:?}"
    );
    let ignored = gap("/ignored");
    assert!(
        ignored >= Duration::from_millis(90) && ignored < Duration::from_millis(1500),
        "without retryAfterMax, Retry-After is ignored: {ignored:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// DP-41..DP-44: dead-letter sinks and precedence.

/// DP-41/DP-42: after the last attempt the dead-letter sink gets the original event once, with
/// `knativeerrordest`, `knativeerrorcode` and `knativeerrordata` (base64 of the first 1024
/// bytes of the response; omitted for an empty body; code 500 when there was no response).
#[test]
fn dp41_dp42_dead_letter_sink_gets_original_with_error_extensions() {
    let sink = Sink::start();
    let long_body: Vec<u8> = (0..1500u32).map(|i| b'a' + (i % 26) as u8).collect();
    sink.fallback("/fail500", Reply::status(500).body(&long_body));
    sink.fallback("/fail503", Reply::status(503));
    sink.fallback("/fail400", Reply::status(400).body(b"bad event"));
    let nobody = dead_url();
    let h = Herald::start();
    let dls = |sub: &str, retry: u32, dls: &str| {
        let mut d = fast_retry(retry);
        d["deadLetterSink"] = json!({"uri": sink.at(dls)});
        trigger(
            sub,
            &sink.at(&format!("/fail{}", &sub[4..])),
            json!({"delivery": d}),
        )
    };
    let mut nobody_delivery = fast_retry(1);
    nobody_delivery["deadLetterSink"] = json!({"uri": sink.at("/dls-nobody")});
    setup(
        &h,
        json!({}),
        &[
            dls("dead500", 1, "/dls500"),
            dls("dead503", 1, "/dls503"),
            dls("dead400", 1, "/dls400"),
            trigger("nobody", &nobody, json!({"delivery": nobody_delivery})),
        ],
    );
    let c = Client::new();
    let r = post_binary(
        &c,
        &broker_url(&h),
        "dl-1",
        "dev.herald.dead",
        &[("ce-myext", "keep-me"), ("ce-subject", "s")],
        br#"{"original":true}"#,
    );
    assert_202(&r, "dl-1");

    // `knativeerrordata`: Some(bytes) = exactly base64(bytes); None = absent; for a failure
    // without a response Herald documents "base64 of the error text" (docs/data-plane.md), so
    // that case accepts absence or any non-empty text.
    let check = |path: &str, dest: &str, code: &str, data: Option<&[u8]>| {
        let got = sink.wait_for(path, 1, WAIT);
        let r = &got[0];
        for (n, v) in [
            ("ce-id", "dl-1"),
            ("ce-type", "dev.herald.dead"),
            ("ce-source", "/herald/tests"),
            ("ce-myext", "keep-me"),
            ("ce-subject", "s"),
        ] {
            assert_eq!(r.header(n), Some(v), "{path}: {n}\n{r:#?}");
        }
        assert_eq!(r.body, br#"{"original":true}"#, "{path}: original data");
        assert_eq!(r.header("ce-knativeerrordest"), Some(dest), "{path}");
        assert_eq!(r.header("ce-knativeerrorcode"), Some(code), "{path}");
        match data {
            Some(want) => {
                let got = r.header("ce-knativeerrordata").expect("knativeerrordata");
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(got)
                    .unwrap_or_else(|e| panic!("{path}: knativeerrordata {got:?}: {e}"));
                assert_eq!(decoded, want, "{path}: knativeerrordata");
            }
            None if path == "/dls-nobody" => {
                if let Some(got) = r.header("ce-knativeerrordata") {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(got)
                        .unwrap_or_else(|e| panic!("{path}: knativeerrordata {got:?}: {e}"));
                    assert!(!decoded.is_empty(), "{path}: error text");
                }
            }
            None => assert_eq!(r.header("ce-knativeerrordata"), None, "{path}"),
        }
    };
    check(
        "/dls500",
        &sink.at("/fail500"),
        "500",
        Some(&long_body[..1024]),
    );
    check("/dls503", &sink.at("/fail503"), "503", None);
    check("/dls400", &sink.at("/fail400"), "400", Some(b"bad event"));
    check("/dls-nobody", &nobody, "500", None);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sink.received("/fail500").len(), 2, "retry 1 → 2 attempts");
    assert_eq!(sink.received("/fail503").len(), 2, "retry 1 → 2 attempts");
    assert_eq!(sink.received("/fail400").len(), 1, "400 is not retried");
    for p in ["/dls500", "/dls503", "/dls400", "/dls-nobody"] {
        assert_eq!(sink.received(p).len(), 1, "{p}: exactly one dead letter");
    }
}

/// DP-43: delivery to the dead-letter sink is retried too.
#[test]
fn dp43_dead_letter_delivery_is_retried() {
    let sink = Sink::start();
    sink.fallback("/sub", Reply::status(500));
    sink.script("/dls", vec![Reply::status(503), Reply::status(503)]);
    let h = Herald::start();
    let mut d = fast_retry(2);
    d["deadLetterSink"] = json!({"uri": sink.at("/dls")});
    setup(
        &h,
        json!({}),
        &[trigger("t", &sink.at("/sub"), json!({"delivery": d}))],
    );
    let c = Client::new();
    assert_202(
        &post_binary(&c, &broker_url(&h), "dls-r", "t", &[], b"{}"),
        "dls-r",
    );
    let got = sink.wait_for("/dls", 3, WAIT);
    assert_eq!(ids(&got), ["dls-r", "dls-r", "dls-r"]);
    sink.expect_no_more("/dls", 3, Duration::from_secs(1));
    assert_eq!(sink.received("/sub").len(), 3);
}

/// DP-44: a Trigger's `delivery` overrides the Broker's entirely; a Trigger without one uses
/// the Broker's (retries and dead-letter sink).
#[test]
fn dp44_trigger_delivery_overrides_broker_delivery() {
    let sink = Sink::start();
    sink.fallback("/own", Reply::status(500));
    sink.fallback("/inherits", Reply::status(500));
    let h = Herald::start();
    let mut bd = fast_retry(3);
    bd["deadLetterSink"] = json!({"uri": sink.at("/broker-dls")});
    setup(
        &h,
        json!({"delivery": bd}),
        &[
            trigger(
                "own",
                &sink.at("/own"),
                json!({"delivery": {"retry": 0, "deadLetterSink": {"uri": sink.at("/own-dls")}}}),
            ),
            trigger("inherits", &sink.at("/inherits"), json!({})),
        ],
    );
    let c = Client::new();
    assert_202(
        &post_binary(&c, &broker_url(&h), "prec", "t", &[], b"{}"),
        "prec",
    );
    sink.wait_for("/own-dls", 1, WAIT);
    let got = sink.wait_for("/broker-dls", 1, WAIT);
    assert_eq!(
        got[0].header("ce-knativeerrordest"),
        Some(sink.at("/inherits").as_str())
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        sink.received("/own").len(),
        1,
        "trigger retry 0 → 1 attempt"
    );
    assert_eq!(
        sink.received("/inherits").len(),
        4,
        "broker retry 3 → 4 attempts"
    );
    assert_eq!(sink.received("/broker-dls").len(), 1);
    assert_eq!(sink.received("/own-dls").len(), 1);
}

/// §3: a Trigger whose own `delivery` has no dead-letter sink inherits the Broker's
/// (`status.deadLetterSinkUri` shows it, and dead letters go there).
#[test]
fn trigger_without_dls_inherits_broker_dls() {
    let sink = Sink::start();
    sink.fallback("/sub", Reply::status(500));
    let h = Herald::start();
    let mut bd = fast_retry(3);
    bd["deadLetterSink"] = json!({"uri": sink.at("/broker-dls")});
    setup(
        &h,
        json!({"delivery": bd}),
        &[trigger(
            "t",
            &sink.at("/sub"),
            json!({"delivery": {"retry": 1}}),
        )],
    );
    h.wait_jsonpath(
        &["trigger", "t"],
        "{.status.deadLetterSinkUri}",
        &sink.at("/broker-dls"),
    );
    let c = Client::new();
    assert_202(
        &post_binary(&c, &broker_url(&h), "inh", "t", &[], b"{}"),
        "inh",
    );
    let got = sink.wait_for("/broker-dls", 1, WAIT);
    assert_eq!(got[0].header("ce-id"), Some("inh"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        sink.received("/sub").len(),
        2,
        "the trigger's retry: 1 applies"
    );
}

// ---------------------------------------------------------------------------------------------
// Ordering, concurrency and isolation.

/// `herald.dev/delivery.order: ordered`: one event at a time in log order — event 2 is not
/// delivered before event 1 succeeded (after a retry).
#[test]
fn ordered_trigger_delivers_one_at_a_time() {
    let sink = Sink::start();
    sink.script("/ord", vec![Reply::status(500)]);
    let h = Herald::start();
    let mut t = trigger(
        "ord",
        &sink.at("/ord"),
        json!({"delivery": {"retry": 3, "backoffPolicy": "linear", "backoffDelay": "PT0.5S"}}),
    );
    t["metadata"]["annotations"] = json!({"herald.dev/delivery.order": "ordered"});
    setup(&h, json!({}), &[t]);
    let c = Client::new();
    for id in ["o1", "o2", "o3"] {
        assert_202(&post_binary(&c, &broker_url(&h), id, "t", &[], b"{}"), id);
    }
    let got = sink.wait_for("/ord", 4, WAIT);
    assert_eq!(
        ids(&got),
        ["o1", "o1", "o2", "o3"],
        "log order, o1 retried first"
    );
    assert!(got[1].at.duration_since(got[0].at) >= Duration::from_millis(450));
    sink.expect_no_more("/ord", 4, Duration::from_millis(500));
}

/// Unordered delivery (the default) runs deliveries in parallel, bounded by the
/// `herald.dev/delivery.concurrency` annotation.
#[test]
fn unordered_concurrency_is_bounded_by_annotation() {
    let sink = Sink::start();
    let slow = Reply::status(202).delay(Duration::from_secs(1));
    sink.fallback("/two", slow.clone());
    sink.fallback("/many", slow);
    let h = Herald::start();
    let mut two = trigger("two", &sink.at("/two"), json!({}));
    two["metadata"]["annotations"] = json!({"herald.dev/delivery.concurrency": "2"});
    setup(
        &h,
        json!({}),
        &[two, trigger("many", &sink.at("/many"), json!({}))],
    );
    let c = Client::new();
    for i in 0..6 {
        let id = format!("c{i}");
        assert_202(&post_binary(&c, &broker_url(&h), &id, "t", &[], b"{}"), &id);
    }
    let many = sink.wait_for("/many", 6, WAIT);
    let spread = many[5].at.duration_since(many[0].at);
    assert!(
        spread < Duration::from_millis(900),
        "default concurrency runs 6 slow deliveries at once: spread {spread:?}"
    );
    let two = sink.wait_for("/two", 6, WAIT);
    assert!(
        two[1].at.duration_since(two[0].at) < Duration::from_millis(700),
        "two deliveries run together"
    );
    for w in two.windows(3) {
        let d = w[2].at.duration_since(w[0].at);
        assert!(
            d >= Duration::from_millis(900),
            "never three deliveries in flight at once: {:?}",
            gaps(&two)
        );
    }
}

/// `--trigger-concurrency 1` serialises an unannotated Trigger's deliveries.
#[test]
fn trigger_concurrency_flag_bounds_unannotated_triggers() {
    let sink = Sink::start();
    sink.fallback("/one", Reply::status(202).delay(Duration::from_millis(500)));
    let dir = tempfile::tempdir().expect("tmp");
    let h = Herald::start_with(&dir.path().join("data"), &["--trigger-concurrency", "1"]);
    setup(
        &h,
        json!({}),
        &[trigger("one", &sink.at("/one"), json!({}))],
    );
    let c = Client::new();
    for i in 0..3 {
        let id = format!("s{i}");
        assert_202(&post_binary(&c, &broker_url(&h), &id, "t", &[], b"{}"), &id);
    }
    let got = sink.wait_for("/one", 3, WAIT);
    for g in gaps(&got) {
        assert!(
            g >= Duration::from_millis(450),
            "one at a time: {:?}",
            gaps(&got)
        );
    }
}

/// A slow subscriber (2 s per event, ordered so it backs up) does not slow another Trigger:
/// the fast one gets every event within ~1 s.
#[test]
fn slow_subscriber_does_not_slow_other_triggers() {
    let sink = Sink::start();
    // Each slow delivery takes 3 s, one at a time: were the fast trigger held behind it, its
    // events would take seconds. Bounds leave room for a loaded CI machine.
    sink.fallback("/slow", Reply::status(202).delay(Duration::from_secs(3)));
    let h = Herald::start();
    let mut slow = trigger("slow", &sink.at("/slow"), json!({}));
    slow["metadata"]["annotations"] = json!({"herald.dev/delivery.order": "ordered"});
    setup(
        &h,
        json!({}),
        &[slow, trigger("fast", &sink.at("/fast"), json!({}))],
    );
    let c = Client::new();
    let mut sent = Vec::new();
    for i in 0..5 {
        let id = format!("f{i}");
        assert_202(&post_binary(&c, &broker_url(&h), &id, "t", &[], b"{}"), &id);
        sent.push((id, Instant::now()));
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = sink.wait_for("/fast", 5, Duration::from_secs(5));
    for (id, at) in sent {
        let r = got
            .iter()
            .find(|r| r.header("ce-id") == Some(id.as_str()))
            .expect("delivered");
        let lag = r.at.saturating_duration_since(at);
        assert!(lag < Duration::from_millis(1500), "{id} took {lag:?}");
    }
    assert!(
        sink.received("/slow").len() < 5,
        "the slow one is still busy"
    );
}

// ---------------------------------------------------------------------------------------------
// The seeds.

/// The seeds' Broker and Trigger, verbatim (v1alpha1, InMemoryChannel broker), with the
/// Trigger's Knative Service subscriber addressed by `herald.dev/url`: an event with type
/// `dev.knative.foo.bar` and `myextension: my-extension-value` is delivered; others are not.
#[test]
fn seeds_trigger_delivers_matching_events() {
    let sink = Sink::start();
    let h = Herald::start();
    h.kubectl_ok(&[
        "apply",
        "-f",
        &common::data("seeds/broker.yaml"),
        "-f",
        &common::data("seeds/trigger.yaml"),
    ]);
    apply(
        &h,
        &[json!({
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": {"name": "my-service", "annotations": {"herald.dev/url": sink.at("/svc")}},
            "spec": {"template": {"spec": {"containers": [
                {"image": "gcr.io/knative-releases/knative.dev/eventing/cmd/event_display"}]}}},
        })],
    );
    h.wait_jsonpath(
        &["services.serving.knative.dev", "my-service"],
        READY,
        "True",
    );
    h.wait_jsonpath(&["broker", "default"], READY, "True");
    h.wait_jsonpath(&["trigger", "my-service-trigger"], READY, "True");
    let c = Client::new();
    let url = broker_url(&h);
    for (id, ty, ext) in [
        ("match", "dev.knative.foo.bar", Some("my-extension-value")),
        (
            "wrong-type",
            "dev.knative.foo.baz",
            Some("my-extension-value"),
        ),
        ("no-ext", "dev.knative.foo.bar", None),
        ("wrong-ext", "dev.knative.foo.bar", Some("other")),
    ] {
        let extra: Vec<(&str, &str)> = ext.map(|v| ("ce-myextension", v)).into_iter().collect();
        assert_202(&post_binary(&c, &url, id, ty, &extra, b"{\"seed\":1}"), id);
    }
    let got = sink.wait_for("/svc", 1, WAIT);
    assert_eq!(got[0].header("ce-id"), Some("match"));
    assert_eq!(got[0].header("ce-myextension"), Some("my-extension-value"));
    assert_eq!(got[0].body, b"{\"seed\":1}");
    sink.expect_no_more("/svc", 1, Duration::from_secs(1));
}
