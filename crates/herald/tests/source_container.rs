//! ContainerSource as a supervised local process and `herald run --binding` for SinkBindings:
//! real kubectl, real `herald serve`, real processes (sh + curl) posting into a Broker.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use common::Herald;
use common::broker::{READY, apply, broker_url, setup, trigger};
use common::sink::Sink;
use serde_json::{Value, json};

const REASON: &str = "{.status.conditions[?(@.type==\"Ready\")].reason}";
const MESSAGE: &str = "{.status.conditions[?(@.type==\"Ready\")].message}";
const LONG: Duration = Duration::from_secs(30);

/// A sh script posting one binary-mode CloudEvent to `$K_SINK`, with `ce-extra` taken from
/// `$K_CE_OVERRIDES` and the contract's variables in the data.
fn post_script(id: &str) -> String {
    format!(
        r#"extra=$(printf '%s' "$K_CE_OVERRIDES" | sed -n 's/.*"extra":"\([^"]*\)".*/\1/p')
curl -sS -o /dev/null -w '%{{http_code}}\n' -X POST "$K_SINK" \
  -H 'ce-specversion: 1.0' -H 'ce-type: dev.herald.test.container' \
  -H 'ce-source: /herald/tests' -H 'ce-id: {id}' -H "ce-extra: $extra" \
  -H 'content-type: application/json' \
  -d "{{\"name\":\"$NAME\",\"namespace\":\"$NAMESPACE\",\"sink\":\"$K_SINK\",\"token\":\"$TOKEN\"}}"
"#
    )
}

fn container_source(name: &str, container: Value) -> Value {
    json!({
        "apiVersion": "sources.knative.dev/v1",
        "kind": "ContainerSource",
        "metadata": {"name": name},
        "spec": {
            "template": {"spec": {"containers": [container]}},
            "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                             "name": "default"}},
            "ceOverrides": {"extensions": {"extra": "from-overrides"}}
        }
    })
}

fn sh(name: &str, script: &str) -> Value {
    json!({"name": name, "command": ["sh", "-c", script]})
}

/// True when `pid` no longer runs (gone, or a zombie nobody reaped yet).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read_pid(path: &Path) -> u32 {
    let mut pid = None;
    wait_until(&format!("pid file {}", path.display()), || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    });
    pid.unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// DP-58/DP-59: the process gets K_SINK (= status.sinkUri), K_CE_OVERRIDES, NAME, NAMESPACE and
