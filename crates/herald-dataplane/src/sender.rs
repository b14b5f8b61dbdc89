//! One HTTP delivery attempt: encodes the event, adds Knative's request headers, and reads the
//! response (bounded) so the caller can classify it and look for a reply.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use herald_ce::Event;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::delivery::Format;

/// Largest response body read (a reply event or an error body); more is a failed attempt.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// A response to one attempt.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// An attempt that got no usable response.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Transport(String),
    #[error("response body larger than {MAX_RESPONSE_BYTES} bytes")]
    ResponseTooLarge,
}

/// How to send one request.
pub struct Request<'a> {
    pub uri: &'a str,
    pub event: &'a Event,
    pub format: Format,
    /// Passthrough headers carried with the event (DP-30), incl. trace context.
    pub headers: &'a [(String, String)],
    /// `Kn-Namespace` (DP-29), for subscriber deliveries.
    pub namespace: Option<&'a str>,
    /// Send `Prefer: reply` (DP-28): only where replies are processed.
    pub prefer_reply: bool,
    pub timeout: Duration,
}

/// Continues a W3C trace: same trace id and flags, a new parent span id.
pub fn continue_traceparent(tp: &str) -> Option<String> {
    let parts: Vec<&str> = tp.trim().split('-').collect();
    if parts.len() < 4 || parts[1].len() != 32 || parts[2].len() != 16 {
        return None;
    }
    let span = uuid::Uuid::new_v4().simple().to_string();
    Some(format!(
        "{}-{}-{}-{}",
        parts[0],
        parts[1],
        &span[..16],
        parts[3]
    ))
}

pub async fn send(client: &reqwest::Client, req: Request<'_>) -> Result<Response, SendError> {
    let (mut headers, body) = match req.format {
        Format::Binary => herald_ce::encode_binary(req.event),
        Format::Json => herald_ce::encode_structured(req.event),
    };
    for (name, value) in req.headers {
        let value = if name == "traceparent" {
            continue_traceparent(value).unwrap_or_else(|| value.clone())
        } else {
            value.clone()
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(n, v);
        }
    }
    if req.prefer_reply {
        headers.insert("prefer", HeaderValue::from_static("reply"));
    }
    if let Some(ns) = req.namespace
        && let Ok(v) = HeaderValue::from_str(ns)
    {
        headers.insert("kn-namespace", v);
    }
    let result = client
        .post(req.uri)
        .headers(headers)
        .body(body)
        .timeout(req.timeout)
        .send()
        .await;
    let mut resp = match result {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Err(SendError::Timeout(req.timeout)),
        Err(e) => return Err(SendError::Transport(error_chain(&e))),
    };
    let status = resp.status().as_u16();
    let headers = std::mem::take(resp.headers_mut());
    let mut body = BytesMut::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(SendError::ResponseTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => return Err(SendError::Timeout(req.timeout)),
            Err(e) => return Err(SendError::Transport(error_chain(&e))),
        }
    }
    Ok(Response {
        status,
        headers,
        body: body.freeze(),
    })
}

/// The error with its sources, so "connection refused" is not hidden behind "error sending request".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_keeps_trace_id() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let next = continue_traceparent(tp).unwrap_or_default();
        assert!(next.starts_with("00-0af7651916cd43dd8448eb211c80319c-"));
        assert!(next.ends_with("-01"));
        assert_ne!(next, tp);
        assert_eq!(continue_traceparent("garbage"), None);
    }
}
