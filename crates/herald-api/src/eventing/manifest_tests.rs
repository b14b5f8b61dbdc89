//! Cross-kind checks: every resource of the core, serving, eventing, messaging and flows
//! families is well formed, and the seeds' and Knative docs' manifests apply: no unknown
//! fields, conversion to storage and back, defaults and validation.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::registry::{Ctx, NoConfig, Registry, Resource, api_version};
use crate::schema::unknown_fields;

fn resources() -> Vec<Resource> {
    let mut all = Vec::new();
    all.extend(crate::core::resources());
    all.extend(crate::eventing::resources());
    all.extend(crate::messaging::resources());
    all.extend(crate::flows::resources());
    all.extend(crate::serving::resources());
    all
}

#[test]
fn registry_is_well_formed() {
    let reg = Registry::from_resources(resources());
    let mut endpoints = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for r in reg.resources() {
        assert!(keys.insert(r.key()), "duplicate resource {}", r.key());
        let st = r.storage();
        assert_eq!((st.group, st.kind), (r.group, r.kind), "{}", r.key());
        assert_eq!(st.plural, r.plural);
        for v in &r.versions {
            assert!(
                endpoints.insert((v.group, v.version, v.plural)),
                "duplicate endpoint {}/{}/{}",
                v.group,
                v.version,
                v.plural
            );
            assert_eq!(v.singular, v.kind.to_lowercase());
            let schema = (v.schema)();
            assert!(
                !schema.to_string().contains("$ref"),
                "{}/{}",
                v.api_version(),
                v.kind
            );
            assert!(
                schema.pointer("/properties/metadata").is_some(),
                "{}",
                v.kind
            );
            // Conversions stamp apiVersion/kind.
            let obj =
                json!({"apiVersion": v.api_version(), "kind": v.kind, "metadata": {"name": "x"}});
            let stored = (v.to_storage)(obj.clone());
            let stored = stored.unwrap_or_else(|e| panic!("{} {}: {e}", v.api_version(), v.kind));
            assert_eq!(stored["apiVersion"], json!(st.api_version()));
            assert_eq!(stored["kind"], json!(st.kind));
            let back = (v.from_storage)(stored).unwrap_or_default();
            assert_eq!(back["apiVersion"], json!(v.api_version()));
        }
    }
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../herald/tests/data")
}

/// Applies one manifest the way the API server does and returns the stored object.
fn apply(reg: &Registry, doc: &Value) -> Value {
    let av = doc["apiVersion"].as_str().unwrap_or("");
    let kind = doc["kind"].as_str().unwrap_or("");
    let (r, v) = reg
        .lookup_kind(av, kind)
        .unwrap_or_else(|| panic!("no endpoint for {av} {kind}"));
    let unknown = unknown_fields(&(v.schema)(), doc);
    assert!(
        unknown.is_empty(),
        "{av} {kind}: unknown fields {unknown:?}"
    );
    let mut stored = (v.to_storage)(doc.clone()).unwrap_or_else(|e| panic!("{kind}: {e}"));
    let back = (v.from_storage)(stored.clone()).unwrap_or_else(|e| panic!("{kind}: {e}"));
    assert_eq!(&back, doc, "{av} {kind} does not round-trip");
    if r.namespaced && stored.pointer("/metadata/namespace").is_none() {
        stored["metadata"]["namespace"] = json!("default");
    }
    let ctx = Ctx { config: &NoConfig };
    r.hooks
        .default(&mut stored, &ctx)
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
    r.hooks
        .validate(&stored, None, &ctx)
        .unwrap_or_else(|e| panic!("{av} {kind}: {e}"));
    // Updating with the same object passes the immutability checks.
    r.hooks
        .validate(&stored, Some(&stored), &ctx)
        .unwrap_or_else(|e| panic!("{av} {kind}: {e}"));
    let unknown = unknown_fields(&(r.storage().schema)(), &stored);
    assert!(
        unknown.is_empty(),
        "{kind}: stored unknown fields {unknown:?}"
    );
    assert_eq!(
        stored["apiVersion"],
        json!(api_version(r.group, r.storage().version))
    );
    stored
}

#[test]
fn seeds_and_docs_manifests_apply() {
    let reg = Registry::from_resources(resources());
    let files = [
        "seeds/broker.yaml",
        "seeds/trigger.yaml",
        "knative-docs/broker.yaml",
        "knative-docs/trigger.yaml",
        "knative-docs/channel.yaml",
        "knative-docs/sequence.yaml",
        "knative-docs/services.yaml",
    ];
    let mut applied = 0;
    for f in files {
        let Ok(text) = std::fs::read_to_string(data_dir().join(f)) else {
            continue;
        };
        let docs: Vec<Value> =
            serde_saphyr::from_str_multiple(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
        for doc in docs.iter().filter(|d| d.is_object()) {
            apply(&reg, doc);
            applied += 1;
        }
    }
    // The data directory belongs to the binary's tests; without it there is nothing to check.
    if data_dir().exists() {
        assert!(applied > 0);
    }
}

#[test]
fn seed_broker_and_trigger_store_as_v1() {
    let reg = Registry::from_resources(resources());
    let broker = apply(
        &reg,
        &json!({"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "Broker", "metadata": {"name": "default"},
                "spec": {"channelTemplateSpec": {"apiVersion": "messaging.knative.dev/v1alpha1", "kind": "InMemoryChannel"}}}),
    );
    assert_eq!(
        broker.pointer("/metadata/annotations/eventing.knative.dev~1broker.class"),
        Some(&json!("MTChannelBasedBroker"))
    );
    assert!(
        broker
            .pointer("/metadata/annotations/herald.dev~1channel-template-spec")
            .is_some()
    );
    let trigger = apply(
        &reg,
        &json!({"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "Trigger", "metadata": {"name": "my-service-trigger"},
                "spec": {"broker": "default",
                         "filter": {"attributes": {"type": "dev.knative.foo.bar", "myextension": "my-extension-value"}},
                         "subscriber": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "my-service"}}}}),
    );
    assert_eq!(
        trigger["spec"]["subscriber"]["ref"]["namespace"],
        json!("default")
    );
    assert_eq!(
        trigger.pointer("/metadata/labels/eventing.knative.dev~1broker"),
        Some(&json!("default"))
    );
}