/// its own env (a Secret key included); its event reaches the Broker's Trigger.
#[test]
fn container_source_posts_into_a_broker() {
    let h = Herald::start();
    let sink = Sink::start();
    setup(&h, json!({}), &[trigger("t", &sink.at("/got"), json!({}))]);
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
                        "stringData": {"token": "s3cret"}});
    let script = format!("{}exec sleep 600\n", post_script("c-1"));
    let mut container = sh("poster", &script);
    container["env"] = json!([{"name": "TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]);
    apply(&h, &[secret, container_source("heartbeat", container)]);

    let sink_uri = broker_url(&h);
    h.wait_jsonpath(&["containersource", "heartbeat"], READY, "True");
    h.wait_jsonpath(
        &["containersource", "heartbeat"],
        "{.status.sinkUri}",
        &sink_uri,
    );
    let got = sink.wait_for("/got", 1, LONG);
    let ev = &got[0];
    assert_eq!(ev.header("ce-id"), Some("c-1"));
    assert_eq!(ev.header("ce-type"), Some("dev.herald.test.container"));
    assert_eq!(ev.header("ce-extra"), Some("from-overrides"));
    let data: Value = serde_json::from_slice(&ev.body).unwrap();
    assert_eq!(
        data,
        json!({"name": "heartbeat", "namespace": "default", "sink": sink_uri,
               "token": "s3cret"})
    );
    // Ready stays: the process keeps running, nothing restarts it.
    sink.expect_no_more("/got", 1, Duration::from_millis(1500));
}

/// A process that exits at once is restarted with backoff; the source is not Ready and says
/// why; `herald logs` shows its output from every run.
#[test]
fn crashing_process_backs_off_and_logs() {
    let h = Herald::start();
    let sink = Sink::start();
    setup(&h, json!({}), &[trigger("t", &sink.at("/got"), json!({}))]);
    apply(
        &h,
        &[container_source(
            "crashy",
            sh(
                "crasher",
                "echo \"crash run of $NAME\"; echo oops >&2; exit 3",
            ),
        )],
    );
    h.wait_jsonpath(&["containersource", "crashy"], REASON, "CrashLoopBackOff");
    let msg = h.kubectl_ok(&[
        "get",
        "containersource",
        "crashy",
        "-o",
        &format!("jsonpath={MESSAGE}"),
    ]);
    assert!(
        msg.contains("\"crasher\" exited with status 3; restarting in"),
        "{msg}"
    );
    let ready = h.kubectl_ok(&[
        "get",
        "containersource",
        "crashy",
        "-o",
        &format!("jsonpath={READY}"),
    ]);
    assert_ne!(ready, "True");

    // At least two runs (restarted after 1 s), both in the log.
    let mut log = String::new();
    wait_until("two runs in the log", || {
        let out = h.cli(&["logs", "containersource/crashy"]);
        assert!(out.status.success(), "{}", stderr(&out));
        log = stdout(&out);
        log.matches("crash run of crashy\n").count() >= 2
    });
    assert!(log.contains("oops\n"), "{log}");
    assert!(log.contains("exited with status 3"), "{log}");
    let runs = log.matches("crash run of crashy\n").count();
    assert!(
        runs <= 4,
        "backoff: at most a few runs so far, got {runs}:\n{log}"
    );

    // `-f` keeps printing: a later run shows up.
    let mut follow = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["logs", "containersource/crashy", "-f"])
        .env("HERALD_DATA_DIR", &h.data_dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = 0;
    let deadline = Instant::now() + LONG;
    // Runs are seconds apart (backoff), so one more than the snapshot is one written later.
    while seen <= runs {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("a later run in `herald logs -f`");
        if line == "crash run of crashy" {
            seen += 1;
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();

    // An unknown source: a readable error and a non-zero exit.
    let out = h.cli(&["logs", "containersource/nope"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no log for containersource nope in namespace default"),
        "{}",
        stderr(&out)
    );
}

/// Deleting a ContainerSource stops its process group (SIGTERM, then SIGKILL); so does stopping
/// `herald serve`.
#[test]
fn deleting_or_stopping_kills_the_processes() {
    let mut h = Herald::start();
    let sink = Sink::start();
    setup(&h, json!({}), &[trigger("t", &sink.at("/got"), json!({}))]);
    let dir = tempfile::tempdir().unwrap();
    let script = |tag: &str| {
        let base = dir.path().join(tag);
        format!(
            // `$$` is Kubernetes' escape for `$` in command and args.
            "trap 'echo term > {b}.term; exit 0' TERM; echo $$$$ > {b}.pid; sleep 600 & echo $! > {b}.child; wait",
            b = base.display()
        )
    };
    apply(
        &h,
        &[container_source("doomed", sh("c", &script("doomed")))],
    );
    let pid = read_pid(&dir.path().join("doomed.pid"));
    let child = read_pid(&dir.path().join("doomed.child"));
    h.wait_jsonpath(&["containersource", "doomed"], READY, "True");
    assert!(!dead(pid) && !dead(child));
    h.kubectl_ok(&["delete", "containersource", "doomed"]);
    wait_until("the process and its child to die", || {
        dead(pid) && dead(child)
    });
    // Like a pod's deletion: SIGTERM first, which the script traps.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("doomed.term")).unwrap(),
        "term\n"
    );

    apply(
        &h,
        &[container_source("stopped", sh("c", &script("stopped")))],
    );
    let pid = read_pid(&dir.path().join("stopped.pid"));
    let child = read_pid(&dir.path().join("stopped.child"));
    assert!(!dead(pid) && !dead(child));
    assert!(h.terminate(), "herald serve exits cleanly on SIGTERM");
    wait_until("no orphans after SIGTERM", || dead(pid) && dead(child));
    assert!(dir.path().join("stopped.term").exists());
}

/// A container without a command cannot run as a process: not Ready, with the reason.
#[test]
fn image_without_command_is_not_ready() {
    let h = Herald::start();
    setup(&h, json!({}), &[]);
    apply(
        &h,
        &[container_source(
            "imageonly",
            json!({"name": "c", "image": "gcr.io/knative-releases/heartbeats"}),
        )],
    );
    h.wait_jsonpath(&["containersource", "imageonly"], READY, "False");
    h.wait_jsonpath(&["containersource", "imageonly"], REASON, "NoCommand");
    let msg = h.kubectl_ok(&[
        "get",
        "containersource",
        "imageonly",
        "-o",
        &format!("jsonpath={MESSAGE}"),
    ]);
    assert!(
        msg.contains("set spec.template.spec.containers[0].command"),
        "{msg}"
    );
}

fn sink_binding(name: &str, broker: &str) -> Value {
    json!({
        "apiVersion": "sources.knative.dev/v1",
        "kind": "SinkBinding",
        "metadata": {"name": name},
        "spec": {
            "subject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
            "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                             "name": broker}},
            "ceOverrides": {"extensions": {"extra": "bound"}}
        }
    })
}

/// DP-58: `herald run --binding` gives a local command the binding's K_SINK and
/// K_CE_OVERRIDES, inherits stdio and exits with the command's code; an unresolved binding is a
/// clear error.
#[test]
fn herald_run_with_a_sink_binding() {
    let h = Herald::start();
    let sink = Sink::start();
    setup(&h, json!({}), &[trigger("t", &sink.at("/got"), json!({}))]);
    apply(
        &h,
        &[sink_binding("b", "default"), sink_binding("lost", "nope")],
    );
    h.wait_jsonpath(&["sinkbinding", "b"], READY, "True");

    let out = h.cli(&[
        "run",
        "--binding",
        "b",
        "--",
        "sh",
        "-c",
        &post_script("run-1"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "202", "curl's status code on stdout");
    let got = sink.wait_for("/got", 1, LONG);
    assert_eq!(got[0].header("ce-id"), Some("run-1"));
    assert_eq!(got[0].header("ce-extra"), Some("bound"));
    let data: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(data["sink"], json!(broker_url(&h)));

    let out = h.cli(&["run", "--binding", "b", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));

    h.wait_jsonpath(&["sinkbinding", "lost"], READY, "False");
    let out = h.cli(&["run", "--binding", "lost", "--", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("sinkbinding lost has no resolved sink yet: "),
        "{}",
        stderr(&out)
    );
    let out = h.cli(&["run", "--binding", "ghost", "--", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("sinkbinding ghost not found in namespace default"),
        "{}",
        stderr(&out)
    );
}
