//! Resources survive restarts, SIGKILL included; watches resume from a resourceVersion across a
//! restart, and a too-old one gets 410 Gone; SIGTERM stops Herald cleanly.

mod common;

use common::{Herald, data};
use serde_json::Value;

async fn get_json(url: &str) -> Value {
    common::http()
        .get(url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

/// Reads a watch stream until the server ends it (timeoutSeconds) and returns its events.
async fn watch_events(url: &str) -> (u16, Vec<Value>) {
    let resp = common::http().get(url).send().await.expect("watch");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let events = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (status, events)
}

#[tokio::test]
async fn objects_and_watch_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tmp");
    let data_dir = dir.path().join("data");
    let mut h = Herald::start_in(&data_dir);
    h.kubectl_ok(&[
        "apply",
        "-f",
        &data("seeds/broker.yaml"),
        "-f",
        &data("seeds/trigger.yaml"),
    ]);
    let list = get_json(&format!("{}/api/v1/namespaces/default/configmaps", h.api)).await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("list rv")
        .to_string();
    h.kubectl_ok(&["create", "configmap", "after-rv", "--from-literal=k=v"]);
    h.kill9();

    let h = Herald::start_in(&data_dir);
    let brokers = h.kubectl_ok(&["get", "brokers,triggers", "-o", "name"]);
    assert!(
        brokers.contains("broker.eventing.knative.dev/default"),
        "{brokers}"
    );
    assert!(
        brokers.contains("trigger.eventing.knative.dev/my-service-trigger"),
        "{brokers}"
    );
    let cm = h.kubectl_ok(&["get", "configmap", "after-rv", "-o", "jsonpath={.data.k}"]);
    assert_eq!(cm, "v");

    // A watch from the revision seen before the crash replays what happened after it.
    let (status, events) = watch_events(&format!(
        "{}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=2",
        h.api
    ))
    .await;
    assert_eq!(status, 200);
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "ADDED" && e["object"]["metadata"]["name"] == "after-rv"),
        "{events:?}"
    );
    // Status written by the controllers after restart still carries observedGeneration.
    h.wait_jsonpath(&["broker", "default"], "{.status.observedGeneration}", "1");
}

#[tokio::test]
async fn too_old_resource_version_is_gone() {
    let dir = tempfile::tempdir().expect("tmp");
    let h = Herald::start_with(&dir.path().join("data"), &["--watch-history", "5"]);
    for i in 0..12 {
        h.kubectl_ok(&[
            "create",
            "configmap",
            &format!("cm-{i}"),
            "--from-literal=k=v",
        ]);
    }
    let (status, events) = watch_events(&format!(
        "{}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=2&timeoutSeconds=2",
        h.api
    ))
    .await;
    let gone = status == 410
        || events
            .iter()
            .any(|e| e["type"] == "ERROR" && e["object"]["code"] == 410);
    assert!(gone, "status {status}, events {events:?}");
}

#[test]
fn sigterm_stops_cleanly() {
    let mut h = Herald::start();
    h.kubectl_ok(&["get", "namespaces"]);
    assert!(
        h.terminate(),
        "herald did not exit 0 on SIGTERM; log:\n{}",
        h.log()
    );
}
