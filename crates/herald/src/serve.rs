//! `herald serve`: opens the store, starts the API and ingress listeners and the controllers,
//! and stops cleanly on Ctrl-C or SIGTERM.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use herald_api::Registry;
use herald_store::{Store, StoreOptions};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::cli::ServeArgs;
use crate::{kubeconfig, tls};

pub async fn run(args: ServeArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let options = StoreOptions {
        history_limit: args.watch_history.max(1),
        ..StoreOptions::default()
    };
    let store = Store::open_with(&args.data_dir.join("store"), options)
        .with_context(|| format!("opening the store in {}", args.data_dir.display()))?;
    let registry = Arc::new(Registry::new());
    ensure_default_namespace(&store)?;
    let token = api_token(&args)?;

    let api_listener = TcpListener::bind(args.api_addr)
        .await
        .with_context(|| format!("binding the API address {}", args.api_addr))?;
    let ingress_listener = TcpListener::bind(args.ingress_addr)
        .await
        .with_context(|| format!("binding the ingress address {}", args.ingress_addr))?;
    let api_addr = api_listener.local_addr()?;
    let ingress_addr = ingress_listener.local_addr()?;
    let ingress_url = format!("http://{ingress_addr}");
    // kubectl sends bearer tokens only over TLS, so an API that needs one speaks HTTPS.
    let tls = match (&args.tls_cert_file, &args.tls_key_file, &token) {
        (Some(cert), Some(key), _) => Some(tls::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            ca: None,
        }),
        (_, _, Some(_)) => Some(tls::ensure_generated(
            &args.data_dir,
            args.api_addr.ip(),
            &args.tls_sans,
        )?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let api_url = format!("{scheme}://{api_addr}");

    let shutdown = CancellationToken::new();
    let api = herald_apiserver::router(herald_apiserver::ApiState::new(
        store.clone(),
        registry.clone(),
        herald_apiserver::ApiServerConfig {
            token: token.clone(),
            ingress_base_url: ingress_url.clone(),
        },
    ));
    let mut dp_config = herald_dataplane::DataPlaneConfig::new(&args.data_dir, &ingress_url);
    dp_config.max_request_bytes = args.max_request_bytes.max(1024);
    dp_config.trigger_concurrency = args.trigger_concurrency.max(1);
    dp_config.fsync = !args.unsafe_no_fsync;
    dp_config.max_inflight_requests = args.max_inflight_requests.max(1);
    dp_config.max_observed_types = args.max_observed_types;
    let data_plane = herald_dataplane::DataPlane::new(dp_config, shutdown.clone())?;
    let ca_pem = match tls.as_ref().and_then(|t| t.ca.as_ref()) {
        Some(p) => {
            Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
        }
        None => None,
    };
    let api_access = herald_sources::ApiAccess {
        url: api_url.clone(),
        token: token.clone(),
        ca_pem: ca_pem.clone(),
        kubeconfig: args.source_kubeconfig.clone(),
    };
    // ApiServerSource events name the API server they watch as their source.
    let apiserver_source_url = match &args.source_kubeconfig {
        Some(path) => herald_sources::apiserver::source_url(&api_access)
            .await
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("--source-kubeconfig {}", path.display()))?,
        None => api_url.clone(),
    };
    let sources = herald_sources::Sources::new(
        herald_sources::SourcesConfig {
            ingress_base_url: ingress_url.clone(),
            data_dir: args.data_dir.clone(),
            api: api_access,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .context("building the sources' HTTP client")?,
        },
        shutdown.clone(),
    );
    let controller = herald_controller::Controller::new(
        store.clone(),
        registry.clone(),
        herald_controller::ControllerEnv::new(ingress_url.clone(), apiserver_source_url)
            .with_data_plane(readiness(data_plane.clone(), sources.clone())),
    );
    let requeue = controller.requeue();
    {
        let requeue = requeue.clone();
        sources.on_status_change(move |kind| requeue.kind(kind.group(), kind.name()));
    }

    let api_task = match &tls {
        Some(files) => {
            let listener = tls::TlsListener::new(api_listener, tls::acceptor(files)?)?;
            tokio::spawn(serve_until(listener, api, shutdown.clone()))
        }
        None => tokio::spawn(serve_until(api_listener, api, shutdown.clone())),
    };
    let kubeconfig_file = kubeconfig::kubeconfig_path(&args.data_dir);
    let connect_host = if api_addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        api_addr.ip().to_string()
    };
    let connect_host = if connect_host.contains(':') {
        format!("[{connect_host}]")
    } else {
        connect_host
    };
    write_private(
        &kubeconfig_file,
        &kubeconfig::render(
            &format!("{scheme}://{connect_host}:{}", api_addr.port()),
            token.as_deref(),
            ca_pem.as_deref(),
        ),
    )?;
    let ingress_task = tokio::spawn(serve_until(
        ingress_listener,
        data_plane.router().merge(sources.router()),
        shutdown.clone(),
    ));
    let plan_task = tokio::spawn(crate::plan::run(
        store.clone(),
        registry.clone(),
        data_plane.clone(),
        requeue.clone(),
        shutdown.clone(),
    ));
    let sources_task = tokio::spawn(crate::source_plan::run(
        store.clone(),
        registry.clone(),
        sources.clone(),
        requeue,
        shutdown.clone(),
    ));
    let registry_task = tokio::spawn(crate::event_registry::run(
        store.clone(),
        registry.clone(),
        data_plane.clone(),
        crate::event_registry::RegistryConfig {
            interval: std::time::Duration::from_millis(args.eventtype_flush_ms.max(10)),
            auto_create_limit: args.eventtype_auto_create_limit,
        },
        shutdown.clone(),
    ));
    let controller_task = tokio::spawn(controller.run(shutdown.clone()));

    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "Herald API listening on {api_url}")?;
        writeln!(out, "Herald ingress listening on {ingress_url}")?;
        writeln!(out, "Herald data in {}", args.data_dir.display())?;
        if token.is_some() {
            writeln!(out, "Herald API requires a bearer token over TLS")?;
        }
        // An absolute path, so the printed line works from any directory.
        let shown = std::fs::canonicalize(&kubeconfig_file).unwrap_or(kubeconfig_file.clone());
        writeln!(out, "kubectl: export KUBECONFIG={}", shown.display())?;
        out.flush()?;
    }

    wait_for_signal().await;
    tracing::info!("shutting down");
    shutdown.cancel();
    for (name, task) in [("API", api_task), ("ingress", ingress_task)] {
        if let Ok(Err(e)) = task.await {
            tracing::warn!("{name} listener stopped with an error: {e}");
        }
    }
    let _ = controller_task.await;
    let _ = plan_task.await;
    let _ = sources_task.await;
    let _ = registry_task.await;
    sources.close().await;
    data_plane.close().await;
    Ok(())
}

