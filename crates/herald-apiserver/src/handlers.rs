//! Request routing and the resource handlers: get, list, create, update, patch, delete,
//! deletecollection, the `status` subresource, and the admission pipeline every write goes
//! through.
//!
//! Deviations from kube-apiserver (kept small on purpose):
//! - `limit`/`continue` are accepted but lists are always returned whole (no continue token).
//! - Deletes answer 200 with the deleted (or now terminating) object, also for custom kinds
//!   (where kube-apiserver answers a `Success` Status); deletecollection answers the list of
//!   deleted objects.
//! - A dry-run create has no `uid`; `generateName` is only resolved by a real create.
//! - Status writes change only `status` (labels and annotations in the body are ignored), as
//!   for CRDs with a status subresource; defaulting and validation hooks run on main-resource
//!   writes only.
//! - Missing `apiVersion`/`kind` in a body are filled from the URL instead of rejected.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use herald_api::registry::{Ctx, api_version};
use herald_api::{FieldError, FieldErrors, Registry, Resource, ServedVersion};
use serde_json::{Map, Value, json};

use crate::ApiState;
use crate::config::StoreConfig;
use crate::discovery;
use crate::errors::{ApiError, ApiResult, Target};
use crate::media::{Repr, decode_body, negotiate};
use crate::patch::{self, PatchKind};
use crate::selectors::Selectors;
use crate::table::{self, IncludeObject};
use crate::watch;

/// The store key of Namespaces.
pub const NAMESPACES: &str = "core/namespaces";

/// How many times a patch is retried when a concurrent write changed the object meanwhile.
const PATCH_ATTEMPTS: usize = 5;

pub async fn health() -> &'static str {
    "ok"
}

pub async fn version() -> Response {
    json_response(StatusCode::OK, &discovery::version(), &[])
}

pub async fn openapi_root(State(state): State<ApiState>) -> Response {
    json_response(StatusCode::OK, &state.openapi().root(), &[])
}

pub async fn openapi_doc(State(state): State<ApiState>, Path(path): Path<String>) -> Response {
    let key = path.trim_matches('/');
    match state.openapi().docs.get(key) {
        Some((doc, _)) => json_response(StatusCode::OK, doc, &[]),
        None => ApiError::no_route(format!(
            "the server could not find the requested resource: no OpenAPI document for {key:?}"
        ))
        .into_response(),
    }
}

/// A JSON response with `Warning: 299` headers.
pub fn json_response(code: StatusCode, body: &Value, warnings: &[String]) -> Response {
    let mut resp = (code, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(&warning_value(w)) {
            h.append(header::WARNING, v);
        }
    }
    resp
}

/// `299 - "text"`, with the text made header-safe (quotes escaped, non-ASCII replaced).
pub fn warning_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str("299 - \"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}

/// A resource URL, resolved against the registry.
pub struct Route<'r> {
    pub res: &'r Resource,
    pub sv: &'r ServedVersion,
    /// The URL's namespace (`None`: cluster-scoped, or a list across all namespaces).
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub status: bool,
}

impl Route<'_> {
    pub fn target(&self, name: &str) -> Target {
        Target {
            group: self.sv.group.to_string(),
            plural: self.sv.plural.to_string(),
            kind: self.sv.kind.to_string(),
            name: name.to_string(),
        }
    }
    pub fn key(&self) -> String {
        self.res.key()
    }
    fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }
}

enum Resolved<'r> {
    ApiVersions,
    GroupList,
    Group(String),
    ResourceList(String, String),
    Events,
    Resource(Route<'r>),
}

fn available(reg: &Registry, group: &str, version: &str) -> String {
    let names: Vec<&str> = reg
        .endpoints()
        .filter(|(_, v)| v.group == group && v.version == version)
        .map(|(_, v)| v.plural)
        .collect();
    if !names.is_empty() {
        return names.join(", ");
    }
    let mut gvs: Vec<String> = Vec::new();
    for (_, v) in reg.endpoints() {
        let gv = v.api_version();
        if !gvs.contains(&gv) {
            gvs.push(gv);
        }
    }
    gvs.join(", ")
}

