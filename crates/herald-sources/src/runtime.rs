//! Runs one task per source plan: starts new sources, restarts changed ones, stops removed
//! ones, and keeps each source's readiness for the reconcilers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::emitter::{self, Emitter};
use crate::plan::{SourceKey, SourceKind, SourcePlan};
use crate::webhook::{self, Webhook};

/// How the ApiServerSource reaches an API server (Herald's own, or a real cluster's).
#[derive(Debug, Clone, Default)]
pub struct ApiAccess {
    /// Base URL, e.g. `https://127.0.0.1:8080`.
    pub url: String,
    pub token: Option<String>,
    /// PEM CA bundle to trust (Herald's self-signed API certificate).
    pub ca_pem: Option<String>,
    /// A kubeconfig file to use instead (a real Kubernetes API server).
    pub kubeconfig: Option<PathBuf>,
}

/// What every source may need besides its plan.
#[derive(Clone)]
pub struct SourcesConfig {
    /// Base URL of the ingress listener (webhook URLs are under it).
    pub ingress_base_url: String,
    /// Herald's data directory (process logs of ContainerSources live under `sources/`).
    pub data_dir: PathBuf,
    pub api: ApiAccess,
    pub client: reqwest::Client,
}

/// A source's readiness, as its runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceStatus {
    /// Started but not yet serving (conditions Unknown).
    Pending { reason: String, message: String },
    /// Running the plan's generation.
    Ready,
    /// Cannot run (conditions False).
    Failed { reason: String, message: String },
}

/// Everything a source task gets: its plan, an emitter for its sink, shared config, a way to
/// report readiness, and the token that stops it.
#[derive(Clone)]
pub struct SourceContext {
    pub plan: Arc<SourcePlan>,
    pub emitter: Emitter,
    pub config: Arc<SourcesConfig>,
    pub cancel: CancellationToken,
    sources: Sources,
}

impl SourceContext {
    pub fn key(&self) -> &SourceKey {
        &self.plan.key
    }

    fn report(&self, status: SourceStatus) {
        if self.cancel.is_cancelled() {
            return;
        }
        let entry = (self.plan.generation, status);
        let changed = match self.sources.inner.status.write() {
            Ok(mut m) => m.insert(self.plan.key.clone(), entry.clone()) != Some(entry),
            Err(_) => false,
        };
        if changed && let Some(notify) = self.sources.inner.notify.get() {
            notify(self.plan.key.kind);
        }
    }

    pub fn ready(&self) {
        self.report(SourceStatus::Ready);
    }

    pub fn pending(&self, reason: impl Into<String>, message: impl Into<String>) {
        self.report(SourceStatus::Pending {
            reason: reason.into(),
            message: message.into(),
        });
    }

    pub fn failed(&self, reason: impl Into<String>, message: impl Into<String>) {
        self.report(SourceStatus::Failed {
            reason: reason.into(),
            message: message.into(),
        });
    }

    /// Serves `hook` at this source's webhook path until the source stops.
    pub fn serve_webhook(&self, hook: Arc<dyn Webhook>) {
        if let Ok(mut m) = self.sources.inner.webhooks.write() {
            m.insert(self.plan.key.clone(), (self.plan.generation, hook));
        }
    }

    /// The public URL of this source's webhook.
    pub fn webhook_url(&self) -> String {
        format!(
            "{}{}",
            self.config.ingress_base_url.trim_end_matches('/'),
            webhook::path(&self.plan.key)
        )
    }
}

struct Running {
    plan: Arc<SourcePlan>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

type Status = HashMap<SourceKey, (i64, SourceStatus)>;
type Notify = Box<dyn Fn(SourceKind) + Send + Sync>;
type Hooks = HashMap<SourceKey, (i64, Arc<dyn Webhook>)>;

struct Inner {
    config: Arc<SourcesConfig>,
    running: Mutex<HashMap<SourceKey, Running>>,
    status: RwLock<Status>,
    webhooks: RwLock<Hooks>,
    notify: OnceLock<Notify>,
    shutdown: CancellationToken,
}

/// The source runtime. Cheap to clone.
#[derive(Clone)]
pub struct Sources {
    inner: Arc<Inner>,
}

impl Sources {
    pub fn new(config: SourcesConfig, shutdown: CancellationToken) -> Self {
        Sources {
            inner: Arc::new(Inner {
                config: Arc::new(config),
                running: Mutex::new(HashMap::new()),
                status: RwLock::new(HashMap::new()),
                webhooks: RwLock::new(HashMap::new()),
                notify: OnceLock::new(),
                shutdown,
            }),
        }
    }

