//! The subscriber: an HTTP server that answers 202 to everything and remembers, per event, which
//! event it was and when it arrived.
//!
//! Each Trigger of a run gets its own path, `/t<n>`, so the sink can tell a fan-out's deliveries
//! apart (`/` counts as route 0, the direct baseline). While *paused* the sink accepts requests
//! but answers none until resumed: the benchmark's stopped subscriber (see BENCHMARKS.md).
//!
//! It does as little as possible per request (parse two headers, push to a vector) because it
//! shares the machine's two cores with Herald and the load generator; its cost is the same in the
//! direct baseline and in the Herald run, so the ratio between them stays fair.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use http::{HeaderMap, StatusCode, Uri};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::load::{ID_PREFIX, SENT_HEADER};

/// One event as the sink saw it.
#[derive(Debug, Clone, Copy)]
pub struct Receipt {
    pub id: u64,
    /// Which subscriber path it came to (`/t<route>`; `/` is 0).
    pub route: u32,
    pub sent_ns: u64,
    pub recv_ns: u64,
}

struct SinkState {
    clock: Clock,
    receipts: Mutex<Vec<Receipt>>,
    /// Requests that were not the benchmark's events (no parsable `ce-id`/`ce-benchsent`):
    /// a sign that Herald changed or dropped attributes, reported rather than ignored.
    foreign: AtomicU64,
    received: AtomicU64,
    /// `true` while paused: requests wait for `false` before they are answered and counted.
    paused: watch::Sender<bool>,
}

pub struct Sink {
    pub url: String,
    state: Arc<SinkState>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Sink {
    pub async fn start(clock: Clock) -> Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("binding the sink")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SinkState {
            clock,
            receipts: Mutex::new(Vec::with_capacity(1 << 20)),
            foreign: AtomicU64::new(0),
            received: AtomicU64::new(0),
            paused: watch::channel(false).0,
        });
        let app = Router::new().fallback(receive).with_state(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = server.await {
                eprintln!("herald-bench: sink stopped with an error: {e}");
            }
        });
        Ok(Self {
            url: format!("http://{addr}"),
            state,
            stop: Some(stop),
            task,
        })
    }

    /// Requests received so far, events or not: cheap enough to poll while draining.
    pub fn received(&self) -> u64 {
        self.state.received.load(Ordering::Relaxed)
    }

    pub fn foreign(&self) -> u64 {
        self.state.foreign.load(Ordering::Relaxed)
    }

    /// A copy of every receipt so far.
    pub fn receipts(&self) -> Vec<Receipt> {
        lock(&self.state.receipts).clone()
    }

    /// Stops answering: new and pending requests wait (their connections stay open).
    pub fn pause(&self) {
        self.state.paused.send_replace(true);
    }

    /// Answers everything that waited, and everything after.
    pub fn resume(&self) {
        self.state.paused.send_replace(false);
    }

    pub async fn stop(mut self) {
        self.resume();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }
}

async fn receive(
    State(state): State<Arc<SinkState>>,
    uri: Uri,
    headers: HeaderMap,
    _body: Bytes,
) -> StatusCode {
    if *state.paused.borrow() {
        let mut rx = state.paused.subscribe();
        // Only an error if the state is gone, i.e. the sink is shutting down.
        let _ = rx.wait_for(|paused| !paused).await;
    }
    let recv_ns = state.clock.now_ns();
    state.received.fetch_add(1, Ordering::Relaxed);
    match (parse(&headers), route(uri.path())) {
        (Some((id, sent_ns)), Some(route)) => lock(&state.receipts).push(Receipt {
            id,
            route,
            sent_ns,
            recv_ns,
        }),
        _ => {
            state.foreign.fetch_add(1, Ordering::Relaxed);
        }
    }
    StatusCode::ACCEPTED
}

/// The route of a subscriber path: `/` is 0, `/t<n>` is n; anything else is not a benchmark
/// route (e.g. a Trigger that should never have matched).
fn route(path: &str) -> Option<u32> {
    match path {
        "/" | "" => Some(0),
        p => p.strip_prefix("/t")?.parse().ok(),
    }
}

/// The event number from `ce-id: bench-<n>` and the send time from `ce-benchsent`.
fn parse(headers: &HeaderMap) -> Option<(u64, u64)> {
    let id = headers.get("ce-id")?.to_str().ok()?;
    let id = id.strip_prefix(ID_PREFIX)?.parse().ok()?;
    let sent = headers.get(SENT_HEADER)?.to_str().ok()?.parse().ok()?;
    Some((id, sent))
}

/// A poisoned lock only means another handler panicked mid-push; the vector is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn parses_only_benchmark_events() {
        let mut h = HeaderMap::new();
        h.insert("ce-id", HeaderValue::from_static("bench-42"));
        h.insert(SENT_HEADER, HeaderValue::from_static("1700000000000000000"));
        assert_eq!(parse(&h), Some((42, 1_700_000_000_000_000_000)));
        h.insert("ce-id", HeaderValue::from_static("other-42"));
        assert_eq!(parse(&h), None);
        h.insert("ce-id", HeaderValue::from_static("bench-42"));
        h.insert(SENT_HEADER, HeaderValue::from_static("soon"));
        assert_eq!(parse(&h), None);
    }

    #[test]
    fn routes() {
        assert_eq!(route("/"), Some(0));
        assert_eq!(route("/t7"), Some(7));
        assert_eq!(route("/x"), None);
        assert_eq!(route("/t"), None);
    }
}
