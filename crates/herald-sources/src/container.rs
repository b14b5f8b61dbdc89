//! ContainerSource: Herald has no container runtime, so it runs the first container's
//! `command` + `args` as a supervised local process (restarted with backoff like a Deployment's
//! pod) with the SinkBinding contract in its environment: `K_SINK`, `K_CE_OVERRIDES`,
//! `K_CA_CERTS` (DP-58). This module turns the spec into a [`Launch`] (pure); the
//! [`process`](crate::process) supervisor runs it.

use std::path::PathBuf;
use std::time::Duration;

use herald_api::sources::container::ContainerSourceSpec;
use k8s_openapi::api::core::v1::EnvVar;
use serde_json::Value;

use crate::plan::SourcePlan;
use crate::runtime::SourceContext;

/// Environment variables passed through from Herald's own environment (a container would get
/// them from its image); everything else, Herald's API token included, stays out.
pub const PASSED_THROUGH: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER"];

/// Grace period between SIGTERM and SIGKILL when `terminationGracePeriodSeconds` is not set
/// (Kubernetes uses 30 s; a local process has less to drain and shutdown should stay quick).
const DEFAULT_GRACE: Duration = Duration::from_secs(2);
/// Upper bound for `terminationGracePeriodSeconds`, so `herald serve` stops promptly.
const MAX_GRACE: Duration = Duration::from_secs(10);

/// One process to run: the container's resolved command line, environment and directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The container's name (in messages).
    pub container: String,
    pub program: String,
    pub args: Vec<String>,
    /// The whole environment, in order (the process does not inherit Herald's).
    pub env: Vec<(String, String)>,
    pub working_dir: Option<PathBuf>,
    /// How long to wait after SIGTERM before SIGKILL.
    pub grace: Duration,
}

/// Why a ContainerSource's spec cannot be run as a process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("the spec cannot be read: {0}")]
    Invalid(String),
    #[error("spec.template.spec.containers is empty")]
    NoContainer,
    #[error(
        "Herald runs ContainerSources as local processes; set spec.template.spec.containers[0].command (container {0:?} has no command, and Herald cannot run its image)"
    )]
    NoCommand(String),
    #[error("env {var}: Secret {secret:?} has no key {key:?} (or does not exist)")]
    MissingSecret {
        var: String,
        secret: String,
        key: String,
    },
    #[error("env {var}: {what} is not supported when running as a local process")]
    Unsupported { var: String, what: String },
}

impl SpecError {
    /// The condition reason (Kubernetes' own where one exists).
    pub fn reason(&self) -> &'static str {
        match self {
            SpecError::Invalid(_) => "InvalidSpec",
            SpecError::NoContainer => "NoContainer",
            SpecError::NoCommand(_) => "NoCommand",
            SpecError::MissingSecret { .. } | SpecError::Unsupported { .. } => {
                "CreateContainerConfigError"
            }
        }
    }
}

/// The process a plan describes. `base` is the inherited part of the environment
/// ([`PASSED_THROUGH`] variables present in Herald's environment).
pub fn launch(plan: &SourcePlan, base: &[(String, String)]) -> Result<Launch, SpecError> {
    let spec: ContainerSourceSpec =
        serde_json::from_value(plan.spec.clone()).map_err(|e| SpecError::Invalid(e.to_string()))?;
    let pod = spec.template.spec.unwrap_or_default();
    let Some(c) = pod.containers.into_iter().next() else {
        return Err(SpecError::NoContainer);
    };
    let mut command = c.command.clone().unwrap_or_default().into_iter();
    let Some(program) = command.next() else {
        return Err(SpecError::NoCommand(c.name.clone()));
    };
    let mut env = Env::default();
    for (k, v) in base {
        env.set(k, v.clone());
    }
    // Herald's addition (the receive-adapter contract, DP-59): there is no downward API.
    env.set("NAME", plan.key.name.clone());
    env.set("NAMESPACE", plan.key.namespace.clone());
    for (i, var) in c.env.iter().flatten().enumerate() {
        if let Some(value) = env_value(plan, i, var)? {
            let value = expand(&value, &|n| env.get(n));
            env.set(&var.name, value);
        }
    }
    // The SinkBinding contract (DP-58), appended after the container's own env as Knative's
    // SinkBinding does, so it wins.
    if let Some(sink) = &plan.sink {
        env.set("K_SINK", sink.uri.clone());
        if let Some(ca) = &sink.ca_certs {
            env.set("K_CA_CERTS", ca.clone());
        }
    }
    env.set("K_CE_OVERRIDES", ce_overrides_env(&plan.spec));
    let lookup = |n: &str| env.get(n);
    let args = command
        .chain(c.args.clone().unwrap_or_default())
        .map(|a| expand(&a, &lookup))
        .collect();
    let grace = pod
        .termination_grace_period_seconds
        .map(|s| Duration::from_secs(s.max(0).unsigned_abs()).min(MAX_GRACE))
        .unwrap_or(DEFAULT_GRACE);
    Ok(Launch {
        container: c.name.clone(),
        program: expand(&program, &lookup),
        args,
        env: env.0,
        working_dir: c.working_dir.filter(|d| !d.is_empty()).map(PathBuf::from),
        grace,
    })
}

