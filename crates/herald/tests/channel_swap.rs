//! Changing a Broker's channel under load loses no acknowledged event (issue 5): the seeds'
//! procedure (delete the Broker, re-create it with another channel template), changing the
//! template in place, and a crash in the middle of the drain.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Herald;
use common::broker::READY;
use common::sink::{Reply, Sink};

const IMC_BROKER: &str = "apiVersion: eventing.knative.dev/v1alpha1
kind: Broker
metadata:
  name: default
spec:
  channelTemplateSpec:
    apiVersion: messaging.knative.dev/v1alpha1
    kind: InMemoryChannel
";
const DURABLE_BROKER: &str = "apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
";
const DURABLE_TEMPLATE_BROKER: &str = "apiVersion: eventing.knative.dev/v1alpha1
kind: Broker
metadata:
  name: default
spec:
  channelTemplateSpec:
    apiVersion: messaging.herald.dev/v1
    kind: DurableChannel
";

fn trigger(uri: &str) -> String {
    // One delivery at a time to a slow subscriber: a backlog builds up in the log.
    format!(
        "apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: all
  annotations:
    herald.dev/delivery.concurrency: \"1\"
spec:
  broker: default
  subscriber:
    uri: {uri}
"
    )
}

fn apply(h: &Herald, yaml: &str) {
    let out = h.kubectl_stdin(&["apply", "-f", "-"], Some(yaml));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_ready(h: &Herald) {
    h.wait_jsonpath(&["broker", "default"], READY, "True");
    h.wait_jsonpath(&["trigger", "all"], READY, "True");
}

/// Sends events continuously from a background thread; records the ids answered 202.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<BTreeSet<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(url: String) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(BTreeSet::new()));
        let (s, a) = (stop.clone(), acked.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            let client = common::http();
            let n = AtomicU64::new(0);
            rt.block_on(async {
                while !s.load(Ordering::Relaxed) {
                    let id = format!("e{}", n.fetch_add(1, Ordering::Relaxed));
                    let r = client
                        .post(&url)
                        .header("ce-specversion", "1.0")
                        .header("ce-id", &id)
                        .header("ce-source", "/swap")
                        .header("ce-type", "dev.herald.swap")
                        .body("{}")
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                    if matches!(r, Ok(ref r) if r.status() == 202) {
                        a.lock().expect("acked").insert(id);
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            });
        });
        Load {
            stop,
            acked,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> BTreeSet<String> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.acked.lock().expect("acked").clone()
    }
}

fn wait_delivered(sink: &Sink, acked: &BTreeSet<String>, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let got: BTreeSet<String> = sink
            .received("/s")
            .iter()
            .filter_map(|r| r.header("ce-id").map(str::to_string))
            .collect();
        let missing: Vec<_> = acked.difference(&got).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged events never delivered, e.g. {:?}",
            missing.len(),
            acked.len(),
            &missing[..missing.len().min(10)]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends under load, swaps with `swap`, keeps sending, then checks that every 202 was delivered.
fn swap_under_load(h: &Herald, sink: &Sink, swap: impl FnOnce()) -> usize {
    let load = Load::start(format!("{}/default/default", h.ingress));
    std::thread::sleep(Duration::from_millis(800));
    // Acknowledged but not yet delivered when the channel changes.
    let acked_now = load.acked.lock().expect("acked").clone();
    let delivered: BTreeSet<String> = sink
        .received("/s")
        .iter()
        .filter_map(|r| r.header("ce-id").map(str::to_string))
        .collect();
    let backlog_before = acked_now.difference(&delivered).count();
    swap();
    wait_ready(h);
    std::thread::sleep(Duration::from_millis(800));
    let acked = load.stop();
    assert!(acked.len() > 100, "too little load: {}", acked.len());
    wait_delivered(sink, &acked, Duration::from_secs(60));
    backlog_before
}

#[test]
fn seeds_procedure_delete_and_recreate_with_another_channel_loses_nothing() {
    let sink = Sink::start();
    sink.fallback("/s", Reply::status(202).delay(Duration::from_millis(3)));
    let h = Herald::start();
    apply(&h, IMC_BROKER);
    apply(&h, &trigger(&sink.at("/s")));
    wait_ready(&h);
    let backlog = swap_under_load(&h, &sink, || {
        h.kubectl_ok(&["delete", "broker", "default"]);
        apply(&h, DURABLE_BROKER);
    });
    assert!(backlog > 0, "the test needs a backlog at the swap");
}

#[test]
fn changing_the_channel_template_in_place_loses_nothing() {
    let sink = Sink::start();
    sink.fallback("/s", Reply::status(202).delay(Duration::from_millis(3)));
    let h = Herald::start();
    apply(&h, IMC_BROKER);
    apply(&h, &trigger(&sink.at("/s")));
    wait_ready(&h);
    let backlog = swap_under_load(&h, &sink, || apply(&h, DURABLE_TEMPLATE_BROKER));
    assert!(backlog > 0, "the test needs a backlog at the swap");
    // And back to memory.
    swap_under_load(&h, &sink, || apply(&h, IMC_BROKER));
}

#[test]
fn a_crash_during_the_drain_of_a_durable_log_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let sink = Sink::start();
    // The subscriber is down: everything stays in the durable log.
    sink.fallback("/s", Reply::status(503));
    let mut h = Herald::start_in(&data);
    apply(&h, DURABLE_BROKER);
    let t = trigger(&sink.at("/s")).replace(
        "spec:\n",
        "spec:\n  delivery:\n    retry: 1000\n    backoffPolicy: linear\n    backoffDelay: PT0.05S\n",
    );
    apply(&h, &t);
    wait_ready(&h);
    let load = Load::start(format!("{}/default/default", h.ingress));
    std::thread::sleep(Duration::from_millis(500));
    // Re-create the broker (new UID): the old durable log starts draining...
    h.kubectl_ok(&["delete", "broker", "default"]);
    apply(&h, DURABLE_BROKER);
    wait_ready(&h);
    std::thread::sleep(Duration::from_millis(300));
    // ...and Herald dies in the middle of it.
    h.kill9();
    let acked = load.stop();
    assert!(acked.len() > 50, "too little load: {}", acked.len());
    sink.fallback("/s", Reply::status(202));
    let _h = Herald::start_in(&data);
    wait_delivered(&sink, &acked, Duration::from_secs(60));
}
