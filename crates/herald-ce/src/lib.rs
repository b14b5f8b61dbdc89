//! CloudEvents 1.0 (and 0.3) for Herald: the event model and its validation, the HTTP protocol
//! binding (binary, structured and batched modes), the JSON event format, and a compact record
//! encoding for the event log.
//!
//! Pure and synchronous; decoding keeps data bytes exactly as received so events can be re-sent
//! byte-identical in any mode.

mod attr;
mod binary;
mod error;
mod event;
mod http_codec;
mod json_read;
mod json_write;
mod media;
pub mod pct;
mod record;
mod rfc3339;
mod spec;
mod uri;
mod validate;

pub use attr::{AttrValue, is_valid_name};
pub use error::CeError;
pub use event::{Data, Event};
pub use http_codec::{
    Mode, decode_http, encode_batch, encode_binary, encode_structured, is_cloudevent,
};
pub use json_read::{batch_from_json, from_json};
pub use json_write::to_json;
pub use record::{decode_record, encode_record};
pub use spec::SpecVersion;
