//! Sources: the sink resolved into `status.sinkUri`, the CloudEvent attributes each source emits
//! in `status.ceAttributes` (reference §7; the source-duck EventType registry reads them), and the
//! runtime conditions from the source runtime's per-generation readiness. Kinds without a runtime
//! in this build keep those conditions False `NotImplemented` — never Ready.

use herald_api::conditions::ConditionSet;
use herald_api::messaging::channelable::DeliveryStatus;
use herald_api::meta::{CloudEventAttributes, Destination, SourceStatus};
use herald_api::object::Object;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

use super::common::*;
use super::{Child, Outcome, ReconcileError};
use crate::env::{DataPlaneKind, Env};
use crate::view::View;

pub const SINK_PROVIDED: &str = "SinkProvided";

/// One source kind: its conditions, which of them reports the sink, and its event attributes.
pub struct SourceKind {
    pub kind: &'static str,
    pub conditions: ConditionSet,
    pub sink_condition: &'static str,
    pub ce_attributes:
        fn(spec: &Value, namespace: &str, name: &str, env: &Env) -> Vec<CloudEventAttributes>,
    /// Whether this build runs the source (its runtime reports readiness).
    pub runtime: bool,
    /// Resource name of a webhook source: its endpoint URL goes into `status.webhookUrl`.
    pub webhook: Option<&'static str>,
}

const DEPLOYED_SINK: ConditionSet = ConditionSet::new(&["Deployed", SINK_PROVIDED]);

pub const PING: SourceKind = SourceKind {
    kind: "PingSource",
    conditions: herald_api::sources::ping::CONDITIONS,
    sink_condition: SINK_PROVIDED,
    ce_attributes: ping,
    runtime: true,
    webhook: None,
};
pub const API_SERVER: SourceKind = SourceKind {
    kind: "ApiServerSource",
    conditions: herald_api::sources::apiserver::CONDITIONS,
    sink_condition: SINK_PROVIDED,
    ce_attributes: api_server,
    runtime: true,
    webhook: None,
};
/// Knative runs a ContainerSource as a Deployment plus a SinkBinding; the SinkBinding's
/// readiness is the sink's resolution.
pub const CONTAINER: SourceKind = SourceKind {
    kind: "ContainerSource",
    conditions: herald_api::sources::container::CONDITIONS,
    sink_condition: "SinkBindingReady",
    ce_attributes: none,
    runtime: true,
    webhook: None,
};
pub const SINK_BINDING: SourceKind = SourceKind {
    kind: "SinkBinding",
    conditions: herald_api::sources::sinkbinding::CONDITIONS,
    sink_condition: SINK_PROVIDED,
    ce_attributes: none,
    runtime: true,
    webhook: None,
};
pub const KAFKA: SourceKind = SourceKind {
    kind: "KafkaSource",
    conditions: herald_api::sources::kafka::CONDITIONS,
    sink_condition: SINK_PROVIDED,
    ce_attributes: kafka,
    runtime: true,
    webhook: None,
};
pub const GITHUB: SourceKind = SourceKind {
    kind: "GitHubSource",
    conditions: herald_api::sources::github::CONDITIONS,
    sink_condition: SINK_PROVIDED,
    ce_attributes: github,
    runtime: true,
    webhook: Some("githubsources"),
};
pub const GITLAB: SourceKind = SourceKind {
    kind: "GitLabSource",
    conditions: herald_api::sources::gitlab::CONDITIONS,
    sink_condition: SINK_PROVIDED,
    ce_attributes: gitlab,
    runtime: true,
    webhook: Some("gitlabsources"),
};
pub const GCP_PUBSUB: SourceKind = SourceKind {
    kind: "GcpPubSubSource",
    conditions: DEPLOYED_SINK,
    sink_condition: SINK_PROVIDED,
    ce_attributes: gcp_pubsub,
    runtime: true,
    webhook: None,
};
pub const AWS_SQS: SourceKind = SourceKind {
    kind: "AwsSqsSource",
    conditions: DEPLOYED_SINK,
    sink_condition: SINK_PROVIDED,
    ce_attributes: aws_sqs,
    runtime: true,
    webhook: None,
};
pub const NATS_JETSTREAM: SourceKind = SourceKind {
    kind: "NatsJetStreamSource",
    conditions: herald_api::sources::natsjetstream::CONDITIONS,
    sink_condition: SINK_PROVIDED,
    ce_attributes: nats_jetstream,
    runtime: true,
    webhook: None,
};
pub const REDIS_STREAM: SourceKind = SourceKind {
    kind: "RedisStreamSource",
    conditions: herald_api::sources::redisstream::CONDITIONS,
    sink_condition: SINK_PROVIDED,
    ce_attributes: redis_stream,
    runtime: true,
    webhook: None,
};
pub const RABBITMQ: SourceKind = SourceKind {
    kind: "RabbitmqSource",
    conditions: herald_api::sources::rabbitmq::CONDITIONS,
    sink_condition: SINK_PROVIDED,
    ce_attributes: rabbitmq,
    runtime: true,
    webhook: None,
};

