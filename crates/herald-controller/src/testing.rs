//! Test fixtures: a registry of the kinds reconcilers touch (independent of the kind modules'
//! details) and a view with a few addressables.

use herald_api::registry::{Ctx, KindHooks, Resource, ServedVersion, identity};
use herald_api::{FieldErrors, Registry};
use serde_json::{Value, json};

use crate::env::Env;
use crate::view::MemoryView;

struct NoHooks;
impl KindHooks for NoHooks {
    fn default(&self, _: &mut Value, _: &Ctx) -> Result<(), FieldErrors> {
        Ok(())
    }
    fn validate(&self, _: &Value, _: Option<&Value>, _: &Ctx) -> Result<(), FieldErrors> {
        Ok(())
    }
}

fn schema() -> Value {
    json!({"type": "object"})
}

fn resource(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    versions: &[&'static str],
) -> Resource {
    Resource {
        group,
        plural,
        kind,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: versions
            .iter()
            .map(|v| ServedVersion {
                group,
                version: v,
                kind,
                plural,
                singular: plural,
                short_names: &[],
                categories: &[],
                columns: &[],
                deprecated: None,
                schema,
                to_storage: identity,
                from_storage: identity,
            })
            .collect(),
        hooks: Box::new(NoHooks),
    }
}

/// Every kind the controller knows, with the versions that matter to tests.
pub fn registry() -> Registry {
    const EV: &str = "eventing.knative.dev";
    const MSG: &str = "messaging.knative.dev";
    const FLOWS: &str = "flows.knative.dev";
    const SRC: &str = "sources.knative.dev";
    let mut core_ns = resource("", "Namespace", "namespaces", &["v1"]);
    core_ns.namespaced = false;
    let mut cm = resource("", "ConfigMap", "configmaps", &["v1"]);
    cm.has_status = false;
    Registry::from_resources(vec![
        core_ns,
        cm,
        resource("", "Service", "services", &["v1"]),
        resource(EV, "Broker", "brokers", &["v1", "v1alpha1"]),
        resource(EV, "Trigger", "triggers", &["v1", "v1alpha1"]),
        resource(
            EV,
            "EventType",
            "eventtypes",
            &["v1beta3", "v1beta2", "v1beta1"],
        ),
        resource(MSG, "Channel", "channels", &["v1"]),
        resource(MSG, "InMemoryChannel", "inmemorychannels", &["v1"]),
        resource(MSG, "Subscription", "subscriptions", &["v1"]),
        resource(FLOWS, "Sequence", "sequences", &["v1"]),
        resource(FLOWS, "Parallel", "parallels", &["v1"]),
        resource(SRC, "PingSource", "pingsources", &["v1", "v1beta2"]),
        resource(SRC, "ApiServerSource", "apiserversources", &["v1"]),
        resource(SRC, "ContainerSource", "containersources", &["v1"]),
        resource(SRC, "SinkBinding", "sinkbindings", &["v1"]),
        resource(SRC, "KafkaSource", "kafkasources", &["v1beta1", "v1"]),
        resource(SRC, "GitHubSource", "githubsources", &["v1alpha1"]),
        resource(SRC, "GitLabSource", "gitlabsources", &["v1alpha1"]),
        resource(SRC, "AwsSqsSource", "awssqssources", &["v1alpha1"]),
        resource("serving.knative.dev", "Service", "services", &["v1"]),
    ])
}

pub const BROKERS: &str = "eventing.knative.dev/brokers";
pub const TRIGGERS: &str = "eventing.knative.dev/triggers";
pub const IMCS: &str = "messaging.knative.dev/inmemorychannels";
pub const CORE_SERVICES: &str = "core/services";
pub const KSVCS: &str = "serving.knative.dev/services";

/// A minimal object with a status address.
pub fn addressable(api_version: &str, kind: &str, ns: &str, name: &str, url: &str) -> Value {
    json!({
        "apiVersion": api_version, "kind": kind,
        "metadata": {"namespace": ns, "name": name, "generation": 1},
        "spec": {},
        "status": {"address": {"url": url}}
    })
}

/// Addressables used across tests: brokers `b` (ns and other), `deep` (url with a path), `new`
/// (no address yet); Services `annotated`, `ext`, `plain`; a serving Service `ksvc`.
pub fn view() -> MemoryView {
    MemoryView::new()
        .with(BROKERS, addressable("eventing.knative.dev/v1", "Broker", "ns", "b", "http://in/ns/b"))
        .with(BROKERS, addressable("eventing.knative.dev/v1", "Broker", "other", "b", "http://in/other/b"))
        .with(BROKERS, addressable("eventing.knative.dev/v1", "Broker", "ns", "deep", "http://x/a/b"))
        .with(
            BROKERS,
            json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "metadata": {"namespace": "ns", "name": "new"}, "spec": {}}),
        )
        .with(
            CORE_SERVICES,
            json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"namespace": "ns", "name": "annotated", "annotations": {"herald.dev/url": "http://localhost:9000/hook"}},
                   "spec": {"ports": [{"port": 80}]}}),
        )
        .with(
            CORE_SERVICES,
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "ns", "name": "ext"},
                   "spec": {"type": "ExternalName", "externalName": "example.com", "ports": [{"port": 8080}]}}),
        )
        .with(
            CORE_SERVICES,
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "ns", "name": "plain"},
                   "spec": {"ports": [{"port": 80}]}}),
        )
        .with(
            KSVCS,
            json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                   "metadata": {"namespace": "ns", "name": "ksvc", "annotations": {"herald.dev/url": "http://127.0.0.1:7000"}},
                   "spec": {}}),
        )
}

/// An environment at a fixed time with no data plane.
pub fn env() -> Env {
    Env {
        now: "2026-01-01T00:00:00Z".into(),
        ingress_base_url: "http://in".into(),
        api_base_url: "http://api".into(),
        registry: std::sync::Arc::new(registry()),
        data_plane: None,
    }
}

/// (status, reason) of condition `t` in a status JSON; ("", "") when absent.
pub fn cond(status: &Value, t: &str) -> (String, String) {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == t))
        .map(|c| {
            (
                c["status"].as_str().unwrap_or("").to_string(),
                c["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .unwrap_or_default()
}
