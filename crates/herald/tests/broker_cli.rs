//! `herald send` and `herald tail` against a running Herald.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Herald;
use common::sink::Sink;

fn broker_with_trigger(h: &Herald, sink: &Sink) {
    let yaml = format!(
        "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata:\n  name: default\n---\n\
         apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: cli\n\
         spec:\n  broker: default\n  subscriber:\n    uri: {}\n",
        sink.at("/cli")
    );
    h.kubectl_stdin(&["apply", "-f", "-"], Some(&yaml));
    h.wait_jsonpath(
        &["trigger", "cli"],
        "{.status.conditions[?(@.type==\"Ready\")].status}",
        "True",
    );
}

#[test]
fn send_posts_an_event_to_a_broker_by_name() {
    let h = Herald::start();
    let sink = Sink::start();
    broker_with_trigger(&h, &sink);
    let out = h.cli(&[
        "send",
        "default",
        "--type",
        "dev.example.cli",
        "--source",
        "/herald/tests",
        "--id",
        "cli-1",
        "--subject",
        "hello wörld",
        "--ext",
        "myext=value",
        "--data",
        "{\"n\":1}",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("202"), "{stdout}");
    let got = sink.wait_for("/cli", 1, Duration::from_secs(10));
    let r = &got[0];
    assert_eq!(r.header("ce-id"), Some("cli-1"));
    assert_eq!(r.header("ce-type"), Some("dev.example.cli"));
    assert_eq!(r.header("ce-source"), Some("/herald/tests"));
    assert_eq!(r.header("ce-subject"), Some("hello%20w%C3%B6rld"));
    assert_eq!(r.header("ce-myext"), Some("value"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, b"{\"n\":1}");

    // Errors are readable and fail the command.
    let out = h.cli(&["send", "nope", "--type", "t"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nope"), "{stderr}");
    let out = h.cli(&[
        "send",
        "--to",
        &format!("{}/default/missing", h.ingress),
        "--type",
        "t",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
}

#[test]
fn tail_follows_events_arriving_at_a_broker() {
    let h = Herald::start();
    let sink = Sink::start();
    broker_with_trigger(&h, &sink);
    let mut tail = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["tail", "default", "--count", "2"])
        .env("HERALD_SERVER", &h.api)
        .env("HERALD_DATA_DIR", &h.data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn herald tail");
    // Wait until tail says it is attached: events sent from then on are shown.
    let stderr = tail.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(
        first.contains("following broker default/default"),
        "{first}"
    );
    for id in ["t1", "t2"] {
        let out = h.cli(&["send", "default", "--type", "dev.example.tail", "--id", id]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = tail.wait_with_output().expect("tail output");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    assert_eq!(events.len(), 2, "{stdout}");
    assert_eq!(events[0]["id"], "t1");
    assert_eq!(events[1]["id"], "t2");
    assert_eq!(events[0]["type"], "dev.example.tail");
    assert!(events[0].get("knativearrivaltime").is_some(), "{stdout}");
    assert!(events[0].get("knativebrokerttl").is_none(), "{stdout}");
}
