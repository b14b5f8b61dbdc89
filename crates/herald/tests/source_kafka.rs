//! KafkaSource (issue 8), black-box against a real Kafka-protocol broker (`tansu`, started per
//! test on a free port with in-memory storage; ./test.sh installs it and exports
//! HERALD_TEST_TANSU), with real kubectl. Reference §5.6 DP-56/DP-57 (sink, ceOverrides),
//! DP-59 (id/time), §7 KafkaSource row (event format). Records are produced with `rskafka`.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::Herald;
use common::broker::*;
use common::kafka::{Tansu, free_port};
use common::sink::{Received, Sink};
use rskafka::chrono::{TimeZone, Utc};
use rskafka::client::partition::Compression;
use rskafka::record::Record;
use serde_json::{Value, json};

/// Generous: a loaded 2-core CI machine.
const EVENTS_WAIT: Duration = Duration::from_secs(90);
const TYPE: &str = "dev.knative.kafka.event";

fn record(key: Option<&str>, value: &str, headers: &[(&str, &str)], ms: i64) -> Record {
    Record {
        key: key.map(|k| k.as_bytes().to_vec()),
        value: Some(value.as_bytes().to_vec()),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect::<BTreeMap<_, _>>(),
        timestamp: Utc.timestamp_millis_opt(ms).unwrap(),
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn source(name: &str, bootstrap: &str, topics: &[&str], sink: Value, extra: Value) -> Value {
    let mut spec = json!({
        "bootstrapServers": [bootstrap],
        "topics": topics,
        "initialOffset": "earliest",
        "sink": sink,
    });
    if let (Some(s), Value::Object(e)) = (spec.as_object_mut(), extra) {
        s.extend(e);
    }
    json!({"apiVersion": "sources.knative.dev/v1", "kind": "KafkaSource",
           "metadata": {"name": name}, "spec": spec})
}

fn ready(h: &Herald, name: &str) {
    h.wait_jsonpath_within(&["kafkasource", name], READY, "True", EVENTS_WAIT);
}

/// Waits until every id in `want` arrived at least once.
fn wait_ids(sink: &Sink, path: &str, want: &BTreeSet<String>, h: &Herald) -> Vec<Received> {
    wait_for_ids(sink, path, want, EVENTS_WAIT * 2, h)
}

/// The registered (type, source) pairs, sorted.
fn event_types(h: &Herald) -> Vec<(String, String)> {
    let list: Value =
        serde_json::from_str(&h.kubectl_ok(&["get", "eventtypes", "-o", "json"])).unwrap();
    let attr = |et: &Value, name: &str| -> String {
        et["spec"]["attributes"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["name"] == name))
            .and_then(|a| a["value"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let mut pairs: Vec<(String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|et| (attr(et, "type"), attr(et, "source")))
        .collect();
    pairs.sort();
    pairs
}

fn wait_event_types(h: &Herald, want: &[(String, String)]) {
    let deadline = Instant::now() + EVENTS_WAIT;
    loop {
        let got = event_types(h);
        if got == want || Instant::now() > deadline {
            assert_eq!(got, want);
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A plain record, a binary and a structured CloudEvent, and a malformed "CloudEvent" go
/// through a Broker to a Trigger with §7's exact attributes (DP-56/57/59); the EventType is
/// registered.
#[test]
fn records_reach_a_broker_trigger_with_exact_attributes() {
    let kafka = Tansu::start(free_port());
    let topic = unique("t");
    kafka.create_topic(&topic, 2);
    let sink = Sink::start();
    let h = Herald::start();
    let to = sink.at("/t");
    setup(&h, json!({}), &[trigger("all", &to, json!({}))]);
    apply(
        &h,
        &[source(
            "ks",
            &kafka.addr,
            &[&topic],
            json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                           "name": "default"}}),
            json!({"ceOverrides": {"extensions": {"team": "herald"}}}),
        )],
    );
    ready(&h, "ks");
    let src = format!("/apis/v1/namespaces/default/kafkasources/ks#{topic}");

    kafka.produce(
        &topic,
        1,
        vec![
            record(
                Some("k1"),
                "hello kafka",
                &[("content-type", "text/plain"), ("X-Trace_Id", "abc")],
                1_700_000_000_123,
            ),
            record(
                None,
                r#"{"n":1}"#,
                &[
                    ("ce_specversion", "1.0"),
                    ("ce_id", "bin-1"),
                    ("ce_type", "com.example.order"),
                    ("ce_source", "/orders"),
                    ("ce_subject", "o-7"),
                    ("content-type", "application/json"),
                    ("x-internal", "not an attribute"),
                ],
                1_700_000_000_000,
            ),
            record(
                None,
                r#"{"specversion":"1.0","id":"str-1","source":"/s","type":"com.example.s","data":{"k":"v"}}"#,
                &[("content-type", "application/cloudevents+json")],
                1_700_000_000_000,
            ),
            record(
                None,
                "{not json",
                &[("content-type", "application/cloudevents+json")],
                1_700_000_000_000,
            ),
        ],
    );
    let want: BTreeSet<String> = [
        "partition:1/offset:0",
        "bin-1",
        "str-1",
        "partition:1/offset:3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let got = wait_ids(&sink, "/t", &want, &h);

    let e = with_id(&got, "partition:1/offset:0");
    assert_eq!(e.header("ce-type"), Some(TYPE));
    assert_eq!(e.header("ce-source"), Some(src.as_str()));
    assert_eq!(e.header("ce-subject"), Some("partition:1#0"));
    assert_eq!(e.header("ce-time"), Some("2023-11-14T22:13:20.123Z"));
    assert_eq!(e.header("ce-key"), Some("k1"));
    assert_eq!(e.header("ce-partitionkey"), Some("k1"));
    assert_eq!(e.header("ce-kafkaheaderxtraceid"), Some("abc"));
    assert_eq!(e.header("ce-kafkaheadercontenttype"), Some("text/plain"));
    assert_eq!(e.header("ce-team"), Some("herald"));
    assert_eq!(e.header("content-type"), Some("text/plain"));
    assert_eq!(e.body_str(), "hello kafka");

    let e = with_id(&got, "bin-1");
    assert_eq!(e.header("ce-type"), Some("com.example.order"));
    assert_eq!(e.header("ce-source"), Some("/orders"));
    assert_eq!(e.header("ce-subject"), Some("o-7"));
    assert_eq!(e.header("ce-x-internal"), None);
    assert_eq!(e.header("content-type"), Some("application/json"));
    assert_eq!(e.body_str(), r#"{"n":1}"#);

    let e = with_id(&got, "str-1");
    assert_eq!(e.header("ce-type"), Some("com.example.s"));
    assert_eq!(e.header("ce-source"), Some("/s"));
    assert_eq!(e.body_str(), r#"{"k":"v"}"#);

    // Claims to be a CloudEvent but is not JSON: wrapped, body intact (documented choice).
    let e = with_id(&got, "partition:1/offset:3");
    assert_eq!(e.header("ce-type"), Some(TYPE));
    assert_eq!(e.body_str(), "{not json");

    wait_event_types(&h, &[(TYPE.to_string(), src)]);
}

/// The seeds' `kafka-sample` (v1alpha1, `topics: knative-demo,news`), pointed at our broker:
/// one EventType per topic, and records of both topics arrive through the Broker.
#[test]
fn seeds_kafka_sample_registers_event_types_and_consumes() {
    let kafka = Tansu::start(free_port());
    kafka.create_topic("knative-demo", 1);
    kafka.create_topic("news", 1);
    let sink = Sink::start();
    let h = Herald::start();
    let to = sink.at("/seed");
    setup(&h, json!({}), &[trigger("all", &to, json!({}))]);
    let seed = std::fs::read_to_string(common::data("seeds/kafkasource.yaml")).unwrap();
    let seed = seed.replace("my-cluster-kafka-bootstrap.kafka:9092", &kafka.addr);
    let out = h.kubectl_stdin(&["apply", "-f", "-"], Some(&seed));
    assert!(out.status.success(), "{out:?}");
    ready(&h, "kafka-sample");
    let base = "/apis/v1/namespaces/default/kafkasources/kafka-sample";
    wait_event_types(
        &h,
        &[
            (TYPE.to_string(), format!("{base}#knative-demo")),
            (TYPE.to_string(), format!("{base}#news")),
        ],
    );
    // initialOffset defaults to latest: only records produced after Ready arrive.
    kafka.produce(
        "knative-demo",
        0,
        vec![record(None, "demo", &[], 1_700_000_000_000)],
    );
    kafka.produce(
        "news",
        0,
        vec![record(None, "news", &[], 1_700_000_000_000)],
    );
    let got = sink.wait_for("/seed", 2, EVENTS_WAIT);
    let mut sources: Vec<_> = got
        .iter()
        .map(|r| r.header("ce-source").unwrap_or_default().to_string())
        .collect();
    sources.sort();
    assert_eq!(
        sources,
        vec![format!("{base}#knative-demo"), format!("{base}#news")]
    );
}

/// Killing Herald (SIGKILL) mid-stream loses nothing: offsets are committed only after the sink
/// accepted an event, so the restarted Herald resumes from the group's committed offsets.
#[test]
fn kill9_mid_stream_loses_nothing() {
    let kafka = Tansu::start(free_port());
    let topic = unique("k");
    kafka.create_topic(&topic, 2);
    let sink = Sink::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut h = Herald::start_in(&data);
    sink.fallback(
        "/k",
        common::sink::Reply::status(202).delay(Duration::from_millis(100)),
    );
    apply(
        &h,
        &[source(
            "ks",
            &kafka.addr,
            &[&topic],
            json!({"uri": sink.at("/k")}),
            json!({}),
        )],
    );
    ready(&h, "ks");
    let mut want = BTreeSet::new();
    for p in 0..2 {
        let records = (0..20)
            .map(|i| record(None, &format!("v{i}"), &[], 1_700_000_000_000))
            .collect();
        kafka.produce(&topic, p, records);
        want.extend((0..20).map(|i| format!("partition:{p}/offset:{i}")));
    }
    sink.wait_for("/k", 5, EVENTS_WAIT);
    h.kill9();
    let h = Herald::start_in(&data);
    wait_ids(&sink, "/k", &want, &h);
}

/// An unreachable bootstrap server makes the source not Ready with a clear reason; once a
/// broker listens there, the source recovers on its own.
#[test]
fn unreachable_bootstrap_is_not_ready_and_recovers() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let sink = Sink::start();
    let h = Herald::start();
    apply(
        &h,
        &[source(
            "ks",
            &addr,
            &["later"],
            json!({"uri": sink.at("/u")}),
            json!({}),
        )],
    );
    let reason = "{.status.conditions[?(@.type==\"Ready\")].reason}";
    h.wait_jsonpath_within(&["kafkasource", "ks"], READY, "False", EVENTS_WAIT);
    h.wait_jsonpath_within(
        &["kafkasource", "ks"],
        reason,
        "ConnectionFailed",
        EVENTS_WAIT,
    );
    let msg = h.kubectl_ok(&[
        "get",
        "kafkasource",
        "ks",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].message}",
    ]);
    assert!(msg.contains(&addr), "message: {msg}");

    let kafka = Tansu::start(port);
    kafka.create_topic("later", 1);
    ready(&h, "ks");
    kafka.produce(
        "later",
        0,
        vec![record(None, "back", &[], 1_700_000_000_000)],
    );
    let got = sink.wait_for("/u", 1, EVENTS_WAIT);
    assert_eq!(got[0].header("ce-id"), Some("partition:0/offset:0"));
    assert_eq!(got[0].body_str(), "back");
}

/// A sink failure after the last retry (`delivery.retry: 0`) does not commit the offset: the
/// same event is sent again, and once accepted its offset is committed, so a restarted Herald
/// does not deliver it a third time.
#[test]
fn a_failed_delivery_is_resent_and_committed_once_accepted() {
    let kafka = Tansu::start(free_port());
    let topic = unique("f");
    kafka.create_topic(&topic, 1);
    let sink = Sink::start();
    sink.script("/s", vec![common::sink::Reply::status(500)]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut h = Herald::start_in(&data);
    apply(
        &h,
        &[source(
            "ks",
            &kafka.addr,
            &[&topic],
            json!({"uri": sink.at("/s")}),
            json!({"delivery": {"retry": 0}}),
        )],
    );
    ready(&h, "ks");
    kafka.produce(
        &topic,
        0,
        vec![record(None, "again", &[], 1_700_000_000_000)],
    );
    let got = sink.wait_for("/s", 2, EVENTS_WAIT);
    assert_eq!(
        id_set(&got),
        BTreeSet::from(["partition:0/offset:0".to_string()])
    );
    sink.expect_no_more("/s", 2, Duration::from_secs(3));
    h.kill9();
    let h = Herald::start_in(&data);
    ready(&h, "ks");
    sink.expect_no_more("/s", 2, Duration::from_secs(3));
}

/// Record batches compressed with any of Kafka's codecs (gzip, snappy, lz4, zstd) are read like
/// uncompressed ones.
#[test]
fn compressed_batches_are_consumed() {
    let kafka = Tansu::start(free_port());
    let topic = unique("c");
    kafka.create_topic(&topic, 1);
    let sink = Sink::start();
    let h = Herald::start();
    apply(
        &h,
        &[source(
            "ks",
            &kafka.addr,
            &[&topic],
            json!({"uri": sink.at("/c")}),
            json!({}),
        )],
    );
    ready(&h, "ks");
    let codecs = [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for c in codecs {
        let batch = (0..3)
            .map(|i| record(None, &format!("{c:?}-{i}"), &[], 1_700_000_000_000))
            .collect();
        kafka.produce_batch(&topic, 0, batch, c);
    }
    let want: BTreeSet<String> = (0..12).map(|i| format!("partition:0/offset:{i}")).collect();
    let got = wait_ids(&sink, "/c", &want, &h);
    let bodies: BTreeSet<String> = got.iter().map(|r| r.body_str().to_string()).collect();
    for c in codecs {
        for i in 0..3 {
            assert!(
                bodies.contains(&format!("{c:?}-{i}")),
                "{c:?}-{i}: {bodies:?}"
            );
        }
    }
}

/// `delivery.deadLetterSink` (DP-41..43): a record the sink refuses (400, not retryable) goes
/// to the dead-letter sink with Knative's error extensions and its offset is committed once the
/// dead-letter sink accepted it, so the partition moves on and a restart does not resend it.
/// `status.deadLetterSinkUri` shows the resolved sink.
#[test]
fn a_refused_record_is_dead_lettered_and_committed() {
    let kafka = Tansu::start(free_port());
    let topic = unique("d");
    kafka.create_topic(&topic, 1);
    let sink = Sink::start();
    sink.fallback("/s", common::sink::Reply::status(400).body(b"no thanks"));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut h = Herald::start_in(&data);
    let dls = sink.at("/dls");
    apply(
        &h,
        &[source(
            "ks",
            &kafka.addr,
            &[&topic],
            json!({"uri": sink.at("/s")}),
            json!({"delivery": {"retry": 1, "backoffDelay": "PT0.1S",
                                "deadLetterSink": {"uri": dls}}}),
        )],
    );
    ready(&h, "ks");
    h.wait_jsonpath_within(
        &["kafkasource", "ks"],
        "{.status.deadLetterSinkUri}",
        &dls,
        EVENTS_WAIT,
    );
    let records = (0..3)
        .map(|i| record(None, &format!("v{i}"), &[], 1_700_000_000_000))
        .collect();
    kafka.produce(&topic, 0, records);
    let want: BTreeSet<String> = (0..3).map(|i| format!("partition:0/offset:{i}")).collect();
    let got = wait_ids(&sink, "/dls", &want, &h);
    for e in &got {
        assert_eq!(e.header("ce-type"), Some(TYPE));
        assert_eq!(e.header("ce-knativeerrorcode"), Some("400"));
        assert_eq!(
            e.header("ce-knativeerrordest"),
            Some(sink.at("/s").as_str())
        );
        // base64("no thanks")
        assert_eq!(e.header("ce-knativeerrordata"), Some("bm8gdGhhbmtz"));
    }
    // 400 is not retried: one attempt per record at the sink.
    sink.expect_no_more("/s", 3, Duration::from_secs(2));
    sink.expect_no_more("/dls", 3, Duration::from_secs(1));
    h.kill9();
    let h = Herald::start_in(&data);
    ready(&h, "ks");
    sink.expect_no_more("/s", 3, Duration::from_secs(3));
    sink.expect_no_more("/dls", 3, Duration::from_secs(1));
}

/// A dead-letter sink that does not resolve keeps the source from running (it would otherwise
/// stall or lose records): not Ready, with the reason.
#[test]
fn an_unresolvable_dead_letter_sink_is_not_ready() {
    let sink = Sink::start();
    let h = Herald::start();
    apply(
        &h,
        &[source(
            "ks",
            "127.0.0.1:1",
            &["t"],
            json!({"uri": sink.at("/s")}),
            json!({"delivery": {"deadLetterSink": {"ref": {"apiVersion": "v1",
                "kind": "Service", "name": "missing"}}}}),
        )],
    );
    h.wait_jsonpath_within(
        &["kafkasource", "ks"],
        "{.status.conditions[?(@.type==\"SinkProvided\")].status}",
        "False",
        EVENTS_WAIT,
    );
    let msg = h.kubectl_ok(&[
        "get",
        "kafkasource",
        "ks",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"SinkProvided\")].message}",
    ]);
    assert!(msg.contains("dead letter sink"), "message: {msg}");
}

fn group_source(
    name: &str,
    kafka: &Tansu,
    topic: &str,
    group: &str,
    to: &str,
    extra: Value,
) -> Value {
    let mut s = source(name, &kafka.addr, &[topic], json!({"uri": to}), extra);
    s["spec"]["consumerGroup"] = json!(group);
    s
}

/// Two Heralds, each with KafkaSource `ks` in `group` (A delivering to `/a`, B to `/b`), both
/// Ready: B joined after A, so the group has rebalanced over both.
fn two_heralds_in_one_group(
    kafka: &Tansu,
    topic: &str,
    group: &str,
    sink: &Sink,
) -> (Herald, Herald) {
    let (a, b) = (Herald::start(), Herald::start());
    for (h, path) in [(&a, "/a"), (&b, "/b")] {
        let s = group_source("ks", kafka, topic, group, &sink.at(path), json!({}));
        apply(h, &[s]);
        ready(h, "ks");
    }
    (a, b)
}

fn produce_all(kafka: &Tansu, topic: &str, partitions: i32, per: usize, round: &str) -> usize {
    for p in 0..partitions {
        let records = (0..per)
            .map(|i| record(None, &format!("{round}-{p}-{i}"), &[], 1_700_000_000_000))
            .collect();
        kafka.produce(topic, p, records);
    }
    partitions as usize * per
}

fn bodies(got: &[Received]) -> BTreeSet<String> {
    got.iter().map(|r| r.body_str()).collect()
}

/// Two Herald instances with one consumer group split the partitions (range assignor) and
/// together deliver every record; when one is killed (SIGKILL, no LeaveGroup) the other takes
/// its partitions over after the session timeout, losing nothing (at-least-once).
#[test]
fn two_heralds_share_a_group_and_take_over_from_a_dead_one() {
    let kafka = Tansu::start(free_port());
    let topic = unique("g");
    kafka.create_topic(&topic, 4);
    let group = unique("group");
    let sink = Sink::start();
    let (mut a, b) = two_heralds_in_one_group(&kafka, &topic, &group, &sink);
    // B's join completed a rebalance that A took part in: each owns two partitions now.
    std::thread::sleep(Duration::from_secs(2));
    let n = produce_all(&kafka, &topic, 4, 5, "r1");
    let deadline = Instant::now() + EVENTS_WAIT;
    let (got_a, got_b) = loop {
        let (ga, gb) = (bodies(&sink.received("/a")), bodies(&sink.received("/b")));
        if ga.union(&gb).filter(|s| s.starts_with("r1-")).count() == n {
            break (ga, gb);
        }
        assert!(
            Instant::now() < deadline,
            "a: {ga:?}\nb: {gb:?}\nA log:\n{}\nB log:\n{}",
            a.log(),
            b.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let partitions = |got: &BTreeSet<String>| -> BTreeSet<String> {
        got.iter()
            .map(|s| s.split('-').nth(1).unwrap_or_default().to_string())
            .collect()
    };
    let (pa, pb) = (partitions(&got_a), partitions(&got_b));
    assert!(
        !pa.is_empty() && !pb.is_empty(),
        "both consume: a {pa:?}, b {pb:?}"
    );
    assert!(
        pa.is_disjoint(&pb),
        "a partition has one owner: a {pa:?}, b {pb:?}"
    );

    a.kill9();
    let n = produce_all(&kafka, &topic, 4, 5, "r2");
    let deadline = Instant::now() + EVENTS_WAIT;
    loop {
        let gb = bodies(&sink.received("/b"));
        let r2 = gb.iter().filter(|s| s.starts_with("r2-")).count();
        if r2 == n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "b got {r2}/{n}: {gb:?}\nB log:\n{}",
            b.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `consumers: 3` runs three members in one Herald; every record of every partition arrives.
#[test]
fn several_consumers_in_one_herald_deliver_everything() {
    let kafka = Tansu::start(free_port());
    let topic = unique("m");
    kafka.create_topic(&topic, 4);
    let sink = Sink::start();
    let h = Herald::start();
    apply(
        &h,
        &[source(
            "ks",
            &kafka.addr,
            &[&topic],
            json!({"uri": sink.at("/m")}),
            json!({"consumers": 3}),
        )],
    );
    ready(&h, "ks");
    produce_all(&kafka, &topic, 4, 5, "m");
    let want: BTreeSet<String> = (0..4)
        .flat_map(|p| (0..5).map(move |i| format!("partition:{p}/offset:{i}")))
        .collect();
    wait_ids(&sink, "/m", &want, &h);
    let log = strip_ansi(&h.log());
    let members: BTreeSet<&str> = log
        .lines()
        .filter(|l| l.contains("consumer group member assigned"))
        .filter_map(|l| l.split("member=").nth(1)?.split_whitespace().next())
        .collect();
    assert!(
        members.len() >= 3,
        "three members joined: {members:?}\n{log}"
    );
}

/// The log without terminal colour sequences (`ESC [ … m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `ordering: unordered` delivers records of one partition concurrently: 20 records to a sink
/// that takes 500 ms each arrive far faster than one at a time would allow (≥ 9.5 s), and all
/// of them arrive.
#[test]
fn unordered_delivers_a_partition_concurrently() {
    let kafka = Tansu::start(free_port());
    let topic = unique("u");
    kafka.create_topic(&topic, 1);
    let sink = Sink::start();
    sink.fallback(
        "/u",
        common::sink::Reply::status(202).delay(Duration::from_millis(500)),
    );
    let h = Herald::start();
    apply(
        &h,
        &[source(
            "ks",
            &kafka.addr,
            &[&topic],
            json!({"uri": sink.at("/u")}),
            json!({"ordering": "unordered"}),
        )],
    );
    ready(&h, "ks");
    kafka.produce_batch(
        &topic,
        0,
        (0..20)
            .map(|i| record(None, &format!("u{i}"), &[], 1_700_000_000_000))
            .collect(),
        Compression::NoCompression,
    );
    let want: BTreeSet<String> = (0..20).map(|i| format!("partition:0/offset:{i}")).collect();
    let got = wait_ids(&sink, "/u", &want, &h);
    let first = got.iter().map(|r| r.at).min().unwrap();
    let last = got.iter().map(|r| r.at).max().unwrap();
    assert!(
        last - first < Duration::from_secs(5),
        "20 deliveries took {:?}",
        last - first
    );
}

/// A member that stops cleanly (its KafkaSource deleted) leaves the group, so the other Herald
/// takes its partitions over at once — well before the 10 s session timeout would evict it.
#[test]
fn a_deleted_source_hands_its_partitions_over_at_once() {
    let kafka = Tansu::start(free_port());
    let topic = unique("l");
    kafka.create_topic(&topic, 2);
    let group = unique("group");
    let sink = Sink::start();
    let (a, b) = two_heralds_in_one_group(&kafka, &topic, &group, &sink);
    b.kubectl_ok(&["delete", "kafkasource", "ks"]);
    let n = produce_all(&kafka, &topic, 2, 3, "l");
    let started = Instant::now();
    loop {
        let got = bodies(&sink.received("/a"));
        if got.len() == n {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "a got {got:?}\nA log:\n{}",
            a.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `kafkasources.sources.knative.dev/key-type` label reads record keys as Knative's key
/// deserializer does: `int` as a big-endian integer, `byte-array` as Binary (base64 in the HTTP
/// header); an invalid label value is refused with a field path.
#[test]
fn the_key_type_label_decodes_keys() {
    let kafka = Tansu::start(free_port());
    let topic = unique("t");
    kafka.create_topic(&topic, 1);
    let sink = Sink::start();
    let h = Herald::start();
    let labelled = |name: &str, ty: &str, path: &str| {
        let mut s = source(
            name,
            &kafka.addr,
            &[&topic],
            json!({"uri": sink.at(path)}),
            json!({"consumerGroup": unique("g")}),
        );
        s["metadata"]["labels"] = json!({"kafkasources.sources.knative.dev/key-type": ty});
        s
    };
    let bad = h.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(&labelled("bad", "double", "/x").to_string()),
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("metadata.labels[kafkasources.sources.knative.dev/key-type]"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    apply(
        &h,
        &[
            labelled("ints", "int", "/int"),
            labelled("bytes", "byte-array", "/bytes"),
        ],
    );
    ready(&h, "ints");
    ready(&h, "bytes");
    let mut r = record(None, "v", &[], 1_700_000_000_000);
    r.key = Some(42i32.to_be_bytes().to_vec());
    kafka.produce(&topic, 0, vec![r]);
    let int = sink.wait_for("/int", 1, EVENTS_WAIT);
    assert_eq!(int[0].header("ce-key"), Some("42"));
    assert_eq!(int[0].header("ce-partitionkey"), Some("42"));
    let bytes = sink.wait_for("/bytes", 1, EVENTS_WAIT);
    assert_eq!(bytes[0].header("ce-key"), Some("AAAAKg=="));
}
