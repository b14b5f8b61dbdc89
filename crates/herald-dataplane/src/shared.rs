//! State shared by the ingress, the dispatchers and `apply`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use herald_log::{MemoryLogOptions, SegmentLogOptions};
use tokio_util::sync::CancellationToken;

use crate::admit::DEFAULT_TTL;
use crate::broker::BrokerRuntime;
use crate::metrics::Metrics;
use crate::plan::BrokerKey;

/// Data-plane settings, from `herald serve` flags.
#[derive(Debug, Clone)]
pub struct DataPlaneConfig {
    /// Broker logs live in `<data_dir>/brokers/<broker uid>/`.
    pub data_dir: PathBuf,
    /// Base URL of the ingress listener (addresses in `knativeerrordest`).
    pub ingress_base_url: String,
    /// Largest request body the ingress reads; larger requests get 413.
    pub max_request_bytes: usize,
    /// `knativebrokerttl` given to events that carry none.
    pub default_ttl: i64,
    /// Deliveries in flight per unordered Trigger.
    pub trigger_concurrency: usize,
    /// Ingress requests handled at once; more are shed with 429 so memory stays bounded
    /// (at most this many request bodies of `max_request_bytes` are buffered).
    pub max_inflight_requests: usize,
    /// Disable fsync (benchmarks only: breaks the durability promise).
    pub fsync: bool,
    pub memory_log: MemoryLogLimits,
    /// Distinct (stream, type, source) pairs recorded between two drains of the observer.
    pub max_observed_types: usize,
}

/// Bounds of an InMemoryChannel-backed broker.
#[derive(Debug, Clone, Copy)]
pub struct MemoryLogLimits {
    pub max_records: usize,
    pub max_bytes: usize,
}

impl DataPlaneConfig {
    pub fn new(data_dir: impl Into<PathBuf>, ingress_base_url: impl Into<String>) -> Self {
        let memory = MemoryLogOptions::default();
        DataPlaneConfig {
            data_dir: data_dir.into(),
            ingress_base_url: ingress_base_url.into().trim_end_matches('/').to_string(),
            max_request_bytes: 4 * 1024 * 1024,
            default_ttl: DEFAULT_TTL,
            trigger_concurrency: 32,
            max_inflight_requests: 1024,
            max_observed_types: crate::observe::DEFAULT_MAX_PAIRS,
            fsync: true,
            memory_log: MemoryLogLimits {
                max_records: memory.max_records,
                max_bytes: memory.max_bytes,
            },
        }
    }

    pub fn segment_options(&self) -> SegmentLogOptions {
        SegmentLogOptions {
            max_record_bytes: self.max_request_bytes + 64 * 1024,
            fsync: self.fsync,
            ..SegmentLogOptions::default()
        }
    }
}

/// What the data plane reports about one Broker or Trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Programmed from the object's `generation`.
    Ready { generation: i64 },
    /// Cannot be programmed.
    Failed { reason: String, message: String },
}

pub struct Shared {
    pub config: DataPlaneConfig,
    pub client: reqwest::Client,
    pub brokers: RwLock<HashMap<BrokerKey, Arc<BrokerRuntime>>>,
    /// Readiness of Triggers (Broker kind) and Subscriptions (Channel kind) by namespace and name.
    pub triggers: RwLock<HashMap<(crate::plan::StreamKind, String, String), Applied>>,
    pub metrics: Metrics,
    pub observer: Arc<crate::observe::TypeObserver>,
    pub shutdown: CancellationToken,
    /// Superseded logs still delivering what they hold (see `drain`).
    pub draining: std::sync::Mutex<Vec<Arc<BrokerRuntime>>>,
    /// Bounds concurrent ingress requests (`max_inflight_requests`).
    pub ingress_permits: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    pub fn broker(&self, key: &BrokerKey) -> Option<Arc<BrokerRuntime>> {
        self.brokers.read().ok()?.get(key).cloned()
    }
}
