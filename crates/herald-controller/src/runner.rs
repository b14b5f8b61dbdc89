//! The runner: all of the controller's I/O. It lists and watches the store, queues
//! (resource, namespace, name) keys, runs the pure reconcilers, and writes a status back only
//! when it changed, with `observedGeneration = metadata.generation`, guarded by the read
//! resourceVersion. Dependents are re-queued when what they reference changes, failures back
//! off per key, and a periodic resync re-queues everything.

use std::sync::Arc;

use herald_api::Registry;
use herald_store::{EventType, Store, StoreError, WatchEvent};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::children;
use crate::deps;
use crate::env::ControllerEnv;
use crate::queue::{Key, WorkQueue};
use crate::reconcilers::{self, ReconcileFn};
use crate::view::{StoreView, str_at};

/// Herald's controller: construct with [`Controller::new`], drive with [`Controller::run`].
pub struct Controller {
    store: Store,
    registry: Arc<Registry>,
    env: ControllerEnv,
    queue: Arc<WorkQueue>,
}

/// Lets other components (the data plane) ask for objects to be reconciled again, e.g. after
/// a Plan was applied so readiness can be reported.
#[derive(Clone)]
pub struct Requeue {
    store: Store,
    registry: Arc<Registry>,
    queue: Arc<WorkQueue>,
}

impl Requeue {
    /// Queues every object of `group`/`kind` (all namespaces).
    pub fn kind(&self, group: &str, kind: &str) {
        let Some(r) = self.registry.lookup_group_kind(group, kind) else {
            return;
        };
        let key = r.key();
        match self.store.list(&key, None) {
            Ok((items, _)) => enqueue_items(&self.queue, &key, &items),
            Err(e) => tracing::warn!("controller: listing {key}: {e}"),
        }
    }
}

/// What processing one key led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Processed {
    /// Nothing to do (missing object, no reconciler, status already current).
    Unchanged,
    /// The status was written.
    Written,
    /// Try again later (store error, conflict).
    Retry(String),
}

impl Controller {
    pub fn new(store: Store, registry: Arc<Registry>, env: ControllerEnv) -> Self {
        Controller {
            store,
            registry,
            env,
            queue: WorkQueue::new(),
        }
    }

    /// A handle that re-queues objects into this controller.
    pub fn requeue(&self) -> Requeue {
        Requeue {
            store: self.store.clone(),
            registry: self.registry.clone(),
            queue: self.queue.clone(),
        }
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let queue = self.queue.clone();
        let this = Arc::new(self);
        let mut workers = Vec::new();
        for _ in 0..this.env.workers.max(1) {
            workers.push(tokio::spawn(
                this.clone().worker(queue.clone(), shutdown.clone()),
            ));
        }
        this.clone().watch_loop(queue, shutdown).await;
        for w in workers {
            let _ = w.await;
        }
    }

