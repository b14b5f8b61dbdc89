//! What the GitHub and GitLab webhook receivers share: why a delivery is refused (and the HTTP
//! status that says so), constant-time secret checks, and forwarding within the caller's
//! timeout.

use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use herald_ce::Event;
use herald_dataplane::{BackoffPolicy, DeliveryPolicy};
use ring::hmac;
use tokio_util::sync::CancellationToken;

use crate::emitter::Emitter;
use crate::runtime::SourceContext;
use crate::webhook::Webhook;
use herald_api::sources::support::SecretValueFromSource;

/// Why a webhook delivery is not forwarded. Each maps to one HTTP status (see
/// docs/sources/github-gitlab.md for why each status was chosen).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("webhooks are delivered with POST, not {0}")]
    Method(String),
    #[error("the {0} header is missing: the delivery is not authenticated")]
    Unauthenticated(&'static str),
    #[error("the {0} header does not match the source's secret token")]
    BadCredentials(&'static str),
    #[error("the {0} header is missing or empty")]
    MissingHeader(&'static str),
    #[error("{0}")]
    UnknownEvent(String),
    #[error("the payload is not JSON: {0}")]
    MalformedPayload(String),
}

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Rejection::BadCredentials(_) => StatusCode::FORBIDDEN,
            Rejection::MissingHeader(_) | Rejection::MalformedPayload(_) => StatusCode::BAD_REQUEST,
            Rejection::UnknownEvent(_) => StatusCode::NOT_FOUND,
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut resp = (self.status(), format!("{self}\n")).into_response();
        if matches!(self, Rejection::Method(_)) {
            resp.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        }
        resp
    }
}

/// Only POST carries a webhook delivery.
/// Serves the receiver `build` makes from the source's plan, until the source stops; a
/// receiver that cannot be built (bad spec, missing secret) reports why instead.
pub async fn serve<W: Webhook + 'static>(
    ctx: SourceContext,
    build: impl FnOnce(&SourceContext) -> Result<W, (&'static str, String)>,
) {
    match build(&ctx) {
        Ok(hook) => {
            ctx.serve_webhook(std::sync::Arc::new(hook));
            ctx.ready();
        }
        Err((reason, message)) => ctx.failed(reason, message),
    }
    ctx.cancel.cancelled().await;
}

/// The resolved `spec.secretToken` (Knative's reason `SecretTokenNotFound` when the Secret or
/// its key is missing or empty).
pub fn secret_token(
    ctx: &SourceContext,
    spec: &SecretValueFromSource,
) -> Result<Vec<u8>, (&'static str, String)> {
    ctx.plan
        .secrets
        .get("/secretToken")
        .filter(|s| !s.is_empty())
        .map(|s| s.clone().into_bytes())
        .ok_or_else(|| {
            let r = spec.secret_key_ref.as_ref();
            (
                "SecretTokenNotFound",
                format!(
                    "spec.secretToken: key {:?} of Secret {:?} does not exist or is empty",
                    r.map(|r| r.key.as_str()).unwrap_or_default(),
                    r.map(|r| r.name.as_str()).unwrap_or_default()
                ),
            )
        })
}

pub fn require_post(method: &Method) -> Result<(), Rejection> {
    if method == Method::POST {
        Ok(())
    } else {
        Err(Rejection::Method(method.to_string()))
    }
}

/// A header's value as text; `None` when absent, empty or not visible ASCII.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
}

/// Compares a presented token with the secret in constant time (both are MACed under a fresh
/// key and the tags compared with `ring::hmac::verify`, so neither content nor length leaks).
pub fn token_matches(presented: &[u8], secret: &[u8]) -> bool {
    let rng = ring::rand::SystemRandom::new();
    let Ok(key) = hmac::Key::generate(hmac::HMAC_SHA256, &rng) else {
        return false;
    };
    let tag = hmac::sign(&key, secret);
    hmac::verify(&key, presented, tag.as_ref()).is_ok()
}

