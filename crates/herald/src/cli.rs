//! Command-line interface. Flags double as environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Herald: Knative Eventing in one binary.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Herald: the resource API, the event ingress and the controllers.
    Serve(ServeArgs),
    /// Create or update resources from YAML/JSON manifests (server-side apply).
    Apply(ApplyArgs),
    /// Show resources.
    Get(GetArgs),
    /// Delete resources.
    Delete(DeleteArgs),
    /// Print a kubeconfig for this server, so `kubectl` can talk to Herald.
    Kubeconfig(KubeconfigArgs),
    /// Send one CloudEvent to a Broker (or any URL with --to).
    Send(SendArgs),
    /// Follow the events arriving at a Broker, like `kubectl logs -f`.
    Tail(TailArgs),
    /// Test a Trigger's filter or a CESQL expression against an event, offline.
    Eval(EvalArgs),
    /// Run a command with a SinkBinding's K_SINK, K_CE_OVERRIDES and K_CA_CERTS.
    Run(RunArgs),
    /// Print a ContainerSource's process output (from the data directory).
    Logs(LogsArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The SinkBinding whose resolved sink the command gets.
    #[arg(long)]
    pub binding: String,
    /// Namespace of the SinkBinding.
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
    /// The command and its arguments (after `--`).
    #[arg(required = true, last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// `containersource/<name>` (or just the name).
    pub source: String,
    /// Namespace of the ContainerSource.
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
    /// Keep printing output as it is written.
    #[arg(short, long)]
    pub follow: bool,
    /// The data directory of the `herald serve` running the source (on this machine).
    #[arg(long, env = "HERALD_DATA_DIR", default_value = "./herald-data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalOutput {
    /// Human-readable result and, for a Trigger, the sub-filter that decided it.
    Text,
    /// One JSON object: `{"result": ..., "error": ...}` (plus `"decidedBy"` for a Trigger).
    Json,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["cesql", "trigger"])))]
