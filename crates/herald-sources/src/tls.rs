//! TLS for the sources that dial a server themselves (Redis, NATS): the server is verified
//! against `caCert` (else the system's roots) unless `skipVerify`; `cert` + `key` give a client
//! certificate for servers that require one. Errors name the spec field they come from.

#[cfg(any(feature = "redis", feature = "nats"))]
mod client;
#[cfg(any(feature = "redis", feature = "nats"))]
pub use client::{TlsError, client_config, server_name};

/// The TLS settings of a spec, with the Secret values resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    pub ca_pem: Option<String>,
    pub cert_pem: Option<String>,
    pub key_pem: Option<String>,
    pub skip_verify: bool,
}