/// `K_CE_OVERRIDES` as Knative's SinkBinding sets it: the JSON of `spec.ceOverrides`
/// (`{"extensions":{…}}`), or empty when there is none.
pub fn ce_overrides_env(spec: &Value) -> String {
    match spec.get("ceOverrides") {
        Some(v) if !v.is_null() => v.to_string(),
        _ => String::new(),
    }
}

/// The value of the `i`th env var: literal, a Secret key (resolved into the plan), or the
/// object's name/namespace; `None` for an optional Secret key that is absent.
fn env_value(plan: &SourcePlan, i: usize, var: &EnvVar) -> Result<Option<String>, SpecError> {
    let Some(from) = &var.value_from else {
        return Ok(Some(var.value.clone().unwrap_or_default()));
    };
    let unsupported = |what: &str| SpecError::Unsupported {
        var: var.name.clone(),
        what: what.into(),
    };
    if let Some(r) = &from.secret_key_ref {
        let pointer = format!("/template/spec/containers/0/env/{i}/valueFrom");
        return match plan.secrets.get(&pointer) {
            Some(v) => Ok(Some(v.clone())),
            None if r.optional == Some(true) => Ok(None),
            None => Err(SpecError::MissingSecret {
                var: var.name.clone(),
                secret: r.name.clone(),
                key: r.key.clone(),
            }),
        };
    }
    if let Some(f) = &from.field_ref {
        return match f.field_path.as_str() {
            "metadata.name" => Ok(Some(plan.key.name.clone())),
            "metadata.namespace" => Ok(Some(plan.key.namespace.clone())),
            other => Err(unsupported(&format!("fieldRef {other:?}"))),
        };
    }
    if from.config_map_key_ref.is_some() {
        return Err(unsupported("configMapKeyRef"));
    }
    Err(unsupported("this valueFrom"))
}

/// An ordered environment where setting an existing name replaces its value in place.
#[derive(Default)]
struct Env(Vec<(String, String)>);

