//! The few Pub/Sub REST v1 calls the source makes: create the subscription, pull,
//! acknowledge, and modifyAckDeadline (0 = nack, redeliver now). Plain JSON over `reqwest`, so
//! the same code talks to `pubsub.googleapis.com` (with a bearer token) and the emulator (HTTP,
//! no auth).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Mutex;

use super::auth::{AuthError, TokenSource};

/// Google's production endpoint.
pub const GOOGLE_ENDPOINT: &str = "https://pubsub.googleapis.com";

/// A failed Pub/Sub call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("{url}: {error}")]
    Connection { url: String, error: String },
    #[error("{url}: no answer in time")]
    Timeout { url: String },
    #[error("{url} answered {status} {reason}: {message}")]
    Status {
        url: String,
        status: u16,
        reason: String,
        message: String,
    },
    #[error("{url} answered a body that is not a Pub/Sub response: {error}")]
    Body { url: String, error: String },
}

impl ApiError {
    /// The condition reason for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::Auth(_) => "CredentialsInvalid",
            ApiError::Connection { .. } | ApiError::Timeout { .. } => "ConnectionFailed",
            ApiError::Status { status: 404, .. } => "TopicNotFound",
            ApiError::Status {
                status: 401 | 403, ..
            } => "PermissionDenied",
            ApiError::Status { .. } | ApiError::Body { .. } => "PubSubError",
        }
    }
}

/// A message as `subscriptions.pull` returns it. `data` stays base64: the event carries it
/// base64-encoded anyway, so a message is never rejected for its payload.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PubsubMessage {
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub message_id: String,
    #[serde(default)]
    pub publish_time: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedMessage {
    pub ack_id: String,
    #[serde(default)]
    pub message: PubsubMessage,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PullResponse {
    #[serde(default)]
    received_messages: Vec<ReceivedMessage>,
}

/// The subscription's settings, from the source's spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionSettings {
    /// `projects/<p>/topics/<t>`.
    pub topic: String,
    pub ack_deadline_seconds: u32,
    pub retain_acked_messages: bool,
    /// A protobuf Duration in JSON (`"604800s"`).
    pub message_retention_duration: String,
}

/// A Pub/Sub REST client; cheap to clone (the lease keeper shares it with the pull loop).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `http://host:port` or `https://pubsub.googleapis.com`, no trailing slash.
    endpoint: String,
    /// `None` for the emulator (no credentials).
    auth: Option<Arc<Mutex<TokenSource>>>,
}

impl Client {
    pub fn new(http: reqwest::Client, endpoint: &str, auth: Option<TokenSource>) -> Self {
        Client {
            http,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            auth: auth.map(|t| Arc::new(Mutex::new(t))),
        }
    }

