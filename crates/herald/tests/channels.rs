//! Channels and Subscriptions, black-box (reference §5.3/§5.4: DP-25, DP-31..35, DP-50): fan-out
//! to every Subscription, replies to `reply` or dropped, reply failures dead-lettered with the
//! reply URL, and a durable Channel surviving SIGKILL.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::Herald;
use common::broker::*;
use common::sink::{Reply, Sink};
use serde_json::{Value, json};

fn channel(kind: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "messaging.knative.dev/v1", "kind": kind,
           "metadata": {"name": name}, "spec": spec})
}

fn subscription(name: &str, channel_kind: &str, channel: &str, spec: Value) -> Value {
    let mut s = json!({"channel": {"apiVersion": "messaging.knative.dev/v1",
                                   "kind": channel_kind, "name": channel}});
    if let (Some(s), Value::Object(extra)) = (s.as_object_mut(), spec) {
        s.extend(extra);
    }
    json!({"apiVersion": "messaging.knative.dev/v1", "kind": "Subscription",
           "metadata": {"name": name}, "spec": s})
}

/// Applies the objects and waits for every one to be Ready.
fn apply_ready(h: &Herald, objects: &[Value]) {
    apply(h, objects);
    for o in objects {
        let kind = o["kind"].as_str().expect("kind").to_lowercase();
        let resource = match kind.as_str() {
            "channel" => "channels.messaging.knative.dev".to_string(),
            other => other.to_string(),
        };
        let name = o["metadata"]["name"].as_str().expect("name");
        h.wait_jsonpath(&[&resource, name], READY, "True");
    }
}

fn channel_url(h: &Herald, name: &str) -> String {
    format!("{}/channels/default/{name}", h.ingress)
}

