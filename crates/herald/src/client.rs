//! A small client for Herald's Kubernetes-style API, used by `apply`, `get` and `delete`.

use anyhow::{Context, Result};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::cli::ServerArgs;

/// Accept header asking the server for a `meta.k8s.io/v1` Table, as kubectl does.
pub const ACCEPT_TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

/// An authenticated connection to one Herald API server.
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// A non-2xx answer, with the `Status` message when the server sent one.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: StatusCode,
    pub message: String,
}

impl ApiClient {
    pub fn new(args: &ServerArgs) -> Result<Self> {
        let token = match &args.token {
            Some(t) => Some(t.clone()),
            None => crate::kubeconfig::read_token(&args.data_dir)?,
        };
        let server = match &args.server {
            Some(s) => s.clone(),
            None => crate::kubeconfig::recorded_server(&args.data_dir)?
                .unwrap_or_else(|| crate::kubeconfig::DEFAULT_SERVER.to_string()),
        };
        let mut builder = reqwest::Client::builder();
        // Trust the CA `herald serve` generated for its API, if there is one.
        if let Some(pem) = crate::kubeconfig::read_optional(&crate::tls::ca_path(&args.data_dir))? {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes())
                .context("reading Herald's CA certificate")?;
            builder = builder.tls_certs_merge([cert]);
        }
        Ok(ApiClient {
            http: builder.build().context("building the HTTP client")?,
            base: server.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Sends a request; returns the status and the JSON body (Null when empty).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        accept: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Value)> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method, &url).header("Accept", accept);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.with_context(|| {
            format!(
                "cannot reach Herald at {} (is `herald serve` running?)",
                self.base
            )
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await.context("reading the response")?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok((status, value))
    }

    /// Like [`request`](Self::request) but turns a non-2xx answer into an [`ApiError`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        accept: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Value)> {
        let (status, value) = self
            .request(method, path, content_type, accept, body)
            .await?;
        if !status.is_success() {
            let message = value
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("the server answered {status}: {value}"));
            return Err(ApiError {
                code: status,
                message,
            }
            .into());
        }
        Ok((status, value))
    }
}
