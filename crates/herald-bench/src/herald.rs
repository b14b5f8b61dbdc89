//! Running the system under test: start `herald serve` on free ports with a fresh data
//! directory, create the Broker and Trigger through its API, and stop it with SIGTERM.
//!
//! Each run gets a new process and a new data directory (Knative's benchmark notes: recreate
//! the system under test between runs), so no run inherits another's log or warm caches.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

const API_LINE: &str = "Herald API listening on ";
const INGRESS_LINE: &str = "Herald ingress listening on ";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Creates in flight while setting up Triggers.
const CREATE_CONCURRENCY: usize = 16;
/// The load's event type (see `load.rs`), which the matching Triggers filter on.
const EVENT_TYPE: &str = "bench.event";
/// The readiness probe's event type, which no benchmark Trigger with a filter matches.
const PROBE_TYPE: &str = "bench.probe";
const GROUP: &str = "/apis/eventing.knative.dev/v1/namespaces/default";

/// How to start Herald: which binary, durable or not, and on which CPUs (`--pin`).
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: PathBuf,
    pub no_fsync: bool,
    /// A `taskset -c` CPU list; Herald is started through `taskset` when set.
    pub cpus: Option<String>,
}

/// The Triggers a run creates on Broker `bench`. Subscriber paths are `/t<n>` for Triggers that
/// match the load's events, so the sink can count each one's deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Triggers {
    /// Broker only: ingress and log, nothing to deliver.
    None,
    /// `n` Triggers without a filter: every event is delivered `n` times (fan-out).
    Fanout(u32),
    /// `n` Triggers with exact `type` filters, of which only `t0` matches the load's events.
    Filtered(u32),
    /// One Trigger matching the load's type with an hour-long delivery timeout, so deliveries
    /// held by a paused subscriber wait instead of failing (the backlog scenario).
    Held,
}

impl Triggers {
    /// Deliveries each accepted event should produce.
    pub fn routes(self) -> u32 {
        match self {
            Triggers::None => 0,
            Triggers::Fanout(n) => n,
            Triggers::Filtered(_) | Triggers::Held => 1,
        }
    }

    pub fn total(self) -> u32 {
        match self {
            Triggers::None => 0,
            Triggers::Fanout(n) | Triggers::Filtered(n) => n,
            Triggers::Held => 1,
        }
    }

    /// The `i`-th Trigger object (pure, unit-tested).
    fn object(self, i: u32, sink_url: &str) -> Value {
        let mut spec = json!({"broker": "bench"});
        let (name, path) = match self {
            Triggers::Filtered(_) if i > 0 => {
                spec["filters"] = json!([{"exact": {"type": format!("bench.other.{i}")}}]);
                // Never called unless the filter is broken; the sink counts it as foreign.
                (format!("o{i}"), "/x".to_string())
            }
            Triggers::Filtered(_) => {
                spec["filters"] = json!([{"exact": {"type": EVENT_TYPE}}]);
                ("t0".to_string(), "/t0".to_string())
            }
            Triggers::Held => {
                spec["filters"] = json!([{"exact": {"type": EVENT_TYPE}}]);
                spec["delivery"] = json!({"timeout": "PT1H"});
                ("t0".to_string(), "/t0".to_string())
            }
            Triggers::None | Triggers::Fanout(_) => (format!("t{i}"), format!("/t{i}")),
        };
        spec["subscriber"] = json!({"uri": format!("{sink_url}{path}")});
        json!({
            "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
            "metadata": {"name": name}, "spec": spec
        })
    }
}

/// How long the Broker and Triggers took to set up.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetupTimes {
    /// Until every create was answered.
    pub created: Duration,
    /// Until the Broker (no Triggers) or every Trigger was Ready.
    pub ready: Duration,
}

pub struct Herald {
    child: Child,
    pub pid: String,
    pub api: String,
    pub ingress: String,
    launch: Launch,
    /// Removed (with Herald's data) when dropped.
    dir: TempDir,
}

