//! Every endpoint of the real registry (`Registry::new()`) is discoverable, documented in
//! OpenAPI, listable as objects and as Tables, and its printer columns parse. With the
//! Knative kinds present, `kubectl explain` documents brokers and trigger filters.

mod common;

use common::{Server, http};
use herald_api::Registry;
use herald_apiserver::jsonpath::JsonPath;
use herald_apiserver::openapi::{definition_name, root_key};
use serde_json::Value;

async fn get(s: &Server, path: &str, accept: &str) -> (u16, Value) {
    let r = http()
        .get(format!("{}{path}", s.url))
        .header("Accept", accept)
        .send()
        .await
        .expect("request");
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_is_served() {
    let s = Server::start(Registry::new(), None).await;
    let reg = Registry::new();
    let (_, root) = get(&s, "/openapi/v3", "application/json").await;
    for (r, v) in reg.endpoints() {
        let what = format!("{}/{} {}", v.group, v.version, v.kind);
        for c in v.columns {
            assert!(
                JsonPath::parse(c.json_path).is_ok(),
                "{what}: column {}",
                c.name
            );
        }
        let prefix = if v.group.is_empty() {
            format!("/api/{}", v.version)
        } else {
            format!("/apis/{}/{}", v.group, v.version)
        };
        let (code, disc) = get(&s, &prefix, "application/json").await;
        assert_eq!(code, 200, "{what}");
        assert!(
            disc["resources"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|x| x["name"] == v.plural)),
            "{what}: not in discovery"
        );
        let url = root["paths"][root_key(v.group, v.version)]["serverRelativeURL"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: not in the OpenAPI root"))
            .to_string();
        let (_, doc) = get(&s, &url, "application/json").await;
        let def = &doc["components"]["schemas"][definition_name(v.group, v.version, v.kind)];
        assert!(def.is_object(), "{what}: no schema");
        let list = if r.namespaced {
            format!("{prefix}/namespaces/default/{}", v.plural)
        } else {
            format!("{prefix}/{}", v.plural)
        };
        let (code, body) = get(&s, &list, "application/json").await;
        assert_eq!(code, 200, "{what}: {body}");
        assert_eq!(body["kind"], format!("{}List", v.kind), "{what}");
        let (code, t) = get(&s, &list, "application/json;as=Table;v=v1;g=meta.k8s.io").await;
        assert_eq!(code, 200, "{what}");
        assert_eq!(
            t["columnDefinitions"].as_array().map(Vec::len),
            Some(v.columns.len() + 1),
            "{what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explains_knative_kinds() {
    let reg = Registry::new();
    let has = |g: &str, k: &str| reg.lookup_group_kind(g, k).is_some();
    let s = Server::start(Registry::new(), None).await;
    s.kubectl_ok(&["api-resources"]).await;
    if has("eventing.knative.dev", "Broker") {
        let out = s.kubectl_ok(&["explain", "brokers"]).await;
        assert!(out.contains("Broker") && out.contains("spec"), "{out}");
    }
    if has("", "Namespace") && has("", "Service") && has("", "ConfigMap") {
        let out = s.kubectl_ok(&["create", "namespace", "team"]).await;
        assert!(out.contains("namespace/team created"), "{out}");
        let svc = s.write_file(
            "svc.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: sockeye\nspec:\n  type: ExternalName\n  externalName: localhost\n  ports:\n    - port: 9003\n",
        );
        let out = s.kubectl_ok(&["apply", "-n", "team", "-f", &svc]).await;
        assert!(out.contains("service/sockeye created"), "{out}");
        s.kubectl_ok(&[
            "create",
            "configmap",
            "c",
            "-n",
            "team",
            "--from-literal=a=b",
        ])
        .await;
        let out = s.kubectl_ok(&["get", "ns"]).await;
        assert!(out.contains("team") && out.contains("Active"), "{out}");
    }
    if has("eventing.knative.dev", "Trigger") {
        let out = s.kubectl_ok(&["explain", "triggers.spec.filter"]).await;
        assert!(out.contains("attributes"), "{out}");
    }
}
