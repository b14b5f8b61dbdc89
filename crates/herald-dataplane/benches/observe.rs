//! Cost the event registry's observation adds to every published batch (issue 7: traffic-based
//! registration must not slow the ingress). Run: `cargo bench -p herald-dataplane --bench observe`.

use herald_dataplane::BrokerKey;
use herald_dataplane::observe::TypeObserver;

fn main() {
    divan::main();
}

/// A batch of 32 events of one known (type, source) pair: the common case.
#[divan::bench]
fn known_pair_batch_of_32(bencher: divan::Bencher) {
    let o = TypeObserver::default();
    let key = BrokerKey::new("default", "default");
    let events: Vec<(&str, &str)> = vec![("dev.example.order.created", "/orders"); 32];
    o.observe(&key, events.iter().copied());
    bencher.bench_local(|| o.observe(&key, divan::black_box(events.iter().copied())));
}

/// A batch of 32 events spread over 8 known pairs.
#[divan::bench]
fn eight_pairs_batch_of_32(bencher: divan::Bencher) {
    let o = TypeObserver::default();
    let key = BrokerKey::new("default", "default");
    let types: Vec<String> = (0..8).map(|i| format!("dev.example.t{i}")).collect();
    let events: Vec<(&str, &str)> = (0..32).map(|i| (types[i % 8].as_str(), "/src")).collect();
    o.observe(&key, events.iter().copied());
    bencher.bench_local(|| o.observe(&key, divan::black_box(events.iter().copied())));
}

/// A full window (10 000 pairs, the default) under a flood of new pairs: every event is counted
/// as dropped, and the cost must not grow with the window.
#[divan::bench]
fn flood_when_full_batch_of_32(bencher: divan::Bencher) {
    let o = TypeObserver::default();
    let key = BrokerKey::new("default", "default");
    let types: Vec<String> = (0..10_000).map(|i| format!("random.{i}")).collect();
    o.observe(&key, types.iter().map(|t| (t.as_str(), "/s")));
    let flood: Vec<String> = (0..10_000).map(|i| format!("flood.{i}")).collect();
    let mut n = 0;
    bencher.bench_local(|| {
        let batch = flood[n % 9_000..n % 9_000 + 32]
            .iter()
            .map(|t| (t.as_str(), "/s"));
        o.observe(&key, divan::black_box(batch));
        n += 32;
    });
}
