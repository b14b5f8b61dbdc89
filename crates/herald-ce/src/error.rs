//! The one error type of the crate; messages are meant to be returned to HTTP clients as-is.

/// Everything that can go wrong while decoding, validating or reading back an event.
#[derive(Debug, thiserror::Error)]
pub enum CeError {
    #[error("missing required attribute \"{0}\"")]
    MissingAttribute(&'static str),
    #[error("unsupported specversion \"{0}\"")]
    UnknownSpecVersion(String),
    #[error("invalid attribute \"{name}\": {reason}")]
    InvalidAttribute { name: String, reason: String },
    /// The message is complete (it says where: structured event or batch, line and column).
    #[error("{0}")]
    MalformedJson(String),
    #[error("unsupported content type \"{0}\"")]
    UnsupportedContentType(String),
    #[error("not a CloudEvent: {0}")]
    NotACloudEvent(String),
    #[error("malformed header \"{name}\": {reason}")]
    MalformedHeader { name: String, reason: String },
    #[error("corrupt event record: {0}")]
    Record(String),
    /// One event of a batch is invalid; the whole batch is rejected.
    #[error("event [{index}]: {source}")]
    InBatch {
        index: usize,
        #[source]
        source: Box<CeError>,
    },
}

impl CeError {
    pub(crate) fn invalid(name: &str, reason: impl Into<String>) -> Self {
        CeError::InvalidAttribute {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn header(name: &str, reason: impl Into<String>) -> Self {
        CeError::MalformedHeader {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }
}
