//! Webhook-driven sources (GitHub, GitLab) receive HTTP on Herald's ingress listener at
//! `/sources/<namespace>/<plural>/<name>` (the URL is in the source's `status.webhookUrl`).
//! This module routes a request to the running source's handler.

use std::future::Future;
use std::pin::Pin;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::plan::{SourceKey, SourceKind};
use crate::runtime::Sources;

/// Largest webhook body accepted (GitHub caps payloads at 25 MB).
pub const MAX_WEBHOOK_BYTES: usize = 25 * 1024 * 1024;

/// A running webhook source's request handler.
pub trait Webhook: Send + Sync {
    fn handle<'a>(
        &'a self,
        method: Method,
        headers: HeaderMap,
        body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Response> + Send + 'a>>;
}

/// The path of a webhook source on the ingress listener.
pub fn path(key: &SourceKey) -> String {
    format!(
        "/sources/{}/{}/{}",
        key.namespace,
        key.kind.plural(),
        key.name
    )
}

pub(crate) fn router(sources: Sources) -> axum::Router {
    axum::Router::new()
        .route("/sources/{ns}/{plural}/{name}", axum::routing::any(handle))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_WEBHOOK_BYTES))
        .with_state(sources)
}

async fn handle(
    State(sources): State<Sources>,
    Path((ns, plural, name)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Some(kind) = SourceKind::from_plural(&plural) else {
        return (StatusCode::NOT_FOUND, "no such source kind\n").into_response();
    };
    let Some(hook) = sources.webhook(&SourceKey::new(kind, ns, name)) else {
        return (
            StatusCode::NOT_FOUND,
            "no such source, or it is not running\n",
        )
            .into_response();
    };
    match body {
        Ok(body) => hook.handle(method, headers, body).await,
        Err(e) => (e.status(), format!("{}\n", e.body_text())).into_response(),
    }
}
