//! TLS for the API listener. Clients such as kubectl only send bearer tokens over TLS, so
//! whenever the API requires a token it is served over HTTPS: with the user's certificate, or
//! with a CA and server certificate Herald generates once into `<data-dir>/tls/`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// PEM files of the API's certificate chain and key, and the CA clients should trust.
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA to put in kubeconfigs; `None` for a user-provided certificate.
    pub ca: Option<PathBuf>,
}

/// Where Herald keeps a generated CA.
pub fn ca_path(data_dir: &Path) -> PathBuf {
    data_dir.join("tls").join("ca.crt")
}

/// Returns the generated certificate in `<data-dir>/tls`, creating it on first use. The
/// certificate names localhost, the loopback addresses, the listen address and `extra_sans`.
pub fn ensure_generated(
    data_dir: &Path,
    listen: IpAddr,
    extra_sans: &[String],
) -> Result<TlsFiles> {
    let dir = data_dir.join("tls");
    let files = TlsFiles {
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
        ca: Some(ca_path(data_dir)),
    };
    if files.cert.exists() && files.key.exists() && ca_path(data_dir).exists() {
        return Ok(files);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut sans = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !listen.is_unspecified() && !listen.is_loopback() {
        sans.push(listen.to_string());
    }
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            sans.push(host.to_string());
        }
    }
    sans.extend(extra_sans.iter().cloned());
    let (ca_pem, cert_pem, key_pem) = generate(&sans)?;
    crate::serve::write_private(&ca_path(data_dir), &ca_pem)?;
    crate::serve::write_private(&files.cert, &cert_pem)?;
    crate::serve::write_private(&files.key, &key_pem)?;
    Ok(files)
}

/// Generates a CA and a server certificate it signs; returns (CA, certificate, key) as PEM.
fn generate(sans: &[String]) -> Result<(String, String, String)> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Herald API CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(sans.to_vec()).context("certificate names")?;
    params.distinguished_name.push(DnType::CommonName, "herald");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
}

/// Builds the rustls server configuration from PEM files.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("reading {}", files.cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {}", files.cert.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", files.cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("reading the key {}", files.key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("the certificate does not match its key")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A listener that hands axum only connections whose TLS handshake finished. Handshakes run
/// concurrently, each bounded by a timeout, so a slow client cannot stall the others.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<tokio::net::TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    break;
                }
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_loads() {
        let dir = tempfile::tempdir().expect("tmp");
        let files = ensure_generated(
            dir.path(),
            "0.0.0.0".parse().expect("ip"),
            &["herald.example".into()],
        )
        .expect("generate");
        assert!(acceptor(&files).is_ok());
        let again =
            ensure_generated(dir.path(), "0.0.0.0".parse().expect("ip"), &[]).expect("reuse");
        assert_eq!(
            std::fs::read(&again.cert).ok(),
            std::fs::read(&files.cert).ok()
        );
    }
}
