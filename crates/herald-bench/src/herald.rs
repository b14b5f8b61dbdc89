//! Running the system under test: start `herald serve` on free ports with a fresh data
//! directory, create the Broker and Trigger through its API, and stop it with SIGTERM.
//!
//! Each run gets a new process and a new data directory (Knative's benchmark notes: recreate
//! the system under test between runs), so no run inherits another's log or warm caches.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

const API_LINE: &str = "Herald API listening on ";
const INGRESS_LINE: &str = "Herald ingress listening on ";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
const GROUP: &str = "/apis/eventing.knative.dev/v1/namespaces/default";

pub struct Herald {
    child: Child,
    pub pid: String,
    pub api: String,
    pub ingress: String,
    /// Removed (with Herald's data) when dropped.
    dir: TempDir,
}

impl Herald {
    /// Starts `herald serve` and waits for it to print where it listens. Blocking: call it
    /// through `spawn_blocking`.
    pub fn start(binary: &Path, parent: &Path, no_fsync: bool) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("herald-bench-")
            .tempdir_in(parent)
            .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
        let stderr = std::fs::File::create(dir.path().join("herald.stderr"))
            .context("creating Herald's log file")?;
        let mut cmd = Command::new(binary);
        cmd.arg("serve")
            .args(["--api-addr", "127.0.0.1:0", "--ingress-addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        if no_fsync {
            cmd.arg("--unsafe-no-fsync");
        }
        let mut child = cmd.spawn().with_context(|| {
            format!(
                "starting {} (build it with cargo build --release -p herald)",
                binary.display()
            )
        })?;
        let pid = child.id().to_string();
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
        let mut herald = Self {
            child,
            pid,
            api: String::new(),
            ingress: String::new(),
            dir,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while herald.api.is_empty() || herald.ingress.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix(API_LINE) {
                        herald.api = url.trim().to_string();
                    } else if let Some(url) = line.strip_prefix(INGRESS_LINE) {
                        herald.ingress = url.trim().to_string();
                    }
                }
                Err(_) => bail!(
                    "Herald did not print its listening addresses within {}s; its log ends:\n{}",
                    STARTUP_TIMEOUT.as_secs(),
                    herald.log_tail()
                ),
            }
        }
        Ok(herald)
    }

    /// Creates Broker `bench` and Trigger `t` (subscriber `sink_url`) and waits until the Trigger
    /// is Ready, which Herald only claims once its dispatcher runs. Returns the Broker's ingress URL.
    pub async fn setup(&self, client: &reqwest::Client, sink_url: &str) -> Result<String> {
        let broker = json!({
            "apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
            "metadata": {"name": "bench"}
        });
        let trigger = json!({
            "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
            "metadata": {"name": "t"},
            "spec": {"broker": "bench", "subscriber": {"uri": format!("{sink_url}/")}}
        });
        self.create(client, "brokers", &broker).await?;
        self.create(client, "triggers", &trigger).await?;
        let url = format!("{}{GROUP}/triggers/t", self.api);
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            let resp = client
                .get(&url)
                .send()
                .await
                .context("reading the Trigger")?;
            if resp.status().is_success() {
                last = resp.json().await.context("the Trigger is not JSON")?;
                if ready(&last) {
                    return Ok(format!("{}/default/bench", self.ingress));
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "the Trigger was not Ready within {}s; its status: {}\nHerald's log ends:\n{}",
            READY_TIMEOUT.as_secs(),
            last.get("status").unwrap_or(&Value::Null),
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
        let term = Command::new("kill").args(["-TERM", &self.pid]).status();
        if !matches!(term, Ok(s) if s.success()) {
            self.child.kill().context("killing Herald")?;
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().context("waiting for Herald")? {
                if !status.success() {
                    eprintln!("herald-bench: Herald exited with {status} after SIGTERM");
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!(
                    "Herald did not stop within {}s of SIGTERM; killed",
                    STOP_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of Herald's stderr, for error messages.
    pub fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("herald.stderr")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
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
}
