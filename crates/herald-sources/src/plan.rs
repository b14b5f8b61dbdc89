//! What the source runtime is told to run: one [`SourcePlan`] per source object, with the sink
//! already resolved (the reconciler's `status.sinkUri`) and secrets already read.

use std::collections::BTreeMap;

use serde_json::Value;

/// The kinds with a runtime in this crate: the sources, and KafkaSink, which the same plan and
/// readiness machinery drives although it receives events instead of emitting them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    Ping,
    ApiServer,
    Container,
    SinkBinding,
    GitHub,
    GitLab,
    Kafka,
    GcpPubSub,
    AwsSqs,
    Rabbitmq,
    RedisStream,
    NatsJetStream,
    KafkaSink,
}

impl SourceKind {
    pub const ALL: [SourceKind; 13] = [
        SourceKind::Ping,
        SourceKind::ApiServer,
        SourceKind::Container,
        SourceKind::SinkBinding,
        SourceKind::GitHub,
        SourceKind::GitLab,
        SourceKind::Kafka,
        SourceKind::GcpPubSub,
        SourceKind::AwsSqs,
        SourceKind::Rabbitmq,
        SourceKind::RedisStream,
        SourceKind::NatsJetStream,
        SourceKind::KafkaSink,
    ];

    /// The API group: Knative's, except for kinds Knative does not define.
    pub fn group(self) -> &'static str {
        match self {
            SourceKind::NatsJetStream => "sources.herald.dev",
            SourceKind::KafkaSink => "eventing.knative.dev",
            _ => "sources.knative.dev",
        }
    }

    /// The storage kind name (`PingSource`…).
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Ping => "PingSource",
            SourceKind::ApiServer => "ApiServerSource",
            SourceKind::Container => "ContainerSource",
            SourceKind::SinkBinding => "SinkBinding",
            SourceKind::GitHub => "GitHubSource",
            SourceKind::GitLab => "GitLabSource",
            SourceKind::Kafka => "KafkaSource",
            SourceKind::GcpPubSub => "GcpPubSubSource",
            SourceKind::AwsSqs => "AwsSqsSource",
            SourceKind::Rabbitmq => "RabbitmqSource",
            SourceKind::RedisStream => "RedisStreamSource",
            SourceKind::NatsJetStream => "NatsJetStreamSource",
            SourceKind::KafkaSink => "KafkaSink",
        }
    }

    /// The resource (plural) name, as in URLs.
    pub fn plural(self) -> &'static str {
        match self {
            SourceKind::Ping => "pingsources",
            SourceKind::ApiServer => "apiserversources",
            SourceKind::Container => "containersources",
            SourceKind::SinkBinding => "sinkbindings",
            SourceKind::GitHub => "githubsources",
            SourceKind::GitLab => "gitlabsources",
            SourceKind::Kafka => "kafkasources",
            SourceKind::GcpPubSub => "gcppubsubsources",
            SourceKind::AwsSqs => "awssqssources",
            SourceKind::Rabbitmq => "rabbitmqsources",
            SourceKind::RedisStream => "redisstreamsources",
            SourceKind::NatsJetStream => "natsjetstreamsources",
            SourceKind::KafkaSink => "kafkasinks",
        }
    }

    /// Whether this kind is a sink: it receives events on the ingress and has no sink of its own.
    pub fn is_sink(self) -> bool {
        matches!(self, SourceKind::KafkaSink)
    }

    pub fn from_name(name: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn from_plural(plural: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.plural() == plural)
    }
}

/// Identifies one source object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceKey {
    pub kind: SourceKind,
    pub namespace: String,
    pub name: String,
}

impl SourceKey {
    pub fn new(kind: SourceKind, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        SourceKey {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for SourceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.kind.plural(), self.namespace, self.name)
    }
}

/// Where a source's events go: the resolved `status.sinkUri` (and its CA certificates).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SinkTarget {
    pub uri: String,
    pub ca_certs: Option<String>,
    pub audience: Option<String>,
}

/// One source to run.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcePlan {
    pub key: SourceKey,
    pub uid: String,
    /// `metadata.generation`: readiness is reported per generation.
    pub generation: i64,
    /// The resolved sink; `None` while it does not resolve (the source then emits nothing and is
    /// not Ready).
    pub sink: Option<SinkTarget>,
    /// The resolved `spec.delivery.deadLetterSink` (`status.deadLetterSinkUri`), for sources that
    /// dead-letter events their sink finally refused (KafkaSource).
    pub dead_letter_sink: Option<SinkTarget>,
    /// `spec.ceOverrides.extensions`, added to every event (DP-57).
    pub ce_overrides: BTreeMap<String, String>,
    /// The source's spec in storage form (the kind's module reads its own fields).
    pub spec: Value,
    /// `metadata.labels`: some options are labels in Knative, e.g. KafkaSource's key type.
    pub labels: BTreeMap<String, String>,
    /// Secret values referenced by the spec: JSON pointer of the object holding `secretKeyRef`
    /// (e.g. `/secretToken`) → the value. A missing entry means the Secret or key is absent.
    pub secrets: BTreeMap<String, String>,
}
