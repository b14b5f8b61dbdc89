//! What one log record holds: the event plus the few HTTP headers Knative passes from producer
//! to subscriber (DP-30) and the W3C trace context (DP-53).
//!
//! Layout (version 1): `u8 version | u16 header count | (u16 len, name, u16 len, value)* | event
//! record (herald-ce)`. Little-endian lengths.

use bytes::Bytes;
use herald_ce::{CeError, Event};

const VERSION: u8 = 1;

/// An event as stored in a Broker's log.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Lower-cased header names with their values.
    pub headers: Vec<(String, String)>,
    pub event: Event,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("unknown envelope version {0}")]
    Version(u8),
    #[error("truncated envelope")]
    Truncated,
    #[error("invalid header text in envelope")]
    Header,
    #[error("event record: {0}")]
    Event(#[from] CeError),
}

/// True for headers Knative passes through (`pkg/utils/headers.go`) plus trace context.
pub fn is_passthrough(name: &str) -> bool {
    name == "x-request-id"
        || name == "retry-after"
        || name.starts_with("knative-")
        || name.starts_with("x-b3-")
        || name == "traceparent"
        || name == "tracestate"
}

/// The passthrough headers of a request or response.
pub fn passthrough_headers(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(n, _)| is_passthrough(n.as_str()))
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

impl Envelope {
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(256);
        out.push(VERSION);
        let headers: Vec<_> = self
            .headers
            .iter()
            .filter(|(n, v)| n.len() <= u16::MAX as usize && v.len() <= u16::MAX as usize)
            .take(u16::MAX as usize)
            .collect();
        out.extend_from_slice(&(headers.len() as u16).to_le_bytes());
        for (n, v) in headers {
            for s in [n, v] {
                out.extend_from_slice(&(s.len() as u16).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        herald_ce::encode_record(&self.event, &mut out);
        Bytes::from(out)
    }

    pub fn decode(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        let (&version, mut rest) = bytes.split_first().ok_or(EnvelopeError::Truncated)?;
        if version != VERSION {
            return Err(EnvelopeError::Version(version));
        }
        let mut take = |n: usize| -> Result<&[u8], EnvelopeError> {
            if rest.len() < n {
                return Err(EnvelopeError::Truncated);
            }
            let (a, b) = rest.split_at(n);
            rest = b;
            Ok(a)
        };
        let u16_at = |b: &[u8]| u16::from_le_bytes([b[0], b[1]]) as usize;
        let count = u16_at(take(2)?);
        let mut headers = Vec::with_capacity(count);
        for _ in 0..count {
            let n = u16_at(take(2)?);
            let name = std::str::from_utf8(take(n)?).map_err(|_| EnvelopeError::Header)?;
            let n = u16_at(take(2)?);
            let value = std::str::from_utf8(take(n)?).map_err(|_| EnvelopeError::Header)?;
            headers.push((name.to_string(), value.to_string()));
        }
        let event = herald_ce::decode_record(rest)?;
        Ok(Envelope { headers, event })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}