fn resolve<'r>(reg: &'r Registry, segs: &[&str]) -> ApiResult<Resolved<'r>> {
    let (group, version, rest) = match segs {
        ["api"] => return Ok(Resolved::ApiVersions),
        ["apis"] => return Ok(Resolved::GroupList),
        ["apis", g] => return Ok(Resolved::Group(g.to_string())),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => {
            return Err(ApiError::no_route(
                "the server could not find the requested resource",
            ));
        }
    };
    if rest.is_empty() {
        return Ok(Resolved::ResourceList(group.into(), version.into()));
    }
    let namespaced = |p: &str| {
        (group.is_empty() && version == "v1" && p == "events")
            || reg
                .lookup(group, version, p)
                .is_some_and(|(r, _)| r.namespaced)
    };
    let (namespace, plural, tail) =
        if rest[0] == "namespaces" && rest.len() >= 3 && namespaced(rest[2]) {
            (Some(rest[1].to_string()), rest[2], &rest[3..])
        } else {
            (None, rest[0], &rest[1..])
        };
    if group.is_empty() && version == "v1" && plural == "events" {
        return Ok(Resolved::Events);
    }
    let Some((res, sv)) = reg.lookup(group, version, plural) else {
        let gv = api_version(group, version);
        let served = reg.endpoints().any(|(_, v)| v.api_version() == gv);
        let what = if served {
            format!("no resource {plural:?} in {gv}")
        } else {
            format!("{gv} is not served")
        };
        return Err(ApiError::no_route(format!(
            "the server could not find the requested resource ({what}; available: {})",
            available(reg, group, version)
        )));
    };
    let (name, status) = match tail {
        [] => (None, false),
        [n] => (Some(n.to_string()), false),
        [n, "status"] if res.has_status => (Some(n.to_string()), true),
        _ => {
            return Err(ApiError::no_route(format!(
                "the server could not find the requested resource (subresource {:?} of {} does not exist)",
                tail[1..].join("/"),
                sv.plural
            )));
        }
    };
    if res.namespaced && namespace.is_none() && name.is_some() {
        return Err(ApiError::no_route(format!(
            "the server could not find the requested resource ({} is namespaced: use /namespaces/<namespace>/{})",
            sv.plural, sv.plural
        )));
    }
    Ok(Resolved::Resource(Route {
        res,
        sv,
        namespace,
        name,
        status,
    }))
}

/// The parsed request every handler sees.
pub struct Req {
    pub method: Method,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn content_type(&self) -> &str {
        self.header(header::CONTENT_TYPE)
            .unwrap_or("application/json")
    }
    pub fn repr(&self) -> Repr {
        negotiate(self.header(header::ACCEPT))
    }
    fn dry_run(&self) -> ApiResult<bool> {
        match self.q("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::BadRequest(format!(
                "dryRun: Unsupported value: {other:?}: supported values: \"All\""
            ))),
        }
    }
    fn field_validation(&self) -> ApiResult<FieldValidation> {
        match self.q("fieldValidation") {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::BadRequest(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
    pub fn selectors(&self) -> ApiResult<Selectors> {
        Selectors::parse(self.q("labelSelector"), self.q("fieldSelector"))
            .map_err(ApiError::BadRequest)
    }
}

/// What to do with fields the schema does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

/// Which write the admission pipeline runs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Update,
    Status,
}

/// The fallback handler: every `/api/...` and `/apis/...` URL.
pub async fn dispatch(
    State(state): State<ApiState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = match Query::<HashMap<String, String>>::try_from_uri(&uri) {
        Ok(Query(q)) => q,
        Err(e) => return ApiError::BadRequest(format!("invalid query: {e}")).into_response(),
    };
    let req = Req {
        method,
        query,
        headers,
        body,
    };
    let segs: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    // Handlers never unwrap on input; this only guards against bugs, so a panic answers 500
    // instead of dropping the connection.
    let result = AssertUnwindSafe(handle(&state, &segs, &req))
        .catch_unwind()
        .await;
    let resp = match result {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => e.into_response(),
        Err(_) => {
            tracing::error!(method = %req.method, path = %uri.path(), "handler panicked");
            ApiError::Internal("internal error while handling the request".into()).into_response()
        }
    };
    tracing::debug!(method = %req.method, path = %uri.path(), status = resp.status().as_u16(), "api request");
    resp
}

fn only_get(req: &Req) -> ApiResult<()> {
    if req.method == Method::GET {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed(format!(
            "the server does not allow this method on the requested resource ({})",
            req.method
        )))
    }
}

