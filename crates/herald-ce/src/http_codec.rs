//! HTTP protocol binding entry points: mode detection, decoding, structured and batch encoding.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

use crate::media::{self, CeFormat};
use crate::{CeError, Event, binary, json_read, json_write};

/// HTTP content mode of a CloudEvents message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Binary,
    Structured,
    Batch,
}

const STRUCTURED_CT: &str = "application/cloudevents+json; charset=utf-8";
const BATCH_CT: &str = "application/cloudevents-batch+json; charset=utf-8";

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

/// True if the message claims to be a CloudEvent: a `ce-specversion` header or a CloudEvents
/// content type (in any format, so unsupported formats get a precise error later).
pub fn is_cloudevent(headers: &HeaderMap) -> bool {
    headers.contains_key("ce-specversion")
        || content_type(headers).is_some_and(|ct| media::ce_format(ct) != CeFormat::NotCe)
}

/// Decodes an HTTP request (or a reply). Batch yields 0..n events, other modes exactly one.
/// Every event is validated.
pub fn decode_http(headers: &HeaderMap, body: Bytes) -> Result<(Mode, Vec<Event>), CeError> {
    let ct = content_type(headers);
    match ct.map_or(CeFormat::NotCe, media::ce_format) {
        CeFormat::Structured => Ok((Mode::Structured, vec![json_read::from_json(&body)?])),
        CeFormat::Batch => Ok((Mode::Batch, json_read::batch_from_json(&body)?)),
        CeFormat::Unsupported => Err(CeError::UnsupportedContentType(
            ct.unwrap_or_default().to_owned(),
        )),
        CeFormat::NotCe if headers.contains_key("ce-specversion") => {
            let ev = binary::decode(headers, body)?;
            ev.validate()?;
            Ok((Mode::Binary, vec![ev]))
        }
        CeFormat::NotCe => Err(CeError::NotACloudEvent(match ct {
            Some(ct) => format!(
                "no ce-specversion header and content type \"{ct}\" is not a CloudEvents format"
            ),
            None => "no ce-specversion header and no content type".to_owned(),
        })),
    }
}

/// Binary mode: `ce-*` headers (percent-encoded), `content-type` from `datacontenttype`, body = data.
pub fn encode_binary(ev: &Event) -> (HeaderMap, Bytes) {
    binary::encode(ev)
}

/// Structured mode: `application/cloudevents+json; charset=utf-8` with the JSON event format.
pub fn encode_structured(ev: &Event) -> (HeaderMap, Bytes) {
    let mut h = HeaderMap::with_capacity(1);
    h.insert(CONTENT_TYPE, HeaderValue::from_static(STRUCTURED_CT));
    (h, Bytes::from(json_write::to_json(ev)))
}

/// Batched mode: `application/cloudevents-batch+json` with a JSON array of events.
pub fn encode_batch(events: &[Event]) -> (HeaderMap, Bytes) {
    let mut h = HeaderMap::with_capacity(1);
    h.insert(CONTENT_TYPE, HeaderValue::from_static(BATCH_CT));
    let mut out = Vec::with_capacity(256 * events.len() + 2);
    out.push(b'[');
    for (i, ev) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_write::write_event(ev, &mut out);
    }
    out.push(b']');
    (h, Bytes::from(out))
}
