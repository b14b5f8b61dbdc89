//! ApiServerSource: watches Kubernetes-style resources and sends a CloudEvent for every add,
//! update and delete. The same kube-rs code path serves Herald's own API (the default) and a
//! real cluster's API server (`herald serve --source-kubeconfig`).
//!
//! One watcher task per resource and namespace lists, then watches from the list's
//! resourceVersion, and re-lists (reporting only differences) when a watch expires or
//! breaks. Every change goes through one channel to one emitting loop, so the events of an
//! object leave in the order they happened.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use herald_api::sources::apiserver::{ApiServerSourceSpec, ApiVersionKindSelector};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, WatchEvent, WatchParams,
};
use kube::core::{Selector, SelectorExt};
use kube::{Client, Config};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::apiserver_events::{Mode, Op, Seen, build_event, owner_matches, pem_certificates};
use crate::runtime::{ApiAccess, SourceContext};

/// How often the namespaces matching `spec.namespaceSelector` are listed again.
const NAMESPACE_POLL: Duration = Duration::from_secs(5);
/// Longest wait between retries after an error.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Server-side timeout of one watch request (the watch is then re-opened).
const WATCH_TIMEOUT_SECS: u32 = 240;

/// Why the source cannot run (reported as the reason of its conditions).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum WatchError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unreachable(String),
}

impl WatchError {
    fn reason(&self) -> &'static str {
        match self {
            WatchError::Config(_) => "InvalidConfiguration",
            WatchError::NotFound(_) => "ResourceNotFound",
            WatchError::Forbidden(_) => "Forbidden",
            WatchError::Unreachable(_) => "ApiServerUnavailable",
        }
    }

    fn from_kube(what: &str, e: kube::Error) -> WatchError {
        match &e {
            kube::Error::Api(s) if s.code == 404 => {
                WatchError::NotFound(format!("{what} does not exist: {}", s.message))
            }
            kube::Error::Api(s) if s.code == 401 || s.code == 403 => WatchError::Forbidden(
                format!("not allowed to list and watch {what}: {}", s.message),
            ),
            kube::Error::Discovery(d) => {
                WatchError::NotFound(format!("{what} is not served by the API server ({d})"))
            }
            _ => WatchError::Unreachable(format!("listing {what} failed: {e}")),
        }
    }
}

/// Runs the source until `ctx.cancel` fires.
pub async fn run(ctx: SourceContext) {
    let spec: ApiServerSourceSpec = match serde_json::from_value(ctx.plan.spec.clone()) {
        Ok(s) => s,
        Err(e) => {
            ctx.failed("InvalidSpec", format!("the spec cannot be read: {e}"));
            ctx.cancel.cancelled().await;
            return;
        }
    };
    let (client, source) = match connect(&ctx.config.api).await {
        Ok(c) => c,
        Err(e) => {
            ctx.failed(e.reason(), e.to_string());
            ctx.cancel.cancelled().await;
            return;
        }
    };
    let (tx, rx) = mpsc::channel(256);
    let emitting = tokio::spawn(emit_loop(
        ctx.clone(),
        rx,
        Arc::new(source),
        Mode::from_spec(&spec.mode),
        spec.owner.clone(),
    ));
    supervise(&ctx, &client, &spec, tx).await;
    emitting.abort();
}

/// The URL ApiServerSource events name as their `source`: the kubeconfig's cluster, else
/// Herald's own API (the reconciler puts the same into `status.ceAttributes`).
pub async fn source_url(api: &ApiAccess) -> Result<String, String> {
    connect(api)
        .await
        .map(|(_, url)| url)
        .map_err(|e| e.to_string())
}

/// A kube client for the configured API server, and the URL events name as their source.
async fn connect(api: &ApiAccess) -> Result<(Client, String), WatchError> {
    let config = match &api.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                WatchError::Config(format!("reading kubeconfig {}: {e}", path.display()))
            })?;
            Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| {
                    WatchError::Config(format!("using kubeconfig {}: {e}", path.display()))
                })?
        }
        None => {
            let uri = api.url.parse().map_err(|e| {
                WatchError::Config(format!("Herald's API URL {:?} is invalid: {e}", api.url))
            })?;
            let mut config = Config::new(uri);
            if let Some(pem) = &api.ca_pem {
                config.root_cert = Some(pem_certificates(pem));
            }
            if let Some(token) = &api.token {
                let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|e| WatchError::Config(format!("the API token is invalid: {e}")))?;
                config.headers.push((http::header::AUTHORIZATION, value));
            }
            config
        }
    };
    let source = match &api.kubeconfig {
        Some(_) => config.cluster_url.to_string(),
        None => api.url.clone(),
    };
    let source = source.trim_end_matches('/').to_string();
    let client = Client::try_from(config)
        .map_err(|e| WatchError::Config(format!("building the API client: {e}")))?;
    Ok((client, source))
}