    /// Sends one call; `None` body = GET. Returns the JSON answer.
    async fn call(
        &self,
        path: &str,
        body: Option<serde_json::Value>,
        method: reqwest::Method,
        timeout: Duration,
    ) -> Result<String, ApiError> {
        let url = format!("{}/v1/{path}", self.endpoint);
        let mut req = self.http.request(method, &url).timeout(timeout);
        if let Some(ts) = &self.auth {
            let token = ts.lock().await.token(&self.http).await?;
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let conn = |e: reqwest::Error| {
            if e.is_timeout() {
                ApiError::Timeout { url: url.clone() }
            } else {
                ApiError::Connection {
                    url: url.clone(),
                    error: error_chain(&e),
                }
            }
        };
        let resp = req.send().await.map_err(conn)?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(conn)?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        let (reason, message) = google_error(&text);
        Err(ApiError::Status {
            url,
            status,
            reason,
            message,
        })
    }

    /// Creates `subscription` (`projects/<p>/subscriptions/<id>`) unless it exists already.
    pub async fn ensure_subscription(
        &self,
        subscription: &str,
        settings: &SubscriptionSettings,
    ) -> Result<(), ApiError> {
        let body = serde_json::to_value(settings).unwrap_or_default();
        match self
            .call(
                subscription,
                Some(body),
                reqwest::Method::PUT,
                Duration::from_secs(30),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(ApiError::Status { status: 409, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Pulls up to `max` messages, waiting up to `wait` for the first.
    pub async fn pull(
        &self,
        subscription: &str,
        max: u32,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, ApiError> {
        let path = format!("{subscription}:pull");
        // A long poll: an empty subscription holds the request open (the emulator for
        // minutes), so running out of `wait` just means "nothing yet".
        let text = match self
            .call(
                &path,
                Some(json!({"maxMessages": max})),
                reqwest::Method::POST,
                wait,
            )
            .await
        {
            Ok(t) => t,
            Err(ApiError::Timeout { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let resp: PullResponse = serde_json::from_str(&text).map_err(|e| ApiError::Body {
            url: format!("{}/v1/{path}", self.endpoint),
            error: e.to_string(),
        })?;
        Ok(resp.received_messages)
    }

    pub async fn acknowledge(&self, subscription: &str, ack_id: &str) -> Result<(), ApiError> {
        self.call(
            &format!("{subscription}:acknowledge"),
            Some(json!({"ackIds": [ack_id]})),
            reqwest::Method::POST,
            Duration::from_secs(30),
        )
        .await
        .map(drop)
    }

    /// Sets the message's ack deadline; 0 makes it available for redelivery at once (nack).
    pub async fn modify_ack_deadline(
        &self,
        subscription: &str,
        ack_id: &str,
        seconds: u32,
    ) -> Result<(), ApiError> {
        self.call(
            &format!("{subscription}:modifyAckDeadline"),
            Some(json!({"ackIds": [ack_id], "ackDeadlineSeconds": seconds})),
            reqwest::Method::POST,
            Duration::from_secs(30),
        )
        .await
        .map(drop)
    }
}

/// `reqwest` errors hide the cause (`connection refused`) in their source chain.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

/// The `status` and `message` of a Google API error body, or the raw body.
pub fn google_error(body: &str) -> (String, String) {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let err = &v["error"];
    match (err["status"].as_str(), err["message"].as_str()) {
        (Some(s), Some(m)) => (s.to_string(), m.to_string()),
        _ => (String::new(), body.chars().take(200).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_response_decodes() {
        let body = r#"{"receivedMessages": [{"ackId": "a1", "message": {"data": "aGk=",
            "attributes": {"k": "v"}, "messageId": "7", "publishTime": "2026-01-02T03:04:05.6Z"}},
            {"ackId": "a2", "message": {"attributes": {"only": "attrs"}, "messageId": "8"}}]}"#;
        let r: PullResponse = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(r.received_messages.len(), 2);
        assert_eq!(r.received_messages[0].message.data.as_deref(), Some("aGk="));
        assert_eq!(r.received_messages[1].message.data, None);
        let empty: PullResponse = serde_json::from_str("{}").unwrap_or_default();
        assert!(empty.received_messages.is_empty());
    }

    #[test]
    fn google_errors() {
        assert_eq!(
            google_error(
                r#"{"error":{"code":404,"message":"Resource not found (resource=t).","status":"NOT_FOUND"}}"#
            ),
            (
                "NOT_FOUND".into(),
                "Resource not found (resource=t).".into()
            )
        );
        assert_eq!(google_error("oops"), (String::new(), "oops".into()));
    }

    #[test]
    fn settings_json() {
        let s = SubscriptionSettings {
            topic: "projects/p/topics/t".into(),
            ack_deadline_seconds: 30,
            retain_acked_messages: false,
            message_retention_duration: "604800s".into(),
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap_or_default(),
            json!({"topic": "projects/p/topics/t", "ackDeadlineSeconds": 30,
                   "retainAckedMessages": false, "messageRetentionDuration": "604800s"})
        );
    }
}
