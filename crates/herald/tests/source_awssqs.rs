//! AwsSqsSource against a real SQS API: moto's server (`moto[server]` from PyPI, in the test
//! venv that ./test.sh makes), started per test on a free port; messages are sent with boto3.
//! Reference §7 (AwsSqsSource row: `aws.sqs.message`, source = queue URL, id = MessageId, time =
//! SentTimestamp, data = the whole SQS message) and §5.6 DP-56..DP-59 (the source contract).

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Herald;
use common::broker::*;
use common::sink::{Received, Reply, Sink};
use serde_json::{Value, json};

/// Generous: a loaded 2-core CI machine.
const EVENTS_WAIT: Duration = Duration::from_secs(60);
const REASON: &str = "{.status.conditions[?(@.type==\"Ready\")].reason}";

fn python() -> String {
    std::env::var("HERALD_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "HERALD_TEST_PYTHON is not set: run ./test.sh (its virtualenv has moto[server] and \
             boto3), or set HERALD_TEST_PYTHON to a Python with `moto[server]` installed"
        )
    })
}

/// A moto server this test started (and kills when dropped).
struct Moto {
    child: Option<Child>,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut m = Moto { child: None, port };
        m.launch(true);
        m
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// (Re)starts moto on the same port (with empty state) and waits until it answers. Our own
    /// child must be the one listening: a free port picked earlier can be taken meanwhile by a
    /// parallel test, and then our moto exits; it is started again (a new port on the first
    /// start, the same one on a restart, which only a lost race can block).
    fn restart(&mut self) {
        self.launch(false);
    }