/// The payload as JSON text, checked to parse (forwarded byte for byte as the event's data).
pub fn json_payload(body: &[u8]) -> Result<(String, serde_json::Value), Rejection> {
    let text = std::str::from_utf8(body).map_err(|e| Rejection::MalformedPayload(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Rejection::MalformedPayload(e.to_string()))?;
    Ok((text.to_owned(), value))
}

/// GitHub gives up on a delivery after 10 s (GitLab after 10 s by default too): the whole
/// forward, retries included, must end before that so the caller sees the real outcome.
pub const FORWARD_DEADLINE: Duration = Duration::from_secs(9);

/// Retries for a webhook forward: 3 retries, exponential from 200 ms (0.4 + 0.8 + 1.6 s of
/// waiting) and 1.5 s per attempt, under [`FORWARD_DEADLINE`].
pub fn forward_policy() -> DeliveryPolicy {
    DeliveryPolicy {
        retry: 3,
        backoff_policy: BackoffPolicy::Exponential,
        backoff_delay: Some(Duration::from_millis(200)),
        timeout: Some(Duration::from_millis(1500)),
        ..DeliveryPolicy::default()
    }
}

/// Sends the event and answers the webhook caller: 202 once the sink accepted it, 502 when the
/// sink refused it or could not be reached in time (so the delivery shows as failed and can be
/// redelivered), 503 when the source is stopping.
pub async fn forward(emitter: &Emitter, event: Event, cancel: &CancellationToken) -> Response {
    let sent = tokio::time::timeout(FORWARD_DEADLINE, emitter.emit(event, cancel)).await;
    match sent {
        Ok(Ok(())) => (StatusCode::ACCEPTED, "accepted\n").into_response(),
        Ok(Err(crate::EmitError::Cancelled)) => {
            (StatusCode::SERVICE_UNAVAILABLE, "the source is stopping\n").into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!("webhook event not delivered: {e}");
            (StatusCode::BAD_GATEWAY, format!("{e}\n")).into_response()
        }
        Err(_) => {
            tracing::warn!("webhook event not delivered within {FORWARD_DEADLINE:?}");
            (
                StatusCode::GATEWAY_TIMEOUT,
                "the sink did not accept the event in time\n",
            )
                .into_response()
        }
    }
}

/// What a receiver decided about one delivery, before any I/O.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Send this event to the sink.
    Forward(Box<Event>),
    /// Answer 200 and forward nothing (a delivery the source deliberately drops).
    Ignore(String),
}

/// Carries out a receiver's decision and answers the webhook caller.
/// A webhook kind's rules: what a delivery is checked against, and what it becomes (pure).
pub trait Decide: Send + Sync {
    fn decide(
        &self,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Outcome, Rejection>;
}

/// One running webhook source: its rules, and the emitter that forwards what they accept.
pub struct Receiver<R> {
    rules: R,
    emitter: Emitter,
    cancel: CancellationToken,
}

impl<R> Receiver<R> {
    pub fn new(rules: R, ctx: &SourceContext) -> Self {
        Receiver {
            rules,
            emitter: ctx.emitter.clone().with_policy(forward_policy()),
            cancel: ctx.cancel.clone(),
        }
    }
}

impl<R: Decide> Webhook for Receiver<R> {
    fn handle<'a>(
        &'a self,
        method: Method,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send + 'a>> {
        Box::pin(async move {
            let decided = self.rules.decide(&method, &headers, &body);
            respond(decided, &self.emitter, &self.cancel).await
        })
    }
}

pub async fn respond(
    decided: Result<Outcome, Rejection>,
    emitter: &Emitter,
    cancel: &CancellationToken,
) -> Response {
    match decided {
        Ok(Outcome::Forward(event)) => forward(emitter, *event, cancel).await,
        Ok(Outcome::Ignore(why)) => (StatusCode::OK, format!("{why}\n")).into_response(),
        Err(r) => {
            tracing::debug!("webhook delivery refused: {r}");
            r.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"s3cret", b"s3cret", true),
            (b"s3cret", b"s3cret ", false),
            (b"S3cret", b"s3cret", false),
            (b"", b"s3cret", false),
            (b"", b"", true),
        ];
        for (presented, secret, want) in cases {
            assert_eq!(
                token_matches(presented, secret),
                *want,
                "{presented:?} vs {secret:?}"
            );
        }
    }

    #[test]
    fn rejection_statuses() {
        let cases = [
            (Rejection::Method("GET".into()), 405),
            (Rejection::Unauthenticated("X-Hub-Signature-256"), 401),
            (Rejection::BadCredentials("X-Gitlab-Token"), 403),
            (Rejection::MissingHeader("X-GitHub-Event"), 400),
            (Rejection::MalformedPayload("eof".into()), 400),
            (Rejection::UnknownEvent("nope".into()), 404),
        ];
        for (r, want) in cases {
            assert_eq!(r.status().as_u16(), want, "{r}");
        }
    }

    #[test]
    fn json_payload_checks() {
        assert!(json_payload(b"{\"a\": 1}").is_ok());
        for bad in [&b""[..], b"{", b"\xff\xfe", b"{\"a\":}"] {
            assert!(
                matches!(json_payload(bad), Err(Rejection::MalformedPayload(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn forward_policy_fits_the_deadline() {
        let p = forward_policy();
        let waits: Duration = (1..=p.retry).map(|k| p.backoff(k)).sum();
        let worst = waits + p.timeout() * (p.retry + 1);
        assert!(worst <= FORWARD_DEADLINE, "{worst:?}");
    }
}