fn to_value<T: serde::Serialize>(t: &T) -> ApiResult<Value> {
    serde_json::to_value(t).map_err(|e| ApiError::Internal(e.to_string()))
}

async fn handle(state: &ApiState, segs: &[&str], req: &Req) -> ApiResult<Response> {
    let reg = &*state.registry;
    let ok = |v: Value| Ok(json_response(StatusCode::OK, &v, &[]));
    match resolve(reg, segs)? {
        Resolved::ApiVersions => {
            only_get(req)?;
            let mut v = to_value(&discovery::api_versions())?;
            v["kind"] = json!("APIVersions");
            ok(v)
        }
        Resolved::GroupList => {
            only_get(req)?;
            let mut v = to_value(&discovery::api_group_list(reg))?;
            v["kind"] = json!("APIGroupList");
            v["apiVersion"] = json!("v1");
            ok(v)
        }
        Resolved::Group(g) => {
            only_get(req)?;
            let doc = discovery::api_group_doc(reg, &g).ok_or_else(|| {
                ApiError::no_route(format!(
                    "the server could not find the requested resource (group {g:?} is not served)"
                ))
            })?;
            let mut v = to_value(&doc)?;
            v["kind"] = json!("APIGroup");
            v["apiVersion"] = json!("v1");
            ok(v)
        }
        Resolved::ResourceList(g, ver) => {
            only_get(req)?;
            let list = discovery::api_resource_list(reg, &g, &ver).ok_or_else(|| {
                ApiError::no_route(format!(
                    "the server could not find the requested resource ({} is not served; available: {})",
                    api_version(&g, &ver),
                    available(reg, "", "")
                ))
            })?;
            let mut v = to_value(&list)?;
            v["kind"] = json!("APIResourceList");
            v["apiVersion"] = json!("v1");
            ok(v)
        }
        Resolved::Events => {
            only_get(req)?;
            events(state, req)
        }
        Resolved::Resource(rt) => resource(state, &rt, req).await,
    }
}

/// Herald records no Kubernetes Events; `kubectl describe` still lists them.
fn events(state: &ApiState, req: &Req) -> ApiResult<Response> {
    if matches!(req.q("watch"), Some("true" | "1")) {
        return watch::empty(req);
    }
    let rv = state.store.current_rv().to_string();
    let body = match req.repr() {
        Repr::Table(_) => table::table(&[], &[], IncludeObject::None, false, &rv),
        _ => {
            json!({"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": []})
        }
    };
    Ok(json_response(StatusCode::OK, &body, &[]))
}

async fn resource(state: &ApiState, rt: &Route<'_>, req: &Req) -> ApiResult<Response> {
    let mut warnings: Vec<String> = Vec::new();
    if let Some(d) = rt.sv.deprecated {
        warnings.push(d.to_string());
    }
    let m = &req.method;
    let mut resp = match (&rt.name, m.as_str()) {
        (None, "GET") => {
            let watching = matches!(req.q("watch"), Some("true" | "1"));
            if watching {
                watch::serve(state, rt, req)?
            } else {
                list(state, rt, req)?
            }
        }
        (None, "POST") => create(state, rt, req, &mut warnings)?,
        (None, "DELETE") => delete_collection(state, rt, req)?,
        (Some(name), "GET") => get(state, rt, req, name)?,
        (Some(name), "PUT") => update(state, rt, req, name, &mut warnings)?,
        (Some(name), "PATCH") => patch_object(state, rt, req, name, &mut warnings)?,
        (Some(name), "DELETE") if !rt.status => delete(state, rt, req, name)?,
        _ => {
            return Err(ApiError::MethodNotAllowed(format!(
                "the server does not allow this method on the requested resource ({m})"
            )));
        }
    };
    let h = resp.headers_mut();
    for w in &warnings {
        if let Ok(v) = HeaderValue::from_str(&warning_value(w)) {
            h.append(header::WARNING, v);
        }
    }
    Ok(resp)
}

