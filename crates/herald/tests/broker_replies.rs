//! Broker replies, black-box (reference `knative-eventing.md` §5.4, DP-45..DP-52, and the TTL
//! loop guard DP-20): a subscriber answering 200 with a CloudEvent has it stored back into the
//! Broker and evaluated against every Trigger.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::Herald;
use common::broker::*;
use common::sink::{Received, Reply, Sink};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
/// `ce-id`s of binary-mode deliveries, in order.
fn ids(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.header("ce-id").unwrap_or("<none>").to_string())
        .collect()
}

/// A binary-mode reply: 200 with `ce-*` headers and a JSON body.
fn binary_reply(id: &str, ty: &str, body: &[u8]) -> Reply {
    Reply::status(200)
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/replier")
        .header("ce-type", ty)
        .header("content-type", "application/json")
        .body(body)
}

/// Trigger `name` on events of type `ty`, delivering to `/name`.
fn on_type(sink: &Sink, name: &str, ty: &str, extra: Value) -> Value {
    let mut spec = json!({"filter": {"attributes": {"type": ty}}});
    if let (Some(s), Value::Object(e)) = (spec.as_object_mut(), extra) {
        s.extend(e);
    }
    trigger(name, &sink.at(&format!("/{name}")), spec)
}

/// Waits until `path` has received nothing new for `quiet`, up to `limit`; returns the count.
fn wait_quiet(sink: &Sink, path: &str, quiet: Duration, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    let mut last = sink.received(path).len();
    let mut since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let n = sink.received(path).len();
        if n != last {
            last = n;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "{path} still receiving after {limit:?}: {n} so far"
        );
    }
}

/// DP-47: trigger A (type a) answers 200 with a binary-mode CloudEvent of type b; it is stored
/// in the Broker and evaluated against all Triggers: B (type b) and a catch-all receive it.
#[test]
fn dp47_binary_reply_is_routed_to_matching_triggers() {
    let sink = Sink::start();
    sink.fallback(
        "/a",
        binary_reply("reply-1", "dev.herald.b", br#"{"reply":true}"#)
            .header("ce-replyext", "from-a"),
    );
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[
            on_type(&sink, "a", "dev.herald.a", json!({})),
            on_type(&sink, "b", "dev.herald.b", json!({})),
            trigger("all", &sink.at("/all"), json!({})),
        ],
    );
    let c = Client::new();
    assert_202(
        &post_binary(&c, &broker_url(&h), "orig-1", "dev.herald.a", &[], b"{}"),
        "orig-1",
    );
    let got = sink.wait_for("/b", 1, WAIT);
    let r = &got[0];
    for (n, v) in [
        ("ce-id", "reply-1"),
        ("ce-type", "dev.herald.b"),
        ("ce-source", "/replier"),
        ("ce-replyext", "from-a"),
        ("content-type", "application/json"),
    ] {
        assert_eq!(r.header(n), Some(v), "{n}\n{r:#?}");
    }
    assert_eq!(r.body, br#"{"reply":true}"#);
    assert!(r.header("ce-knativearrivaltime").is_some());
    assert_eq!(r.header("ce-knativebrokerttl"), None, "DP-20");
    let all = sink.wait_for("/all", 2, WAIT);
    let mut seen = ids(&all);
    seen.sort();
    assert_eq!(seen, ["orig-1", "reply-1"]);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        ids(&sink.received("/a")),
        ["orig-1"],
        "a 200 reply is a success"
    );
    assert_eq!(sink.received("/b").len(), 1);
    assert_eq!(sink.received("/all").len(), 2);
}

/// DP-47: a structured-mode reply (200 + `application/cloudevents+json`) is routed too.
#[test]
fn dp47_structured_reply_is_routed() {
    let sink = Sink::start();
    let reply = json!({"specversion": "1.0", "id": "reply-st", "source": "/replier",
                       "type": "dev.herald.b", "datacontenttype": "application/json",
                       "data": {"structured": true}});
    sink.fallback(
        "/a",
        Reply::status(200)
            .header("content-type", "application/cloudevents+json")
            .body(reply.to_string().as_bytes()),
    );
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[
            on_type(&sink, "a", "dev.herald.a", json!({})),
            on_type(&sink, "b", "dev.herald.b", json!({})),
        ],
    );
    let c = Client::new();
    assert_202(
        &post_binary(&c, &broker_url(&h), "orig-st", "dev.herald.a", &[], b"{}"),
        "orig-st",
    );
    let got = sink.wait_for("/b", 1, WAIT);
    assert_eq!(got[0].header("ce-id"), Some("reply-st"));
    assert_eq!(got[0].header("ce-source"), Some("/replier"));
    let data: Value = serde_json::from_slice(&got[0].body).expect("json data");
    assert_eq!(data, json!({"structured": true}));
    sink.expect_no_more("/b", 1, Duration::from_millis(500));
}

/// DP-45: a 202 response is never a reply, even when it carries a CloudEvent.
#[test]
fn dp45_202_with_an_event_is_not_a_reply() {
    let sink = Sink::start();
    let mut r = binary_reply("not-a-reply", "dev.herald.b", b"{}");
    r.status = 202;
    sink.fallback("/a", r);
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[
            on_type(&sink, "a", "dev.herald.a", json!({})),
            on_type(&sink, "b", "dev.herald.b", json!({})),
        ],
    );
    let c = Client::new();
    assert_202(
        &post_binary(&c, &broker_url(&h), "orig-202", "dev.herald.a", &[], b"{}"),
        "orig-202",
    );
    sink.wait_for("/a", 1, WAIT);
    sink.expect_no_more("/b", 0, Duration::from_millis(1500));
    assert_eq!(sink.received("/a").len(), 1, "202 is a plain success");
}

