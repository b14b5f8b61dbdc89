//! The Python CloudEvents SDK (PyPI `cloudevents` 1.11) for interop tests: `HERALD_TEST_PYTHON`
//! names a Python with `cloudevents` and `requests` (./test.sh creates it); the scripts live in
//! `tests/python`.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

pub fn python() -> String {
    std::env::var("HERALD_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "HERALD_TEST_PYTHON is not set: run ./test.sh (it creates a virtualenv with the Python \
             CloudEvents SDK), or set HERALD_TEST_PYTHON to a Python that has `cloudevents==1.11` \
             and `requests` installed (python3 -m venv v && v/bin/pip install cloudevents==1.11.0 \
             requests)"
        )
    })
}

/// Runs `tests/python/<script>` with `args` and `input` on stdin; returns its JSON output.
pub fn run_py(script: &str, args: &[&str], input: &Value) -> Value {
    let path = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let py = python();
    let mut child = Command::new(&py)
        .arg(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run HERALD_TEST_PYTHON={py}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("python output");
    assert!(
        out.status.success(),
        "{script} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
