//! Bad input on the resource API, with raw HTTP: every case gets the right status code and a
//! Kubernetes `Status` body, and nothing crashes the server or corrupts the store.

mod common;

use common::Herald;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn send(method: reqwest::Method, url: &str, ct: &str, body: &str) -> (StatusCode, Value) {
    let resp = common::http()
        .request(method, url)
        .header("Content-Type", ct)
        .header("Accept", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn brokers(h: &Herald) -> String {
    format!(
        "{}/apis/eventing.knative.dev/v1/namespaces/default/brokers",
        h.api
    )
}

#[tokio::test]
async fn malformed_unknown_invalid_conflict() {
    let h = Herald::start();
    let post = reqwest::Method::POST;

    // Malformed JSON: 400 with the parser's position.
    let (s, v) = send(
        post.clone(),
        &brokers(&h),
        "application/json",
        "{\"apiVersion\": ",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["kind"], "Status");
    assert!(
        v["message"].as_str().unwrap_or_default().contains("line 1"),
        "{v}"
    );

    // Unknown resource: 404 naming what exists.
    let (s, v) = send(
        post.clone(),
        &format!(
            "{}/apis/eventing.knative.dev/v1/namespaces/default/brokerz",
            h.api
        ),
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("brokers"),
        "{v}"
    );
    let (s, v) = send(
        reqwest::Method::GET,
        &format!("{}/apis/eventing.knative.dev/v9/brokers", h.api),
        "application/json",
        "",
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    // Invalid object: 422 with field paths.
    let bad = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger", "metadata": {"name": "t"},
        "spec": {"broker": "default", "subscriber": {"uri": "http://127.0.0.1:1/"},
                 "filters": [{"exact": {"type": "a"}, "prefix": {"type": "b"}}]}});
    let (s, v) = send(
        post.clone(),
        &format!(
            "{}/apis/eventing.knative.dev/v1/namespaces/default/triggers",
            h.api
        ),
        "application/json",
        &bad.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["reason"], "Invalid");
    let fields: Vec<&str> = v["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["field"].as_str())
        .collect();
    assert!(
        fields.iter().any(|f| f.starts_with("spec.filters[0]")),
        "{v}"
    );

    // Wrong type at a path: 422 naming it.
    let bad = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "metadata": {"name": "b"}, "spec": {"delivery": {"retry": "many"}}});
    let (s, v) = send(
        post.clone(),
        &brokers(&h),
        "application/json",
        &bad.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("spec.delivery.retry"),
        "{v}"
    );

    // Create, then update with a stale resourceVersion: 409.
    let ok = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "metadata": {"name": "b"}});
    let (s, created) = send(
        post.clone(),
        &brokers(&h),
        "application/json",
        &ok.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let (s, v) = send(
        post.clone(),
        &brokers(&h),
        "application/json",
        &ok.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["reason"], "AlreadyExists");
    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["metadata"]["labels"] = json!({"x": "y"});
    let (s, v) = send(
        reqwest::Method::PUT,
        &format!("{}/b", brokers(&h)),
        "application/json",
        &stale.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["reason"], "Conflict");

    // Mismatched kind and namespace.
    let wrong = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger", "metadata": {"name": "x"}});
    let (s, _) = send(
        post.clone(),
        &brokers(&h),
        "application/json",
        &wrong.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let other_ns = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "metadata": {"name": "x", "namespace": "other"}});
    let (s, _) = send(
        post.clone(),
        &brokers(&h),
        "application/json",
        &other_ns.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Garbage of every shape never crashes the server.
    for body in [
        "",
        "null",
        "[]",
        "42",
        "\"x\"",
        "{\"metadata\": 5}",
        "{\"apiVersion\": \"eventing.knative.dev/v1\", \"kind\": \"Broker\", \"metadata\": {\"name\": 5}}",
        "\u{0}\u{1}",
    ] {
        let (s, _) = send(post.clone(), &brokers(&h), "application/json", body).await;
        assert!(s.is_client_error(), "{body:?} -> {s}");
    }
    let (s, v) = send(reqwest::Method::GET, &format!("{}/b", brokers(&h)), "", "").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["metadata"]["name"], "b");
}

#[tokio::test]
async fn token_required_when_configured() {
    let dir = tempfile::tempdir().expect("tmp");
    let data_dir = dir.path().join("data");
    let h = Herald::start_with(&data_dir, &["--api-token", "s3cret"]);
    assert!(h.api.starts_with("https://127.0.0.1:"), "{}", h.api);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = std::fs::read(data_dir.join("tls/ca.crt")).expect("generated CA");
    let client = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(&ca).expect("pem")])
        .build()
        .expect("client");
    let resp = client
        .get(format!("{}/api/v1/namespaces", h.api))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = client
        .get(format!("{}/api/v1/namespaces", h.api))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
}
