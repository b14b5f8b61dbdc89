//! Webhook-driven sources (GitHub, GitLab) receive HTTP on Herald's ingress listener at
//! `/sources/<namespace>/<plural>/<name>` (the URL is in the source's `status.webhookUrl`), and
//! sinks (KafkaSink) at `/sinks/<namespace>/<plural>/<name>` (their `status.address.url`).
//! This module routes a request to the running source's or sink's handler.

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

/// The path of a webhook source (or a sink) on the ingress listener.
pub fn path(key: &SourceKey) -> String {
    format!(
        "/{}/{}/{}/{}",
        prefix(key.kind),
        key.namespace,
        key.kind.plural(),
        key.name
    )
}

/// Sources live under `/sources`, sinks (KafkaSink) under `/sinks`.
fn prefix(kind: SourceKind) -> &'static str {
    if kind.is_sink() { "sinks" } else { "sources" }
}

pub(crate) fn router(sources: Sources) -> axum::Router {
    axum::Router::new()
        .route(
            "/sources/{ns}/{plural}/{name}",
            axum::routing::any(handle_source),
        )
        .route(
            "/sinks/{ns}/{plural}/{name}",
            axum::routing::any(handle_sink),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_WEBHOOK_BYTES))
        .with_state(sources)
}

async fn handle_source(
    State(sources): State<Sources>,
    Path((ns, plural, name)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    handle(
        "sources",
        sources,
        (ns, plural, name),
        method,
        headers,
        body,
    )
    .await
}

async fn handle_sink(
    State(sources): State<Sources>,
    Path((ns, plural, name)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    handle("sinks", sources, (ns, plural, name), method, headers, body).await
}

async fn handle(
    under: &str,
    sources: Sources,
    (ns, plural, name): (String, String, String),
    method: Method,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Some(kind) = SourceKind::from_plural(&plural).filter(|k| prefix(*k) == under) else {
        return (StatusCode::NOT_FOUND, format!("no such {under} kind\n")).into_response();
    };
    let Some(hook) = sources.webhook(&SourceKey::new(kind, ns, name)) else {
        let what = if kind.is_sink() { "sink" } else { "source" };
        return (
            StatusCode::NOT_FOUND,
            format!("no such {what}, or it is not running\n"),
        )
            .into_response();
    };
    match body {
        Ok(body) => hook.handle(method, headers, body).await,
        Err(e) => (e.status(), format!("{}\n", e.body_text())).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_sinks_have_their_own_prefix() {
        let p = |kind| path(&SourceKey::new(kind, "ns", "n"));
        assert_eq!(p(SourceKind::GitHub), "/sources/ns/githubsources/n");
        assert_eq!(p(SourceKind::KafkaSink), "/sinks/ns/kafkasinks/n");
    }
}
