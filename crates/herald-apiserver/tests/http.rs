//! The API over raw HTTP: discovery, CRUD, errors, patches, tables, watch, auth.

mod common;

use std::time::Duration;

use common::{Server, http, test_registry};
use serde_json::{Value, json};

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
const WIDGETS: &str = "/apis/test.herald.dev/v1/namespaces/default/widgets";

async fn send(
    s: &Server,
    method: &str,
    path: &str,
    ct: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut r = http().request(method, format!("{}{path}", s.url));
    if let Some(b) = body {
        r = r
            .header("Content-Type", ct.unwrap_or("application/json"))
            .body(b.to_string());
    }
    let resp = r.send().await.expect("request");
    let code = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (code, v, headers)
}

fn widget(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "test.herald.dev/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_documents() {
    let s = Server::start(test_registry(), None).await;
    let (c, v, _) = send(&s, "GET", "/version", None, None).await;
    assert_eq!(c, 200);
    assert_eq!(v["major"], json!("1"));
    assert!(
        v["gitVersion"]
            .as_str()
            .is_some_and(|g| g.starts_with("v1.33.0-herald"))
    );

    let (_, v, _) = send(&s, "GET", "/api", None, None).await;
    assert_eq!(v["versions"], json!(["v1"]));
    let (_, v, _) = send(&s, "GET", "/apis", None, None).await;
    assert_eq!(v["kind"], json!("APIGroupList"));
    assert_eq!(v["groups"][0]["name"], json!("test.herald.dev"));
    assert_eq!(v["groups"][0]["preferredVersion"]["version"], json!("v1"));
    assert_eq!(v["groups"][0]["versions"][1]["version"], json!("v1alpha1"));

    let (c, v, h) = send(&s, "GET", "/apis/test.herald.dev/v1", None, None).await;
    assert_eq!(c, 200);
    assert_eq!(h["content-type"], "application/json");
    let names: Vec<&str> = v["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, vec!["widgets", "widgets/status"]);
    assert_eq!(v["resources"][0]["shortNames"], json!(["wd"]));
    assert_eq!(v["resources"][0]["namespaced"], json!(true));

    let (_, v, _) = send(&s, "GET", "/api/v1", None, None).await;
    let names: Vec<&str> = v["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&"namespaces") && names.contains(&"events"));

    let (c, v, _) = send(&s, "GET", "/apis/nope.dev/v1/foos", None, None).await;
    assert_eq!(c, 404);
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("test.herald.dev/v1")),
        "{v}"
    );
    let (c, v, _) = send(&s, "GET", "/apis/test.herald.dev/v1/gadgets", None, None).await;
    assert_eq!(c, 404);
    assert!(
        v["message"].as_str().is_some_and(|m| m.contains("widgets")),
        "{v}"
    );

    let (_, root, _) = send(&s, "GET", "/openapi/v3", None, None).await;
    let url = root["paths"]["apis/test.herald.dev/v1"]["serverRelativeURL"]
        .as_str()
        .expect("gv path")
        .to_string();
    let (c, doc, _) = send(&s, "GET", &url, None, None).await;
    assert_eq!(c, 200);
    let patch =
        &doc["paths"]["/apis/test.herald.dev/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"]["kind"],
        json!("Widget")
    );
    let content = patch["requestBody"]["content"]
        .as_object()
        .expect("content");
    assert!(content.contains_key("application/merge-patch+json"));
    assert!(!content.contains_key("application/strategic-merge-patch+json"));
    assert!(
        patch["parameters"]
            .as_array()
            .expect("params")
            .iter()
            .any(|p| p["name"] == json!("fieldValidation"))
    );
    assert!(
        doc["components"]["schemas"]["dev.herald.test.v1.Widget"]["properties"]["spec"].is_object()
    );
    let url = root["paths"]["api/v1"]["serverRelativeURL"]
        .as_str()
        .expect("core path")
        .to_string();
    let (_, core, _) = send(&s, "GET", &url, None, None).await;
    let patch = &core["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
    assert!(patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object());
    assert_eq!(
        core["components"]["schemas"]["io.k8s.api.core.v1.ConfigMap"]["x-kubernetes-group-version-kind"],
        json!([{"group": "", "version": "v1", "kind": "ConfigMap"}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_errors_and_generation() {
    let s = Server::start(test_registry(), None).await;
    // Create: 201, defaults applied, generation 1, status dropped.
    let mut w = widget("a", json!({"size": 1}));
    w["status"] = json!({"conditions": [{"type": "Ready", "status": "True"}]});
    let (c, v, _) = send(&s, "POST", WIDGETS, None, Some(w)).await;
    assert_eq!(c, 201, "{v}");
    assert_eq!(v["spec"]["color"], json!("blue"));
    assert_eq!(v["metadata"]["generation"], json!(1));
    assert!(
        v.get("status")
            .is_none_or(|s| s.get("conditions").is_none()),
        "{v}"
    );
    let rv1 = v["metadata"]["resourceVersion"].clone();

    // AlreadyExists.
    let (c, v, _) = send(&s, "POST", WIDGETS, None, Some(widget("a", json!({})))).await;
    assert_eq!((c, v["reason"].clone()), (409, json!("AlreadyExists")));

    // Invalid -> 422 with causes.
    let (c, v, _) = send(
        &s,
        "POST",
        WIDGETS,
        None,
        Some(widget("bad", json!({"size": -1}))),
    )
    .await;
    assert_eq!(c, 422, "{v}");
    assert_eq!(v["reason"], json!("Invalid"));
    assert_eq!(v["details"]["causes"][0]["field"], json!("spec.size"));
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Widget.test.herald.dev \"bad\" is invalid: spec.size")),
        "{v}"
    );

    // Strict field validation -> 400; Warn -> pruned with a Warning header.
    let (c, v, _) = send(
        &s,
        "POST",
        &format!("{WIDGETS}?fieldValidation=Strict"),
        None,
        Some(widget("u", json!({"foo": 1}))),
    )
    .await;
    assert_eq!(c, 400);
    assert_eq!(
        v["message"],
        json!(
            "Widget in version \"v1\" cannot be handled as a Widget: strict decoding error: unknown field \"spec.foo\""
        )
    );
    let (c, v, h) = send(
        &s,
        "POST",
        WIDGETS,
        None,
        Some(widget("u", json!({"foo": 1}))),
    )
    .await;
    assert_eq!(c, 201);
    assert!(v["spec"].get("foo").is_none());
    assert_eq!(h["warning"], "299 - \"unknown field \\\"spec.foo\\\"\"");

    // Malformed JSON, wrong kind, namespace mismatch, missing namespace.
    let r = http()
        .post(format!("{}{WIDGETS}", s.url))
        .header("Content-Type", "application/json")
        .body("{\"metadata\": ")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.expect("text").contains("line 1"));
    let mut wrong = widget("k", json!({}));
    wrong["kind"] = json!("Gadget");
    assert_eq!(send(&s, "POST", WIDGETS, None, Some(wrong)).await.0, 400);
    let mut other_ns = widget("k", json!({}));
    other_ns["metadata"]["namespace"] = json!("other");
    assert_eq!(send(&s, "POST", WIDGETS, None, Some(other_ns)).await.0, 400);
    let (c, v, _) = send(
        &s,
        "POST",
        "/apis/test.herald.dev/v1/namespaces/nope/widgets",
        None,
        Some(widget("k", json!({}))),
    )
    .await;
    assert_eq!(c, 404);
    assert_eq!(v["message"], json!("namespaces \"nope\" not found"));

    // Get / NotFound.
    let (c, v, _) = send(&s, "GET", &format!("{WIDGETS}/a"), None, None).await;
    assert_eq!((c, v["spec"]["size"].clone()), (200, json!(1)));
    let (c, v, _) = send(&s, "GET", &format!("{WIDGETS}/zz"), None, None).await;
    assert_eq!(c, 404);
    assert_eq!(
        v["details"],
        json!({"name": "zz", "group": "test.herald.dev", "kind": "widgets"})
    );
    assert_eq!(
        v["message"],
        json!("widgets.test.herald.dev \"zz\" not found")
    );

    // Status write changes only status; main write keeps status; generation tracks spec.
    let st = json!({"apiVersion": "test.herald.dev/v1", "kind": "Widget", "metadata": {"name": "a"},
                "spec": {"size": 99}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let (c, v, _) = send(&s, "PUT", &format!("{WIDGETS}/a/status"), None, Some(st)).await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(v["spec"]["size"], json!(1));
    assert_eq!(v["status"]["conditions"][0]["status"], json!("True"));
    assert_eq!(v["metadata"]["generation"], json!(1));
    let (c, v, _) = send(
        &s,
        "PATCH",
        &format!("{WIDGETS}/a"),
        Some("application/merge-patch+json"),
        Some(json!({"metadata": {"labels": {"x": "y"}}, "status": {"conditions": []}})),
    )
    .await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(v["metadata"]["generation"], json!(1));
    assert_eq!(v["status"]["conditions"][0]["status"], json!("True"));
    let (_, v, _) = send(
        &s,
        "PATCH",
        &format!("{WIDGETS}/a"),
        Some("application/merge-patch+json"),
        Some(json!({"spec": {"size": 2}})),
    )
    .await;
    assert_eq!(v["metadata"]["generation"], json!(2));

    // Stale resourceVersion -> 409 Conflict.
    let mut stale = widget("a", json!({"size": 3}));
    stale["metadata"]["resourceVersion"] = rv1;
    let (c, v, _) = send(&s, "PUT", &format!("{WIDGETS}/a"), None, Some(stale)).await;
    assert_eq!((c, v["reason"].clone()), (409, json!("Conflict")));

    // Immutable field on update -> 422.
    let (c, _, _) = send(
        &s,
        "PATCH",
        &format!("{WIDGETS}/a"),
        Some("application/merge-patch+json"),
        Some(json!({"spec": {"class": "new"}})),
    )
    .await;
    assert_eq!(c, 422);

    // JSON patch, strategic merge patch rejected content type, apply-patch create and merge.
    let (c, v, _) = send(
        &s,
        "PATCH",
        &format!("{WIDGETS}/a"),
        Some("application/json-patch+json"),
        Some(json!([{"op": "replace", "path": "/spec/size", "value": 7}])),
    )
    .await;
    assert_eq!((c, v["spec"]["size"].clone()), (200, json!(7)));
    let (c, _, _) = send(
        &s,
        "PATCH",
        &format!("{WIDGETS}/a"),
        Some("application/json-patch+json"),
        Some(json!([{"op": "test", "path": "/spec/size", "value": 8}])),
    )
    .await;
    assert_eq!(c, 400);
    let (c, v, _) = send(
        &s,
        "PATCH",
        &format!("{WIDGETS}/ssa?fieldManager=t"),
        Some("application/apply-patch+yaml"),
        Some(widget("ssa", json!({"size": 4}))),
    )
    .await;
    assert_eq!(c, 201, "{v}");
    let (c, v, _) = send(&s, "PATCH", &format!("{WIDGETS}/ssa?fieldManager=t&force=true"), Some("application/apply-patch+yaml"),
        Some(json!({"apiVersion": "test.herald.dev/v1", "kind": "Widget", "metadata": {"name": "ssa", "labels": {"l": "1"}}}))).await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(v["spec"]["size"], json!(4));
    assert_eq!(v["metadata"]["labels"]["l"], json!("1"));

    // Dry run does not persist.
    let (c, _, _) = send(
        &s,
        "POST",
        &format!("{WIDGETS}?dryRun=All"),
        None,
        Some(widget("dry", json!({}))),
    )
    .await;
    assert_eq!(c, 201);
    assert_eq!(
        send(&s, "GET", &format!("{WIDGETS}/dry"), None, None)
            .await
            .0,
        404
    );

    // Deprecated version: converted and warned.
    let (c, v, h) = send(
        &s,
        "GET",
        "/apis/test.herald.dev/v1alpha1/namespaces/default/widgets/a",
        None,
        None,
    )
    .await;
    assert_eq!(c, 200);
    assert_eq!(v["spec"]["oldSize"], json!(7));
    assert_eq!(v["apiVersion"], json!("test.herald.dev/v1alpha1"));
    assert!(
        h["warning"]
            .to_str()
            .expect("warning")
            .contains("deprecated")
    );

    // List, selectors, table.
    let (_, v, _) = send(
        &s,
        "GET",
        &format!("{WIDGETS}?labelSelector=x%3Dy"),
        None,
        None,
    )
    .await;
    assert_eq!(v["kind"], json!("WidgetList"));
    assert_eq!(v["items"].as_array().map(Vec::len), Some(1));
    let (_, v, _) = send(
        &s,
        "GET",
        "/apis/test.herald.dev/v1/widgets?fieldSelector=metadata.name%3Dssa",
        None,
        None,
    )
    .await;
    assert_eq!(v["items"][0]["metadata"]["name"], json!("ssa"));
    let r = http()
        .get(format!("{}{WIDGETS}", s.url))
        .header("Accept", TABLE)
        .send()
        .await
        .expect("table");
    let t: Value = r.json().await.expect("json");
    assert_eq!(t["kind"], json!("Table"));
    assert_eq!(t["columnDefinitions"][0]["name"], json!("Name"));
    assert_eq!(t["rows"][0]["cells"][0], json!("a"));
    assert_eq!(t["rows"][0]["cells"][1], json!(7));
    assert_eq!(t["rows"][0]["cells"][3], json!("True"));
    assert!(
        t["rows"][0]["cells"][4]
            .as_str()
            .is_some_and(|a| a.ends_with('s'))
    );
    assert_eq!(
        t["rows"][0]["object"]["kind"],
        json!("PartialObjectMetadata")
    );

    // Delete, deletecollection.
    let (c, _, _) = send(&s, "DELETE", &format!("{WIDGETS}/a"), None, None).await;
    assert_eq!(c, 200);
    assert_eq!(
        send(&s, "GET", &format!("{WIDGETS}/a"), None, None).await.0,
        404
    );
    let (c, v, _) = send(&s, "DELETE", WIDGETS, None, None).await;
    assert_eq!(c, 200);
    assert_eq!(v["items"].as_array().map(Vec::len), Some(2));
    let (_, v, _) = send(&s, "GET", WIDGETS, None, None).await;
    assert_eq!(v["items"], json!([]));

    // Events list.
    let (c, v, _) = send(&s, "GET", "/api/v1/namespaces/default/events", None, None).await;
    assert_eq!((c, v["kind"].clone()), (200, json!("EventList")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_secrets() {
    let s = Server::start(test_registry(), None).await;
    let (c, v, _) = send(
        &s,
        "POST",
        "/api/v1/namespaces",
        None,
        Some(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})),
    )
    .await;
    assert_eq!(c, 201, "{v}");
    assert_eq!(v["status"]["phase"], json!("Active"));
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "c2VjcmV0"}});
    let (c, _, _) = send(
        &s,
        "POST",
        "/api/v1/namespaces/team/secrets",
        None,
        Some(secret),
    )
    .await;
    assert_eq!(c, 201);
    let r = http()
        .get(format!("{}/api/v1/namespaces/team/secrets", s.url))
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .send()
        .await
        .expect("table");
    let text = r.text().await.expect("text");
    assert!(!text.contains("c2VjcmV0"), "{text}");
    let r = http()
        .get(format!(
            "{}/api/v1/namespaces/team/secrets?includeObject=Object",
            s.url
        ))
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .send()
        .await
        .expect("table");
    assert!(!r.text().await.expect("text").contains("c2VjcmV0"));
    // Strategic merge patch is accepted for core kinds.
    let (c, v, _) = send(
        &s,
        "PATCH",
        "/api/v1/namespaces/team/secrets/s",
        Some("application/strategic-merge-patch+json"),
        Some(json!({"metadata": {"labels": {"a": "b"}}, "$setElementOrder/x": []})),
    )
    .await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(v["metadata"]["labels"]["a"], json!("b"));
    let (c, _, _) = send(&s, "DELETE", "/api/v1/namespaces/team", None, None).await;
    assert_eq!(c, 200);
    assert_eq!(
        send(&s, "GET", "/api/v1/namespaces/team/secrets/s", None, None)
            .await
            .0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_changes() {
    let s = Server::start(test_registry(), None).await;
    send(&s, "POST", WIDGETS, None, Some(widget("w1", json!({})))).await;
    let mut resp = http()
        .get(format!("{}{WIDGETS}?watch=1&timeoutSeconds=5", s.url))
        .send()
        .await
        .expect("watch");
    assert_eq!(resp.status().as_u16(), 200);
    let store = s.store.clone();
    let url = s.url.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = http()
            .post(format!("{url}{WIDGETS}"))
            .header("Content-Type", "application/json")
            .body(widget("w2", json!({})).to_string())
            .send()
            .await;
        let _ = http().delete(format!("{url}{WIDGETS}/w1")).send().await;
        drop(store);
    });
    let mut buf = String::new();
    let mut events = Vec::new();
    while events.len() < 3 {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("watch event in time")
            .expect("chunk");
        let Some(chunk) = chunk else { break };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(i) = buf.find('\n') {
            let line: String = buf.drain(..=i).collect();
            let v: Value = serde_json::from_str(&line).expect("event json");
            events.push((
                v["type"].as_str().unwrap_or("").to_string(),
                v["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            ));
        }
    }
    assert_eq!(
        events,
        vec![
            ("ADDED".to_string(), "w1".to_string()),
            ("ADDED".to_string(), "w2".to_string()),
            ("DELETED".to_string(), "w1".to_string()),
        ]
    );

    // A too old revision yields an ERROR event with a 410 Status, or the stream just works
    // when the store keeps all history.
    let rv = s.store.current_rv();
    let resp = http()
        .get(format!(
            "{}{WIDGETS}?watch=true&resourceVersion={rv}&timeoutSeconds=1",
            s.url
        ))
        .send()
        .await
        .expect("watch");
    assert_eq!(resp.status().as_u16(), 200);
    // timeoutSeconds ends the stream.
    let body = tokio::time::timeout(Duration::from_secs(5), resp.text())
        .await
        .expect("ended");
    assert!(body.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_required() {
    let s = Server::start(test_registry(), Some("sekret")).await;
    let r = http()
        .get(format!("{}/healthz", s.url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.expect("t"), "ok");
    let r = http()
        .get(format!("{}/api", s.url))
        .send()
        .await
        .expect("api");
    assert_eq!(r.status().as_u16(), 401);
    let v: Value = r.json().await.expect("status");
    assert_eq!(v["reason"], json!("Unauthorized"));
    let r = http()
        .get(format!("{}/api", s.url))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("api");
    assert_eq!(r.status().as_u16(), 401);
    let r = http()
        .get(format!("{}/api", s.url))
        .bearer_auth("sekret")
        .send()
        .await
        .expect("api");
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_do_not_panic() {
    let s = Server::start(test_registry(), None).await;
    let bodies = [
        "",
        "null",
        "[]",
        "1",
        "\"x\"",
        "{\"metadata\": 1}",
        "{\"metadata\": {\"name\": 5}}",
        "{\"spec\": []}",
        "{\"apiVersion\": 1}",
        "{\"metadata\": {\"labels\": []}}",
    ];
    for b in bodies {
        for (m, path, ct) in [
            ("POST", WIDGETS.to_string(), "application/json"),
            ("PUT", format!("{WIDGETS}/x"), "application/json"),
            (
                "PATCH",
                format!("{WIDGETS}/x"),
                "application/merge-patch+json",
            ),
            (
                "PATCH",
                format!("{WIDGETS}/x"),
                "application/json-patch+json",
            ),
            (
                "PATCH",
                format!("{WIDGETS}/x"),
                "application/apply-patch+yaml",
            ),
            ("PATCH", format!("{WIDGETS}/x"), "text/plain"),
            ("DELETE", format!("{WIDGETS}/x"), "application/json"),
        ] {
            let r = http()
                .request(
                    reqwest::Method::from_bytes(m.as_bytes()).expect("m"),
                    format!("{}{path}", s.url),
                )
                .header("Content-Type", ct)
                .body(b)
                .send()
                .await
                .expect("server answered");
            assert!(
                r.status().as_u16() < 500,
                "{m} {path} {b:?}: {}",
                r.status()
            );
        }
    }
    for path in [
        "/apis/test.herald.dev/v1/namespaces/default/widgets/a/b/c",
        "/apis/test.herald.dev/v1/widgets/x",
        "/apis/test.herald.dev/v1/namespaces/default/widgets?labelSelector=a%20in%20b",
        "/apis/test.herald.dev/v1/namespaces/default/widgets?watch=1&resourceVersion=abc",
        "/apis/test.herald.dev/v1/namespaces/default/widgets?fieldSelector=spec.x%3D1",
        "/apis/test.herald.dev",
        "/apis/x",
        "/openapi/v3/apis/nope/v1",
        "/nothing",
    ] {
        let r = http()
            .get(format!("{}{path}", s.url))
            .send()
            .await
            .expect("answer");
        assert!(r.status().as_u16() < 500, "{path}: {}", r.status());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_namespace_refuses_new_content() {
    let s = Server::start(test_registry(), None).await;
    let (c, _, _) = send(
        &s,
        "POST",
        "/api/v1/namespaces",
        None,
        Some(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}})),
    )
    .await;
    assert_eq!(c, 201);
    let base = "/apis/test.herald.dev/v1/namespaces/gone/widgets";
    let mut w = widget("held", json!({}));
    w["metadata"]["finalizers"] = json!(["test.herald.dev/hold"]);
    assert_eq!(send(&s, "POST", base, None, Some(w)).await.0, 201);
    let (c, v, _) = send(&s, "DELETE", "/api/v1/namespaces/gone", None, None).await;
    assert_eq!(c, 200, "{v}");
    let (c, v, _) = send(&s, "GET", "/api/v1/namespaces/gone", None, None).await;
    assert_eq!(c, 200, "the namespace waits for the finalizer: {v}");
    assert_eq!(v["status"]["phase"], json!("Terminating"));
    let (c, v, _) = send(&s, "POST", base, None, Some(widget("new", json!({})))).await;
    assert_eq!(c, 403, "{v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("being terminated")),
        "{v}"
    );
    // Dropping the finalizer lets the namespace go.
    let (_, held, _) = send(&s, "GET", &format!("{base}/held"), None, None).await;
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
    let (c, v, _) = send(
        &s,
        "PATCH",
        &format!("{base}/held"),
        Some("application/merge-patch+json"),
        Some(json!({"metadata": {"finalizers": null}})),
    )
    .await;
    assert_eq!(c, 200, "{v}");
    let mut gone = false;
    for _ in 0..50 {
        if send(&s, "GET", "/api/v1/namespaces/gone", None, None)
            .await
            .0
            == 404
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "namespace not removed after its content was");
}

/// Reads watch lines until `n` events arrived.
async fn events(resp: &mut reqwest::Response, n: usize) -> Vec<Value> {
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("watch event in time")
            .expect("chunk");
        let Some(chunk) = chunk else { break };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(i) = buf.find('\n') {
            let line: String = buf.drain(..=i).collect();
            out.push(serde_json::from_str(&line).expect("event json"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_tables_and_selector_transitions() {
    let s = Server::start(test_registry(), None).await;
    let mut w = widget("t1", json!({"size": 2}));
    w["metadata"]["labels"] = json!({"app": "x"});
    send(&s, "POST", WIDGETS, None, Some(w)).await;
    let mut resp = http()
        .get(format!(
            "{}{WIDGETS}?watch=true&labelSelector=app%3Dx&timeoutSeconds=10",
            s.url
        ))
        .header("Accept", TABLE)
        .send()
        .await
        .expect("watch");
    let first = events(&mut resp, 1).await;
    assert_eq!(first[0]["type"], json!("ADDED"));
    assert_eq!(first[0]["object"]["kind"], json!("Table"));
    assert_eq!(first[0]["object"]["rows"][0]["cells"][0], json!("t1"));
    assert_eq!(first[0]["object"]["rows"][0]["cells"][1], json!(2));
    // The label goes away: the watcher sees DELETED; it comes back: ADDED.
    let patch = |labels: Value| {
        let url = format!("{}{WIDGETS}/t1", s.url);
        async move {
            http()
                .patch(url)
                .header("Content-Type", "application/merge-patch+json")
                .body(json!({"metadata": {"labels": labels}}).to_string())
                .send()
                .await
                .expect("patch")
        }
    };
    patch(json!({"app": "y"})).await;
    patch(json!({"app": "x"})).await;
    let more = events(&mut resp, 2).await;
    let types: Vec<&str> = more.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, vec!["DELETED", "ADDED"]);
}