/// One thing to watch: a resource in one namespace (or in all of them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Scope {
    resource: usize,
    namespace: Option<String>,
}

/// What a watcher tells the supervisor.
enum Report {
    Listed(Scope),
    Failed(Scope, WatchError),
}

/// Resolves the resources, starts one watcher per resource and namespace, reports readiness,
/// and restarts the watchers when the selected namespaces change.
async fn supervise(
    ctx: &SourceContext,
    client: &Client,
    spec: &ApiServerSourceSpec,
    tx: mpsc::Sender<(Op, Value)>,
) {
    let own_ns = ctx.plan.key.namespace.clone();
    let mut backoff = Backoff::default();
    // What each scope has seen survives restarts, so a restart re-lists without repeats.
    let mut seen: BTreeMap<Scope, Arc<tokio::sync::Mutex<Seen>>> = BTreeMap::new();
    loop {
        let plan = match plan_scopes(client, spec, &own_ns).await {
            Ok(p) => p,
            Err(e) => {
                ctx.failed(e.reason(), e.to_string());
                if !sleep(&ctx.cancel, backoff.next()).await {
                    return;
                }
                continue;
            }
        };
        backoff.reset();
        let round = ctx.cancel.child_token();
        let (report_tx, mut reports) = mpsc::channel(64);
        let mut pending: BTreeSet<Scope> = BTreeSet::new();
        for (scope, api, selector) in &plan.watches {
            let s = seen.entry(scope.clone()).or_default().clone();
            if !s.lock().await.listed() {
                pending.insert(scope.clone());
            }
            tokio::spawn(watch_scope(
                scope.clone(),
                api.clone(),
                plan.resources[scope.resource].clone(),
                selector.clone(),
                s,
                tx.clone(),
                report_tx.clone(),
                round.clone(),
            ));
        }
        seen.retain(|k, _| plan.watches.iter().any(|(s, _, _)| s == k));
        // Kept open so `reports` never ends while this round runs.
        let _report_tx = report_tx;
        if pending.is_empty() {
            ctx.ready();
        }
        let mut failed: BTreeMap<Scope, WatchError> = BTreeMap::new();
        let mut poll = tokio::time::interval(NAMESPACE_POLL);
        poll.tick().await;
        loop {
            tokio::select! {
                _ = ctx.cancel.cancelled() => { round.cancel(); return; }
                Some(r) = reports.recv() => match r {
                    Report::Listed(s) => {
                        pending.remove(&s);
                        failed.remove(&s);
                    }
                    Report::Failed(s, e) => { failed.insert(s, e); }
                },
                _ = poll.tick(), if plan.namespaces.is_some() => {
                    match selected_namespaces(client, spec.namespace_selector.as_ref()).await {
                        Ok(now) if Some(&now) != plan.namespaces.as_ref() => break,
                        _ => continue,
                    }
                }
            }
            match failed.values().next() {
                Some(e) => ctx.failed(e.reason(), e.to_string()),
                None if pending.is_empty() => ctx.ready(),
                None => {}
            }
        }
        round.cancel();
    }
}

/// The resolved resources and the (scope, API, label selector) triples to watch.
struct ScopePlan {
    resources: Vec<ApiResource>,
    watches: Vec<(Scope, Api<DynamicObject>, Option<String>)>,
    /// The namespaces `spec.namespaceSelector` selected, when it selects some (not all).
    namespaces: Option<BTreeSet<String>>,
}