impl Herald {
    /// Starts `herald serve` on a new data directory and waits for it to print where it
    /// listens. Blocking: call it through `spawn_blocking`.
    pub fn start(launch: &Launch, parent: &Path) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("herald-bench-")
            .tempdir_in(parent)
            .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
        let (child, api, ingress) = spawn(launch, dir.path())?;
        Ok(Self {
            pid: child.id().to_string(),
            child,
            api,
            ingress,
            launch: launch.clone(),
            dir,
        })
    }

    /// The data directory Herald runs on.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The ingress URL of Broker `bench`.
    pub fn broker_url(&self) -> String {
        format!("{}/default/bench", self.ingress)
    }

    /// Waits until Herald is ready: `/readyz` answers 200 and the ingress answers (with
    /// `broker`, it accepts a probe event there, which no benchmark Trigger matches). Polls
    /// every millisecond, so the figure is good to about that.
    pub async fn wait_ready(&self, client: &reqwest::Client, broker: bool) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let readyz = format!("{}/readyz", self.api);
        let metrics = format!("{}/_herald/metrics", self.ingress);
        let mut api_ready = false;
        let mut n = 0u64;
        while Instant::now() < deadline {
            if !api_ready {
                api_ready =
                    matches!(client.get(&readyz).send().await, Ok(r) if r.status().is_success());
            }
            if api_ready {
                let answer = if broker {
                    n += 1;
                    client
                        .post(self.broker_url())
                        .header("ce-specversion", "1.0")
                        .header("ce-id", format!("probe-{n}"))
                        .header("ce-type", PROBE_TYPE)
                        .header("ce-source", "/bench")
                        .send()
                        .await
                } else {
                    client.get(&metrics).send().await
                };
                if matches!(answer, Ok(r) if r.status().is_success()) {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        bail!(
            "Herald was not ready within {}s; its log ends:\n{}",
            READY_TIMEOUT.as_secs(),
            self.log_tail()
        )
    }

    /// Stops Herald (SIGTERM, or SIGKILL with `kill`) and starts it again on the same data
    /// directory. Returns (time to stop, time from spawn until ready with the Broker).
    pub async fn restart(
        &mut self,
        client: &reqwest::Client,
        kill: bool,
    ) -> Result<(Duration, Duration)> {
        let t = Instant::now();
        self.signal(if kill { "-KILL" } else { "-TERM" })?;
        self.wait_exit().await?;
        let stopped = t.elapsed();
        let t = Instant::now();
        let (child, api, ingress) =
            tokio::task::block_in_place(|| spawn(&self.launch, self.dir.path()))?;
        self.pid = child.id().to_string();
        self.child = child;
        self.api = api;
        self.ingress = ingress;
        self.wait_ready(client, true).await?;
        Ok((stopped, t.elapsed()))
    }

    /// Creates Broker `bench` and `triggers` (subscribers under `sink_url`) and waits until
    /// every Trigger (or, without Triggers, the Broker) is Ready, which Herald only claims once
    /// its data plane applied it. Returns the Broker's ingress URL and the setup times.
    pub async fn setup(
        &self,
        client: &reqwest::Client,
        sink_url: &str,
        triggers: Triggers,
    ) -> Result<(String, SetupTimes)> {
        let t = Instant::now();
        let broker = json!({
            "apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
            "metadata": {"name": "bench"}
        });
        self.create(client, "brokers", &broker).await?;
        // Concurrent creates: 10 000 Triggers one by one would take minutes of round trips.
        let creates = futures::stream::iter(0..triggers.total())
            .map(|i| {
                let body = triggers.object(i, sink_url);
                async move { self.create(client, "triggers", &body).await }
            })
            .buffer_unordered(CREATE_CONCURRENCY);
        let results: Vec<Result<()>> = creates.collect().await;
        results.into_iter().collect::<Result<Vec<()>>>()?;
        let created = t.elapsed();
        let (url, expect, poll) = match triggers.total() {
            0 => (format!("{}{GROUP}/brokers/bench", self.api), 1, 50),
            n => (
                format!("{}{GROUP}/triggers", self.api),
                n as usize,
                // A LIST of thousands of Triggers costs Herald real CPU: poll those rarely.
                if n > 1000 {
                    2000
                } else if n > 100 {
                    500
                } else {
                    50
                },
            ),
        };
        let mut reported = Instant::now();
        let deadline = Instant::now()
            + READY_TIMEOUT.max(Duration::from_millis(u64::from(triggers.total()) * 20));
        let mut seen = 0;
        while Instant::now() < deadline {
            let resp = client.get(&url).send().await.context("reading readiness")?;
            if resp.status().is_success() {
                let v: Value = resp.json().await.context("the answer is not JSON")?;
                seen = match v.get("items").and_then(Value::as_array) {
                    Some(items) => items.iter().filter(|o| ready(o)).count(),
                    None => usize::from(ready(&v)),
                };
                if expect > 1000 && reported.elapsed() >= Duration::from_secs(15) {
                    reported = Instant::now();
                    eprintln!(
                        "herald-bench:   {seen} of {expect} Triggers Ready after {:.0} s",
                        t.elapsed().as_secs_f64()
                    );
                }
                if seen >= expect {
                    let times = SetupTimes {
                        created,
                        ready: t.elapsed(),
                    };
                    return Ok((self.broker_url(), times));
                }
            }
            tokio::time::sleep(Duration::from_millis(poll)).await;
        }
        bail!(
            "only {seen} of {expect} objects were Ready within the timeout\nHerald's log ends:\n{}",
            self.log_tail()
        )
    }

    async fn create(&self, client: &reqwest::Client, plural: &str, body: &Value) -> Result<()> {
        let url = format!("{}{GROUP}/{plural}", self.api);
        let resp = client
            .post(&url)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = resp.status();
        if status == StatusCode::CREATED || status == StatusCode::OK {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        Err(anyhow!("POST {url} answered {status}: {text}"))
    }

    /// Sends SIGTERM and waits for Herald to exit; SIGKILL if it does not within 15 s.
    pub async fn stop(mut self) -> Result<()> {
        self.signal("-TERM")?;
        self.wait_exit().await
    }

    fn signal(&mut self, signal: &str) -> Result<()> {
        let sent = Command::new("kill").args([signal, &self.pid]).status();
        if !matches!(sent, Ok(s) if s.success()) {
            self.child.kill().context("killing Herald")?;
        }
        Ok(())
    }

    async fn wait_exit(&mut self) -> Result<()> {
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().context("waiting for Herald")? {
                if !status.success() && status.code().is_some() {
                    eprintln!("herald-bench: Herald exited with {status}");
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!(
                    "Herald did not stop within {}s of the signal; killed",
                    STOP_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// The last lines of Herald's stderr, for error messages.
    pub fn log_tail(&self) -> String {
        tail(&self.dir.path().join("herald.stderr"))
    }
}

/// Spawns `herald serve` on `dir/data` and reads the API and ingress URLs from its stdout.
fn spawn(launch: &Launch, dir: &Path) -> Result<(Child, String, String)> {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("herald.stderr"))
        .context("opening Herald's log file")?;
    let mut cmd = match &launch.cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus]).arg(&launch.binary);
            c
        }
        None => Command::new(&launch.binary),
    };
    cmd.arg("serve")
        .args(["--api-addr", "127.0.0.1:0", "--ingress-addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    if launch.no_fsync {
        cmd.arg("--unsafe-no-fsync");
    }
    let mut child = cmd.spawn().with_context(|| {
        format!(
            "starting {} (build it with cargo build --release -p herald)",
            launch.binary.display()
        )
    })?;
    let stdout = child
        .stdout
        .take()
        .context("Herald's stdout was not captured")?;
    let (tx, rx) = mpsc::channel();
    // Keep reading after the two lines so Herald never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut api, mut ingress) = (String::new(), String::new());
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while api.is_empty() || ingress.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(url) = line.strip_prefix(API_LINE) {
                    api = url.trim().to_string();
                } else if let Some(url) = line.strip_prefix(INGRESS_LINE) {
                    ingress = url.trim().to_string();
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "Herald did not print its listening addresses within {}s; its log ends:\n{}",
                    STARTUP_TIMEOUT.as_secs(),
                    tail(&dir.join("herald.stderr"))
                )
            }
        }
    }
    Ok((child, api, ingress))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

