//! `?watch=true`: a chunked stream of `{"type":"ADDED","object":{…}}` lines.
//!
//! Without a `resourceVersion` (or with `"0"`) the stream starts with an `ADDED` event per
//! current object, then follows changes; with one it resumes after that revision. A revision
//! older than the store's history yields an `ERROR` event carrying a 410 `Status`, as
//! kube-apiserver does, and the client re-lists. With selectors, an object that stops
//! matching is reported as `DELETED` and one that starts matching as `ADDED`, as the watch
//! cache does. Bookmarks are not sent.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use herald_api::ServedVersion;
use herald_store::{EventType, Rv};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::ApiState;
use crate::errors::{ApiError, ApiResult};
use crate::handlers::{Req, Route, present};
use crate::media::Repr;
use crate::selectors::Selectors;
use crate::table::{self, IncludeObject};

/// What each event's object looks like, captured so the stream task owns it.
#[derive(Clone)]
struct Shape {
    sv: ServedVersion,
    key: String,
    repr: Repr,
    include: IncludeObject,
    sensitive: bool,
}

impl Shape {
    fn render(&self, stored: Value) -> ApiResult<Value> {
        let obj = present(&self.sv, &self.key, stored)?;
        Ok(match self.repr {
            Repr::Object => obj,
            Repr::Partial(v) => {
                let mut p = table::partial_metadata(&obj);
                p["apiVersion"] = json!(format!("meta.k8s.io/{v}"));
                p
            }
            Repr::Table(v) => {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let mut t =
                    table::table(&[obj], self.sv.columns, self.include, self.sensitive, &rv);
                t["apiVersion"] = json!(format!("meta.k8s.io/{v}"));
                t
            }
        })
    }
}

fn line(type_: &str, object: Value) -> Bytes {
    let mut s = json!({"type": type_, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

fn obj_key(v: &Value) -> (String, String) {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}

/// Decides the event type a selector-filtered watcher sees, tracking which objects match.
fn transition(
    type_: EventType,
    matches: bool,
    key: (String, String),
    seen: &mut HashSet<(String, String)>,
) -> Option<&'static str> {
    let was = seen.contains(&key);
    match (type_, matches, was) {
        // A creation is a creation, whatever the approximated `seen` set says (a watch resumed
        // from an old revision pre-fills it from the current state, which already holds
        // objects created after that revision).
        (EventType::Added, true, _) => {
            seen.insert(key);
            Some("ADDED")
        }
        (EventType::Deleted, _, true) => {
            seen.remove(&key);
            Some("DELETED")
        }
        (EventType::Deleted, _, false) => None,
        (_, true, true) => Some("MODIFIED"),
        (_, true, false) => {
            seen.insert(key);
            Some("ADDED")
        }
        (_, false, true) => {
            seen.remove(&key);
            Some("DELETED")
        }
        (_, false, false) => None,
    }
}

/// A watch that never reports anything (Herald keeps no Events), open until `timeoutSeconds`
/// or until the client goes away, so `kubectl get events -w` simply waits.
pub fn empty(req: &Req) -> ApiResult<Response> {
    let timeout = timeout_of(req)?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(1);
    tokio::spawn(async move {
        match timeout {
            Some(t) => {
                tokio::select! {
                    _ = tx.closed() => {}
                    _ = tokio::time::sleep(t) => {}
                }
            }
            None => tx.closed().await,
        }
    });
    Ok(stream_response(rx))
}

fn timeout_of(req: &Req) -> ApiResult<Option<Duration>> {
    match req.q("timeoutSeconds") {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<u64>()
            .map(|t| Some(Duration::from_secs(t)))
            .map_err(|_| ApiError::BadRequest(format!("timeoutSeconds: invalid value {s:?}"))),
    }
}

fn stream_response(rx: mpsc::Receiver<Result<Bytes, Infallible>>) -> Response {
    let mut resp = Response::new(Body::from_stream(ReceiverStream::new(rx)));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Starts a watch stream for a list URL.
pub fn serve(state: &ApiState, rt: &Route<'_>, req: &Req) -> ApiResult<Response> {
    let sel: Selectors = req.selectors()?;
    let key = rt.key();
    let ns = rt.namespace.clone();
    let shape = Shape {
        sv: rt.sv.clone(),
        key: key.clone(),
        repr: req.repr(),
        include: IncludeObject::parse(req.q("includeObject")),
        sensitive: rt.res.sensitive,
    };
    let timeout = timeout_of(req)?;
    let store = state.store.clone();
    let list_target = rt.target("");
    // Objects currently visible to this watcher (for ADDED/DELETED transitions).
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut initial = Vec::new();
    let since: Rv = match req.q("resourceVersion") {
        None | Some("") | Some("0") => {
            let (items, rv) = store
                .list(&key, ns.as_deref())
                .map_err(|e| ApiError::from_store(e, &list_target))?;
            for o in items.into_iter().filter(|o| sel.matches(o)) {
                seen.insert(obj_key(&o));
                initial.push(o);
            }
            rv
        }
        Some(s) => {
            let rv = s.parse::<Rv>().map_err(|_| {
                ApiError::BadRequest(format!("resourceVersion: invalid value {s:?}"))
            })?;
            // Which objects the client already saw matching, approximated by the current state.
            if let Ok((items, _)) = store.list(&key, ns.as_deref()) {
                seen.extend(items.iter().filter(|o| sel.matches(o)).map(obj_key));
            }
            rv
        }
    };
    let watch = store.watch(Some(&key), ns.as_deref(), Some(since));

    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    tokio::spawn(async move {
        for o in initial {
            match shape.render(o) {
                Ok(v) => {
                    if tx.send(Ok(line("ADDED", v))).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!("watch: {e}"),
            }
        }
        let mut w = match watch {
            Ok(w) => w,
            Err(e) => {
                let status = ApiError::from_store(e, &list_target).status();
                let _ = tx.send(Ok(line("ERROR", status))).await;
                return;
            }
        };
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, w.next()).await.ok(),
                    None => Some(w.next().await),
                }
            };
            let ev = tokio::select! {
                _ = tx.closed() => return,
                ev = next => ev,
            };
            // Timed out (None) or the store ended the watch (Some(None)).
            let Some(Some(ev)) = ev else { return };
            let obj = (*ev.object).clone();
            let Some(type_) = transition(ev.type_, sel.matches(&obj), obj_key(&obj), &mut seen)
            else {
                continue;
            };
            match shape.render(obj) {
                Ok(v) => {
                    if tx.send(Ok(line(type_, v))).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!("watch: {e}"),
            }
        }
    });
    Ok(stream_response(rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_transitions() {
        let k = || ("ns".to_string(), "a".to_string());
        let mut seen = HashSet::new();
        let steps = [
            (EventType::Added, false, None),
            (EventType::Modified, true, Some("ADDED")),
            (EventType::Modified, true, Some("MODIFIED")),
            (EventType::Modified, false, Some("DELETED")),
            (EventType::Deleted, false, None),
            (EventType::Added, true, Some("ADDED")),
            (EventType::Deleted, true, Some("DELETED")),
        ];
        for (i, (t, m, want)) in steps.into_iter().enumerate() {
            assert_eq!(transition(t, m, k(), &mut seen), want, "step {i}");
        }
    }
}
