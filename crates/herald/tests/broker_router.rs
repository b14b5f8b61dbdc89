//! The router hands each event to the matching Triggers' queues; a Trigger whose queue fills
//! (a slow subscriber) reads the log itself and rejoins. Every event must reach every matching
//! Trigger exactly once when nothing crashes, whichever path carried it.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Herald;
use common::broker::*;
use common::sink::{Reply, Sink};
use serde_json::json;

fn batch(from: usize, n: usize, ty: &str) -> String {
    let events: Vec<_> = (from..from + n)
        .map(|i| {
            json!({"specversion": "1.0", "id": format!("e{i}"), "source": "/router", "type": ty,
                   "datacontenttype": "application/json", "data": {"i": i}})
        })
        .collect();
    serde_json::to_string(&events).expect("json")
}

fn counts(sink: &Sink, path: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in sink.received(path) {
        if let Some(id) = r.header("ce-id") {
            *m.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    m
}

#[test]
fn slow_trigger_lags_and_rejoins_without_loss_or_duplicates() {
    let sink = Sink::start();
    sink.fallback("/slow", Reply::status(202).delay(Duration::from_millis(10)));
    let h = Herald::start();
    let mut slow = trigger("slow", &sink.at("/slow"), json!({}));
    slow["metadata"]["annotations"] = json!({"herald.dev/delivery.concurrency": "1"});
    let fast = trigger("fast", &sink.at("/fast"), json!({}));
    // Matches nothing sent here: must not receive anything.
    let other = trigger(
        "other",
        &sink.at("/other"),
        json!({"filter": {"attributes": {"type": "nope"}}}),
    );
    setup(&h, json!({}), &[slow, fast, other]);
    let c = Client::new();
    let total = 1000;
    for chunk in 0..(total / 100) {
        let r = c.post(
            &broker_url(&h),
            &[("content-type", "application/cloudevents-batch+json")],
            batch(chunk * 100, 100, "dev.herald.router").as_bytes(),
        );
        assert_202(&r, "batch");
    }
    // The fast trigger is not held back by the slow one (its queue overflowed long before).
    sink.wait_for("/fast", total, Duration::from_secs(10));
    let slow_so_far = sink.received("/slow").len();
    assert!(
        slow_so_far < total,
        "the slow subscriber should still be behind ({slow_so_far})"
    );
    sink.wait_for("/slow", total, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    for path in ["/fast", "/slow"] {
        let got = counts(&sink, path);
        assert_eq!(got.len(), total, "{path}: distinct events");
        let dups: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            dups.is_empty(),
            "{path}: duplicates without a crash: {dups:?}"
        );
    }
    assert!(sink.received("/other").is_empty());

    // After catching up, the slow trigger is fed by the router again: new events still arrive.
    let r = c.post(
        &broker_url(&h),
        &[("content-type", "application/cloudevents-batch+json")],
        batch(total, 10, "dev.herald.router").as_bytes(),
    );
    assert_202(&r, "batch after catch-up");
    sink.wait_for("/slow", total + 10, Duration::from_secs(10));
    sink.wait_for("/fast", total + 10, Duration::from_secs(10));
}
