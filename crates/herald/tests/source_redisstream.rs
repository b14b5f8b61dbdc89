//! RedisStreamSource against the machine's real Redis (127.0.0.1:6379), black-box with kubectl
//! and `redis-cli` (reference §5.6 DP-56..DP-59, §7 RedisStreamSource row): entries become
//! `dev.knative.sources.redisstream` events with Knative's data shape, arrive through a Broker,
//! register EventTypes, are acknowledged only once delivered (pending entries survive a
//! `kill -9`), deleted pending entries are acknowledged and skipped, and a Redis that goes away
//! makes the source not Ready until it returns.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::Herald;
use common::broker::*;
use common::sink::{Reply, Sink};
use serde_json::{Value, json};

const REDIS: &str = "127.0.0.1:6379";
/// The same Redis by host name: `<address>/<stream>` is then a URI reference as it stands.
const REDIS_HOST: &str = "localhost:6379";
/// Generous: a loaded 2-core CI machine.
const EVENTS_WAIT: Duration = Duration::from_secs(60);

/// Runs `redis-cli` against `port` and returns its trimmed output.
fn cli_at(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli is required by this test");
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn cli(args: &[&str]) -> String {
    cli_at(6379, args)
}

/// XADD with the back end's own client; returns the entry ID.
fn xadd(stream: &str, fields: &[(&str, &str)]) -> String {
    let mut args = vec!["XADD", stream, "*"];
    for (f, v) in fields {
        args.extend([*f, *v]);
    }
    let id = cli(&args);
    assert!(id.contains('-'), "XADD returned {id:?}");
    id
}

/// Pending (delivered, not acknowledged) entries of `group`.
fn pending(stream: &str, group: &str) -> u64 {
    let out = cli(&["XPENDING", stream, group]);
    out.lines()
        .next()
        .unwrap_or("0")
        .trim()
        .parse()
        .unwrap_or(0)
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn unique(prefix: &str) -> String {
    format!("herald-test-{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Knative's data shape: the field-value list as JSON, each item base64.
fn knative_data(fields: &[&str]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let items: Vec<Value> = fields.iter().map(|f| json!(b64.encode(f))).collect();
    Value::Array(items).to_string()
}

fn source(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "sources.knative.dev/v1alpha1", "kind": "RedisStreamSource",
           "metadata": {"name": name}, "spec": spec})
}

fn ready(h: &Herald, name: &str) {
    h.wait_jsonpath(&["redisstreamsource", name], READY, "True");
}

fn cleanup(stream: &str) {
    cli(&["DEL", stream]);
}

#[test]
fn dp56_entries_reach_a_broker_trigger_with_exact_attributes_and_register_event_types() {
    let sink = Sink::start();
    let h = Herald::start();
    let stream = unique("broker");
    setup(
        &h,
        json!({}),
        &[trigger(
            "all",
            &sink.at("/t"),
            json!({"filter": {"attributes": {"type": "dev.knative.sources.redisstream"}}}),
        )],
    );
    apply(
        &h,
        &[source(
            "orders",
            json!({
                "address": REDIS_HOST,
                "stream": stream,
                "ceOverrides": {"extensions": {"team": "herald"}},
                "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                                 "name": "default"}},
            }),
        )],
    );
    ready(&h, "orders");
    let ids: Vec<String> = (0..3)
        .map(|i| xadd(&stream, &[("order", &format!("o-{i}")), ("qty", "2")]))
        .collect();
    let got = sink.wait_for("/t", 3, EVENTS_WAIT);
    for (r, (i, id)) in got.iter().zip(ids.iter().enumerate()) {
        // §7: type, source `<address>/<stream>`, id = entry ID, JSON data; in stream order.
        assert_eq!(r.header("ce-specversion"), Some("1.0"), "{r:?}");
        assert_eq!(r.header("ce-type"), Some("dev.knative.sources.redisstream"));
        assert_eq!(
            r.header("ce-source"),
            Some(format!("{REDIS_HOST}/{stream}").as_str())
        );
        assert_eq!(r.header("ce-id"), Some(id.as_str()));
        assert_eq!(r.header("content-type"), Some("application/json"));
        // DP-57 overrides; DP-59 time filled in.
        assert_eq!(r.header("ce-team"), Some("herald"));
        assert!(r.header("ce-time").is_some(), "{r:?}");
        assert_eq!(
            r.body_str(),
            knative_data(&["order", &format!("o-{i}"), "qty", "2"])
        );
    }
    sink.expect_no_more("/t", 3, Duration::from_secs(1));
    // Acknowledged once delivered: nothing left pending in the default group `<ns>.<name>`.
    wait_until("XACK of all entries", EVENTS_WAIT, || {
        pending(&stream, "default.orders") == 0
    });
    // The source's EventType, registered because the sink is a Broker.
    let source_attr = format!("{REDIS_HOST}/{stream}");
    let attrs = h.kubectl_ok(&[
        "get",
        "redisstreamsource",
        "orders",
        "-o",
        "jsonpath={.status.ceAttributes}",
    ]);
    let attrs: Value = serde_json::from_str(&attrs).unwrap();
    assert_eq!(
        attrs,
        json!([{"type": "dev.knative.sources.redisstream", "source": source_attr}])
    );
    wait_until("the EventType", EVENTS_WAIT, || {
        let out = h.kubectl_ok(&["get", "eventtypes", "-o", "json"]);
        let list: Value = serde_json::from_str(&out).unwrap();
        list["items"].as_array().unwrap().iter().any(|et| {
            let a = &et["spec"]["attributes"];
            et["spec"]["reference"]["kind"] == "Broker"
                && a.to_string().contains("dev.knative.sources.redisstream")
                && a.to_string().contains(&source_attr)
        })
    });
    cleanup(&stream);
}

#[test]
fn pending_entries_are_redelivered_and_deleted_pending_entries_acknowledged() {
    let sink = Sink::start();
    let h = Herald::start();
    let stream = unique("pel");
    // A previous consumer `g-0` took two entries and crashed before acknowledging them; one of
    // them was deleted since (XDEL). Non-ASCII bytes travel exactly (base64 in the data).
    cli(&["XGROUP", "CREATE", &stream, "g", "$", "MKSTREAM"]);
    let first = xadd(&stream, &[("n", "1")]);
    let gone = xadd(&stream, &[("n", "2")]);
    cli(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "g-0",
        "COUNT",
        "2",
        "STREAMS",
        &stream,
        ">",
    ]);
    assert_eq!(pending(&stream, "g"), 2);
    cli(&["XDEL", &stream, &gone]);
    let third = xadd(&stream, &[("n", "3"), ("bin", "\u{e9}\t")]);
    apply(
        &h,
        &[source(
            "pel",
            json!({"address": REDIS, "stream": stream, "group": "g",
                   "sink": {"uri": sink.at("/pel")}}),
        )],
    );
    ready(&h, "pel");
    let got = sink.wait_for("/pel", 2, EVENTS_WAIT);
    let ids: Vec<&str> = got.iter().filter_map(|r| r.header("ce-id")).collect();
    assert_eq!(ids, [first.as_str(), third.as_str()], "{got:#?}");
    assert_eq!(got[0].body_str(), knative_data(&["n", "1"]));
    assert_eq!(
        got[1].body_str(),
        knative_data(&["n", "3", "bin", "\u{e9}\t"])
    );
    sink.expect_no_more("/pel", 2, Duration::from_secs(1));
    wait_until("an empty pending list", EVENTS_WAIT, || {
        pending(&stream, "g") == 0
    });
    cleanup(&stream);
}

#[test]
fn entries_left_by_a_consumer_that_is_gone_are_taken_over() {
    let sink = Sink::start();
    let h = Herald::start();
    let stream = unique("orphan");
    // `g-5` (e.g. before `consumers` was lowered) holds an entry idle for 10 minutes; `g-7`
    // holds one it just received (a live consumer elsewhere): only the first is taken over.
    cli(&["XGROUP", "CREATE", &stream, "g", "$", "MKSTREAM"]);
    let orphan = xadd(&stream, &[("o", "1")]);
    cli(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "g-5",
        "COUNT",
        "1",
        "STREAMS",
        &stream,
        ">",
    ]);
    cli(&[
        "XCLAIM", &stream, "g", "g-5", "0", &orphan, "IDLE", "600000",
    ]);
    let live = xadd(&stream, &[("o", "2")]);
    cli(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "g-7",
        "COUNT",
        "1",
        "STREAMS",
        &stream,
        ">",
    ]);
    apply(
        &h,
        &[source(
            "orphans",
            json!({"address": REDIS, "stream": stream, "group": "g",
                   "sink": {"uri": sink.at("/o")}}),
        )],
    );
    ready(&h, "orphans");
    let got = sink.wait_for("/o", 1, EVENTS_WAIT);
    assert_eq!(got[0].header("ce-id"), Some(orphan.as_str()));
    wait_until("the orphan acknowledged", EVENTS_WAIT, || {
        pending(&stream, "g") == 1
    });
    let left = cli(&["XPENDING", &stream, "g", "-", "+", "10"]);
    assert!(left.contains(&live) && left.contains("g-7"), "{left}");
    sink.expect_no_more("/o", 1, Duration::from_secs(1));
    cleanup(&stream);
}

