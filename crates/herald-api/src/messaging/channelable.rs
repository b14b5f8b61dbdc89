//! Channelable duck types (`duck/v1` `ChannelableSpec`/`ChannelableStatus`, `SubscriberSpec`,
//! `DeliveryStatus`) and `ChannelTemplateSpec`, shared by channels, brokers and flows.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::field::{FieldError, FieldErrors};
use crate::meta::{AddressStatus, DeliverySpec, Status};
use crate::registry::Ctx;

use crate::eventing::support::{config_yaml, scoped_default};

/// Schema of a field kept as-is (`x-kubernetes-preserve-unknown-fields`).
pub fn preserve_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

/// The template of the backing channel a Channel, Sequence or Parallel creates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelTemplateSpec {
    /// API version of the channel CRD, e.g. `messaging.knative.dev/v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Kind of the channel CRD, e.g. `InMemoryChannel`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Spec of the channel to create, passed through as-is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_schema")]
    pub spec: Option<Value>,
}

impl ChannelTemplateSpec {
    /// Validates that apiVersion and kind are set.
    pub fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if self.api_version.is_empty() {
            errs.push(FieldError::required("apiVersion"));
        }
        if self.kind.is_empty() {
            errs.push(FieldError::required("kind"));
        }
        errs
    }
}

/// API version of Herald's durable channel template kind.
pub const DURABLE_CHANNEL_API_VERSION: &str = "messaging.herald.dev/v1";
/// Herald's durable channel: a channel template kind backed by Herald's segment log (events
/// acknowledged only once fsync'd, kept across restarts). Knative defaults to the volatile
/// InMemoryChannel; Herald defaults to this, as DESIGN.md's "durable by default".
pub const DURABLE_CHANNEL_KIND: &str = "DurableChannel";

/// The built-in default channel: `messaging.herald.dev/v1 DurableChannel`.
pub fn builtin_channel_template() -> ChannelTemplateSpec {
    ChannelTemplateSpec {
        api_version: DURABLE_CHANNEL_API_VERSION.into(),
        kind: DURABLE_CHANNEL_KIND.into(),
        spec: None,
    }
}

/// The default channel template for namespace `ns`: ConfigMap
/// `knative-eventing/default-ch-webhook` key `default-ch-config` (`namespaceDefaults.<ns>`,
/// else `clusterDefault`), else Herald's DurableChannel.
pub fn default_channel_template(ctx: &Ctx, ns: &str) -> ChannelTemplateSpec {
    config_yaml(ctx, "default-ch-webhook", "default-ch-config")
        .as_ref()
        .and_then(|cfg| scoped_default(cfg, ns))
        .and_then(|v| serde_json::from_value::<ChannelTemplateSpec>(v.clone()).ok())
        .filter(|t| !t.api_version.is_empty() && !t.kind.is_empty())
        .unwrap_or_else(builtin_channel_template)
}

/// One subscriber of a channel (`duck/v1` `SubscriberSpec`), written by the Subscription
/// controller.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriberSpec {
    /// UID is used to understand the origin of the subscriber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Generation of the origin of the subscriber with uid:UID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// SubscriberURI is the endpoint for the subscriber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber_uri: Option<String>,
    /// SubscriberCACerts is the CA certs of the subscriber endpoint.
    #[serde(
        default,
        rename = "subscriberCACerts",
        skip_serializing_if = "Option::is_none"
    )]
    pub subscriber_ca_certs: Option<String>,
    /// SubscriberAudience is the OIDC audience for the subscriber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber_audience: Option<String>,
    /// ReplyURI is the endpoint for the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_uri: Option<String>,
    /// ReplyCACerts is the CA certs of the reply endpoint.
    #[serde(
        default,
        rename = "replyCACerts",
        skip_serializing_if = "Option::is_none"
    )]
    pub reply_ca_certs: Option<String>,
    /// ReplyAudience is the OIDC audience for the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_audience: Option<String>,
    /// Delivery options for this subscriber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
}

/// Status of one subscriber of a channel (`duck/v1` `SubscriberStatus`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriberStatus {
    /// UID is used to understand the origin of the subscriber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Generation of the origin of the subscriber with uid:UID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Status of the subscriber: `True`, `False` or `Unknown`.
    #[serde(default)]
    pub ready: crate::meta::ConditionStatus,
    /// A human readable message indicating details of Ready status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The resolved dead letter sink (`duck/v1` `DeliveryStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryStatus {
    /// DeadLetterSinkURI is the resolved URI of the dead letter sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_sink_uri: Option<String>,
    /// DeadLetterSinkCACerts are the certificates of the dead letter sink.
    #[serde(
        default,
        rename = "deadLetterSinkCACerts",
        skip_serializing_if = "Option::is_none"
    )]
    pub dead_letter_sink_ca_certs: Option<String>,
    /// DeadLetterSinkAudience is the OIDC audience of the dead letter sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_sink_audience: Option<String>,
}

/// Status of a channel (`duck/v1` `ChannelableStatus`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelableStatus {
    #[serde(flatten)]
    pub status: Status,
    #[serde(flatten)]
    pub address: AddressStatus,
    /// Subscribers is populated with the statuses of each of the channel's subscribers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribers: Vec<SubscriberStatus>,
    #[serde(flatten)]
    pub delivery: DeliveryStatus,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ConfigLookup;
    use std::collections::BTreeMap;

    struct Cm(&'static str);
    impl ConfigLookup for Cm {
        fn config_map(&self, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
            (ns == "knative-eventing" && name == "default-ch-webhook")
                .then(|| BTreeMap::from([("default-ch-config".to_string(), self.0.to_string())]))
        }
    }

    #[test]
    fn default_template_from_config() {
        let cm = Cm(
            "clusterDefault:\n  apiVersion: messaging.knative.dev/v1\n  kind: KafkaChannel\nnamespaceDefaults:\n  special:\n    apiVersion: messaging.knative.dev/v1\n    kind: InMemoryChannel\n    spec:\n      delivery:\n        retry: 3\n",
        );
        let ctx = Ctx { config: &cm };
        assert_eq!(default_channel_template(&ctx, "x").kind, "KafkaChannel");
        let t = default_channel_template(&ctx, "special");
        assert_eq!(t.kind, "InMemoryChannel");
        assert_eq!(t.spec, Some(serde_json::json!({"delivery": {"retry": 3}})));
        let none = Ctx {
            config: &crate::registry::NoConfig,
        };
        assert_eq!(
            default_channel_template(&none, "x"),
            builtin_channel_template()
        );
    }

    #[test]
    fn status_round_trips_flat() {
        let v = serde_json::json!({
            "observedGeneration": 2,
            "conditions": [{"type": "Ready", "status": "True"}],
            "address": {"url": "http://x"},
            "subscribers": [{"uid": "u", "observedGeneration": 1, "ready": "True"}],
            "deadLetterSinkUri": "http://dls"
        });
        let s: ChannelableStatus = serde_json::from_value(v.clone()).unwrap_or_default();
        assert_eq!(
            s.delivery.dead_letter_sink_uri.as_deref(),
            Some("http://dls")
        );
        assert_eq!(serde_json::to_value(&s).ok(), Some(v));
    }
}