/// Serves a router until `shutdown` fires, finishing in-flight requests.
async fn serve_until<L>(
    listener: L,
    app: axum::Router,
    shutdown: CancellationToken,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// Reports what the data plane and the source runtime applied as the controller's readiness.
fn readiness(
    dp: herald_dataplane::DataPlane,
    sources: herald_sources::Sources,
) -> herald_controller::DataPlaneStatus {
    use herald_controller::{DataPlaneKind, DataPlaneReadiness};
    use herald_sources::{SourceKind, SourceStatus};
    Arc::new(move |kind, ns, name| match kind {
        DataPlaneKind::Source(k) => {
            let status = SourceKind::from_name(k).and_then(|k| sources.status(k, ns, name));
            match status {
                Some((generation, SourceStatus::Ready)) => {
                    DataPlaneReadiness::Applied { generation }
                }
                Some((_, SourceStatus::Pending { reason, message })) => {
                    DataPlaneReadiness::Pending { reason, message }
                }
                Some((_, SourceStatus::Failed { reason, message })) => {
                    DataPlaneReadiness::Failed { reason, message }
                }
                None => DataPlaneReadiness::Pending {
                    reason: "SourcePending".into(),
                    message: format!("the {k} is not running yet"),
                },
            }
        }
        DataPlaneKind::Broker if dp.broker_ready(ns, name) => DataPlaneReadiness::Ready,
        DataPlaneKind::Broker => DataPlaneReadiness::Pending {
            reason: "DataPlanePending".into(),
            message: "the broker's log is not open yet".into(),
        },
        DataPlaneKind::Channel if dp.channel_ready(ns, name) => DataPlaneReadiness::Ready,
        DataPlaneKind::Channel => DataPlaneReadiness::Pending {
            reason: "DataPlanePending".into(),
            message: "the channel's log is not open yet".into(),
        },
        DataPlaneKind::Trigger | DataPlaneKind::Subscription => {
            let (applied, what) = if kind == DataPlaneKind::Trigger {
                (dp.trigger_status(ns, name), "trigger")
            } else {
                (dp.subscription_status(ns, name), "subscription")
            };
            match applied {
                Some(herald_dataplane::Applied::Ready { generation }) => {
                    DataPlaneReadiness::Applied { generation }
                }
                Some(herald_dataplane::Applied::Failed { reason, message }) => {
                    DataPlaneReadiness::Failed { reason, message }
                }
                None => DataPlaneReadiness::Pending {
                    reason: "DataPlanePending".into(),
                    message: format!("the {what}'s dispatcher is not running yet"),
                },
            }
        }
    })
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Every Kubernetes cluster has the `default` namespace; so does Herald.
fn ensure_default_namespace(store: &Store) -> Result<()> {
    if store.get("core/namespaces", "", "default")?.is_none() {
        store.create(
            "core/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "default", "generation": 1},
                   "spec": {}, "status": {"phase": "Active"}}),
        )?;
    }
    Ok(())
}

/// The API token: given, or (for a non-loopback API address) loaded from or generated into
/// `<data-dir>/api-token`. Loopback may run open.
fn api_token(args: &ServeArgs) -> Result<Option<String>> {
    if let Some(t) = &args.api_token {
        return Ok(Some(t.clone()));
    }
    if args.api_addr.ip().is_loopback() {
        return Ok(None);
    }
    if let Some(t) = kubeconfig::read_token(&args.data_dir)? {
        return Ok(Some(t));
    }
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    write_private(&kubeconfig::token_path(&args.data_dir), &token)?;
    eprintln!(
        "The API listens on {}, so it requires a token; it was saved to {}",
        args.api_addr,
        kubeconfig::token_path(&args.data_dir).display()
    );
    Ok(Some(token))
}

/// Writes a file only the current user can read.
pub fn write_private(path: &Path, content: &str) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    Ok(())
}