/// Converts a stored object to the route's version for a response.
pub fn present(sv: &ServedVersion, key: &str, obj: Value) -> ApiResult<Value> {
    let mut out = (sv.from_storage)(obj).map_err(|e| {
        ApiError::Internal(format!(
            "converting to {}/{}: {e}",
            sv.api_version(),
            sv.kind
        ))
    })?;
    if key == NAMESPACES
        && out.pointer("/metadata/deletionTimestamp").is_some()
        && let Some(m) = out.as_object_mut()
    {
        let status = m.entry("status").or_insert_with(|| json!({}));
        if let Some(s) = status.as_object_mut() {
            s.insert("phase".into(), json!("Terminating"));
        }
    }
    Ok(out)
}

/// One object in the representation the client asked for.
pub fn render_one(rt: &Route<'_>, req: &Req, obj: Value) -> Value {
    match req.repr() {
        Repr::Table(v) => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let mut t = table::table(
                &[obj],
                rt.sv.columns,
                IncludeObject::parse(req.q("includeObject")),
                rt.res.sensitive,
                &rv,
            );
            t["apiVersion"] = json!(format!("meta.k8s.io/{v}"));
            t
        }
        Repr::Partial(v) => {
            let mut p = table::partial_metadata(&obj);
            p["apiVersion"] = json!(format!("meta.k8s.io/{v}"));
            p
        }
        Repr::Object => obj,
    }
}

fn get(state: &ApiState, rt: &Route<'_>, req: &Req, name: &str) -> ApiResult<Response> {
    let target = rt.target(name);
    let obj = state
        .store
        .get(&rt.key(), rt.ns(), name)
        .map_err(|e| ApiError::from_store(e, &target))?
        .ok_or_else(|| ApiError::not_found(target.clone()))?;
    let obj = present(rt.sv, &rt.key(), obj)?;
    Ok(json_response(
        StatusCode::OK,
        &render_one(rt, req, obj),
        &[],
    ))
}

/// The objects of a list request, filtered and converted, with the list's revision.
fn list_objects(state: &ApiState, rt: &Route<'_>, req: &Req) -> ApiResult<(Vec<Value>, String)> {
    let sel = req.selectors()?;
    let (items, rv) = state
        .store
        .list(&rt.key(), rt.namespace.as_deref())
        .map_err(|e| ApiError::from_store(e, &rt.target("")))?;
    let key = rt.key();
    let objs = items
        .into_iter()
        .filter(|o| sel.matches(o))
        .map(|o| present(rt.sv, &key, o))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok((objs, rv.to_string()))
}

fn list(state: &ApiState, rt: &Route<'_>, req: &Req) -> ApiResult<Response> {
    let (objs, rv) = list_objects(state, rt, req)?;
    let body = match req.repr() {
        Repr::Table(v) => {
            let mut t = table::table(
                &objs,
                rt.sv.columns,
                IncludeObject::parse(req.q("includeObject")),
                rt.res.sensitive,
                &rv,
            );
            t["apiVersion"] = json!(format!("meta.k8s.io/{v}"));
            t
        }
        Repr::Partial(v) => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": format!("meta.k8s.io/{v}"),
            "metadata": {"resourceVersion": rv},
            "items": objs.iter().map(|o| {
                let mut p = table::partial_metadata(o);
                p["apiVersion"] = json!(format!("meta.k8s.io/{v}"));
                p
            }).collect::<Vec<_>>(),
        }),
        Repr::Object => json!({
            "apiVersion": rt.sv.api_version(),
            "kind": format!("{}List", rt.sv.kind),
            "metadata": {"resourceVersion": rv},
            "items": objs,
        }),
    };
    Ok(json_response(StatusCode::OK, &body, &[]))
}

fn meta_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let m = obj.as_object_mut()?;
    let meta = m.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut()
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
}

/// Whether anything but `apiVersion`, `kind`, `metadata` and `status` differs: that is a
/// spec change and bumps `metadata.generation`.
pub fn spec_changed(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    strip(a) != strip(b)
}