#[test]
fn a_rejected_delivery_is_not_acknowledged_and_is_retried() {
    let sink = Sink::start();
    let h = Herald::start();
    let stream = unique("nack");
    // The sink refuses the first attempts for good (400 is not retried by the emitter):
    // the entry must stay pending and come back, not be acknowledged and lost.
    sink.script("/n", vec![Reply::status(400)]);
    apply(
        &h,
        &[source(
            "nack",
            json!({"address": REDIS, "stream": stream, "group": "g",
                   "sink": {"uri": sink.at("/n")}}),
        )],
    );
    ready(&h, "nack");
    let id = xadd(&stream, &[("k", "v")]);
    let first = sink.wait_for("/n", 1, EVENTS_WAIT);
    assert_eq!(first[0].header("ce-id"), Some(id.as_str()));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(pending(&stream, "g"), 1, "a rejected entry stays pending");
    // Re-read from the pending list (after 30 s) and acknowledged once accepted.
    let again = sink.wait_for("/n", 2, Duration::from_secs(90));
    assert_eq!(again[1].header("ce-id"), Some(id.as_str()));
    wait_until("XACK after the retry", EVENTS_WAIT, || {
        pending(&stream, "g") == 0
    });
    cleanup(&stream);
}

#[test]
fn kill9_mid_stream_loses_nothing() {
    let sink = Sink::start();
    // Slow sink: the kill lands while entries are still being delivered.
    sink.fallback("/k", Reply::status(202).delay(Duration::from_millis(150)));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut h = Herald::start_in(&data);
    let stream = unique("kill");
    apply(
        &h,
        &[source(
            "k",
            json!({"address": REDIS, "stream": stream, "group": "g", "consumers": 2,
                   "sink": {"uri": sink.at("/k")}}),
        )],
    );
    ready(&h, "k");
    let mut ids: BTreeSet<String> = (0..30)
        .map(|i| xadd(&stream, &[("i", &i.to_string())]))
        .collect();
    sink.wait_for("/k", 5, EVENTS_WAIT);
    h.kill9();
    let before = sink.received("/k").len();
    assert!(before < 30, "killed mid-stream ({before} delivered)");
    // Published while Herald is down.
    ids.extend((30..40).map(|i| xadd(&stream, &[("i", &i.to_string())])));
    let h = Herald::start_in(&data);
    ready(&h, "k");
    wait_until("every entry delivered at least once", EVENTS_WAIT, || {
        let got: BTreeSet<String> = sink
            .received("/k")
            .iter()
            .filter_map(|r| r.header("ce-id").map(str::to_string))
            .collect();
        ids.is_subset(&got)
    });
    wait_until("an empty pending list", EVENTS_WAIT, || {
        pending(&stream, "g") == 0
    });
    cleanup(&stream);
}