#[test]
fn dp31_dp35_in_memory_channel_fans_out_to_every_subscription() {
    let sink = Sink::start();
    let h = Herald::start();
    apply_ready(
        &h,
        &[
            channel("InMemoryChannel", "ch", json!({})),
            subscription(
                "a",
                "InMemoryChannel",
                "ch",
                json!({"subscriber": {"uri": sink.at("/a")}}),
            ),
            subscription(
                "b",
                "InMemoryChannel",
                "ch",
                json!({"subscriber": {"uri": sink.at("/b")}}),
            ),
        ],
    );
    let url = channel_url(&h, "ch");
    h.wait_jsonpath(&["inmemorychannel", "ch"], "{.status.address.url}", &url);
    let c = Client::new();
    let r = post_binary(
        &c,
        &url,
        "c1",
        "dev.herald.channel",
        &[("ce-myext", "v")],
        b"{\"n\":1}",
    );
    assert_202(&r, "channel");
    for path in ["/a", "/b"] {
        let got = sink.wait_for(path, 1, WAIT);
        let d = &got[0];
        assert_eq!(d.header("ce-id"), Some("c1"));
        assert_eq!(d.header("ce-myext"), Some("v"));
        assert_eq!(d.body, b"{\"n\":1}");
        // A channel delivers the attributes it received, nothing added (DP-25).
        assert_eq!(d.header("ce-knativearrivaltime"), None, "{d:?}");
        assert_eq!(d.header("ce-knativebrokerttl"), None);
        assert_eq!(d.header("kn-namespace"), Some("default"));
    }
    sink.expect_no_more("/a", 1, Duration::from_millis(300));

    // Unknown channel: 404; invalid event: 400.
    let r = post_binary(&c, &channel_url(&h, "nope"), "x", "t", &[], b"{}");
    assert_eq!(r.status, 404, "{}", r.body);
    let r = c.post(&url, &[("ce-specversion", "1.0"), ("ce-id", "1")], b"");
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn dp50_replies_go_to_reply_or_are_dropped() {
    let sink = Sink::start();
    let reply_event = Reply::status(200)
        .header("ce-specversion", "1.0")
        .header("ce-id", "reply-1")
        .header("ce-source", "/replier")
        .header("ce-type", "dev.herald.reply")
        .header("content-type", "application/json")
        .body(b"{\"reply\":true}");
    sink.fallback("/with-reply", reply_event.clone());
    sink.fallback("/no-reply", reply_event);
    let h = Herald::start();
    apply_ready(
        &h,
        &[
            channel("Channel", "ch", json!({})),
            subscription(
                "with-reply",
                "Channel",
                "ch",
                json!({"subscriber": {"uri": sink.at("/with-reply")}, "reply": {"uri": sink.at("/replies")}}),
            ),
            subscription(
                "no-reply",
                "Channel",
                "ch",
                json!({"subscriber": {"uri": sink.at("/no-reply")}}),
            ),
        ],
    );
    let c = Client::new();
    assert_202(
        &post_binary(
            &c,
            &channel_url(&h, "ch"),
            "o1",
            "dev.herald.orig",
            &[],
            b"{}",
        ),
        "orig",
    );
    let got = sink.wait_for("/replies", 1, WAIT);
    assert_eq!(got[0].header("ce-id"), Some("reply-1"));
    assert_eq!(got[0].header("ce-type"), Some("dev.herald.reply"));
    assert_eq!(got[0].body, b"{\"reply\":true}");
    sink.wait_for("/no-reply", 1, WAIT);
    // One reply only: the subscription without `reply` dropped its subscriber's answer.
    sink.expect_no_more("/replies", 1, Duration::from_millis(500));
}

#[test]
fn dp50_failed_reply_is_retried_then_dead_lettered_with_the_reply_url() {
    let sink = Sink::start();
    sink.fallback(
        "/sub",
        Reply::status(200)
            .header("ce-specversion", "1.0")
            .header("ce-id", "r")
            .header("ce-source", "/s")
            .header("ce-type", "dev.herald.reply"),
    );
    sink.fallback("/reply", Reply::status(500).body(b"reply sink down"));
    let h = Herald::start();
    apply_ready(
        &h,
        &[
            channel("InMemoryChannel", "ch", json!({})),
            subscription(
                "s",
                "InMemoryChannel",
                "ch",
                json!({"subscriber": {"uri": sink.at("/sub")}, "reply": {"uri": sink.at("/reply")},
                       "delivery": {"retry": 1, "deadLetterSink": {"uri": sink.at("/dls")}}}),
            ),
        ],
    );
    let c = Client::new();
    assert_202(
        &post_binary(
            &c,
            &channel_url(&h, "ch"),
            "orig",
            "dev.herald.orig",
            &[],
            b"{}",
        ),
        "orig",
    );
    let dls = sink.wait_for("/dls", 1, WAIT);
    // The whole delivery was retried: the subscriber saw the original twice.
    assert_eq!(sink.received("/sub").len(), 2);
    assert_eq!(sink.received("/reply").len(), 2);
    let d = &dls[0];
    assert_eq!(d.header("ce-id"), Some("orig"), "the DLS gets the original");
    assert_eq!(
        d.header("ce-knativeerrordest"),
        Some(sink.at("/reply").as_str())
    );
    assert_eq!(d.header("ce-knativeerrorcode"), Some("500"));
    let data = base64::engine::general_purpose::STANDARD
        .decode(d.header("ce-knativeerrordata").expect("errordata"))
        .expect("base64");
    assert_eq!(data, b"reply sink down");
}

#[test]
fn durable_channel_survives_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let sink = Sink::start();
    // The subscriber is down: events wait in the channel's log, retried.
    sink.fallback("/d", Reply::status(503));
    let mut h = Herald::start_in(&data);
    apply_ready(
        &h,
        &[
            // A generic Channel without template is Herald's durable channel.
            channel("Channel", "durable", json!({})),
            subscription(
                "d",
                "Channel",
                "durable",
                json!({"subscriber": {"uri": sink.at("/d")},
                       "delivery": {"retry": 1000, "backoffPolicy": "linear", "backoffDelay": "PT0.1S"}}),
            ),
        ],
    );
    let c = Client::new();
    for i in 0..5 {
        let id = format!("d{i}");
        assert_202(
            &post_binary(
                &c,
                &channel_url(&h, "durable"),
                &id,
                "dev.herald.durable",
                &[],
                b"{}",
            ),
            &id,
        );
    }
    sink.wait_for("/d", 5, WAIT);
    h.kill9();
    let killed_at = std::time::Instant::now();
    sink.fallback("/d", Reply::status(202));
    let _h = Herald::start_in(&data);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ok: std::collections::BTreeSet<String> = sink
            .received("/d")
            .iter()
            // Only deliveries after the restart count.
            .filter(|r| r.at > killed_at)
            .filter_map(|r| r.header("ce-id").map(str::to_string))
            .collect();
        if (0..5).all(|i| ok.contains(&format!("d{i}"))) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not all redelivered: {ok:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
