//! The rustls client configuration built from [`TlsSettings`].

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::TlsSettings;

/// Why the TLS settings cannot be used; `field` is the spec path holding them, e.g.
/// `spec.dialOptions`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("{field}.caCert: no PEM certificate in it")]
    NoCa { field: &'static str },
    #[error("{field}.caCert: {error}")]
    BadCa { field: &'static str, error: String },
    #[error("{field}.cert: {error}")]
    BadCert { field: &'static str, error: String },
    #[error("{field}.key: {error}")]
    BadKey { field: &'static str, error: String },
    #[error("{field}: cert and key go together")]
    HalfClientAuth { field: &'static str },
    #[error("TLS setup: {0}")]
    Setup(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the client configuration; `field` names the settings in errors.
pub fn client_config(s: &TlsSettings, field: &'static str) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let builder = if s.skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(
                provider.signature_verification_algorithms,
            )))
    } else {
        builder.with_root_certificates(roots(s.ca_pem.as_deref(), field)?)
    };
    let config = match (&s.cert_pem, &s.key_pem) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TlsError::BadCert {
                    field,
                    error: e.to_string(),
                })?;
            if chain.is_empty() {
                return Err(TlsError::BadCert {
                    field,
                    error: "no PEM certificate in it".into(),
                });
            }
            let key =
                PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| TlsError::BadKey {
                    field,
                    error: e.to_string(),
                })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::BadKey {
                    field,
                    error: e.to_string(),
                })?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(TlsError::HalfClientAuth { field }),
    };
    Ok(Arc::new(config))
}

fn roots(ca_pem: Option<&str>, field: &'static str) -> Result<RootCertStore, TlsError> {
    let bad = |e: &dyn std::fmt::Display| TlsError::BadCa {
        field,
        error: e.to_string(),
    };
    let mut store = RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| bad(&e))?;
                store.add(cert).map_err(|e| bad(&e))?;
            }
            if store.is_empty() {
                return Err(TlsError::NoCa { field });
            }
        }
        None => {
            let (added, _) =
                store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if added == 0 {
                tracing::warn!("no system CA certificates found; set {field}.caCert");
            }
        }
    }
    Ok(store)
}

/// The name the server certificate must carry: the host of `host:port` (an IP or DNS name).
pub fn server_name(dial: &str) -> Result<ServerName<'static>, TlsError> {
    let host = dial.rsplit_once(':').map(|(h, _)| h).unwrap_or(dial);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|e| TlsError::Setup(format!("server name {host:?}: {e}")))
}

/// `skipVerify`: any server certificate is accepted (handshake signatures are still checked).
#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: &str = "spec.dialOptions";

    #[test]
    fn server_names() {
        for (dial, ok) in [
            ("redis.ns.svc:6379", true),
            ("127.0.0.1:6379", true),
            ("[::1]:6379", true),
            ("bad name:6379", false),
        ] {
            assert_eq!(server_name(dial).is_ok(), ok, "{dial}");
        }
    }

    #[test]
    fn bad_settings_are_reported() {
        let cases = [
            (
                TlsSettings {
                    ca_pem: Some("not pem".into()),
                    ..Default::default()
                },
                TlsError::NoCa { field: F },
            ),
            (
                TlsSettings {
                    skip_verify: true,
                    cert_pem: Some("x".into()),
                    ..Default::default()
                },
                TlsError::HalfClientAuth { field: F },
            ),
        ];
        for (s, want) in cases {
            assert_eq!(client_config(&s, F).err(), Some(want));
        }
        let skip = TlsSettings {
            skip_verify: true,
            ..Default::default()
        };
        assert!(client_config(&skip, F).is_ok());
    }
}