async fn plan_scopes(
    client: &Client,
    spec: &ApiServerSourceSpec,
    own_ns: &str,
) -> Result<ScopePlan, WatchError> {
    let all_namespaces = spec
        .namespace_selector
        .as_ref()
        .is_some_and(|s| selector_of(s).is_ok_and(|s| s.selects_all()));
    let namespaces = match &spec.namespace_selector {
        Some(_) if all_namespaces => None,
        Some(sel) => Some(selected_namespaces(client, Some(sel)).await?),
        None => None,
    };
    let mut resources = Vec::new();
    let mut watches = Vec::new();
    for (i, r) in spec.resources.iter().enumerate() {
        let (ar, namespaced) = resolve(client, r).await?;
        let selector = match &r.selector {
            Some(s) => {
                let s = selector_of(s).map_err(|e| {
                    WatchError::Config(format!("spec.resources[{i}].selector: {e}"))
                })?;
                Some(s.to_string()).filter(|s| !s.is_empty())
            }
            None => None,
        };
        let scope = |namespace: Option<String>| Scope {
            resource: i,
            namespace,
        };
        if !namespaced || all_namespaces {
            watches.push((scope(None), Api::all_with(client.clone(), &ar), selector));
        } else {
            let list: Vec<String> = match &namespaces {
                Some(set) => set.iter().cloned().collect(),
                None => vec![own_ns.to_string()],
            };
            for ns in list {
                let api = Api::namespaced_with(client.clone(), &ns, &ar);
                watches.push((scope(Some(ns)), api, selector.clone()));
            }
        }
        resources.push(ar);
    }
    Ok(ScopePlan {
        resources,
        watches,
        namespaces,
    })
}

fn selector_of(s: &LabelSelector) -> Result<Selector, String> {
    Selector::try_from(s.clone()).map_err(|e| e.0)
}

/// The names of the Namespaces the selector matches.
async fn selected_namespaces(
    client: &Client,
    selector: Option<&LabelSelector>,
) -> Result<BTreeSet<String>, WatchError> {
    let selector = match selector.map(selector_of) {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Err(WatchError::Config(format!("spec.namespaceSelector: {e}"))),
        None => Selector::default(),
    };
    let api: Api<Namespace> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| WatchError::from_kube("Namespaces", e))?;
    Ok(list
        .items
        .into_iter()
        .filter(|n| selector.matches(n.metadata.labels.as_ref().unwrap_or(&BTreeMap::new())))
        .filter_map(|n| n.metadata.name)
        .collect())
}

/// The API resource for an apiVersion and kind, found by discovery, and whether it is
/// namespaced.
async fn resolve(
    client: &Client,
    r: &ApiVersionKindSelector,
) -> Result<(ApiResource, bool), WatchError> {
    let (group, version) = match r.api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", r.api_version.as_str()),
    };
    let gvk = GroupVersionKind::gvk(group, version, &r.kind);
    let what = format!("{} {}", r.api_version, r.kind);
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .map_err(|e| WatchError::from_kube(&what, e))?;
    Ok((ar, caps.scope == kube::discovery::Scope::Namespaced))
}

