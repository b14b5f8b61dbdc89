//! KafkaSink (issue 8), black-box against a real Kafka-protocol broker (`tansu`, one per test)
//! with real kubectl, raw HTTP, the Python CloudEvents SDK and `rskafka` reading the topic.
//! Reference §2.2 KafkaSink row; §5 DP-60 (a non-callable sink answers 202 once accepted),
//! DP-11 (OPTIONS probe); the CloudEvents Kafka protocol binding (binary: `ce_*` headers,
//! structured: `application/cloudevents+json`; key = `partitionkey`).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Herald;
use common::broker::*;
use common::kafka::{Tansu, free_port, header};
use common::python::run_py;
use common::sink::Sink;
use rskafka::record::Record;
use serde_json::{Value, json};

/// Generous: a loaded 2-core CI machine, and reconnect backoff.
const LONG: Duration = Duration::from_secs(90);

fn kafka_sink(name: &str, bootstrap: &str, topic: &str, extra: Value) -> Value {
    let mut spec = json!({"topic": topic, "bootstrapServers": [bootstrap]});
    if let (Some(s), Value::Object(e)) = (spec.as_object_mut(), extra) {
        s.extend(e);
    }
    json!({"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "KafkaSink",
           "metadata": {"name": name}, "spec": spec})
}

fn ready(h: &Herald, name: &str) {
    h.wait_jsonpath_within(&["kafkasink", name], READY, "True", LONG);
}

fn url(h: &Herald, name: &str) -> String {
    format!("{}/sinks/default/kafkasinks/{name}", h.ingress)
}

/// All headers of a record as text.
fn headers(r: &Record) -> BTreeMap<String, String> {
    r.headers
        .iter()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The record whose `ce_id` header (binary) or JSON `id` (structured) is `id`.
fn by_id<'a>(records: &'a [(i32, i64, Record)], id: &str) -> &'a (i32, i64, Record) {
    records
        .iter()
        .find(|(_, _, r)| {
            header(r, "ce_id") == Some(id)
                || r.value
                    .as_deref()
                    .and_then(|v| serde_json::from_slice::<Value>(v).ok())
                    .is_some_and(|v| v["id"] == id)
        })
        .unwrap_or_else(|| panic!("no record with id {id}: {records:#?}"))
}

fn json_value(r: &Record) -> Value {
    serde_json::from_slice(r.value.as_deref().unwrap_or_default()).unwrap()
}

