//! Destination (Addressable) resolution, Knative semantics (reference §6.3): a `uri` alone must
//! be absolute; a `ref` resolves to the referent's `status.address.url`; `ref` + relative `uri`
//! resolves the `uri` against that address (RFC 3986). Kubernetes and Knative Serving Services
//! have no cluster DNS in standalone Herald, so they are reached through the `herald.dev/url`
//! annotation (or a core `ExternalName` Service).

use herald_api::Registry;
use herald_api::meta::{Destination, KReference};
use herald_api::registry::split_api_version;
use serde_json::Value;

use crate::uri;
use crate::view::{View, str_at};

/// Annotation giving a Service (core or serving) the absolute URL Herald delivers to.
pub const URL_ANNOTATION: &str = "herald.dev/url";

/// A resolved destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub uri: String,
    pub ca_certs: Option<String>,
    pub audience: Option<String>,
}

/// Why a destination (or a reference) could not be resolved: a condition reason and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ResolveError {
    pub reason: &'static str,
    pub message: String,
}

pub mod reason {
    pub const NOT_FOUND: &str = "NotFound";
    pub const UNKNOWN_KIND: &str = "UnknownKind";
    pub const NOT_ADDRESSABLE: &str = "AddressNotReady";
    pub const SERVICE_NO_ADDRESS: &str = "ServiceHasNoAddress";
    pub const INVALID_URI: &str = "InvalidURI";
    pub const EMPTY: &str = "EmptyDestination";
}

fn err(reason: &'static str, message: String) -> ResolveError {
    ResolveError { reason, message }
}

/// Resolves a Destination of an object in `namespace`.
pub fn resolve(
    dest: &Destination,
    namespace: &str,
    view: &dyn View,
    registry: &Registry,
) -> Result<Resolved, ResolveError> {
    let uri = match (&dest.ref_, dest.uri.as_deref().filter(|u| !u.is_empty())) {
        (None, None) => {
            return Err(err(
                reason::EMPTY,
                "destination has neither ref nor uri".into(),
            ));
        }
        (None, Some(u)) => {
            if !uri::is_absolute(u) {
                return Err(err(
                    reason::INVALID_URI,
                    format!("URI {u:?} is not absolute and there is no ref to resolve it against"),
                ));
            }
            u.to_string()
        }
        (Some(r), rel) => {
            let (_, obj, key) = lookup(r, namespace, view, registry)?;
            let base = address(&key, r, &obj)?;
            match rel {
                Some(rel) => uri::join(&base, rel),
                None => base,
            }
        }
    };
    Ok(Resolved {
        uri,
        ca_certs: dest.ca_certs.clone(),
        audience: dest.audience.clone(),
    })
}

/// Finds the object a reference names (namespace defaulting to the referrer's). Returns the
/// referent's resource key, the object, and the storage group/kind identity used for address
/// rules.
pub fn lookup(
    r: &KReference,
    namespace: &str,
    view: &dyn View,
    registry: &Registry,
) -> Result<(String, Value, Kind), ResolveError> {
    let ns = r
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(namespace);
    let group = if r.api_version.is_empty() {
        r.group.as_deref().unwrap_or("")
    } else {
        split_api_version(&r.api_version).0
    };
    let resource = registry
        .lookup_kind(&r.api_version, &r.kind)
        .map(|(res, _)| res)
        .or_else(|| registry.lookup_group_kind(group, &r.kind))
        .ok_or_else(|| {
            let api_version = if r.api_version.is_empty() {
                group
            } else {
                &r.api_version
            };
            err(
                reason::UNKNOWN_KIND,
                format!("{api_version} {} is not a kind Herald knows", r.kind),
            )
        })?;
    let key = resource.key();
    let obj = view.get(&key, ns, &r.name).ok_or_else(|| {
        err(
            reason::NOT_FOUND,
            format!("{} {:?} not found in namespace {ns:?}", r.kind, r.name),
        )
    })?;
    let kind = Kind {
        group: resource.group.to_string(),
        kind: resource.kind.to_string(),
    };
    Ok((key, obj, kind))
}