impl Drop for Herald {
    /// On an error path nothing else stops Herald; never leave it running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `.status.conditions[type=Ready].status == "True"`.
fn ready(obj: &Value) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conds| {
            conds.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness() {
        let yes = json!({"status": {"conditions": [
            {"type": "BrokerReady", "status": "True"}, {"type": "Ready", "status": "True"}]}});
        let no = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(ready(&yes));
        assert!(!ready(&no));
        assert!(!ready(&json!({})));
    }

    #[test]
    fn trigger_objects() {
        let f = Triggers::Filtered(3);
        assert_eq!(
            f.object(0, "http://s")["spec"]["filters"][0]["exact"]["type"],
            "bench.event"
        );
        assert_eq!(
            f.object(0, "http://s")["spec"]["subscriber"]["uri"],
            "http://s/t0"
        );
        let other = f.object(2, "http://s");
        assert_eq!(other["metadata"]["name"], "o2");
        assert_eq!(
            other["spec"]["filters"][0]["exact"]["type"],
            "bench.other.2"
        );
        let fan = Triggers::Fanout(10).object(9, "http://s");
        assert_eq!(fan["spec"]["subscriber"]["uri"], "http://s/t9");
        assert!(fan["spec"].get("filters").is_none());
        assert_eq!(
            Triggers::Held.object(0, "http://s")["spec"]["delivery"]["timeout"],
            "PT1H"
        );
        assert_eq!(
            (Triggers::Fanout(10).routes(), Triggers::None.routes()),
            (10, 0)
        );
    }
}
