//! The ingress listener: `POST /<namespace>/<broker>` with a CloudEvent (binary, structured or
//! batched) answers 202 once the event is in the broker's log — after fsync for a durable
//! broker (DP-15). Status codes follow reference §5.2: 400 invalid event or malformed path,
//! 404 unknown broker, 405 + `Allow` for other methods, OPTIONS 200 with WebHook headers,
//! 413 over the size limit, 429 when the log is full, 503 when it cannot store.
//!
//! Herald's own endpoints live under `/_herald/`, which no namespace can collide with.

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};

use crate::broker::PublishError;
use crate::dataplane::DataPlane;
use crate::envelope::passthrough_headers;
use crate::metrics::{add, inc};
use crate::plan::BrokerKey;
use crate::tail;

const ALLOW: &str = "POST, OPTIONS";

impl DataPlane {
    /// The ingress router (mount on the ingress listener).
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .fallback(handle)
            .with_state(self.clone())
    }
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut msg = msg.into();
    msg.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg,
    )
        .into_response()
}

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Broker(&'a str, &'a str),
    Channel(&'a str, &'a str),
    Tail(&'a str, &'a str),
    Metrics,
    NotFound,
    Malformed,
}

fn route(path: &str) -> Route<'_> {
    let trimmed = path.trim_start_matches('/');
    let segments: Vec<&str> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    };
    match segments.as_slice() {
        [] => Route::NotFound,
        ["_herald", "metrics"] => Route::Metrics,
        ["_herald", "tail", ns, name] => Route::Tail(ns, name),
        ["_herald", ..] => Route::NotFound,
        ["channels", ns, name] if !ns.is_empty() && !name.is_empty() => Route::Channel(ns, name),
        [ns, name] if !ns.is_empty() && !name.is_empty() => Route::Broker(ns, name),
        _ => Route::Malformed,
    }
}

async fn handle(
    State(dp): State<DataPlane>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = uri.path().to_string();
    match route(&path) {
        Route::Metrics if method == Method::GET => metrics(&dp),
        Route::Tail(ns, name) if method == Method::GET => {
            tail::tail(&dp, BrokerKey::new(ns, name)).await
        }
        Route::Metrics | Route::Tail(..) => {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "use GET");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET"));
            r
        }
        Route::NotFound => {
            inc(&dp.shared.metrics.rejected);
            text(StatusCode::NOT_FOUND, format!("no broker at {path}"))
        }
        Route::Malformed => {
            inc(&dp.shared.metrics.rejected);
            text(
                StatusCode::BAD_REQUEST,
                format!("malformed path {path:?}: a broker's address is /<namespace>/<name>"),
            )
        }
        Route::Broker(..) | Route::Channel(..) => {
            let key = match route(&path) {
                Route::Channel(ns, name) => BrokerKey::channel(ns, name),
                Route::Broker(ns, name) => BrokerKey::new(ns, name),
                _ => return text(StatusCode::NOT_FOUND, "no route"),
            };
            match method {
                Method::POST => post(&dp, key, headers, body).await,
                Method::OPTIONS => options(),
                _ => {
                    inc(&dp.shared.metrics.rejected);
                    let mut r = text(
                        StatusCode::METHOD_NOT_ALLOWED,
                        format!("method {method} not allowed: send events with POST"),
                    );
                    r.headers_mut()
                        .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
                    r
                }
            }
        }
    }
}

/// The WebHook-style probe answer (DP-11).
fn options() -> Response {
    (
        StatusCode::OK,
        [
            (header::ALLOW, ALLOW),
            (http::HeaderName::from_static("webhook-allowed-origin"), "*"),
            (http::HeaderName::from_static("webhook-allowed-rate"), "*"),
        ],
    )
        .into_response()
}

/// A per-broker gauge read from the log's stats: name, help, reader.
type Gauge = (&'static str, &'static str, fn(&herald_log::LogStats) -> u64);

