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
        Ok(DataPlane {
            shared: Arc::new(Shared {
                ingress_permits: Arc::new(tokio::sync::Semaphore::new(
                    config.max_inflight_requests.max(1),
                )),
                config,
                client,
                brokers: RwLock::new(HashMap::new()),
                triggers: RwLock::new(HashMap::new()),
                metrics: Metrics::default(),
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
            self.stop_broker(&b, plan).await;
        }
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
        self.remove_orphan_logs(plan);
    }

    fn ensure_broker(&self, key: &BrokerKey, bp: &BrokerPlan) -> Option<Arc<BrokerRuntime>> {
        let shared = &self.shared;
        if let Some(b) = shared.broker(key) {
            return Some(b);
        }
        let log: Arc<dyn ChannelLog> = match bp.storage {
            Storage::Durable => {
                let dir = shared.config.data_dir.join("brokers").join(&bp.uid);
                match SegmentLog::open(&dir, shared.config.segment_options()) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(broker = %key, "cannot open the broker's log in {}: {e}", dir.display());
                        return None;
                    }
                }
            }
            Storage::Memory => MemoryLog::new(MemoryLogOptions {
                max_records: shared.config.memory_log.max_records,
                max_bytes: shared.config.memory_log.max_bytes,
            }),
        };
        let router = crate::router::Router::new(log.head(), shared.shutdown.child_token());
        let runtime = Arc::new(BrokerRuntime {
            key: key.clone(),
            uid: bp.uid.clone(),
            storage: bp.storage,
            log,
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
        });
        if let Ok(mut brokers) = shared.brokers.write() {
            brokers.insert(key.clone(), runtime.clone());
        }
        tokio::spawn(crate::router::run(shared.clone(), runtime.clone()));
        tracing::info!(broker = %key, storage = ?bp.storage, "broker ready");
        Some(runtime)
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

    async fn stop_broker(&self, b: &Arc<BrokerRuntime>, plan: &Plan) {
        b.router.cancel.cancel();
        if let Ok(mut d) = b.dispatchers.lock() {
            d.clear();
        }
        if let Err(e) = b.log.close().await {
            tracing::warn!(broker = %b.key, "closing the log: {e}");
        }
        let still_used = plan.brokers.values().any(|p| p.uid == b.uid);
        if b.storage == Storage::Durable && !still_used {
            let dir = self.shared.config.data_dir.join("brokers").join(&b.uid);
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(broker = %b.key, "removing {}: {e}", dir.display());
            }
        }
        tracing::info!(broker = %b.key, "broker removed");
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
            if !live.contains(name) {
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
        for b in brokers {
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
