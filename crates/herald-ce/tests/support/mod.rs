//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

/// Builds a header map from (name, value) pairs; repeated names are appended, not replaced.
pub fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_bytes(v).unwrap(),
        );
    }
    h
}

pub fn body(s: &[u8]) -> Bytes {
    Bytes::copy_from_slice(s)
}
