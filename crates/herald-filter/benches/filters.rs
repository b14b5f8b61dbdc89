//! Trigger filter benchmarks (divan).
//!
//! Run: `cargo bench -p herald-filter --bench filters` (release profile). Figures and method are
//! in BENCHMARKS.md, section "Trigger filters".
//!
//! * `dialect_pass` / `dialect_fail`: one `Filter::matches` per iteration, for each dialect and
//!   for typical CESQL expressions, on an event that passes the filter and on one that fails it.
//! * `cesql_parse`: `Expression::parse` of the CESQL expressions above.
//! * `stage_*`: the filter stage of one Broker with N exact-`type` Triggers (`mixed`: plus 5
//!   CESQL Triggers without an exact constraint and 5 with `type = '…' AND …`), over a cycle of
//!   64 events (a quarter of them match no exact Trigger). One iteration filters all 64 events,
//!   so divan's throughput column is events/s and time per event is the iteration time / 64.
//!   `indexed` uses `TriggerIndex::matches`; `naive` evaluates every filter.

use std::hint::black_box;
use std::sync::Arc;

use divan::Bencher;
use divan::counter::ItemsCount;
use herald_ce::{AttrValue, Event};
use herald_cesql::Expression;
use herald_filter::{Filter, SubscriptionsApiFilter, TriggerIndex};
use serde_json::json;

fn main() {
    divan::main();
}

// ---------------------------------------------------------------------------------------------
// Per-dialect cost of one evaluation.

const CASES: &[&str] = &[
    "attributes_2",
    "exact_2",
    "exact_ext",
    "prefix",
    "suffix",
    "all_3",
    "any_3",
    "not",
    "cesql_type_eq",
    "cesql_like_and_source",
    "cesql_in_or_gt",
    "cesql_lower_and_exists",
];

const CESQL_TYPE_EQ: &str = "type = 'dev.knative.created'";
const CESQL_LIKE_AND_SOURCE: &str = "type LIKE 'dev.%.created' AND source = '/s'";
const CESQL_IN_OR_GT: &str = "region IN ('eu','us','ap') OR priority > 5";
const CESQL_LOWER_AND_EXISTS: &str = "LOWER(subject) = 'abc' AND EXISTS myext";

fn api(v: serde_json::Value) -> Filter {
    let filters: Vec<SubscriptionsApiFilter> =
        serde_json::from_value(v).expect("valid filters JSON");
    Filter::subscriptions_api(&filters).expect("filters compile")
}

fn cesql(expr: &str) -> Filter {
    api(json!([{ "cesql": expr }]))
}

fn case_filter(case: &str) -> Filter {
    match case {
        "attributes_2" => Filter::attributes(
            &[("type", "dev.knative.created"), ("source", "/s")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        ),
        "exact_2" => api(json!([{ "exact": { "type": "dev.knative.created", "source": "/s" } }])),
        // An extension attribute: `lookup` returns an owned canonical string for extensions.
        "exact_ext" => api(json!([{ "exact": { "region": "eu" } }])),
        "prefix" => api(json!([{ "prefix": { "type": "dev.knative." } }])),
        "suffix" => api(json!([{ "suffix": { "type": ".created" } }])),
        "all_3" => api(json!([{ "all": [
            { "exact": { "type": "dev.knative.created" } },
            { "prefix": { "source": "/s" } },
            { "suffix": { "subject": "C" } }
        ] }])),
        // The passing event matches only the last alternative, so all three are evaluated.
        "any_3" => api(json!([{ "any": [
            { "exact": { "type": "dev.knative.deleted" } },
            { "exact": { "type": "dev.knative.updated" } },
            { "exact": { "type": "dev.knative.created" } }
        ] }])),
        "not" => api(json!([{ "not": { "exact": { "type": "dev.other.deleted" } } }])),
        "cesql_type_eq" => cesql(CESQL_TYPE_EQ),
        "cesql_like_and_source" => cesql(CESQL_LIKE_AND_SOURCE),
        "cesql_in_or_gt" => cesql(CESQL_IN_OR_GT),
        "cesql_lower_and_exists" => cesql(CESQL_LOWER_AND_EXISTS),
        other => panic!("unknown case {other}"),
    }
}

/// Passes every filter of `CASES`.
fn passing_event() -> Event {
    let mut e = Event::new("id-1", "/s", "dev.knative.created");
    e.subject = Some("AbC".into());
    e.set_extension("region", AttrValue::String("eu".into()));
    e.set_extension("priority", AttrValue::Integer(7));
    e.set_extension("myext", AttrValue::String("x".into()));
    e
}

/// Fails every filter of `CASES`; for `cesql_in_or_gt` both operands of the OR are evaluated.
fn failing_event() -> Event {
    let mut e = Event::new("id-2", "/other", "dev.other.deleted");
    e.subject = Some("zzz".into());
    e.set_extension("region", AttrValue::String("sa".into()));
    e.set_extension("priority", AttrValue::Integer(1));
    e
}

fn bench_case(bencher: Bencher, case: &str, event: &Event, want: bool) {
    let filter = case_filter(case);
    assert_eq!(filter.matches(event), want, "{case}");
    bencher.bench_local(|| black_box(&filter).matches(black_box(event)));
}

#[divan::bench(args = CASES)]
fn dialect_pass(bencher: Bencher, case: &str) {
    bench_case(bencher, case, &passing_event(), true);
}

#[divan::bench(args = CASES)]
fn dialect_fail(bencher: Bencher, case: &str) {
    bench_case(bencher, case, &failing_event(), false);
}

#[divan::bench(args = [
    CESQL_TYPE_EQ,
    CESQL_LIKE_AND_SOURCE,
    CESQL_IN_OR_GT,
    CESQL_LOWER_AND_EXISTS,
])]
fn cesql_parse(bencher: Bencher, src: &str) {
    bencher.bench_local(|| Expression::parse(black_box(src)).expect("parses"));
}

