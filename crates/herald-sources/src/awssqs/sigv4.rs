//! AWS Signature Version 4 for one HTTP request, as pure functions (no clock, no I/O): the
//! caller passes the time. Only what the SQS JSON protocol needs plus the generic parts AWS's
//! published test suite exercises (query sorting, header canonicalisation), so the signer can be
//! checked against those vectors.

use ring::{digest, hmac};

/// The algorithm name in the `Authorization` header and the string to sign.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// An access key pair (and the session token of temporary credentials).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("session_token", &self.session_token.is_some())
            .finish_non_exhaustive()
    }
}

/// The request parts that are signed.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The already URI-encoded absolute path (`/` for SQS).
    pub path: &'a str,
    /// Unencoded query parameters, in any order.
    pub query: &'a [(&'a str, &'a str)],
    /// Every header to sign, including `host` and `x-amz-date`; any case, any order.
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

/// `YYYYMMDDTHHMMSSZ`, the `X-Amz-Date` form of a time.
pub fn amz_date(at: jiff::Timestamp) -> String {
    at.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// The `Authorization` header value for `req`, signed at `amz_date` (which must also be the
/// request's `x-amz-date` header) for `region` and `service`.
pub fn authorization(
    creds: &Credentials,
    region: &str,
    service: &str,
    amz_date: &str,
    req: &Request<'_>,
) -> String {
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let (canonical, signed_headers) = canonical_request(req);
    let to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex_sha256(canonical.as_bytes())
    );
    let key = signing_key(&creds.secret_access_key, date, region, service);
    let signature = hex(hmac::sign(&key, to_sign.as_bytes()).as_ref());
    format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        creds.access_key_id
    )
}

/// The canonical request and its signed-headers list.
fn canonical_request(req: &Request<'_>) -> (String, String) {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), collapse_spaces(v)))
        .collect();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    // Repeated headers sign as one line with comma-separated values.
    let mut merged: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (k, v) in headers {
        match merged.last_mut() {
            Some((lk, lv)) if *lk == k => {
                lv.push(',');
                lv.push_str(&v);
            }
            _ => merged.push((k, v)),
        }
    }
    let canonical_headers: String = merged.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = merged
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical = format!(
        "{}\n{}\n{query}\n{canonical_headers}\n{signed_headers}\n{}",
        req.method,
        req.path,
        hex_sha256(req.payload)
    );
    (canonical, signed_headers)
}

/// The derived key: HMAC chain over date, region, service and `aws4_request`.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let mut key = hmac::Key::new(hmac::HMAC_SHA256, format!("AWS4{secret}").as_bytes());
    for part in [date, region, service, "aws4_request"] {
        let tag = hmac::sign(&key, part.as_bytes());
        key = hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref());
    }
    key
}

/// Trims a header value and collapses runs of spaces to one, as the canonical form requires.
fn collapse_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// AWS's URI encoding: unreserved characters kept, everything else `%XX` (upper case).
fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Lower-case hex SHA-256 of `data`.
pub fn hex_sha256(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The credentials, scope and time of AWS's SigV4 test suite (`aws-sig-v4-test-suite`).
    fn suite_creds() -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    const DATE: &str = "20150830T123600Z";

    fn suite(method: &str, query: &[(&str, &str)], headers: &[(&str, &str)]) -> String {
        let req = Request {
            method,
            path: "/",
            query,
            headers,
            payload: b"",
        };
        authorization(&suite_creds(), "us-east-1", "service", DATE, &req)
    }

    const BASE: &[(&str, &str)] = &[("Host", "example.amazonaws.com"), ("X-Amz-Date", DATE)];

    #[test]
    fn aws_test_suite_vectors() {
        let prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=";
        type Pairs<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(&str, &str, Pairs, Pairs, &str)] = &[
            (
                "get-vanilla",
                "GET",
                &[],
                BASE,
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "get-vanilla-query-order-key-case",
                "GET",
                &[("Param2", "value2"), ("Param1", "value1")],
                BASE,
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
            (
                "get-vanilla-empty-query-key",
                "GET",
                &[("Param1", "value1")],
                BASE,
                "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
            ),
            (
                "post-vanilla",
                "POST",
                &[],
                BASE,
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            (
                "post-vanilla-query",
                "POST",
                &[("Param1", "value1")],
                BASE,
                "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
            ),
            (
                "post-header-key-case (header names in any case and order)",
                "POST",
                &[],
                &[("x-amz-date", DATE), ("HOST", "example.amazonaws.com")],
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
        ];
        for (name, method, query, headers, sig) in cases {
            assert_eq!(
                suite(method, query, headers),
                format!("{prefix}{sig}"),
                "{name}"
            );
        }
    }

    #[test]
    fn canonical_form() {
        let req = Request {
            method: "POST",
            path: "/",
            query: &[("b", "x y"), ("a", "1")],
            headers: &[
                ("X-Amz-Target", "  AmazonSQS.ReceiveMessage "),
                ("Host", "h:1"),
                ("x-a", "1"),
                ("X-A", "2"),
            ],
            payload: b"Param1=value1",
        };
        let (canonical, signed) = canonical_request(&req);
        assert_eq!(signed, "host;x-a;x-amz-target");
        assert_eq!(
            canonical,
            "POST\n/\na=1&b=x%20y\nhost:h:1\nx-a:1,2\nx-amz-target:AmazonSQS.ReceiveMessage\n\nhost;x-a;x-amz-target\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        );
    }

    #[test]
    fn dates_and_hashes() {
        let at: jiff::Timestamp = "2015-08-30T12:36:00Z".parse().unwrap_or_default();
        assert_eq!(amz_date(at), DATE);
        assert_eq!(
            hex_sha256(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(uri_encode("a-b_c.d~e/f+g"), "a-b_c.d~e%2Ff%2Bg");
    }

    #[test]
    fn debug_hides_the_secret() {
        assert!(!format!("{:?}", suite_creds()).contains("EXAMPLEKEY"));
    }
}
