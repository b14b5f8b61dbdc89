//! OpenAPI v3: the `/openapi/v3` root and one document per group/version.
//!
//! kubectl reads these documents for three things: `kubectl explain` (schemas found by their
//! `x-kubernetes-group-version-kind`), server-side field validation (QueryParamVerifierV3 looks
//! for a `fieldValidation` query parameter on the kind's PATCH operation) and the patch type of
//! client-side apply (strategic merge only when the PATCH operation accepts
//! `application/strategic-merge-patch+json`, which — as in Kubernetes — only core kinds do;
//! custom kinds get JSON merge patches).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use herald_api::registry::api_version;
use herald_api::{Registry, Resource, ServedVersion};
use serde_json::{Map, Value, json};

const STATUS_REF: &str = "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const PATCH_SCHEMA: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";

/// Every per-GV document with its hash, keyed by the root's path (`apis/<g>/<v>`, `api/v1`).
pub struct OpenApiDocs {
    pub docs: BTreeMap<String, (Value, String)>,
}

impl OpenApiDocs {
    pub fn build(reg: &Registry) -> Self {
        let mut gvs: Vec<(&str, &str)> = Vec::new();
        for (_, v) in reg.endpoints() {
            if !gvs.contains(&(v.group, v.version)) {
                gvs.push((v.group, v.version));
            }
        }
        let docs = gvs
            .into_iter()
            .map(|(g, v)| {
                let doc = gv_document(reg, g, v);
                let hash = hash_of(&doc);
                (root_key(g, v), (doc, hash))
            })
            .collect();
        OpenApiDocs { docs }
    }

    /// `/openapi/v3`.
    pub fn root(&self) -> Value {
        let paths: Map<String, Value> = self
            .docs
            .iter()
            .map(|(k, (_, h))| {
                (
                    k.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{k}?hash={h}")}),
                )
            })
            .collect();
        json!({ "paths": paths })
    }
}

/// The root's key for a group/version.
pub fn root_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn hash_of(doc: &Value) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    doc.to_string().hash(&mut h);
    format!("{:016X}", h.finish())
}

/// The OpenAPI definition name, e.g. `dev.knative.eventing.v1.Broker`, `io.k8s.api.core.v1.ConfigMap`.
pub fn definition_name(group: &str, version: &str, kind: &str) -> String {
    if group.is_empty() {
        return format!("io.k8s.api.core.{version}.{kind}");
    }
    let rev: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", rev.join("."))
}

