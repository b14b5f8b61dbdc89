//! Herald's Kubernetes-compatible REST API, so the real `kubectl` (default flags) works
//! against `herald serve`: discovery, OpenAPI v3, CRUD, patch (merge, JSON, strategic,
//! apply), watch, server-side Tables and `Status` errors.
//!
//! # Use
//!
//! ```ignore
//! let state = ApiState::new(store, Arc::new(Registry::new()),
//!     ApiServerConfig { token: None, ingress_base_url: "http://127.0.0.1:8081".into() });
//! axum::serve(listener, herald_apiserver::router(state)).await?;
//! ```
//!
//! Every resource in the [`Registry`] is served under each of its served versions; objects
//! are stored in the storage version and converted on the way in and out. Writes go through
//! one admission pipeline ([`handlers`]): type check, field validation (Strict/Warn/Ignore),
//! conversion, defaulting, validation, generation and status-subresource rules.
//!
//! # Deviations from kube-apiserver
//!
//! Documented where they happen; in short:
//! - Discovery is legacy (unaggregated) JSON only; kubectl falls back to it. No `/openapi/v2`
//!   (kubectl 1.32 uses v3 for validation, apply and explain).
//! - Responses are always JSON (never YAML or protobuf); protobuf request bodies are decoded
//!   for Namespace, ConfigMap and Secret only ([`protobuf`]), what `kubectl create` sends.
//! - Strategic merge patch is a merge patch without `$` directives; server-side apply merges
//!   without `managedFields` ownership, so it never reports conflicts ([`patch`]).
//! - Lists are never paginated (`limit`/`continue` ignored); watches send no bookmarks;
//!   field selectors support `metadata.name` and `metadata.namespace` only ([`selectors`]).
//! - Deletes return the deleted object (also for custom kinds); `propagationPolicy` is
//!   accepted but the store always cascades (owner references, namespaces).
//! - Table cells of `string` columns join several JSONPath matches with `,` (kube-apiserver
//!   shows the first); there are no Kubernetes Events (`/api/v1/.../events` is always empty).
//! - `metadata.generation` is kept for every kind (also ConfigMaps and Secrets), bumped when
//!   anything outside `metadata` and `status` changes.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::routing::get;
use herald_api::Registry;
use herald_store::Store;

pub mod auth;
pub mod config;
pub mod discovery;
pub mod errors;
pub mod handlers;
pub mod jsonpath;
pub mod media;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod selectors;
pub mod table;
pub mod watch;

/// Settings of the API listener.
#[derive(Debug, Clone, Default)]
pub struct ApiServerConfig {
    /// A bearer token every request (except health checks) must carry, when set.
    pub token: Option<String>,
    /// The ingress base URL (e.g. `http://127.0.0.1:8081`); reserved for address rendering.
    pub ingress_base_url: String,
}

/// Shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub registry: Arc<Registry>,
    pub config: Arc<ApiServerConfig>,
    /// OpenAPI documents are built once, on first use (the registry never changes).
    openapi: Arc<OnceLock<openapi::OpenApiDocs>>,
    /// Structural schemas per (group, version, kind), generated once for field validation.
    schemas: Arc<OnceLock<HashMap<SchemaKey, serde_json::Value>>>,
}

type SchemaKey = (&'static str, &'static str, &'static str);

impl ApiState {
    pub fn new(store: Store, registry: Arc<Registry>, config: ApiServerConfig) -> Self {
        ApiState {
            store,
            registry,
            config: Arc::new(config),
            openapi: Arc::new(OnceLock::new()),
            schemas: Arc::new(OnceLock::new()),
        }
    }

    /// The structural schema of a served version (`None` only for endpoints not in the registry).
    pub fn schema(&self, sv: &herald_api::ServedVersion) -> Option<&serde_json::Value> {
        self.schemas
            .get_or_init(|| {
                self.registry
                    .endpoints()
                    .map(|(_, v)| ((v.group, v.version, v.kind), (v.schema)()))
                    .collect()
            })
            .get(&(sv.group, sv.version, sv.kind))
    }

    /// The OpenAPI v3 documents of the registry.
    pub fn openapi(&self) -> &openapi::OpenApiDocs {
        self.openapi
            .get_or_init(|| openapi::OpenApiDocs::build(&self.registry))
    }
}

/// The API router: health checks, discovery, OpenAPI and every resource endpoint.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(handlers::health))
        .route("/readyz", get(handlers::health))
        .route("/livez", get(handlers::health))
        .route("/version", get(handlers::version))
        .route("/openapi/v3", get(handlers::openapi_root))
        .route("/openapi/v3/{*path}", get(handlers::openapi_doc))
        .fallback(handlers::dispatch)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .with_state(state)
}
