//! PingSource (and the legacy CronJobSource), black-box with real kubectl (reference §5.6
//! DP-56/DP-57, §7 PingSource row): per-second ticks with exact attributes, delivery through a
//! Broker, the seeds' era CronJobSource, in-place schedule/data changes, `dataBase64`, and
//! rejection of `ceOverrides` that override required attributes.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

use common::Herald;
use common::broker::*;
use common::sink::{Received, Sink};
use jiff::Timestamp;
use serde_json::{Value, json};

/// Generous: a loaded 2-core CI machine.
const EVENTS_WAIT: Duration = Duration::from_secs(30);

fn ping(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "sources.knative.dev/v1", "kind": "PingSource",
           "metadata": {"name": name}, "spec": spec})
}

fn ping_ready(h: &Herald, name: &str) {
    h.wait_jsonpath(&["pingsource", name], READY, "True");
}

/// The tick an event belongs to: its `ce-time`, truncated to the second.
fn tick(r: &Received) -> i64 {
    let time = r.header("ce-time").expect("ce-time");
    let t: Timestamp = time
        .parse()
        .unwrap_or_else(|e| panic!("ce-time {time}: {e}"));
    t.as_second()
}

/// Maps the sink's monotonic receive instants onto the wall clock.
struct WallClock {
    instant: Instant,
    system: SystemTime,
}

impl WallClock {
    fn now() -> WallClock {
        WallClock {
            instant: Instant::now(),
            system: SystemTime::now(),
        }
    }

    /// How long after the start of its tick's second an event arrived.
    fn delay(&self, r: &Received) -> Duration {
        let wall = self.system + r.at.duration_since(self.instant);
        let wall = wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after epoch");
        let tick = Duration::from_secs(u64::try_from(tick(r)).expect("positive time"));
        wall.saturating_sub(tick)
    }
}

#[test]
fn dp56_dp57_every_second_to_a_uri_sink_with_exact_attributes() {
    let sink = Sink::start();
    let h = Herald::start();
    let clock = WallClock::now();
    let uri = sink.at("/ping");
    apply(
        &h,
        &[ping(
            "every-second",
            json!({
                "schedule": "* * * * * *",
                "contentType": "application/json",
                "data": "{\"message\": \"Hello world!\"}",
                "ceOverrides": {"extensions": {"team": "herald"}},
                "sink": {"uri": uri},
            }),
        )],
    );
    ping_ready(&h, "every-second");
    let got = sink.wait_for("/ping", 5, EVENTS_WAIT);
    for r in &got {
        // DP-56: a binary-mode CloudEvent 1.0 with PingSource's attributes (§7).
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("ce-specversion"), Some("1.0"), "{r:?}");
        assert_eq!(r.header("ce-type"), Some("dev.knative.sources.ping"));
        assert_eq!(
            r.header("ce-source"),
            Some("/apis/v1/namespaces/default/pingsources/every-second")
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        // DP-57: the override extension is on every event.
        assert_eq!(r.header("ce-team"), Some("herald"));
        assert_eq!(r.body_str(), "{\"message\": \"Hello world!\"}");
    }
    let ids: HashSet<&str> = got.iter().filter_map(|r| r.header("ce-id")).collect();
    assert_eq!(
        ids.len(),
        got.len(),
        "ce-id is new for every tick: {got:#?}"
    );
    // One event per second: distinct, increasing ticks…
    let ticks: Vec<i64> = got.iter().map(tick).collect();
    assert!(
        ticks.windows(2).all(|w| w[0] < w[1]),
        "one event per tick: {ticks:?}"
    );
    // …spanning about as many seconds as events (allowing a tick dropped under load).
    let span = ticks[ticks.len() - 1] - ticks[0];
    assert!(
        (4..=8).contains(&span),
        "5 events should span ~4 s: {ticks:?}"
    );
    // Punctual: on average well within the second the tick belongs to.
    let delays: Vec<Duration> = got.iter().map(|r| clock.delay(r)).collect();
    let mean = delays.iter().sum::<Duration>() / delays.len() as u32;
    assert!(
        mean <= Duration::from_millis(900),
        "mean delay {mean:?}: {delays:?}"
    );
    // Status: the resolved sink, what it emits, and its runtime conditions.
    h.wait_jsonpath(&["pingsource", "every-second"], "{.status.sinkUri}", &uri);
    h.wait_jsonpath(
        &["pingsource", "every-second"],
        "{.status.ceAttributes[0].type} {.status.ceAttributes[0].source}",
        "dev.knative.sources.ping /apis/v1/namespaces/default/pingsources/every-second",
    );
    h.wait_jsonpath(
        &["pingsource", "every-second"],
        "{.status.conditions[?(@.type==\"Deployed\")].status}",
        "True",
    );
}