// ---------------------------------------------------------------------------------------------
// The filter stage of one Broker with N Triggers.

const TRIGGERS: &[usize] = &[1, 100, 10_000];
const EVENTS: usize = 64;

fn type_name(i: usize) -> String {
    format!("dev.herald.t{i}")
}

/// N exact-`type` Triggers over N distinct types; with `mixed`, also 5 CESQL Triggers that the
/// index cannot file (evaluated for every event) and 5 `type = '…' AND …` CESQL Triggers (filed
/// under their type).
fn triggers(n: usize, mixed: bool) -> Vec<(usize, Arc<Filter>)> {
    let mut out: Vec<(usize, Arc<Filter>)> = (0..n)
        .map(|i| api(json!([{ "exact": { "type": type_name(i) } }])))
        .map(Arc::new)
        .enumerate()
        .collect();
    if mixed {
        let unindexed = [
            "type LIKE 'dev.herald.t1%'".to_owned(),
            "priority > 8".to_owned(),
            "region IN ('us', 'ap')".to_owned(),
            "source LIKE '/tenant/%' AND priority > 3".to_owned(),
            "EXISTS myext OR subject = 'abc'".to_owned(),
        ];
        let tails = [
            "region = 'eu'",
            "priority > 5",
            "source LIKE '/tenant/%'",
            "EXISTS myext",
            "LOWER(subject) = 'abc'",
        ];
        let indexed = tails
            .iter()
            .enumerate()
            .map(|(k, tail)| format!("type = '{}' AND {tail}", type_name(k * n / 5)));
        for expr in unindexed.into_iter().chain(indexed) {
            let key = out.len();
            out.push((key, Arc::new(cesql(&expr))));
        }
    }
    out
}

/// A cycle of events: 3 in 4 carry the type of some exact Trigger (spread over all N), 1 in 4 a
/// type no Trigger names; the other attributes vary so that some CESQL Triggers match.
fn events(n: usize) -> Vec<Event> {
    (0..EVENTS)
        .map(|j| {
            let ty = if j % 4 == 3 {
                format!("dev.herald.none{j}")
            } else {
                type_name((j * 7919) % n)
            };
            let source = if j % 3 == 0 {
                format!("/tenant/{j}")
            } else {
                "/s".to_owned()
            };
            let mut e = Event::new(format!("id-{j}"), source, ty);
            if j % 5 == 0 {
                e.subject = Some("ABC".into());
            }
            let region = ["eu", "us", "ap", "sa"][j % 4];
            e.set_extension("region", AttrValue::String(region.into()));
            e.set_extension("priority", AttrValue::Integer((j % 10) as i64));
            if j % 2 == 0 {
                e.set_extension("myext", AttrValue::String("x".into()));
            }
            e
        })
        .collect()
}

struct Stage {
    triggers: Vec<(usize, Arc<Filter>)>,
    index: TriggerIndex<usize>,
    events: Vec<Event>,
}

impl Stage {
    fn new(n: usize, mixed: bool) -> Stage {
        let triggers = triggers(n, mixed);
        let index = TriggerIndex::build(triggers.iter().cloned());
        let stage = Stage {
            triggers,
            index,
            events: events(n),
        };
        stage.check();
        stage
    }

    /// The index must give the naive answer for every event.
    fn check(&self) {
        let mut indexed = Vec::new();
        let mut naive = Vec::new();
        for ev in &self.events {
            indexed.clear();
            naive.clear();
            self.index.matches(ev, &mut indexed);
            self.naive(ev, &mut naive);
            indexed.sort_unstable();
            assert_eq!(indexed, naive, "{}", ev.ty);
        }
    }

    fn naive(&self, event: &Event, out: &mut Vec<usize>) {
        for (key, filter) in &self.triggers {
            if filter.matches(event) {
                out.push(*key);
            }
        }
    }

    fn run(&self, bencher: Bencher, indexed: bool) {
        let mut out = Vec::with_capacity(16);
        bencher
            .counter(ItemsCount::new(self.events.len()))
            .bench_local(|| {
                let mut delivered = 0;
                for ev in black_box(&self.events) {
                    out.clear();
                    if indexed {
                        self.index.matches(ev, &mut out);
                    } else {
                        self.naive(ev, &mut out);
                    }
                    delivered += out.len();
                }
                delivered
            });
    }
}

/// N exact Triggers + 10 CESQL Triggers, through `TriggerIndex::matches`.
#[divan::bench(args = TRIGGERS)]
fn stage_mixed_indexed(bencher: Bencher, n: usize) {
    Stage::new(n, true).run(bencher, true);
}

/// N exact Triggers + 10 CESQL Triggers, every filter evaluated.
#[divan::bench(args = TRIGGERS)]
fn stage_mixed_naive(bencher: Bencher, n: usize) {
    Stage::new(n, true).run(bencher, false);
}

/// Exactly N exact Triggers, through `TriggerIndex::matches`.
#[divan::bench(args = TRIGGERS)]
fn stage_exact_indexed(bencher: Bencher, n: usize) {
    Stage::new(n, false).run(bencher, true);
}

/// Exactly N exact Triggers, every filter evaluated.
#[divan::bench(args = TRIGGERS)]
fn stage_exact_naive(bencher: Bencher, n: usize) {
    Stage::new(n, false).run(bencher, false);
}
