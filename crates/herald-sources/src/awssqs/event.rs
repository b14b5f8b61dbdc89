//! The `aws.sqs.message` event of Knative's (deprecated) AwsSqsSource adapter: `id` is the SQS
//! `MessageId`, `source` the queue URL, `time` the `SentTimestamp` attribute (now when absent or
//! unreadable), and `data` the whole SQS message as JSON in the shape Go's `encoding/json` gives
//! aws-sdk-go's `sqs.Message`: every field present (`null` when unset), in that struct's order,
//! map keys sorted, `<`, `>`, `&` escaped as `\u003c`…

use std::collections::BTreeMap;

use bytes::Bytes;
use herald_ce::{Data, Event};
use serde::{Deserialize, Serialize};

/// The type of every event (eventing-awssqs `AwsSqsSourceEventType`).
pub const EVENT_TYPE: &str = "aws.sqs.message";

/// One message as the SQS JSON protocol returns it, re-serialised as aws-sdk-go's `sqs.Message`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Message {
    #[serde(default)]
    pub attributes: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default, rename = "MD5OfBody")]
    pub md5_of_body: Option<String>,
    #[serde(default, rename = "MD5OfMessageAttributes")]
    pub md5_of_message_attributes: Option<String>,
    #[serde(default)]
    pub message_attributes: Option<BTreeMap<String, MessageAttributeValue>>,
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub receipt_handle: Option<String>,
}

/// aws-sdk-go's `sqs.MessageAttributeValue` (binary values stay base64, as Go prints `[]byte`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageAttributeValue {
    #[serde(default)]
    pub binary_list_values: Option<Vec<String>>,
    #[serde(default)]
    pub binary_value: Option<String>,
    #[serde(default)]
    pub data_type: Option<String>,
    #[serde(default)]
    pub string_list_values: Option<Vec<String>>,
    #[serde(default)]
    pub string_value: Option<String>,
}

/// The event for `m` received from `queue_url`, `now` being the fallback time.
pub fn to_event(queue_url: &str, m: &Message, now: jiff::Timestamp) -> Event {
    let mut event = Event::new(
        m.message_id.clone().unwrap_or_default(),
        queue_url,
        EVENT_TYPE,
    );
    let sent = m
        .attributes
        .as_ref()
        .and_then(|a| a.get("SentTimestamp"))
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .unwrap_or(now);
    event.time = Some(sent.to_string());
    event.datacontenttype = Some("application/json".into());
    event.data = Some(Data::Binary(Bytes::from(go_json(m).into_bytes())));
    event
}

/// `m` as Go's `encoding/json` writes it (HTML-sensitive characters escaped).
fn go_json(m: &Message) -> String {
    let plain = serde_json::to_string(m).unwrap_or_default();
    // Outside strings JSON has none of these characters, so a plain replace only touches strings.
    let mut out = String::with_capacity(plain.len());
    for c in plain.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn now() -> jiff::Timestamp {
        "2030-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn event_from_a_received_message() {
        let received = json!({
            "MessageId": "5fea7756-0ea4-451a-a703-a558b933e274",
            "ReceiptHandle": "rh",
            "MD5OfBody": "md5",
            "Body": "{\"a\":\"<b&c>\"}",
            "Attributes": {"SentTimestamp": "1700000000123"},
            "MessageAttributes": {"k": {"StringValue": "v", "DataType": "String"}}
        });
        let m: Message = serde_json::from_value(received).unwrap();
        let e = to_event("http://127.0.0.1:5000/123456789012/q", &m, now());
        assert_eq!(e.ty, EVENT_TYPE);
        assert_eq!(e.id, "5fea7756-0ea4-451a-a703-a558b933e274");
        assert_eq!(e.source, "http://127.0.0.1:5000/123456789012/q");
        assert_eq!(e.time.as_deref(), Some("2023-11-14T22:13:20.123Z"));
        assert_eq!(e.datacontenttype.as_deref(), Some("application/json"));
        assert_eq!(
            std::str::from_utf8(e.data.as_ref().unwrap().as_bytes()).unwrap(),
            concat!(
                r#"{"Attributes":{"SentTimestamp":"1700000000123"},"#,
                r#""Body":"{\"a\":\"\u003cb\u0026c\u003e\"}","MD5OfBody":"md5","#,
                r#""MD5OfMessageAttributes":null,"#,
                r#""MessageAttributes":{"k":{"BinaryListValues":null,"BinaryValue":null,"DataType":"String","StringListValues":null,"StringValue":"v"}},"#,
                r#""MessageId":"5fea7756-0ea4-451a-a703-a558b933e274","ReceiptHandle":"rh"}"#
            )
        );
    }

    #[test]
    fn time_falls_back_to_now() {
        for attrs in [
            None,
            Some(json!({"SentTimestamp": "soon"})),
            Some(json!({})),
        ] {
            let m: Message =
                serde_json::from_value(json!({"MessageId": "x", "Attributes": attrs})).unwrap();
            let e = to_event("q", &m, now());
            assert_eq!(e.time.as_deref(), Some("2030-01-01T00:00:00Z"), "{attrs:?}");
        }
    }
}
