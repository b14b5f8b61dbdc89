//! NatsJetStreamSource against a real NATS server with JetStream (the machine's on
//! 127.0.0.1:4222, or one this test starts itself for the outage test), black-box with kubectl
//! (reference §5.6 DP-56/DP-57; the event format is Herald's, docs/sources/natsjetstream.md).
//! Messages are published with the NATS protocol itself (a small client below); every test
//! uses its own stream and subjects so tests can run in parallel against the shared server.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Herald;
use common::broker::*;
use common::sink::{Reply, Sink};
use serde_json::{Value, json};

const NATS: &str = "127.0.0.1:4222";
/// Generous: a loaded 2-core CI machine.
const EVENTS_WAIT: Duration = Duration::from_secs(60);
const TYPE: &str = "dev.herald.sources.natsjetstream";

/// The test client's byte stream: TCP, or rustls over it.
trait Io: Read + Write + Send {}
impl<T: Read + Write + Send> Io for T {}

/// A minimal synchronous NATS client: publishes (with headers) and JetStream API requests.
/// Writes go through `r.get_mut()`: the buffer only holds what was read.
struct Nats {
    r: BufReader<Box<dyn Io>>,
    inbox: String,
    n: u64,
}

impl Nats {
    fn connect(addr: &str) -> Nats {
        Nats::connect_with(addr, json!({}))
    }

    fn connect_as(addr: &str, user: &str, pass: &str) -> Nats {
        Nats::connect_with(addr, json!({"user": user, "pass": pass}))
    }

    fn connect_with(addr: &str, opts: Value) -> Nats {
        Nats::connect_full(addr, opts, None)
    }

    /// Over TLS, trusting the CA in `ca_pem`.
    fn connect_tls(addr: &str, ca_pem: &str) -> Nats {
        Nats::connect_full(addr, json!({}), Some(ca_pem))
    }

    fn connect_full(addr: &str, mut opts: Value, ca_pem: Option<&str>) -> Nats {
        let tcp = TcpStream::connect(addr).unwrap_or_else(|e| panic!("NATS at {addr}: {e}"));
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        // INFO comes in plain text; a TLS server then waits for the handshake.
        let mut info = String::new();
        let mut plain = BufReader::new(tcp);
        plain.read_line(&mut info).unwrap();
        assert!(info.starts_with("INFO "), "{info}");
        let tcp = plain.into_inner();
        let stream: Box<dyn Io> = match ca_pem {
            None => Box::new(tcp),
            Some(pem) => {
                use rustls::pki_types::CertificateDer;
                use rustls::pki_types::pem::PemObject;
                let mut roots = rustls::RootCertStore::empty();
                for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    roots.add(c.unwrap()).unwrap();
                }
                let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
                let name = "localhost".try_into().unwrap();
                let conn =
                    rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
                Box::new(rustls::StreamOwned::new(conn, tcp))
            }
        };
        let mut n = Nats {
            r: BufReader::new(stream),
            inbox: format!("_INBOX.test{}", uuid::Uuid::new_v4().simple()),
            n: 0,
        };
        opts["verbose"] = json!(false);
        opts["headers"] = json!(true);
        opts["no_responders"] = json!(true);
        let sub = format!("CONNECT {opts}\r\nSUB {}.* 1\r\nPING\r\n", n.inbox);
        n.r.get_mut().write_all(sub.as_bytes()).unwrap();
        loop {
            let l = n.line();
            if l == "PONG" {
                return n;
            }
            assert!(!l.starts_with("-ERR"), "{l}");
        }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        l.trim_end().to_string()
    }

    /// Sends a request and returns the reply's payload.
    fn request(&mut self, subject: &str, headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
        self.n += 1;
        let reply = format!("{}.{}", self.inbox, self.n);
        let mut out = if headers.is_empty() {
            format!("PUB {subject} {reply} {}\r\n", payload.len()).into_bytes()
        } else {
            let mut h = "NATS/1.0\r\n".to_string();
            for (k, v) in headers {
                h.push_str(&format!("{k}: {v}\r\n"));
            }
            h.push_str("\r\n");
            let mut o = format!(
                "HPUB {subject} {reply} {} {}\r\n",
                h.len(),
                h.len() + payload.len()
            )
            .into_bytes();
            o.extend_from_slice(h.as_bytes());
            o
        };
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
        self.r.get_mut().write_all(&out).unwrap();
        loop {
            let l = self.line();
            if l == "PING" {
                self.r.get_mut().write_all(b"PONG\r\n").unwrap();
                continue;
            }
            let parts: Vec<&str> = l.split(' ').collect();
            let (subj, total, hdr) = match parts[0] {
                "MSG" => (parts[1], parts[parts.len() - 1], "0"),
                "HMSG" => (parts[1], parts[parts.len() - 1], parts[parts.len() - 2]),
                _ => continue,
            };
            let (total, hdr): (usize, usize) = (total.parse().unwrap(), hdr.parse().unwrap());
            let mut body = vec![0; total + 2];
            self.r.read_exact(&mut body).unwrap();
            if subj == reply {
                return body[hdr..total].to_vec();
            }
        }
    }

    fn api(&mut self, subject: &str, body: Value) -> Value {
        let reply = self.request(subject, &[], body.to_string().as_bytes());
        serde_json::from_slice(&reply).unwrap()
    }

    /// Publishes into JetStream and returns the stream sequence of the stored message.
    fn publish(&mut self, subject: &str, headers: &[(&str, &str)], payload: &[u8]) -> u64 {
        let ack: Value = serde_json::from_slice(&self.request(subject, headers, payload)).unwrap();
        ack["seq"]
            .as_u64()
            .unwrap_or_else(|| panic!("no PubAck for {subject}: {ack}"))
    }

    fn delete_stream(&mut self, stream: &str) {
        self.api(&format!("$JS.API.STREAM.DELETE.{stream}"), json!({}));
    }
}

