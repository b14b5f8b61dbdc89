//! `herald kubeconfig`, the kubeconfig `herald serve` writes, and the API token file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;

use crate::cli::KubeconfigArgs;

/// The API URL used when nothing else says where Herald is.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Where `herald serve` keeps a generated API token.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("api-token")
}

/// Where `herald serve` writes a kubeconfig for the address it listens on.
pub fn kubeconfig_path(data_dir: &Path) -> PathBuf {
    data_dir.join("kubeconfig")
}

/// Reads the saved API token, if any.
pub fn read_token(data_dir: &Path) -> Result<Option<String>> {
    read_optional(&token_path(data_dir))
        .map(|t| t.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()))
}

/// Reads a file that may not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The server URL recorded in `<data-dir>/kubeconfig`, if `herald serve` wrote one.
pub fn recorded_server(data_dir: &Path) -> Result<Option<String>> {
    Ok(read_optional(&kubeconfig_path(data_dir))?.and_then(|text| {
        text.lines().find_map(|l| {
            l.trim()
                .strip_prefix("server: ")
                .map(|s| s.trim().to_string())
        })
    }))
}

/// Renders a kubeconfig with one cluster, user and context named `herald`.
pub fn render(server: &str, token: Option<&str>, ca_pem: Option<&str>) -> String {
    let ca = ca_pem
        .map(|pem| {
            format!(
                "    certificate-authority-data: {}\n",
                base64::engine::general_purpose::STANDARD.encode(pem)
            )
        })
        .unwrap_or_default();
    let user = match token {
        Some(t) => format!("  user:\n    token: {t}\n"),
        None => "  user: {}\n".to_string(),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: herald\n  cluster:\n    server: {server}\n{ca}users:\n- name: herald\n{user}contexts:\n- name: herald\n  context:\n    cluster: herald\n    user: herald\n    namespace: default\ncurrent-context: herald\n"
    )
}

pub fn run(args: KubeconfigArgs) -> Result<()> {
    let recorded = if args.server.is_none() && args.token.is_none() {
        read_optional(&kubeconfig_path(&args.data_dir))?
    } else {
        None
    };
    if let Some(text) = recorded {
        print!("{text}");
        return Ok(());
    }
    let token = match args.token {
        Some(t) => Some(t),
        None => read_token(&args.data_dir)?,
    };
    let ca = read_optional(&crate::tls::ca_path(&args.data_dir))?;
    let server = match args.server {
        Some(s) => s,
        None => recorded_server(&args.data_dir)?.unwrap_or_else(|| DEFAULT_SERVER.to_string()),
    };
    print!("{}", render(&server, token.as_deref(), ca.as_deref()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_is_yaml_with_token_and_ca() {
        let with = render("https://h:1", Some("s3cret"), Some("PEM"));
        assert!(with.contains("server: https://h:1\n"));
        assert!(
            with.contains("certificate-authority-data: UEVN\n"),
            "{with}"
        );
        assert!(with.contains("  user:\n    token: s3cret\n"));
        let without = render("http://h:1", None, None);
        assert!(without.contains("  user: {}\n"), "{without}");
        assert!(!without.contains("certificate-authority"));
    }
}