fn gvk(v: &ServedVersion, kind: &str) -> Value {
    json!({"group": v.group, "version": v.version, "kind": kind})
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn query(name: &str, description: &str, type_: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": type_, "uniqueItems": true}})
}

fn write_params() -> Vec<Value> {
    vec![
        query(
            "dryRun",
            "When present, indicates that modifications should not be persisted. Valid values: All.",
            "string",
        ),
        query(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
            "string",
        ),
        query(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn (default), Strict.",
            "string",
        ),
    ]
}

fn list_params() -> Vec<Value> {
    vec![
        query(
            "allowWatchBookmarks",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\" (ignored by Herald).",
            "boolean",
        ),
        query(
            "continue",
            "The continue option (Herald returns whole lists).",
            "string",
        ),
        query(
            "fieldSelector",
            "A selector to restrict the list of returned objects by their fields (metadata.name, metadata.namespace).",
            "string",
        ),
        query(
            "labelSelector",
            "A selector to restrict the list of returned objects by their labels.",
            "string",
        ),
        query(
            "limit",
            "limit is a maximum number of responses to return.",
            "integer",
        ),
        query(
            "resourceVersion",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
            "string",
        ),
        query(
            "timeoutSeconds",
            "Timeout for the list/watch call.",
            "integer",
        ),
        query(
            "watch",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
            "boolean",
        ),
    ]
}

fn ok_response(code: &str, schema: Value) -> (String, Value) {
    (
        code.to_string(),
        json!({"description": "OK", "content": {"application/json": {"schema": schema}, "application/yaml": {"schema": schema}}}),
    )
}

fn operation(
    v: &ServedVersion,
    action: &str,
    op_id: String,
    params: Vec<Value>,
    request: Option<Value>,
    responses: Vec<(String, Value)>,
    kind: &str,
) -> Value {
    let mut op = json!({
        "description": format!("{action} {}", v.kind),
        "operationId": op_id,
        "tags": [tag(v)],
        "parameters": params,
        "responses": responses.into_iter().collect::<Map<String, Value>>(),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(v, kind),
    });
    if let Some(r) = request {
        op["requestBody"] = r;
    }
    op
}

fn tag(v: &ServedVersion) -> String {
    let g = if v.group.is_empty() { "core" } else { v.group };
    format!("{}_{}", g.replace('.', "_"), v.version)
}

fn body(schema: Value) -> Value {
    json!({"content": {"*/*": {"schema": schema}}, "required": true})
}

fn patch_body(core: bool) -> Value {
    let s = schema_ref(PATCH_SCHEMA);
    let mut content = Map::new();
    content.insert(
        "application/apply-patch+yaml".into(),
        json!({"schema": s.clone()}),
    );
    content.insert(
        "application/json-patch+json".into(),
        json!({"schema": s.clone()}),
    );
    content.insert(
        "application/merge-patch+json".into(),
        json!({"schema": s.clone()}),
    );
    if core {
        content.insert(
            "application/strategic-merge-patch+json".into(),
            json!({"schema": s}),
        );
    }
    json!({"content": content, "required": true})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

/// Adds the paths of one served version.
fn add_paths(paths: &mut Map<String, Value>, r: &Resource, v: &ServedVersion) {
    let prefix = if v.group.is_empty() {
        format!("/api/{}", v.version)
    } else {
        format!("/apis/{}/{}", v.group, v.version)
    };
    let core = v.group.is_empty();
    let kref = schema_ref(&definition_name(v.group, v.version, v.kind));
    let list_kind = format!("{}List", v.kind);
    let lref = schema_ref(&definition_name(v.group, v.version, &list_kind));
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let k = v.kind;
    let (coll, item) = if r.namespaced {
        (
            format!("{prefix}/namespaces/{{namespace}}/{}", v.plural),
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", v.plural),
        )
    } else {
        (
            format!("{prefix}/{}", v.plural),
            format!("{prefix}/{}/{{name}}", v.plural),
        )
    };
    let mut base_params = vec![];
    if r.namespaced {
        base_params.push(path_param(
            "namespace",
            "object name and auth scope, such as for teams and projects",
        ));
    }
    let mut item_params = vec![path_param("name", &format!("name of the {k}"))];
    item_params.extend(base_params.clone());

    let status_resp = json!({"$ref": STATUS_REF});
    paths.insert(
        coll,
        json!({
            "parameters": base_params,
            "get": operation(v, "list", format!("list{scope}{k}"), list_params(), None,
                vec![ok_response("200", lref.clone())], k),
            "post": operation(v, "post", format!("create{scope}{k}"), write_params(), Some(body(kref.clone())),
                vec![ok_response("200", kref.clone()), ok_response("201", kref.clone())], k),
            "delete": operation(v, "deletecollection", format!("deleteCollection{scope}{k}"), list_params(),
                None, vec![ok_response("200", status_resp.clone())], k),
        }),
    );
    let mut patch_params = write_params();
    patch_params.push(query(
        "force",
        "Force is going to \"force\" Apply requests.",
        "boolean",
    ));
    paths.insert(
        item.clone(),
        json!({
            "parameters": item_params.clone(),
            "get": operation(v, "get", format!("read{scope}{k}"), vec![], None, vec![ok_response("200", kref.clone())], k),
            "put": operation(v, "put", format!("replace{scope}{k}"), write_params(), Some(body(kref.clone())),
                vec![ok_response("200", kref.clone()), ok_response("201", kref.clone())], k),
            "patch": operation(v, "patch", format!("patch{scope}{k}"), patch_params.clone(), Some(patch_body(core)),
                vec![ok_response("200", kref.clone()), ok_response("201", kref.clone())], k),
            "delete": operation(v, "delete", format!("delete{scope}{k}"),
                vec![query("dryRun", "When present, indicates that modifications should not be persisted.", "string"),
                     query("propagationPolicy", "Whether and how garbage collection will be performed.", "string")],
                Some(json!({"content": {"*/*": {"schema": schema_ref(DELETE_OPTIONS)}}})),
                vec![ok_response("200", kref.clone()), ok_response("202", kref.clone())], k),
        }),
    );
    if r.has_status {
        paths.insert(
            format!("{item}/status"),
            json!({
                "parameters": item_params,
                "get": operation(v, "get", format!("read{scope}{k}Status"), vec![], None, vec![ok_response("200", kref.clone())], k),
                "put": operation(v, "put", format!("replace{scope}{k}Status"), write_params(), Some(body(kref.clone())),
                    vec![ok_response("200", kref.clone())], k),
                "patch": operation(v, "patch", format!("patch{scope}{k}Status"), patch_params, Some(patch_body(core)),
                    vec![ok_response("200", kref.clone())], k),
            }),
        );
    }
    if r.namespaced {
        paths.insert(
            format!("{prefix}/{}", v.plural),
            json!({"get": operation(v, "list", format!("list{k}ForAllNamespaces"), list_params(), None,
                vec![ok_response("200", lref)], k)}),
        );
    }
}

/// Shared meta schemas every document references.
fn meta_schemas(schemas: &mut Map<String, Value>) {
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status".into(),
        json!({
            "description": "Status is a return value for calls that don't return other objects.",
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                "code": {"type": "integer", "format": "int32"},
                "details": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "message": {"type": "string"}, "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "reason": {"type": "string"}, "status": {"type": "string"}
            },
            "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Status"}]
        }),
    );
    schemas.insert(
        PATCH_SCHEMA.into(),
        json!({"description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.", "type": "object"}),
    );
    schemas.insert(
        DELETE_OPTIONS.into(),
        json!({
            "description": "DeleteOptions may be provided when deleting an API object.",
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                "dryRun": {"type": "array", "items": {"type": "string"}},
                "gracePeriodSeconds": {"type": "integer", "format": "int64"},
                "preconditions": {"type": "object", "properties": {"resourceVersion": {"type": "string"}, "uid": {"type": "string"}}},
                "propagationPolicy": {"type": "string"}
            }
        }),
    );
}

