//! What a reconcile may know besides the object and the view: the clock, Herald's own URLs, the
//! registry, and the data plane's readiness. Passed in so reconcilers stay pure and testable.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use herald_api::Registry;

/// The part of the data plane whose readiness a condition reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataPlaneKind {
    /// A Broker's ingress, trigger channel and filter.
    Broker,
    /// A Channel or InMemoryChannel and its dispatcher.
    Channel,
    /// A Trigger's dispatcher (readiness is per generation: see [`DataPlaneReadiness::Applied`]).
    Trigger,
    /// A Subscription's dispatcher (per generation, like a Trigger).
    Subscription,
    /// A source's (or a KafkaSink's) runtime, by storage kind name (`PingSource`…; per generation).
    Source(&'static str),
}

/// What the data plane reports for one object (it applied the Plan containing it, or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataPlaneReadiness {
    /// Programmed: events sent now are handled.
    Ready,
    /// Programmed from this `metadata.generation` of the object: Ready only if it is current.
    Applied { generation: i64 },
    /// Not programmed yet, but expected to be (conditions go Unknown).
    Pending { reason: String, message: String },
    /// Cannot be programmed (conditions go False).
    Failed { reason: String, message: String },
}

/// Reason used until the data plane reports readiness.
pub const DATA_PLANE_UNAVAILABLE: &str = "DataPlaneUnavailable";

impl DataPlaneReadiness {
    /// The answer when no data plane is wired into this build: a broker, channel or flow must not
    /// claim readiness for behaviour that does not exist.
    pub fn unavailable(kind: DataPlaneKind) -> Self {
        let what = match kind {
            DataPlaneKind::Broker => "broker",
            DataPlaneKind::Channel => "channel",
            DataPlaneKind::Trigger => "trigger",
            DataPlaneKind::Subscription => "subscription",
            DataPlaneKind::Source(kind) => kind,
        };
        DataPlaneReadiness::Failed {
            reason: DATA_PLANE_UNAVAILABLE.to_string(),
            message: format!("Herald's {what} data plane is not available in this build"),
        }
    }
}

/// Reports data-plane readiness for (kind, namespace, name); wired by the binary once the data
/// plane publishes which Plan it applied.
pub type DataPlaneStatus =
    Arc<dyn Fn(DataPlaneKind, &str, &str) -> DataPlaneReadiness + Send + Sync>;

/// The environment of one reconcile.
#[derive(Clone)]
pub struct Env {
    /// The current time, RFC 3339 (used for `lastTransitionTime`).
    pub now: String,
    /// Base URL of Herald's ingress listener, e.g. `http://127.0.0.1:8081` (no trailing slash).
    pub ingress_base_url: String,
    /// Base URL of the API server ApiServerSources watch (the `source` of their events):
    /// Herald's own API listener, or the cluster of `--source-kubeconfig`.
    pub api_base_url: String,
    /// Every kind Herald serves (to turn references into store keys).
    pub registry: Arc<Registry>,
    /// Data-plane readiness; `None` means no data plane in this build.
    pub data_plane: Option<DataPlaneStatus>,
}

impl Env {
    /// Readiness of one data-plane object, defaulting to "unavailable" when nothing is wired.
    pub fn data_plane(
        &self,
        kind: DataPlaneKind,
        namespace: &str,
        name: &str,
    ) -> DataPlaneReadiness {
        match &self.data_plane {
            Some(f) => f(kind, namespace, name),
            None => DataPlaneReadiness::unavailable(kind),
        }
    }

    /// Readiness of an object whose data plane is applied per generation: `Applied` at an
    /// older generation is still Pending (events sent after Ready must see the current spec).
    pub fn data_plane_at(
        &self,
        kind: DataPlaneKind,
        namespace: &str,
        name: &str,
        generation: i64,
    ) -> DataPlaneReadiness {
        match self.data_plane(kind, namespace, name) {
            DataPlaneReadiness::Applied { generation: g } if g == generation => {
                DataPlaneReadiness::Ready
            }
            DataPlaneReadiness::Applied { generation: g } => DataPlaneReadiness::Pending {
                reason: "DataPlanePending".into(),
                message: format!(
                    "the data plane runs generation {g}; generation {generation} is not applied yet"
                ),
            },
            other => other,
        }
    }

    /// Joins the ingress base URL with path segments.
    pub fn ingress_url(&self, segments: &[&str]) -> String {
        let mut url = self.ingress_base_url.trim_end_matches('/').to_string();
        for s in segments {
            url.push('/');
            url.push_str(s);
        }
        url
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("now", &self.now)
            .field("ingress_base_url", &self.ingress_base_url)
            .field("api_base_url", &self.api_base_url)
            .field("data_plane", &self.data_plane.is_some())
            .finish()
    }
}

/// Configuration of the controller, given by the binary.
#[derive(Clone)]
pub struct ControllerEnv {
    pub ingress_base_url: String,
    pub api_base_url: String,
    pub data_plane: Option<DataPlaneStatus>,
    /// Interval of the full resync (catches anything a missed dependency edge left stale).
    pub resync_interval: Duration,
    /// Number of concurrent reconcile workers.
    pub workers: usize,
}

impl ControllerEnv {
    pub fn new(ingress_base_url: impl Into<String>, api_base_url: impl Into<String>) -> Self {
        ControllerEnv {
            ingress_base_url: ingress_base_url.into().trim_end_matches('/').to_string(),
            api_base_url: api_base_url.into().trim_end_matches('/').to_string(),
            data_plane: None,
            resync_interval: Duration::from_secs(30),
            workers: 2,
        }
    }

    /// Wires the data plane's readiness reports.
    pub fn with_data_plane(mut self, data_plane: DataPlaneStatus) -> Self {
        self.data_plane = Some(data_plane);
        self
    }

    /// The environment for a reconcile happening now.
    pub fn env(&self, registry: Arc<Registry>) -> Env {
        Env {
            now: now_rfc3339(),
            ingress_base_url: self.ingress_base_url.clone(),
            api_base_url: self.api_base_url.clone(),
            registry,
            data_plane: self.data_plane.clone(),
        }
    }
}

/// The current time as Kubernetes prints it (seconds precision, `Z`).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