    fn launch(&mut self, may_move: bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut child = Command::new(python())
                .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
                .arg(self.port.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server (pip install 'moto[server]')");
            let alive = loop {
                assert!(
                    Instant::now() < deadline,
                    "moto did not start on {}",
                    self.port
                );
                if child.try_wait().ok().flatten().is_some() {
                    break false;
                }
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    std::thread::sleep(Duration::from_millis(200));
                    break child.try_wait().ok().flatten().is_none();
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            if alive {
                self.child = Some(child);
                return;
            }
            let _ = child.wait();
            if may_move {
                self.port = TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .expect("free port")
                    .port();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn sqs(&self, args: &[&str], stdin: &str) -> String {
        let script = format!("{}/tests/python/sqs.py", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new(python())
            .arg(script)
            .arg(args[0])
            .arg(self.endpoint())
            .args(&args[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sqs.py");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("sqs.py output");
        assert!(
            out.status.success(),
            "sqs.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Creates a queue with a short visibility timeout (so undeleted messages come back fast).
    fn create_queue(&self, visibility_secs: u32) -> String {
        let name = format!("herald-{}", uuid::Uuid::new_v4().simple());
        self.sqs(&["create", &name, &visibility_secs.to_string()], "")
    }

    /// Sends messages (`{"body", "attributes"}`), returns their MessageIds.
    fn send(&self, queue_url: &str, messages: &Value) -> Vec<String> {
        let out = self.sqs(&["send", queue_url], &messages.to_string());
        serde_json::from_str(&out).expect("message ids")
    }

    fn count(&self, queue_url: &str) -> u64 {
        self.sqs(&["count", queue_url], "").parse().expect("count")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Secret holding an AWS shared credentials file, as eventing-awssqs mounts it.
fn creds_secret() -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "aws-credentials"},
           "stringData": {"credentials":
               "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n"}})
}

fn sqs_source(name: &str, queue_url: &str, sink: Value) -> Value {
    json!({"apiVersion": "sources.knative.dev/v1alpha1", "kind": "AwsSqsSource",
           "metadata": {"name": name},
           "spec": {"queueUrl": queue_url,
                    "awsCredsSecret": {"name": "aws-credentials", "key": "credentials"},
                    "sink": sink}})
}

/// Waits (up to a minute: the source backs off up to 10 s between polls) for the Ready
/// condition's status, showing the conditions and Herald's log when it does not come.
fn wait_ready(h: &Herald, name: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = h.kubectl(&[
            "get",
            "awssqssource",
            name,
            "-o",
            &format!("jsonpath={READY}"),
        ]);
        if String::from_utf8_lossy(&out.stdout) == want {
            return;
        }
        if Instant::now() > deadline {
            let conds = h.kubectl_ok(&["get", "awssqssource", name, "-o", "jsonpath={.status}"]);
            panic!("{name} never Ready={want}: {conds}\n{}", h.log());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn body_json(r: &Received) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body_str()))
}

/// DP-56/DP-59, §7: messages sent with boto3 reach a Broker's Trigger as `aws.sqs.message`
/// events with exact attributes and the whole SQS message as data; delivered messages are
/// deleted (nothing comes back after the visibility timeout); the EventType is registered.
#[test]
fn dp56_messages_reach_a_broker_trigger_with_exact_attributes() {
    let moto = Moto::start();
    let queue = moto.create_queue(2);
    let sink = Sink::start();
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[trigger("all", &sink.at("/sqs"), json!({}))],
    );
    let broker_ref = json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}});
    apply(
        &h,
        &[creds_secret(), sqs_source("orders", &queue, broker_ref)],
    );
    h.wait_jsonpath(&["awssqssource", "orders"], READY, "True");
    h.wait_jsonpath(
        &["awssqssource", "orders"],
        "{.status.ceAttributes[0].type} {.status.ceAttributes[0].source}",
        &format!("aws.sqs.message {queue}"),
    );

    // A plain text body, a JSON body with HTML-sensitive characters and a message attribute,
    // and a body that is itself a structured CloudEvent (wrapped like any other body: §7).
    let ce = json!({"specversion": "1.0", "id": "inner", "source": "/x", "type": "t"}).to_string();
    let bodies = [
        json!({"body": "hello sqs"}),
        json!({"body": "{\"order\": \"<1&2>\"}", "attributes": {"team": "herald"}}),
        json!({"body": ce}),
    ];
    let before = jiff::Timestamp::now();
    let ids = moto.send(&queue, &json!(bodies));
    let got = sink.wait_for("/sqs", 3, EVENTS_WAIT);
    for (i, id) in ids.iter().enumerate() {
        let r = with_id(&got, id);
        assert_eq!(r.header("ce-specversion"), Some("1.0"));
        assert_eq!(r.header("ce-type"), Some("aws.sqs.message"));
        assert_eq!(r.header("ce-source"), Some(queue.as_str()));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let data = body_json(r);
        assert_eq!(data["MessageId"], json!(id));
        assert_eq!(data["Body"], bodies[i]["body"]);
        let sent: i64 = data["Attributes"]["SentTimestamp"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("SentTimestamp in {data}"));
        let time: jiff::Timestamp = r.header("ce-time").expect("ce-time").parse().expect("time");
        assert_eq!(time.as_millisecond(), sent, "ce-time is SentTimestamp");
        assert!(
            (time.as_second() - before.as_second()).abs() < 120,
            "{time} vs {before}"
        );
        let keys: Vec<&str> = data
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "Attributes",
                "Body",
                "MD5OfBody",
                "MD5OfMessageAttributes",
                "MessageAttributes",
                "MessageId",
                "ReceiptHandle"
            ],
            "aws-sdk-go's sqs.Message fields: {data}"
        );
        assert!(
            data["ReceiptHandle"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        assert_eq!(data["MD5OfBody"].as_str().map(str::len), Some(32), "{data}");
    }
    let with_attr = body_json(with_id(&got, &ids[1]));
    assert_eq!(
        with_attr["MessageAttributes"],
        json!({"team": {"BinaryListValues": null, "BinaryValue": null, "DataType": "String",
                        "StringListValues": null, "StringValue": "herald"}})
    );
    assert!(
        String::from_utf8_lossy(&with_id(&got, &ids[1]).body).contains("\\u003c1\\u00262\\u003e"),
        "Go's encoding/json escapes <, & and >"
    );

    // Delivered messages were deleted: nothing is redelivered after the visibility timeout.
    sink.expect_no_more("/sqs", 3, Duration::from_secs(5));
    assert_eq!(moto.count(&queue), 0);

    // The registry: one EventType for the Broker sink (issue 7).
    let types = h.kubectl_ok(&["get", "eventtypes", "-o", "json"]);
    let types: Value = serde_json::from_str(&types).expect("eventtypes");
    let attr = |t: &Value, name: &str| {
        t["spec"]["attributes"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == json!(name)))
            .map(|x| x["value"].clone())
    };
    let found = types["items"].as_array().expect("items").iter().any(|t| {
        attr(t, "type") == Some(json!("aws.sqs.message")) && attr(t, "source") == Some(json!(queue))
    });
    assert!(found, "no aws.sqs.message EventType for {queue}: {types:#}");
}

/// At-least-once across a crash: Herald is SIGKILLed while messages are being delivered to a
/// slow sink; after a restart on the same data directory every message arrives (messages not
/// deleted before the crash come back after the 2 s visibility timeout).
#[test]
fn kill9_mid_stream_loses_nothing() {
    let moto = Moto::start();
    let queue = moto.create_queue(2);
    let sink = Sink::start();
    sink.fallback(
        "/slow",
        Reply::status(202).delay(Duration::from_millis(300)),
    );
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let mut h = Herald::start_in(&data);
    apply(
        &h,
        &[
            creds_secret(),
            sqs_source("crash", &queue, json!({"uri": sink.at("/slow")})),
        ],
    );
    h.wait_jsonpath(&["awssqssource", "crash"], READY, "True");
    let messages: Vec<Value> = (0..15).map(|i| json!({"body": format!("m{i}")})).collect();
    let ids = moto.send(&queue, &json!(messages));
    sink.wait_for("/slow", 3, EVENTS_WAIT);
    h.kill9();
    let h = Herald::start_in(&data);
    h.wait_jsonpath(&["awssqssource", "crash"], READY, "True");
    let deadline = Instant::now() + EVENTS_WAIT;
    loop {
        let got = sink.received("/slow");
        let missing: Vec<&String> = ids
            .iter()
            .filter(|id| !got.iter().any(|r| r.header("ce-id") == Some(id.as_str())))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never delivered: {missing:?}\n{}",
            h.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Everything delivered is eventually deleted.
    let deadline = Instant::now() + EVENTS_WAIT;
    while moto.count(&queue) != 0 {
        assert!(Instant::now() < deadline, "messages left in the queue");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// DP-56: the SQS endpoint going away makes the source not Ready with a clear reason; when it
/// comes back (moto restarts empty, so the queue is created again) the source is Ready again
/// and delivers.
#[test]
fn endpoint_down_is_not_ready_and_recovers() {
    let mut moto = Moto::start();
    let name = format!("herald-{}", uuid::Uuid::new_v4().simple());
    let queue = moto.sqs(&["create", &name, "2"], "");
    let sink = Sink::start();
    let h = Herald::start();
    apply(
        &h,
        &[
            creds_secret(),
            sqs_source("flaky", &queue, json!({"uri": sink.at("/flaky")})),
        ],
    );
    h.wait_jsonpath(&["awssqssource", "flaky"], READY, "True");

    moto.stop();
    h.wait_jsonpath(&["awssqssource", "flaky"], REASON, "ConnectionFailed");
    h.wait_jsonpath(&["awssqssource", "flaky"], READY, "False");
    let msg = h.kubectl_ok(&[
        "get",
        "awssqssource",
        "flaky",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].message}",
    ]);
    assert!(
        msg.contains(&moto.endpoint()),
        "the message names the endpoint: {msg}"
    );

    moto.restart();
    assert_eq!(
        moto.sqs(&["create", &name, "2"], ""),
        queue,
        "same queue URL"
    );
    wait_ready(&h, "flaky", "True");
    let ids = moto.send(&queue, &json!([{"body": "back"}]));
    let got = sink.wait_for("/flaky", 1, EVENTS_WAIT);
    assert_eq!(got[0].header("ce-id"), Some(ids[0].as_str()));
}

/// A spec without credentials (no Secret, no AWS_* variables in Herald's environment) or with a
/// missing Secret is not Ready with a reason saying so.
#[test]
fn missing_credentials_are_reported() {
    let h = Herald::start();
    let sink = Sink::start();
    apply(
        &h,
        &[sqs_source(
            "nosecret",
            "http://127.0.0.1:9/1/q",
            json!({"uri": sink.at("/x")}),
        )],
    );
    h.wait_jsonpath(&["awssqssource", "nosecret"], REASON, "SecretNotFound");
    h.wait_jsonpath(&["awssqssource", "nosecret"], READY, "False");
}

/// The seeds' shape: `sources.eventing.knative.dev/v1alpha1` with an ObjectReference sink runs
/// the same source (stored as `sources.knative.dev/v1alpha1`).
#[test]
fn seeds_legacy_group_delivers_too() {
    let moto = Moto::start();
    let queue = moto.create_queue(2);
    let sink = Sink::start();
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[trigger("all", &sink.at("/legacy"), json!({}))],
    );
    let legacy = json!({
        "apiVersion": "sources.eventing.knative.dev/v1alpha1", "kind": "AwsSqsSource",
        "metadata": {"name": "seeds"},
        "spec": {"queueUrl": queue,
                 "awsCredsSecret": {"name": "aws-credentials", "key": "credentials"},
                 "sink": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                          "name": "default"}}});
    apply(&h, &[creds_secret(), legacy]);
    wait_ready(&h, "seeds", "True");
    let ids = moto.send(&queue, &json!([{"body": "from the seeds"}]));
    let got = sink.wait_for("/legacy", 1, EVENTS_WAIT);
    let r = with_id(&got, &ids[0]);
    assert_eq!(r.header("ce-type"), Some("aws.sqs.message"));
    assert_eq!(r.header("ce-source"), Some(queue.as_str()));
    assert_eq!(body_json(r)["Body"], json!("from the seeds"));
}