/// One group/version document.
pub fn gv_document(reg: &Registry, group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    meta_schemas(&mut schemas);
    for (r, v) in reg.endpoints() {
        if v.group != group || v.version != version {
            continue;
        }
        let mut s = (v.schema)();
        if let Some(m) = s.as_object_mut() {
            m.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([gvk(v, v.kind)]),
            );
        }
        schemas.insert(definition_name(v.group, v.version, v.kind), s);
        let list_kind = format!("{}List", v.kind);
        schemas.insert(
            definition_name(v.group, v.version, &list_kind),
            json!({
                "description": format!("{list_kind} is a list of {}", v.kind),
                "type": "object",
                "required": ["items"],
                "properties": {
                    "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
                    "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
                    "items": {"type": "array", "items": schema_ref(&definition_name(v.group, v.version, v.kind))},
                    "metadata": {"type": "object", "properties": {"resourceVersion": {"type": "string"}, "continue": {"type": "string"}}}
                },
                "x-kubernetes-group-version-kind": [gvk(v, &list_kind)],
            }),
        );
        add_paths(&mut paths, r, v);
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Herald", "version": format!("{}", api_version(group, version))},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_names() {
        assert_eq!(
            definition_name("eventing.knative.dev", "v1", "Broker"),
            "dev.knative.eventing.v1.Broker"
        );
        assert_eq!(
            definition_name("", "v1", "ConfigMap"),
            "io.k8s.api.core.v1.ConfigMap"
        );
    }
}
