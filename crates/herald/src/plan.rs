//! Builds the data plane's [`Plan`] from Brokers and Triggers in the store (pure: [`build`]),
//! and keeps the data plane in step with the store (I/O: [`run`]). After each applied Plan the
//! controller re-reconciles Brokers and Triggers so their readiness reflects it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use herald_api::Registry;
use herald_api::eventing::broker::{self, Broker};
use herald_api::eventing::support::annotation;
use herald_api::eventing::trigger::Trigger;
use herald_api::messaging::subscription::Subscription;
use herald_api::meta::{BackoffPolicy as ApiBackoff, DeliveryFormat, DeliverySpec};
use herald_api::validation::parse_iso8601_duration;
use herald_dataplane::{
    BackoffPolicy, BrokerKey, BrokerPlan, DataPlane, DeliveryPolicy, Format, Plan, ReplyTo,
    Storage, TriggerPlan,
};
use herald_filter::{Filter, SubscriptionsApiFilter};
use herald_store::Store;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Trigger annotation choosing ordered delivery (`ordered`) or the default `unordered`.
pub const DELIVERY_ORDER_ANNOTATION: &str = "herald.dev/delivery.order";
/// Knative Kafka broker's equivalent, honoured too so Kafka manifests keep their meaning.
pub const KAFKA_DELIVERY_ORDER_ANNOTATION: &str = "kafka.eventing.knative.dev/delivery.order";
/// Trigger annotation bounding deliveries in flight (unordered triggers).
pub const CONCURRENCY_ANNOTATION: &str = "herald.dev/delivery.concurrency";

/// Key of the ConfigMap entry naming a broker's channel (Knative's `config-br-default-channel`).
const CHANNEL_TEMPLATE_KEY: &str = "channel-template-spec";

/// What `build` needs: the objects of every data-plane kind, and config lookups.
pub struct Inputs<'a> {
    pub brokers: &'a [Value],
    pub triggers: &'a [Value],
    /// `messaging.knative.dev` Channels and InMemoryChannels.
    pub channels: &'a [Value],
    pub in_memory_channels: &'a [Value],
    pub subscriptions: &'a [Value],
    /// ConfigMaps by (namespace, name), for `spec.config`.
    pub config_map: &'a dyn Fn(&str, &str) -> Option<Value>,
    /// Deliveries in flight per unordered Trigger, unless annotated.
    pub default_concurrency: usize,
}

/// The Plan for the current objects.
pub fn build(inputs: &Inputs<'_>) -> Plan {
    let mut plan = Plan::default();
    let mut broker_delivery = BTreeMap::new();
    for raw in inputs.brokers {
        let Ok(b) = herald_api::registry::decode::<Broker>(raw) else {
            continue;
        };
        if b.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(uid) = b.metadata.uid.clone() else {
            continue;
        };
        let key = BrokerKey::new(b.namespace(), b.name());
        broker_delivery.insert(key.clone(), b.spec.delivery.clone());
        plan.brokers.insert(
            key,
            BrokerPlan {
                uid,
                storage: storage_of(&b, inputs.config_map),
                triggers: BTreeMap::new(),
                known_trigger_uids: BTreeSet::new(),
                failed_triggers: BTreeMap::new(),
            },
        );
    }
    for raw in inputs.triggers {
        let Ok(t) = herald_api::registry::decode::<Trigger>(raw) else {
            continue;
        };
        let (bns, bname) = herald_controller::reconcilers::trigger::broker_of(&t);
        let key = BrokerKey::new(bns, bname);
        let Some(bp) = plan.brokers.get_mut(&key) else {
            continue;
        };
        let Some(uid) = t.metadata.uid.clone() else {
            continue;
        };
        bp.known_trigger_uids.insert(uid.clone());
        if t.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let status = t.status.clone().unwrap_or_default();
        let Some(subscriber) = status.subscriber_uri.clone().filter(|s| !s.is_empty()) else {
            continue;
        };
        // Same JSON shape in both crates; the API type was validated at admission.
        let filters: Vec<SubscriptionsApiFilter> = serde_json::to_value(&t.spec.filters)
            .and_then(serde_json::from_value)
            .unwrap_or_default();
        let filter =
            match Filter::for_trigger(t.spec.filter.as_ref().map(|f| &f.attributes), &filters) {
                Ok(f) => f,
                Err(e) => {
                    bp.failed_triggers.insert(
                        t.name().to_string(),
                        ("FilterInvalid".to_string(), e.to_string()),
                    );
                    continue;
                }
            };
        let spec = t
            .spec
            .delivery
            .as_ref()
            .or(broker_delivery.get(&key).and_then(Option::as_ref));
        let delivery = delivery_policy(spec, status.delivery.dead_letter_sink_uri.clone());
        let order = annotation(&t.metadata, DELIVERY_ORDER_ANNOTATION)
            .or_else(|| annotation(&t.metadata, KAFKA_DELIVERY_ORDER_ANNOTATION));
        let concurrency = annotation(&t.metadata, CONCURRENCY_ANNOTATION)
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(inputs.default_concurrency);
        bp.triggers.insert(
            t.name().to_string(),
            Arc::new(TriggerPlan {
                namespace: t.namespace().to_string(),
                name: t.name().to_string(),
                uid,
                generation: t.metadata.generation.unwrap_or(0),
                subscriber,
                delivery,
                filter: Arc::new(filter),
                ordered: order == Some("ordered"),
                reply: ReplyTo::Broker,
                concurrency,
            }),
        );
    }
    add_channels(&mut plan, inputs);
    plan
}

