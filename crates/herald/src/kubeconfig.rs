//! `herald kubeconfig` and the API token file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::KubeconfigArgs;

/// Where `herald serve` keeps a generated API token.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("api-token")
}

/// Reads the saved API token, if any.
pub fn read_token(data_dir: &Path) -> Result<Option<String>> {
    let path = token_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(Some(t.trim().to_string()).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Renders a kubeconfig with one cluster, user and context named `herald`.
pub fn render(server: &str, token: Option<&str>) -> String {
    let user = match token {
        Some(t) => format!("    token: {t}\n"),
        None => "    {}\n".to_string(),
    };
    let user = if token.is_some() { format!("\n{user}") } else { format!(" {}", user.trim_start()) };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: herald\n  cluster:\n    server: {server}\nusers:\n- name: herald\n  user:{user}contexts:\n- name: herald\n  context:\n    cluster: herald\n    user: herald\n    namespace: default\ncurrent-context: herald\n"
    )
}

pub fn run(args: KubeconfigArgs) -> Result<()> {
    let token = match args.token {
        Some(t) => Some(t),
        None => read_token(&args.data_dir)?,
    };
    print!("{}", render(&args.server, token.as_deref()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_is_yaml_with_token() {
        let with = render("http://h:1", Some("s3cret"));
        assert!(with.contains("server: http://h:1\n"));
        assert!(with.contains("  user:\n    token: s3cret\n"));
        let without = render("http://h:1", None);
        assert!(without.contains("  user: {}\n"), "{without}");
    }
}