/// The source kinds with a reconciler.
pub const ALL: &[&SourceKind] = &[
    &PING,
    &API_SERVER,
    &CONTAINER,
    &SINK_BINDING,
    &KAFKA,
    &GITHUB,
    &GITLAB,
    &GCP_PUBSUB,
    &AWS_SQS,
    &NATS_JETSTREAM,
    &REDIS_STREAM,
    &RABBITMQ,
];

pub fn by_kind(kind: &str) -> Option<&'static SourceKind> {
    ALL.iter().copied().find(|k| k.kind == kind)
}

/// A source's status: the duck `SourceStatus` this reconciler owns, plus whatever else the kind
/// keeps there (ApiServerSource `namespaces`, KafkaSource `consumers`…), carried through untouched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnySourceStatus {
    #[serde(flatten)]
    pub source: SourceStatus,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The `SourceStatus` duck's own fields (everything else in a source's status is kind-specific).
const DUCK_STATUS_FIELDS: &[&str] = &[
    "conditions",
    "observedGeneration",
    "annotations",
    "sinkUri",
    "sinkCACerts",
    "sinkAudience",
    "ceAttributes",
    "auth",
];

/// A source in storage form; only `spec.sink` and the attribute-bearing fields are read.
pub type Source = Object<Value, AnySourceStatus>;

pub fn reconcile(
    k: &SourceKind,
    s: &Source,
    view: &dyn View,
    env: &Env,
) -> Outcome<AnySourceStatus> {
    let (ns, name, now) = (s.namespace(), s.name(), env.now.as_str());
    let mut any = s.status.clone().unwrap_or_default();
    // serde hands a flattened map every key, the duck fields too: left there they would be
    // serialized after (and win over) the freshly computed ones.
    any.extra
        .retain(|k, _| !DUCK_STATUS_FIELDS.contains(&k.as_str()));
    let st = &mut any.source;
    let set = &k.conditions;
    let c = &mut st.status.conditions;
    set.initialize(c, now);
    mark_disabled_features(set, c, now);

    let sink = sink_of(&s.spec);
    let resolved = mark_resolved(
        set,
        c,
        k.sink_condition,
        resolve_dest(&sink, ns, view, env),
        now,
    );
    st.sink_uri = resolved.as_ref().map(|r| r.uri.clone());
    st.sink_ca_certs = resolved.as_ref().and_then(|r| r.ca_certs.clone());
    st.sink_audience = resolved.and_then(|r| r.audience);
    st.ce_attributes = (k.ce_attributes)(&s.spec, ns, name, env);
    dead_letter_sink(k, s, &mut any, view, env);

    if let Some(plural) = k.webhook {
        any.extra.insert(
            "webhookUrl".into(),
            Value::String(env.ingress_url(&["sources", ns, plural, name])),
        );
    }
    let c = &mut any.source.status.conditions;
    let runtime_conds = remaining(set, &[k.sink_condition]);
    if k.runtime {
        let generation = s.metadata.generation.unwrap_or(0);
        let readiness = env.data_plane_at(DataPlaneKind::Source(k.kind), ns, name, generation);
        mark_data_plane(set, c, &runtime_conds, &readiness, now);
    } else {
        for cond in runtime_conds {
            mark_not_implemented(set, c, cond, k.kind, now);
        }
    }
    let children = event_types(s, &sink, &any.source.ce_attributes);
    Outcome {
        status: any,
        children,
    }
}

