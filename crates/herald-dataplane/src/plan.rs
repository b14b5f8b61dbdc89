//! The Plan: everything the data plane needs, as an immutable snapshot built by the control
//! plane from Brokers and Triggers. The data plane never reads the store (DESIGN.md).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use herald_filter::Filter;

use crate::delivery::DeliveryPolicy;

/// What kind of addressable owns a log: a Broker (Triggers, replies back into the Broker) or a
/// Channel (Subscriptions, replies to their `reply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamKind {
    Broker,
    Channel,
}

/// (kind, namespace, name) of a Broker or Channel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BrokerKey {
    pub kind: StreamKind,
    pub namespace: String,
    pub name: String,
}

impl BrokerKey {
    /// A Broker's key.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        BrokerKey {
            kind: StreamKind::Broker,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// A Channel's (or InMemoryChannel's) key.
    pub fn channel(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        BrokerKey {
            kind: StreamKind::Channel,
            ..BrokerKey::new(namespace, name)
        }
    }
}

impl std::fmt::Display for BrokerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            StreamKind::Broker => write!(f, "{}/{}", self.namespace, self.name),
            StreamKind::Channel => write!(f, "channel {}/{}", self.namespace, self.name),
        }
    }
}

/// Where a subscriber's reply goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyTo {
    /// Back into the Trigger's Broker (DP-47).
    Broker,
    /// To a Subscription's resolved `reply` (DP-50).
    Uri(String),
    /// A Subscription without `reply`: replies are dropped (DP-50).
    Drop,
}

/// Where a Broker keeps its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Herald's segment log: 202 only after fsync.
    Durable,
    /// The bounded in-memory log (InMemoryChannel): lost on restart, as in Knative.
    Memory,
}

/// The data plane's whole configuration: Brokers with their Triggers and Channels with their
/// Subscriptions, in one map (the key says which).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub brokers: BTreeMap<BrokerKey, BrokerPlan>,
}

#[derive(Debug, Clone)]
pub struct BrokerPlan {
    /// The Broker's UID: names its log, so a re-created Broker starts empty.
    pub uid: String,
    pub storage: Storage,
    /// Triggers that can run, by name.
    pub triggers: BTreeMap<String, Arc<TriggerPlan>>,
    /// UIDs of every Trigger of this Broker that exists, runnable or not: cursors of other
    /// UIDs belong to deleted Triggers and are removed.
    pub known_trigger_uids: BTreeSet<String>,
    /// Triggers that cannot run, by name, with (reason, message) for their status.
    pub failed_triggers: BTreeMap<String, (String, String)>,
}

#[derive(Debug, Clone)]
pub struct TriggerPlan {
    pub namespace: String,
    pub name: String,
    /// Names the Trigger's cursor in the log.
    pub uid: String,
    /// `metadata.generation` this plan was built from (readiness is reported per generation).
    pub generation: i64,
    /// Resolved `status.subscriberUri`.
    pub subscriber: String,
    pub delivery: DeliveryPolicy,
    pub filter: Arc<Filter>,
    /// Ordered delivery: one event at a time, in log order.
    pub ordered: bool,
    /// Where replies go.
    pub reply: ReplyTo,
    /// Maximum deliveries in flight when unordered.
    pub concurrency: usize,
}

impl TriggerPlan {
    /// Whether a running dispatcher must be restarted (its cursor identity changed) rather
    /// than just handed the new plan.
    pub fn same_identity(&self, other: &TriggerPlan) -> bool {
        self.uid == other.uid && self.ordered == other.ordered
    }
}