/// Channels (durable unless in-memory) and their Subscriptions. A Subscription delivers every
/// event of its channel (no filter); its reply goes to `reply` or is dropped (DP-50).
fn add_channels(plan: &mut Plan, inputs: &Inputs<'_>) {
    let mut channel_delivery = BTreeMap::new();
    let kinds = [
        (inputs.in_memory_channels, Some(Storage::Memory)),
        (inputs.channels, None),
    ];
    for (objects, storage) in kinds {
        for raw in objects {
            let meta = |p: &str| raw.pointer(p).and_then(Value::as_str).unwrap_or_default();
            let (ns, name, uid) = (
                meta("/metadata/namespace"),
                meta("/metadata/name"),
                meta("/metadata/uid"),
            );
            if uid.is_empty() || raw.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            // A generic Channel is durable unless its template names an InMemoryChannel.
            let storage = storage.unwrap_or_else(|| {
                match raw
                    .pointer("/spec/channelTemplate/kind")
                    .and_then(Value::as_str)
                {
                    Some("InMemoryChannel") => Storage::Memory,
                    _ => Storage::Durable,
                }
            });
            let delivery: Option<DeliverySpec> = raw
                .pointer("/spec/delivery")
                .and_then(|d| serde_json::from_value(d.clone()).ok());
            let key = BrokerKey::channel(ns, name);
            channel_delivery.insert(key.clone(), delivery);
            plan.brokers.insert(
                key,
                BrokerPlan {
                    uid: uid.to_string(),
                    storage,
                    triggers: BTreeMap::new(),
                    known_trigger_uids: BTreeSet::new(),
                    failed_triggers: BTreeMap::new(),
                },
            );
        }
    }
    for raw in inputs.subscriptions {
        let Ok(sub) = herald_api::registry::decode::<Subscription>(raw) else {
            continue;
        };
        let key = BrokerKey::channel(sub.namespace(), &sub.spec.channel.name);
        let Some(cp) = plan.brokers.get_mut(&key) else {
            continue;
        };
        let Some(uid) = sub.metadata.uid.clone() else {
            continue;
        };
        cp.known_trigger_uids.insert(uid.clone());
        if sub.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let ps = sub
            .status
            .as_ref()
            .and_then(|s| s.physical_subscription.clone())
            .unwrap_or_default();
        let Some(subscriber) = ps.subscriber_uri.clone().filter(|s| !s.is_empty()) else {
            continue;
        };
        let spec = sub
            .spec
            .delivery
            .as_ref()
            .or(channel_delivery.get(&key).and_then(Option::as_ref));
        cp.triggers.insert(
            sub.name().to_string(),
            Arc::new(TriggerPlan {
                namespace: sub.namespace().to_string(),
                name: sub.name().to_string(),
                uid,
                generation: sub.metadata.generation.unwrap_or(0),
                subscriber,
                delivery: delivery_policy(spec, ps.dead_letter_sink_uri.clone()),
                filter: Arc::new(Filter::pass_all()),
                ordered: false,
                reply: match ps.reply_uri.filter(|u| !u.is_empty()) {
                    Some(u) => ReplyTo::Uri(u),
                    None => ReplyTo::Drop,
                },
                concurrency: inputs.default_concurrency,
            }),
        );
    }
}

/// Durable unless the Broker's channel is an InMemoryChannel: from the v1alpha1
/// `channelTemplateSpec`, a `spec.config` naming an InMemoryChannel, or a `spec.config` ConfigMap
/// whose `channel-template-spec` names one (Knative's `config-br-default-channel` shape).
fn storage_of(b: &Broker, config_map: &dyn Fn(&str, &str) -> Option<Value>) -> Storage {
    let memory = |kind: &str| kind == "InMemoryChannel";
    if let Some(t) = broker::channel_template(b) {
        return if memory(&t.kind) {
            Storage::Memory
        } else {
            Storage::Durable
        };
    }
    let Some(cfg) = &b.spec.config else {
        return Storage::Durable;
    };
    if memory(&cfg.kind) {
        return Storage::Memory;
    }
    if cfg.kind == "ConfigMap" {
        let ns = cfg.namespace.as_deref().unwrap_or(b.namespace());
        let template = config_map(ns, &cfg.name).and_then(|cm| {
            let text = cm
                .pointer(&format!("/data/{CHANNEL_TEMPLATE_KEY}"))?
                .as_str()?
                .to_string();
            serde_saphyr::from_str::<Value>(&text).ok()
        });
        if let Some(t) = template
            && t.get("kind").and_then(Value::as_str).is_some_and(memory)
        {
            return Storage::Memory;
        }
    }
    Storage::Durable
}