/// `spec.delivery.deadLetterSink` (KafkaSource) resolved into `status.deadLetterSinkUri` (and
/// its CA certificates and audience), as Knative's `DeliveryStatus`. One that does not resolve
/// makes the sink condition False, so the source is not Ready (it keeps running: a refused
/// record then stalls its partition as without a dead-letter sink).
fn dead_letter_sink(
    k: &SourceKind,
    s: &Source,
    any: &mut AnySourceStatus,
    view: &dyn View,
    env: &Env,
) {
    for f in DELIVERY_STATUS_FIELDS {
        any.extra.remove(*f);
    }
    let Some(dls) = s.spec.pointer("/delivery/deadLetterSink") else {
        return;
    };
    let dest: Destination = serde_json::from_value(dls.clone()).unwrap_or_default();
    match resolve_dest(&dest, s.namespace(), view, env) {
        Ok(r) => {
            let mut d = DeliveryStatus::default();
            set_delivery_status(&mut d, Some(r));
            if let Ok(Value::Object(m)) = serde_json::to_value(d) {
                any.extra.extend(m);
            }
        }
        Err(e) => {
            let c = &mut any.source.status.conditions;
            let msg = format!("dead letter sink: {}", e.message);
            k.conditions
                .mark_false(c, k.sink_condition, e.reason, &msg, &env.now);
        }
    }
}

/// The `DeliveryStatus` fields a source with a dead-letter sink carries in its status.
const DELIVERY_STATUS_FIELDS: &[&str] = &[
    "deadLetterSinkUri",
    "deadLetterSinkCACerts",
    "deadLetterSinkAudience",
];

/// Label Knative puts on the EventTypes a source registers.
pub const SOURCE_NAME_LABEL: &str = "eventing.knative.dev/sourceName";

/// The EventTypes a source registers (Knative's source-duck reconciler, reference §6.5.2): one
/// per `ceAttributes` entry, only while the sink is a reference (the seeds: "sources whose sink
/// is a Broker"; current Knative: any Addressable). Owned by the source, so they follow its
/// changes and go with it. Named `<type>-<hash>` like the seeds' `dev.knative.source.github.push-xxx`
/// (Knative uses a bare md5), the hash taken over type, source and the source's UID.
fn event_types(s: &Source, sink: &Destination, attrs: &[CloudEventAttributes]) -> Vec<Child> {
    let (Some(reference), Some(uid)) = (&sink.ref_, s.metadata.uid.as_deref()) else {
        return Vec::new();
    };
    let mut reference = reference.clone();
    if reference.namespace.is_none() {
        reference.namespace = Some(s.namespace().to_string());
    }
    attrs
        .iter()
        .filter(|a| !a.type_.is_empty())
        .map(|a| {
            let name = event_type_name(&a.type_, &a.source, uid);
            let attribute = |n: &str, v: Option<&str>| match v {
                Some(v) => json!({"name": n, "required": true, "value": v}),
                None => json!({"name": n, "required": true}),
            };
            Child {
                resource: crate::children::EVENT_TYPES.into(),
                object: json!({
                    "apiVersion": herald_api::eventing::eventtype::API_VERSION,
                    "kind": "EventType",
                    "metadata": {
                        "name": name,
                        "namespace": s.namespace(),
                        "labels": {SOURCE_NAME_LABEL: s.name()},
                        "ownerReferences": [crate::children::controller_ref(
                            &s.api_version, &s.kind, s.name(), uid)],
                    },
                    "spec": {
                        "reference": reference,
                        "description": format!("Event type emitted by the {} {}", s.kind, s.name()),
                        "attributes": [
                            attribute("type", Some(&a.type_)),
                            attribute("source", Some(&a.source)),
                            attribute("specversion", Some("1.0")),
                            attribute("id", None),
                        ],
                    },
                }),
            }
        })
        .collect()
}