/// A unique stream name and subject prefix for one test.
fn names() -> (String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    (format!("HERALD_{id}"), format!("herald.test.{id}"))
}

fn source(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "sources.herald.dev/v1alpha1", "kind": "NatsJetStreamSource",
           "metadata": {"name": name}, "spec": spec})
}

fn broker_sink() -> Value {
    json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}})
}

fn ready(h: &Herald, name: &str) {
    h.wait_jsonpath(&["natsjetstreamsource", name], READY, "True");
}

/// The consumer's state once everything delivered is acknowledged.
fn wait_all_acked(nats: &mut Nats, stream: &str, consumer: &str, last_seq: u64) -> Value {
    let deadline = Instant::now() + EVENTS_WAIT;
    loop {
        let info = nats.api(
            &format!("$JS.API.CONSUMER.INFO.{stream}.{consumer}"),
            json!({}),
        );
        if info["ack_floor"]["stream_seq"] == json!(last_seq) && info["num_ack_pending"] == json!(0)
        {
            return info;
        }
        assert!(Instant::now() < deadline, "not all acknowledged: {info}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Plain messages become `dev.herald.sources.natsjetstream` events, CloudEvents (binary `ce-*`
/// headers or structured JSON) pass through, a message that claims to be a CloudEvent but is
/// invalid is wrapped; all reach a Broker's Trigger (DP-56) with the ceOverrides (DP-57), are
/// acknowledged only after that, and the source's EventType is registered for the Broker.
#[test]
fn dp56_dp57_messages_reach_a_trigger_with_exact_attributes_and_register_event_types() {
    let (stream, prefix) = names();
    let mut nats = Nats::connect(NATS);
    let sink = Sink::start();
    let h = Herald::start();
    setup(&h, json!({}), &[trigger("all", &sink.at("/t"), json!({}))]);
    apply(
        &h,
        &[source(
            "orders",
            json!({"stream": stream, "subjects": [format!("{prefix}.>")],
                   "subject": format!("{prefix}.orders.*"), "consumerName": "herald-orders",
                   "ackWait": "5s", "ceOverrides": {"extensions": {"team": "herald"}},
                   "sink": broker_sink()}),
        )],
    );
    ready(&h, "orders");
    let src = format!("/apis/v1/namespaces/default/natsjetstreamsources/orders#{stream}");
    h.wait_jsonpath(
        &["natsjetstreamsource", "orders"],
        "{.status.ceAttributes[0].type} {.status.ceAttributes[0].source} {.status.sinkUri}",
        &format!("{TYPE} {src} {}", broker_url(&h)),
    );

    let plain = nats.publish(
        &format!("{prefix}.orders.created"),
        &[("Content-Type", "application/json")],
        br#"{"order": 1}"#,
    );
    nats.publish(
        &format!("{prefix}.orders.binary"),
        &[
            ("ce-specversion", "1.0"),
            ("ce-id", "ce-binary-1"),
            ("ce-source", "/my/app"),
            ("ce-type", "com.example.order"),
            ("ce-subject", "o-2"),
            ("ce-priority", "high"),
            ("content-type", "text/plain"),
        ],
        b"two",
    );
    nats.publish(
        &format!("{prefix}.orders.structured"),
        &[("content-type", "application/cloudevents+json")],
        br#"{"specversion":"1.0","id":"ce-structured-1","source":"/my/app","type":"com.example.order","datacontenttype":"application/json","data":{"order":3}}"#,
    );
    let malformed = nats.publish(
        &format!("{prefix}.orders.bad"),
        &[("ce-specversion", "1.0"), ("ce-id", "no-source-or-type")],
        b"four",
    );
    // Outside the filter subject: stored in the stream, never delivered.
    nats.publish(&format!("{prefix}.other"), &[], b"filtered out");
    let last = nats.publish(&format!("{prefix}.orders.empty"), &[], b"");

    let got = sink.wait_for("/t", 5, EVENTS_WAIT);
    let p = with_id(&got, &format!("{stream}:{plain}"));
    assert_eq!(p.header("ce-specversion"), Some("1.0"));
    assert_eq!(p.header("ce-type"), Some(TYPE));
    assert_eq!(p.header("ce-source"), Some(src.as_str()));
    assert_eq!(
        p.header("ce-subject"),
        Some(format!("{prefix}.orders.created").as_str())
    );
    assert_eq!(p.header("content-type"), Some("application/json"));
    assert_eq!(p.header("ce-team"), Some("herald"));
    assert_eq!(p.body_str(), r#"{"order": 1}"#);
    let time: jiff::Timestamp = p.header("ce-time").unwrap().parse().unwrap();
    let age = jiff::Timestamp::now().duration_since(time);
    assert!(
        age.as_secs() >= 0 && age.as_secs() < 120,
        "ce-time is the publication time: {time}"
    );

    let b = with_id(&got, "ce-binary-1");
    assert_eq!(b.header("ce-source"), Some("/my/app"));
    assert_eq!(b.header("ce-type"), Some("com.example.order"));
    assert_eq!(b.header("ce-subject"), Some("o-2"));
    assert_eq!(b.header("ce-priority"), Some("high"));
    assert_eq!(b.header("ce-team"), Some("herald"));
    assert_eq!(b.header("content-type"), Some("text/plain"));
    assert_eq!(b.body_str(), "two");

    let s = with_id(&got, "ce-structured-1");
    assert_eq!(s.header("ce-type"), Some("com.example.order"));
    assert_eq!(s.header("content-type"), Some("application/json"));
    assert_eq!(s.body_str(), r#"{"order":3}"#);

    let m = with_id(&got, &format!("{stream}:{malformed}"));
    assert_eq!(m.header("ce-type"), Some(TYPE));
    assert_eq!(m.body_str(), "four");

    let e = with_id(&got, &format!("{stream}:{last}"));
    assert_eq!(e.header("ce-type"), Some(TYPE));
    assert!(e.body.is_empty());
    sink.expect_no_more("/t", 5, Duration::from_secs(2));
    wait_all_acked(&mut nats, &stream, "herald-orders", last);

    // The registry: one EventType for the Broker sink, owned by the source.
    let list: Value =
        serde_json::from_str(&h.kubectl_ok(&["get", "eventtypes", "-o", "json"])).unwrap();
    let ets: Vec<&Value> = list["items"].as_array().unwrap().iter().collect();
    let found: Vec<(String, String)> = ets
        .iter()
        .map(|et| {
            let a = |n: &str| {
                et["spec"]["attributes"]
                    .as_array()
                    .and_then(|v| v.iter().find(|x| x["name"] == n))
                    .and_then(|x| x["value"].as_str())
                    .unwrap_or("")
                    .to_string()
            };
            (a("type"), a("source"))
        })
        .collect();
    assert_eq!(found, vec![(TYPE.to_string(), src.clone())], "{list}");
    assert_eq!(
        ets[0]["metadata"]["ownerReferences"][0]["kind"],
        "NatsJetStreamSource"
    );
    nats.delete_stream(&stream);
}

/// Killing Herald mid-delivery loses nothing acknowledged upstream: the message in flight
/// (its sink never answers) is redelivered after the ack wait, and everything published while
/// Herald was down arrives after the restart.
#[test]
fn kill9_mid_stream_loses_nothing() {
    let (stream, prefix) = names();
    let mut nats = Nats::connect(NATS);
    let sink = Sink::start();
    // The first delivery hangs until Herald is killed.
    sink.script(
        "/k",
        vec![Reply::status(202).delay(Duration::from_secs(120))],
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut h = Herald::start_in(&data);
    apply(
        &h,
        &[source(
            "durable",
            json!({"stream": stream, "subjects": [format!("{prefix}.>")], "ackWait": "3s",
                   "sink": {"uri": sink.at("/k")}}),
        )],
    );
    ready(&h, "durable");
    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(nats.publish(
            &format!("{prefix}.n"),
            &[],
            format!("before-{i}").as_bytes(),
        ));
    }
    sink.wait_for("/k", 1, EVENTS_WAIT);
    h.kill9();
    for i in 0..5 {
        seqs.push(nats.publish(&format!("{prefix}.n"), &[], format!("down-{i}").as_bytes()));
    }
    let h = Herald::start_in(&data);
    ready(&h, "durable");
    let deadline = Instant::now() + EVENTS_WAIT;
    let want: Vec<String> = seqs.iter().map(|s| format!("{stream}:{s}")).collect();
    loop {
        let got = sink.received("/k");
        let missing: Vec<&String> = want
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
    let consumer = "herald-default-durable";
    wait_all_acked(&mut nats, &stream, consumer, *seqs.last().unwrap());
    // The hung first message came again (at least once); every body is the one published.
    let got = sink.received("/k");
    let first = got
        .iter()
        .filter(|r| r.header("ce-id") == Some(want[0].as_str()))
        .count();
    assert!(
        first >= 2,
        "the unacknowledged message is redelivered: {got:#?}"
    );
    for r in &got {
        let seq: usize = r
            .header("ce-id")
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let i = seqs.iter().position(|s| *s as usize == seq).unwrap();
        let body = if i < 5 {
            format!("before-{i}")
        } else {
            format!("down-{}", i - 5)
        };
        assert_eq!(r.body_str(), body);
    }
    nats.delete_stream(&stream);
}

/// A NATS server of this test's own (never the machine's shared one), so it can be stopped.
struct OwnServer {
    child: Child,
}

impl OwnServer {
    fn start(port: u16, store: &std::path::Path) -> OwnServer {
        OwnServer::start_with(port, store, &[])
    }

    fn start_with(port: u16, store: &std::path::Path, extra: &[&str]) -> OwnServer {
        let bin = [
            "/usr/sbin/nats-server",
            "/usr/local/bin/nats-server",
            "nats-server",
        ]
        .into_iter()
        .find(|b| !b.starts_with('/') || std::path::Path::new(b).exists())
        .unwrap();
        let child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        OwnServer { child }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The back end unreachable: not Ready with `ConnectionFailed` and the dial error; it becomes
/// Ready once the server is there, goes not Ready when it stops, and recovers (delivering what
/// was published meanwhile) when it returns.
#[test]
fn backend_outage_is_reported_and_recovered() {
    let port = free_port();
    let store = tempfile::tempdir().unwrap();
    let (stream, prefix) = names();
    let sink = Sink::start();
    let h = Herald::start();
    apply(
        &h,
        &[source(
            "outage",
            json!({"url": format!("nats://127.0.0.1:{port}"), "stream": stream,
                   "subjects": [format!("{prefix}.>")], "sink": {"uri": sink.at("/o")}}),
        )],
    );
    let target = ["natsjetstreamsource", "outage"];
    h.wait_jsonpath(
        &target,
        "{.status.conditions[?(@.type==\"Ready\")].status} {.status.conditions[?(@.type==\"Ready\")].reason}",
        "False ConnectionFailed",
    );
    let msg = h.kubectl_ok(&[
        "get",
        "natsjetstreamsource",
        "outage",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].message}",
    ]);
    assert_eq!(
        msg,
        format!("dial tcp 127.0.0.1:{port}: connection refused")
    );

    let server = OwnServer::start(port, store.path());
    ready(&h, "outage");
    let mut nats = Nats::connect(&format!("127.0.0.1:{port}"));
    let one = nats.publish(&format!("{prefix}.a"), &[], b"one");
    sink.wait_for("/o", 1, EVENTS_WAIT);
    drop(nats);
    drop(server);
    h.wait_jsonpath(&target, READY, "False");
    let reason = h.kubectl_ok(&[
        "get",
        "natsjetstreamsource",
        "outage",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}",
    ]);
    assert!(
        reason == "ConnectionLost" || reason == "ConnectionFailed",
        "{reason}"
    );

    let _server = OwnServer::start(port, store.path());
    let mut nats = Nats::connect(&format!("127.0.0.1:{port}"));
    let two = nats.publish(&format!("{prefix}.a"), &[], b"two");
    ready(&h, "outage");
    let got = sink.wait_for("/o", 2, EVENTS_WAIT);
    assert_eq!(with_id(&got, &format!("{stream}:{one}")).body_str(), "one");
    assert_eq!(with_id(&got, &format!("{stream}:{two}")).body_str(), "two");
}

/// A missing stream without `subjects` is reported, not created; invalid specs are refused
/// with field paths.
#[test]
fn missing_stream_and_invalid_specs() {
    let (stream, _) = names();
    let sink = Sink::start();
    let h = Herald::start();
    apply(
        &h,
        &[source(
            "nostream",
            json!({"stream": stream, "sink": {"uri": sink.at("/x")}}),
        )],
    );
    h.wait_jsonpath(
        &["natsjetstreamsource", "nostream"],
        "{.status.conditions[?(@.type==\"Ready\")].reason}",
        "StreamNotFound",
    );
    let bad = source(
        "bad",
        json!({"stream": "a.b", "url": "http://x", "ackWait": "soon", "sink": {"uri": sink.at("/x")}}),
    );
    let out = h.kubectl_stdin(&["apply", "-f", "-"], Some(&bad.to_string()));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for field in ["spec.stream", "spec.url", "spec.ackWait"] {
        assert!(err.contains(field), "{field}: {err}");
    }
}

/// A final delivery failure (400 is not retried, DP-60's sinks accept with 2xx) does not
/// acknowledge: the message is answered `-NAK` with a delay and JetStream redelivers it with
/// the same `id`; once the sink accepts, it is acknowledged.
#[test]
fn rejected_event_is_redelivered_not_acked() {
    let (stream, prefix) = names();
    let mut nats = Nats::connect(NATS);
    let sink = Sink::start();
    sink.script("/r", vec![Reply::status(400)]);
    let h = Herald::start();
    apply(
        &h,
        &[source(
            "retry",
            json!({"stream": stream, "subjects": [format!("{prefix}.>")],
                   "sink": {"uri": sink.at("/r")}}),
        )],
    );
    ready(&h, "retry");
    let seq = nats.publish(&format!("{prefix}.x"), &[], b"again");
    let got = sink.wait_for("/r", 2, EVENTS_WAIT);
    let id = format!("{stream}:{seq}");
    assert!(
        got.iter().all(|r| r.header("ce-id") == Some(id.as_str())),
        "{got:#?}"
    );
    assert!(got.iter().all(|r| r.body_str() == "again"));
    let gap = got[1].at.duration_since(got[0].at);
    assert!(
        gap >= Duration::from_secs(4),
        "redelivered after the NAK delay: {gap:?}"
    );
    wait_all_acked(&mut nats, &stream, "herald-default-retry", seq);
    sink.expect_no_more("/r", 2, Duration::from_secs(1));
    nats.delete_stream(&stream);
}

/// A spec change restarts the source on the same durable consumer: nothing published before
/// or after the change is lost, and events after it carry the new ceOverrides (DP-57).
#[test]
fn spec_change_keeps_the_consumer_position() {
    let (stream, prefix) = names();
    let mut nats = Nats::connect(NATS);
    let sink = Sink::start();
    let h = Herald::start();
    let spec = |team: &str| {
        json!({"stream": stream, "subjects": [format!("{prefix}.>")], "ackWait": "3s",
               "ceOverrides": {"extensions": {"team": team}}, "sink": {"uri": sink.at("/c")}})
    };
    apply(&h, &[source("change", spec("red"))]);
    ready(&h, "change");
    let mut seqs = Vec::new();
    for i in 0..3 {
        seqs.push(nats.publish(&format!("{prefix}.a"), &[], format!("m{i}").as_bytes()));
    }
    sink.wait_for("/c", 3, EVENTS_WAIT);
    apply(&h, &[source("change", spec("blue"))]);
    h.wait_jsonpath(
        &["natsjetstreamsource", "change"],
        "{.status.observedGeneration} {.status.conditions[?(@.type==\"Ready\")].status}",
        "2 True",
    );
    for i in 3..6 {
        seqs.push(nats.publish(&format!("{prefix}.a"), &[], format!("m{i}").as_bytes()));
    }
    wait_all_acked(&mut nats, &stream, "herald-default-change", seqs[5]);
    let got = sink.received("/c");
    for (i, seq) in seqs.iter().enumerate() {
        let r = with_id(&got, &format!("{stream}:{seq}"));
        assert_eq!(r.body_str(), format!("m{i}"));
        if i >= 3 {
            assert_eq!(r.header("ce-team"), Some("blue"), "{r:?}");
        }
    }
    // At least once, and here exactly once: nothing was in flight during the change.
    assert_eq!(got.len(), 6, "{got:#?}");
    nats.delete_stream(&stream);
}

/// Credentials from a Secret (`spec.user`/`spec.password` secretKeyRefs): a wrong password is
/// refused by the server (`ConnectionFailed` with NATS's reason); fixing the Secret makes the
/// source Ready and deliver.
#[test]
fn credentials_from_a_secret() {
    let port = free_port();
    let store = tempfile::tempdir().unwrap();
    let _server = OwnServer::start_with(
        port,
        store.path(),
        &["--user", "herald", "--pass", "s3cret"],
    );
    let (stream, prefix) = names();
    let sink = Sink::start();
    let h = Herald::start();
    let secret = |pw: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "nats-creds"},
               "stringData": {"user": "herald", "password": pw}})
    };
    apply(
        &h,
        &[
            secret("wrong"),
            source(
                "auth",
                json!({"url": format!("nats://127.0.0.1:{port}"), "stream": stream,
                       "subjects": [format!("{prefix}.>")],
                       "user": {"secretKeyRef": {"name": "nats-creds", "key": "user"}},
                       "password": {"secretKeyRef": {"name": "nats-creds", "key": "password"}},
                       "sink": {"uri": sink.at("/a")}}),
            ),
        ],
    );
    let target = ["natsjetstreamsource", "auth"];
    h.wait_jsonpath(
        &target,
        "{.status.conditions[?(@.type==\"Ready\")].reason}",
        "ConnectionFailed",
    );
    let msg = h.kubectl_ok(&[
        "get",
        "natsjetstreamsource",
        "auth",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].message}",
    ]);
    assert!(msg.contains("Authorization Violation"), "{msg}");
    apply(&h, &[secret("s3cret")]);
    ready(&h, "auth");
    let mut nats = Nats::connect_as(&format!("127.0.0.1:{port}"), "herald", "s3cret");
    let seq = nats.publish(&format!("{prefix}.a"), &[], b"secret");
    let got = sink.wait_for("/a", 1, EVENTS_WAIT);
    assert_eq!(
        with_id(&got, &format!("{stream}:{seq}")).body_str(),
        "secret"
    );
}

