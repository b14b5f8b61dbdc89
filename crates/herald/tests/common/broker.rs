//! Helpers for the broker black-box tests: raw HTTP on a small runtime, Broker/Trigger
//! manifests applied with kubectl, and waiting for readiness.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Herald;
use super::sink::{Received, Sink};

/// The Ready condition's status, as kubectl's jsonpath prints it.
pub const READY: &str = "{.status.conditions[?(@.type==\"Ready\")].status}";

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Raw HTTP with reqwest on a small runtime of its own.
pub struct Client {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Client {
    pub fn new() -> Client {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("client runtime");
        Client {
            rt,
            http: super::http(),
        }
    }

    pub fn send(&self, method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, url).body(body.to_vec());
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        self.rt.block_on(async {
            let r = req.send().await.unwrap_or_else(|e| panic!("{url}: {e:?}"));
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let body = r.text().await.unwrap_or_default();
            Resp {
                status,
                headers,
                body,
            }
        })
    }

    pub fn post(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        self.send("POST", url, headers, body)
    }
}

/// POSTs a binary-mode event (`ce-source: /herald/tests`; `content-type: application/json`
/// unless `extra` sets one).
pub fn post_binary(
    c: &Client,
    url: &str,
    id: &str,
    ty: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut headers = vec![
        ("ce-specversion", "1.0"),
        ("ce-id", id),
        ("ce-source", "/herald/tests"),
        ("ce-type", ty),
    ];
    if !extra
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type", "application/json"));
    }
    headers.extend_from_slice(extra);
    c.post(url, &headers, body)
}

pub fn assert_202(r: &Resp, what: &str) {
    assert_eq!(r.status, 202, "{what}: {} {}", r.status, r.body);
    assert!(
        r.body.is_empty(),
        "{what}: a 202 has an empty body: {:?}",
        r.body
    );
}

pub fn apply(h: &Herald, objects: &[Value]) {
    // One YAML stream of JSON documents.
    let docs: Vec<String> = objects.iter().map(Value::to_string).collect();
    let out = h.kubectl_stdin(&["apply", "-f", "-"], Some(&docs.join("\n---\n")));
    assert!(
        out.status.success(),
        "kubectl apply failed: {}\n{}\nherald log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        h.log()
    );
}

pub fn broker(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "metadata": {"name": name},
        "spec": spec,
    })
}

/// A Trigger on Broker `default` with `subscriber.uri`; `spec` adds fields (filter, delivery, …).
pub fn trigger(name: &str, uri: &str, spec: Value) -> Value {
    let mut s = json!({"broker": "default", "subscriber": {"uri": uri}});
    if let (Some(s), Value::Object(extra)) = (s.as_object_mut(), spec) {
        s.extend(extra);
    }
    json!({
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": name},
        "spec": s,
    })
}

/// Applies Broker `default` and the Triggers, and waits for all of them to be Ready.
pub fn setup(h: &Herald, broker_spec: Value, triggers: &[Value]) {
    let mut objects = vec![broker("default", broker_spec)];
    objects.extend_from_slice(triggers);
    apply(h, &objects);
    h.wait_jsonpath(&["broker", "default"], READY, "True");
    for t in triggers {
        let name = t["metadata"]["name"].as_str().expect("trigger name");
        h.wait_jsonpath(&["trigger", name], READY, "True");
    }
}

pub fn broker_url(h: &Herald) -> String {
    format!("{}/default/default", h.ingress)
}

/// The deliveries whose `ce-id` is `id` (binary mode).
pub fn with_id<'a>(got: &'a [Received], id: &str) -> &'a Received {
    got.iter()
        .find(|r| r.header("ce-id") == Some(id))
        .unwrap_or_else(|| panic!("no delivery with ce-id {id}:\n{got:#?}"))
}

/// The distinct `ce-id`s received.
pub fn id_set(got: &[Received]) -> BTreeSet<String> {
    got.iter()
        .filter_map(|r| r.header("ce-id").map(str::to_string))
        .collect()
}

/// Waits until every id in `want` arrived at `path` at least once (at-least-once: duplicates
/// allowed) and returns everything received there; panics with the missing ids and Herald's log
/// after `timeout`.
pub fn wait_for_ids(
    sink: &Sink,
    path: &str,
    want: &BTreeSet<String>,
    timeout: Duration,
    h: &Herald,
) -> Vec<Received> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = sink.received(path);
        let seen = id_set(&got);
        if want.is_subset(&seen) {
            return got;
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = want.difference(&seen).collect();
            panic!("missing events {missing:?}\nherald log:\n{}", h.log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