/// Storage identity of a referent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kind {
    pub group: String,
    pub kind: String,
}

/// The absolute URL of an addressable object.
fn address(kind: &Kind, r: &KReference, obj: &Value) -> Result<String, ResolveError> {
    let is_core_service = kind.group.is_empty() && kind.kind == "Service";
    let is_serving_service = kind.group == "serving.knative.dev" && kind.kind == "Service";
    if is_core_service || is_serving_service {
        return service_address(&r.name, obj, is_core_service);
    }
    let url = [
        str_at(obj, "/status/address/url"),
        str_at(obj, "/status/url"),
    ]
    .into_iter()
    .find(|u| !u.is_empty());
    match url {
        Some(u) if uri::is_absolute(u) => Ok(u.to_string()),
        _ => Err(err(
            reason::NOT_ADDRESSABLE,
            format!("{} {:?} does not have an address yet", r.kind, r.name),
        )),
    }
}

/// The `herald.dev/url` annotation of an object, if set (an error when it is not absolute).
pub fn annotation_url(name: &str, obj: &Value) -> Option<Result<String, ResolveError>> {
    let u = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(URL_ANNOTATION))
        .and_then(Value::as_str)?;
    if uri::is_absolute(u) {
        return Some(Ok(u.to_string()));
    }
    Some(Err(err(
        reason::INVALID_URI,
        format!(
            "Service {name:?} has annotation {URL_ANNOTATION}: {u:?}, which is not an absolute URL such as http://host:port"
        ),
    )))
}

/// The message telling a user how to make a Service reachable.
pub fn no_address_message(name: &str) -> String {
    format!(
        "Service {name:?} has no address Herald can reach: add the annotation {URL_ANNOTATION}: http://host:port"
    )
}

