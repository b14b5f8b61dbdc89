//! Pure conversions: a pulled Pub/Sub message into Knative-GCP's CloudPubSubSource event, and
//! the names Knative-GCP gives things (reference §7; knative-gcp `pkg/schemas/v1/pubsub.go`,
//! `pkg/pubsub/adapter/converters/pubsub.go`).

use std::collections::BTreeMap;

use herald_ce::{Data, Event};
use serde::Serialize;

use super::api::PubsubMessage;

pub const EVENT_TYPE: &str = "google.cloud.pubsub.topic.v1.messagePublished";
pub const DATA_SCHEMA: &str = "https://raw.githubusercontent.com/googleapis/google-cloudevents/master/proto/google/events/cloud/pubsub/v1/data.proto";
/// Pub/Sub's limit on subscription IDs.
const MAX_ID_LEN: usize = 255;

/// `//pubsub.googleapis.com/projects/<project>/topics/<topic>`.
pub fn event_source(project: &str, topic: &str) -> String {
    format!("//pubsub.googleapis.com/projects/{project}/topics/{topic}")
}

/// Knative-GCP's subscription ID for a source: `cre-src_<ns>_<name>_<uid>`, shortened with a
/// hash when longer than Pub/Sub allows.
pub fn subscription_id(namespace: &str, name: &str, uid: &str) -> String {
    let full = format!("cre-src_{namespace}_{name}_{uid}");
    if full.len() <= MAX_ID_LEN {
        return full;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, full.as_bytes());
    let hash: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // Names and namespaces are ASCII (DNS labels), so byte slicing is on char boundaries.
    let keep = MAX_ID_LEN - hash.len() - 1;
    format!("{}_{hash}", &full[..keep])
}

/// The data of the event: Pub/Sub's push format (knative-gcp `schemasv1.PushMessage`).
#[derive(Serialize)]
struct PushMessage<'a> {
    subscription: &'a str,
    message: InnerMessage<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InnerMessage<'a> {
    message_id: &'a str,
    /// Base64 as Pub/Sub delivers it (Go marshals the `[]byte` the same way).
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attributes: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    publish_time: Option<&'a str>,
}

/// The event for one message. Every message converts: the payload is carried base64-encoded,
/// so no content can be malformed; a missing ID or publish time is left for the emitter to
/// fill (a fresh UUID, the send time).
pub fn to_event(project: &str, topic: &str, subscription_id: &str, msg: &PubsubMessage) -> Event {
    let mut ev = Event::new(
        msg.message_id.clone(),
        event_source(project, topic),
        EVENT_TYPE,
    );
    ev.time = msg.publish_time.clone().filter(|t| !t.is_empty());
    ev.dataschema = Some(DATA_SCHEMA.into());
    ev.datacontenttype = Some("application/json".into());
    let push = PushMessage {
        subscription: subscription_id,
        message: InnerMessage {
            message_id: &msg.message_id,
            data: msg.data.as_deref().filter(|d| !d.is_empty()),
            attributes: &msg.attributes,
            publish_time: ev.time.as_deref(),
        },
    };
    // Serializing plain strings and a string map cannot fail.
    let json = serde_json::to_string(&push).unwrap_or_default();
    ev.data = Some(Data::Json(json));
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(data: Option<&str>, attrs: &[(&str, &str)]) -> PubsubMessage {
        PubsubMessage {
            data: data.map(str::to_string),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            message_id: "1529309436535525".into(),
            publish_time: Some("2020-09-14T17:06:46.363Z".into()),
        }
    }

    #[test]
    fn events_match_knative_gcp() {
        let cases = [
            (
                "data and attributes",
                msg(
                    Some("eyJIZWxsbyI6ICJ3b3JsZCJ9"),
                    &[("Content-Type", "application/json")],
                ),
                r#"{"subscription":"cre-src_ns_src_u1","message":{"messageId":"1529309436535525","data":"eyJIZWxsbyI6ICJ3b3JsZCJ9","attributes":{"Content-Type":"application/json"},"publishTime":"2020-09-14T17:06:46.363Z"}}"#,
            ),
            (
                "no attributes",
                msg(Some("aGk="), &[]),
                r#"{"subscription":"cre-src_ns_src_u1","message":{"messageId":"1529309436535525","data":"aGk=","publishTime":"2020-09-14T17:06:46.363Z"}}"#,
            ),
            (
                "attributes only",
                msg(None, &[("k", "v")]),
                r#"{"subscription":"cre-src_ns_src_u1","message":{"messageId":"1529309436535525","attributes":{"k":"v"},"publishTime":"2020-09-14T17:06:46.363Z"}}"#,
            ),
            (
                "data that is not base64 passes as is",
                msg(Some("%%%"), &[]),
                r#"{"subscription":"cre-src_ns_src_u1","message":{"messageId":"1529309436535525","data":"%%%","publishTime":"2020-09-14T17:06:46.363Z"}}"#,
            ),
        ];
        for (name, m, want) in cases {
            let ev = to_event("proj", "topic", "cre-src_ns_src_u1", &m);
            assert_eq!(ev.ty, EVENT_TYPE, "{name}");
            assert_eq!(
                ev.source,
                "//pubsub.googleapis.com/projects/proj/topics/topic"
            );
            assert_eq!(ev.id, "1529309436535525");
            assert_eq!(ev.time.as_deref(), Some("2020-09-14T17:06:46.363Z"));
            assert_eq!(ev.dataschema.as_deref(), Some(DATA_SCHEMA));
            assert_eq!(ev.datacontenttype.as_deref(), Some("application/json"));
            assert!(ev.extensions.is_empty(), "{name}");
            assert_eq!(ev.data, Some(Data::Json(want.into())), "{name}");
        }
    }

    #[test]
    fn missing_id_and_time_are_left_to_the_emitter() {
        let ev = to_event("p", "t", "s", &PubsubMessage::default());
        assert_eq!((ev.id.as_str(), ev.time), ("", None));
    }

    #[test]
    fn subscription_ids() {
        assert_eq!(subscription_id("ns", "src", "u-1"), "cre-src_ns_src_u-1");
        let long = subscription_id("ns", &"n".repeat(253), "0123");
        assert_eq!(long.len(), 255);
        assert!(long.starts_with("cre-src_ns_nnn"));
        assert_ne!(long, subscription_id("ns", &"n".repeat(252), "0123"));
    }
}
