//! `herald eval`: CESQL expressions and Trigger filters against events, offline (issue 4).
//! Runs the real binary; event and Trigger files are in `tests/data/eval`.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn data(rel: &str) -> String {
    format!("{}/tests/data/{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn herald(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    run_with_stdin(args, None)
}

fn run_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let out = herald(args, stdin);
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn cesql_json_output_results_and_error_kinds() {
    let event = data("eval/event.json");
    let cases: &[(&str, &str)] = &[
        (
            "type = 'dev.knative.foo.bar'",
            r#"{"result": true, "error": null}"#,
        ),
        ("source = '/nope'", r#"{"result": false, "error": null}"#),
        ("count + 1", r#"{"result": 8, "error": null}"#),
        ("UPPER(source)", r#"{"result": "/ORDERS", "error": null}"#),
        (
            "myextension LIKE 'my-%'",
            r#"{"result": true, "error": null}"#,
        ),
        ("1 / 0", r#"{"result": 0, "error": "math"}"#),
        ("INT('x')", r#"{"result": 0, "error": "cast"}"#),
        (
            "NOPE(1)",
            r#"{"result": false, "error": "missingFunction"}"#,
        ),
        (
            "SUBSTRING('abc', 10)",
            r#"{"result": "", "error": "functionEvaluation"}"#,
        ),
        (
            "missing = 'x'",
            r#"{"result": false, "error": "missingAttribute"}"#,
        ),
    ];
    for (expr, want) in cases {
        let r = run(&[
            "eval", "--cesql", expr, "--event", &event, "--output", "json",
        ]);
        assert_eq!(r.code, 0, "{expr}: {}", r.stderr);
        assert_eq!(r.stdout, format!("{want}\n"), "{expr}");
    }
}

#[test]
fn cesql_text_output() {
    let event = data("eval/event.json");
    let r = run(&["eval", "--cesql", "count > 5", "--event", &event]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "result: true (Boolean)\nas a filter: passes\n");

    let r = run(&["eval", "--cesql", "nope", "--event", &event]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "result: false (Boolean)\n\
         error: missingAttribute: attribute 'nope' is not present in the event\n\
         as a filter: does not pass (evaluation error)\n"
    );

    let r = run(&["eval", "--cesql", "CONCAT('a', 'b')", "--event", &event]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "result: \"ab\" (String)\nas a filter: does not pass (the result is not a Boolean)\n"
    );
}

#[test]
fn cesql_parse_error_exits_2_with_a_caret() {
    let r = run(&["eval", "--cesql", "type = 'a' AND", "--output", "json"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "{\"result\": null, \"error\": \"parse\"}\n");
    assert!(
        r.stderr.contains(
            "error: invalid CESQL expression at column 15: expected an expression after AND, \
             found end of input\n  type = 'a' AND\n                ^\n"
        ),
        "{}",
        r.stderr
    );
    // Text output: nothing on stdout, the same message on stderr.
    let r = run(&["eval", "--cesql", "type = = 'a'"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.contains("invalid CESQL expression at column"),
        "{}",
        r.stderr
    );
}

#[test]
fn cesql_without_event_uses_a_minimal_event() {
    let r = run(&[
        "eval",
        "--cesql",
        "specversion = '1.0' AND id = '1' AND source = '/herald/eval' AND type = 'herald.eval'",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "{\"result\": true, \"error\": null}\n");
    assert!(r.stderr.contains("minimal event"), "{}", r.stderr);
}

#[test]
fn events_from_json_binary_dumps_and_stdin() {
    let expr = "CONCAT_WS(' ', type, source, id)";
    let cases = [
        ("eval/event.json", "dev.knative.foo.bar /orders 42"),
        ("eval/binary.http", "dev.knative.foo.bar /orders 1"),
        (
            "eval/binary-no-request-line.http",
            "dev.knative.foo.bar /billing 2",
        ),
    ];
    for (file, want) in cases {
        let path = data(file);
        let want = format!("{{\"result\": \"{want}\", \"error\": null}}\n");
        let r = run(&["eval", "--cesql", expr, "--event", &path, "-o", "json"]);
        assert_eq!(r.code, 0, "{file}: {}", r.stderr);
        assert_eq!(r.stdout, want, "{file}");
        // The same bytes on standard input.
        let bytes = std::fs::read(&path).unwrap();
        let r = run_with_stdin(
            &["eval", "--cesql", expr, "--event", "-", "-o", "json"],
            Some(&bytes),
        );
        assert_eq!(r.code, 0, "{file} on stdin: {}", r.stderr);
        assert_eq!(r.stdout, want, "{file} on stdin");
    }
    // Extensions: JSON numbers are Integers; binary-mode headers are Strings.
    let r = run(&[
        "eval",
        "--cesql",
        "IS_INT(count) AND count = 7",
        "--event",
        &data("eval/event.json"),
        "-o",
        "json",
    ]);
    assert_eq!(
        r.stdout, "{\"result\": true, \"error\": null}\n",
        "{}",
        r.stderr
    );
    let r = run(&[
        "eval",
        "--cesql",
        "myextension",
        "--event",
        &data("eval/binary.http"),
        "-o",
        "json",
    ]);
    assert_eq!(
        r.stdout, "{\"result\": \"my-extension-value\", \"error\": null}\n",
        "{}",
        r.stderr
    );
}

#[test]
fn seed_trigger_against_matching_and_non_matching_events() {
    let trigger = data("seeds/trigger.yaml");
    // (event, text output, JSON output)
    let cases = [
        (
            "eval/event.json",
            "trigger my-service-trigger: the event matches\n\
             decided by: filter.attributes: all match: myextension == \"my-extension-value\", \
             type == \"dev.knative.foo.bar\"\n\
             evaluated:\n  \
             pass  filter.attributes.myextension: \"my-extension-value\" == \"my-extension-value\"\n  \
             pass  filter.attributes.type: \"dev.knative.foo.bar\" == \"dev.knative.foo.bar\"\n",
            r#"{"result": true, "error": null, "decidedBy": "filter.attributes"}"#,
        ),
        (
            "eval/binary.http",
            "trigger my-service-trigger: the event matches\n",
            r#"{"result": true, "error": null, "decidedBy": "filter.attributes"}"#,
        ),
        (
            "eval/event-other-type.json",
            "trigger my-service-trigger: the event does not match\n\
             decided by: filter.attributes.type: \"dev.knative.foo.baz\" != \"dev.knative.foo.bar\"\n",
            r#"{"result": false, "error": null, "decidedBy": "filter.attributes.type"}"#,
        ),
        (
            "eval/binary-no-request-line.http",
            "trigger my-service-trigger: the event does not match\n\
             decided by: filter.attributes.myextension: missing\n\
             evaluated:\n  \
             fail  filter.attributes.myextension: missing\n",
            r#"{"result": false, "error": null, "decidedBy": "filter.attributes.myextension"}"#,
        ),
    ];
    for (event, text, json) in cases {
        let event = data(event);
        let r = run(&["eval", "--trigger", &trigger, "--event", &event]);
        assert_eq!(r.code, 0, "{event}: {}", r.stderr);
        assert!(r.stdout.starts_with(text), "{event}:\n{}", r.stdout);
        let r = run(&[
            "eval",
            "--trigger",
            &trigger,
            "--event",
            &event,
            "-o",
            "json",
        ]);
        assert_eq!(r.code, 0, "{event}: {}", r.stderr);
        assert_eq!(r.stdout, format!("{json}\n"), "{event}");
    }
}

#[test]
fn v1_trigger_with_filters_names_the_deciding_sub_filter() {
    let trigger = data("eval/trigger-filters.yaml");
    let cases = [
        (
            "eval/event.json",
            true,
            "filters",
            "decided by: filters: all 2 filters pass\n",
        ),
        (
            "eval/binary-no-request-line.http",
            false,
            "filters[0].prefix",
            "decided by: filters[0].prefix: source \"/billing\" does not start with \"/orders\"\n",
        ),
        (
            "eval/event-other-type.json",
            false,
            "filters[1].any",
            "decided by: filters[1].any: no alternative passes: \
             [0].exact: type \"dev.knative.foo.baz\" != \"dev.knative.foo.bar\"; \
             [1].cesql: \"count > 100\" -> false with missingAttribute error: \
             attribute 'count' is not present in the event\n",
        ),
    ];
    for (event, result, decided_by, line) in cases {
        let event = data(event);
        let r = run(&["eval", "--trigger", &trigger, "--event", &event]);
        assert_eq!(r.code, 0, "{event}: {}", r.stderr);
        assert!(
            r.stdout.starts_with("trigger shop/orders: the event "),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains(line), "{event}:\n{}", r.stdout);
        let r = run(&[
            "eval",
            "--trigger",
            &trigger,
            "--event",
            &event,
            "-o",
            "json",
        ]);
        assert_eq!(
            r.stdout,
            format!("{{\"result\": {result}, \"error\": null, \"decidedBy\": \"{decided_by}\"}}\n"),
            "{event}"
        );
    }
}

#[test]
fn bad_inputs_exit_2_with_a_message() {
    let event = data("eval/event.json");
    let trigger = data("eval/trigger-filters.yaml");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--trigger".into(),
                data("eval/nonexistent.yaml"),
                "--event".into(),
                event.clone(),
            ],
            "cannot read",
        ),
        (
            vec![
                "--trigger".into(),
                data("eval/invalid.yaml"),
                "--event".into(),
                event.clone(),
            ],
            "invalid YAML",
        ),
        (
            vec![
                "--trigger".into(),
                data("eval/not-a-trigger.yaml"),
                "--event".into(),
                event.clone(),
            ],
            "no Trigger in this file (found Broker)",
        ),
        (
            vec![
                "--trigger".into(),
                data("eval/trigger-bad-cesql.yaml"),
                "--event".into(),
                event.clone(),
            ],
            "spec.filters[0].cesql: invalid CESQL expression at column 15",
        ),
        (
            vec![
                "--trigger".into(),
                trigger.clone(),
                "--event".into(),
                data("eval/event-missing-id.json"),
            ],
            "invalid event: missing required attribute \"id\"",
        ),
        (
            vec![
                "--trigger".into(),
                trigger.clone(),
                "--event".into(),
                data("eval/not-an-event.txt"),
            ],
            "is not an HTTP header",
        ),
        (
            vec![
                "--cesql".into(),
                "true".into(),
                "--event".into(),
                data("eval/nonexistent.json"),
            ],
            "cannot read",
        ),
        (
            vec![
                "--cesql".into(),
                "true".into(),
                "--event".into(),
                data("eval/not-an-event.txt"),
            ],
            "is not an HTTP header",
        ),
    ];
    for (args, message) in cases {
        let mut argv = vec!["eval"];
        argv.extend(args.iter().map(String::as_str));
        let r = run(&argv);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, "", "{args:?}");
    }
    // Empty standard input.
    let r = run_with_stdin(&["eval", "--cesql", "true", "--event", "-"], Some(b""));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("empty event"), "{}", r.stderr);
    // --trigger needs --event; --cesql and --trigger exclude each other (clap: status 2).
    assert_eq!(run(&["eval", "--trigger", &trigger]).code, 2);
    assert_eq!(
        run(&["eval", "--cesql", "true", "--trigger", &trigger]).code,
        2
    );
}

#[test]
fn trigger_from_stdin_v1alpha1_source_and_type() {
    let trigger = b"apiVersion: eventing.knative.dev/v1alpha1
kind: Trigger
metadata:
  name: legacy
spec:
  filter:
    sourceAndType:
      type: dev.knative.foo.bar
      source: Any
";
    let args = |event: &'static str| {
        vec![
            "eval".to_string(),
            "--trigger".into(),
            "-".into(),
            "--event".into(),
            data(event),
            "-o".into(),
            "json".into(),
        ]
    };
    for (event, want) in [
        (
            "eval/event.json",
            r#"{"result": true, "error": null, "decidedBy": "filter.attributes"}"#,
        ),
        (
            "eval/event-other-type.json",
            r#"{"result": false, "error": null, "decidedBy": "filter.attributes.type"}"#,
        ),
    ] {
        let argv = args(event);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let r = run_with_stdin(&argv, Some(trigger));
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout, format!("{want}\n"), "{event}");
    }
}