/// A Redis of the test's own on a free port (never the machine's shared one).
struct OwnRedis {
    port: u16,
    child: Child,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        OwnRedis::start_with(port, &[])
    }

    fn start_with(port: u16, extra: &[&str]) -> OwnRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(extra)
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        let r = OwnRedis { port, child };
        wait_until("own redis-server", Duration::from_secs(20), || {
            // An answer, even NOAUTH, means it is up.
            Command::new("redis-cli")
                .args(["-p", &port.to_string(), "PING"])
                .output()
                .is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).trim().is_empty())
        });
        r
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn condition(h: &Herald, field: &str) -> String {
    condition_of(h, "down", field)
}

fn condition_of(h: &Herald, name: &str, field: &str) -> String {
    h.kubectl_ok(&[
        "get",
        "redisstreamsource",
        name,
        "-o",
        &format!("jsonpath={{.status.conditions[?(@.type==\"Ready\")].{field}}}"),
    ])
}

#[test]
fn an_unreachable_redis_makes_the_source_not_ready_until_it_returns() {
    let sink = Sink::start();
    let h = Herald::start();
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    // Nothing listens yet: not Ready, with the dial error as the reason.
    apply(
        &h,
        &[source(
            "down",
            json!({"address": address, "stream": "s", "sink": {"uri": sink.at("/d")}}),
        )],
    );
    h.wait_jsonpath(&["redisstreamsource", "down"], READY, "False");
    assert_eq!(condition(&h, "reason"), "ConnectionFailed");
    let msg = condition(&h, "message");
    assert!(
        msg.contains(&format!("dial tcp {address}")) && msg.contains("refused"),
        "{msg}"
    );
    // Redis comes up: the source reconnects by itself and reads.
    let redis = OwnRedis::start(port);
    ready(&h, "down");
    let id = cli_at(redis.port, &["XADD", "s", "*", "a", "b"]);
    let got = sink.wait_for("/d", 1, EVENTS_WAIT);
    assert_eq!(got[0].header("ce-id"), Some(id.as_str()));
    assert_eq!(
        got[0].header("ce-source"),
        // An IP address alone would make `source` no URI reference: Herald adds `redis://`.
        Some(format!("redis://{address}/s").as_str())
    );
    // Redis goes away again: not Ready; back: Ready, and entries added meanwhile arrive.
    drop(redis);
    h.wait_jsonpath(&["redisstreamsource", "down"], READY, "False");
    assert_eq!(condition(&h, "reason"), "ConnectionFailed");
    let redis = OwnRedis::start(port);
    ready(&h, "down");
    // A fresh server has no stream: the group was recreated at its end, as Knative does.
    let id = cli_at(redis.port, &["XADD", "s", "*", "c", "d"]);
    let got = sink.wait_for("/d", 2, EVENTS_WAIT);
    assert_eq!(got[1].header("ce-id"), Some(id.as_str()));
}

