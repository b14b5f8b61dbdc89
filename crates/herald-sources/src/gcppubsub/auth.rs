//! Google OAuth2 for a service account: the key file's JWT (RS256, signed with `ring`) is
//! exchanged at its `token_uri` for an access token, cached until shortly before it expires.
//! (Google's "service account JWT bearer" flow, RFC 7523; no Google client library needed.)

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde::Deserialize;
use std::time::{Duration, Instant};

/// The scope that covers every Pub/Sub call.
pub const SCOPE: &str = "https://www.googleapis.com/auth/pubsub";
/// Google's token endpoint, used when the key file names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Lifetime asked for in the JWT (Google's maximum).
const JWT_LIFETIME_SECS: i64 = 3600;
/// A token is renewed this long before it expires.
const RENEW_EARLY: Duration = Duration::from_secs(300);

/// Why credentials could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the credentials are not a service account key in JSON: {0}")]
    KeyFile(String),
    #[error("the service account's private_key is not a PKCS#8 RSA key in PEM: {0}")]
    PrivateKey(String),
    #[error("signing the token request failed")]
    Sign,
    #[error("the token endpoint {uri} could not be reached: {error}")]
    Unreachable { uri: String, error: String },
    #[error("the token endpoint {uri} answered {status}: {body}")]
    Rejected {
        uri: String,
        status: u16,
        body: String,
    },
}

/// The fields of a Google service account key file (`key.json`) Herald uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceAccountKey {
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub token_uri: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
}

impl ServiceAccountKey {
    pub fn parse(json: &str) -> Result<Self, AuthError> {
        serde_json::from_str(json).map_err(|e| AuthError::KeyFile(e.to_string()))
    }

    pub fn token_uri(&self) -> &str {
        self.token_uri.as_deref().unwrap_or(DEFAULT_TOKEN_URI)
    }
}

/// Decodes the body of a `-----BEGIN PRIVATE KEY-----` PEM block.
fn pem_pkcs8(pem: &str) -> Result<Vec<u8>, AuthError> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN PRIVATE KEY-----")
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    if body.is_empty() {
        return Err(AuthError::PrivateKey(
            "no -----BEGIN PRIVATE KEY----- block".into(),
        ));
    }
    STANDARD
        .decode(body)
        .map_err(|e| AuthError::PrivateKey(e.to_string()))
}

/// Builds the signed JWT assertion for `key` at `now` (seconds since the epoch).
pub fn signed_jwt(key: &ServiceAccountKey, now: i64) -> Result<String, AuthError> {
    let der = pem_pkcs8(&key.private_key)?;
    let pair = RsaKeyPair::from_pkcs8(&der).map_err(|e| AuthError::PrivateKey(e.to_string()))?;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "iss": key.client_email,
        "scope": SCOPE,
        "aud": key.token_uri(),
        "iat": now,
        "exp": now + JWT_LIFETIME_SECS,
    });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{claims}");
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| AuthError::Sign)?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Access tokens for one service account, fetched on demand and cached.
pub struct TokenSource {
    key: ServiceAccountKey,
    cached: Option<(String, Instant)>,
}

impl TokenSource {
    pub fn new(key: ServiceAccountKey) -> Self {
        TokenSource { key, cached: None }
    }

