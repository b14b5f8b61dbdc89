//! Crash test: a child process appends and prints every acknowledged offset; the parent kills it
//! with SIGKILL mid-stream and checks that every acknowledged record survived.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use bytes::Bytes;
use herald_log::{ChannelLog, SegmentLog, SegmentLogOptions};

const DIR_VAR: &str = "HERALD_LOG_KILL9_DIR";

fn options() -> SegmentLogOptions {
    SegmentLogOptions {
        segment_bytes: 4096,
        ..SegmentLogOptions::default()
    }
}

/// Child side: runs only when re-executed with the directory in the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let log = SegmentLog::open(Path::new(&dir), options()).unwrap();
    log.set_cursor("hold", 0).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        let payloads = vec![
            Bytes::from(format!("event-{i}-a")),
            Bytes::from(format!("event-{i}-b")),
        ];
        let offset = log.append(payloads).await.unwrap();
        writeln!(out, "ack {i} {offset}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill9_child", "--nocapture", "--test-threads=1"])
        .env(DIR_VAR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acks = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let mut parts = line.split_whitespace();
        if parts.next() != Some("ack") {
            continue;
        }
        let i: u64 = parts.next().unwrap().parse().unwrap();
        let offset: u64 = parts.next().unwrap().parse().unwrap();
        acks.push((i, offset));
        if acks.len() == 300 {
            child.kill().unwrap(); // SIGKILL
            break;
        }
    }
    child.wait().unwrap();
    assert_eq!(
        acks.len(),
        300,
        "child acknowledged too little before exiting"
    );

    let log = SegmentLog::open(dir.path(), options()).unwrap();
    for (i, offset) in acks {
        let records = log.read(offset, 2, 1 << 20).unwrap();
        assert_eq!(records.len(), 2, "acknowledged offset {offset} missing");
        assert_eq!(records[0].offset, offset);
        assert_eq!(records[0].payload, Bytes::from(format!("event-{i}-a")));
        assert_eq!(records[1].payload, Bytes::from(format!("event-{i}-b")));
    }
    assert_eq!(log.stats().corrupt_records, 0);
}
