//! `RabbitmqSource`: `sources.knative.dev/v1alpha1`, the shape of Knative's
//! knative-extensions/eventing-rabbitmq source. Herald has no RabbitmqCluster operator, so the
//! cluster is reached through `rabbitmqClusterReference.connectionSecret` (a Secret whose `uri`
//! key holds an `amqp://` URI), which Knative supports for clusters it does not manage.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conditions::ConditionSet;
use crate::field::{FieldError, FieldErrors};
use crate::meta::{BackoffPolicy, CloudEventOverrides, Destination, SourceStatus};
use crate::object::Object;
use crate::registry::{
    AGE_COLUMN, Ctx, Kind, PrinterColumn, READY_COLUMN, REASON_COLUMN, Resource, ServedVersion,
    Typed, set_type,
};
use crate::schema::structural;
use crate::validation::parse_iso8601_duration;

use super::support::{
    CATEGORIES, GROUP, SINK_COLUMN, default_sink_namespace, validate_source_spec,
};

pub const KIND: &str = "RabbitmqSource";
pub const API_VERSION: &str = "sources.knative.dev/v1alpha1";
/// The type of events made from messages that are not CloudEvents.
pub const EVENT_TYPE: &str = "dev.knative.rabbitmq.event";
/// The key of the connection Secret that holds the AMQP URI.
pub const URI_KEY: &str = "uri";

/// RabbitmqSource's dependent conditions (eventing-rabbitmq `rabbitmq_lifecycle.go`).
pub const CONDITIONS: ConditionSet = ConditionSet::new(&["SinkProvided", "Deployed"]);

/// The `source` attribute of events from this source: `/apis/v1/namespaces/<ns>/rabbitmqsources/<name>#<queue>`.
pub fn event_source(namespace: &str, name: &str, queue: &str) -> String {
    format!("/apis/v1/namespaces/{namespace}/rabbitmqsources/{name}#{queue}")
}

/// A Secret in the source's namespace, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LocalSecretReference {
    #[serde(default)]
    pub name: String,
}

/// Which RabbitMQ cluster to consume from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RabbitmqClusterReference {
    /// Name of a RabbitmqCluster. Herald runs no RabbitMQ operator, so a name alone cannot be
    /// resolved: give `connectionSecret`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace of the RabbitmqCluster (defaults to the source's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A Secret with key `uri` (e.g. `amqp://guest:guest@127.0.0.1:5672`), for clusters not
    /// managed by an operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_secret: Option<LocalSecretReference>,
}

/// The RabbitMQ objects the source consumes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RabbitmqResourcesConfig {
    /// The virtual host; overrides the one in the connection URI.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vhost: String,
    /// Name of the queue to consume; required.
    #[serde(default)]
    pub queue_name: String,
    /// `quorum` (default) or `classic`: the type of the queue Herald declares.
    #[serde(default = "default_queue_type")]
    pub queue_type: String,
    /// Exchange the queue is bound to; required when `predeclared` is false.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub exchange_name: String,
    /// Prefetch count of the channel and number of messages delivered concurrently (1..1000).
    #[serde(default = "default_parallelism")]
    pub parallelism: i64,
    /// The queue (and its binding) already exist and must not be declared.
    #[serde(default)]
    pub predeclared: bool,
}

fn default_queue_type() -> String {
    "quorum".to_string()
}

fn default_parallelism() -> i64 {
    1
}

/// Retries of one event before the message is given back to RabbitMQ.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RabbitmqDeliverySpec {
    /// Minimum number of retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<i32>,
    /// `linear` or `exponential`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_policy: Option<BackoffPolicy>,
    /// Base delay between retries, an ISO-8601 duration such as `PT0.2S`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_delay: Option<String>,
}

/// RabbitmqSourceSpec defines the desired state of the source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RabbitmqSourceSpec {
    /// The RabbitMQ cluster to consume from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rabbitmq_cluster_reference: Option<RabbitmqClusterReference>,
    /// Queue, exchange, vhost and parallelism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rabbitmq_resources_config: Option<RabbitmqResourcesConfig>,
    /// Retries of each event to the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<RabbitmqDeliverySpec>,
    /// Where events go.
    #[serde(default)]
    pub sink: Destination,
    /// ServiceAccountName of Knative's receive adapter (kept, unused by Herald).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// CloudEventOverrides added to every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
}

/// RabbitmqSourceStatus defines the observed state of the source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RabbitmqSourceStatus {
    /// The duck SourceStatus: conditions, observedGeneration, sinkUri, ceAttributes.
    #[serde(flatten)]
    pub source_status: SourceStatus,
}

pub type RabbitmqSource = Object<RabbitmqSourceSpec, RabbitmqSourceStatus>;

impl Kind for RabbitmqSource {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        let ns = self.namespace().to_string();
        default_sink_namespace(&mut self.spec.sink, &ns);
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let s = &self.spec;
        match &s.rabbitmq_cluster_reference {
            None => errs.push(FieldError::required("spec.rabbitmqClusterReference")),
            Some(r) => {
                if let Some(sec) = &r.connection_secret {
                    if sec.name.is_empty() {
                        errs.push(FieldError::required(
                            "spec.rabbitmqClusterReference.connectionSecret.name",
                        ));
                    }
                } else if r.name.is_empty() {
                    errs.push(FieldError::required("spec.rabbitmqClusterReference.name"));
                }
            }
        }
        match &s.rabbitmq_resources_config {
            None => errs.push(FieldError::required("spec.rabbitmqResourcesConfig")),
            Some(c) => validate_resources(&mut errs, c),
        }
        if let Some(d) = &s.delivery {
            if let Some(r) = d.retry.filter(|r| *r < 0) {
                errs.push(FieldError::invalid(
                    "spec.delivery.retry",
                    format!("invalid value: {r}: must be >= 0"),
                ));
            }
            if let Some(Err(e)) = d.backoff_delay.as_deref().map(parse_iso8601_duration) {
                errs.push(FieldError::invalid("spec.delivery.backoffDelay", e));
            }
        }
        validate_source_spec(&mut errs, &s.sink, s.ce_overrides.as_ref());
        errs
    }
}