    /// Lists everything, then follows the watch; re-lists when the watch ends or on resync.
    async fn watch_loop(self: Arc<Self>, queue: Arc<WorkQueue>, shutdown: CancellationToken) {
        let period = self
            .env
            .resync_interval
            .max(std::time::Duration::from_millis(100));
        let mut resync = tokio::time::interval(period);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.tick().await; // the first tick is immediate; the initial list below covers it
        while !shutdown.is_cancelled() {
            // Watch from the revision before the list: events in between are replayed, and
            // reconciling twice is harmless.
            let since = self.store.current_rv();
            self.enqueue_all(&queue);
            let mut watch = match self.store.watch(None, None, Some(since)) {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!("controller: cannot watch the store: {e}; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                        _ = shutdown.cancelled() => return,
                    }
                }
            };
            loop {
                tokio::select! {
                    ev = watch.next() => match ev {
                        Some(ev) => self.on_event(&queue, &ev),
                        None => break, // fell behind or store closing: re-list
                    },
                    _ = resync.tick() => self.enqueue_all(&queue),
                    _ = shutdown.cancelled() => return,
                }
            }
            // Don't spin if the store keeps ending watches (e.g. while it closes).
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    async fn worker(self: Arc<Self>, queue: Arc<WorkQueue>, shutdown: CancellationToken) {
        while let Some(key) = queue.get(&shutdown).await {
            let this = self.clone();
            let k = key.clone();
            // The store is synchronous (redb, fsync on write): keep it off the async threads.
            let result = tokio::task::spawn_blocking(move || this.process(&k)).await;
            match result {
                Ok(Processed::Retry(why)) => {
                    let delay = queue.backoff(&key);
                    tracing::debug!(?key, ?delay, "controller: requeue: {why}");
                    queue.add_after(key.clone(), delay, shutdown.clone());
                }
                Ok(_) => queue.forget(&key),
                Err(e) => {
                    tracing::error!(?key, "controller: reconcile panicked: {e}");
                    let delay = queue.backoff(&key);
                    queue.add_after(key.clone(), delay, shutdown.clone());
                }
            }
            queue.done(&key);
        }
    }

    /// Queues the changed object and, in its namespace, the objects that may reference it.
    fn on_event(&self, queue: &WorkQueue, ev: &WatchEvent) {
        let Some(changed) = self.registry.by_key(&ev.resource) else {
            return;
        };
        if ev.type_ != EventType::Deleted && self.reconciler(&ev.resource).is_some() {
            queue.add(Key {
                resource: ev.resource.clone(),
                namespace: ev.namespace.clone(),
                name: ev.name.clone(),
            });
        }
        // A child changed: its controller aggregates the children's readiness (and re-creates
        // a deleted child).
        for (group, kind, name) in deps::controllers(&ev.object) {
            let Some(owner) = self.registry.lookup_group_kind(&group, &kind) else {
                continue;
            };
            let resource = owner.key();
            if self.reconciler(&resource).is_some() {
                queue.add(Key {
                    resource,
                    namespace: ev.namespace.clone(),
                    name,
                });
            }
        }
        for target in self.registry.resources() {
            if !deps::affects(changed, ev.type_, target) {
                continue;
            }
            let key = target.key();
            match self.store.list(&key, Some(&ev.namespace)) {
                Ok((items, _)) => enqueue_items(queue, &key, &items),
                Err(e) => tracing::warn!("controller: listing {key}: {e}"),
            }
        }
    }

    fn enqueue_all(&self, queue: &WorkQueue) {
        for r in self.registry.resources() {
            let key = r.key();
            if self.reconciler(&key).is_none() {
                continue;
            }
            match self.store.list(&key, None) {
                Ok((items, _)) => enqueue_items(queue, &key, &items),
                Err(e) => tracing::warn!("controller: listing {key}: {e}"),
            }
        }
    }

    fn reconciler(&self, resource_key: &str) -> Option<ReconcileFn> {
        let r = self.registry.by_key(resource_key)?;
        reconcilers::for_kind(r.group, r.kind, r.has_status)
    }

    /// Reconciles one object and writes its status if it changed.
    pub fn process(&self, key: &Key) -> Processed {
        let Some(reconcile) = self.reconciler(&key.resource) else {
            return Processed::Unchanged;
        };
        let obj = match self.store.get(&key.resource, &key.namespace, &key.name) {
            Ok(Some(o)) => o,
            Ok(None) => return Processed::Unchanged,
            Err(e) => return Processed::Retry(e.to_string()),
        };
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            return Processed::Unchanged;
        }
        let view = StoreView::new(&self.store);
        let env = self.env.env(self.registry.clone());
        let outcome = match reconcile(&obj, &view, &env) {
            Ok(o) => o,
            Err(e) => {
                // Permanent until the object changes, which re-queues it.
                tracing::warn!(?key, "controller: {e}");
                return Processed::Unchanged;
            }
        };
        if let Some(e) = view.take_error() {
            return Processed::Retry(e);
        }
        if !outcome.children.is_empty() || !children::child_resources(&key.resource).is_empty() {
            match children::apply(&self.store, &obj, &key.resource, &outcome.children) {
                Ok(report) => {
                    if report.changed() {
                        tracing::debug!(?key, ?report, "controller: children applied");
                    }
                    if !report.not_owned.is_empty() {
                        tracing::warn!(
                            ?key,
                            not_owned = ?report.not_owned,
                            "controller: child names taken by objects this one does not own"
                        );
                    }
                }
                Err(e) => return Processed::Retry(format!("applying children: {e}")),
            }
        }
        // Kubernetes core kinds (Service) have no observedGeneration in their status.
        let knative = !key.resource.starts_with("core/");
        let Some(updated) = with_status(&obj, outcome.status, knative) else {
            return Processed::Unchanged;
        };
        match self.store.update(&key.resource, updated) {
            Ok(_) => Processed::Written,
            Err(StoreError::NotFound { .. }) => Processed::Unchanged,
            Err(e) => Processed::Retry(e.to_string()),
        }
    }
}