/// `<DNS-1123 form of type>-<10 hex digits>`, at most 253 characters.
pub fn event_type_name(type_: &str, source: &str, uid: &str) -> String {
    // FNV-1a: stable across builds and platforms (std's hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in [type_, "\0", source, "\0", uid].concat().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut prefix: String = type_
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.' | '-') => c,
            _ => '-',
        })
        .collect();
    prefix.truncate(240);
    let prefix = prefix.trim_matches(|c| c == '-' || c == '.');
    let hash = format!("{:010x}", h & 0xff_ffff_ffff);
    if prefix.is_empty() {
        format!("et-{hash}")
    } else {
        format!("{prefix}-{hash}")
    }
}

/// The JSON reconciler for a source kind (by storage kind name).
pub fn reconcile_json(obj: &Value, view: &dyn View, env: &Env) -> Result<Outcome, ReconcileError> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let k = by_kind(kind)
        .ok_or_else(|| ReconcileError::Decode(format!("{kind} is not a source kind")))?;
    let s: Source =
        herald_api::registry::decode(obj).map_err(|e| ReconcileError::Decode(e.to_string()))?;
    let out = reconcile(k, &s, view, env);
    let status =
        serde_json::to_value(&out.status).map_err(|e| ReconcileError::Encode(e.to_string()))?;
    Ok(Outcome {
        status,
        children: out.children,
    })
}

/// `spec.sink` as a Destination. Pre-v1 sources (the seeds' `sources.eventing.knative.dev/v1alpha1`
/// KafkaSource) had an ObjectReference sink (`{apiVersion, kind, name}`) with no `ref`: read it as
/// a ref in case conversion left it that way.
pub fn sink_of(spec: &Value) -> Destination {
    let Some(v) = spec.get("sink") else {
        return Destination::default();
    };
    let mut d: Destination = serde_json::from_value(v.clone()).unwrap_or_default();
    if d.ref_.is_none() && d.uri.is_none() && v.get("kind").is_some() {
        d.ref_ = serde_json::from_value(v.clone()).ok();
    }
    d
}

fn attr(type_: impl Into<String>, source: impl Into<String>) -> CloudEventAttributes {
    CloudEventAttributes {
        type_: type_.into(),
        source: source.into(),
    }
}

/// A list field; a comma-separated string (pre-v1 KafkaSource `topics`) counts as a list.
fn strings<'a>(spec: &'a Value, field: &str) -> Vec<&'a str> {
    match spec.get(field) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

fn str_field<'a>(spec: &'a Value, field: &str) -> &'a str {
    spec.get(field).and_then(Value::as_str).unwrap_or("")
}

fn none(_: &Value, _: &str, _: &str, _: &Env) -> Vec<CloudEventAttributes> {
    Vec::new()
}

fn ping(_: &Value, ns: &str, name: &str, _: &Env) -> Vec<CloudEventAttributes> {
    vec![attr(
        "dev.knative.sources.ping",
        format!("/apis/v1/namespaces/{ns}/pingsources/{name}"),
    )]
}

/// The three event types of the source's mode; `source` is Herald's API URL (Knative uses the
/// Kubernetes API server's URL).
fn api_server(spec: &Value, _: &str, _: &str, env: &Env) -> Vec<CloudEventAttributes> {
    let mode = if str_field(spec, "mode") == "Resource" {
        "resource"
    } else {
        "ref"
    };
    ["add", "update", "delete"]
        .iter()
        .map(|op| {
            attr(
                format!("dev.knative.apiserver.{mode}.{op}"),
                env.api_base_url.clone(),
            )
        })
        .collect()
}

