//! Test harness: a small registry (Namespace, ConfigMap, Secret and a `Widget` kind served
//! as `test.herald.dev/v1` and a deprecated `v1alpha1`), a server on 127.0.0.1:0 over a
//! temporary store, and helpers to drive it with HTTP and with the real kubectl.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use herald_api::registry::{
    AGE_COLUMN, Ctx, Kind, PrinterColumn, READY_COLUMN, Resource, ServedVersion, Typed, identity,
    set_type,
};
use herald_api::{FieldError, FieldErrors, Object, Registry};

use herald_apiserver::{ApiServerConfig, ApiState};
use herald_store::Store;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetSpec {
    /// How big the widget is; must not be negative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// The widget's colour (defaults to `blue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Immutable class of the widget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Optional filter attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<WidgetFilter>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WidgetFilter {
    /// Exact attribute matches.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// Typed object shape (a local struct: the orphan rule forbids `impl Kind for Object<..>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Widget {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: herald_api::meta::ObjectMeta,
    /// Desired state of the widget.
    #[serde(default)]
    pub spec: WidgetSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<herald_api::meta::Status>,
}

impl Kind for Widget {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        if self.spec.color.is_none() {
            self.spec.color = Some("blue".into());
        }
    }
    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if let Some(s) = self.spec.size
            && s < 0
        {
            errs.push(FieldError::invalid(
                "spec.size",
                format!("Invalid value: {s}: must be >= 0"),
            ));
        }
        errs
    }
    fn validate_update(&self, old: &Self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if self.spec.class != old.spec.class {
            errs.push(FieldError::immutable("spec.class"));
        }
        errs
    }
}

/// v1alpha1 calls `size` `oldSize`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetSpecV1alpha1 {
    /// Old name of size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
}
pub type WidgetV1alpha1 = Object<WidgetSpecV1alpha1, herald_api::meta::Status>;

fn rename_spec_field(mut v: Value, from: &str, to: &str) -> Value {
    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(x) = spec.remove(from)
    {
        spec.insert(to.into(), x);
    }
    v
}

fn alpha_to_storage(v: Value) -> Result<Value, FieldErrors> {
    Ok(set_type(
        rename_spec_field(v, "oldSize", "size"),
        "test.herald.dev/v1",
        "Widget",
    ))
}
fn alpha_from_storage(v: Value) -> Result<Value, FieldErrors> {
    Ok(set_type(
        rename_spec_field(v, "size", "oldSize"),
        "test.herald.dev/v1alpha1",
        "Widget",
    ))
}

const WIDGET_COLUMNS: &[PrinterColumn] = &[
    PrinterColumn {
        name: "Size",
        type_: "integer",
        json_path: ".spec.size",
        priority: 0,
        description: "size",
    },
    PrinterColumn {
        name: "Class",
        type_: "string",
        json_path: ".metadata.annotations.test\\.herald\\.dev/widget\\.class",
        priority: 0,
        description: "class",
    },
    READY_COLUMN,
    AGE_COLUMN,
];

fn widget_schema() -> Value {
    herald_api::schema::structural::<Widget>()
}
fn widget_alpha_schema() -> Value {
    herald_api::schema::structural::<WidgetV1alpha1>()
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: herald_api::meta::ObjectMeta,
    /// Configuration data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<BTreeMap<String, String>>,
}
impl Kind for ConfigMap {}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: herald_api::meta::ObjectMeta,
    /// Secret data, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_data: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub type_: Option<String>,
}
impl Kind for Secret {}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct NamespaceSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct NamespaceStatus {
    /// Active or Terminating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: herald_api::meta::ObjectMeta,
    #[serde(default)]
    pub spec: NamespaceSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NamespaceStatus>,
}
impl Kind for Namespace {}

fn ns_schema() -> Value {
    herald_api::schema::structural::<Namespace>()
}
fn cm_schema() -> Value {
    herald_api::schema::structural::<ConfigMap>()
}
fn secret_schema() -> Value {
    herald_api::schema::structural::<Secret>()
}

fn core(kind: &'static str, plural: &'static str, singular: &'static str) -> ServedVersion {
    ServedVersion {
        group: "",
        version: "v1",
        kind,
        plural,
        singular,
        short_names: &[],
        categories: &[],
        columns: &[AGE_COLUMN],
        deprecated: None,
        schema: cm_schema,
        to_storage: identity,
        from_storage: identity,
    }
}

/// The test registry.
pub fn test_registry() -> Registry {
    Registry::from_resources(test_registry_resources())
}