#[test]
fn specs_knative_rejects_are_rejected() {
    let h = Herald::start();
    for (spec, path) in [
        (
            json!({"stream": "s", "sink": {"uri": "http://x"}}),
            "spec.address",
        ),
        (
            json!({"address": "redis", "stream": "s", "sink": {"uri": "http://x"}}),
            "spec.address",
        ),
        (
            json!({"address": REDIS, "sink": {"uri": "http://x"}}),
            "spec.stream",
        ),
        (json!({"address": REDIS, "stream": "s"}), "spec.sink"),
    ] {
        let out = h.kubectl_stdin(
            &["apply", "-f", "-"],
            Some(&source("bad", spec.clone()).to_string()),
        );
        assert!(!out.status.success(), "{spec} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(path), "{spec}: {err}");
    }
}

#[test]
fn a_password_from_a_secret_authenticates() {
    let sink = Sink::start();
    let h = Herald::start();
    let port = free_port();
    let redis = OwnRedis::start_with(port, &["--requirepass", "s3cret"]);
    let secret = |pw: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "redis"},
               "stringData": {"password": pw}})
    };
    // A wrong password: not Ready, and the reason says why.
    apply(
        &h,
        &[
            secret("wrong"),
            source(
                "auth",
                json!({"address": format!("127.0.0.1:{port}"), "stream": "s",
                       "dialOptions": {"password": {"secretKeyRef": {"name": "redis",
                                                                    "key": "password"}}},
                       "sink": {"uri": sink.at("/a")}}),
            ),
        ],
    );
    h.wait_jsonpath(&["redisstreamsource", "auth"], READY, "False");
    assert_eq!(condition_of(&h, "auth", "reason"), "AuthenticationFailed");
    // The right one (a Secret change restarts the source): Ready, and entries arrive.
    apply(&h, &[secret("s3cret")]);
    ready(&h, "auth");
    let id = cli_at(
        redis.port,
        &[
            "-a",
            "s3cret",
            "--no-auth-warning",
            "XADD",
            "s",
            "*",
            "k",
            "v",
        ],
    );
    let got = sink.wait_for("/a", 1, EVENTS_WAIT);
    assert_eq!(got[0].header("ce-id"), Some(id.as_str()));
}