fn kafka(spec: &Value, ns: &str, name: &str, _: &Env) -> Vec<CloudEventAttributes> {
    strings(spec, "topics")
        .into_iter()
        .map(|t| {
            attr(
                "dev.knative.kafka.event",
                format!("/apis/v1/namespaces/{ns}/kafkasources/{name}#{t}"),
            )
        })
        .collect()
}

fn github(spec: &Value, _: &str, _: &str, _: &Env) -> Vec<CloudEventAttributes> {
    let source = format!(
        "https://github.com/{}",
        str_field(spec, "ownerAndRepository")
    );
    strings(spec, "eventTypes")
        .into_iter()
        .map(|t| attr(format!("dev.knative.source.github.{t}"), source.clone()))
        .collect()
}

/// GitLab's `spec.eventTypes` are hook options (`push_events`); the emitted type is the
/// snake-cased `X-Gitlab-Event` without " Hook" (`Push Hook` → `push`).
fn gitlab(spec: &Value, _: &str, _: &str, _: &Env) -> Vec<CloudEventAttributes> {
    let source = str_field(spec, "projectUrl");
    strings(spec, "eventTypes")
        .into_iter()
        .map(|t| {
            let event = match t {
                "push_events" => "push",
                "tag_push_events" => "tag_push",
                "issues_events" => "issue",
                "confidential_issues_events" => "confidential_issue",
                "note_events" => "note",
                "confidential_note_events" => "confidential_note",
                "merge_requests_events" => "merge_request",
                "wiki_page_events" => "wiki_page",
                "pipeline_events" => "pipeline",
                "job_events" => "job",
                "deployment_events" => "deployment",
                "releases_events" => "release",
                other => other.strip_suffix("_events").unwrap_or(other),
            };
            attr(format!("dev.knative.sources.gitlab.{event}"), source)
        })
        .collect()
}

fn gcp_pubsub(spec: &Value, _: &str, _: &str, _: &Env) -> Vec<CloudEventAttributes> {
    let (project, topic) = (str_field(spec, "project"), str_field(spec, "topic"));
    if topic.is_empty() {
        return Vec::new();
    }
    vec![attr(
        "google.cloud.pubsub.topic.v1.messagePublished",
        format!("//pubsub.googleapis.com/projects/{project}/topics/{topic}"),
    )]
}

fn aws_sqs(spec: &Value, _: &str, _: &str, _: &Env) -> Vec<CloudEventAttributes> {
    vec![attr("aws.sqs.message", str_field(spec, "queueUrl"))]
}

/// Only messages that are not already CloudEvents get this type and source (docs/sources/natsjetstream.md).
fn nats_jetstream(spec: &Value, ns: &str, name: &str, _: &Env) -> Vec<CloudEventAttributes> {
    let stream = str_field(spec, "stream");
    if stream.is_empty() {
        return Vec::new();
    }
    vec![attr(
        "dev.herald.sources.natsjetstream",
        format!("/apis/v1/namespaces/{ns}/natsjetstreamsources/{name}#{stream}"),
    )]
}

/// eventing-redis' adapter: `source` is `<address>/<stream>` (made a valid URI reference).
fn redis_stream(spec: &Value, _: &str, _: &str, _: &Env) -> Vec<CloudEventAttributes> {
    vec![attr(
        "dev.knative.sources.redisstream",
        herald_api::sources::redisstream::event_source(
            str_field(spec, "address"),
            str_field(spec, "stream"),
        ),
    )]
}