/// The test registry's resources.
pub fn test_registry_resources() -> Vec<Resource> {
    const NS_COLUMNS: &[PrinterColumn] = &[
        PrinterColumn {
            name: "Status",
            type_: "string",
            json_path: ".status.phase",
            priority: 0,
            description: "",
        },
        AGE_COLUMN,
    ];
    vec![
        Resource {
            group: "",
            plural: "namespaces",
            kind: "Namespace",
            namespaced: false,
            has_status: true,
            sensitive: false,
            versions: vec![ServedVersion {
                short_names: &["ns"],
                columns: NS_COLUMNS,
                schema: ns_schema,
                ..core("Namespace", "namespaces", "namespace")
            }],
            hooks: Box::new(Typed::<Namespace>::new()),
        },
        Resource {
            group: "",
            plural: "configmaps",
            kind: "ConfigMap",
            namespaced: true,
            has_status: false,
            sensitive: false,
            versions: vec![ServedVersion {
                short_names: &["cm"],
                ..core("ConfigMap", "configmaps", "configmap")
            }],
            hooks: Box::new(Typed::<ConfigMap>::new()),
        },
        Resource {
            group: "",
            plural: "secrets",
            kind: "Secret",
            namespaced: true,
            has_status: false,
            sensitive: true,
            versions: vec![ServedVersion {
                schema: secret_schema,
                ..core("Secret", "secrets", "secret")
            }],
            hooks: Box::new(Typed::<Secret>::new()),
        },
        Resource {
            group: "test.herald.dev",
            plural: "widgets",
            kind: "Widget",
            namespaced: true,
            has_status: true,
            sensitive: false,
            versions: vec![
                ServedVersion {
                    group: "test.herald.dev",
                    version: "v1",
                    kind: "Widget",
                    plural: "widgets",
                    singular: "widget",
                    short_names: &["wd"],
                    categories: &["all", "herald"],
                    columns: WIDGET_COLUMNS,
                    deprecated: None,
                    schema: widget_schema,
                    to_storage: identity,
                    from_storage: identity,
                },
                ServedVersion {
                    group: "test.herald.dev",
                    version: "v1alpha1",
                    kind: "Widget",
                    plural: "widgets",
                    singular: "widget",
                    short_names: &["wd"],
                    categories: &["all", "herald"],
                    columns: WIDGET_COLUMNS,
                    deprecated: Some(
                        "test.herald.dev/v1alpha1 Widget is deprecated; use test.herald.dev/v1",
                    ),
                    schema: widget_alpha_schema,
                    to_storage: alpha_to_storage,
                    from_storage: alpha_from_storage,
                },
            ],
            hooks: Box::new(Typed::<Widget>::new()),
        },
    ]
}

/// A running API server over a temporary store.
pub struct Server {
    pub url: String,
    pub port: u16,
    pub store: Store,
    pub dir: tempfile::TempDir,
    pub registry: Arc<Registry>,
}

impl Server {
    /// Starts a server (in the current tokio runtime) with the `default` namespace.
    pub async fn start(registry: Registry, token: Option<&str>) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("open store");
        let registry = Arc::new(registry);
        if registry.by_key("core/namespaces").is_some() {
            store
                .create(
                    "core/namespaces",
                    json!({"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": "default", "generation": 1},
                           "spec": {}, "status": {"phase": "Active"}}),
                )
                .expect("default namespace");
        }
        let state = ApiState::new(
            store.clone(),
            registry.clone(),
            ApiServerConfig {
                token: token.map(str::to_string),
                ingress_base_url: "http://127.0.0.1:1".into(),
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let app = herald_apiserver::router(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server {
            url: format!("http://127.0.0.1:{port}"),
            port,
            store,
            dir,
            registry,
        }
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("kube-cache")
    }

    /// Runs kubectl against this server; returns (success, stdout, stderr).
    pub async fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        self.kubectl_env(args, &[], None).await
    }

    pub async fn kubectl_env(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> (bool, String, String) {
        let mut cmd = kubectl_command();
        cmd.arg("--server")
            .arg(&self.url)
            .arg("--cache-dir")
            .arg(self.cache_dir())
            .args(args)
            .env("KUBECONFIG", self.dir.path().join("no-kubeconfig"))
            .env("HOME", self.dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kubectl");
        if let Some(mut w) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            if let Some(s) = stdin {
                w.write_all(s.as_bytes()).await.expect("stdin");
            }
            drop(w);
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("kubectl timed out")
            .expect("kubectl output");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs kubectl and fails the test with its output unless it succeeds.
    pub async fn kubectl_ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.kubectl(args).await;
        assert!(ok, "kubectl {args:?} failed:\nstdout: {out}\nstderr: {err}");
        out
    }

    pub fn write_file(&self, name: &str, content: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).expect("write manifest");
        p.to_string_lossy().into_owned()
    }
}

/// The kubectl binary; a clear failure when it is missing.
pub fn kubectl_command() -> tokio::process::Command {
    let path = std::env::var("KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "kubectl not found at {path}: these tests drive the real kubectl (set KUBECTL=/path/to/kubectl)"
    );
    tokio::process::Command::new(path)
}

/// An HTTP client. The workspace's reqwest has no built-in crypto provider, so install ring
/// (once; later calls are no-ops) even though these tests only speak plain HTTP.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