/// At-least-once when the sink refuses: a 400 (not retried by the emitter) leaves the message in
/// the queue, SQS redelivers it after the 2 s visibility timeout, and the second, accepted,
/// delivery deletes it. `ceOverrides` extensions go on every event (DP-57).
#[test]
fn dp57_refused_event_is_redelivered_after_the_visibility_timeout() {
    let moto = Moto::start();
    let queue = moto.create_queue(2);
    let sink = Sink::start();
    sink.script("/refuse", vec![Reply::status(400)]);
    let h = Herald::start();
    let mut source = sqs_source("refused", &queue, json!({"uri": sink.at("/refuse")}));
    source["spec"]["ceOverrides"] = json!({"extensions": {"team": "herald"}});
    apply(&h, &[creds_secret(), source]);
    wait_ready(&h, "refused", "True");
    let ids = moto.send(&queue, &json!([{"body": "try again"}]));
    let got = sink.wait_for("/refuse", 2, EVENTS_WAIT);
    for r in &got {
        assert_eq!(r.header("ce-id"), Some(ids[0].as_str()));
        assert_eq!(r.header("ce-team"), Some("herald"));
    }
    let gap = got[1].at.duration_since(got[0].at);
    assert!(
        gap >= Duration::from_millis(1500),
        "redelivered by SQS after the visibility timeout, not retried at once: {gap:?}"
    );
    let deadline = Instant::now() + EVENTS_WAIT;
    while moto.count(&queue) != 0 {
        assert!(
            Instant::now() < deadline,
            "the accepted message was not deleted"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    sink.expect_no_more("/refuse", 2, Duration::from_secs(4));
}