pub struct EvalArgs {
    /// A CESQL expression to evaluate.
    #[arg(long, value_name = "EXPR")]
    pub cesql: Option<String>,
    /// A Trigger manifest (YAML or JSON; the first Trigger of the file) whose filter to test.
    #[arg(long, value_name = "FILE", requires = "event")]
    pub trigger: Option<PathBuf>,
    /// The event: structured JSON or an HTTP request dump in binary mode (`-` for standard
    /// input). Without it, `--cesql` runs against a minimal event.
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: EvalOutput,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Name of the Broker to send to (its address is read from the API).
    #[arg(required_unless_present = "to")]
    pub broker: Option<String>,
    /// Send to this URL instead of a Broker (any CloudEvents sink).
    #[arg(long, conflicts_with = "broker")]
    pub to: Option<String>,
    /// Namespace of the Broker.
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
    /// The event's `type`.
    #[arg(long = "type")]
    pub ty: String,
    /// The event's `source`.
    #[arg(long, default_value = "herald-cli")]
    pub source: String,
    /// The event's `id` (default: a new UUID).
    #[arg(long)]
    pub id: Option<String>,
    /// The event's `subject`.
    #[arg(long)]
    pub subject: Option<String>,
    /// An extension attribute `name=value` (repeatable).
    #[arg(long = "ext", value_name = "NAME=VALUE")]
    pub extensions: Vec<String>,
    /// The event's data.
    #[arg(long, conflicts_with = "data_file")]
    pub data: Option<String>,
    /// Read the event's data from a file (`-` for standard input).
    #[arg(long)]
    pub data_file: Option<PathBuf>,
    /// `datacontenttype` (default: application/json when there is data).
    #[arg(long)]
    pub content_type: Option<String>,
    /// Send in structured mode (`application/cloudevents+json`) instead of binary mode.
    #[arg(long)]
    pub structured: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TailOutput {
    /// One CloudEvents JSON document per line.
    Json,
    /// `time type source id`, one event per line.
    Short,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    /// Name of the Broker to follow.
    pub broker: String,
    /// Namespace of the Broker.
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "json")]
    pub output: TailOutput,
    /// Stop after this many events.
    #[arg(long)]
    pub count: Option<usize>,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the resource API (what kubectl talks to).
    #[arg(long, env = "HERALD_API_ADDR", default_value = "127.0.0.1:8080")]
    pub api_addr: SocketAddr,
    /// Address of the event ingress (brokers and channels receive CloudEvents here).
    #[arg(long, env = "HERALD_INGRESS_ADDR", default_value = "127.0.0.1:8081")]
    pub ingress_addr: SocketAddr,
    /// Where Herald keeps its data.
    #[arg(long, env = "HERALD_DATA_DIR", default_value = "./herald-data")]
    pub data_dir: PathBuf,
    /// Bearer token required on the API. Required (generated and saved to
    /// `<data-dir>/api-token` if absent) when the API listens on a non-loopback address.
    #[arg(long, env = "HERALD_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// How many recent changes the store keeps so watches can resume from a resourceVersion;
    /// older ones get 410 Gone.
    #[arg(long, env = "HERALD_WATCH_HISTORY", default_value_t = 10_000)]
    pub watch_history: u64,
    /// PEM certificate (chain) for the API's TLS. Without it, an API that requires a token
    /// uses a certificate Herald generates into `<data-dir>/tls/`.
    #[arg(long, env = "HERALD_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for `--tls-cert-file`.
    #[arg(long, env = "HERALD_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// Extra DNS names or IPs for the generated certificate (repeatable).
    #[arg(long = "tls-san")]
    pub tls_sans: Vec<String>,
    /// Largest ingress request body in bytes (an event, or a batch); larger requests get 413.
    #[arg(long, env = "HERALD_MAX_REQUEST_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_request_bytes: usize,
    /// Deliveries in flight per unordered Trigger (annotation `herald.dev/delivery.concurrency`
    /// overrides it per Trigger).
    #[arg(long, env = "HERALD_TRIGGER_CONCURRENCY", default_value_t = 32)]
    pub trigger_concurrency: usize,
    /// Ingress requests handled at once; more are answered 429 (bounds memory under overload).
    #[arg(long, env = "HERALD_MAX_INFLIGHT_REQUESTS", default_value_t = 1024)]
    pub max_inflight_requests: usize,
    /// Skip fsync in broker logs. Benchmarks only: a 202 then no longer survives a crash.
    #[arg(long, hide = true)]
    pub unsafe_no_fsync: bool,
    /// Milliseconds between writes of observed traffic into the event registry (EventTypes'
    /// lastSeen/eventCount, and auto-created EventTypes).
    #[arg(long, env = "HERALD_EVENTTYPE_FLUSH_MS", default_value_t = 2000)]
    pub eventtype_flush_ms: u64,
    /// Most EventTypes traffic may auto-create in one namespace.
    #[arg(
        long,
        env = "HERALD_EVENTTYPE_AUTO_CREATE_LIMIT",
        default_value_t = 1000
    )]
    pub eventtype_auto_create_limit: usize,
    /// Distinct (broker, type, source) pairs observed between two registry writes; more are
    /// counted as dropped (herald_eventtype_observations_dropped_total).
    #[arg(long, env = "HERALD_MAX_OBSERVED_TYPES", default_value_t = 10_000)]
    pub max_observed_types: usize,
    /// A kubeconfig whose cluster ApiServerSources watch instead of Herald's own API.
    #[arg(long, env = "HERALD_SOURCE_KUBECONFIG")]
    pub source_kubeconfig: Option<PathBuf>,
}

/// How to reach a running Herald.
#[derive(Debug, Args, Clone)]
pub struct ServerArgs {
    /// URL of Herald's API (default: the server in `<data-dir>/kubeconfig`, else
    /// `http://127.0.0.1:8080`).
    #[arg(long, env = "HERALD_SERVER")]
    pub server: Option<String>,
    /// Bearer token for the API (default: `<data-dir>/api-token` if it exists).
    #[arg(long, env = "HERALD_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Data directory to read the API token from.
    #[arg(long, env = "HERALD_DATA_DIR", default_value = "./herald-data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Manifest file, directory (every .yaml/.yml/.json in it) or `-` for standard input.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<String>,
    /// Namespace for objects that do not name one.
    #[arg(short, long)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    Table,
    Wide,
    Yaml,
    Json,
    Name,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Kind, plural, singular or short name (`brokers`, `broker`, `Broker`, `imc`), optionally
    /// `kind.group`; several may be joined with commas.
    pub kind: String,
    /// Name of one object.
    pub name: Option<String>,
    /// Namespace.
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
    /// All namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
    /// Label selector, e.g. `app=x`.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kind and names (`broker default`), unless `-f` is given.
    pub args: Vec<String>,
    /// Delete the objects in these manifests.
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<String>,
    /// Namespace.
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Do not fail when an object does not exist.
    #[arg(long)]
    pub ignore_not_found: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// URL of Herald's API as clients should reach it (default: the one `herald serve` wrote
    /// into `<data-dir>/kubeconfig`).
    #[arg(long, env = "HERALD_SERVER")]
    pub server: Option<String>,
    /// Token to embed (default: `<data-dir>/api-token` if it exists).
    #[arg(long, env = "HERALD_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Data directory to read the API token from.
    #[arg(long, env = "HERALD_DATA_DIR", default_value = "./herald-data")]
    pub data_dir: PathBuf,
}
