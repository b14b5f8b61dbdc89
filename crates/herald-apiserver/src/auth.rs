//! Bearer-token authentication: when a token is configured, every request except the health
//! checks must carry `Authorization: Bearer <token>`; the comparison is constant-time so the
//! token cannot be guessed byte by byte from response timings.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiState;
use crate::errors::ApiError;

/// Paths that never need a token (load balancers and `herald serve` probes).
const OPEN_PATHS: &[&str] = &["/healthz", "/readyz", "/livez"];

/// Compares in time independent of where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// Whether an `Authorization` header value carries `token`.
pub fn authorized(header_value: Option<&str>, token: &str) -> bool {
    let Some(v) = header_value else {
        return false;
    };
    let Some((scheme, presented)) = v.trim().split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && constant_time_eq(presented.trim().as_bytes(), token.as_bytes())
}

/// Middleware enforcing [`crate::ApiServerConfig::token`].
pub async fn require_token(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    if let Some(token) = &state.config.token
        && !OPEN_PATHS.contains(&req.uri().path())
    {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !authorized(presented, token) {
            return ApiError::Unauthorized.into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        let cases = [
            (Some("Bearer abc"), true),
            (Some("bearer abc"), true),
            (Some("Bearer abd"), false),
            (Some("Bearer ab"), false),
            (Some("Bearer abcd"), false),
            (Some("Basic abc"), false),
            (Some("abc"), false),
            (None, false),
        ];
        for (h, want) in cases {
            assert_eq!(authorized(h, "abc"), want, "{h:?}");
        }
    }
}
