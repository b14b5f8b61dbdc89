//! Every kubectl verb the resource API promises, driven by the real kubectl with its default
//! flags: apply (client-side and server-side), get (table, yaml, json, -w), describe, delete,
//! edit, label, annotate, wait, explain, api-resources, namespaces.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Herald, data, kubectl_path};

#[test]
fn discovery_explain_and_api_resources() {
    let h = Herald::start();
    let res = h.kubectl_ok(&["api-resources"]);
    for line in [
        ("brokers", "eventing.knative.dev/v1", "Broker"),
        ("triggers", "eventing.knative.dev/v1", "Trigger"),
        ("eventtypes", "eventing.knative.dev/v1beta3", "EventType"),
        (
            "inmemorychannels",
            "messaging.knative.dev/v1",
            "InMemoryChannel",
        ),
        ("subscriptions", "messaging.knative.dev/v1", "Subscription"),
        ("sequences", "flows.knative.dev/v1", "Sequence"),
        ("pingsources", "sources.knative.dev/v1", "PingSource"),
        ("namespaces", "v1", "Namespace"),
        ("configmaps", "v1", "ConfigMap"),
        ("secrets", "v1", "Secret"),
    ] {
        assert!(
            res.lines()
                .any(|l| l.starts_with(line.0) && l.contains(line.1) && l.contains(line.2)),
            "{line:?} missing from api-resources:\n{res}"
        );
    }
    let explain = h.kubectl_ok(&["explain", "triggers.spec.subscriber"]);
    assert!(explain.contains("uri"), "{explain}");
    assert!(explain.contains("ref"), "{explain}");
    let explain = h.kubectl_ok(&["explain", "brokers.spec.delivery"]);
    assert!(explain.contains("backoffPolicy"), "{explain}");
    assert!(explain.contains("retry"), "{explain}");
}