/// TLS: a server that requires TLS (`--tls`) with a certificate from a private CA. Without the
/// CA the server is not trusted (`TLSHandshakeFailed`, even on a `nats://` URL: the server's INFO
/// asks for TLS); with `spec.tls.caCert` from a Secret the source is Ready and delivers.
#[test]
fn tls_with_the_servers_ca_from_a_secret() {
    let port = free_port();
    let store = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = common::tls::tls_files(certs.path());
    let _server = OwnServer::start_with(
        port,
        store.path(),
        &["--tls", "--tlscert", &cert, "--tlskey", &key],
    );
    let (stream, prefix) = names();
    let sink = Sink::start();
    let h = Herald::start();
    let url = format!("nats://localhost:{port}");
    let spec = |tls: Value| {
        json!({"url": url, "stream": stream, "subjects": [format!("{prefix}.>")], "tls": tls,
               "sink": {"uri": sink.at("/tls")}})
    };
    apply(&h, &[source("tls", spec(json!(null)))]);
    let target = ["natsjetstreamsource", "tls"];
    h.wait_jsonpath(
        &target,
        "{.status.conditions[?(@.type==\"Ready\")].status} {.status.conditions[?(@.type==\"Ready\")].reason}",
        "False TLSHandshakeFailed",
    );
    let ca_pem = std::fs::read_to_string(&ca).unwrap();
    apply(
        &h,
        &[
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "nats-tls"},
                   "stringData": {"ca.crt": ca_pem}}),
            source(
                "tls",
                spec(json!({"caCert": {"secretKeyRef": {"name": "nats-tls", "key": "ca.crt"}}})),
            ),
        ],
    );
    ready(&h, "tls");
    let mut nats = Nats::connect_tls(&format!("127.0.0.1:{port}"), &ca_pem);
    let seq = nats.publish(&format!("{prefix}.a"), &[], b"secure");
    let got = sink.wait_for("/tls", 1, EVENTS_WAIT);
    assert_eq!(
        with_id(&got, &format!("{stream}:{seq}")).body_str(),
        "secure"
    );
}