/// Fails unless the namespace exists and is not being deleted (creates only).
fn check_namespace(state: &ApiState, rt: &Route<'_>, name: &str) -> ApiResult<()> {
    if !rt.res.namespaced || state.registry.by_key(NAMESPACES).is_none() {
        return Ok(());
    }
    let ns = rt.ns();
    let ns_target = Target {
        group: String::new(),
        plural: "namespaces".into(),
        kind: "Namespace".into(),
        name: ns.to_string(),
    };
    let obj = state
        .store
        .get(NAMESPACES, "", ns)
        .map_err(|e| ApiError::from_store(e, &ns_target))?
        .ok_or_else(|| ApiError::not_found(ns_target))?;
    let terminating = obj.pointer("/metadata/deletionTimestamp").is_some()
        || obj.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating");
    if terminating {
        return Err(ApiError::Forbidden {
            message: format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                rt.target(name).qualified_resource()
            ),
            details: Some(json!({
                "name": name, "group": rt.sv.group, "kind": rt.sv.plural,
                "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]
            })),
        });
    }
    Ok(())
}

/// The admission pipeline: type and scope checks, field validation, conversion to storage,
/// status-subresource and generation rules, defaulting and validation. Returns the object
/// to store.
fn admit(
    state: &ApiState,
    rt: &Route<'_>,
    input: Value,
    old: Option<&Value>,
    mode: Mode,
    fv: FieldValidation,
    warnings: &mut Vec<String>,
) -> ApiResult<Value> {
    let Value::Object(mut m) = input else {
        return Err(ApiError::BadRequest(
            "the request body must be a JSON object".into(),
        ));
    };
    let sv = rt.sv;
    let want_av = sv.api_version();
    match m.get("apiVersion") {
        Some(Value::String(av)) if *av != want_av => {
            return Err(ApiError::BadRequest(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )));
        }
        _ => {
            m.insert("apiVersion".into(), json!(want_av));
        }
    }
    match m.get("kind") {
        Some(Value::String(k)) if k != sv.kind => {
            return Err(ApiError::BadRequest(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                sv.kind
            )));
        }
        _ => {
            m.insert("kind".into(), json!(sv.kind));
        }
    }
    let mut obj = Value::Object(m);
    let meta = meta_mut(&mut obj)
        .ok_or_else(|| ApiError::BadRequest("metadata must be an object".into()))?;
    if rt.res.namespaced {
        let url_ns = rt.ns().to_string();
        match meta.get("namespace") {
            Some(Value::String(ns)) if !ns.is_empty() && *ns != url_ns => {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ));
            }
            _ => {
                meta.insert("namespace".into(), json!(url_ns));
            }
        }
    } else {
        meta.remove("namespace");
    }
    let body_name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = match &rt.name {
        Some(url_name) => {
            if !body_name.is_empty() && body_name != *url_name {
                return Err(ApiError::BadRequest(format!(
                    "the name of the object ({body_name}) does not match the name on the URL ({url_name})"
                )));
            }
            meta.insert("name".into(), json!(url_name));
            url_name.clone()
        }
        None => body_name,
    };
    let target = rt.target(&name);
    let invalid = |errors: FieldErrors| ApiError::Invalid {
        target: target.clone(),
        errors,
    };
    if name.is_empty()
        && meta
            .get("generateName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
    {
        return Err(invalid(
            FieldError::new(
                "metadata.name",
                herald_api::field::FieldReason::Required,
                "Required value: name or generateName is required",
            )
            .into(),
        ));
    }

    // Unknown fields: reject (Strict), or drop with a warning (Warn) or silently (Ignore).
    let generated;
    let schema = match state.schema(sv) {
        Some(s) => s,
        None => {
            generated = (sv.schema)();
            &generated
        }
    };
    let unknown = herald_api::schema::unknown_fields(schema, &obj);
    if !unknown.is_empty() {
        match fv {
            FieldValidation::Strict => {
                let list: Vec<String> = unknown
                    .iter()
                    .map(|f| format!("unknown field \"{f}\""))
                    .collect();
                // kube-apiserver's wording for custom resources.
                return Err(ApiError::BadRequest(format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                    list.join(", "),
                    kind = sv.kind,
                    version = sv.version,
                )));
            }
            FieldValidation::Warn => {
                warnings.extend(unknown.iter().map(|f| format!("unknown field \"{f}\"")));
            }
            FieldValidation::Ignore => {}
        }
        herald_api::schema::prune(schema, &mut obj);
    }

    let mut st = (sv.to_storage)(obj).map_err(invalid)?;
    let has_status = rt.res.has_status;
    match mode {
        Mode::Create => {
            if let Some(meta) = meta_mut(&mut st) {
                for k in [
                    "resourceVersion",
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "managedFields",
                    "selfLink",
                ] {
                    meta.remove(k);
                }
                meta.insert("generation".into(), json!(1));
            }
            if has_status && let Some(o) = st.as_object_mut() {
                o.remove("status");
            }
            if rt.key() == NAMESPACES
                && let Some(o) = st.as_object_mut()
            {
                o.insert("status".into(), json!({"phase": "Active"}));
            }
        }
        Mode::Update => {
            let old = old.ok_or_else(|| ApiError::not_found(target.clone()))?;
            if (has_status || rt.key() == NAMESPACES)
                && let Some(o) = st.as_object_mut()
            {
                match old.get("status") {
                    Some(s) => o.insert("status".into(), s.clone()),
                    None => o.remove("status"),
                };
            }
            let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
            if let Some(meta) = meta_mut(&mut st) {
                meta.remove("managedFields");
                for k in ["deletionTimestamp", "deletionGracePeriodSeconds"] {
                    match old_meta.get(k) {
                        Some(v) => meta.insert(k.into(), v.clone()),
                        None => meta.remove(k),
                    };
                }
            }
        }
        Mode::Status => {
            let old = old.ok_or_else(|| ApiError::not_found(target.clone()))?;
            let mut merged = old.clone();
            let rv = meta_str(&st, "resourceVersion").map(str::to_string);
            if let Some(o) = merged.as_object_mut() {
                match st.get("status") {
                    Some(s) => o.insert("status".into(), s.clone()),
                    None => o.remove("status"),
                };
            }
            if let Some(meta) = meta_mut(&mut merged) {
                match rv {
                    Some(rv) => meta.insert("resourceVersion".into(), json!(rv)),
                    None => meta.remove("resourceVersion"),
                };
            }
            return Ok(merged);
        }
    }

    let cfg = StoreConfig(&state.store);
    let ctx = Ctx { config: &cfg };
    rt.res.hooks.default(&mut st, &ctx).map_err(invalid)?;
    if mode == Mode::Update
        && let Some(old) = old
    {
        let old_gen = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let gen_ = if spec_changed(old, &st) {
            old_gen + 1
        } else {
            old_gen
        };
        if let Some(meta) = meta_mut(&mut st) {
            meta.insert("generation".into(), json!(gen_));
        }
    }
    rt.res.hooks.validate(&st, old, &ctx).map_err(invalid)?;
    Ok(st)
}

