//! GcpPubSubSource against the real Pub/Sub emulator (`gcloud beta emulators pubsub start`),
//! black-box with kubectl (reference §5.6 DP-56/DP-57, §7 CloudPubSubSource row): exact
//! `google.cloud.pubsub.topic.v1.messagePublished` events through a Broker, EventTypes
//! registered for the Broker sink, at-least-once across `kill -9`, nack + redelivery when the
//! sink rejects, and not-Ready/recovery when Pub/Sub is unreachable. Each test starts its own
//! emulator (a Java process, in its own process group so it is stopped with the test) and uses
//! its own topic, so tests run in parallel.

mod common;

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::Herald;
use common::broker::*;
use common::sink::{Reply, Sink};
use serde_json::{Value, json};

/// Generous: a loaded 2-core CI machine.
const EVENTS_WAIT: Duration = Duration::from_secs(60);
const PROJECT: &str = "test";
const DATA_SCHEMA: &str = "https://raw.githubusercontent.com/googleapis/google-cloudevents/master/proto/google/events/cloud/pubsub/v1/data.proto";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A Pub/Sub emulator started by the test, stopped (with its Java child) on drop.
struct Emulator {
    child: Child,
    host: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Emulator {
    fn start() -> Emulator {
        Emulator::start_on(free_port())
    }

    fn start_on(port: u16) -> Emulator {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("emulator.log");
        let host = format!("127.0.0.1:{port}");
        let out = std::fs::File::create(&log).expect("log");
        let err = out.try_clone().expect("log");
        let child = Command::new("gcloud")
            .args(["beta", "emulators", "pubsub", "start"])
            .arg(format!("--host-port={host}"))
            .arg(format!("--project={PROJECT}"))
            .arg(format!("--data-dir={}", dir.path().display()))
            .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `gcloud` ({e}): the Pub/Sub tests need the Google Cloud CLI with \
                     the Pub/Sub emulator and Java 11+: `apt-get install google-cloud-cli \
                     google-cloud-cli-pubsub-emulator default-jre-headless`"
                )
            });
        let mut emu = Emulator {
            child,
            host,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(Some(status)) = emu.child.try_wait() {
                panic!(
                    "the Pub/Sub emulator exited ({status}). If the component is missing, install \
                     the Debian package google-cloud-cli-pubsub-emulator (and a Java 11+ \
                     runtime). Its output:\n{}",
                    emu.output()
                );
            }
            if ping(&emu.url("/")) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the Pub/Sub emulator did not answer on {} within 90s:\n{}",
                emu.host,
                emu.output()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        emu
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host)
    }

    fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let r = Client::new().send(
            method,
            &self.url(&format!("/v1/projects/{PROJECT}/{path}")),
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
        );
        (
            r.status,
            serde_json::from_str(&r.body).unwrap_or(Value::Null),
        )
    }

    fn create_topic(&self, topic: &str) {
        let (status, body) = self.call("PUT", &format!("topics/{topic}"), json!({}));
        assert_eq!(status, 200, "create topic: {body}");
    }

    /// Publishes `(data, attributes)` messages; returns their message IDs.
    fn publish(&self, topic: &str, messages: &[(Option<&[u8]>, Value)]) -> Vec<String> {
        let msgs: Vec<Value> = messages
            .iter()
            .map(|(data, attrs)| {
                let mut m = json!({"attributes": attrs});
                if let Some(d) = data {
                    m["data"] = json!(STANDARD.encode(d));
                }
                m
            })
            .collect();
        let (status, body) = self.call(
            "POST",
            &format!("topics/{topic}:publish"),
            json!({"messages": msgs}),
        );
        assert_eq!(status, 200, "publish: {body}");
        body["messageIds"]
            .as_array()
            .expect("messageIds")
            .iter()
            .map(|v| v.as_str().expect("id").to_string())
            .collect()
    }

    /// Messages left undelivered on `subscription` (pulled without acking, so they come back).
    fn backlog(&self, subscription: &str) -> usize {
        let (status, body) = self.call(
            "POST",
            &format!("subscriptions/{subscription}:pull"),
            json!({"maxMessages": 100, "returnImmediately": true}),
        );
        assert_eq!(status, 200, "pull: {body}");
        body["receivedMessages"].as_array().map_or(0, Vec::len)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // gcloud runs the emulator as a Java child: stop the whole process group.
        let pgid = self.child.id();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .status();
        let _ = self.child.wait();
    }
}

