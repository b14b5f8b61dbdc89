//! RabbitmqSource (issue 8), black-box against the machine's RabbitMQ on 127.0.0.1:5672
//! (guest/guest; ./test.sh starts it when down), with real kubectl. Reference §5.6 DP-56/DP-57
//! (sink, ceOverrides), DP-59 (id/time), §7 RabbitmqSource row (event format). Messages are
//! published with a RabbitMQ client (`amqprs`); every test uses its own queue and exchange.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use amqprs::channel::{
    BasicPublishArguments, ExchangeDeleteArguments, QueueDeclareArguments, QueueDeleteArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{BasicProperties, FieldTable, FieldValue};
use common::Herald;
use common::broker::*;
use common::sink::{Received, Reply, Sink};
use serde_json::{Value, json};

/// Generous: a loaded 2-core CI machine.
const EVENTS_WAIT: Duration = Duration::from_secs(60);
const GOOD_URI: &str = "amqp://guest:guest@127.0.0.1:5672";
const TYPE: &str = "dev.knative.rabbitmq.event";

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn secret(name: &str, uri: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
           "stringData": {"uri": uri}})
}

fn source(name: &str, queue: &str, exchange: &str, sink: Value, extra: Value) -> Value {
    let mut spec = json!({
        "rabbitmqClusterReference": {"connectionSecret": {"name": "rabbit"}},
        "rabbitmqResourcesConfig": {"queueName": queue, "exchangeName": exchange},
        "sink": sink,
    });
    if let (Some(s), Value::Object(e)) = (spec.as_object_mut(), extra) {
        s.extend(e);
    }
    json!({"apiVersion": "sources.knative.dev/v1alpha1", "kind": "RabbitmqSource",
           "metadata": {"name": name}, "spec": spec})
}

fn ready(h: &Herald, name: &str) {
    h.wait_jsonpath_within(&["rabbitmqsource", name], READY, "True", EVENTS_WAIT);
}

fn header_table(pairs: &[(&str, &str)]) -> FieldTable {
    let mut t = FieldTable::new();
    for (k, v) in pairs {
        t.insert(
            (*k).try_into().unwrap(),
            FieldValue::S((*v).try_into().unwrap()),
        );
    }
    t
}

/// Publishes to `exchange` with RabbitMQ's own protocol. Before closing it asks for `queue` on
/// the same channel (a passive declare): RabbitMQ answers only after the publishes before it
/// reached the queue. Closing right after publishing lost the last messages under load (the
/// client has no publisher confirms here).
fn publish(queue: &str, exchange: &str, messages: Vec<(BasicProperties, Vec<u8>)>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let args = OpenConnectionArguments::new("127.0.0.1", 5672, "guest", "guest");
        let conn = Connection::open(&args).await.unwrap();
        let ch = conn.open_channel(None).await.unwrap();
        for (props, body) in messages {
            ch.basic_publish(props, body, BasicPublishArguments::new(exchange, "key"))
                .await
                .unwrap();
        }
        ch.queue_declare(QueueDeclareArguments::new(queue).passive(true).finish())
            .await
            .unwrap();
        ch.close().await.unwrap();
        conn.close().await.unwrap();
    });
}

/// Deletes a test's queue and exchange from the shared RabbitMQ (after Herald stopped).
fn cleanup(queue: &str, exchange: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let args = OpenConnectionArguments::new("127.0.0.1", 5672, "guest", "guest");
        let conn = Connection::open(&args).await.unwrap();
        let ch = conn.open_channel(None).await.unwrap();
        let _ = ch.queue_delete(QueueDeleteArguments::new(queue)).await;
        let _ = ch
            .exchange_delete(ExchangeDeleteArguments::new(exchange))
            .await;
        let _ = ch.close().await;
        let _ = conn.close().await;
    });
}

fn plain(id: &str, body: &str) -> (BasicProperties, Vec<u8>) {
    let props = BasicProperties::default()
        .with_message_id(id)
        .with_content_type("text/plain")
        .finish();
    (props, body.as_bytes().to_vec())
}

