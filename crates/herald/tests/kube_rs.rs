//! kube-rs, the Rust Kubernetes client, as a second real client of Herald's API: typed core
//! objects, dynamic Knative objects, list, patch, watch, delete.

mod common;

use common::Herald;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
    PostParams, WatchEvent, WatchParams,
};
use kube::{Client, Config};
use serde_json::json;

fn client(h: &Herald) -> Client {
    let config = Config::new(h.api.parse().expect("api url"));
    Client::try_from(config).expect("kube client")
}

#[tokio::test]
async fn kube_rs_drives_herald() {
    let h = Herald::start();
    let client = client(&h);

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&Default::default())
        .await
        .expect("list ns")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"default".to_string()), "{names:?}");

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "cfg"}, "data": {"a": "1"}}))
            .expect("cm");
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create cm");
    assert_eq!(
        cms.get("cfg")
            .await
            .expect("get cm")
            .data
            .and_then(|d| d.get("a").cloned()),
        Some("1".into())
    );

    let gvk = GroupVersionKind::gvk("eventing.knative.dev", "v1", "Broker");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "brokers");
    let brokers: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let list = brokers
        .list(&Default::default())
        .await
        .expect("list brokers");
    let rv = list.metadata.resource_version.clone().expect("rv");

    let mut stream = brokers
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .expect("watch")
        .boxed();
    let b: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "metadata": {"name": "kb"}}))
    .expect("broker");
    brokers
        .create(&PostParams::default(), &b)
        .await
        .expect("create broker");
    let mut added = false;
    while let Ok(Some(ev)) = stream.try_next().await {
        if matches!(&ev, WatchEvent::Added(o) if o.metadata.name.as_deref() == Some("kb")) {
            added = true;
            break;
        }
    }
    assert!(added, "watch did not deliver ADDED for kb");

    let patched = brokers
        .patch(
            "kb",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"via": "kube-rs"}}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(
        patched.metadata.labels.and_then(|l| l.get("via").cloned()),
        Some("kube-rs".into())
    );
    let applied = brokers
        .patch(
            "kb",
            &PatchParams::apply("kube-rs").force(),
            &Patch::Apply(json!({
            "apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "metadata": {"name": "kb"},
            "spec": {"delivery": {"retry": 3}}})),
        )
        .await
        .expect("server-side apply");
    assert_eq!(applied.data["spec"]["delivery"]["retry"], 3);
    assert_eq!(
        applied
            .metadata
            .annotations
            .and_then(|a| a.get("eventing.knative.dev/broker.class").cloned()),
        Some("MTChannelBasedBroker".into())
    );

    brokers
        .delete("kb", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(brokers.get_opt("kb").await.expect("get_opt").is_none());
}
