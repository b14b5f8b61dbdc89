//! Black-box harness: runs the real `herald` binary on 127.0.0.1:0 with a temporary data
//! directory and drives it with real clients (kubectl, raw HTTP, kube-rs, the herald CLI).

#![allow(dead_code)]

pub mod broker;
pub mod kafka;
pub mod python;
pub mod sink;
pub mod tls;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running `herald serve`.
pub struct Herald {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>` of the API.
    pub api: String,
    /// `http://127.0.0.1:<port>` of the ingress.
    pub ingress: String,
    pub data_dir: PathBuf,
    cache_dir: tempfile::TempDir,
    _owned_dir: Option<tempfile::TempDir>,
}

/// The path of kubectl, or a panic that says how to get it.
pub fn kubectl_path() -> String {
    let candidate = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    match Command::new(&candidate)
        .args(["version", "--client"])
        .output()
    {
        Ok(o) if o.status.success() => candidate,
        _ => panic!(
            "kubectl is required by Herald's tests and was not found (looked for `{candidate}`; set KUBECTL to its path). Install it from your distribution or https://kubernetes.io/docs/tasks/tools/"
        ),
    }
}

impl Herald {
    /// Starts Herald with a fresh temporary data directory.
    pub fn start() -> Herald {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let mut h = Herald::start_in(&data);
        h._owned_dir = Some(dir);
        h
    }

    /// Starts Herald on an existing data directory (for restart tests).
    pub fn start_in(data_dir: &Path) -> Herald {
        Herald::start_with(data_dir, &[])
    }

    /// Starts Herald with extra `serve` arguments.
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Herald {
        Herald::start_with_env(data_dir, extra, &[])
    }

    /// Starts Herald with extra `serve` arguments and environment variables (e.g. a back
    /// end's address, as `PUBSUB_EMULATOR_HOST`).
    pub fn start_with_env(data_dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Herald {
        let log_path = data_dir.with_extension("log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log file");
        let mut args = vec!["serve"];
        for (flag, default) in [
            ("--api-addr", "127.0.0.1:0"),
            ("--ingress-addr", "127.0.0.1:0"),
        ] {
            if !extra.contains(&flag) {
                args.extend([flag, default]);
            }
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(&args)
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("RUST_LOG", "info")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn herald");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Keep draining so the child never blocks on a full pipe.
                    continue;
                }
            }
        });
        let (mut api, mut ingress) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        while api.is_none() || ingress.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(u) = line.strip_prefix("Herald API listening on ") {
                        api = Some(u.trim().to_string());
                    } else if let Some(u) = line.strip_prefix("Herald ingress listening on ") {
                        ingress = Some(u.trim().to_string());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    panic!("herald did not start within 30s; its log:\n{log}");
                }
            }
        }
        Herald {
            child: Some(child),
            api: api.unwrap_or_default(),
            ingress: ingress.unwrap_or_default(),
            data_dir: data_dir.to_path_buf(),
            cache_dir: tempfile::tempdir().expect("cache dir"),
            _owned_dir: None,
        }
    }

    /// Kills the process with SIGKILL (no clean shutdown) and waits for it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit status success.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.with_extension("log")).unwrap_or_default()
    }

    /// Runs kubectl against this server.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_stdin(args, None)
    }

    /// Runs kubectl with data on standard input.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(kubectl_path());
        cmd.arg("--server")
            .arg(&self.api)
            .arg("--cache-dir")
            .arg(self.cache_dir.path())
            .args(args)
            .env("KUBECONFIG", "/dev/null")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kubectl");
        if let Some(input) = stdin {
            use std::io::Write;
            let mut s = child.stdin.take().expect("stdin");
            s.write_all(input.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("kubectl output")
    }

    /// Runs kubectl and returns stdout, failing the test with both streams if it failed.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}\nherald log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn kubectl_err(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Runs the herald CLI against this server.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .env("HERALD_SERVER", &self.api)
            .env("HERALD_DATA_DIR", &self.data_dir)
            .output()
            .expect("run herald cli")
    }

    /// Polls kubectl's jsonpath output until it equals `want` (or panics after 20 s).
    pub fn wait_jsonpath(&self, target: &[&str], jsonpath: &str, want: &str) {
        self.wait_jsonpath_within(target, jsonpath, want, Duration::from_secs(20));
    }

    /// `wait_jsonpath` with its own limit (sources that reconnect with backoff need longer);
    /// on failure it shows Herald's log.
    pub fn wait_jsonpath_within(
        &self,
        target: &[&str],
        jsonpath: &str,
        want: &str,
        timeout: Duration,
    ) {
        let expr = format!("jsonpath={jsonpath}");
        let mut args: Vec<&str> = vec!["get"];
        args.extend_from_slice(target);
        args.extend_from_slice(&["-o", &expr]);
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < deadline {
            let out = self.kubectl(&args);
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && last == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{target:?} {jsonpath}: wanted {want:?}, last saw {last:?}\nherald log:\n{}",
            self.log()
        );
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Path of a file in tests/data.
pub fn data(path: &str) -> String {
    format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// An HTTP client for tests (installs the process-wide TLS provider reqwest needs).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