/// DP-51: 200 with a body that is not a CloudEvent (`text/html`) is a failed delivery: it is
/// retried, then dead-lettered with `knativeerrorcode` 502. Nothing is routed as a reply.
#[test]
fn dp51_non_cloudevent_200_body_fails_delivery() {
    let sink = Sink::start();
    let html = b"<html><body>oops</body></html>";
    sink.fallback(
        "/a",
        Reply::status(200)
            .header("content-type", "text/html")
            .body(html),
    );
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[
            on_type(
                &sink,
                "a",
                "dev.herald.a",
                json!({"delivery": {"retry": 1, "backoffPolicy": "linear",
                                    "backoffDelay": "PT0.05S",
                                    "deadLetterSink": {"uri": sink.at("/dls")}}}),
            ),
            trigger("all", &sink.at("/all"), json!({})),
        ],
    );
    let c = Client::new();
    assert_202(
        &post_binary(
            &c,
            &broker_url(&h),
            "orig-html",
            "dev.herald.a",
            &[],
            b"{\"x\":1}",
        ),
        "orig-html",
    );
    let got = sink.wait_for("/dls", 1, WAIT);
    let r = &got[0];
    assert_eq!(r.header("ce-id"), Some("orig-html"), "the original event");
    assert_eq!(r.body, b"{\"x\":1}");
    assert_eq!(r.header("ce-knativeerrorcode"), Some("502"), "{r:#?}");
    // The subscriber's response was bad (no reply event exists, nothing was stored), so the
    // failed destination is the subscriber and the error data is its response body
    // (docs/data-plane.md: "the subscriber, or the Broker when storing a reply failed";
    // "base64 of the first 1024 bytes of the last response body").
    let dest = r.header("ce-knativeerrordest").unwrap_or_default();
    let data = r
        .header("ce-knativeerrordata")
        .map(|d| {
            base64::engine::general_purpose::STANDARD
                .decode(d)
                .expect("base64")
        })
        .unwrap_or_default();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(sink.received("/a").len(), 2, "retried once");
    assert_eq!(
        ids(&sink.received("/all")),
        ["orig-html"],
        "no reply routed"
    );
    assert!(
        dest == sink.at("/a") && data == html,
        "knativeerrordest {dest:?} (want {:?}), knativeerrordata {:?} (want the subscriber's body)",
        sink.at("/a"),
        String::from_utf8_lossy(&data)
    );
}

/// DP-20/DP-47: a Trigger that replies with an event it also matches loops until the TTL runs
/// out. Sent with `knativebrokerttl: 5` (4 hops left after the ingress): a handful of
/// deliveries, then silence; subscribers never see `knativebrokerttl`.
#[test]
fn dp20_reply_loop_stops_at_short_ttl() {
    let sink = Sink::start();
    sink.fallback(
        "/loop",
        binary_reply("loop-reply", "dev.herald.loop", b"{}"),
    );
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[on_type(
            &sink,
            "loop",
            "dev.herald.loop",
            json!({"delivery": {"retry": 0}}),
        )],
    );
    let c = Client::new();
    let r = post_binary(
        &c,
        &broker_url(&h),
        "loop-0",
        "dev.herald.loop",
        &[("ce-knativebrokerttl", "5")],
        b"{}",
    );
    assert_202(&r, "loop-0");
    sink.wait_for("/loop", 2, WAIT);
    let n = wait_quiet(
        &sink,
        "/loop",
        Duration::from_secs(2),
        Duration::from_secs(15),
    );
    assert!(
        (2..=5).contains(&n),
        "4 hops left after the ingress: {n} deliveries\n{:?}",
        ids(&sink.received("/loop"))
    );
    let got = sink.received("/loop");
    assert_eq!(got[0].header("ce-id"), Some("loop-0"));
    assert!(
        got.iter()
            .all(|r| r.header("ce-knativebrokerttl").is_none()),
        "DP-20: knativebrokerttl never reaches subscribers"
    );
}

/// DP-20: without a TTL from the producer the loop still stops (default 255 hops): at most
/// 256 deliveries, then no more within 2 s.
#[test]
fn dp20_reply_loop_stops_at_default_ttl() {
    let sink = Sink::start();
    sink.fallback(
        "/loop",
        binary_reply("loop-reply", "dev.herald.loop", b"{}"),
    );
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[on_type(
            &sink,
            "loop",
            "dev.herald.loop",
            json!({"delivery": {"retry": 0}}),
        )],
    );
    let c = Client::new();
    assert_202(
        &post_binary(&c, &broker_url(&h), "loop-0", "dev.herald.loop", &[], b"{}"),
        "loop-0",
    );
    sink.wait_for("/loop", 10, WAIT);
    let n = wait_quiet(
        &sink,
        "/loop",
        Duration::from_secs(2),
        Duration::from_secs(25),
    );
    assert!(
        (200..=256).contains(&n),
        "the loop runs about 255 hops and stops: {n} deliveries"
    );
}