/// Messages that are not CloudEvents become `dev.knative.rabbitmq.event` from the queue.
fn rabbitmq(spec: &Value, ns: &str, name: &str, _: &Env) -> Vec<CloudEventAttributes> {
    let queue = spec
        .pointer("/rabbitmqResourcesConfig/queueName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    vec![attr(
        herald_api::sources::rabbitmq::EVENT_TYPE,
        herald_api::sources::rabbitmq::event_source(ns, name, queue),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, cond};
    use serde_json::json;

    fn source(kind: &str, spec: Value) -> Value {
        json!({"apiVersion": "sources.knative.dev/v1", "kind": kind,
               "metadata": {"namespace": "ns", "name": "s", "generation": 1}, "spec": spec})
    }

    fn broker_sink() -> Value {
        json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "b"}})
    }

    /// The seeds' registry example (issue 7): a KafkaSource with two topics and a Broker sink
    /// registers two EventTypes; a URI sink registers none.
    #[test]
    fn event_types_for_ref_sinks() {
        let mut obj = source(
            "KafkaSource",
            json!({"topics": "knative-demo,news",
                   "sink": {"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "Broker", "name": "default"}}),
        );
        obj["metadata"]["name"] = json!("kafka-sample");
        obj["metadata"]["namespace"] = json!("default");
        obj["metadata"]["uid"] = json!("u-1");
        let out = reconcile_json(&obj, &testing::view(), &testing::env())
            .unwrap_or_else(|e| panic!("{e}"));
        let ets: Vec<&Value> = out.children.iter().map(|c| &c.object).collect();
        assert_eq!(ets.len(), 2);
        for (et, topic) in ets.iter().zip(["knative-demo", "news"]) {
            let attrs = &et["spec"]["attributes"];
            assert_eq!(
                attrs[0],
                json!({"name": "type", "required": true, "value": "dev.knative.kafka.event"})
            );
            assert_eq!(
                attrs[1]["value"],
                format!("/apis/v1/namespaces/default/kafkasources/kafka-sample#{topic}")
            );
            assert_eq!(et["spec"]["reference"]["kind"], "Broker");
            assert_eq!(et["spec"]["reference"]["name"], "default");
            assert_eq!(et["spec"]["reference"]["namespace"], "default");
            assert_eq!(et["metadata"]["labels"][SOURCE_NAME_LABEL], "kafka-sample");
            assert_eq!(et["metadata"]["ownerReferences"][0]["uid"], "u-1");
            assert!(
                et["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("dev.knative.kafka.event-"),
                "{}",
                et["metadata"]["name"]
            );
        }
        assert_ne!(ets[0]["metadata"]["name"], ets[1]["metadata"]["name"]);
        obj["spec"]["sink"] = json!({"uri": "http://x"});
        let out = reconcile_json(&obj, &testing::view(), &testing::env())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.children.is_empty(), "a URI sink registers nothing");
    }

    /// `spec.delivery.deadLetterSink` resolves into `status.deadLetterSinkUri`; one that does
    /// not resolve makes the sink condition False.
    #[test]
    fn kafka_dead_letter_sink_resolves_into_status() {
        let spec = |dls: Value| {
            json!({"topics": ["a"], "bootstrapServers": ["k:9092"], "sink": {"uri": "http://x"},
                   "delivery": {"deadLetterSink": dls}})
        };
        let ok = source("KafkaSource", spec(broker_sink()));
        let out = reconcile_json(&ok, &testing::view(), &testing::env())
            .unwrap_or_else(|e| panic!("{e}"));
        let st = &out.status;
        assert_eq!(st["deadLetterSinkUri"], "http://in/ns/b");
        assert_eq!(cond(st, "SinkProvided").0, "True");

        let gone = json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "gone"}});
        let bad = source("KafkaSource", spec(gone));
        let out = reconcile_json(&bad, &testing::view(), &testing::env())
            .unwrap_or_else(|e| panic!("{e}"));
        let st = &out.status;
        assert_eq!(st.get("deadLetterSinkUri"), None);
        assert_eq!(cond(st, "SinkProvided").0, "False");
        assert_eq!(st["sinkUri"], "http://x");
    }

    #[test]
    fn event_type_names_are_dns_names() {
        let n = event_type_name(
            "dev.knative.source.github.push",
            "https://github.com/o/r",
            "uid",
        );
        assert!(n.starts_with("dev.knative.source.github.push-"), "{n}");
        assert_eq!(n.len(), "dev.knative.source.github.push-".len() + 10);
        assert_eq!(
            n,
            event_type_name(
                "dev.knative.source.github.push",
                "https://github.com/o/r",
                "uid"
            )
        );
        assert_ne!(
            n,
            event_type_name(
                "dev.knative.source.github.push",
                "https://github.com/o/r2",
                "uid"
            )
        );
        assert!(event_type_name("My_Type!", "s", "u").starts_with("my-type-"));
        assert!(event_type_name("__", "s", "u").starts_with("et-"));
    }

    #[test]
    fn table() {
        type Want = &'static [(&'static str, &'static str, &'static str)];
        let cases: Vec<(&str, Value, Want, Option<&str>, Value)> = vec![
            (
                "ping",
                source(
                    "PingSource",
                    json!({"schedule": "* * * * *", "sink": broker_sink()}),
                ),
                &[
                    ("SinkProvided", "True", ""),
                    ("Deployed", "False", "DataPlaneUnavailable"),
                    ("Ready", "False", "DataPlaneUnavailable"),
                ],
                Some("http://in/ns/b"),
                json!([{"type": "dev.knative.sources.ping", "source": "/apis/v1/namespaces/ns/pingsources/s"}]),
            ),
            (
                "ping without resolvable sink",
                source(
                    "PingSource",
                    json!({"sink": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "gone"}}}),
                ),
                &[("SinkProvided", "False", "NotFound")],
                None,
                json!([{"type": "dev.knative.sources.ping", "source": "/apis/v1/namespaces/ns/pingsources/s"}]),
            ),
            (
                "apiserver reference mode",
                source("ApiServerSource", json!({"sink": {"uri": "http://x"}})),
                &[("SufficientPermissions", "False", "DataPlaneUnavailable")],
                Some("http://x"),
                json!([
                    {"type": "dev.knative.apiserver.ref.add", "source": "http://api"},
                    {"type": "dev.knative.apiserver.ref.update", "source": "http://api"},
                    {"type": "dev.knative.apiserver.ref.delete", "source": "http://api"},
                ]),
            ),
            (
                "apiserver resource mode",
                source(
                    "ApiServerSource",
                    json!({"mode": "Resource", "sink": {"uri": "http://x"}}),
                ),
                &[],
                Some("http://x"),
                json!([
                    {"type": "dev.knative.apiserver.resource.add", "source": "http://api"},
                    {"type": "dev.knative.apiserver.resource.update", "source": "http://api"},
                    {"type": "dev.knative.apiserver.resource.delete", "source": "http://api"},
                ]),
            ),
            (
                "kafka",
                source(
                    "KafkaSource",
                    json!({"topics": ["a", "b"], "bootstrapServers": ["k:9092"], "sink": broker_sink()}),
                ),
                &[("Deployed", "False", "DataPlaneUnavailable")],
                Some("http://in/ns/b"),
                json!([
                    {"type": "dev.knative.kafka.event", "source": "/apis/v1/namespaces/ns/kafkasources/s#a"},
                    {"type": "dev.knative.kafka.event", "source": "/apis/v1/namespaces/ns/kafkasources/s#b"},
                ]),
            ),
            (
                "pre-v1 kafka seed",
                source(
                    "KafkaSource",
                    json!({"topics": "knative-demo,news", "sink": {"apiVersion": "eventing.knative.dev/v1alpha1", "kind": "Broker", "name": "b"}}),
                ),
                &[("SinkProvided", "True", "")],
                Some("http://in/ns/b"),
                json!([
                    {"type": "dev.knative.kafka.event", "source": "/apis/v1/namespaces/ns/kafkasources/s#knative-demo"},
                    {"type": "dev.knative.kafka.event", "source": "/apis/v1/namespaces/ns/kafkasources/s#news"},
                ]),
            ),
            (
                "github",
                source(
                    "GitHubSource",
                    json!({"ownerAndRepository": "o/r", "eventTypes": ["push"], "sink": {"uri": "http://x"}}),
                ),
                &[],
                Some("http://x"),
                json!([{"type": "dev.knative.source.github.push", "source": "https://github.com/o/r"}]),
            ),
            (
                "gitlab",
                source(
                    "GitLabSource",
                    json!({"projectUrl": "https://gitlab.com/o/r", "eventTypes": ["push_events", "merge_requests_events"], "sink": {"uri": "http://x"}}),
                ),
                &[],
                Some("http://x"),
                json!([
                    {"type": "dev.knative.sources.gitlab.push", "source": "https://gitlab.com/o/r"},
                    {"type": "dev.knative.sources.gitlab.merge_request", "source": "https://gitlab.com/o/r"},
                ]),
            ),
            (
                "container source",
                source("ContainerSource", json!({"sink": {"uri": "http://x"}})),
                &[
                    ("SinkBindingReady", "True", ""),
                    ("ReceiveAdapterReady", "False", "DataPlaneUnavailable"),
                ],
                Some("http://x"),
                Value::Null,
            ),
            (
                "apiserver keeps its other status fields",
                json!({"apiVersion": "sources.knative.dev/v1", "kind": "ApiServerSource",
                       "metadata": {"namespace": "ns", "name": "s", "generation": 1},
                       "spec": {"sink": {"uri": "http://x"}}, "status": {"namespaces": ["ns"]}}),
                &[("SinkProvided", "True", "")],
                Some("http://x"),
                json!([
                    {"type": "dev.knative.apiserver.ref.add", "source": "http://api"},
                    {"type": "dev.knative.apiserver.ref.update", "source": "http://api"},
                    {"type": "dev.knative.apiserver.ref.delete", "source": "http://api"},
                ]),
            ),
            (
                "aws sqs",
                source(
                    "AwsSqsSource",
                    json!({"queueUrl": "https://sqs/q", "sink": {"uri": "http://x"}}),
                ),
                &[],
                Some("http://x"),
                json!([{"type": "aws.sqs.message", "source": "https://sqs/q"}]),
            ),
        ];
        for (name, obj, want, sink, ce) in cases {
            let st = reconcile_json(&obj, &testing::view(), &testing::env())
                .map(|o| o.status)
                .unwrap_or_default();
            for (t, s, r) in want {
                assert_eq!(cond(&st, t), (s.to_string(), r.to_string()), "{name}: {t}");
            }
            assert_eq!(st["sinkUri"].as_str(), sink, "{name}");
            assert_eq!(st["ceAttributes"], ce, "{name}");
            assert_eq!(cond(&st, "Ready").0, "False", "{name}: never ready");
            if name.starts_with("apiserver keeps") {
                assert_eq!(st["namespaces"], json!(["ns"]), "{name}");
            }
        }
        // A changed runtime readiness and sink replace the stored status (flattened duck fields
        // must not shadow the new ones).
        let mut stale = source("ContainerSource", json!({"sink": {"uri": "http://new"}}));
        stale["status"] = json!({"sinkUri": "http://old", "conditions": [{"type": "Ready", "status": "Unknown"}], "extra": 1});
        let st = reconcile_json(&stale, &testing::view(), &testing::env())
            .map(|o| o.status)
            .unwrap_or_default();
        assert_eq!(st["sinkUri"], "http://new");
        assert_eq!(cond(&st, "Ready").0, "False");
        assert_eq!(st["extra"], 1);
        let st = reconcile_json(
            &source("PingSource", json!({"sink": broker_sink()})),
            &testing::view(),
            &testing::env(),
        )
        .map(|o| o.status)
        .unwrap_or_default();
        assert_eq!(
            st["conditions"][0]["message"],
            "Herald's PingSource data plane is not available in this build"
        );
    }
}