fn create(
    state: &ApiState,
    rt: &Route<'_>,
    req: &Req,
    warnings: &mut Vec<String>,
) -> ApiResult<Response> {
    if rt.res.namespaced && rt.namespace.is_none() {
        return Err(ApiError::MethodNotAllowed(format!(
            "{} is namespaced: create it under /namespaces/<namespace>/{}",
            rt.sv.plural, rt.sv.plural
        )));
    }
    let input = decode_body(req.content_type(), &req.body)?;
    create_object(state, rt, req, input, warnings)
}

fn create_object(
    state: &ApiState,
    rt: &Route<'_>,
    req: &Req,
    input: Value,
    warnings: &mut Vec<String>,
) -> ApiResult<Response> {
    let name_hint = meta_str(&input, "name").unwrap_or("").to_string();
    check_namespace(state, rt, &name_hint)?;
    let st = admit(
        state,
        rt,
        input,
        None,
        Mode::Create,
        req.field_validation()?,
        warnings,
    )?;
    let name = meta_str(&st, "name").unwrap_or("").to_string();
    let target = rt.target(&name);
    let created = if req.dry_run()? {
        let mut v = st;
        if let Some(meta) = meta_mut(&mut v) {
            meta.insert(
                "creationTimestamp".into(),
                json!(
                    jiff::Timestamp::now()
                        .strftime("%Y-%m-%dT%H:%M:%SZ")
                        .to_string()
                ),
            );
        }
        v
    } else {
        state
            .store
            .create(&rt.key(), st)
            .map_err(|e| ApiError::from_store(e, &target))?
    };
    let out = present(rt.sv, &rt.key(), created)?;
    Ok(json_response(StatusCode::CREATED, &out, &[]))
}

