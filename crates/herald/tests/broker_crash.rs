//! Crash safety of durable Brokers (DP-15): every event answered 202 is delivered after
//! SIGKILL and restart, also when the log's tail is torn or a record is corrupted.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Herald;
use common::sink::{Reply, Sink};

fn setup(h: &Herald, sink: &Sink, path: &str, ordered: bool) {
    let annotations = if ordered {
        "  annotations:\n    herald.dev/delivery.order: ordered\n"
    } else {
        ""
    };
    let yaml = format!(
        "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata:\n  name: durable\n---\n\
         apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata:\n  name: all\n{annotations}\
         spec:\n  broker: durable\n  subscriber:\n    uri: {}\n",
        sink.at(path)
    );
    h.kubectl_stdin(&["apply", "-f", "-"], Some(&yaml));
    h.wait_jsonpath(
        &["trigger", "all"],
        "{.status.conditions[?(@.type==\"Ready\")].status}",
        "True",
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Posts one binary-mode event; true on 202.
async fn post(client: &reqwest::Client, url: &str, id: &str, data: &str) -> bool {
    let resp = client
        .post(url)
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/crash-test")
        .header("ce-type", "crash.test")
        .header("content-type", "text/plain")
        .body(data.to_string())
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    matches!(resp, Ok(r) if r.status() == 202)
}

fn delivered_ids(sink: &Sink, path: &str) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for r in sink.received(path) {
        if let Some(id) = r.header("ce-id") {
            *ids.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    ids
}

fn wait_all_delivered(
    sink: &Sink,
    path: &str,
    acked: &BTreeSet<String>,
) -> BTreeMap<String, usize> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = delivered_ids(sink, path);
        let missing: Vec<_> = acked.iter().filter(|id| !got.contains_key(*id)).collect();
        if missing.is_empty() {
            return got;
        }
        if std::time::Instant::now() > deadline {
            panic!(
                "{} acknowledged events were never delivered (of {}), e.g. {:?}",
                missing.len(),
                acked.len(),
                &missing[..missing.len().min(10)]
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigkill_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let sink = Sink::start();
    let mut h = Herald::start_in(&data);
    setup(&h, &sink, "/crash", false);
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let counter = Arc::new(AtomicU64::new(0));
    let rt = runtime();
    let client = common::http();
    // Pseudo-random kill moments, reproducible.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let rounds = 5;
    for round in 0..rounds {
        let url = format!("{}/default/durable", h.ingress);
        let stop = Arc::new(AtomicBool::new(false));
        let mut senders = Vec::new();
        for _ in 0..8 {
            let (client, url, stop, acked, counter) = (
                client.clone(),
                url.clone(),
                stop.clone(),
                acked.clone(),
                counter.clone(),
            );
            senders.push(rt.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("e{}", counter.fetch_add(1, Ordering::Relaxed));
                    if post(&client, &url, &id, &format!("payload of {id}")).await {
                        acked.lock().expect("acked").insert(id);
                    }
                }
            }));
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait = Duration::from_millis(150 + seed % 600);
        std::thread::sleep(wait);
        h.kill9();
        stop.store(true, Ordering::Relaxed);
        for s in senders {
            let _ = rt.block_on(s);
        }
        let n = acked.lock().expect("acked").len();
        eprintln!("round {round}: killed after {wait:?}; {n} events acknowledged so far");
        h = Herald::start_in(&data);
    }
    let acked = acked.lock().expect("acked").clone();
    assert!(
        acked.len() > 50,
        "too few events acknowledged to prove anything: {}",
        acked.len()
    );
    let got = wait_all_delivered(&sink, "/crash", &acked);
    let dups: usize = got.values().map(|n| n - 1).sum();
    eprintln!(
        "{} acknowledged, {} distinct delivered, {} duplicate deliveries",
        acked.len(),
        got.len(),
        dups
    );
}

/// Finds the segment file holding `needle` and the needle's position in it.
fn find_in_segments(data: &std::path::Path, needle: &[u8]) -> Option<(std::path::PathBuf, usize)> {
    let brokers = data.join("brokers");
    for b in std::fs::read_dir(brokers).ok()?.flatten() {
        for f in std::fs::read_dir(b.path()).ok()?.flatten() {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "log") {
                let bytes = std::fs::read(&p).ok()?;
                if let Some(pos) = bytes.windows(needle.len()).position(|w| w == needle) {
                    return Some((p, pos));
                }
            }
        }
    }
    None
}

#[test]
fn torn_tail_and_flipped_byte_are_recovered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let sink = Sink::start();
    // The first delivery hangs, so (ordered) every event stays in the log until the crash.
    sink.script(
        "/c",
        vec![Reply::status(202).delay(Duration::from_secs(60))],
    );
    let mut h = Herald::start_in(&data);
    setup(&h, &sink, "/c", true);
    let rt = runtime();
    let client = common::http();
    let url = format!("{}/default/durable", h.ingress);
    let mut acked = BTreeSet::new();
    for i in 0..20 {
        let id = format!("r{i}");
        assert!(rt.block_on(post(&client, &url, &id, &format!("marker-{i:02}-payload"))));
        acked.insert(id);
    }
    sink.wait_for("/c", 1, Duration::from_secs(10));
    h.kill9();

    // Flip one byte inside record r7's data, and tear the tail with half a record of garbage.
    let (segment, pos) = find_in_segments(&data, b"marker-07-payload").expect("record r7 on disk");
    let mut bytes = std::fs::read(&segment).expect("segment");
    bytes[pos + 3] ^= 0x20;
    bytes.extend_from_slice(&[0x55; 23]);
    std::fs::write(&segment, &bytes).expect("write segment");

    let h = Herald::start_in(&data);
    acked.remove("r7");
    let got = wait_all_delivered(&sink, "/c", &acked);
    assert!(
        !got.contains_key("r7"),
        "the corrupted record must not be delivered"
    );
    // Ordered: after the corrupted record the rest still arrive in order.
    let order: Vec<String> = sink
        .received("/c")
        .iter()
        .filter_map(|r| r.header("ce-id").map(str::to_string))
        .collect();
    let after: Vec<&String> = order.iter().skip(1).collect();
    let mut want: Vec<String> = (0..20)
        .filter(|i| *i != 7)
        .map(|i| format!("r{i}"))
        .collect();
    want.dedup();
    assert_eq!(
        after.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        want.iter().map(|s| s.as_str()).collect::<Vec<_>>()
    );
    let log = h.log();
    assert!(
        log.to_lowercase().contains("corrupt") || log.to_lowercase().contains("checksum"),
        "the corruption must be reported in Herald's log:\n{log}"
    );
    let metrics = rt
        .block_on(async {
            client
                .get(format!("{}/_herald/metrics", h.ingress))
                .send()
                .await?
                .text()
                .await
        })
        .expect("metrics");
    assert!(metrics.contains("herald_log_corrupt_records"), "{metrics}");
}
