//! The data plane's handle: applies Plans (opening logs, creating cursors, starting and
//! stopping dispatchers) and reports what it applied.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use herald_ce::Event;
use herald_log::{ChannelLog, MemoryLog, MemoryLogOptions, SegmentLog};
use tokio_util::sync::CancellationToken;

use crate::broker::{BrokerRuntime, PublishError};
use crate::dispatcher::DispatcherHandle;
use crate::metrics::Metrics;
use crate::plan::{BrokerKey, BrokerPlan, Plan, Storage, StreamKind};
use crate::shared::{Applied, DataPlaneConfig, Shared};

/// Cheap to clone; every clone drives the same data plane.
#[derive(Clone)]
pub struct DataPlane {
    pub(crate) shared: Arc<Shared>,
    /// Serialises `apply`.
    apply_lock: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum DataPlaneError {
    #[error("building the HTTP client: {0}")]
    Client(String),
}

impl DataPlane {
    pub fn new(
        config: DataPlaneConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, DataPlaneError> {
        // 3xx is a failed delivery in Knative's table (DP-37), not something to follow.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| DataPlaneError::Client(e.to_string()))?;
        let observer = Arc::new(crate::observe::TypeObserver::new(config.max_observed_types));
        Ok(DataPlane {
            shared: Arc::new(Shared {
                ingress_permits: Arc::new(tokio::sync::Semaphore::new(
                    config.max_inflight_requests.max(1),
                )),
                config,
                client,
                brokers: RwLock::new(HashMap::new()),
                triggers: RwLock::new(HashMap::new()),
                draining: Mutex::new(Vec::new()),
                metrics: Metrics::default(),
                observer,
                shutdown,
            }),
            apply_lock: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub fn config(&self) -> &DataPlaneConfig {
        &self.shared.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Makes the running state match `plan`. Brokers whose log cannot be opened are left out
    /// (and logged); everything else is applied.
    pub async fn apply(&self, plan: &Plan) {
        let _guard = self.apply_lock.lock().await;
        let shared = &self.shared;
        // Brokers that went away (or were re-created with a new UID): stop and delete.
        let stale: Vec<Arc<BrokerRuntime>> = {
            let Ok(mut brokers) = shared.brokers.write() else {
                return;
            };
            let gone: Vec<BrokerKey> = brokers
                .iter()
                .filter(|(k, b)| {
                    plan.brokers
                        .get(*k)
                        .is_none_or(|p| p.uid != b.uid || p.storage != b.storage)
                })
                .map(|(k, _)| k.clone())
                .collect();
            gone.iter().filter_map(|k| brokers.remove(k)).collect()
        };
        for b in stale {
            self.start_drain(b);
        }
        self.adopt_draining_logs(plan);
        let mut triggers = HashMap::new();
        for (key, bp) in &plan.brokers {
            let Some(runtime) = self.ensure_broker(key, bp) else {
                continue;
            };
            self.apply_triggers(&runtime, bp, &mut triggers);
        }
        if let Ok(mut t) = shared.triggers.write() {
            *t = triggers;
        }
        let draining: Vec<_> = shared
            .draining
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default();
        for rt in draining {
            if let Some(bp) = plan.brokers.get(&rt.key) {
                self.apply_draining_triggers(&rt, bp);
            }
        }
        self.remove_orphan_logs(plan);
    }

    /// Turns a superseded runtime into a draining one (see `drain`): no more ingress, but its
    /// dispatchers go on until every cursor reached the head.
    fn start_drain(&self, rt: Arc<BrokerRuntime>) {
        if let Some(dir) = &rt.dir
            && let Err(e) = crate::drain::write_marker(dir, &rt.key)
        {
            tracing::error!(broker = %rt.key, "cannot mark {} as draining: {e}", dir.display());
        }
        tracing::info!(broker = %rt.key, uid = rt.uid, head = rt.log.head(), "draining the broker's previous log");
        self.watch_drain(rt);
    }

    fn watch_drain(&self, rt: Arc<BrokerRuntime>) {
        if let Ok(mut d) = self.shared.draining.lock() {
            d.push(rt.clone());
        }
        let shared = self.shared.clone();
        let done_rt = rt.clone();
        tokio::spawn(crate::drain::watch(rt.clone(), rt.dir.clone(), move || {
            if let Ok(mut d) = shared.draining.lock() {
                d.retain(|x| !Arc::ptr_eq(x, &done_rt));
            }
        }));
    }

    /// Re-opens draining logs found on disk (Herald restarted during a drain).
    fn adopt_draining_logs(&self, plan: &Plan) {
        let root = self.shared.config.data_dir.join("brokers");
        let Ok(entries) = std::fs::read_dir(&root) else {
            return;
        };
        let open: HashSet<std::path::PathBuf> = self
            .shared
            .draining
            .lock()
            .map(|d| d.iter().filter_map(|r| r.dir.clone()).collect())
            .unwrap_or_default();
        for entry in entries.flatten() {
            let dir = entry.path();
            if open.contains(&dir) {
                continue;
            }
            let Some(key) = crate::drain::read_marker(&dir) else {
                continue;
            };
            let uid = entry.file_name().to_string_lossy().into_owned();
            if plan
                .brokers
                .get(&key)
                .is_some_and(|b| b.uid == uid && b.storage == Storage::Durable)
            {
                // The same log is active again (see ensure_broker).
                continue;
            }
            let Some(log) = crate::drain::open(&dir, self.shared.config.segment_options()) else {
                continue;
            };
            tracing::info!(broker = %key, uid, "resuming the drain of a previous log");
            let rt = self.runtime(&key, &uid, Storage::Durable, log, Some(dir));
            tokio::spawn(crate::router::run(self.shared.clone(), rt.clone()));
            self.watch_drain(rt);
        }
    }

    /// A draining log's dispatchers: the Triggers of the Broker of the same name that have a
    /// cursor in it (Triggers created after the swap never wanted its events).
    fn apply_draining_triggers(&self, rt: &Arc<BrokerRuntime>, bp: &BrokerPlan) {
        let log = &rt.log;
        for (name, _) in log.cursors() {
            if !bp.known_trigger_uids.contains(&name) {
                let _ = log.remove_cursor(&name);
            }
        }
        let with_cursor: HashSet<String> = log.cursors().into_iter().map(|(n, _)| n).collect();
        let Ok(mut dispatchers) = rt.dispatchers.lock() else {
            return;
        };
        dispatchers.retain(|name, _| {
            bp.triggers
                .get(name)
                .is_some_and(|t| with_cursor.contains(&t.uid))
        });
        for (name, tp) in &bp.triggers {
            if !with_cursor.contains(&tp.uid) {
                continue;
            }
            match dispatchers.get(name) {
                Some(h) if h.plan().same_identity(tp) => h.update(tp.clone()),
                _ => {
                    dispatchers.insert(
                        name.clone(),
                        DispatcherHandle::start(self.shared.clone(), rt.clone(), tp.clone()),
                    );
                }
            }
        }
        drop(dispatchers);
        rt.router.rebuild_index();
    }

    fn ensure_broker(&self, key: &BrokerKey, bp: &BrokerPlan) -> Option<Arc<BrokerRuntime>> {
        let shared = &self.shared;
        if let Some(b) = shared.broker(key) {
            return Some(b);
        }
        let dir = match bp.storage {
            Storage::Durable => Some(shared.config.data_dir.join("brokers").join(&bp.uid)),
            Storage::Memory => None,
        };
        // The same durable log draining (switched away and back): it becomes active again.
        if let Some(d) = &dir {
            let revived = shared.draining.lock().ok().and_then(|mut list| {
                let i = list.iter().position(|r| r.dir.as_ref() == Some(d))?;
                Some(list.remove(i))
            });
            if let Some(old) = revived {
                old.router.cancel.cancel();
                if let Ok(mut disp) = old.dispatchers.lock() {
                    disp.clear();
                }
                // Its log stays open; a fresh runtime (router, dispatchers) takes it over.
                crate::drain::remove_marker(d);
                let rt = self.runtime(key, &bp.uid, bp.storage, old.log.clone(), dir.clone());
                return Some(self.activate(rt));
            }
        }
        let log: Arc<dyn ChannelLog> = match &dir {
            Some(dir) => {
                crate::drain::remove_marker(dir);
                match SegmentLog::open(dir, shared.config.segment_options()) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(broker = %key, "cannot open the broker's log in {}: {e}", dir.display());
                        return None;
                    }
                }
            }
            None => MemoryLog::new(MemoryLogOptions {
                max_records: shared.config.memory_log.max_records,
                max_bytes: shared.config.memory_log.max_bytes,
            }),
        };
        let runtime = self.runtime(key, &bp.uid, bp.storage, log, dir);
        tracing::info!(broker = %key, storage = ?bp.storage, "broker ready");
        Some(self.activate(runtime))
    }

    /// Makes a runtime the one the ingress and readiness see, and starts its router.
    fn activate(&self, runtime: Arc<BrokerRuntime>) -> Arc<BrokerRuntime> {
        if let Ok(mut brokers) = self.shared.brokers.write() {
            brokers.insert(runtime.key.clone(), runtime.clone());
        }
        tokio::spawn(crate::router::run(self.shared.clone(), runtime.clone()));
        runtime
    }

    fn runtime(
        &self,
        key: &BrokerKey,
        uid: &str,
        storage: Storage,
        log: Arc<dyn ChannelLog>,
        dir: Option<std::path::PathBuf>,
    ) -> Arc<BrokerRuntime> {
        let shared = &self.shared;
        let router = crate::router::Router::new(log.head(), shared.shutdown.child_token());
        Arc::new(BrokerRuntime {
            key: key.clone(),
            uid: uid.to_string(),
            storage,
            log,
            dir,
            dispatchers: Mutex::new(HashMap::new()),
            router,
            address: match key.kind {
                StreamKind::Broker => format!(
                    "{}/{}/{}",
                    shared.config.ingress_base_url, key.namespace, key.name
                ),
                StreamKind::Channel => format!(
                    "{}/channels/{}/{}",
                    shared.config.ingress_base_url, key.namespace, key.name
                ),
            },
            admit: key.kind == StreamKind::Broker,
            observer: self.shared.observer.clone(),
            sealed: tokio::sync::RwLock::new(false),
        })
    }

    fn apply_triggers(
        &self,
        runtime: &Arc<BrokerRuntime>,
        bp: &BrokerPlan,
        applied: &mut HashMap<(StreamKind, String, String), Applied>,
    ) {
        let log = &runtime.log;
        // Cursors of Triggers that no longer exist free the log.
        for (name, _) in log.cursors() {
            if !bp.known_trigger_uids.contains(&name)
                && let Err(e) = log.remove_cursor(&name)
            {
                tracing::warn!(broker = %runtime.key, "cannot remove the cursor of a deleted trigger: {e}");
            }
        }
        let Ok(mut dispatchers) = runtime.dispatchers.lock() else {
            return;
        };
        dispatchers.retain(|name, _| bp.triggers.contains_key(name));
        for (name, tp) in &bp.triggers {
            // A new Trigger starts at the head: it receives events sent from now on.
            match log.cursor(&tp.uid) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    if let Err(e) = log.set_cursor(&tp.uid, log.head()) {
                        tracing::error!(broker = %runtime.key, trigger = name, "cannot create the cursor: {e}");
                        applied.insert(
                            (runtime.key.kind, tp.namespace.clone(), name.clone()),
                            Applied::Failed {
                                reason: "CursorUnavailable".into(),
                                message: format!("cannot create the trigger's cursor: {e}"),
                            },
                        );
                        continue;
                    }
                }
            }
            let restart = match dispatchers.get(name) {
                Some(h) => !h.plan().same_identity(tp),
                None => true,
            };
            if restart {
                dispatchers.insert(
                    name.clone(),
                    DispatcherHandle::start(self.shared.clone(), runtime.clone(), tp.clone()),
                );
            } else if let Some(h) = dispatchers.get(name) {
                h.update(tp.clone());
            }
            applied.insert(
                (runtime.key.kind, tp.namespace.clone(), name.clone()),
                Applied::Ready {
                    generation: tp.generation,
                },
            );
        }
        // One index rebuild per applied Plan, after every slot is in place.
        runtime.router.rebuild_index();
        for (name, (reason, message)) in &bp.failed_triggers {
            applied.insert(
                (
                    runtime.key.kind,
                    runtime.key.namespace.clone(),
                    name.clone(),
                ),
                Applied::Failed {
                    reason: reason.clone(),
                    message: message.clone(),
                },
            );
        }
    }

    /// Log directories of Brokers that no longer exist (deleted while Herald was down).
    fn remove_orphan_logs(&self, plan: &Plan) {
        let dir = self.shared.config.data_dir.join("brokers");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let live: HashSet<&str> = plan.brokers.values().map(|b| b.uid.as_str()).collect();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // Draining logs are removed by their drain, once delivered.
            if !live.contains(name) && crate::drain::read_marker(&entry.path()).is_none() {
                tracing::info!("removing the log of a deleted broker ({name})");
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// Whether the Broker's ingress and log are running.
    pub fn broker_ready(&self, namespace: &str, name: &str) -> bool {
        self.shared
            .broker(&BrokerKey::new(namespace, name))
            .is_some()
    }

    /// Whether the Channel's ingress and log are running.
    pub fn channel_ready(&self, namespace: &str, name: &str) -> bool {
        self.shared
            .broker(&BrokerKey::channel(namespace, name))
            .is_some()
    }

    /// What the data plane applied for a Trigger, if anything.
    pub fn trigger_status(&self, namespace: &str, name: &str) -> Option<Applied> {
        self.applied(StreamKind::Broker, namespace, name)
    }

    /// What the data plane applied for a Subscription, if anything.
    pub fn subscription_status(&self, namespace: &str, name: &str) -> Option<Applied> {
        self.applied(StreamKind::Channel, namespace, name)
    }

    fn applied(&self, kind: StreamKind, namespace: &str, name: &str) -> Option<Applied> {
        self.shared
            .triggers
            .read()
            .ok()?
            .get(&(kind, namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// The (type, source) pairs accepted since the last call (see [`crate::observe`]).
    pub fn drain_observed(&self) -> Vec<crate::observe::Seen> {
        self.shared.observer.drain()
    }

    /// Publishes events into a Broker in-process (sources whose sink is a Herald Broker).
    pub async fn publish(
        &self,
        namespace: &str,
        name: &str,
        events: Vec<Event>,
    ) -> Result<usize, PublishOrMissing> {
        let b = self
            .shared
            .broker(&BrokerKey::new(namespace, name))
            .ok_or(PublishOrMissing::NoSuchBroker)?;
        b.publish(events, &[], self.shared.config.default_ttl)
            .await
            .map_err(PublishOrMissing::Publish)
    }

    /// Stops every dispatcher and closes every log (flushing cursors).
    pub async fn close(&self) {
        let brokers: Vec<_> = match self.shared.brokers.write() {
            Ok(mut b) => b.drain().map(|(_, v)| v).collect(),
            Err(_) => return,
        };
        let draining: Vec<_> = self
            .shared
            .draining
            .lock()
            .map(|mut d| d.drain(..).collect())
            .unwrap_or_default();
        for b in brokers.into_iter().chain(draining) {
            b.router.cancel.cancel();
            if let Ok(mut d) = b.dispatchers.lock() {
                d.clear();
            }
            if let Err(e) = b.log.close().await {
                tracing::warn!(broker = %b.key, "closing the log: {e}");
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishOrMissing {
    #[error("no such broker")]
    NoSuchBroker,
    #[error(transparent)]
    Publish(PublishError),
}