#[test]
fn ping_to_a_broker_reaches_the_trigger() {
    let sink = Sink::start();
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[trigger(
            "pings",
            &sink.at("/trigger"),
            json!({"filter": {"attributes": {"type": "dev.knative.sources.ping"}}}),
        )],
    );
    apply(
        &h,
        &[ping(
            "to-broker",
            json!({
                "schedule": "* * * * * *",
                "contentType": "text/plain",
                "data": "via the broker",
                "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                                 "name": "default"}},
            }),
        )],
    );
    ping_ready(&h, "to-broker");
    h.wait_jsonpath(
        &["pingsource", "to-broker"],
        "{.status.sinkUri}",
        &broker_url(&h),
    );
    let got = sink.wait_for("/trigger", 2, EVENTS_WAIT);
    for r in &got {
        assert_eq!(r.header("ce-type"), Some("dev.knative.sources.ping"));
        assert_eq!(
            r.header("ce-source"),
            Some("/apis/v1/namespaces/default/pingsources/to-broker")
        );
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.body_str(), "via the broker");
    }
}

/// The source contract (docs/sources.md): a source whose sink does not resolve is not Ready and
/// emits nothing; once the Broker exists it resolves, becomes Ready and delivers, without
/// touching the source.
#[test]
fn a_source_waits_for_its_sink_to_resolve() {
    let sink = Sink::start();
    let h = Herald::start();
    apply(
        &h,
        &[ping(
            "early",
            json!({
                "schedule": "* * * * * *",
                "data": "late broker",
                "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                                 "name": "later"}},
            }),
        )],
    );
    h.wait_jsonpath(
        &["pingsource", "early"],
        "{.status.conditions[?(@.type==\"SinkProvided\")].status}",
        "False",
    );
    h.wait_jsonpath(&["pingsource", "early"], READY, "False");
    apply(
        &h,
        &[
            broker("later", json!({})),
            trigger("late-pings", &sink.at("/late"), json!({"broker": "later"})),
        ],
    );
    h.wait_jsonpath(&["trigger", "late-pings"], READY, "True");
    ping_ready(&h, "early");
    let got = sink.wait_for("/late", 1, EVENTS_WAIT);
    assert_eq!(got[0].body_str(), "late broker");
    assert_eq!(
        got[0].header("ce-source"),
        Some("/apis/v1/namespaces/default/pingsources/early")
    );
}

/// The seeds' era CronJobSource (Knative ≤ 0.13), as its documentation wrote it, with a
/// per-second schedule and the seeds' v1alpha1 Broker sink. Herald stores it as a PingSource.
const CRONJOB_SOURCE: &str = r#"
apiVersion: sources.eventing.knative.dev/v1alpha1
kind: CronJobSource
metadata:
  name: test-cronjob-source
  namespace: default
spec:
  schedule: "* * * * * *"
  data: '{"message": "Hello world!"}'
  sink:
    apiVersion: eventing.knative.dev/v1alpha1
    kind: Broker
    name: default
"#;

