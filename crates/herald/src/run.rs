//! `herald run --binding <name> -- <cmd> [args…]`: a SinkBinding's subject, outside Kubernetes.
//! Knative's SinkBinding injects `K_SINK`, `K_CE_OVERRIDES` and `K_CA_CERTS` into the pods of
//! its subject (DP-58); here the subject is a local command. The command replaces this process
//! (exec), so it inherits stdio and signals and its exit code is `herald run`'s.

use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use anyhow::{Result, bail};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::cli::RunArgs;
use crate::client::ApiClient;

/// The variables Knative's SinkBinding owns: set from the binding, removed when it has none.
const CONTRACT: [&str; 3] = ["K_SINK", "K_CE_OVERRIDES", "K_CA_CERTS"];

/// Why a SinkBinding cannot be used yet.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    #[error("sinkbinding {name} has no resolved sink yet: {message}")]
    NotResolved { name: String, message: String },
}

/// The environment a SinkBinding object gives its subject (`None` = unset the variable).
pub fn binding_env(binding: &Value) -> Result<Vec<(&'static str, Option<String>)>, BindingError> {
    let name = binding
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let status = &binding["status"];
    let Some(sink) = status["sinkUri"].as_str().filter(|s| !s.is_empty()) else {
        let ready = status["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
        let message = match ready {
            Some(c) => {
                let parts: Vec<&str> = [&c["reason"], &c["message"]]
                    .into_iter()
                    .filter_map(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .collect();
                if parts.is_empty() {
                    "not Ready".to_string()
                } else {
                    parts.join(": ")
                }
            }
            None => "it has not been reconciled yet".to_string(),
        };
        return Err(BindingError::NotResolved {
            name: name.to_string(),
            message,
        });
    };
    let ce = herald_sources::container::ce_overrides_env(&binding["spec"]);
    let ca = status["sinkCACerts"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Ok(vec![
        (CONTRACT[0], Some(sink.to_string())),
        (CONTRACT[1], Some(ce)),
        (CONTRACT[2], ca),
    ])
}

pub async fn run(args: RunArgs) -> Result<ExitCode> {
    let client = ApiClient::new(&args.server)?;
    let path = format!(
        "/apis/sources.knative.dev/v1/namespaces/{}/sinkbindings/{}",
        args.namespace, args.binding
    );
    let (status, binding) = client
        .request(Method::GET, &path, None, "application/json", None)
        .await?;
    if status == StatusCode::NOT_FOUND {
        bail!(
            "sinkbinding {} not found in namespace {}",
            args.binding,
            args.namespace
        );
    }
    if !status.is_success() {
        let msg = binding["message"].as_str().unwrap_or_default();
        bail!("cannot read sinkbinding {}: {status} {msg}", args.binding);
    }
    let env = binding_env(&binding)?;
    let Some((program, rest)) = args.command.split_first() else {
        bail!("no command given (put it after `--`)");
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(rest);
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    // Only returns on failure.
    let err = cmd.exec();
    eprintln!("error: cannot run {program:?}: {err}");
    // Shells' convention: 127 for a command not found, 126 for one that cannot run.
    Ok(ExitCode::from(
        if err.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        },
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn resolved_binding_gives_the_contract() {
        let b = json!({"metadata": {"name": "b"},
            "spec": {"ceOverrides": {"extensions": {"extra": "x"}}},
            "status": {"sinkUri": "http://sink/", "sinkCACerts": "PEM"}});
        assert_eq!(
            binding_env(&b).unwrap(),
            [
                ("K_SINK", Some("http://sink/".to_string())),
                (
                    "K_CE_OVERRIDES",
                    Some(r#"{"extensions":{"extra":"x"}}"#.to_string())
                ),
                ("K_CA_CERTS", Some("PEM".to_string())),
            ]
        );
        let plain = json!({"metadata": {"name": "b"}, "spec": {},
            "status": {"sinkUri": "http://sink/"}});
        assert_eq!(
            binding_env(&plain).unwrap()[1..],
            [
                ("K_CE_OVERRIDES", Some(String::new())),
                ("K_CA_CERTS", None)
            ]
        );
    }

    #[test]
    fn unresolved_binding_says_why() {
        let cases = [
            (
                json!({"metadata": {"name": "b"}, "status": {"conditions": [
                    {"type": "Ready", "status": "False", "reason": "NotFound",
                     "message": "broker nope does not exist"}]}}),
                "sinkbinding b has no resolved sink yet: NotFound: broker nope does not exist",
            ),
            (
                json!({"metadata": {"name": "b"}}),
                "sinkbinding b has no resolved sink yet: it has not been reconciled yet",
            ),
            (
                json!({"metadata": {"name": "b"}, "status": {"sinkUri": "",
                    "conditions": [{"type": "Ready", "status": "Unknown"}]}}),
                "sinkbinding b has no resolved sink yet: not Ready",
            ),
        ];
        for (b, want) in cases {
            assert_eq!(binding_env(&b).unwrap_err().to_string(), want);
        }
    }
}
