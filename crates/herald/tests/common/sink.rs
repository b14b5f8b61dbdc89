//! A recording event sink for black-box tests: a real HTTP server on 127.0.0.1:0 that stores
//! every request it receives (per path) and answers from a per-path script (default 202).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    pub fn body(mut self, body: &[u8]) -> Reply {
        self.body = body.to_vec();
        self
    }
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

#[derive(Default)]
struct State {
    received: HashMap<String, Vec<Received>>,
    script: HashMap<String, VecDeque<Reply>>,
    /// Answer used when a path's script is empty.
    fallback: HashMap<String, Reply>,
}

/// A running sink; stops when dropped.
pub struct Sink {
    /// `http://127.0.0.1:<port>` (append a path).
    pub url: String,
    state: Arc<Mutex<State>>,
    _rt: tokio::runtime::Runtime,
}

impl Sink {
    pub fn start() -> Sink {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("sink runtime");
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind sink");
        let addr = listener.local_addr().expect("sink addr");
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let st = st.clone();
                async move { handle(st, method, uri, headers, body).await }
            },
        );
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Sink {
            url: format!("http://{addr}"),
            state,
            _rt: rt,
        }
    }

    /// The URL of `path` (which starts with `/`).
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Queues answers for `path`, used in order before the fallback.
    pub fn script(&self, path: &str, replies: Vec<Reply>) {
        let mut s = self.state.lock().expect("sink state");
        s.script
            .entry(path.to_string())
            .or_default()
            .extend(replies);
    }

    /// The answer for `path` once its script is used up (default: 202, empty).
    pub fn fallback(&self, path: &str, reply: Reply) {
        let mut s = self.state.lock().expect("sink state");
        s.fallback.insert(path.to_string(), reply);
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        let s = self.state.lock().expect("sink state");
        s.received.get(path).cloned().unwrap_or_default()
    }

    /// Waits until `path` received at least `n` requests (panics after `timeout`).
    pub fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received(path);
            if got.len() >= n {
                return got;
            }
            if Instant::now() > deadline {
                panic!(
                    "sink {path}: wanted {n} requests within {timeout:?}, got {}:\n{got:#?}",
                    got.len()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asserts `path` receives nothing more than `n` requests during `quiet`.
    pub fn expect_no_more(&self, path: &str, n: usize, quiet: Duration) {
        std::thread::sleep(quiet);
        let got = self.received(path);
        assert_eq!(got.len(), n, "sink {path}: unexpected requests:\n{got:#?}");
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let reply = {
        let mut s = state.lock().expect("sink state");
        s.received.entry(path.clone()).or_default().push(Received {
            method: method.to_string(),
            path: path.clone(),
            headers: headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: body.to_vec(),
            at: Instant::now(),
        });
        match s.script.get_mut(&path).and_then(|q| q.pop_front()) {
            Some(r) => r,
            None => s
                .fallback
                .get(&path)
                .cloned()
                .unwrap_or_else(|| Reply::status(202)),
        }
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut resp = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        reply.body,
    )
        .into_response();
    for (n, v) in reply.headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(n.as_bytes()),
            axum::http::HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(n, v);
        }
    }
    resp
}