#[test]
fn legacy_cronjobsource_fires() {
    let sink = Sink::start();
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[trigger("all", &sink.at("/cron"), json!({}))],
    );
    let out = h.kubectl_stdin(&["apply", "-f", "-"], Some(CRONJOB_SOURCE));
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        h.log()
    );
    h.wait_jsonpath(
        &[
            "cronjobsources.sources.eventing.knative.dev",
            "test-cronjob-source",
        ],
        READY,
        "True",
    );
    let got = sink.wait_for("/cron", 2, EVENTS_WAIT);
    for r in &got {
        // Served as a PingSource, it emits PingSource events.
        assert_eq!(r.header("ce-type"), Some("dev.knative.sources.ping"));
        assert_eq!(
            r.header("ce-source"),
            Some("/apis/v1/namespaces/default/pingsources/test-cronjob-source")
        );
        assert_eq!(r.body_str(), "{\"message\": \"Hello world!\"}");
    }
}

#[test]
fn schedule_and_data_changes_apply_without_restart() {
    let sink = Sink::start();
    let h = Herald::start();
    let uri = sink.at("/change");
    let spec = |schedule: &str, data: &str| json!({"schedule": schedule, "data": data, "sink": {"uri": uri}});
    // Once a year, in Tokyo: nothing fires during the test.
    apply(&h, &[ping("changing", spec("0 0 1 1 *", "first"))]);
    h.kubectl_ok(&[
        "patch",
        "pingsource",
        "changing",
        "--type=merge",
        "-p",
        r#"{"spec":{"timezone":"Asia/Tokyo"}}"#,
    ]);
    h.wait_jsonpath(
        &["pingsource", "changing"],
        "{.status.observedGeneration}",
        "2",
    );
    ping_ready(&h, "changing");
    sink.expect_no_more("/change", 0, Duration::from_secs(2));
    // Every other second, new data: takes effect in place.
    apply(&h, &[ping("changing", spec("*/2 * * * * *", "second"))]);
    h.wait_jsonpath(
        &["pingsource", "changing"],
        "{.status.observedGeneration}",
        "3",
    );
    let got = sink.wait_for("/change", 3, EVENTS_WAIT);
    for r in &got {
        assert_eq!(r.body_str(), "second");
        assert_eq!(tick(r) % 2, 0, "fires on even seconds only: {r:?}");
    }
}

#[test]
fn data_base64_delivers_the_decoded_bytes() {
    let sink = Sink::start();
    let h = Herald::start();
    // 00 01 02 ff 'h' 'i'
    apply(
        &h,
        &[ping(
            "binary",
            json!({"schedule": "* * * * * *", "dataBase64": "AAEC/2hp",
                   "contentType": "application/octet-stream",
                   "sink": {"uri": sink.at("/bin")}}),
        )],
    );
    let got = sink.wait_for("/bin", 1, EVENTS_WAIT);
    assert_eq!(got[0].body, [0u8, 1, 2, 255, b'h', b'i']);
    assert_eq!(
        got[0].header("content-type"),
        Some("application/octet-stream")
    );
}

#[test]
fn dp57_overriding_a_required_attribute_is_rejected() {
    let h = Herald::start();
    let obj = ping(
        "bad-override",
        json!({"schedule": "* * * * *",
               "ceOverrides": {"extensions": {"type": "not.allowed", "team": "ok"}},
               "sink": {"uri": "http://127.0.0.1:9/"}}),
    );
    let out = h.kubectl_stdin(&["apply", "-f", "-", "-v=6"], Some(&obj.to_string()));
    assert!(
        !out.status.success(),
        "the override of `type` must be rejected"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("422"), "a 422 Invalid: {stderr}");
    assert!(
        stderr.contains("spec.ceOverrides.extensions.type"),
        "names the field: {stderr}"
    );
    let err = h.kubectl_err(&["get", "pingsource", "bad-override"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
}