fn load(state: &ApiState, rt: &Route<'_>, name: &str) -> ApiResult<Option<Value>> {
    state
        .store
        .get(&rt.key(), rt.ns(), name)
        .map_err(|e| ApiError::from_store(e, &rt.target(name)))
}

/// Admits and stores an update of `name` (main resource or status).
fn write_update(
    state: &ApiState,
    rt: &Route<'_>,
    req: &Req,
    name: &str,
    input: Value,
    old: &Value,
    warnings: &mut Vec<String>,
) -> ApiResult<Value> {
    let mode = if rt.status {
        Mode::Status
    } else {
        Mode::Update
    };
    let target = rt.target(name);
    let st = admit(
        state,
        rt,
        input,
        Some(old),
        mode,
        req.field_validation()?,
        warnings,
    )?;
    if req.dry_run()? {
        if let Some(rv) = meta_str(&st, "resourceVersion")
            && Some(rv) != meta_str(old, "resourceVersion")
        {
            return Err(ApiError::Conflict(target));
        }
        return Ok(st);
    }
    state
        .store
        .update(&rt.key(), st)
        .map_err(|e| ApiError::from_store(e, &target))
}

fn update(
    state: &ApiState,
    rt: &Route<'_>,
    req: &Req,
    name: &str,
    warnings: &mut Vec<String>,
) -> ApiResult<Response> {
    let input = decode_body(req.content_type(), &req.body)?;
    let old = load(state, rt, name)?.ok_or_else(|| ApiError::not_found(rt.target(name)))?;
    let stored = write_update(state, rt, req, name, input, &old, warnings)?;
    let out = present(rt.sv, &rt.key(), stored)?;
    Ok(json_response(StatusCode::OK, &out, &[]))
}

fn patch_object(
    state: &ApiState,
    rt: &Route<'_>,
    req: &Req,
    name: &str,
    warnings: &mut Vec<String>,
) -> ApiResult<Response> {
    let ct = req.content_type();
    let kind = PatchKind::from_content_type(ct).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct})"
        ))
    })?;
    let body = decode_body(ct, &req.body)?;
    if kind != PatchKind::Json && !body.is_object() {
        return Err(ApiError::BadRequest(
            "the patch must be a JSON object".into(),
        ));
    }
    // A resourceVersion in the patch is a precondition; otherwise retry on concurrent writes.
    let pinned = body.pointer("/metadata/resourceVersion").is_some();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some(old) = load(state, rt, name)? else {
            if kind == PatchKind::Apply && !rt.status {
                let mut warnings_create = Vec::new();
                let mut input = body.clone();
                if let Some(meta) = meta_mut(&mut input) {
                    meta.entry("name").or_insert_with(|| json!(name));
                }
                let resp = create_object(state, rt, req, input, &mut warnings_create)?;
                warnings.extend(warnings_create);
                return Ok(resp);
            }
            return Err(ApiError::not_found(rt.target(name)));
        };
        let current = present(rt.sv, &rt.key(), old.clone())?;
        let mut patched = current.clone();
        match kind {
            PatchKind::Merge => patch::merge_patch(&mut patched, &body),
            PatchKind::Strategic => patch::strategic_patch(&mut patched, &body),
            PatchKind::Json => patch::json_patch(&mut patched, &body).map_err(|e| {
                ApiError::BadRequest(format!("the JSON patch could not be applied: {e}"))
            })?,
            PatchKind::Apply => patch::apply(&mut patched, &body),
        }
        if !pinned
            && let Some(meta) = meta_mut(&mut patched)
            && let Some(rv) = current.pointer("/metadata/resourceVersion")
        {
            meta.insert("resourceVersion".into(), rv.clone());
        }
        let mut attempt_warnings = Vec::new();
        match write_update(state, rt, req, name, patched, &old, &mut attempt_warnings) {
            Err(ApiError::Conflict(_)) if !pinned && attempt < PATCH_ATTEMPTS => continue,
            Err(e) => return Err(e),
            Ok(stored) => {
                warnings.extend(attempt_warnings);
                let out = present(rt.sv, &rt.key(), stored)?;
                return Ok(json_response(StatusCode::OK, &out, &[]));
            }
        }
    }
}