/// A `DeliverySpec` (already validated at admission) as the data plane's policy.
pub fn delivery_policy(
    spec: Option<&DeliverySpec>,
    dead_letter_sink: Option<String>,
) -> DeliveryPolicy {
    let dur = |s: &Option<String>| s.as_deref().and_then(|s| parse_iso8601_duration(s).ok());
    let Some(d) = spec else {
        return DeliveryPolicy {
            dead_letter_sink,
            ..DeliveryPolicy::default()
        };
    };
    DeliveryPolicy {
        retry: d.retry.unwrap_or(0).max(0) as u32,
        backoff_policy: match d.backoff_policy {
            Some(ApiBackoff::Linear) => BackoffPolicy::Linear,
            _ => BackoffPolicy::Exponential,
        },
        backoff_delay: dur(&d.backoff_delay),
        timeout: dur(&d.timeout).filter(|t| !t.is_zero()),
        retry_after_max: dur(&d.retry_after_max),
        dead_letter_sink,
        format: d.format.map(|f| match f {
            DeliveryFormat::Json => Format::Json,
            DeliveryFormat::Binary => Format::Binary,
        }),
    }
}

/// Keeps the data plane in step with the store until `shutdown`.
pub async fn run(
    store: Store,
    registry: Arc<Registry>,
    data_plane: DataPlane,
    requeue: herald_controller::Requeue,
    shutdown: CancellationToken,
) {
    let key = |kind: &str| {
        registry
            .lookup_group_kind(broker::GROUP, kind)
            .map(|r| r.key())
            .unwrap_or_default()
    };
    let (brokers_key, triggers_key) = (key("Broker"), key("Trigger"));
    let messaging = |kind: &str| {
        registry
            .lookup_group_kind("messaging.knative.dev", kind)
            .map(|r| r.key())
            .unwrap_or_default()
    };
    let (channels_key, imcs_key, subs_key) = (
        messaging("Channel"),
        messaging("InMemoryChannel"),
        messaging("Subscription"),
    );
    let cm_key = registry
        .lookup_group_kind("", "ConfigMap")
        .map(|r| r.key())
        .unwrap_or_default();
    let relevant = [
        brokers_key.clone(),
        triggers_key.clone(),
        cm_key.clone(),
        channels_key.clone(),
        imcs_key.clone(),
        subs_key.clone(),
    ];
    loop {
        let since = store.current_rv();
        let plan = {
            let list = |k: &str| store.list(k, None).map(|(v, _)| v).unwrap_or_default();
            let (brokers, triggers) = (list(&brokers_key), list(&triggers_key));
            let (channels, imcs, subs) = (list(&channels_key), list(&imcs_key), list(&subs_key));
            let config_map = |ns: &str, name: &str| store.get(&cm_key, ns, name).ok().flatten();
            build(&Inputs {
                brokers: &brokers,
                triggers: &triggers,
                channels: &channels,
                in_memory_channels: &imcs,
                subscriptions: &subs,
                config_map: &config_map,
                default_concurrency: data_plane.config().trigger_concurrency,
            })
        };
        data_plane.apply(&plan).await;
        requeue.kind(broker::GROUP, "Broker");
        requeue.kind(broker::GROUP, "Trigger");
        for kind in ["Channel", "InMemoryChannel", "Subscription"] {
            requeue.kind("messaging.knative.dev", kind);
        }
        if !crate::store_changes::wait(&store, since, &relevant, "data plane", &shutdown).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn broker(name: &str, extra: Value) -> Value {
        let mut b = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
            "spec": {}});
        json_merge(&mut b, extra);
        b
    }

    fn trigger(name: &str, broker: &str, extra: Value) -> Value {
        let mut t = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "generation": 3},
            "spec": {"broker": broker, "subscriber": {"uri": "http://sub/"}},
            "status": {"subscriberUri": "http://sub/"}});
        json_merge(&mut t, extra);
        t
    }

    fn json_merge(a: &mut Value, b: Value) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    json_merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    fn plan(brokers: &[Value], triggers: &[Value], cms: &[Value]) -> Plan {
        let cms = cms.to_vec();
        let lookup = move |ns: &str, name: &str| {
            cms.iter()
                .find(|c| c["metadata"]["namespace"] == ns && c["metadata"]["name"] == name)
                .cloned()
        };
        build(&Inputs {
            brokers,
            triggers,
            channels: &[],
            in_memory_channels: &[],
            subscriptions: &[],
            config_map: &lookup,
            default_concurrency: 7,
        })
    }

    #[test]
    fn storage_follows_the_channel() {
        let imc_template = json!({"metadata": {"annotations": {
            "herald.dev/channel-template-spec": "{\"apiVersion\":\"messaging.knative.dev/v1alpha1\",\"kind\":\"InMemoryChannel\"}"}}});
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "imc", "namespace": "knative-eventing"},
            "data": {"channel-template-spec": "apiVersion: messaging.knative.dev/v1\nkind: InMemoryChannel\n"}});
        let cases = [
            (broker("plain", json!({})), Storage::Durable),
            (broker("seeds", imc_template), Storage::Memory),
            (
                broker(
                    "direct",
                    json!({"spec": {"config": {"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel", "name": "x"}}}),
                ),
                Storage::Memory,
            ),
            (
                broker(
                    "viacm",
                    json!({"spec": {"config": {"apiVersion": "v1", "kind": "ConfigMap", "name": "imc", "namespace": "knative-eventing"}}}),
                ),
                Storage::Memory,
            ),
            (
                broker(
                    "missingcm",
                    json!({"spec": {"config": {"apiVersion": "v1", "kind": "ConfigMap", "name": "nope"}}}),
                ),
                Storage::Durable,
            ),
        ];
        for (b, want) in cases {
            let name = b["metadata"]["name"].as_str().unwrap().to_string();
            let p = plan(&[b], &[], std::slice::from_ref(&cm));
            assert_eq!(
                p.brokers[&BrokerKey::new("default", &name)].storage,
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn trigger_delivery_replaces_the_brokers() {
        let b = broker(
            "b",
            json!({"spec": {"delivery": {"retry": 5, "backoffPolicy": "linear", "backoffDelay": "PT1S"}}}),
        );
        let own = trigger(
            "own",
            "b",
            json!({"spec": {"delivery": {"retry": 1, "timeout": "PT2S", "format": "json"}},
            "status": {"deadLetterSinkUri": "http://dls/"}}),
        );
        let inherit = trigger("inherit", "b", json!({}));
        let p = plan(&[b], &[own, inherit], &[]);
        let bp = &p.brokers[&BrokerKey::new("default", "b")];
        let own = &bp.triggers["own"].delivery;
        assert_eq!(own.retry, 1);
        assert_eq!(
            own.backoff_delay, None,
            "nothing inherited from the broker (DP-44)"
        );
        assert_eq!(own.timeout, Some(Duration::from_secs(2)));
        assert_eq!(own.format, Some(Format::Json));
        assert_eq!(own.dead_letter_sink.as_deref(), Some("http://dls/"));
        let inherit = &bp.triggers["inherit"].delivery;
        assert_eq!(inherit.retry, 5);
        assert_eq!(inherit.backoff_policy, BackoffPolicy::Linear);
        assert_eq!(inherit.backoff_delay, Some(Duration::from_secs(1)));
    }

    #[test]
    fn triggers_that_cannot_run() {
        let b = broker("b", json!({}));
        let unresolved = trigger("unresolved", "b", json!({"status": {"subscriberUri": ""}}));
        // Admission rejects unparsable CESQL; an object stored before that still cannot run.
        let cesql = trigger(
            "cesql",
            "b",
            json!({"spec": {"filters": [{"cesql": "type = "}]}}),
        );
        let orphan = trigger("orphan", "missing", json!({}));
        let ordered = trigger(
            "ordered",
            "b",
            json!({"metadata": {"annotations": {
            "herald.dev/delivery.order": "ordered", "herald.dev/delivery.concurrency": "3"}}}),
        );
        let p = plan(&[b], &[unresolved, cesql, orphan, ordered], &[]);
        let bp = &p.brokers[&BrokerKey::new("default", "b")];
        assert_eq!(bp.triggers.keys().collect::<Vec<_>>(), ["ordered"]);
        assert!(bp.triggers["ordered"].ordered);
        assert_eq!(bp.triggers["ordered"].concurrency, 3);
        assert_eq!(bp.triggers["ordered"].generation, 3);
        assert_eq!(bp.failed_triggers["cesql"].0, "FilterInvalid");
        // Cursors of existing but idle triggers are kept; the orphan belongs to no broker here.
        assert!(bp.known_trigger_uids.contains("uid-unresolved"));
        assert!(bp.known_trigger_uids.contains("uid-cesql"));
        assert!(!bp.known_trigger_uids.contains("uid-orphan"));
    }
}