fn validate_resources(errs: &mut FieldErrors, c: &RabbitmqResourcesConfig) {
    const P: &str = "spec.rabbitmqResourcesConfig";
    if c.queue_name.is_empty() {
        errs.push(FieldError::required(format!("{P}.queueName")));
    }
    if !c.predeclared && c.exchange_name.is_empty() {
        errs.push(FieldError::invalid(
            format!("{P}.exchangeName"),
            "exchangeName is required when predeclared is false",
        ));
    }
    if !(1..=1000).contains(&c.parallelism) {
        errs.push(FieldError::invalid(
            format!("{P}.parallelism"),
            format!(
                "invalid value: {}: must be between 1 and 1000",
                c.parallelism
            ),
        ));
    }
    if !matches!(c.queue_type.as_str(), "quorum" | "classic") {
        errs.push(FieldError::not_supported(
            format!("{P}.queueType"),
            &c.queue_type,
            &["quorum", "classic"],
        ));
    }
}

fn storage(v: Value) -> Result<Value, FieldErrors> {
    Ok(set_type(v, API_VERSION, KIND))
}

const COLUMNS: &[PrinterColumn] = &[READY_COLUMN, REASON_COLUMN, SINK_COLUMN, AGE_COLUMN];

/// The RabbitmqSource resource: sources.knative.dev/v1alpha1.
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "rabbitmqsources",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![ServedVersion {
            group: GROUP,
            version: "v1alpha1",
            kind: KIND,
            plural: "rabbitmqsources",
            singular: "rabbitmqsource",
            short_names: &["rmqsource"],
            categories: CATEGORIES,
            columns: COLUMNS,
            deprecated: None,
            schema: structural::<RabbitmqSource>,
            to_storage: storage,
            from_storage: storage,
        }],
        hooks: Box::new(Typed::<RabbitmqSource>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::support::test_util::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": "rabbitmq-source", "namespace": "default"},
            "spec": {
                "rabbitmqClusterReference": {"connectionSecret": {"name": "rabbit"}},
                "rabbitmqResourcesConfig": {"exchangeName": "events", "queueName": "q"},
                "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                                 "name": "default"}}
            }
        })
    }

    #[test]
    fn resource_shape() {
        check_resource(&resource());
    }

    #[test]
    fn defaults() {
        let out = admit(&resource(), sample()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out["spec"]["sink"]["ref"]["namespace"], json!("default"));
        let c = &out["spec"]["rabbitmqResourcesConfig"];
        assert_eq!(c["parallelism"], json!(1));
        assert_eq!(c["queueType"], json!("quorum"));
        assert_eq!(c["predeclared"], json!(false));
    }

    #[test]
    fn validation_errors() {
        let rc = "spec.rabbitmqResourcesConfig";
        check_cases(
            &resource(),
            &sample(),
            &[
                ("valid", json!({}), &[]),
                (
                    "no cluster",
                    json!({"rabbitmqClusterReference": null}),
                    &["spec.rabbitmqClusterReference"],
                ),
                (
                    "cluster name only is accepted",
                    json!({"rabbitmqClusterReference": {"name": "c"}}),
                    &[],
                ),
                (
                    "empty reference",
                    json!({"rabbitmqClusterReference": {}}),
                    &["spec.rabbitmqClusterReference.name"],
                ),
                (
                    "secret without name",
                    json!({"rabbitmqClusterReference": {"connectionSecret": {}}}),
                    &["spec.rabbitmqClusterReference.connectionSecret.name"],
                ),
                (
                    "no resources",
                    json!({"rabbitmqResourcesConfig": null}),
                    &[rc],
                ),
                (
                    "no queue, no exchange",
                    json!({"rabbitmqResourcesConfig": {}}),
                    &[
                        "spec.rabbitmqResourcesConfig.queueName",
                        "spec.rabbitmqResourcesConfig.exchangeName",
                    ],
                ),
                (
                    "predeclared needs no exchange",
                    json!({"rabbitmqResourcesConfig": {"queueName": "q", "predeclared": true}}),
                    &[],
                ),
                (
                    "parallelism out of range",
                    json!({"rabbitmqResourcesConfig": {"queueName": "q", "exchangeName": "e",
                                                       "parallelism": 0}}),
                    &["spec.rabbitmqResourcesConfig.parallelism"],
                ),
                (
                    "queue type",
                    json!({"rabbitmqResourcesConfig": {"queueName": "q", "exchangeName": "e",
                                                       "queueType": "stream"}}),
                    &["spec.rabbitmqResourcesConfig.queueType"],
                ),
                (
                    "delivery",
                    json!({"delivery": {"retry": -1, "backoffDelay": "soon"}}),
                    &["spec.delivery.retry", "spec.delivery.backoffDelay"],
                ),
                ("no sink", json!({"sink": null}), &["spec.sink"]),
            ],
        );
    }

    #[test]
    fn event_source_shape() {
        assert_eq!(
            event_source("ns", "src", "q1"),
            "/apis/v1/namespaces/ns/rabbitmqsources/src#q1"
        );
    }
}