/// Lists and watches one scope until `cancel` fires, feeding changes to the emitting loop.
#[allow(clippy::too_many_arguments)]
async fn watch_scope(
    scope: Scope,
    api: Api<DynamicObject>,
    ar: ApiResource,
    selector: Option<String>,
    seen: Arc<tokio::sync::Mutex<Seen>>,
    tx: mpsc::Sender<(Op, Value)>,
    reports: mpsc::Sender<Report>,
    cancel: CancellationToken,
) {
    let what = match &scope.namespace {
        Some(ns) => format!("{} {} in namespace {ns}", ar.api_version, ar.kind),
        None => format!("{} {}", ar.api_version, ar.kind),
    };
    let mut backoff = Backoff::default();
    let mut rv: Option<String> = None;
    loop {
        if cancel.is_cancelled() {
            return;
        }
        let from = match rv.take() {
            Some(v) => v,
            None => {
                let lp = ListParams {
                    label_selector: selector.clone(),
                    ..Default::default()
                };
                let list = tokio::select! {
                    l = api.list(&lp) => l,
                    _ = cancel.cancelled() => return,
                };
                let list = match list {
                    Ok(l) => l,
                    Err(e) => {
                        let e = WatchError::from_kube(&what, e);
                        tracing::warn!("ApiServerSource: {e}");
                        let _ = reports.send(Report::Failed(scope.clone(), e)).await;
                        if !sleep(&cancel, backoff.next()).await {
                            return;
                        }
                        continue;
                    }
                };
                let items = list.items.iter().map(|o| to_value(o, &ar)).collect();
                let changes = seen.lock().await.relist(items);
                for c in changes {
                    if tx.send(c).await.is_err() {
                        return;
                    }
                }
                let _ = reports.send(Report::Listed(scope.clone())).await;
                list.metadata.resource_version.unwrap_or_default()
            }
        };
        let wp = WatchParams {
            label_selector: selector.clone(),
            timeout: Some(WATCH_TIMEOUT_SECS),
            bookmarks: true,
            ..Default::default()
        };
        let stream = tokio::select! {
            s = api.watch(&wp, &from) => s,
            _ = cancel.cancelled() => return,
        };
        let mut stream = match stream {
            Ok(s) => s.boxed(),
            Err(e) => {
                tracing::debug!("ApiServerSource: watching {what} failed: {e}");
                if !sleep(&cancel, backoff.next()).await {
                    return;
                }
                continue; // re-list
            }
        };
        let mut last = Some(from);
        loop {
            let ev = tokio::select! {
                ev = stream.next() => ev,
                _ = cancel.cancelled() => return,
            };
            let change = match ev {
                None => break,
                Some(Err(e)) => {
                    tracing::debug!("ApiServerSource: the watch of {what} broke: {e}");
                    last = None;
                    break;
                }
                Some(Ok(WatchEvent::Bookmark(b))) => {
                    last = Some(b.metadata.resource_version);
                    continue;
                }
                Some(Ok(WatchEvent::Error(status))) => {
                    // 410 Gone (expired) or anything else: re-list and diff.
                    tracing::debug!("ApiServerSource: the watch of {what} ended: {status:?}");
                    last = None;
                    break;
                }
                Some(Ok(WatchEvent::Added(o) | WatchEvent::Modified(o))) => {
                    last = o.metadata.resource_version.clone().or(last);
                    seen.lock().await.upsert(to_value(&o, &ar))
                }
                Some(Ok(WatchEvent::Deleted(o))) => {
                    last = o.metadata.resource_version.clone().or(last);
                    Some(seen.lock().await.delete(to_value(&o, &ar)))
                }
            };
            backoff.reset();
            if let Some(c) = change
                && tx.send(c).await.is_err()
            {
                return;
            }
        }
        rv = last;
    }
}

/// The object as JSON, with apiVersion and kind filled in (list items may lack them).
fn to_value(o: &DynamicObject, ar: &ApiResource) -> Value {
    let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        for (k, want) in [("apiVersion", &ar.api_version), ("kind", &ar.kind)] {
            if m.get(k).and_then(Value::as_str).is_none_or(str::is_empty) {
                m.insert(k.to_string(), Value::String(want.clone()));
            }
        }
    }
    v
}

/// Sends every change, in order, to the sink (Knative logs and drops an event whose delivery
/// fails after retries; so does Herald).
async fn emit_loop(
    ctx: SourceContext,
    mut rx: mpsc::Receiver<(Op, Value)>,
    source: Arc<String>,
    mode: Mode,
    owner: Option<herald_api::sources::apiserver::ApiVersionKind>,
) {
    while let Some((op, obj)) = rx.recv().await {
        if !owner_matches(&obj, owner.as_ref()) {
            continue;
        }
        let event = match build_event(&source, mode, op, &obj) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("ApiServerSource {}: skipping an object: {e}", ctx.plan.key);
                continue;
            }
        };
        if let Err(e) = ctx.emitter.emit(event, &ctx.cancel).await {
            tracing::warn!(
                "ApiServerSource {}: an event was not delivered: {e}",
                ctx.plan.key
            );
        }
    }
}

/// Exponential backoff from 500 ms up to [`MAX_BACKOFF`].
#[derive(Default)]
struct Backoff {
    attempt: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let wait = Duration::from_millis(500)
            .saturating_mul(1u32 << self.attempt.min(8))
            .min(MAX_BACKOFF);
        self.attempt = self.attempt.saturating_add(1);
        wait
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Sleeps unless cancelled first; false when cancelled.
async fn sleep(cancel: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = cancel.cancelled() => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..8).map(|_| b.next().as_millis() as u64).collect();
        assert_eq!(
            waits,
            vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]
        );
        b.reset();
        assert_eq!(b.next(), Duration::from_millis(500));
    }

    #[test]
    fn list_items_get_their_type() {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "ConfigMap"),
            "configmaps",
        );
        let o: DynamicObject = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "c"}, "data": {"a": "1"}}))
        .unwrap_or_else(|e| panic!("{e}"));
        let v = to_value(&o, &ar);
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["kind"], "ConfigMap");
        assert_eq!(v["data"]["a"], "1");
    }
}