#[test]
fn tls_with_the_servers_ca_from_a_secret() {
    let sink = Sink::start();
    let h = Herald::start();
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = common::tls::tls_files(dir.path());
    let port = free_port();
    let p = port.to_string();
    let mut server = Command::new("redis-server")
        .args(["--port", "0", "--tls-port", &p, "--bind", "127.0.0.1"])
        .args(["--tls-cert-file", &cert, "--tls-key-file", &key])
        .args(["--tls-ca-cert-file", &ca, "--tls-auth-clients", "no"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server");
    let tls_cli = |args: &[&str]| {
        Command::new("redis-cli")
            .args(["--tls", "--cacert", &ca, "-h", "127.0.0.1", "-p", &p])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    wait_until("redis-server with TLS", Duration::from_secs(20), || {
        tls_cli(&["PING"]) == "PONG"
    });
    let address = format!("127.0.0.1:{port}");
    let spec = |options: Value| {
        json!({"address": address, "stream": "s", "dialOptions": options,
               "sink": {"uri": sink.at("/tls")}})
    };
    // Without the CA the self-signed chain is not trusted: not Ready, and the reason says so.
    apply(&h, &[source("tls", spec(json!({"useTLS": true})))]);
    h.wait_jsonpath(&["redisstreamsource", "tls"], READY, "False");
    assert_eq!(condition_of(&h, "tls", "reason"), "TLSHandshakeFailed");
    // With the CA from a Secret: Ready, and entries arrive.
    let ca_pem = std::fs::read_to_string(&ca).unwrap();
    apply(
        &h,
        &[
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "redis-tls"},
                   "stringData": {"ca.crt": ca_pem}}),
            source(
                "tls",
                spec(json!({"useTLS": true,
                            "caCert": {"secretKeyRef": {"name": "redis-tls", "key": "ca.crt"}}})),
            ),
        ],
    );
    ready(&h, "tls");
    let id = tls_cli(&["XADD", "s", "*", "secure", "yes"]);
    assert!(id.contains('-'), "{id}");
    let got = sink.wait_for("/tls", 1, EVENTS_WAIT);
    assert_eq!(got[0].header("ce-id"), Some(id.as_str()));
    assert_eq!(got[0].body_str(), knative_data(&["secure", "yes"]));
    let _ = server.kill();
    let _ = server.wait();
}