#[test]
fn namespaces_and_cascading_delete() {
    let h = Herald::start();
    let ns = h.kubectl_ok(&["get", "namespaces"]);
    assert!(ns.contains("default"), "{ns}");
    assert!(
        h.kubectl_ok(&["create", "namespace", "team-a"])
            .contains("namespace/team-a created")
    );
    // Creating in a namespace that does not exist is refused, as Kubernetes does.
    let err = h.kubectl_err(&[
        "apply",
        "-n",
        "nope",
        "-f",
        &data("knative-docs/pingsource.yaml"),
    ]);
    assert!(err.contains("namespaces \"nope\" not found"), "{err}");
    h.kubectl_ok(&[
        "apply",
        "-n",
        "team-a",
        "-f",
        &data("knative-docs/pingsource.yaml"),
    ]);
    h.kubectl_ok(&[
        "create",
        "configmap",
        "cfg",
        "-n",
        "team-a",
        "--from-literal=a=b",
    ]);
    h.kubectl_ok(&["delete", "namespace", "team-a"]);
    let left = h.kubectl(&[
        "get",
        "pingsources,configmaps",
        "-n",
        "team-a",
        "-o",
        "name",
    ]);
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "objects survived their namespace"
    );
    let err = h.kubectl_err(&["get", "namespace", "team-a"]);
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn describe_label_annotate_edit_delete() {
    let h = Herald::start();
    h.kubectl_ok(&["apply", "-f", &data("knative-docs/broker.yaml")]);
    let d = h.kubectl_ok(&["describe", "broker", "default"]);
    assert!(d.contains("Name:") && d.contains("default"), "{d}");
    assert!(d.contains("Conditions"), "{d}");

    assert!(
        h.kubectl_ok(&["label", "broker", "default", "team=payments"])
            .contains("labeled")
    );
    assert!(
        h.kubectl_ok(&["annotate", "broker", "default", "owner=alice"])
            .contains("annotated")
    );
    let labeled = h.kubectl_ok(&["get", "brokers", "-l", "team=payments", "-o", "name"]);
    assert_eq!(labeled.trim(), "broker.eventing.knative.dev/default");
    let none = h.kubectl(&["get", "brokers", "-l", "team!=payments", "-o", "name"]);
    assert!(!String::from_utf8_lossy(&none.stdout).contains("/default\n"));

    // kubectl edit with a scripted editor changes the delivery retry count.
    let out = Command::new(kubectl_path())
        .args(["--server", &h.api, "edit", "broker", "mybroker"])
        .env("KUBECONFIG", "/dev/null")
        .env("KUBE_EDITOR", "sed -i s/retry:\\ 5/retry:\\ 7/")
        .output()
        .expect("kubectl edit");
    assert!(
        out.status.success(),
        "edit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    h.wait_jsonpath(&["broker", "mybroker"], "{.spec.delivery.retry}", "7");
    h.wait_jsonpath(&["broker", "mybroker"], "{.metadata.generation}", "2");

    // Server-side apply creates and updates.
    let ssa = h.kubectl_ok(&[
        "apply",
        "--server-side",
        "-f",
        &data("knative-docs/channel.yaml"),
    ]);
    assert!(ssa.contains("serverside-applied"), "{ssa}");
    let ssa = h.kubectl_ok(&[
        "apply",
        "--server-side",
        "-f",
        &data("knative-docs/channel.yaml"),
    ]);
    assert!(ssa.contains("serverside-applied"), "{ssa}");

    let del = h.kubectl_ok(&["delete", "broker", "default"]);
    assert!(
        del.contains("broker.eventing.knative.dev \"default\" deleted"),
        "{del}"
    );
    let err = h.kubectl_err(&["get", "broker", "default"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
}

#[test]
fn get_watch_streams_changes() {
    let h = Herald::start();
    h.kubectl_ok(&["apply", "-f", &data("knative-docs/pingsource.yaml")]);
    let mut child = Command::new(kubectl_path())
        .args([
            "--server",
            &h.api,
            "get",
            "pingsources",
            "-w",
            "--request-timeout=0",
        ])
        .env("KUBECONFIG", "/dev/null")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20)).expect("header");
    assert!(first.starts_with("NAME"), "{first}");
    let second_source = std::fs::read_to_string(data("knative-docs/pingsource.yaml"))
        .expect("read")
        .replace("test-ping-source", "second-ping-source");
    let out = h.kubectl_stdin(&["apply", "-f", "-"], Some(&second_source));
    assert!(out.status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while Instant::now() < deadline
        && !seen
            .iter()
            .any(|l: &String| l.starts_with("second-ping-source"))
    {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
            seen.push(l);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.iter().any(|l| l.starts_with("second-ping-source")),
        "watch lines: {seen:?}"
    );
}

#[test]
fn strict_field_validation_and_invalid_objects() {
    let h = Herald::start();
    let unknown = "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: b}\nspec: {delivery: {retry: 1}, bogus: 1}\n";
    let out = h.kubectl_stdin(&["apply", "-f", "-"], Some(unknown));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown field") && err.contains("spec.bogus"),
        "{err}"
    );

    let invalid = "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t}\nspec:\n  broker: default\n  filter: {attributes: {SOURCE: x}}\n  subscriber: {uri: http://127.0.0.1:1/}\n";
    let out = h.kubectl_stdin(&["apply", "-f", "-"], Some(invalid));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is invalid") && err.contains("spec.filter.attributes.SOURCE"),
        "{err}"
    );

    // Immutable broker class.
    h.kubectl_ok(&["apply", "-f", &data("knative-docs/broker.yaml")]);
    let err = h.kubectl_err(&[
        "annotate",
        "--overwrite",
        "broker",
        "mybroker",
        "eventing.knative.dev/broker.class=Kafka",
    ]);
    assert!(
        err.contains("Immutable") || err.contains("immutable"),
        "{err}"
    );
    // Immutable trigger broker.
    h.kubectl_ok(&["apply", "-f", &data("knative-docs/trigger.yaml")]);
    let err = h.kubectl_err(&[
        "patch",
        "trigger",
        "my-service-trigger",
        "--type=merge",
        "-p",
        "{\"spec\":{\"broker\":\"other\"}}",
    ]);
    assert!(err.contains("spec.broker"), "{err}");
}

#[test]
fn wait_for_condition() {
    let h = Herald::start();
    h.kubectl_ok(&["apply", "-f", &data("knative-docs/services.yaml")]);
    h.kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "services.serving.knative.dev/my-service",
        "--timeout=20s",
    ]);
    h.kubectl_ok(&["apply", "-f", &data("knative-docs/trigger.yaml")]);
    h.kubectl_ok(&[
        "wait",
        "--for=condition=SubscriberResolved",
        "trigger/my-service-trigger",
        "--timeout=20s",
    ]);
    // Ready is False while the broker does not exist; wait says so by timing out.
    let err = h.kubectl_err(&[
        "wait",
        "--for=condition=Ready",
        "trigger/my-service-trigger",
        "--timeout=2s",
    ]);
    assert!(err.contains("timed out"), "{err}");
}