/// The `DeleteOptions` parts Herald honours.
#[derive(Debug, Default)]
struct DeleteOpts {
    uid: Option<String>,
    rv: Option<String>,
    dry_run: bool,
}

fn delete_opts(req: &Req) -> ApiResult<DeleteOpts> {
    let mut o = DeleteOpts {
        dry_run: req.dry_run()?,
        ..Default::default()
    };
    if req.body.iter().any(|b| !b.is_ascii_whitespace()) {
        let v = decode_body(req.content_type(), &req.body)?;
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        o.uid = s("/preconditions/uid");
        o.rv = s("/preconditions/resourceVersion");
        if let Some(Value::Array(d)) = v.get("dryRun") {
            o.dry_run |= d.iter().any(|x| x.as_str() == Some("All"));
        }
    }
    Ok(o)
}

fn delete_one(
    state: &ApiState,
    rt: &Route<'_>,
    ns: &str,
    name: &str,
    opts: &DeleteOpts,
) -> ApiResult<Value> {
    let target = rt.target(name);
    let key = rt.key();
    if opts.dry_run {
        let obj = state
            .store
            .get(&key, ns, name)
            .map_err(|e| ApiError::from_store(e, &target))?
            .ok_or_else(|| ApiError::not_found(target.clone()))?;
        return present(rt.sv, &key, obj);
    }
    let deleted = state
        .store
        .delete(&key, ns, name, opts.uid.as_deref(), opts.rv.as_deref())
        .map_err(|e| ApiError::from_store(e, &target))?;
    let obj = match deleted {
        herald_store::Deleted::Gone(v) | herald_store::Deleted::Pending(v) => v,
    };
    present(rt.sv, &key, obj)
}

fn delete(state: &ApiState, rt: &Route<'_>, req: &Req, name: &str) -> ApiResult<Response> {
    let opts = delete_opts(req)?;
    let out = delete_one(state, rt, rt.ns(), name, &opts)?;
    Ok(json_response(StatusCode::OK, &out, &[]))
}

fn delete_collection(state: &ApiState, rt: &Route<'_>, req: &Req) -> ApiResult<Response> {
    let opts = delete_opts(req)?;
    let sel = req.selectors()?;
    let (items, _) = state
        .store
        .list(&rt.key(), rt.namespace.as_deref())
        .map_err(|e| ApiError::from_store(e, &rt.target("")))?;
    let mut deleted = Vec::new();
    for o in items.iter().filter(|o| sel.matches(o)) {
        let ns = meta_str(o, "namespace").unwrap_or("");
        let name = meta_str(o, "name").unwrap_or("");
        let one = DeleteOpts {
            dry_run: opts.dry_run,
            ..Default::default()
        };
        match delete_one(state, rt, ns, name, &one) {
            Ok(v) => deleted.push(v),
            Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let body = json!({
        "apiVersion": rt.sv.api_version(),
        "kind": format!("{}List", rt.sv.kind),
        "metadata": {"resourceVersion": state.store.current_rv().to_string()},
        "items": deleted,
    });
    Ok(json_response(StatusCode::OK, &body, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_header_safe() {
        assert_eq!(
            warning_value("unknown field \"spec.foo\""),
            "299 - \"unknown field \\\"spec.foo\\\"\""
        );
        assert_eq!(warning_value("é\n"), "299 - \"??\"");
    }

    #[test]
    fn generation_tracks_spec() {
        let a = json!({"apiVersion": "v1", "metadata": {"labels": {"a": "1"}}, "spec": {"x": 1}, "status": {}});
        let b = json!({"apiVersion": "v2", "metadata": {}, "spec": {"x": 1}, "status": {"y": 2}});
        let c = json!({"metadata": {}, "spec": {"x": 2}});
        let d = json!({"metadata": {}, "spec": {"x": 1}, "data": {"k": "v"}});
        assert!(!spec_changed(&a, &b));
        assert!(spec_changed(&a, &c));
        assert!(spec_changed(&a, &d));
    }
}