fn ping(url: &str) -> bool {
    std::net::TcpStream::connect_timeout(
        &url.trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("socket address"),
        Duration::from_millis(200),
    )
    .is_ok()
}

fn start_herald(data_dir: &Path, emulator_host: &str) -> Herald {
    Herald::start_with_env(data_dir, &[], &[("PUBSUB_EMULATOR_HOST", emulator_host)])
}

/// Herald on a fresh data directory (kept alive by the returned guard).
fn fresh_herald(emulator_host: &str) -> (Herald, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let h = start_herald(&dir.path().join("data"), emulator_host);
    (h, dir)
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn source(name: &str, topic: &str, sink: Value) -> Value {
    json!({"apiVersion": "sources.knative.dev/v1alpha1", "kind": "GcpPubSubSource",
           "metadata": {"name": name},
           "spec": {"project": PROJECT, "topic": topic, "ackDeadline": "10s", "sink": sink}})
}

fn broker_sink() -> Value {
    json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}})
}

fn subscription_of(h: &Herald, name: &str) -> String {
    let uid = h.kubectl_ok(&[
        "get",
        "gcppubsubsource",
        name,
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    format!("cre-src_default_{name}_{}", uid.trim())
}

fn condition(h: &Herald, name: &str, field: &str) -> String {
    h.kubectl_ok(&[
        "get",
        "gcppubsubsource",
        name,
        "-o",
        &format!("jsonpath={{.status.conditions[?(@.type==\"Ready\")].{field}}}"),
    ])
}

/// §7: every message → one messagePublished event with Knative-GCP's data shape, through a
/// Broker's Trigger; attributes-only and non-UTF-8 messages are wrapped like any other (a
/// Pub/Sub payload is carried base64, so nothing is malformed); DP-56 EventTypes for the
/// Broker sink; messages are acknowledged once delivered.
#[test]
fn dp56_messages_reach_a_broker_trigger_with_exact_attributes() {
    let emu = Emulator::start();
    let sink = Sink::start();
    let (h, _dir) = fresh_herald(&emu.host);
    let topic = unique("laconia");
    emu.create_topic(&topic);
    setup(&h, json!({}), &[trigger("all", &sink.at("/t"), json!({}))]);
    apply(&h, &[source("pubsub", &topic, broker_sink())]);
    h.wait_jsonpath(&["gcppubsubsource", "pubsub"], READY, "True");

    let ids = emu.publish(
        &topic,
        &[
            (
                Some(br#"{"Hello": "world"}"#),
                json!({"Content-Type": "application/json"}),
            ),
            (None, json!({"only": "attributes"})),
            (Some(&[0xff, 0x00, 0xfe]), json!({})),
        ],
    );
    let got = sink.wait_for("/t", 3, EVENTS_WAIT);
    let source_attr = format!("//pubsub.googleapis.com/projects/{PROJECT}/topics/{topic}");
    let sub = subscription_of(&h, "pubsub");
    let wants = [
        json!({"messageId": ids[0], "data": "eyJIZWxsbyI6ICJ3b3JsZCJ9",
               "attributes": {"Content-Type": "application/json"}}),
        json!({"messageId": ids[1], "attributes": {"only": "attributes"}}),
        json!({"messageId": ids[2], "data": "/wD+"}),
    ];
    for (id, want) in ids.iter().zip(wants) {
        let r = with_id(&got, id);
        assert_eq!(
            r.header("ce-type"),
            Some("google.cloud.pubsub.topic.v1.messagePublished")
        );
        assert_eq!(r.header("ce-source"), Some(source_attr.as_str()));
        assert_eq!(r.header("ce-specversion"), Some("1.0"));
        assert_eq!(r.header("ce-dataschema"), Some(DATA_SCHEMA));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&r.body).expect("JSON data");
        let time = r.header("ce-time").expect("ce-time");
        assert_eq!(body["message"]["publishTime"], json!(time));
        let mut want_msg = want;
        want_msg["publishTime"] = json!(time);
        assert_eq!(body, json!({"subscription": sub, "message": want_msg}));
    }
    sink.expect_no_more("/t", 3, Duration::from_secs(2));
    // Acknowledged after delivery: nothing left on the subscription.
    assert_eq!(emu.backlog(&sub), 0);

    // status.ceAttributes and the EventType registered for the Broker sink (DP-56).
    let attrs = h.kubectl_ok(&[
        "get",
        "gcppubsubsource",
        "pubsub",
        "-o",
        "jsonpath={.status.ceAttributes}",
    ]);
    let attrs: Value = serde_json::from_str(&attrs).expect("ceAttributes");
    assert_eq!(
        attrs,
        json!([{"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": source_attr}])
    );
    let deadline = Instant::now() + EVENTS_WAIT;
    loop {
        let ets = h.kubectl_ok(&["get", "eventtypes", "-o", "json"]);
        let ets: Value = serde_json::from_str(&ets).expect("eventtypes");
        // v1beta3: the attributes list, and the Broker as the reference.
        let found = ets["items"].as_array().into_iter().flatten().any(|et| {
            let attrs = &et["spec"]["attributes"];
            let has = |name: &str, value: &str| {
                attrs
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|a| a["name"] == name && a["value"] == value && a["required"] == true)
            };
            has("type", "google.cloud.pubsub.topic.v1.messagePublished")
                && has("source", &source_attr)
                && et["spec"]["reference"]["kind"] == "Broker"
                && et["spec"]["reference"]["name"] == "default"
                && et["metadata"]["ownerReferences"][0]["kind"] == "GcpPubSubSource"
        });
        if found {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no EventType registered:\n{ets:#}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// At-least-once across a crash: Herald is killed (SIGKILL) mid-stream and restarted on the
/// same data directory; every published message arrives at least once.
#[test]
fn kill9_mid_stream_loses_nothing() {
    let emu = Emulator::start();
    let sink = Sink::start();
    // A slow sink keeps messages in flight when Herald is killed.
    sink.fallback("/s", Reply::status(202).delay(Duration::from_millis(100)));
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let mut h = start_herald(&data, &emu.host);
    let topic = unique("crash");
    emu.create_topic(&topic);
    apply(
        &h,
        &[source("crash", &topic, json!({"uri": sink.at("/s")}))],
    );
    h.wait_jsonpath(&["gcppubsubsource", "crash"], READY, "True");
    let batch: Vec<(Option<&[u8]>, Value)> = (0..40).map(|_| (None, json!({"k": "v"}))).collect();
    let ids: BTreeSet<String> = emu.publish(&topic, &batch).into_iter().collect();
    sink.wait_for("/s", 5, EVENTS_WAIT);
    h.kill9();
    let h = start_herald(&data, &emu.host);
    h.wait_jsonpath(&["gcppubsubsource", "crash"], READY, "True");
    let deadline = Instant::now() + EVENTS_WAIT;
    loop {
        let seen: BTreeSet<String> = sink
            .received("/s")
            .iter()
            .filter_map(|r| r.header("ce-id").map(str::to_string))
            .collect();
        if ids.is_subset(&seen) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "missing after restart: {:?}\nherald log:\n{}",
            ids.difference(&seen).collect::<Vec<_>>(),
            h.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A final delivery failure nacks the message (modifyAckDeadline 0): Pub/Sub redelivers it
/// and it is acknowledged once the sink accepts it.
#[test]
fn rejected_events_are_nacked_and_redelivered() {
    let emu = Emulator::start();
    let sink = Sink::start();
    // 400 is not retried by the emitter: a final failure at once.
    sink.script("/r", vec![Reply::status(400), Reply::status(400)]);
    let (h, _dir) = fresh_herald(&emu.host);
    let topic = unique("nack");
    emu.create_topic(&topic);
    apply(&h, &[source("nack", &topic, json!({"uri": sink.at("/r")}))]);
    h.wait_jsonpath(&["gcppubsubsource", "nack"], READY, "True");
    let id = emu.publish(&topic, &[(Some(b"x"), json!({}))]).remove(0);
    // Redelivered right after each nack (well before the 10s ack deadline would expire).
    let got = sink.wait_for("/r", 3, Duration::from_secs(9));
    assert!(got.iter().all(|r| r.header("ce-id") == Some(id.as_str())));
    sink.expect_no_more("/r", 3, Duration::from_secs(2));
    assert_eq!(emu.backlog(&subscription_of(&h, "nack")), 0);
}

/// Pub/Sub unreachable → not Ready with ConnectionFailed and the cause; Ready again, and
/// delivering, once the emulator comes up on that address.
#[test]
fn unreachable_pubsub_is_reported_and_recovers() {
    let port = free_port();
    let host = format!("127.0.0.1:{port}");
    let sink = Sink::start();
    let (h, _dir) = fresh_herald(&host);
    let topic = unique("later");
    apply(
        &h,
        &[source("later", &topic, json!({"uri": sink.at("/l")}))],
    );
    h.wait_jsonpath(&["gcppubsubsource", "later"], READY, "Unknown");
    assert_eq!(condition(&h, "later", "reason"), "ConnectionFailed");
    let msg = condition(&h, "later", "message");
    assert!(
        msg.contains(&host) && msg.to_lowercase().contains("connect"),
        "{msg}"
    );

    let emu = Emulator::start_on(port);
    // The topic does not exist yet: a clear, different reason.
    h.wait_jsonpath(&["gcppubsubsource", "later"], READY, "False");
    assert_eq!(condition(&h, "later", "reason"), "TopicNotFound");
    emu.create_topic(&topic);
    h.wait_jsonpath(&["gcppubsubsource", "later"], READY, "True");
    let id = emu.publish(&topic, &[(Some(b"hi"), json!({}))]).remove(0);
    let got = sink.wait_for("/l", 1, EVENTS_WAIT);
    assert_eq!(got[0].header("ce-id"), Some(id.as_str()));
}

/// The seeds' eventing-contrib shape (`sources.eventing.knative.dev/v1alpha1`,
/// `googleCloudProject`, an ObjectReference sink) runs the same source.
#[test]
fn seeds_legacy_shape_delivers_through_a_broker() {
    let emu = Emulator::start();
    let sink = Sink::start();
    let (h, _dir) = fresh_herald(&emu.host);
    let topic = unique("testing");
    emu.create_topic(&topic);
    setup(
        &h,
        json!({}),
        &[trigger("all", &sink.at("/legacy"), json!({}))],
    );
    apply(
        &h,
        &[
            json!({"apiVersion": "sources.eventing.knative.dev/v1alpha1",
                 "kind": "GcpPubSubSource", "metadata": {"name": "gcp-pubsub-source"},
                 "spec": {"googleCloudProject": PROJECT, "topic": topic,
                          "gcpCredsSecret": {"name": "google-cloud-key", "key": "key.json"},
                          "sink": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                                   "name": "default"}}}),
        ],
    );
    h.wait_jsonpath(&["gcppubsubsource", "gcp-pubsub-source"], READY, "True");
    let id = emu.publish(&topic, &[(Some(b"{}"), json!({}))]).remove(0);
    let got = sink.wait_for("/legacy", 1, EVENTS_WAIT);
    let r = with_id(&got, &id);
    assert_eq!(
        r.header("ce-source").map(str::to_string),
        Some(format!(
            "//pubsub.googleapis.com/projects/{PROJECT}/topics/{topic}"
        ))
    );
    assert_eq!(
        r.header("ce-type"),
        Some("google.cloud.pubsub.topic.v1.messagePublished")
    );
}