/// kubectl apply → Ready with `status.address.url`; binary and structured HTTP events are
/// written with exactly the binding's headers, key and value, 202 with an empty body (DP-60);
/// the topic is created with `numPartitions`, and one key always lands in one partition.
#[test]
fn events_are_written_in_binary_and_structured_mode() {
    let kafka = Tansu::start(free_port());
    let h = Herald::start();
    apply(
        &h,
        &[
            kafka_sink("bin", &kafka.addr, "sink-bin", json!({"numPartitions": 3})),
            kafka_sink(
                "st",
                &kafka.addr,
                "sink-st",
                json!({"numPartitions": 2, "replicationFactor": 1, "contentMode": "structured"}),
            ),
        ],
    );
    ready(&h, "bin");
    ready(&h, "st");
    h.wait_jsonpath(
        &["kafkasink", "bin"],
        "{.status.address.url}",
        &url(&h, "bin"),
    );
    h.wait_jsonpath(
        &["kafkasink", "bin"],
        "{.status.conditions[?(@.type==\"TopicReady\")].status}",
        "True",
    );
    // Knative's CRD default: binary.
    h.wait_jsonpath(&["kafkasink", "bin"], "{.spec.contentMode}", "binary");
    assert_eq!(kafka.partitions("sink-bin"), [0, 1, 2]);
    assert_eq!(kafka.partitions("sink-st"), [0, 1]);
    let table = h.kubectl_ok(&["get", "kafkasinks"]);
    assert!(
        table.contains("URL") && table.contains(&url(&h, "st")),
        "{table}"
    );

    let c = Client::new();
    let bin = url(&h, "bin");
    let r = post_binary(
        &c,
        &bin,
        "b-1",
        "dev.herald.sink",
        &[
            ("ce-subject", "a%20b%25c"),
            ("ce-partitionkey", "k-1"),
            ("ce-myext", "v"),
        ],
        br#"{"n":1}"#,
    );
    assert_202(&r, "binary to a binary sink");
    let structured = r#"{"specversion":"1.0","id":"b-2","source":"/s","type":"t","datacontenttype":"text/plain","data":"hello"}"#;
    let r = c.post(
        &bin,
        &[("content-type", "application/cloudevents+json")],
        structured.as_bytes(),
    );
    assert_202(&r, "structured to a binary sink");
    for i in 3..9 {
        let id = format!("b-{i}");
        let r = post_binary(&c, &bin, &id, "t", &[("ce-partitionkey", "k-1")], b"{}");
        assert_202(&r, &id);
    }

    let records = kafka.wait_records("sink-bin", 8, LONG);
    let (p1, _, r1) = by_id(&records, "b-1");
    assert_eq!(
        headers(r1),
        map(&[
            ("ce_specversion", "1.0"),
            ("ce_id", "b-1"),
            ("ce_source", "/herald/tests"),
            ("ce_type", "dev.herald.sink"),
            ("ce_subject", "a b%c"),
            ("ce_partitionkey", "k-1"),
            ("ce_myext", "v"),
            ("content-type", "application/json"),
        ])
    );
    assert_eq!(r1.key.as_deref(), Some(&b"k-1"[..]));
    assert_eq!(r1.value.as_deref(), Some(&br#"{"n":1}"#[..]));
    let (_, _, r2) = by_id(&records, "b-2");
    assert_eq!(
        headers(r2),
        map(&[
            ("ce_specversion", "1.0"),
            ("ce_id", "b-2"),
            ("ce_source", "/s"),
            ("ce_type", "t"),
            ("content-type", "text/plain"),
        ])
    );
    assert_eq!(r2.key, None);
    assert_eq!(r2.value.as_deref(), Some(&b"hello"[..]));
    // Same key, same partition (Kafka's murmur2 partitioner).
    for i in 3..9 {
        assert_eq!(by_id(&records, &format!("b-{i}")).0, *p1, "b-{i}");
    }

    let r = post_binary(
        &c,
        &url(&h, "st"),
        "s-1",
        "dev.herald.sink",
        &[
            ("ce-partitionkey", "k-1"),
            ("ce-time", "2026-01-02T03:04:05Z"),
        ],
        br#"{"n":1}"#,
    );
    assert_202(&r, "binary to a structured sink");
    let records = kafka.wait_records("sink-st", 1, LONG);
    let (_, _, r) = by_id(&records, "s-1");
    assert_eq!(
        headers(r),
        map(&[("content-type", "application/cloudevents+json")])
    );
    assert_eq!(r.key.as_deref(), Some(&b"k-1"[..]));
    assert_eq!(
        json_value(r),
        json!({"specversion": "1.0", "id": "s-1", "source": "/herald/tests",
               "type": "dev.herald.sink", "time": "2026-01-02T03:04:05Z",
               "partitionkey": "k-1", "datacontenttype": "application/json",
               "data": {"n": 1}})
    );
}

/// Events sent with the Python CloudEvents SDK (binary and structured) are written with the
/// SDK's attributes.
#[test]
fn python_sdk_events_are_written() {
    common::python::python();
    let kafka = Tansu::start(free_port());
    let h = Herald::start();
    apply(
        &h,
        &[kafka_sink(
            "py",
            &kafka.addr,
            "sink-py",
            json!({"numPartitions": 1}),
        )],
    );
    ready(&h, "py");
    let to = url(&h, "py");
    for (id, mode) in [("py-bin", "binary"), ("py-st", "structured")] {
        let spec = json!({"attributes": {"id": id, "source": "/python/sdk", "type": "dev.herald.sdk",
                                         "myext": "from-python", "datacontenttype": "application/json"},
                          "data": {"hello": mode}});
        let out = run_py("send.py", &[&to, mode], &spec);
        assert_eq!(out["status"], 202, "{id}: {out}");
        assert_eq!(out["body"], "", "{id}: a 202 has an empty body");
    }
    let records = kafka.wait_records("sink-py", 2, LONG);
    for (id, mode) in [("py-bin", "binary"), ("py-st", "structured")] {
        let (_, _, r) = by_id(&records, id);
        assert_eq!(header(r, "ce_source"), Some("/python/sdk"), "{id}");
        assert_eq!(header(r, "ce_type"), Some("dev.herald.sdk"), "{id}");
        assert_eq!(header(r, "ce_myext"), Some("from-python"), "{id}");
        assert_eq!(header(r, "content-type"), Some("application/json"), "{id}");
        assert_eq!(json_value(r), json!({"hello": mode}), "{id}");
    }
}

/// A Trigger whose subscriber is a KafkaSink `ref` resolves to the sink's address and delivers
/// the broker's events into the topic.
#[test]
fn trigger_delivers_to_a_kafka_sink_ref() {
    let kafka = Tansu::start(free_port());
    let h = Herald::start();
    apply(
        &h,
        &[
            broker("default", json!({})),
            kafka_sink(
                "out",
                &kafka.addr,
                "from-broker",
                json!({"numPartitions": 1}),
            ),
            json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
                   "metadata": {"name": "to-kafka"},
                   "spec": {"broker": "default", "filter": {"attributes": {"type": "to.kafka"}},
                            "subscriber": {"ref": {"apiVersion": "eventing.knative.dev/v1alpha1",
                                                   "kind": "KafkaSink", "name": "out"}}}}),
        ],
    );
    ready(&h, "out");
    h.wait_jsonpath(&["trigger", "to-kafka"], READY, "True");
    h.wait_jsonpath(
        &["trigger", "to-kafka"],
        "{.status.subscriberUri}",
        &url(&h, "out"),
    );
    let c = Client::new();
    assert_202(
        &post_binary(
            &c,
            &broker_url(&h),
            "via-broker",
            "to.kafka",
            &[],
            br#"{"x":1}"#,
        ),
        "to the broker",
    );
    assert_202(
        &post_binary(&c, &broker_url(&h), "filtered", "other", &[], b"{}"),
        "to the broker",
    );
    let records = kafka.wait_records("from-broker", 1, LONG);
    let (_, _, r) = by_id(&records, "via-broker");
    assert_eq!(header(r, "ce_type"), Some("to.kafka"));
    assert!(header(r, "ce_knativearrivaltime").is_some(), "{r:?}");
    assert_eq!(r.value.as_deref(), Some(&br#"{"x":1}"#[..]));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(kafka.read_all("from-broker").len(), 1, "the filter held");
}

/// A KafkaSource reading the topics KafkaSinks wrote (binary and structured) delivers events
/// with the attributes and data that were sent.
#[test]
fn kafka_source_reads_back_what_the_sink_wrote() {
    let kafka = Tansu::start(free_port());
    let sink = Sink::start();
    let h = Herald::start();
    apply(
        &h,
        &[
            kafka_sink("w-bin", &kafka.addr, "rt-bin", json!({"numPartitions": 2})),
            kafka_sink(
                "w-st",
                &kafka.addr,
                "rt-st",
                json!({"numPartitions": 2, "contentMode": "structured"}),
            ),
        ],
    );
    ready(&h, "w-bin");
    ready(&h, "w-st");
    apply(
        &h,
        &[
            json!({"apiVersion": "sources.knative.dev/v1", "kind": "KafkaSource",
                 "metadata": {"name": "reader"},
                 "spec": {"bootstrapServers": [kafka.addr], "topics": ["rt-bin", "rt-st"],
                          "initialOffset": "earliest", "sink": {"uri": sink.at("/back")}}}),
        ],
    );
    h.wait_jsonpath_within(&["kafkasource", "reader"], READY, "True", LONG);
    let c = Client::new();
    let extra = [
        ("ce-subject", "s%C3%BCbject%20100%25"),
        ("ce-time", "2026-03-04T05:06:07.891Z"),
        ("ce-dataschema", "https://example.com/schema"),
        ("ce-myext", "ext-value"),
        ("ce-partitionkey", "pk"),
    ];
    for (name, id) in [("w-bin", "rt-1"), ("w-st", "rt-2")] {
        let r = post_binary(
            &c,
            &url(&h, name),
            id,
            "dev.herald.rt",
            &extra,
            br#"{"a":[1,2]}"#,
        );
        assert_202(&r, id);
    }
    let got = sink.wait_for("/back", 2, LONG);
    for id in ["rt-1", "rt-2"] {
        let e = with_id(&got, id);
        assert_eq!(e.header("ce-type"), Some("dev.herald.rt"), "{id}");
        assert_eq!(e.header("ce-source"), Some("/herald/tests"), "{id}");
        assert_eq!(
            e.header("ce-subject"),
            Some("s%C3%BCbject%20100%25"),
            "{id}"
        );
        assert_eq!(
            e.header("ce-time"),
            Some("2026-03-04T05:06:07.891Z"),
            "{id}"
        );
        assert_eq!(
            e.header("ce-dataschema"),
            Some("https://example.com/schema"),
            "{id}"
        );
        assert_eq!(e.header("ce-myext"), Some("ext-value"), "{id}");
        assert_eq!(e.header("ce-partitionkey"), Some("pk"), "{id}");
        assert_eq!(e.header("content-type"), Some("application/json"), "{id}");
        assert_eq!(e.body_str(), r#"{"a":[1,2]}"#, "{id}");
    }
}

/// Malformed requests get 400, unknown sinks 404, other methods 405 with `Allow`, OPTIONS the
/// WebHook probe answer (DP-11).
#[test]
fn bad_requests_are_refused() {
    let kafka = Tansu::start(free_port());
    let h = Herald::start();
    apply(
        &h,
        &[kafka_sink(
            "s",
            &kafka.addr,
            "bad",
            json!({"numPartitions": 1}),
        )],
    );
    ready(&h, "s");
    let c = Client::new();
    let to = url(&h, "s");
    let r = c.post(&to, &[("content-type", "application/json")], b"{}");
    assert_eq!(r.status, 400, "not a CloudEvent: {}", r.body);
    let r = c.post(
        &to,
        &[("content-type", "application/cloudevents+json")],
        b"{",
    );
    assert_eq!(r.status, 400, "bad JSON: {}", r.body);
    let r = post_binary(&c, &to, "", "t", &[], b"{}");
    assert_eq!(r.status, 400, "empty id: {}", r.body);
    let r = c.post(
        &to,
        &[("content-type", "application/cloudevents-batch+json")],
        br#"[{"specversion":"1.0","id":"1","source":"/s","type":"t"}]"#,
    );
    assert_eq!(r.status, 400, "batch: {}", r.body);
    let r = c.send("GET", &to, &[], b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
    let r = c.send("OPTIONS", &to, &[], b"");
    assert_eq!(r.status, 200);
    let r = post_binary(&c, &url(&h, "nope"), "1", "t", &[], b"{}");
    assert_eq!(r.status, 404, "unknown sink: {}", r.body);
    let r = post_binary(
        &c,
        &format!("{}/sinks/default/pingsources/s", h.ingress),
        "1",
        "t",
        &[],
        b"{}",
    );
    assert_eq!(r.status, 404, "not a sink kind: {}", r.body);
    std::thread::sleep(Duration::from_millis(500));
    assert!(kafka.read_all("bad").is_empty(), "nothing was written");
}

/// With Kafka down a request gets 503 (never 202) and the sink turns not Ready; once Kafka is
/// back the sink recreates its topic, turns Ready and accepts events again.
#[test]
fn kafka_down_means_503_and_not_ready_until_it_is_back() {
    let mut kafka = Tansu::start(free_port());
    let h = Herald::start();
    apply(
        &h,
        &[kafka_sink(
            "s",
            &kafka.addr,
            "flaky",
            json!({"numPartitions": 1}),
        )],
    );
    ready(&h, "s");
    let c = Client::new();
    let to = url(&h, "s");
    assert_202(&post_binary(&c, &to, "before", "t", &[], b"{}"), "before");

    kafka.stop();
    let r = post_binary(&c, &to, "during", "t", &[], b"{}");
    assert_eq!(r.status, 503, "Kafka is down: {}", r.body);
    h.wait_jsonpath_within(&["kafkasink", "s"], READY, "False", LONG);
    let reason = h.kubectl_ok(&[
        "get",
        "kafkasink",
        "s",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"TopicReady\")].reason}",
    ]);
    assert!(
        ["ConnectionLost", "ConnectionFailed"].contains(&reason.as_str()),
        "{reason}"
    );
    let r = post_binary(&c, &to, "during-2", "t", &[], b"{}");
    assert_eq!(r.status, 503, "still down: {}", r.body);

    kafka.restart();
    ready(&h, "s");
    assert_202(&post_binary(&c, &to, "after", "t", &[], b"{}"), "after");
    // The restarted broker keeps nothing (in-memory storage): only the new record is there.
    let records = kafka.wait_records("flaky", 1, LONG);
    assert_eq!(header(&records[0].2, "ce_id"), Some("after"));
}

/// Invalid specs are refused with 422 and field paths; the topic is immutable; a missing topic
/// without `numPartitions` is `TopicNotFound`; `auth.secret.ref` is reported `Unsupported`.
#[test]
fn validation_immutability_and_unsupported_auth() {
    let kafka = Tansu::start(free_port());
    let h = Herald::start();
    let bad = json!({"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "KafkaSink",
                     "metadata": {"name": "bad"},
                     "spec": {"contentMode": "json", "numPartitions": 0, "replicationFactor": -1,
                              "bootstrapServers": []}});
    let out = h.kubectl_stdin(&["apply", "-f", "-"], Some(&bad.to_string()));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for path in [
        "spec.topic",
        "spec.bootstrapServers",
        "spec.contentMode",
        "spec.numPartitions",
        "spec.replicationFactor",
    ] {
        assert!(err.contains(path), "{path} missing from: {err}");
    }
    assert!(
        err.contains("Unprocessable") || err.contains("invalid"),
        "{err}"
    );

    apply(
        &h,
        &[kafka_sink(
            "missing",
            &kafka.addr,
            "never-created",
            json!({}),
        )],
    );
    h.wait_jsonpath_within(
        &["kafkasink", "missing"],
        "{.status.conditions[?(@.type==\"TopicReady\")].reason}",
        "TopicNotFound",
        LONG,
    );
    assert!(kafka.partitions("never-created").is_empty());
    let err = h.kubectl_err(&[
        "patch",
        "kafkasink",
        "missing",
        "--type=merge",
        "-p",
        r#"{"spec":{"topic":"other"}}"#,
    ]);
    assert!(err.contains("spec.topic"), "{err}");
    // Creating the topic by hand makes the sink Ready (it retries with backoff).
    kafka.create_topic("never-created", 1);
    ready(&h, "missing");

    apply(
        &h,
        &[kafka_sink(
            "auth",
            &kafka.addr,
            "t",
            json!({"auth": {"secret": {"ref": {"name": "kafka-creds"}}}}),
        )],
    );
    h.wait_jsonpath_within(
        &["kafkasink", "auth"],
        "{.status.conditions[?(@.type==\"Ready\")].reason}",
        "Unsupported",
        LONG,
    );
    let c = Client::new();
    let r = post_binary(&c, &url(&h, "auth"), "1", "t", &[], b"{}");
    assert_eq!(r.status, 503, "{}", r.body);
}
