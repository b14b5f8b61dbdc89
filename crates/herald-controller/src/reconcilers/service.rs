//! Services as destinations in standalone Herald, where there is no cluster DNS: the address is
//! the `herald.dev/url` annotation (or, for a core `ExternalName` Service, its external name).
//! Herald runs no workloads, so a serving Service is Ready exactly when it has such an address.

use herald_api::meta::Addressable;
use serde_json::Value;

use super::{Outcome, ReconcileError};
use crate::env::Env;
use crate::resolve::{self, annotation_url, service_address};
use crate::view::View;

pub use herald_api::serving::service::{
    CONDITIONS, KService as ServingService, ServiceStatus as ServingServiceStatus,
};

pub const NO_ADDRESS: &str = "NoAddress";

pub fn reconcile_serving(
    s: &ServingService,
    _view: &dyn View,
    env: &Env,
) -> Outcome<ServingServiceStatus> {
    let now = env.now.as_str();
    let mut st = s.status.clone().unwrap_or_default();
    let (set, c) = (&CONDITIONS, &mut st.status.conditions);
    set.initialize(c, now);
    // Only the annotation: the status URL is our own output, not an input.
    let obj = serde_json::json!({"metadata": {"annotations": s.metadata.annotations}});
    let result = annotation_url(s.name(), &obj).unwrap_or_else(|| {
        Err(resolve::ResolveError {
            reason: NO_ADDRESS,
            message: resolve::no_address_message(s.name()),
        })
    });
    match result {
        Ok(url) => {
            for d in set.dependents {
                set.mark_true(c, d, now);
            }
            st.url = Some(url.clone());
            st.address = Some(Addressable {
                url: Some(url),
                ..Default::default()
            });
        }
        Err(e) => {
            for d in set.dependents {
                set.mark_false(c, d, NO_ADDRESS, &e.message, now);
            }
            st.url = None;
            st.address = None;
        }
    }
    Outcome::status(st)
}

pub fn reconcile_serving_json(
    obj: &Value,
    view: &dyn View,
    env: &Env,
) -> Result<Outcome, ReconcileError> {
    super::typed(obj, view, env, reconcile_serving)
}

/// Core Service: `status.address.url` when Herald can reach it (a Herald addition; the rest of
/// the Kubernetes status is kept). Core Services carry no Knative conditions.
pub fn reconcile_core_json(
    obj: &Value,
    _view: &dyn View,
    _env: &Env,
) -> Result<Outcome, ReconcileError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut status = obj
        .get("status")
        .filter(|s| s.is_object())
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    if let Some(m) = status.as_object_mut() {
        match service_address(name, obj, true) {
            Ok(url) => {
                m.insert("address".into(), serde_json::json!({"url": url}));
            }
            Err(_) => {
                m.remove("address");
            }
        }
    }
    Ok(Outcome::status(status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, cond};
    use serde_json::json;

    #[test]
    fn serving_service() {
        let env = testing::env();
        let with = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"namespace": "ns", "name": "k", "annotations": {"herald.dev/url": "http://127.0.0.1:7000"}}, "spec": {}});
        let st = reconcile_serving_json(&with, &testing::view(), &env)
            .map(|o| o.status)
            .unwrap_or_default();
        assert_eq!(st["url"], "http://127.0.0.1:7000");
        assert_eq!(st["address"]["url"], "http://127.0.0.1:7000");
        assert_eq!(cond(&st, "Ready"), ("True".into(), "".into()));

        let mut without = with.clone();
        without["metadata"]["annotations"] = json!({});
        without["status"] = st;
        let st = reconcile_serving_json(&without, &testing::view(), &env)
            .map(|o| o.status)
            .unwrap_or_default();
        assert_eq!(st.get("url"), None);
        assert_eq!(cond(&st, "Ready"), ("False".into(), "NoAddress".into()));
        assert!(
            st["conditions"][0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("herald.dev/url")
        );
    }

    #[test]
    fn core_service() {
        let env = testing::env();
        let ext = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "ns", "name": "e"},
            "spec": {"type": "ExternalName", "externalName": "example.com"}, "status": {"loadBalancer": {}}});
        let st = reconcile_core_json(&ext, &testing::view(), &env)
            .map(|o| o.status)
            .unwrap_or_default();
        assert_eq!(
            st,
            json!({"loadBalancer": {}, "address": {"url": "http://example.com"}})
        );
        let plain = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "ns", "name": "p"}, "spec": {}});
        let st = reconcile_core_json(&plain, &testing::view(), &env)
            .map(|o| o.status)
            .unwrap_or_default();
        assert_eq!(st, json!({}));
    }
}
