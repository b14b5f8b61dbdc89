//! Content negotiation: which representation the `Accept` header asks for (plain objects,
//! `meta.k8s.io` Tables or PartialObjectMetadata) and how to decode request bodies.

use serde_json::Value;

use crate::errors::ApiError;

/// The representation of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr {
    /// The object (or `<Kind>List`) itself.
    Object,
    /// `meta.k8s.io/<version>` Table.
    Table(&'static str),
    /// `PartialObjectMetadata` / `PartialObjectMetadataList`.
    Partial(&'static str),
}

/// Picks the first representation of the Accept header Herald can produce; anything it
/// cannot (protobuf, aggregated discovery) falls through to plain JSON, which clients accept.
pub fn negotiate(accept: Option<&str>) -> Repr {
    let Some(accept) = accept else {
        return Repr::Object;
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let base = parts.next().unwrap_or("");
        if !matches!(base, "application/json" | "*/*" | "application/*") {
            continue;
        }
        let (mut as_, mut g, mut v) = ("", "", "");
        for p in parts {
            if let Some((k, val)) = p.split_once('=') {
                match k.trim() {
                    "as" => as_ = val.trim(),
                    "g" => g = val.trim(),
                    "v" => v = val.trim(),
                    _ => {}
                }
            }
        }
        if as_.is_empty() {
            return Repr::Object;
        }
        if g != "meta.k8s.io" {
            continue;
        }
        let version = match v {
            "v1" => "v1",
            "v1beta1" => "v1beta1",
            _ => continue,
        };
        match as_ {
            "Table" => return Repr::Table(version),
            "PartialObjectMetadata" | "PartialObjectMetadataList" => {
                return Repr::Partial(version);
            }
            _ => continue,
        }
    }
    Repr::Object
}

/// Where a position-carrying parse error came from.
fn is_yaml(content_type: &str) -> bool {
    content_type.contains("yaml")
}

/// Decodes a request body as JSON or (for YAML content types) YAML.
pub fn decode_body(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    if content_type.contains("protobuf") {
        return crate::protobuf::decode(body).map_err(ApiError::UnsupportedMediaType);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "the request body is empty; an object was expected".into(),
        ));
    }
    if is_yaml(content_type) {
        let text = std::str::from_utf8(body)
            .map_err(|e| ApiError::BadRequest(format!("the YAML body is not UTF-8: {e}")))?;
        serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::BadRequest(format!("error converting YAML to JSON: {e}")))
    } else {
        serde_json::from_slice::<Value>(body).map_err(|e| {
            ApiError::BadRequest(format!("couldn't get version/kind; json parse error: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers() {
        let cases = [
            (None, Repr::Object),
            (Some("application/json"), Repr::Object),
            (
                Some(
                    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
                ),
                Repr::Table("v1"),
            ),
            (
                Some("application/json;as=Table;v=v1beta1;g=meta.k8s.io"),
                Repr::Table("v1beta1"),
            ),
            (
                Some(
                    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
                ),
                Repr::Partial("v1"),
            ),
            (
                Some(
                    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
                ),
                Repr::Object,
            ),
            (Some("application/vnd.kubernetes.protobuf"), Repr::Object),
        ];
        for (h, want) in cases {
            assert_eq!(negotiate(h), want, "{h:?}");
        }
    }

    #[test]
    fn bodies() {
        assert!(decode_body("application/json", b"{\"a\":1}").is_ok());
        let e = decode_body("application/json", b"{\"a\":").expect_err("bad json");
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(decode_body("application/apply-patch+yaml", b"a: 1\nb: [x]\n").is_ok());
        let e =
            decode_body("application/apply-patch+yaml", b"a: 1\nb: [1\n").expect_err("bad yaml");
        assert!(e.to_string().contains("line"), "{e}");
        assert!(decode_body("application/json", b"  ").is_err());
        assert!(decode_body("application/vnd.kubernetes.protobuf", b"x").is_err());
        assert!(decode_body("application/vnd.kubernetes.protobuf", b"k8s\0").is_err());
    }
}
