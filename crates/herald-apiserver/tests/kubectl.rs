//! The real kubectl (default flags) against the API server with the test registry.

mod common;

use std::time::Duration;

use common::{Server, kubectl_command, test_registry};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const WIDGET: &str = "apiVersion: test.herald.dev/v1
kind: Widget
metadata:
  name: w1
  annotations:
    test.herald.dev/widget.class: fancy
spec:
  size: 3
  filter:
    attributes:
      type: old
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_workflow() {
    let s = Server::start(test_registry(), None).await;

    // Discovery.
    let out = s.kubectl_ok(&["api-resources"]).await;
    let line = out
        .lines()
        .find(|l| l.starts_with("widgets "))
        .unwrap_or_else(|| panic!("no widgets in api-resources:\n{out}"));
    assert!(
        line.contains("wd") && line.contains("test.herald.dev/v1") && line.contains("Widget"),
        "{line}"
    );
    assert!(out.lines().any(|l| l.starts_with("namespaces ")), "{out}");
    let out = s.kubectl_ok(&["version", "-o", "json"]).await;
    assert!(out.contains("v1.33.0-herald"), "{out}");

    // Client-side apply: create, then configure (merge patch).
    let f = s.write_file("w1.yaml", WIDGET);
    let out = s.kubectl_ok(&["apply", "-f", &f]).await;
    assert!(out.contains("widget.test.herald.dev/w1 created"), "{out}");
    let f2 = s.write_file("w1b.yaml", &WIDGET.replace("size: 3", "size: 5"));
    let out = s.kubectl_ok(&["apply", "-f", &f2]).await;
    assert!(
        out.contains("widget.test.herald.dev/w1 configured"),
        "{out}"
    );
    let out = s.kubectl_ok(&["apply", "-f", &f2]).await;
    assert!(out.contains("unchanged"), "{out}");

    // Strict validation rejects unknown fields; invalid objects get 422 messages.
    let bad = s.write_file(
        "bad.yaml",
        &WIDGET
            .replace("size: 3", "size: 3\n  foo: 1")
            .replace("w1", "w9"),
    );
    let (ok, _, err) = s.kubectl(&["apply", "-f", &bad]).await;
    assert!(!ok && err.contains("unknown field \"spec.foo\""), "{err}");
    let inv = s.write_file(
        "inv.yaml",
        &WIDGET.replace("size: 3", "size: -1").replace("w1", "w8"),
    );
    let (ok, _, err) = s.kubectl(&["apply", "-f", &inv]).await;
    assert!(!ok && err.contains("is invalid: spec.size"), "{err}");

    // get: server-side table with printer columns.
    let out = s.kubectl_ok(&["get", "widgets"]).await;
    let mut lines = out.lines();
    let header = lines.next().unwrap_or("");
    assert!(
        header.starts_with("NAME")
            && header.contains("SIZE")
            && header.contains("CLASS")
            && header.contains("READY")
            && header.contains("AGE"),
        "{out}"
    );
    let row = lines.next().unwrap_or("");
    assert!(
        row.starts_with("w1") && row.contains("5") && row.contains("fancy"),
        "{out}"
    );
    let out = s.kubectl_ok(&["get", "wd", "w1", "-o", "yaml"]).await;
    assert!(
        out.contains("size: 5") && out.contains("generation: 2"),
        "{out}"
    );
    let out = s
        .kubectl_ok(&[
            "get",
            "widgets.v1alpha1.test.herald.dev",
            "w1",
            "-o",
            "json",
        ])
        .await;
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["spec"]["oldSize"], json!(5));
    let out = s.kubectl_ok(&["get", "all"]).await;
    assert!(out.contains("w1") && out.contains("SIZE"), "{out}");

    // label / annotate (merge patches).
    let out = s.kubectl_ok(&["label", "widget", "w1", "team=a"]).await;
    assert!(out.contains("labeled"), "{out}");
    s.kubectl_ok(&["annotate", "widget", "w1", "note=hi"]).await;
    let out = s
        .kubectl_ok(&["get", "widgets", "-l", "team=a", "-o", "name"])
        .await;
    assert_eq!(out.trim(), "widget.test.herald.dev/w1");
    let out = s
        .kubectl_ok(&["get", "widgets", "-l", "team!=a", "-o", "name"])
        .await;
    assert_eq!(out.trim(), "");

    // edit through an editor command.
    let (ok, out, err) = s
        .kubectl_env(
            &["edit", "widget", "w1"],
            &[("KUBE_EDITOR", "sed -i s/type:\\ old/type:\\ new/")],
            None,
        )
        .await;
    assert!(ok, "edit: {out}\n{err}");
    let out = s
        .kubectl_ok(&[
            "get",
            "widget",
            "w1",
            "-o",
            "jsonpath={.spec.filter.attributes.type}",
        ])
        .await;
    assert_eq!(out, "new");

    // describe.
    let out = s.kubectl_ok(&["describe", "widget", "w1"]).await;
    assert!(
        out.contains("Name:") && out.contains("w1") && out.contains("Size:"),
        "{out}"
    );

    // explain from OpenAPI v3.
    let out = s.kubectl_ok(&["explain", "widgets"]).await;
    assert!(
        out.contains("KIND:") && out.contains("Widget") && out.contains("spec"),
        "{out}"
    );
    let out = s.kubectl_ok(&["explain", "widgets.spec.filter"]).await;
    assert!(
        out.contains("attributes") && out.contains("Exact attribute matches"),
        "{out}"
    );

    // wait: the status is written directly through the store meanwhile.
    let store = s.store.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let mut obj = store
            .get("test.herald.dev/widgets", "default", "w1")
            .expect("get")
            .expect("exists");
        obj["status"] = json!({"conditions": [{"type": "Ready", "status": "True"}]});
        store
            .update("test.herald.dev/widgets", obj)
            .expect("status update");
    });
    let out = s
        .kubectl_ok(&[
            "wait",
            "--for=condition=Ready",
            "widget/w1",
            "--timeout=20s",
        ])
        .await;
    assert!(out.contains("condition met"), "{out}");
    writer.await.expect("writer");

    // Server-side apply.
    let ssa = s.write_file("w2.yaml", &WIDGET.replace("w1", "w2"));
    let out = s.kubectl_ok(&["apply", "--server-side", "-f", &ssa]).await;
    assert!(out.contains("serverside-applied"), "{out}");
    let out = s.kubectl_ok(&["apply", "--server-side", "-f", &ssa]).await;
    assert!(out.contains("serverside-applied"), "{out}");

    // diff (server-side dry run), patch flavours, replace, create conflicts.
    let (_, out, err) = s.kubectl(&["diff", "-f", &f2]).await;
    assert!(
        err.is_empty() || !err.contains("error"),
        "diff: {out}\n{err}"
    );
    let out = s
        .kubectl_ok(&[
            "patch",
            "widget",
            "w1",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/size","value":6}]"#,
        ])
        .await;
    assert!(out.contains("patched"), "{out}");
    s.kubectl_ok(&[
        "patch",
        "widget",
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"False","reason":"Testing"}]}}"#,
    ])
    .await;
    let out = s
        .kubectl_ok(&[
            "get",
            "widget",
            "w1",
            "-o",
            "jsonpath={.spec.size}/{.status.conditions[0].reason}",
        ])
        .await;
    assert_eq!(out, "6/Testing");
    let out = s.kubectl_ok(&["replace", "-f", &f2]).await;
    assert!(out.contains("replaced"), "{out}");
    let (ok, _, err) = s.kubectl(&["create", "-f", &f2]).await;
    assert!(!ok && err.contains("AlreadyExists"), "{err}");
    let out = s
        .kubectl_ok(&["create", "configmap", "c1", "--from-literal=a=b"])
        .await;
    assert!(out.contains("configmap/c1 created"), "{out}");
    let out = s
        .kubectl_ok(&["create", "secret", "generic", "s1", "--from-literal=p=q"])
        .await;
    assert!(out.contains("secret/s1 created"), "{out}");
    let out = s.kubectl_ok(&["get", "secrets"]).await;
    assert!(out.contains("s1") && !out.contains("cQ=="), "{out}");
    let out = s
        .kubectl_ok(&["get", "configmap", "c1", "-o", "jsonpath={.data.a}"])
        .await;
    assert_eq!(out, "b");
    s.kubectl_ok(&["get", "events"]).await;

    // Namespaces.
    let out = s.kubectl_ok(&["create", "namespace", "team"]).await;
    assert!(out.contains("namespace/team created"), "{out}");
    let out = s.kubectl_ok(&["get", "ns"]).await;
    assert!(out.contains("team") && out.contains("Active"), "{out}");
    s.kubectl_ok(&["apply", "-n", "team", "-f", &f]).await;
    let out = s.kubectl_ok(&["get", "widgets", "-A"]).await;
    assert!(out.contains("team") && out.contains("default"), "{out}");

    // delete (kubectl waits for the object to disappear through a watch).
    let out = s.kubectl_ok(&["delete", "widget", "w2"]).await;
    assert!(out.contains("deleted"), "{out}");
    let out = s.kubectl_ok(&["delete", "-f", &f]).await;
    assert!(out.contains("deleted"), "{out}");
    let (ok, _, err) = s.kubectl(&["get", "widget", "w1"]).await;
    assert!(!ok && err.contains("NotFound"), "{err}");
    let out = s.kubectl_ok(&["delete", "namespace", "team"]).await;
    assert!(out.contains("deleted"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch() {
    let s = Server::start(test_registry(), None).await;
    let f = s.write_file("w1.yaml", WIDGET);
    s.kubectl_ok(&["apply", "-f", &f]).await;
    let mut cmd = kubectl_command();
    cmd.arg("--server")
        .arg(&s.url)
        .arg("--cache-dir")
        .arg(s.cache_dir())
        .args(["get", "widgets", "-w"])
        .env("KUBECONFIG", s.dir.path().join("no-kubeconfig"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    seen.push(next_line(&mut lines).await);
    seen.push(next_line(&mut lines).await);
    let f2 = s.write_file("w2.yaml", &WIDGET.replace("w1", "w2"));
    s.kubectl_ok(&["apply", "-f", &f2]).await;
    seen.push(next_line(&mut lines).await);
    let _ = child.kill().await;
    assert!(seen[0].starts_with("NAME"), "{seen:?}");
    assert!(seen[1].starts_with("w1"), "{seen:?}");
    assert!(seen[2].starts_with("w2"), "{seen:?}");
}

async fn next_line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("a watch line in time")
        .expect("read")
        .expect("line")
}