/// `obj` with `status` (and `observedGeneration`, for Knative kinds) if that differs from its current status;
/// every other field is kept as stored, including `metadata.resourceVersion` (the write's
/// precondition).
pub fn with_status(obj: &Value, mut status: Value, observed_generation: bool) -> Option<Value> {
    let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
    if let (Some(g), Some(m), true) = (generation, status.as_object_mut(), observed_generation) {
        m.insert("observedGeneration".into(), Value::from(g));
    }
    let empty = Value::Object(Default::default());
    if obj.get("status").unwrap_or(&empty) == &status {
        return None;
    }
    let mut updated = obj.clone();
    updated.as_object_mut()?.insert("status".into(), status);
    Some(updated)
}

fn enqueue_items(queue: &WorkQueue, resource: &str, items: &[Value]) {
    for item in items {
        queue.add(Key {
            resource: resource.to_string(),
            namespace: str_at(item, "/metadata/namespace").to_string(),
            name: str_at(item, "/metadata/name").to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{BROKERS, TRIGGERS, cond};
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn with_status_writes_only_changes() {
        let obj = json!({"metadata": {"name": "a", "generation": 3, "resourceVersion": "7"}, "spec": {"x": 1}});
        let updated = with_status(&obj, json!({"conditions": []}), true);
        let updated = updated.unwrap_or_default();
        assert_eq!(updated["status"]["observedGeneration"], 3);
        assert_eq!(updated["spec"], obj["spec"]);
        assert_eq!(updated["metadata"]["resourceVersion"], "7");
        assert_eq!(with_status(&updated, json!({"conditions": []}), true), None);
        assert_eq!(
            with_status(&json!({"metadata": {}}), json!({}), false),
            None
        );
    }

    fn broker(name: &str) -> Value {
        json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
               "metadata": {"namespace": "default", "name": name, "generation": 1}, "spec": {}})
    }

    fn trigger(name: &str, broker: &str) -> Value {
        json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
               "metadata": {"namespace": "default", "name": name, "generation": 1},
               "spec": {"broker": broker, "subscriber": {"uri": "http://sub.example/"}}})
    }

    async fn wait_for(
        store: &Store,
        resource: &str,
        name: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let obj = store
                .get(resource, "default", name)
                .ok()
                .flatten()
                .unwrap_or_default();
            if pred(&obj) {
                return obj;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {resource} {name}: {obj}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn statuses_appear_and_dependents_are_requeued() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        store.create(BROKERS, broker("default"))?;
        store.create(TRIGGERS, trigger("t", "default"))?;
        store.create(TRIGGERS, trigger("early", "later"))?;

        let mut env = ControllerEnv::new("http://127.0.0.1:8081", "http://127.0.0.1:8080");
        env.resync_interval = Duration::from_secs(3600); // prove the dependency edge, not resync
        let controller = Controller::new(store.clone(), Arc::new(Registry::new()), env);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(controller.run(shutdown.clone()));

        let b = wait_for(&store, BROKERS, "default", |o| {
            o["status"]["observedGeneration"] == 1
        })
        .await;
        assert_eq!(
            b["status"]["address"]["url"],
            "http://127.0.0.1:8081/default/default"
        );
        assert_eq!(
            cond(&b["status"], "Ready"),
            ("False".into(), "DataPlaneUnavailable".into())
        );
        assert_eq!(b["spec"], json!({}));

        let t = wait_for(&store, TRIGGERS, "t", |o| {
            cond(&o["status"], "BrokerReady").1 == "DataPlaneUnavailable"
        })
        .await;
        assert_eq!(t["status"]["observedGeneration"], 1);
        assert_eq!(t["status"]["subscriberUri"], "http://sub.example/");
        let early = wait_for(&store, TRIGGERS, "early", |o| {
            o["status"]["observedGeneration"] == 1
        })
        .await;
        assert_eq!(
            cond(&early["status"], "BrokerReady"),
            ("False".into(), "BrokerDoesNotExist".into())
        );

        // The broker appears later: the trigger is re-reconciled through the dependency edge.
        store.create(BROKERS, broker("later"))?;
        wait_for(&store, TRIGGERS, "early", |o| {
            cond(&o["status"], "BrokerReady").1 == "DataPlaneUnavailable"
        })
        .await;

        // A spec change (new generation) is observed.
        let mut t = store.get(TRIGGERS, "default", "t")?.unwrap_or_default();
        t["metadata"]["generation"] = json!(2);
        t["spec"]["subscriber"]["uri"] = json!("http://other.example/");
        store.update(TRIGGERS, t)?;
        let t = wait_for(&store, TRIGGERS, "t", |o| {
            o["status"]["observedGeneration"] == 2
        })
        .await;
        assert_eq!(t["status"]["subscriberUri"], "http://other.example/");

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), task).await??;
        Ok(())
    }
}