fn metrics(dp: &DataPlane) -> Response {
    use std::fmt::Write;
    let brokers: Vec<_> = dp
        .shared
        .brokers
        .read()
        .map(|b| b.values().cloned().collect())
        .unwrap_or_default();
    let mut out = dp.shared.metrics.render(&[(
        "herald_brokers",
        "Brokers with a running data plane.",
        brokers.len() as u64,
    )]);
    let _ = writeln!(
        out,
        "# HELP herald_eventtype_observations_dropped_total Accepted events whose new (type, source) pair was not recorded because the observation window was full.\n# TYPE herald_eventtype_observations_dropped_total counter\nherald_eventtype_observations_dropped_total {}",
        dp.shared
            .observer
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    let gauges: [Gauge; 6] = [
        (
            "herald_log_corrupt_records",
            "Records lost to corruption (detected by checksum).",
            |s| s.corrupt_records,
        ),
        (
            "herald_log_truncated_bytes",
            "Bytes of torn tails truncated at recovery.",
            |s| s.truncated_bytes,
        ),
        (
            "herald_log_fsyncs",
            "Group commits (one fdatasync each).",
            |s| s.fsyncs,
        ),
        (
            "herald_log_appended",
            "Records appended since the log was opened.",
            |s| s.appended,
        ),
        ("herald_log_segments", "Segment files.", |s| s.segments),
        (
            "herald_log_backlog",
            "Records between the oldest retained and the head.",
            |s| s.head - s.first.min(s.head),
        ),
    ];
    let stats: Vec<_> = brokers.iter().map(|b| (b, b.log.stats())).collect();
    for (name, help, f) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (b, st) in &stats {
            let _ = writeln!(
                out,
                "{name}{{namespace=\"{}\",broker=\"{}\"}} {}",
                b.key.namespace,
                b.key.name,
                f(st)
            );
        }
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        out,
    )
        .into_response()
}

async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, Response> {
    // The rest of the body is not read, so the connection cannot be reused: say so, or a
    // keep-alive client sends its next request into a closed connection.
    let too_large = || {
        let mut r = text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds the limit of {limit} bytes"),
        );
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // to_bytes fails with a length-limit error or a transport error.
        if std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit"))
            || e.to_string().contains("length limit")
        {
            too_large()
        } else {
            text(StatusCode::BAD_REQUEST, format!("reading the body: {e}"))
        }
    })
}

async fn post(dp: &DataPlane, key: BrokerKey, headers: HeaderMap, body: Body) -> Response {
    let shared = &dp.shared;
    let Some(broker) = shared.broker(&key) else {
        inc(&shared.metrics.rejected);
        return text(
            StatusCode::NOT_FOUND,
            format!("broker {key} does not exist"),
        );
    };
    let body = match read_body(body, &headers, shared.config.max_request_bytes).await {
        Ok(b) => b,
        Err(r) => {
            inc(&shared.metrics.rejected);
            return r;
        }
    };
    let events = match herald_ce::decode_http(&headers, body) {
        Ok((_, events)) => events,
        Err(e) => {
            inc(&shared.metrics.rejected);
            return text(StatusCode::BAD_REQUEST, format!("invalid CloudEvent: {e}"));
        }
    };
    let passthrough = passthrough_headers(&headers);
    let (mut broker, mut events, mut tries) = (broker, events, 0);
    let published = loop {
        match broker
            .publish(events, &passthrough, shared.config.default_ttl)
            .await
        {
            // The log was swapped while this request was in flight: go to the current one.
            Err(PublishError::Sealed(returned)) if tries < 10 => {
                tries += 1;
                events = returned;
                match shared.broker(&key) {
                    Some(current) => broker = current,
                    None => {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                }
            }
            other => break other,
        }
    };
    match published {
        Ok(n) => {
            add(&shared.metrics.accepted, n as u64);
            StatusCode::ACCEPTED.into_response()
        }
        Err(e @ PublishError::Admit(_)) => {
            inc(&shared.metrics.rejected);
            text(StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(e @ PublishError::TooLarge { .. }) => {
            inc(&shared.metrics.rejected);
            text(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
        }
        Err(e @ PublishError::Full) => {
            inc(&shared.metrics.shed);
            let mut r = text(StatusCode::TOO_MANY_REQUESTS, e.to_string());
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        Err(e @ (PublishError::Unavailable(_) | PublishError::Sealed(_))) => {
            inc(&shared.metrics.shed);
            tracing::error!(broker = %key, "{e}");
            let mut r = text(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let cases = [
            ("/", Route::NotFound),
            ("/default/default", Route::Broker("default", "default")),
            ("/default", Route::Malformed),
            ("/a/b/c", Route::Malformed),
            ("/default/", Route::Malformed),
            ("/channels/ns/c", Route::Channel("ns", "c")),
            ("/flows/ns/c", Route::Malformed),
            ("/_herald/metrics", Route::Metrics),
            ("/_herald/tail/ns/b", Route::Tail("ns", "b")),
            ("/_herald/other", Route::NotFound),
        ];
        for (path, want) in cases {
            assert_eq!(route(path), want, "{path}");
        }
    }
}
