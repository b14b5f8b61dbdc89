//! The two SQS calls the source makes (`ReceiveMessage`, `DeleteMessage`) over the SQS JSON
//! protocol (`application/x-amz-json-1.0`, `X-Amz-Target: AmazonSQS.<Action>`) that current AWS
//! SDKs use, signed with SigV4. Hand-rolled on the existing `reqwest` and `ring` rather than the
//! AWS SDK, which would add well over a hundred crates for two JSON POSTs.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::config::Target;
use super::event::Message;
use super::sigv4;

/// The longest long poll SQS allows.
pub const MAX_WAIT_SECONDS: u64 = 20;
/// The most messages one `ReceiveMessage` returns.
pub const MAX_MESSAGES: u64 = 10;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqsError {
    /// No HTTP answer (connection refused, reset, timeout).
    #[error("{endpoint}: {error}")]
    Connection { endpoint: String, error: String },
    /// SQS answered with an error.
    #[error("{action}: {status} {code}: {message}")]
    Api {
        action: &'static str,
        status: u16,
        code: String,
        message: String,
    },
    #[error("{action}: the answer is not SQS JSON: {error}")]
    Decode { action: &'static str, error: String },
}

impl SqsError {
    /// The condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            SqsError::Connection { .. } => "ConnectionFailed",
            SqsError::Api { .. } | SqsError::Decode { .. } => "ReceiveFailed",
        }
    }
}

#[derive(Debug, Deserialize)]
struct ReceiveResponse {
    #[serde(rename = "Messages", default)]
    messages: Vec<Message>,
}

/// Long-polls for up to [`MAX_MESSAGES`] messages, with the `SentTimestamp` attribute and all
/// message attributes (what eventing-awssqs asks for).
pub async fn receive(
    http: &reqwest::Client,
    t: &Target,
    wait_seconds: u64,
) -> Result<Vec<Message>, SqsError> {
    let body = json!({
        "QueueUrl": t.queue_url,
        "MaxNumberOfMessages": MAX_MESSAGES,
        "WaitTimeSeconds": wait_seconds,
        "AttributeNames": ["SentTimestamp"],
        "MessageAttributeNames": ["All"],
    });
    let timeout = Duration::from_secs(wait_seconds + 15);
    let v = call(http, t, "ReceiveMessage", &body, timeout).await?;
    let r: ReceiveResponse = serde_json::from_value(v).map_err(|e| SqsError::Decode {
        action: "ReceiveMessage",
        error: e.to_string(),
    })?;
    Ok(r.messages)
}

/// Deletes a delivered message.
pub async fn delete(
    http: &reqwest::Client,
    t: &Target,
    receipt_handle: &str,
) -> Result<(), SqsError> {
    let body = json!({"QueueUrl": t.queue_url, "ReceiptHandle": receipt_handle});
    call(http, t, "DeleteMessage", &body, Duration::from_secs(30))
        .await
        .map(|_| ())
}

async fn call(
    http: &reqwest::Client,
    t: &Target,
    action: &'static str,
    body: &Value,
    timeout: Duration,
) -> Result<Value, SqsError> {
    let payload = serde_json::to_vec(body).unwrap_or_default();
    let date = sigv4::amz_date(jiff::Timestamp::now());
    let target = format!("AmazonSQS.{action}");
    let mut headers: Vec<(&str, &str)> = vec![
        ("host", &t.host),
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-date", &date),
        ("x-amz-target", &target),
    ];
    if let Some(token) = &t.credentials.session_token {
        headers.push(("x-amz-security-token", token));
    }
    let auth = sigv4::authorization(
        &t.credentials,
        &t.region,
        "sqs",
        &date,
        &sigv4::Request {
            method: "POST",
            path: "/",
            query: &[],
            headers: &headers,
            payload: &payload,
        },
    );
    let mut req = http
        .post(&t.endpoint)
        .timeout(timeout)
        .header("authorization", auth);
    for (k, v) in &headers {
        if *k != "host" {
            req = req.header(*k, *v);
        }
    }
    let resp = req
        .body(payload)
        .send()
        .await
        .map_err(|e| SqsError::Connection {
            endpoint: t.endpoint.clone(),
            error: error_chain(&e),
        })?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(|e| SqsError::Connection {
        endpoint: t.endpoint.clone(),
        error: error_chain(&e),
    })?;
    if (200..300).contains(&status) {
        if bytes.is_empty() {
            return Ok(json!({}));
        }
        return serde_json::from_slice(&bytes).map_err(|e| SqsError::Decode {
            action,
            error: e.to_string(),
        });
    }
    let (code, message) = api_error(&bytes);
    Err(SqsError::Api {
        action,
        status,
        code,
        message,
    })
}

/// The error code and message of an SQS JSON error answer
/// (`{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "…"}`).
pub fn api_error(body: &[u8]) -> (String, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = v
        .get("__type")
        .and_then(Value::as_str)
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
        .unwrap_or_else(|| "UnknownError".to_string());
    let message = v
        .get("message")
        .or_else(|| v.get("Message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    (code, message)
}

/// An error with its causes (`reqwest` hides "connection refused" in the source chain).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers() {
        let cases: &[(&[u8], &str, &str)] = &[
            (
                br#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#,
                "QueueDoesNotExist",
                "The specified queue does not exist.",
            ),
            (br#"{"__type":"InvalidSignatureException","Message":"bad"}"#, "InvalidSignatureException", "bad"),
            (b"<html>oops</html>", "UnknownError", "<html>oops</html>"),
        ];
        for (body, code, message) in cases {
            assert_eq!(api_error(body), (code.to_string(), message.to_string()));
        }
    }
}