    /// Calls `notify` whenever a source's readiness changes (to re-reconcile that kind).
    pub fn on_status_change(&self, notify: impl Fn(SourceKind) + Send + Sync + 'static) {
        let _ = self.inner.notify.set(Box::new(notify));
    }

    /// Runs exactly `plans`: unchanged sources keep running, changed ones restart, others stop.
    pub fn apply(&self, plans: Vec<SourcePlan>) {
        let Ok(mut running) = self.inner.running.lock() else {
            return;
        };
        let wanted: HashMap<SourceKey, SourcePlan> =
            plans.into_iter().map(|p| (p.key.clone(), p)).collect();
        let gone: Vec<SourceKey> = running
            .iter()
            .filter(|(k, r)| wanted.get(*k) != Some(&*r.plan))
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            if let Some(r) = running.remove(&key) {
                r.cancel.cancel();
                r.task.abort();
            }
            self.forget(&key);
        }
        for (key, plan) in wanted {
            if running.contains_key(&key) {
                continue;
            }
            let plan = Arc::new(plan);
            let cancel = self.inner.shutdown.child_token();
            let ctx = SourceContext {
                emitter: Emitter::new(
                    self.inner.config.client.clone(),
                    plan.sink.as_ref().map(|s| s.uri.clone()),
                    plan.ce_overrides.clone(),
                    emitter::default_policy(),
                ),
                plan: plan.clone(),
                config: self.inner.config.clone(),
                cancel: cancel.clone(),
                sources: self.clone(),
            };
            ctx.pending("Starting", format!("the {} is starting", key.kind.name()));
            let task = tokio::spawn(run(ctx));
            running.insert(key, Running { plan, cancel, task });
        }
    }

    fn forget(&self, key: &SourceKey) {
        if let Ok(mut m) = self.inner.status.write() {
            m.remove(key);
        }
        if let Ok(mut m) = self.inner.webhooks.write() {
            m.remove(key);
        }
    }

    /// The readiness of a source and the generation it runs, if it runs.
    pub fn status(
        &self,
        kind: SourceKind,
        namespace: &str,
        name: &str,
    ) -> Option<(i64, SourceStatus)> {
        self.inner
            .status
            .read()
            .ok()?
            .get(&SourceKey::new(kind, namespace, name))
            .cloned()
    }

    pub(crate) fn webhook(&self, key: &SourceKey) -> Option<Arc<dyn Webhook>> {
        self.inner
            .webhooks
            .read()
            .ok()?
            .get(key)
            .map(|(_, h)| h.clone())
    }

    /// Routes for webhook sources, to merge into the ingress listener's router.
    pub fn router(&self) -> axum::Router {
        webhook::router(self.clone())
    }

    /// Stops every source and waits for their tasks (ContainerSource processes are killed).
    pub async fn close(&self) {
        let all: Vec<Running> = match self.inner.running.lock() {
            Ok(mut r) => r.drain().map(|(_, v)| v).collect(),
            Err(_) => return,
        };
        for r in &all {
            r.cancel.cancel();
        }
        for r in all {
            let _ = r.task.await;
        }
    }
}

/// Runs one source until it is cancelled.
async fn run(ctx: SourceContext) {
    // A sink (KafkaSink) receives events and has no sink of its own.
    if ctx.plan.sink.is_none() && !ctx.plan.key.kind.is_sink() {
        ctx.failed("SinkNotResolved", "the sink does not resolve");
        ctx.cancel.cancelled().await;
        return;
    }
    match ctx.plan.key.kind {
        SourceKind::Ping => crate::ping::run(ctx).await,
        SourceKind::ApiServer => crate::apiserver::run(ctx).await,
        SourceKind::Container => crate::container::run(ctx).await,
        SourceKind::SinkBinding => {
            // Nothing runs: `herald run --binding` reads the resolved sink from status.
            ctx.ready();
            ctx.cancel.cancelled().await;
        }
        SourceKind::GitHub => crate::github::run(ctx).await,
        SourceKind::GitLab => crate::gitlab::run(ctx).await,
        SourceKind::Kafka => crate::kafka::run(ctx).await,
        SourceKind::GcpPubSub => crate::gcppubsub::run(ctx).await,
        SourceKind::AwsSqs => crate::awssqs::run(ctx).await,
        SourceKind::Rabbitmq => crate::rabbitmq::run(ctx).await,
        SourceKind::RedisStream => crate::redisstream::run(ctx).await,
        SourceKind::NatsJetStream => crate::natsjetstream::run(ctx).await,
        SourceKind::KafkaSink => crate::kafka::run_sink(ctx).await,
    }
}