impl Env {
    fn set(&mut self, name: &str, value: String) {
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Kubernetes' `$(VAR)` expansion in command, args and env values: a defined variable is
/// replaced, an undefined reference is kept as written, `$$` is a literal `$`.
pub fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(close) = inner.find(')')
        {
            let name = &inner[..close];
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &inner[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The [`PASSED_THROUGH`] part of Herald's own environment.
fn inherited_env() -> Vec<(String, String)> {
    PASSED_THROUGH
        .iter()
        .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
        .collect()
}

/// Runs the source until `ctx.cancel` fires.
pub async fn run(ctx: SourceContext) {
    match launch(&ctx.plan, &inherited_env()) {
        Ok(launch) => {
            let key = ctx.key();
            let log = crate::logs::path(&ctx.config.data_dir, &key.namespace, &key.name);
            crate::process::supervise(&ctx, &launch, &log).await;
        }
        Err(e) => {
            ctx.failed(e.reason(), e.to_string());
            ctx.cancel.cancelled().await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::plan::{SinkTarget, SourceKey, SourceKind};
    use serde_json::json;
    use std::collections::BTreeMap;

    type Secrets = BTreeMap<String, String>;

    fn plan(container: Value, ce: Option<Value>, secrets: Secrets) -> SourcePlan {
        let mut spec = json!({"template": {"spec": {"containers": [container]}},
                              "sink": {"uri": "http://sink/"}});
        if let Some(ce) = ce {
            spec["ceOverrides"] = ce;
        }
        SourcePlan {
            key: SourceKey::new(SourceKind::Container, "ns", "src"),
            uid: "u".into(),
            generation: 1,
            sink: Some(SinkTarget {
                uri: "http://sink/".into(),
                ca_certs: None,
                audience: None,
            }),
            dead_letter_sink: None,
            ce_overrides: BTreeMap::new(),
            spec,
            labels: BTreeMap::new(),
            secrets,
        }
    }

    fn get<'a>(l: &'a Launch, k: &str) -> Option<&'a str> {
        l.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn command_args_env_and_contract() {
        let c = json!({"name": "c", "command": ["sh", "-c"], "args": ["echo $(GREETING) $$(X)"],
            "workingDir": "/tmp",
            "env": [{"name": "GREETING", "value": "hi $(NAME)"},
                    {"name": "K_SINK", "value": "http://user/"},
                    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                    {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]});
        let secrets = [(
            "/template/spec/containers/0/env/2/valueFrom".to_string(),
            "shh".to_string(),
        )]
        .into();
        let p = plan(c, Some(json!({"extensions": {"extra": "x"}})), secrets);
        let l = launch(&p, &[("PATH".into(), "/bin".into())]).unwrap();
        assert_eq!(l.program, "sh");
        assert_eq!(l.args, ["-c", "echo hi src $(X)"]);
        assert_eq!(l.working_dir, Some(PathBuf::from("/tmp")));
        assert_eq!(get(&l, "PATH"), Some("/bin"));
        assert_eq!(get(&l, "NAME"), Some("src"));
        assert_eq!(get(&l, "NAMESPACE"), Some("ns"));
        assert_eq!(get(&l, "TOKEN"), Some("shh"));
        assert_eq!(get(&l, "POD_NS"), Some("ns"));
        assert_eq!(get(&l, "K_SINK"), Some("http://sink/"), "the contract wins");
        assert_eq!(
            get(&l, "K_CE_OVERRIDES"),
            Some(r#"{"extensions":{"extra":"x"}}"#)
        );
        assert_eq!(get(&l, "K_CA_CERTS"), None);
        assert_eq!(l.grace, DEFAULT_GRACE);
    }

    #[test]
    fn spec_errors_have_reasons() {
        let cases = [
            (json!({"name": "c", "image": "x"}), "NoCommand"),
            (
                json!({"name": "c", "command": ["a"], "env": [{"name": "T",
                "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}),
                "CreateContainerConfigError",
            ),
            (
                json!({"name": "c", "command": ["a"], "env": [{"name": "T",
                "valueFrom": {"configMapKeyRef": {"name": "s", "key": "k"}}}]}),
                "CreateContainerConfigError",
            ),
            (json!({"name": "c", "command": "not-a-list"}), "InvalidSpec"),
        ];
        for (c, reason) in cases {
            let err = launch(&plan(c.clone(), None, Secrets::new()), &[]).unwrap_err();
            assert_eq!(err.reason(), reason, "{c}: {err}");
        }
        let err = launch(
            &plan(json!({"name": "c", "image": "x"}), None, Secrets::new()),
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("containers[0].command"), "{err}");
    }

    #[test]
    fn optional_missing_secret_is_skipped_and_no_overrides_is_empty() {
        let c = json!({"name": "c", "command": ["a"], "env": [{"name": "T",
            "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": true}}}]});
        let l = launch(&plan(c, None, Secrets::new()), &[]).unwrap();
        assert_eq!(get(&l, "T"), None);
        assert_eq!(get(&l, "K_CE_OVERRIDES"), Some(""));
    }

    #[test]
    fn expansion_table() {
        let lookup = |n: &str| (n == "A").then(|| "1".to_string());
        for (input, want) in [
            ("$(A)", "1"),
            ("x$(A)y$(A)", "x1y1"),
            ("$(B)", "$(B)"),
            ("$$(A)", "$(A)"),
            ("$$", "$"),
            ("$", "$"),
            ("a$b", "a$b"),
            ("$(A", "$(A"),
            ("ünï$(A)cödé", "ünï1cödé"),
        ] {
            assert_eq!(expand(input, &lookup), want, "{input}");
        }
    }
}