/// A Service's address: the `herald.dev/url` annotation; else (serving) its status address;
/// else (core `ExternalName`) `http://<externalName>[:<first port>]`.
pub fn service_address(name: &str, obj: &Value, core: bool) -> Result<String, ResolveError> {
    if let Some(r) = annotation_url(name, obj) {
        return r;
    }
    if core {
        if str_at(obj, "/spec/type") == "ExternalName" {
            let host = str_at(obj, "/spec/externalName");
            if !host.is_empty() {
                let port = obj
                    .pointer("/spec/ports/0/port")
                    .and_then(Value::as_i64)
                    .map(|p| format!(":{p}"))
                    .unwrap_or_default();
                return Ok(format!("http://{host}{port}"));
            }
        }
    } else if let Some(u) = [
        str_at(obj, "/status/address/url"),
        str_at(obj, "/status/url"),
    ]
    .into_iter()
    .find(|u| uri::is_absolute(u))
    {
        return Ok(u.to_string());
    }
    Err(err(reason::SERVICE_NO_ADDRESS, no_address_message(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{registry, view};
    use serde_json::json;

    fn dest(v: Value) -> Destination {
        serde_json::from_value(v).unwrap_or_default()
    }

    fn run(v: Value) -> Result<String, ResolveError> {
        let reg = registry();
        resolve(&dest(v), "ns", &view(), &reg).map(|r| r.uri)
    }

    #[test]
    fn resolution_table() {
        let broker = |api: &str| json!({"ref": {"apiVersion": api, "kind": "Broker", "name": "b"}});
        let cases: Vec<(&str, Value, Result<&str, &str>)> = vec![
            (
                "absolute uri",
                json!({"uri": "http://x:1/p"}),
                Ok("http://x:1/p"),
            ),
            (
                "relative uri alone",
                json!({"uri": "/p"}),
                Err(reason::INVALID_URI),
            ),
            ("empty", json!({}), Err(reason::EMPTY)),
            (
                "broker ref",
                broker("eventing.knative.dev/v1"),
                Ok("http://in/ns/b"),
            ),
            (
                "old apiVersion",
                broker("eventing.knative.dev/v1alpha1"),
                Ok("http://in/ns/b"),
            ),
            (
                "ref + relative uri",
                json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "deep"}, "uri": "/update"}),
                Ok("http://x/update"),
            ),
            (
                "ref + relative uri without slash",
                json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "deep"}, "uri": "c"}),
                Ok("http://x/a/c"),
            ),
            (
                "cross-namespace ref",
                json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "b", "namespace": "other"}}),
                Ok("http://in/other/b"),
            ),
            (
                "core service annotation",
                json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "annotated"}}),
                Ok("http://localhost:9000/hook"),
            ),
            (
                "core service annotation + uri",
                json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "annotated"}, "uri": "/update"}),
                Ok("http://localhost:9000/update"),
            ),
            (
                "external name",
                json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "ext"}}),
                Ok("http://example.com:8080"),
            ),
            (
                "plain core service",
                json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "plain"}}),
                Err(reason::SERVICE_NO_ADDRESS),
            ),
            (
                "serving service annotation",
                json!({"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "ksvc"}}),
                Ok("http://127.0.0.1:7000"),
            ),
            (
                "missing",
                json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "nope"}}),
                Err(reason::NOT_FOUND),
            ),
            (
                "unknown kind",
                json!({"ref": {"apiVersion": "example.com/v1", "kind": "Thing", "name": "t"}}),
                Err(reason::UNKNOWN_KIND),
            ),
            (
                "not addressable yet",
                json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "new"}}),
                Err(reason::NOT_ADDRESSABLE),
            ),
        ];
        for (name, d, want) in cases {
            let got = run(d);
            match want {
                Ok(u) => assert_eq!(got.as_deref().map_err(|e| e.reason), Ok(u), "{name}"),
                Err(r) => assert_eq!(got.map_err(|e| e.reason), Err(r), "{name}"),
            }
        }
    }

    #[test]
    fn messages() {
        let e = run(json!({"ref": {"apiVersion": "example.com/v1", "kind": "Thing", "name": "t"}}));
        assert_eq!(
            e.map_err(|e| e.message),
            Err("example.com/v1 Thing is not a kind Herald knows".to_string())
        );
        let e = run(json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "plain"}}));
        assert_eq!(
            e.map_err(|e| e.message),
            Err("Service \"plain\" has no address Herald can reach: add the annotation herald.dev/url: http://host:port".to_string())
        );
        let e = run(
            json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "new"}}),
        );
        assert_eq!(
            e.map_err(|e| e.message),
            Err("Broker \"new\" does not have an address yet".to_string())
        );
        let e = run(
            json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "nope"}}),
        );
        assert_eq!(
            e.map_err(|e| e.message),
            Err("Broker \"nope\" not found in namespace \"ns\"".to_string())
        );
    }

    /// The seeds' references through the real registry: old apiVersions and serving Services.
    #[test]
    fn real_registry() {
        let reg = Registry::new();
        let view = view();
        let d = dest(
            json!({"ref": {"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "Broker", "name": "b"}}),
        );
        assert_eq!(
            resolve(&d, "ns", &view, &reg).map(|r| r.uri),
            Ok("http://in/ns/b".to_string())
        );
        let d = dest(
            json!({"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "ksvc"}}),
        );
        assert_eq!(
            resolve(&d, "ns", &view, &reg).map(|r| r.uri),
            Ok("http://127.0.0.1:7000".to_string())
        );
        let d = dest(
            json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "ext"}, "uri": "/x"}),
        );
        assert_eq!(
            resolve(&d, "ns", &view, &reg).map(|r| r.uri),
            Ok("http://example.com:8080/x".to_string())
        );
    }
}