/// Waits until every id in `want` arrived at least once.
fn wait_ids(sink: &Sink, path: &str, want: &BTreeSet<String>, h: &Herald) -> Vec<Received> {
    wait_for_ids(sink, path, want, EVENTS_WAIT * 2, h)
}

/// Plain messages, a binary and a structured CloudEvent, and a malformed "CloudEvent" go through
/// a Broker to a Trigger with §7's exact attributes; the EventType is registered (DP-56/57/59).
#[test]
fn messages_reach_a_broker_trigger_with_exact_attributes_and_register_event_types() {
    let sink = Sink::start();
    let h = Herald::start();
    let (queue, exchange) = (unique("q"), unique("ex"));
    let to = sink.at("/t");
    setup(&h, json!({}), &[trigger("all", &to, json!({}))]);
    apply(
        &h,
        &[
            secret("rabbit", GOOD_URI),
            source(
                "rmq",
                &queue,
                &exchange,
                json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                               "name": "default"}}),
                json!({"ceOverrides": {"extensions": {"team": "herald"}}}),
            ),
        ],
    );
    ready(&h, "rmq");
    let src = format!("/apis/v1/namespaces/default/rabbitmqsources/rmq#{queue}");
    assert_eq!(
        h.kubectl_ok(&[
            "get",
            "rabbitmqsource",
            "rmq",
            "-o",
            "jsonpath={.status.ceAttributes[0].type} {.status.ceAttributes[0].source}"
        ]),
        format!("{TYPE} {src}")
    );

    let p = BasicProperties::default()
        .with_message_id("plain-1")
        .with_content_type("text/plain")
        .with_timestamp(1_700_000_000)
        .finish();
    let binary = BasicProperties::default()
        .with_content_type("application/json")
        .with_headers(header_table(&[
            ("specversion", "1.0"),
            ("id", "bin-1"),
            ("type", "com.example.order"),
            ("source", "/orders"),
            ("subject", "o-7"),
            ("x-internal", "not an attribute"),
        ]))
        .finish();
    let structured = BasicProperties::default()
        .with_content_type("application/cloudevents+json")
        .finish();
    let malformed = BasicProperties::default()
        .with_message_id("bad-1")
        .with_content_type("application/cloudevents+json")
        .finish();
    publish(
        &queue,
        &exchange,
        vec![
            (p, b"hello rabbit".to_vec()),
            (binary, br#"{"n":1}"#.to_vec()),
            (
                structured,
                br#"{"specversion":"1.0","id":"str-1","type":"com.example.s","data":{"k":"v"}}"#
                    .to_vec(),
            ),
            (malformed, b"{not json".to_vec()),
        ],
    );
    let want: BTreeSet<String> = ["plain-1", "bin-1", "str-1", "bad-1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let got = wait_ids(&sink, "/t", &want, &h);

    let e = with_id(&got, "plain-1");
    assert_eq!(e.header("ce-type"), Some(TYPE));
    assert_eq!(e.header("ce-source"), Some(src.as_str()));
    assert_eq!(e.header("ce-subject"), Some("plain-1"));
    assert_eq!(e.header("ce-time"), Some("2023-11-14T22:13:20Z"));
    assert_eq!(e.header("ce-team"), Some("herald"));
    assert_eq!(e.header("content-type"), Some("text/plain"));
    assert_eq!(e.body_str(), "hello rabbit");

    let e = with_id(&got, "bin-1");
    assert_eq!(e.header("ce-type"), Some("com.example.order"));
    assert_eq!(e.header("ce-source"), Some("/orders"));
    assert_eq!(e.header("ce-subject"), Some("o-7"));
    assert_eq!(e.header("ce-x-internal"), None);
    assert_eq!(e.header("content-type"), Some("application/json"));
    assert_eq!(e.body_str(), r#"{"n":1}"#);

    // Structured: passes through, the missing source filled with the source's own.
    let e = with_id(&got, "str-1");
    assert_eq!(e.header("ce-type"), Some("com.example.s"));
    assert_eq!(e.header("ce-source"), Some(src.as_str()));
    assert_eq!(e.body_str(), r#"{"k":"v"}"#);

    // Claims to be a CloudEvent but is not JSON: wrapped, body intact (documented choice).
    let e = with_id(&got, "bad-1");
    assert_eq!(e.header("ce-type"), Some(TYPE));
    assert_eq!(e.body_str(), "{not json");

    // The registry: one EventType for the Broker sink (v1beta3 `spec.attributes`).
    let want = vec![(TYPE.to_string(), src.clone())];
    let deadline = Instant::now() + EVENTS_WAIT;
    loop {
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
        let pairs: Vec<(String, String)> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|et| (attr(et, "type"), attr(et, "source")))
            .collect();
        if pairs == want || Instant::now() > deadline {
            assert_eq!(pairs, want);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(h);
    cleanup(&queue, &exchange);
}

/// A sink failure after the last retry nacks the message with requeue: RabbitMQ redelivers it
/// and it is acked once the sink accepts it.
#[test]
fn a_failed_delivery_is_requeued_and_redelivered() {
    let sink = Sink::start();
    let h = Herald::start();
    let (queue, exchange) = (unique("q"), unique("ex"));
    sink.script("/s", vec![Reply::status(500)]);
    apply(
        &h,
        &[
            secret("rabbit", GOOD_URI),
            source(
                "rmq",
                &queue,
                &exchange,
                json!({"uri": sink.at("/s")}),
                json!({"delivery": {"retry": 0}}),
            ),
        ],
    );
    ready(&h, "rmq");
    publish(&queue, &exchange, vec![plain("again-1", "x")]);
    let got = sink.wait_for("/s", 2, EVENTS_WAIT);
    assert_eq!(id_set(&got), BTreeSet::from(["again-1".to_string()]));
    // Acked after the 202: no third delivery.
    sink.expect_no_more("/s", 2, Duration::from_secs(2));
    drop(h);
    cleanup(&queue, &exchange);
}

/// Killing Herald (SIGKILL) mid-stream loses nothing: unacked messages are redelivered to the
/// restarted Herald, so every published message arrives at least once.
#[test]
fn kill9_mid_stream_loses_nothing() {
    let sink = Sink::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut h = Herald::start_in(&data);
    let (queue, exchange) = (unique("q"), unique("ex"));
    sink.fallback("/k", Reply::status(202).delay(Duration::from_millis(100)));
    apply(
        &h,
        &[
            secret("rabbit", GOOD_URI),
            source(
                "rmq",
                &queue,
                &exchange,
                json!({"uri": sink.at("/k")}),
                json!({"rabbitmqResourcesConfig": {"queueName": queue, "exchangeName": exchange,
                                                   "parallelism": 4}}),
            ),
        ],
    );
    ready(&h, "rmq");
    let want: BTreeSet<String> = (0..40).map(|i| format!("k-{i}")).collect();
    publish(
        &queue,
        &exchange,
        want.iter().map(|id| plain(id, "payload")).collect(),
    );
    sink.wait_for("/k", 5, EVENTS_WAIT);
    h.kill9();
    let h = Herald::start_in(&data);
    wait_ids(&sink, "/k", &want, &h);
    drop(h);
    cleanup(&queue, &exchange);
}

/// An unreachable RabbitMQ makes the source not Ready with a clear reason; pointing the
/// connection Secret at the real one recovers without touching the source.
#[test]
fn unreachable_backend_is_not_ready_and_recovers() {
    let sink = Sink::start();
    let h = Herald::start();
    let (queue, exchange) = (unique("q"), unique("ex"));
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    apply(
        &h,
        &[
            secret("rabbit", &format!("amqp://guest:guest@127.0.0.1:{port}")),
            source(
                "rmq",
                &queue,
                &exchange,
                json!({"uri": sink.at("/u")}),
                json!({}),
            ),
        ],
    );
    let reason = "{.status.conditions[?(@.type==\"Ready\")].reason}";
    h.wait_jsonpath_within(&["rabbitmqsource", "rmq"], READY, "False", EVENTS_WAIT);
    h.wait_jsonpath_within(
        &["rabbitmqsource", "rmq"],
        reason,
        "ConnectionFailed",
        EVENTS_WAIT,
    );
    let msg = h.kubectl_ok(&[
        "get",
        "rabbitmqsource",
        "rmq",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].message}",
    ]);
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "message: {msg}");

    apply(&h, &[secret("rabbit", GOOD_URI)]);
    ready(&h, "rmq");
    publish(&queue, &exchange, vec![plain("back-1", "x")]);
    let got = sink.wait_for("/u", 1, EVENTS_WAIT);
    assert_eq!(got[0].header("ce-id"), Some("back-1"));
    drop(h);
    cleanup(&queue, &exchange);
}

/// A cluster named without a connection Secret cannot be resolved without an operator.
#[test]
fn cluster_name_without_connection_secret_is_not_ready() {
    let h = Herald::start();
    let mut s = source(
        "rmq",
        "q",
        "ex",
        json!({"uri": "http://127.0.0.1:1/"}),
        json!({}),
    );
    s["spec"]["rabbitmqClusterReference"] = json!({"name": "my-cluster"});
    apply(&h, &[s]);
    let reason = "{.status.conditions[?(@.type==\"Ready\")].reason}";
    h.wait_jsonpath_within(
        &["rabbitmqsource", "rmq"],
        reason,
        "ClusterUnresolvable",
        EVENTS_WAIT,
    );
}

/// A TCP forwarder to RabbitMQ that the test can take down (closing every connection) and
/// bring back on the same port: the back end "going away" without touching the shared server.
struct Proxy {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(port: u16) -> Proxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let (s, c) = (stop.clone(), conns.clone());
        let accept = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok((down, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let Ok(up) = std::net::TcpStream::connect("127.0.0.1:5672") else {
                    continue;
                };
                down.set_nonblocking(false).unwrap();
                let mut list = c.lock().unwrap();
                list.push(down.try_clone().unwrap());
                list.push(up.try_clone().unwrap());
                for (mut from, mut to) in [
                    (down.try_clone().unwrap(), up.try_clone().unwrap()),
                    (up, down),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy {
            port,
            stop,
            conns,
            accept: Some(accept),
        }
    }

    /// Closes the listener and every forwarded connection.
    fn down(mut self) -> u16 {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(a) = self.accept.take() {
            a.join().unwrap();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        self.port
    }
}

/// RabbitMQ going away while the source consumes: not Ready with a clear reason, then Ready
/// again and consuming once it is back (DP-56 readiness).
#[test]
fn backend_going_away_mid_stream_is_reported_and_recovered() {
    let sink = Sink::start();
    let h = Herald::start();
    let (queue, exchange) = (unique("q"), unique("ex"));
    let proxy = Proxy::start(0);
    apply(
        &h,
        &[
            secret(
                "rabbit",
                &format!("amqp://guest:guest@127.0.0.1:{}", proxy.port),
            ),
            source(
                "rmq",
                &queue,
                &exchange,
                json!({"uri": sink.at("/g")}),
                json!({}),
            ),
        ],
    );
    ready(&h, "rmq");
    publish(&queue, &exchange, vec![plain("before", "x")]);
    sink.wait_for("/g", 1, EVENTS_WAIT);

    let port = proxy.down();
    h.wait_jsonpath_within(&["rabbitmqsource", "rmq"], READY, "False", EVENTS_WAIT);
    let reason = h.kubectl_ok(&[
        "get",
        "rabbitmqsource",
        "rmq",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}",
    ]);
    assert!(
        reason == "ConnectionLost" || reason == "ConnectionFailed",
        "reason: {reason}"
    );
    // Published while the source is away: waits in the queue.
    publish(&queue, &exchange, vec![plain("during", "x")]);

    let _proxy = Proxy::start(port);
    ready(&h, "rmq");
    let got = sink.wait_for("/g", 2, EVENTS_WAIT);
    assert_eq!(
        id_set(&got),
        BTreeSet::from(["before".to_string(), "during".to_string()])
    );
    drop(h);
    cleanup(&queue, &exchange);
}