    /// A valid access token, exchanging a fresh JWT when the cached one is (nearly) expired.
    pub async fn token(&mut self, client: &reqwest::Client) -> Result<String, AuthError> {
        if let Some((tok, until)) = &self.cached
            && Instant::now() < *until
        {
            return Ok(tok.clone());
        }
        let jwt = signed_jwt(&self.key, jiff::Timestamp::now().as_second())?;
        let uri = self.key.token_uri().to_string();
        // The assertion is base64url and dots only: no form escaping needed.
        let body = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={jwt}"
        );
        let unreachable = |e: reqwest::Error| AuthError::Unreachable {
            uri: uri.clone(),
            error: e.to_string(),
        };
        let resp = client
            .post(&uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(unreachable)?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(unreachable)?;
        if !(200..300).contains(&status) {
            return Err(AuthError::Rejected {
                uri,
                status,
                body: text,
            });
        }
        let tr: TokenResponse = serde_json::from_str(&text).map_err(|e| AuthError::Rejected {
            uri: uri.clone(),
            status,
            body: format!("not a token response: {e}"),
        })?;
        let life = Duration::from_secs(tr.expires_in.unwrap_or(3600));
        let until = Instant::now() + life.saturating_sub(RENEW_EARLY);
        self.cached = Some((tr.access_token.clone(), until));
        Ok(tr.access_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    const PEM: &str = include_str!("testdata/test-key.pem");

    fn key() -> ServiceAccountKey {
        ServiceAccountKey {
            client_email: "herald@p.iam.gserviceaccount.com".into(),
            private_key: PEM.into(),
            token_uri: None,
            project_id: Some("p".into()),
        }
    }

    #[test]
    fn jwt_is_rs256_signed_with_the_key() {
        let jwt = signed_jwt(&key(), 1_000).unwrap_or_else(|e| panic!("{e}"));
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap_or_default())
                .unwrap_or_default();
        assert_eq!(
            claims,
            serde_json::json!({"iss": "herald@p.iam.gserviceaccount.com", "scope": SCOPE,
                "aud": DEFAULT_TOKEN_URI, "iat": 1000, "exp": 4600})
        );
        let der = pem_pkcs8(PEM).unwrap_or_default();
        let pair = RsaKeyPair::from_pkcs8(&der).unwrap_or_else(|e| panic!("{e}"));
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pair.public_key());
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap_or_default();
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(public.verify(input.as_bytes(), &sig).is_ok());
        assert!(public.verify(b"tampered", &sig).is_err());
    }

    #[test]
    fn bad_keys_are_errors() {
        let cases = [
            ("not pem", "garbage"),
            (
                "not base64",
                "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----",
            ),
            (
                "not a key",
                "-----BEGIN PRIVATE KEY-----\naGVsbG8=\n-----END PRIVATE KEY-----",
            ),
        ];
        for (name, pem) in cases {
            let mut k = key();
            k.private_key = pem.into();
            assert!(
                matches!(signed_jwt(&k, 0), Err(AuthError::PrivateKey(_))),
                "{name}"
            );
        }
        assert!(matches!(
            ServiceAccountKey::parse("{}"),
            Err(AuthError::KeyFile(_))
        ));
    }

    /// The token exchange against a fake token endpoint: a form POST with the JWT bearer
    /// grant, whose assertion verifies; the token is cached (one request for two calls);
    /// an error answer is reported with its status.
    #[tokio::test]
    async fn exchanges_the_jwt_for_a_cached_token() {
        use std::sync::{Arc, Mutex};
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let record = seen.clone();
        let app = axum::Router::new()
            .route(
                "/token",
                axum::routing::post(move |body: String| {
                    let record = record.clone();
                    async move {
                        if let Ok(mut v) = record.lock() {
                            v.push(body);
                        }
                        r#"{"access_token": "ya29.test", "expires_in": 3599, "token_type": "Bearer"}"#
                    }
                }),
            )
            .route(
                "/deny",
                axum::routing::post(|| async {
                    (axum::http::StatusCode::BAD_REQUEST, r#"{"error": "invalid_grant"}"#)
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();

        let mut k = key();
        k.token_uri = Some(format!("http://{addr}/token"));
        let mut ts = TokenSource::new(k);
        for _ in 0..2 {
            let tok = ts.token(&client).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(tok, "ya29.test");
        }
        let bodies = seen.lock().map(|v| v.clone()).unwrap_or_default();
        assert_eq!(bodies.len(), 1, "the token is cached");
        let assertion = bodies[0]
            .strip_prefix(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=",
            )
            .unwrap_or_else(|| panic!("form body: {}", bodies[0]));
        let claims = assertion.split('.').nth(1).unwrap_or_default();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap_or_default())
                .unwrap_or_default();
        assert_eq!(claims["aud"], format!("http://{addr}/token"));

        let mut k = key();
        k.token_uri = Some(format!("http://{addr}/deny"));
        let err = TokenSource::new(k).token(&client).await.err();
        assert!(
            matches!(&err, Some(AuthError::Rejected { status: 400, body, .. }) if body.contains("invalid_grant")),
            "{err:?}"
        );
    }
}
